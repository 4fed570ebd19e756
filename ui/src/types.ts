/**
 * The shapes of the Explorer REST API (docs/api-contract.md) and its error, without any I/O,
 * so that tests can mock the api module and keep these.
 */

/** Statuses, in AWS Batch's words, for every backend. */
export type Status =
  | 'SUBMITTED'
  | 'PENDING'
  | 'RUNNABLE'
  | 'STARTING'
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'FAILED';

/** The order of the segments of a progress bar (and of the status filter). */
export const STATUSES: Status[] = [
  'SUCCEEDED',
  'RUNNING',
  'STARTING',
  'RUNNABLE',
  'PENDING',
  'SUBMITTED',
  'FAILED'
];

export const TERMINAL: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED']);

export interface IWhoAmI {
  user: string;
  storage: string;
  /** what the storage can do (e.g. 'presign', 'multipart'), as the server declares it */
  capabilities: string[];
  compute: string;
  version: string;
}

export interface IAnalysis {
  id: string;
  name: string;
  created: number;
  /** Number of elements of an array; null for a single job. */
  size: number | null;
  status: Status;
  counts: Partial<Record<Status, number>>;
  reason: string | null;
  depends_on: { id: string; name: string }[];
  compute: string;
}

export interface IAnalysisPage {
  analyses: IAnalysis[];
  next_offset: number | null;
}

export interface IElement {
  index: number;
  status: Status;
  reason: string | null;
  started: number | null;
  stopped: number | null;
  // -- the element record (issue 14); absent from older servers --------------------------------
  ended?: number | null;
  duration_s?: number | null;
  exit_code?: number | null;
  signal?: string | null;
  input_label?: string | null;
  peak_rss_mb?: number | null;
  cpu_s?: number | null;
  host?: string | null;
  /** FAILED because it was terminated before it started: shown as CANCELLED. */
  cancelled?: boolean;
  /** A resumed element: the earlier result it reuses (it did not run). */
  cached?: { analysis: string; index: number } | null;
}

export interface IElementPage {
  elements: IElement[];
  total: number;
}

export type LogStream = 'stdout' | 'stderr';

export interface ILogChunk {
  data: string;
  next_offset: number;
  finished: boolean;
}

export interface IEntry {
  name: string;
  uri: string;
  type: 'file' | 'folder';
  size: number | null;
  mtime: number | null;
  writable?: boolean;
}

export interface IListing {
  uri: string;
  writable: boolean;
  entries: IEntry[];
  next_token: string | null;
}

/** A message for the user about an action (refused, failed, done), shown until dismissed. */
export interface INotice {
  kind: 'error' | 'info';
  text: string;
}

/** A failed request: `status` is the HTTP status (0 when the server was not reached). */
export class APIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly cancelled = false
  ) {
    super(message);
    this.name = 'APIError';
  }
}

/**
 * Dispose a Poll and its pending timer: `Poll.dispose()` alone leaves the next tick's
 * setTimeout armed (harmless, but it keeps node and the page's timers busy until it fires).
 */
export function disposePoll(poll: {
  stop(): Promise<void>;
  dispose(): void;
}): void {
  void poll.stop(); // clears the scheduled timeout synchronously
  poll.dispose();
}
