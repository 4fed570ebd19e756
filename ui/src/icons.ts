/**
 * The Explorer icon (a compass) of the left sidebar tab.
 */
import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 2a8 8 0 1 1 0 16 8 8 0 0 1 0-16z"/>
    <path d="M16.5 7.5 13.4 13.4 7.5 16.5 10.6 10.6zM12 11a1 1 0 1 0 0 2 1 1 0 0 0 0-2z"/>
  </g>
</svg>`;

export const explorerIcon = new LabIcon({
  name: 'explorer-jupyterlab:explorer',
  svgstr: svg
});
