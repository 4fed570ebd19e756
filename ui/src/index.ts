/**
 * Explorer for JupyterLab: the plugins of the extension. The sidebar plugin provides the panel
 * (IExplorerSidebar); the Jobs and Files sections are plugins that add a section to it; the
 * EOS drive and the log tabs are plugins of their own. See README "Where to add a sidebar
 * section".
 */
import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { drivePlugin } from './plugins/drive';
import { filesPlugin } from './plugins/files';
import { jobsPlugin } from './plugins/jobs';
import { logsPlugin } from './plugins/logs';
import { observePlugin } from './plugins/observe';
import { rerunPlugin } from './plugins/rerun';
import { sidebarPlugin } from './plugins/sidebar';

export * from './tokens';

const plugins: JupyterFrontEndPlugin<unknown>[] = [
  sidebarPlugin,
  drivePlugin,
  logsPlugin,
  jobsPlugin,
  filesPlugin,
  observePlugin,
  rerunPlugin
];

export default plugins;
