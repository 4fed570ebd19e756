/**
 * Explorer for JupyterLab: a left-sidebar panel with the Jobs (analyses, elements, logs) and
 * Files (EOS) sections, the EOS drive for JupyterLab's editor, and their commands.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Clipboard,
  Dialog,
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  WidgetTracker,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import {
  PanelWithToolbar,
  SidePanel,
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
import { Widget } from '@lumino/widgets';

import * as api from './api';
import { APIError, IEntry, IWhoAmI } from './api';
import { EosDrive, toDrivePath } from './drive';
import { EosModel } from './eos';
import { FilesView } from './filesview';
import { shareable } from './format';
import { explorerIcon } from './icons';
import { JobsModel } from './jobs';
import { JobsView } from './jobsview';
import { LogView, createLogWidget, download } from './logview';

const PLUGIN_ID = 'explorer-jupyterlab:plugin';

export namespace CommandIDs {
  export const show = 'explorer:show';
  export const refreshJobs = 'explorer:refresh-jobs';
  export const openLog = 'explorer:open-log';
  export const open = 'explorer:eos-open';
  export const download = 'explorer:eos-download';
  export const copyUri = 'explorer:eos-copy-uri';
  export const copyShareable = 'explorer:eos-copy-shareable';
  export const copyPresigned = 'explorer:eos-copy-presigned';
  export const rename = 'explorer:eos-rename';
  export const remove = 'explorer:eos-delete';
  export const newFolder = 'explorer:eos-new-folder';
  export const upload = 'explorer:eos-upload';
  export const refreshFiles = 'explorer:eos-refresh';
}

/** Tell the user, once, when the server half of Explorer does not answer. */
async function checkServer(): Promise<IWhoAmI | null> {
  try {
    return await api.whoami();
  } catch (error) {
    if (error instanceof APIError && error.status === 404) {
      const body =
        'The Explorer sidebar needs its Jupyter server extension (server_ext), which is ' +
        'not answering at explorer/api/. Install the package into the environment that runs ' +
        'this server (pip install explorer-jupyterlab), check it with ' +
        '"jupyter server extension list", then restart JupyterLab.';
      void showDialog({
        title: 'Explorer server extension not found',
        body,
        buttons: [Dialog.okButton()]
      });
    } else {
      console.error('Explorer: the server extension did not answer', error);
    }
    return null;
  }
}

function section(
  title: string,
  content: Widget,
  className: string
): PanelWithToolbar {
  const panel = new PanelWithToolbar();
  panel.title.label = title;
  panel.addClass('jp-Explorer-section');
  panel.addClass(className);
  panel.addWidget(content);
  return panel;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Explorer for JupyterLab: jobs, logs and the EOS file browser.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, IDocumentManager],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    docManager: IDocumentManager | null
  ): void => {
    const { commands, shell } = app;
    let who: IWhoAmI | null = null;
    void app.restored.then(async () => {
      who = await checkServer();
    });

    // ---- the EOS drive, so JupyterLab's editor can open e:// files
    app.serviceManager.contents.addDrive(new EosDrive());

    // ---- the sidebar
    let jobsView: JobsView | null = null;
    let filesView: FilesView | null = null;
    // The list stands by while one analysis replaces it (that one polls for itself).
    const jobs = new JobsModel({
      visible: () => !!jobsView?.isVisible && !jobsView.current
    });
    const files = new EosModel({ visible: () => !!filesView?.isVisible });

    jobsView = new JobsView(jobs, {
      openLog: (analysis, index) =>
        void commands.execute(CommandIDs.openLog, {
          id: analysis.id,
          name: analysis.name,
          index
        })
    });
    filesView = new FilesView(files, {
      open: entry => void openInEditor(entry)
    });

    const sidebar = new SidePanel();
    sidebar.id = 'explorer-sidebar';
    sidebar.title.icon = explorerIcon;
    sidebar.title.caption = 'Explorer: jobs and EOS files';
    sidebar.addClass('jp-Explorer-sidebar');
    const jobsSection = section('Jobs', jobsView, 'jp-Explorer-jobsSection');
    const filesSection = section(
      'Files',
      filesView,
      'jp-Explorer-filesSection'
    );
    jobsSection.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Refresh the analyses',
        onClick: () => void commands.execute(CommandIDs.refreshJobs)
      })
    );
    filesSection.toolbar.addItem(
      'new-folder',
      new ToolbarButton({
        icon: newFolderIcon,
        tooltip: 'New folder',
        onClick: () => void commands.execute(CommandIDs.newFolder)
      })
    );
    filesSection.toolbar.addItem(
      'upload',
      new ToolbarButton({
        icon: fileUploadIcon,
        tooltip: 'Upload files (or drop them here)',
        onClick: () => void commands.execute(CommandIDs.upload)
      })
    );
    filesSection.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Refresh the folder',
        onClick: () => void commands.execute(CommandIDs.refreshFiles)
      })
    );
    sidebar.addWidget(jobsSection);
    sidebar.addWidget(filesSection);
    shell.add(sidebar, 'left', { rank: 300, type: 'Explorer' });
    restorer?.add(sidebar, 'explorer-sidebar');

    // ---- log tabs (restored after a reload)
    const logs = new WidgetTracker<MainAreaWidget<LogView>>({
      namespace: 'explorer-log'
    });
    if (restorer) {
      void restorer.restore(logs, {
        command: CommandIDs.openLog,
        args: w => ({
          id: w.content.model.id,
          index: w.content.model.index,
          name: w.content.model.name
        }),
        name: w => `${w.content.model.id}:${w.content.model.index}`
      });
    }

    commands.addCommand(CommandIDs.openLog, {
      label: args => `Open Log of Element ${args.index ?? ''}`,
      execute: args => {
        const id = String(args.id);
        const index = Number(args.index ?? 0);
        const existing = logs.find(
          w => w.content.model.id === id && w.content.model.index === index
        );
        if (existing) {
          shell.activateById(existing.id);
          return existing;
        }
        const widget = createLogWidget({
          id,
          index,
          name: args.name ? String(args.name) : ''
        });
        void logs.add(widget);
        shell.add(widget, 'main');
        shell.activateById(widget.id);
        return widget;
      }
    });

    commands.addCommand(CommandIDs.show, {
      label: 'Show Explorer',
      caption: 'Show the Explorer sidebar (jobs and EOS files)',
      execute: () => shell.activateById(sidebar.id)
    });
    commands.addCommand(CommandIDs.refreshJobs, {
      label: 'Refresh Analyses',
      icon: refreshIcon,
      execute: async () => {
        await jobs.poll.refresh();
        await jobsView?.current?.poll.refresh();
      }
    });

    // ---- files: the entry a command acts on is the row right-clicked, else the selected one
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
          copied(shareable(entry.uri, who?.user ?? null), 'shareable URI');
        }
      }
    });
    commands.addCommand(CommandIDs.copyPresigned, {
      label: 'Copy Presigned URL (S3)',
      caption: 'A time-limited https link to the file (S3 storage only)',
      icon: linkIcon,
      isVisible: isFile,
      isEnabled: () => isFile() && who?.storage === 's3',
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
      execute: () => filesView?.chooseFiles()
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

    palette?.addItem({ command: CommandIDs.show, category: 'Explorer' });
    palette?.addItem({ command: CommandIDs.refreshJobs, category: 'Explorer' });
  }
};

export default plugin;
