/**
 * The EOS contents drive: JupyterLab's document manager opens `EOS:users/me/a.txt` as
 * `e://users/me/a.txt` (File > Open from Path, the Files section, a restored layout).
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

import { EosDrive } from '../drive';

export const drivePlugin: JupyterFrontEndPlugin<void> = {
  id: 'explorer-jupyterlab:drive',
  description: 'EOS as a JupyterLab contents drive (EOS:<path>).',
  autoStart: true,
  activate: (app: JupyterFrontEnd): void => {
    app.serviceManager.contents.addDrive(new EosDrive());
  }
};
