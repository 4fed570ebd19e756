/**
 * "Rerun failed" on an opened analysis that ended with FAILED elements: asks first (with the
 * count), then submits them again in place; the others keep their outputs.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, showDialog } from '@jupyterlab/apputils';

import { failedCount, rerunAnalysis } from '../rerun';
import { IExplorerJobs } from '../tokens';

export const rerunPlugin: JupyterFrontEndPlugin<void> = {
  id: 'explorer-jupyterlab:rerun',
  description:
    'Rerun the failed elements of an analysis from the Jobs section.',
  autoStart: true,
  requires: [IExplorerJobs],
  activate: (app: JupyterFrontEnd, jobs: IExplorerJobs): void => {
    jobs.addAnalysisAction({
      id: 'rerun-failed',
      label: 'Rerun failed',
      caption: 'Run the FAILED elements again; the others keep their outputs',
      rank: 900,
      isVisible: info => failedCount(info) > 0,
      execute: async model => {
        const info = model.info;
        const count = info ? failedCount(info) : 0;
        if (!info || !count) {
          return;
        }
        const answer = await showDialog({
          title: 'Rerun failed elements',
          body: `Rerun the ${count} FAILED element${count === 1 ? '' : 's'} of ${info.name}? The analysis keeps its id and the other elements keep their outputs.`,
          buttons: [
            Dialog.cancelButton(),
            Dialog.warnButton({ label: `Rerun ${count}` })
          ]
        });
        if (!answer.button.accept) {
          return;
        }
        const done = await rerunAnalysis(model.id, { failed: true });
        await model.poll.refresh();
        return `Rerunning ${done.count} element${done.count === 1 ? '' : 's'}; the others keep their outputs.`;
      }
    });
  }
};
