/**
 * Reruns and attempts (issue 13): the REST calls and what the sidebar shows of them.
 *
 * An element that ran more than once (a rerun, a retry with more memory) has attempts
 * numbered from 0; a log tab shows the latest unless another is chosen.
 */
import { requestAPI } from './api';
import { Status, TERMINAL } from './types';

/** Where a resumed element's result comes from. */
export interface ICachedFrom {
  analysis: string;
  index: number;
}

export interface IAttempt {
  attempt: number;
  status: Status;
  reason?: string | null;
  started?: number | null;
  stopped?: number | null;
  resources?: { memory_mb?: number; timeout_seconds?: number | null } | null;
  cached?: ICachedFrom | null;
}

export interface IElementDetail {
  index: number;
  status: Status;
  reason: string | null;
  cached: ICachedFrom | null;
  attempts: IAttempt[];
}

export interface IRerunAnswer {
  id: string;
  indices: number[];
  count: number;
}

/** One element with every attempt it has had (attempt 0 first, the current one last). */
export function getElement(id: string, index: number): Promise<IElementDetail> {
  return requestAPI<IElementDetail>(
    `analyses/${encodeURIComponent(id)}/elements/${index}`
  );
}

/** Submit again the FAILED elements (or exactly `indices`) of an analysis, in place. */
export function rerunAnalysis(
  id: string,
  what: { failed: true } | { indices: number[] }
): Promise<IRerunAnswer> {
  return requestAPI<IRerunAnswer>(`analyses/${encodeURIComponent(id)}/rerun`, {
    method: 'POST',
    json: what
  });
}

/** A label for an attempt: "1 · FAILED · 8000 MB". */
export function attemptLabel(a: IAttempt, latest: boolean): string {
  const parts = [`attempt ${a.attempt}`, a.status];
  if (a.resources?.memory_mb) {
    parts.push(`${a.resources.memory_mb} MB`);
  }
  if (latest) {
    parts.push('latest');
  }
  return parts.join(' · ');
}

/** How many elements "Rerun failed" would submit (0: the action is not offered). */
export function failedCount(info: {
  status: string;
  counts: Partial<Record<string, number>>;
}): number {
  return TERMINAL.has(info.status) ? (info.counts.FAILED ?? 0) : 0;
}
