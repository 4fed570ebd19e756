/**
 * The Explorer panel in the left area. It holds no section of its own: the Jobs and Files
 * plugins (and any other) add theirs through `IExplorerSidebar.addSection`.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, ICommandPalette, showDialog } from '@jupyterlab/apputils';
import { PanelWithToolbar, SidePanel } from '@jupyterlab/ui-components';

import * as api from '../api';
import { APIError, IWhoAmI } from '../api';
import { explorerIcon } from '../icons';
import { CommandIDs, NO_ARGS, IExplorerSidebar } from '../tokens';

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

/** The sidebar: a SidePanel whose sections stay ordered by rank. */
export class ExplorerSidebar implements IExplorerSidebar {
  constructor(whoami: Promise<IWhoAmI | null>) {
    this.whoami = whoami;
    const panel = new SidePanel();
    panel.id = 'explorer-sidebar';
    panel.title.icon = explorerIcon;
    panel.title.caption = 'Explorer: jobs and EOS files';
    panel.addClass('jp-Explorer-sidebar');
    this.panel = panel;
  }

  readonly panel: SidePanel;
  readonly whoami: Promise<IWhoAmI | null>;

  addSection(options: IExplorerSidebar.ISectionOptions): PanelWithToolbar {
    const section = new PanelWithToolbar();
    section.id = options.id;
    section.title.label = options.title;
    section.addClass('jp-Explorer-section');
    if (options.className) {
      section.addClass(options.className);
    }
    section.addWidget(options.widget);
    const rank = options.rank ?? 500;
    this._ranks = this._ranks.filter(r => !r.section.isDisposed);
    let at = this._ranks.findIndex(r => r.rank > rank);
    if (at < 0) {
      at = this._ranks.length;
    }
    this._ranks.splice(at, 0, { rank, section });
    this.panel.insertWidget(at, section);
    return section;
  }

  private _ranks: { rank: number; section: PanelWithToolbar }[] = [];
}

export const sidebarPlugin: JupyterFrontEndPlugin<IExplorerSidebar> = {
  id: 'explorer-jupyterlab:sidebar',
  description:
    'The Explorer panel in the left area; other plugins add sections to it.',
  autoStart: true,
  provides: IExplorerSidebar,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ): IExplorerSidebar => {
    const whoami = app.restored.then(() => checkServer());
    const sidebar = new ExplorerSidebar(whoami);
    app.shell.add(sidebar.panel, 'left', { rank: 300, type: 'Explorer' });
    restorer?.add(sidebar.panel, 'explorer-sidebar');
    app.commands.addCommand(CommandIDs.show, {
      describedBy: NO_ARGS,
      label: 'Show Explorer',
      caption: 'Show the Explorer sidebar (jobs and EOS files)',
      execute: () => app.shell.activateById(sidebar.panel.id)
    });
    palette?.addItem({ command: CommandIDs.show, category: 'Explorer' });
    return sidebar;
  }
};
