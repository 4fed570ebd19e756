/**
 * What an element row and a log header show of the element record (issue 14): its label,
 * CANCELLED apart from FAILED, elapsed or total time, peak memory, exit code or signal.
 */
import React from 'react';

import { IElement } from '../api';
import { date, duration } from '../format';
import { mb } from './format';

/** The status a person sees: CANCELLED for an element terminated before it started. */
export function displayStatus(e: IElement): string {
  return e.cancelled ? 'CANCELLED' : e.status;
}

/** "1m 20s" once finished, "running 12s" while it runs, "" before it starts. */
export function timeText(e: IElement, now: number = Date.now() / 1000): string {
  if (e.started === null || e.started === undefined) {
    return '';
  }
  const end = e.ended ?? e.stopped;
  if (end !== null && end !== undefined) {
    return duration(Math.max(0, end - e.started));
  }
  return `running ${duration(Math.max(0, now - e.started))}`;
}

export function exitText(e: IElement): string {
  if (e.signal) {
    return e.signal;
  }
  return e.exit_code === null || e.exit_code === undefined
    ? ''
    : `exit ${e.exit_code}`;
}

/** The full record as a tooltip (the reason uncut). */
export function elementTitle(e: IElement): string {
  const lines = [
    `Element ${e.index}${e.input_label ? ` (${e.input_label})` : ''}: ${displayStatus(e)}`
  ];
  if (e.reason) {
    lines.push(e.reason);
  }
  const facts = [
    e.started ? `started ${date(e.started)}` : '',
    timeText(e),
    e.peak_rss_mb !== null && e.peak_rss_mb !== undefined
      ? `peak ${mb(e.peak_rss_mb)}`
      : '',
    e.cpu_s !== null && e.cpu_s !== undefined ? `CPU ${duration(e.cpu_s)}` : '',
    exitText(e),
    e.host ? `on ${e.host}` : ''
  ].filter(Boolean);
  if (facts.length) {
    lines.push(facts.join(' · '));
  }
  lines.push('click to open its log');
  return lines.join('\n');
}

/** The label, time and memory cells of an element row. */
export function ElementFacts(props: { element: IElement }): JSX.Element {
  const e = props.element;
  return (
    <>
      <span className="jp-Explorer-element-label" title={e.input_label ?? ''}>
        {e.input_label ?? ''}
      </span>
      <span className="jp-Explorer-element-time">{timeText(e)}</span>
      <span className="jp-Explorer-element-memory">
        {e.peak_rss_mb !== null && e.peak_rss_mb !== undefined
          ? mb(e.peak_rss_mb)
          : ''}
      </span>
    </>
  );
}

/** The header of a log tab: label, status, exit code, started, duration, peak memory. */
export function LogHeader(props: {
  element: IElement | null;
}): JSX.Element | null {
  const e = props.element;
  if (!e) {
    return null;
  }
  const status = displayStatus(e);
  return (
    <div className="jp-Explorer-log-header" data-status={status}>
      <span className="jp-Explorer-log-label">
        {e.input_label || `element ${e.index}`}
      </span>
      <span className={`jp-Explorer-badge jp-Explorer-status-${status}`}>
        {status}
      </span>
      {exitText(e) && (
        <span className="jp-Explorer-log-exit">{exitText(e)}</span>
      )}
      {e.started ? (
        <span>started {date(e.started)}</span>
      ) : (
        <span>not started</span>
      )}
      {timeText(e) && (
        <span className="jp-Explorer-log-duration">{timeText(e)}</span>
      )}
      {e.peak_rss_mb !== null && e.peak_rss_mb !== undefined && (
        <span className="jp-Explorer-log-memory">peak {mb(e.peak_rss_mb)}</span>
      )}
      {e.reason && (
        <div className="jp-Explorer-log-reason" title={e.reason}>
          {e.reason}
        </div>
      )}
    </div>
  );
}
