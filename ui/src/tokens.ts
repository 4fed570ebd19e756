/**
 * The tokens other plugins use to extend the Explorer sidebar. A new sidebar section is a new
 * plugin that `requires: [IExplorerSidebar]` (and `IExplorerJobs` to follow the analysis the
 * user opened); see README "Where to add a sidebar section".
 */
import { PanelWithToolbar, SidePanel } from '@jupyterlab/ui-components';
import { Token } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { IAnalysis, IWhoAmI } from './api';
import { EosDrive } from './drive';
import { EosModel } from './eos';
import { AnalysisModel, JobsModel } from './jobs';

/** Command ids of the Explorer plugins (stable: users bind keys to them). */
export namespace CommandIDs {
  export const show = 'explorer:show';
  export const refreshJobs = 'explorer:refresh-jobs';
  export const openLog = 'explorer:open-log';
  export const open = 'explorer:eos-open';
  export const openUri = 'explorer:eos-open-uri';
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

/** `describedBy` of a command that takes no arguments. */
export const NO_ARGS = { args: { type: 'object' as const, properties: {} } };

/** The Explorer panel in the left area, which sections are added to. */
export interface IExplorerSidebar {
  /** The panel itself (an accordion of sections). */
  readonly panel: SidePanel;
  /** Who the server acts for; null when the server extension does not answer. */
  readonly whoami: Promise<IWhoAmI | null>;
  /**
   * Add a section (a titled, collapsible part with its own toolbar) holding `widget`. Sections
   * are ordered by `rank` (Jobs 100, Files 200). Disposing the returned section removes it.
   */
  addSection(options: IExplorerSidebar.ISectionOptions): PanelWithToolbar;
}

export namespace IExplorerSidebar {
  export interface ISectionOptions {
    /** A DOM id for the section (e.g. `explorer-histograms`). */
    id: string;
    title: string;
    widget: Widget;
    /** Lower ranks come first; default 500. */
    rank?: number;
    /** Extra CSS class of the section. */
    className?: string;
  }
}

export const IExplorerSidebar = new Token<IExplorerSidebar>(
  'explorer-jupyterlab:IExplorerSidebar',
  'The Explorer sidebar: add a section to it.'
);

/** A button shown on an opened analysis (e.g. "Rerun failed"). */
export interface IAnalysisAction {
  /** Unique id, also the button's `data-action` attribute. */
  id: string;
  label: string;
  caption?: string;
  /** Lower ranks come first; default 500 (Terminate all is 1000). */
  rank?: number;
  /** Whether to show the button for this analysis (default: always). */
  isVisible?: (info: IAnalysis) => boolean;
  /**
   * What the button does. A thrown error's message is shown in the analysis' notice; a
   * returned string is shown as an info notice.
   */
  execute: (model: AnalysisModel) => Promise<string | void> | string | void;
}

/** The Jobs section: the analyses list and the analysis the user opened. */
export interface IExplorerJobs {
  readonly model: JobsModel;
  /** The analysis opened in the Jobs section; null while the list is shown. */
  readonly current: AnalysisModel | null;
  /** Emitted with the analysis opened (or null) whenever that changes. */
  readonly currentChanged: ISignal<IExplorerJobs, AnalysisModel | null>;
  /** Open an analysis by id (null: back to the list). */
  open(id: string | null): void;
  /** Add a button to the actions of an opened analysis. */
  addAnalysisAction(action: IAnalysisAction): IDisposable;
}

export const IExplorerJobs = new Token<IExplorerJobs>(
  'explorer-jupyterlab:IExplorerJobs',
  'The Jobs section of the Explorer sidebar: the opened analysis, and actions on it.'
);

/** The Files section: the EOS folder shown. */
export interface IExplorerFiles {
  readonly model: EosModel;
  /**
   * Show an e:// URI (or `EOS:path`): a folder is opened in the Files section, a file is
   * shown in its folder and opened as a double-click opens it (editor, viewer, or an offer
   * to download); a problem is shown in the section's notice.
   */
  openUri(uri: string): Promise<void>;
}

export const IExplorerFiles = new Token<IExplorerFiles>(
  'explorer-jupyterlab:IExplorerFiles',
  'The Files (EOS) section of the Explorer sidebar.'
);

/** The EOS contents drive (`EOS:<path>` in JupyterLab's document manager). */
export interface IExplorerDrive {
  readonly drive: EosDrive;
}

export const IExplorerDrive = new Token<IExplorerDrive>(
  'explorer-jupyterlab:IExplorerDrive',
  'The EOS contents drive.'
);
