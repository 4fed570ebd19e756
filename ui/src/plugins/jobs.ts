/**
 * The Jobs section: recent analyses, one analysis with its elements, terminate, open a log.
 * Provides `IExplorerJobs` so that other plugins follow the opened analysis or add actions.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ToolbarButton, refreshIcon } from '@jupyterlab/ui-components';

import { JobsModel } from '../jobs';
import { JobsView } from '../jobsview';
import {
  CommandIDs,
  NO_ARGS,
  IExplorerJobs,
  IExplorerSidebar
} from '../tokens';

export const jobsPlugin: JupyterFrontEndPlugin<IExplorerJobs> = {
  id: 'explorer-jupyterlab:jobs',
  description: 'The Jobs section of the Explorer sidebar.',
  autoStart: true,
  requires: [IExplorerSidebar],
  optional: [ICommandPalette],
  provides: IExplorerJobs,
  activate: (
    app: JupyterFrontEnd,
    sidebar: IExplorerSidebar,
    palette: ICommandPalette | null
  ): IExplorerJobs => {
    const { commands } = app;
    let view: JobsView | null = null;
    // The list stands by while one analysis replaces it (that one polls for itself).
    const model = new JobsModel({
      visible: () => !!view?.isVisible && !view.current
    });
    view = new JobsView(model, {
      openLog: (analysis, index) =>
        void commands.execute(CommandIDs.openLog, {
          id: analysis.id,
          name: analysis.name,
          index
        })
    });
    const section = sidebar.addSection({
      id: 'explorer-jobs',
      title: 'Jobs',
      widget: view,
      rank: 100,
      className: 'jp-Explorer-jobsSection'
    });
    section.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Refresh the analyses',
        onClick: () => void commands.execute(CommandIDs.refreshJobs)
      })
    );
    commands.addCommand(CommandIDs.refreshJobs, {
      describedBy: NO_ARGS,
      label: 'Refresh Analyses',
      icon: refreshIcon,
      execute: async () => {
        await model.poll.refresh();
        await view?.current?.poll.refresh();
      }
    });
    palette?.addItem({ command: CommandIDs.refreshJobs, category: 'Explorer' });
    return view;
  }
};
