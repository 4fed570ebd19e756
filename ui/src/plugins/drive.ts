/**
 * The EOS contents drive: JupyterLab's document manager opens `EOS:users/me/a.txt` as
 * `e://users/me/a.txt` (File > Open from Path, the Files section, a restored layout).
 *
 * - A file browser model on the drive, never shown: JupyterLab's "Open from Path" and
 *   "go to path" look for a file browser of a path's drive and fail without one.
 * - An editor on a file the drive handed out read-only is made read-only, with the tab
 *   marked by a CSS class and a tooltip. The tab's label stays the file name: JupyterLab
 *   renames a document whose tab label changes.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { DocumentRegistry, IDocumentWidget } from '@jupyterlab/docregistry';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';

import { DRIVE_NAME, EosDrive, toUri } from '../drive';
import { IExplorerDrive } from '../tokens';

export const READ_ONLY_TAB = 'jp-Explorer-readOnlyTab';

/** Make an editor on an EOS file read-only when the drive handed the file out read-only. */
class ReadOnlyEditors implements DocumentRegistry.WidgetExtension {
  createNew(
    widget: IDocumentWidget,
    context: DocumentRegistry.Context
  ): IDisposable {
    if (context.path.startsWith(DRIVE_NAME + ':')) {
      void context.ready.then(() => {
        if (widget.isDisposed || context.contentsModel?.writable !== false) {
          return;
        }
        const content = widget.content as unknown as {
          editor?: { setOption(name: string, value: unknown): void };
        };
        content.editor?.setOption('readOnly', true);
        if (!widget.title.className.includes(READ_ONLY_TAB)) {
          widget.title.className += ` ${READ_ONLY_TAB}`;
        }
        widget.title.caption =
          `${toUri(context.localPath)} (read-only: you may not write there, ` +
          'or saving would not give back the same bytes)';
      });
    }
    return new DisposableDelegate(() => undefined);
  }
}

export const drivePlugin: JupyterFrontEndPlugin<IExplorerDrive> = {
  id: 'explorer-jupyterlab:drive',
  description: 'EOS as a JupyterLab contents drive (EOS:<path>).',
  autoStart: true,
  optional: [IFileBrowserFactory],
  provides: IExplorerDrive,
  activate: (
    app: JupyterFrontEnd,
    browsers: IFileBrowserFactory | null
  ): IExplorerDrive => {
    const drive = new EosDrive();
    app.serviceManager.contents.addDrive(drive);
    app.docRegistry.addWidgetExtension('Editor', new ReadOnlyEditors());
    if (browsers) {
      const browser = browsers.createFileBrowser('explorer-eos-browser', {
        driveName: DRIVE_NAME,
        auto: false,
        restore: false,
        state: null,
        allowFileUploads: false
      });
      browser.title.label = 'EOS';
      // "go to path" waits for the model to be restored: with no state, this resolves it.
      void browser.model.restore(browser.id, false);
    }
    return { drive };
  }
};
