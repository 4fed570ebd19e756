/**
 * The "At a glance" section (issue 14): heatmap, histograms, failure digest and cost of the
 * analysis opened in the Jobs section.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { GlanceView } from '../observe/view';
import { CommandIDs, IExplorerJobs, IExplorerSidebar } from '../tokens';

export const observePlugin: JupyterFrontEndPlugin<void> = {
  id: 'explorer-jupyterlab:observe',
  description:
    'An array at a glance: status heatmap, runtime and memory histograms, failure digest, cost.',
  autoStart: true,
  requires: [IExplorerSidebar, IExplorerJobs],
  activate: (
    app: JupyterFrontEnd,
    sidebar: IExplorerSidebar,
    jobs: IExplorerJobs
  ): void => {
    const view = new GlanceView((id, index) => {
      void app.commands.execute(CommandIDs.openLog, {
        id,
        index,
        name: jobs.current?.info?.name ?? ''
      });
    });
    sidebar.addSection({
      id: 'explorer-glance',
      title: 'At a glance',
      widget: view,
      rank: 150,
      className: 'jp-Explorer-glanceSection'
    });
    view.follow(jobs.current?.id ?? null);
    jobs.currentChanged.connect((_, current) =>
      view.follow(current?.id ?? null)
    );
  }
};
