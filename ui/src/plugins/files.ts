/**
 * The Files section: an EOS folder with its context menu (open, download, copy URIs, rename,
 * delete, new folder, upload). Provides `IExplorerFiles`.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Clipboard,
  Dialog,
  ICommandPalette,
  InputDialog,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import {
  CommandToolbarButton,
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
import {
  EosDrive,
  binaryProblem,
  decodeText,
  sizeProblem,
  toDrivePath
} from '../drive';
import { EosModel } from '../eos';
import { FilesView } from '../filesview';
import { errorText, parent, parseUri, shareable } from '../format';
import { download } from '../logview';
import {
  CommandIDs,
  NO_ARGS,
  IExplorerDrive,
  IExplorerFiles,
  IExplorerSidebar
} from '../tokens';

/** File types (docRegistry names) opened in JupyterLab's viewer rather than the editor. */
const VIEWER_TYPES = new Set(['csv', 'tsv']);

export const filesPlugin: JupyterFrontEndPlugin<IExplorerFiles> = {
  id: 'explorer-jupyterlab:files',
  description: 'The Files (EOS) section of the Explorer sidebar.',
  autoStart: true,
  requires: [IExplorerSidebar, IExplorerDrive],
  optional: [IDocumentManager, ICommandPalette],
  provides: IExplorerFiles,
  activate: (
    app: JupyterFrontEnd,
    sidebar: IExplorerSidebar,
    eos: IExplorerDrive,
    docManager: IDocumentManager | null,
    palette: ICommandPalette | null
  ): IExplorerFiles => {
    const { commands } = app;
    const drive: EosDrive = eos.drive;
    let view: FilesView | null = null;
    const files = new EosModel({ visible: () => !!view?.isVisible });
    view = new FilesView(files, {
      open: entry => void openFile(entry),
      openUri: uri => void openUri(uri)
    });
    const section = sidebar.addSection({
      id: 'explorer-files',
      title: 'Files',
      widget: view,
      rank: 200,
      className: 'jp-Explorer-filesSection'
    });
    // Write actions follow the folder shown: disabled where the user may not write.
    section.toolbar.addItem(
      'new-folder',
      new CommandToolbarButton({
        commands,
        id: CommandIDs.newFolder,
        label: '',
        caption: 'New folder'
      })
    );
    section.toolbar.addItem(
      'upload',
      new CommandToolbarButton({
        commands,
        id: CommandIDs.upload,
        label: '',
        caption: 'Upload files (or drop them here)'
      })
    );
    let wasWritable = files.writable;
    files.changed.connect(() => {
      if (files.writable !== wasWritable) {
        wasWritable = files.writable;
        commands.notifyCommandChanged(CommandIDs.newFolder);
        commands.notifyCommandChanged(CommandIDs.upload);
      }
    });
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

    /** Offer to download a file that JupyterLab cannot open without changing it. */
    async function offerDownload(entry: IEntry, why: string): Promise<void> {
      const result = await showDialog({
        title: `Cannot open ${entry.name} in JupyterLab`,
        body: why,
        buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Download' })]
      });
      if (result.button.accept) {
        download(api.contentUrl(entry.uri), entry.name);
      }
    }

    /**
     * Open a file the way that keeps it intact: images and PDF in JupyterLab's viewers (the
     * exact bytes), CSV/TSV in the table viewer and other UTF-8 text in the editor; a binary
     * or too large file is offered for download instead. A folder is shown.
     */
    async function openFile(entry: IEntry): Promise<void> {
      if (entry.type === 'folder') {
        await files.cd(entry.uri);
        return;
      }
      if (!docManager) {
        await showErrorMessage(
          'Cannot open the file',
          'JupyterLab has no document manager here.'
        );
        return;
      }
      const path = toDrivePath(entry.uri);
      const fileType = app.docRegistry.getFileTypesForPath(entry.name)[0];
      const asBytes = fileType?.fileFormat === 'base64';
      let factory = 'Editor';
      if (asBytes || (fileType && VIEWER_TYPES.has(fileType.name))) {
        const viewer = app.docRegistry
          .preferredWidgetFactories(path)
          .find(f => f.name !== 'Editor');
        if (viewer) {
          factory = viewer.name;
        } else if (asBytes) {
          await offerDownload(
            entry,
            `This JupyterLab has no viewer for ${entry.uri}. Download it?`
          );
          return;
        }
      }
      const tooLarge = sizeProblem(entry, asBytes ? 'base64' : 'text');
      if (tooLarge) {
        await offerDownload(entry, `${tooLarge.reason} Download it?`);
        return;
      }
      if (!asBytes) {
        let data: ArrayBuffer;
        try {
          data = await api.readBytes(entry.uri);
        } catch (error) {
          files.setNotice({ kind: 'error', text: errorText(error) });
          return;
        }
        if (decodeText(data) === null) {
          await offerDownload(
            entry,
            `${binaryProblem(entry.uri).reason} Download it?`
          );
          return;
        }
        drive.prime(entry.uri, data);
      }
      docManager.openOrReveal(path, factory);
    }

    /** Show a pasted e:// URI (or EOS:path): a folder in the section, a file opened. */
    async function openUri(raw: string): Promise<void> {
      const uri = parseUri(raw);
      if (!uri) {
        files.setNotice({
          kind: 'error',
          text: `"${raw.trim()}" is not an EOS location: paste one like e://users/alice/results/ or e://public/ref.fa.`
        });
        return;
      }
      if (uri.endsWith('/')) {
        await files.cd(uri);
        return;
      }
      let entry: IEntry;
      try {
        entry = await api.stat(uri);
      } catch (error) {
        files.setNotice({ kind: 'error', text: errorText(error) });
        return;
      }
      if (entry.type === 'folder') {
        await files.cd(entry.uri);
        return;
      }
      await files.cd(parent(entry.uri));
      view?.select(files.entries.find(e => e.uri === entry.uri) ?? entry);
      await openFile(entry);
    }

    function copied(text: string, what: string): void {
      Clipboard.copyToSystem(text);
      files.setNotice({ kind: 'info', text: `Copied ${what}: ${text}` });
    }

    commands.addCommand(CommandIDs.open, {
      describedBy: NO_ARGS,
      label: 'Open',
      caption:
        'Open in JupyterLab (text in the editor, images and PDF in a viewer)',
      icon: textEditorIcon,
      isVisible: isFile,
      execute: async () => {
        const entry = target();
        if (entry) {
          await openFile(entry);
        }
      }
    });
    commands.addCommand(CommandIDs.download, {
      describedBy: NO_ARGS,
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
      describedBy: NO_ARGS,
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
      describedBy: NO_ARGS,
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
      describedBy: NO_ARGS,
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
      describedBy: NO_ARGS,
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
      describedBy: NO_ARGS,
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
      describedBy: NO_ARGS,
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
      describedBy: NO_ARGS,
      label: 'Upload Files…',
      icon: fileUploadIcon,
      isEnabled: () => files.writable,
      execute: () => view?.chooseFiles()
    });
    commands.addCommand(CommandIDs.openUri, {
      describedBy: {
        args: {
          type: 'object',
          properties: {
            uri: {
              type: 'string',
              description:
                'The e:// URI (or EOS:path) to show; asked for when absent'
            }
          }
        }
      },
      label: 'Open EOS URI…',
      caption: 'Open an e:// URI someone shared (a folder or a file)',
      execute: async args => {
        let uri = args.uri ? String(args.uri) : '';
        if (!uri) {
          const answer = await InputDialog.getText({
            title: 'Open EOS URI',
            placeholder: 'e://users/alice/results/summary.csv',
            okLabel: 'Open'
          });
          if (!answer.button.accept || !answer.value) {
            return;
          }
          uri = answer.value;
        }
        app.shell.activateById(sidebar.panel.id);
        await openUri(uri);
      }
    });
    commands.addCommand(CommandIDs.refreshFiles, {
      describedBy: NO_ARGS,
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

    palette?.addItem({ command: CommandIDs.openUri, category: 'Explorer' });
    return { model: files, openUri };
  }
};
