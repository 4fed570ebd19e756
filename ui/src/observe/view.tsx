/**
 * The "At a glance" sidebar section: for the analysis opened in the Jobs section, a per-index
 * status heatmap (click a cell to open that element), runtime and peak-memory histograms (the
 * memory request drawn as a line), the failure digest and what it cost.
 */
import { ReactWidget } from '@jupyterlab/apputils';
import React, { useEffect, useRef, useState } from 'react';

import { useSignal } from '../components';
import { duration } from '../format';
import { IFailureGroup, IHistogram, IUsage } from './api';
import { costText, mb } from './format';
import { COLORS, ILayout, draw, elementAt, layout } from './heatmap';
import { drawHistogram } from './histogram';
import { ObserveModel } from './model';

export const HEATMAP_HEIGHT = 120;
const HIST_HEIGHT = 60;

function useWidth(ref: React.RefObject<HTMLElement>): number {
  const [width, setWidth] = useState(240);
  useEffect(() => {
    const node = ref.current;
    if (!node) {
      return;
    }
    const measure = () =>
      setWidth(Math.max(60, Math.floor(node.clientWidth || 240)));
    measure();
    if (typeof ResizeObserver === 'undefined') {
      return;
    }
    const observer = new ResizeObserver(measure);
    observer.observe(node);
    return () => observer.disconnect();
  }, [ref.current]);
  return width;
}

/** The heatmap: one canvas, one ImageData; a click opens the element under the pointer. */
export function Heatmap(props: {
  statuses: string[];
  onOpen: (index: number) => void;
}): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const width = useWidth(box);
  const [hover, setHover] = useState<number | null>(null);
  const l: ILayout = layout(props.statuses.length, width, HEATMAP_HEIGHT);
  useEffect(() => {
    if (canvas.current) {
      const t0 = performance.now();
      draw(canvas.current, props.statuses, l);
      // how long the drawing took (read by benchmarks/observe.py)
      canvas.current.dataset.drawMs = (performance.now() - t0).toFixed(2);
    }
  }, [props.statuses, width]);
  const at = (event: React.MouseEvent<HTMLCanvasElement>) => {
    const rect = event.currentTarget.getBoundingClientRect();
    return elementAt(
      props.statuses,
      l,
      event.clientX - rect.left,
      event.clientY - rect.top
    );
  };
  const counts: Record<string, number> = {};
  for (const s of props.statuses) {
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return (
    <div className="jp-Explorer-heatmap" ref={box}>
      <canvas
        ref={canvas}
        className="jp-Explorer-heatmap-canvas"
        data-cells={l.cells}
        data-per-cell={l.perCell}
        data-cell={l.cell}
        data-cols={l.cols}
        title={
          hover !== null
            ? `element ${hover}: ${props.statuses[hover]} — click to open it`
            : 'one cell per element; click to open it'
        }
        onMouseMove={e => setHover(at(e))}
        onMouseLeave={() => setHover(null)}
        onClick={e => {
          const i = at(e);
          if (i !== null) {
            props.onOpen(i);
          }
        }}
      />
      <div className="jp-Explorer-heatmap-legend">
        {Object.keys(COLORS)
          .filter(s => counts[s])
          .map(s => (
            <span key={s} className="jp-Explorer-legend-item" data-status={s}>
              <span
                className="jp-Explorer-legend-swatch"
                style={{ background: `rgb(${COLORS[s].join(',')})` }}
              />
              {s} {counts[s].toLocaleString()}
            </span>
          ))}
      </div>
    </div>
  );
}

/** A histogram with its axis ends and an optional request line. */
export function Histogram(props: {
  title: string;
  data: IHistogram;
  format: (v: number) => string;
  note?: string;
}): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const width = useWidth(box);
  useEffect(() => {
    if (canvas.current) {
      drawHistogram(canvas.current, props.data, width, HIST_HEIGHT);
    }
  }, [props.data, width]);
  const total = props.data.counts.reduce((a, b) => a + b, 0);
  const last = props.data.edges[props.data.edges.length - 1] ?? 0;
  return (
    <div className="jp-Explorer-histogram" ref={box} data-total={total}>
      <div className="jp-Explorer-histogram-title">
        {props.title}
        {props.note && (
          <span className="jp-Explorer-histogram-note"> · {props.note}</span>
        )}
      </div>
      <canvas
        ref={canvas}
        className="jp-Explorer-histogram-canvas"
        data-counts={props.data.counts.join(',')}
        data-request={props.data.request ?? ''}
      />
      <div className="jp-Explorer-histogram-axis">
        <span>0</span>
        <span>{props.format(last)}</span>
      </div>
    </div>
  );
}

/** "Failures: 3 causes", each with its pattern, count and its elements to click through. */
export function Digest(props: {
  groups: IFailureGroup[];
  onOpen: (index: number) => void;
}): JSX.Element | null {
  const [open, setOpen] = useState<string | null>(null);
  if (!props.groups.length) {
    return null;
  }
  const n = props.groups.length;
  return (
    <div className="jp-Explorer-digest">
      <div className="jp-Explorer-digest-title">
        Failures: {n} cause{n === 1 ? '' : 's'}
      </div>
      <ul>
        {props.groups.map(g => (
          <li
            key={g.reason}
            className="jp-Explorer-digest-group"
            data-count={g.count}
          >
            <div
              className="jp-Explorer-digest-head"
              title={`for example, element ${g.example_index}:\n${g.example}`}
              onClick={() => setOpen(open === g.reason ? null : g.reason)}
            >
              <span className="jp-Explorer-digest-count">
                {g.count.toLocaleString()}×
              </span>
              <span className="jp-Explorer-digest-reason">{g.reason}</span>
            </div>
            {open === g.reason && (
              <div className="jp-Explorer-digest-detail">
                <div className="jp-Explorer-digest-example">
                  e.g. #{g.example_index}: {g.example}
                </div>
                <div className="jp-Explorer-digest-indices">
                  {g.indices.slice(0, 50).map(i => (
                    <button
                      key={i}
                      className="jp-Explorer-link jp-Explorer-digest-index"
                      onClick={() => props.onOpen(i)}
                    >
                      #{i}
                    </button>
                  ))}
                  {g.indices.length > 50 && (
                    <span>
                      {' '}
                      +{(g.indices.length - 50).toLocaleString()} more
                    </span>
                  )}
                </div>
              </div>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}

function UsageFacts(props: { usage: IUsage }): JSX.Element {
  const u = props.usage;
  return (
    <div className="jp-Explorer-usage">
      <div>
        CPU {u.vcpu_hours.used.toFixed(2)} of{' '}
        {u.vcpu_hours.requested.toFixed(2)} vCPU-h · memory{' '}
        {u.gb_hours.used.toFixed(2)} of {u.gb_hours.requested.toFixed(2)} GB-h
      </div>
      <div className="jp-Explorer-usage-cost" title={u.cost.source}>
        {costText(u)}
      </div>
      <div className="jp-Explorer-usage-hint">{u.hint.memory}</div>
      {u.hint.cpu && <div className="jp-Explorer-usage-hint">{u.hint.cpu}</div>}
    </div>
  );
}

export function Glance(props: {
  model: ObserveModel | null;
  onOpen: (index: number) => void;
}): JSX.Element {
  const { model } = props;
  useSignal(model?.changed ?? null);
  if (!model) {
    return (
      <div className="jp-Explorer-glance jp-Explorer-empty">
        Open an analysis in Jobs to see its elements at a glance.
      </div>
    );
  }
  const u = model.usage;
  return (
    <div className="jp-Explorer-glance" data-id={model.id}>
      {model.error && <div className="jp-Explorer-error">{model.error}</div>}
      {model.display.length > 0 && (
        <Heatmap statuses={model.display} onOpen={props.onOpen} />
      )}
      {u && (
        <>
          <Histogram
            title="Runtime"
            data={u.histograms.runtime_s}
            format={v => duration(v)}
            note={
              u.runtime_s.p50 !== null
                ? `p50 ${duration(u.runtime_s.p50)}, p95 ${duration(u.runtime_s.p95 ?? 0)}`
                : 'none finished yet'
            }
          />
          <Histogram
            title="Peak memory"
            data={u.histograms.peak_rss_mb}
            format={mb}
            note={`p95 ${mb(u.peak_rss_mb.p95)} of ${mb(u.requested.memory_mb)} requested (line)`}
          />
          <UsageFacts usage={u} />
        </>
      )}
      {model.failures && (
        <Digest groups={model.failures.groups} onOpen={props.onOpen} />
      )}
    </div>
  );
}

/** The section's widget: follows the analysis that Jobs has open. */
export class GlanceView extends ReactWidget {
  constructor(onOpen: (id: string, index: number) => void) {
    super();
    this._onOpen = onOpen;
    this.addClass('jp-Explorer-glanceView');
  }

  get model(): ObserveModel | null {
    return this._model;
  }

  /** Follow analysis `id` (null: none). */
  follow(id: string | null): void {
    if (this._model?.id === id) {
      return;
    }
    this._model?.dispose();
    this._model = id
      ? new ObserveModel(id, { visible: () => this.isVisible })
      : null;
    this.update();
  }

  dispose(): void {
    this._model?.dispose();
    super.dispose();
  }

  protected render(): JSX.Element {
    const model = this._model;
    return (
      <Glance
        model={model}
        onOpen={index => model && this._onOpen(model.id, index)}
      />
    );
  }

  private _model: ObserveModel | null = null;
  private _onOpen: (id: string, index: number) => void;
}
