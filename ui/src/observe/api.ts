/**
 * The routes of the array-at-a-glance views (issue 14), through the one `requestAPI`.
 */
import { IElement, requestAPI } from '../api';

/** FAILED elements with one cause (their reasons equal once variable parts are masked). */
export interface IFailureGroup {
  reason: string;
  count: number;
  indices: number[];
  example: string;
  example_index: number;
}

export interface IFailures {
  groups: IFailureGroup[];
  failed: number;
  finished: boolean;
}

export interface IHistogram {
  /** bins + 1 edges, from 0 */
  edges: number[];
  counts: number[];
  /** the request (memory_mb), drawn as a line */
  request?: number;
}

export interface ISpread {
  p50: number | null;
  p95: number | null;
  max: number | null;
}

export interface IUsage {
  elements: number;
  measured: number;
  running: number;
  requested: { cpu: number; memory_mb: number };
  /** earlier attempts of rerun or retried elements, counted in the totals and the cost */
  earlier_attempts?: {
    count: number;
    failed: number;
    elements: number;
    wall_s: number;
  };
  cpu_s: number;
  wall_s: number;
  elapsed_s: number | null;
  vcpu_hours: { requested: number; used: number };
  gb_hours: { requested: number; used: number };
  cpu_efficiency: number | null;
  peak_rss_mb: ISpread;
  runtime_s: ISpread;
  hint: { memory: string; memory_mb: number | null; cpu: string | null };
  cost: {
    vcpu_hour: number;
    gb_hour: number;
    currency: string;
    source: string;
    spent: number;
    spent_failed: number;
  };
  histograms: { runtime_s: IHistogram; peak_rss_mb: IHistogram };
}

/** One status letter per element (see `legend`); `cancelled` are FAILED before they started. */
export interface IStatuses {
  size: number;
  letters: string;
  cancelled: number[];
  legend: Record<string, string>;
}

function route(id: string, tail: string): string {
  return `analyses/${encodeURIComponent(id)}/${tail}`;
}

export function getFailures(id: string): Promise<IFailures> {
  return requestAPI<IFailures>(route(id, 'failures'));
}

export function getUsage(id: string): Promise<IUsage> {
  return requestAPI<IUsage>(route(id, 'usage'));
}

export function getStatuses(id: string): Promise<IStatuses> {
  return requestAPI<IStatuses>(route(id, 'statuses'));
}

export function getElement(id: string, index: number): Promise<IElement> {
  return requestAPI<IElement>(route(id, `elements/${index}`));
}
