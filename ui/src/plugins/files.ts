/**
 * The Files section: an EOS folder with its context menu (open, download, copy URIs, rename,
 * delete, new folder, upload). Provides `IExplorerFiles`.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  Clipboard,
  Dialog,
  InputDialog,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import {
  ToolbarButton,
  copyIcon,
  deleteIcon,
  downloadIcon,
  editIcon,
  fileUploadIcon,
  linkIcon,
  newFolderIcon,
  refreshIcon,
  textEditorIcon
} from '@jupyterlab/ui-components';

import * as api from '../api';
import { IEntry } from '../api';
import { toDrivePath } from '../drive';
import { EosModel } from '../eos';
import { FilesView } from '../filesview';
import { shareable } from '../format';
import { download } from '../logview';
import { CommandIDs, IExplorerFiles, IExplorerSidebar } from '../tokens';

export const filesPlugin: JupyterFrontEndPlugin<IExplorerFiles> = {
  id: 'explorer-jupyterlab:files',
  description: 'The Files (EOS) section of the Explorer sidebar.',
  autoStart: true,
  requires: [IExplorerSidebar],
  optional: [IDocumentManager],
  provides: IExplorerFiles,
  activate: (
    app: JupyterFrontEnd,
    sidebar: IExplorerSidebar,
    docManager: IDocumentManager | null
  ): IExplorerFiles => {
    const { commands } = app;
    let view: FilesView | null = null;
    const files = new EosModel({ visible: () => !!view?.isVisible });
    view = new FilesView(files, {
      open: entry => void openInEditor(entry)
    });
    const section = sidebar.addSection({
      id: 'explorer-files',
      title: 'Files',
      widget: view,
      rank: 200,
      className: 'jp-Explorer-filesSection'
    });
    section.toolbar.addItem(
      'new-folder',
      new ToolbarButton({
        icon: newFolderIcon,
        tooltip: 'New folder',
        onClick: () => void commands.execute(CommandIDs.newFolder)
      })
    );
    section.toolbar.addItem(
      'upload',
      new ToolbarButton({
        icon: fileUploadIcon,
        tooltip: 'Upload files (or drop them here)',
        onClick: () => void commands.execute(CommandIDs.upload)
      })
    );
    section.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Refresh the folder',
        onClick: () => void commands.execute(CommandIDs.refreshFiles)
      })
    );

    let user: string | null = null;
    let storage: string | null = null;
    void sidebar.whoami.then(who => {
      user = who?.user ?? null;
      storage = who?.storage ?? null;
    });

    // The entry a command acts on is the row right-clicked, else the selected one.
    const target = (): IEntry | null => {
      const node = app.contextMenuHitTest(n =>
        n.classList.contains('jp-Explorer-fileRow')
      );
      const uri = node?.dataset.uri;
      if (uri) {
        return files.entries.find(e => e.uri === uri) ?? null;
      }
      return files.selected;
    };
    const isFile = () => target()?.type === 'file';
    const hasTarget = () => target() !== null;

    async function openInEditor(entry: IEntry): Promise<void> {
      if (entry.type !== 'file') {
        return;
      }
      if (!docManager) {
        await showErrorMessage(
          'Cannot open the file',
          'JupyterLab has no document manager here.'
        );
        return;
      }
      const widget = docManager.openOrReveal(toDrivePath(entry.uri), 'Editor');
      if (!widget) {
        return;
      }
      try {
        await widget.context.ready;
      } catch {
        return; // the document manager reports a file it could not load
      }
      // The file's own writability, from the drive's stat of it (not the folder's).
      if (widget.context.contentsModel?.writable === false) {
        const content = widget.content as unknown as {
          editor?: { setOption(name: string, value: unknown): void };
        };
        content.editor?.setOption('readOnly', true);
        widget.title.label = `${entry.name} (read-only)`;
      }
    }

    function copied(text: string, what: string): void {
      Clipboard.copyToSystem(text);
      files.setNotice({ kind: 'info', text: `Copied ${what}: ${text}` });
    }

    commands.addCommand(CommandIDs.open, {
      label: 'Open in Editor',
      icon: textEditorIcon,
      isVisible: isFile,
      execute: async () => {
        const entry = target();
        if (entry) {
          await openInEditor(entry);
        }
      }
    });
    commands.addCommand(CommandIDs.download, {
      label: 'Download',
      icon: downloadIcon,
      isVisible: isFile,
      execute: () => {
        const entry = target();
        if (entry) {
          download(api.contentUrl(entry.uri), entry.name);
        }
      }
    });
    commands.addCommand(CommandIDs.copyUri, {
      label: 'Copy e:// URI',
      icon: copyIcon,
      isEnabled: hasTarget,
      execute: () => {
        const entry = target();
        if (entry) {
          copied(entry.uri, 'URI');
        }
      }
    });
    commands.addCommand(CommandIDs.copyShareable, {
      label: 'Copy Shareable URI',
      caption:
        'The URI with your user name instead of "me", for others to read',
      icon: linkIcon,
      isEnabled: hasTarget,
      execute: () => {
        const entry = target();
        if (entry) {
          copied(shareable(entry.uri, user), 'shareable URI');
        }
      }
    });
    commands.addCommand(CommandIDs.copyPresigned, {
      label: 'Copy Presigned URL (S3)',
      caption: 'A time-limited https link to the file (S3 storage only)',
      icon: linkIcon,
      isVisible: isFile,
      isEnabled: () => isFile() && storage === 's3',
      execute: async () => {
        const entry = target();
        if (entry) {
          const url = await files.presign(entry);
          if (url) {
            copied(url, 'presigned URL');
          }
        }
      }
    });
    commands.addCommand(CommandIDs.rename, {
      label: 'Rename…',
      icon: editIcon,
      isEnabled: () => hasTarget() && files.writable,
      execute: async () => {
        const entry = target();
        if (!entry) {
          return;
        }
        const answer = await InputDialog.getText({
          title: `Rename ${entry.name}`,
          text: entry.name,
          okLabel: 'Rename'
        });
        if (answer.button.accept && answer.value) {
          await files.rename(entry, answer.value);
        }
      }
    });
    commands.addCommand(CommandIDs.remove, {
      label: 'Delete…',
      icon: deleteIcon,
      isEnabled: () => hasTarget() && files.writable,
      execute: async () => {
        const entry = target();
        if (!entry) {
          return;
        }
        const what =
          entry.type === 'folder'
            ? `the folder ${entry.uri} and everything in it`
            : entry.uri;
        const result = await showDialog({
          title: 'Delete?',
          body: `Delete ${what}? This cannot be undone.`,
          buttons: [
            Dialog.cancelButton(),
            Dialog.warnButton({ label: 'Delete' })
          ]
        });
        if (result.button.accept) {
          await files.remove(entry);
        }
      }
    });
    commands.addCommand(CommandIDs.newFolder, {
      label: 'New Folder…',
      icon: newFolderIcon,
      isEnabled: () => files.writable,
      execute: async () => {
        const answer = await InputDialog.getText({
          title: `New folder in ${files.uri}`,
          placeholder: 'name',
          okLabel: 'Create'
        });
        if (answer.button.accept && answer.value) {
          await files.newFolder(answer.value);
        }
      }
    });
    commands.addCommand(CommandIDs.upload, {
      label: 'Upload Files…',
      icon: fileUploadIcon,
      execute: () => view?.chooseFiles()
    });
    commands.addCommand(CommandIDs.refreshFiles, {
      label: 'Refresh Folder',
      icon: refreshIcon,
      execute: () => files.refresh()
    });

    const rowItems = [
      CommandIDs.open,
      CommandIDs.download,
      CommandIDs.copyUri,
      CommandIDs.copyShareable,
      CommandIDs.copyPresigned,
      CommandIDs.rename,
      CommandIDs.remove
    ];
    rowItems.forEach((command, rank) =>
      app.contextMenu.addItem({
        command,
        selector: '.jp-Explorer-fileRow',
        rank: rank + 1
      })
    );
    app.contextMenu.addItem({
      command: CommandIDs.newFolder,
      selector: '.jp-Explorer-files',
      rank: 20
    });
    app.contextMenu.addItem({
      command: CommandIDs.upload,
      selector: '.jp-Explorer-files',
      rank: 21
    });

    return {
      model: files,
      openUri: async (uri: string) => {
        await files.cd(uri);
      }
    };
  }
};
