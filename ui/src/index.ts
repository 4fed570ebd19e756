import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

/**
 * The Explorer plugin. The sidebar (jobs, logs, EOS browser) is added here later;
 * for now it proves that the extension is built, installed and activated.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'explorer-jupyterlab:plugin',
  description: 'Explorer for JupyterLab: jobs, logs and the EOS file browser.',
  autoStart: true,
  activate: (app: JupyterFrontEnd): void => {
    console.log('JupyterLab extension explorer-jupyterlab is activated!');
  }
};

export default plugin;
