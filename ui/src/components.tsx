/**
 * Small React pieces shared by the sections: re-render on a model's signal, the stacked
 * progress bar of an array, a status badge, and a virtualized list.
 */
import { ISignal } from '@lumino/signaling';
import React, {
  useEffect,
  useLayoutEffect,
  useReducer,
  useRef,
  useState
} from 'react';

import { INotice, STATUSES, Status } from './api';

/** Re-render the calling component whenever `signal` fires. */
export function useSignal(signal: ISignal<unknown, unknown> | null): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    if (!signal) {
      return;
    }
    const slot = () => bump();
    signal.connect(slot);
    return () => {
      signal.disconnect(slot);
    };
  }, [signal]);
}

/** A message about an action, with a button that dismisses it. */
export function Notice(props: {
  notice: INotice | null;
  onDismiss: () => void;
}): JSX.Element | null {
  const { notice } = props;
  if (!notice) {
    return null;
  }
  return (
    <div
      className={`jp-Explorer-notice jp-mod-${notice.kind}`}
      role={notice.kind === 'error' ? 'alert' : 'status'}
    >
      <span>{notice.text}</span>
      <button
        className="jp-Explorer-icon-button"
        title="Dismiss"
        onClick={props.onDismiss}
      >
        ✕
      </button>
    </div>
  );
}

export function StatusBadge(props: { status: string }): JSX.Element {
  return (
    <span
      className={`jp-Explorer-badge jp-Explorer-status-${props.status}`}
      data-status={props.status}
    >
      {props.status}
    </span>
  );
}

/**
 * One bar, one coloured segment per status in STATUSES order, widths proportional to counts;
 * the counts are written under it (or only in the tooltip when `compact`).
 */
export function ProgressBar(props: {
  counts: Partial<Record<Status, number>>;
  size: number;
  compact?: boolean;
  onPick?: (status: Status) => void;
  picked?: Status | null;
}): JSX.Element {
  const { counts, size } = props;
  const present = STATUSES.filter(s => (counts[s] ?? 0) > 0);
  const summary = present.map(s => `${s} ${counts[s]}`).join(', ');
  return (
    <div className="jp-Explorer-progress" title={summary}>
      <div
        className="jp-Explorer-progress-bar"
        role="progressbar"
        aria-label={summary}
      >
        {present.map(s => (
          <div
            key={s}
            className={`jp-Explorer-progress-segment jp-Explorer-status-${s}`}
            data-status={s}
            style={{
              width: `${(100 * (counts[s] ?? 0)) / Math.max(1, size)}%`
            }}
          />
        ))}
      </div>
      {!props.compact && (
        <div className="jp-Explorer-progress-legend">
          {present.map(s => (
            <button
              key={s}
              className={
                'jp-Explorer-legend-item' +
                (props.picked === s ? ' jp-mod-active' : '')
              }
              data-status={s}
              onClick={() => props.onPick?.(s)}
              disabled={!props.onPick}
              title={props.onPick ? `Show ${s} elements only` : s}
            >
              <span className={`jp-Explorer-dot jp-Explorer-status-${s}`} />
              {s} {counts[s]}
            </button>
          ))}
        </div>
      )}
      {props.compact && (
        <div className="jp-Explorer-progress-counts">
          {present.map(s => (
            <span key={s} className="jp-Explorer-count" data-status={s}>
              <span className={`jp-Explorer-dot jp-Explorer-status-${s}`} />
              {counts[s]}
            </span>
          ))}
        </div>
      )}
    </div>
  );
}

/**
 * A list of `count` rows of fixed height that renders only the rows in view (plus a margin),
 * so 10,000 rows scroll as smoothly as 10. `onRange` learns which rows are rendered.
 */
export function VirtualList(props: {
  count: number;
  rowHeight: number;
  renderRow: (position: number) => React.ReactNode;
  onRange?: (start: number, end: number) => void;
  className?: string;
}): JSX.Element {
  const { count, rowHeight } = props;
  const ref = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(0);

  useLayoutEffect(() => {
    const node = ref.current;
    if (!node) {
      return;
    }
    setHeight(node.clientHeight);
    const observer = new ResizeObserver(() => setHeight(node.clientHeight));
    observer.observe(node);
    return () => observer.disconnect();
  }, []);

  const overscan = 10;
  const viewport = height || 20 * rowHeight;
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(
    count,
    Math.ceil((scrollTop + viewport) / rowHeight) + overscan
  );
  const { onRange } = props;
  useEffect(() => {
    onRange?.(first, last);
  }, [first, last, onRange]);

  const rows: React.ReactNode[] = [];
  for (let position = first; position < last; position++) {
    rows.push(
      <div
        key={position}
        className="jp-Explorer-vrow"
        style={{ top: position * rowHeight, height: rowHeight }}
      >
        {props.renderRow(position)}
      </div>
    );
  }
  return (
    <div
      ref={ref}
      className={'jp-Explorer-vlist ' + (props.className ?? '')}
      onScroll={event => setScrollTop(event.currentTarget.scrollTop)}
    >
      <div
        className="jp-Explorer-vlist-inner"
        style={{ height: count * rowHeight }}
      >
        {rows}
      </div>
    </div>
  );
}
