/**
 * The Jobs section: recent analyses with their progress, and one analysis opened with its
 * elements (virtualized, filterable by status, FAILED first).
 */
import { Dialog, ReactWidget, showDialog } from '@jupyterlab/apputils';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import React, { useCallback, useEffect, useState } from 'react';

import { IAnalysis, IElement, STATUSES, Status, TERMINAL } from './api';
import {
  Notice,
  ProgressBar,
  StatusBadge,
  VirtualList,
  useSignal
} from './components';
import { age, date, shortId } from './format';
import { AnalysisModel, JobsModel, SINCE_CHOICES } from './jobs';
import { ElementFacts, displayStatus, elementTitle } from './observe/element';
import { IAnalysisAction, IExplorerJobs } from './tokens';

export const ROW_HEIGHT = 26;

/** Statuses of an analysis that has not started: only then does it wait for others. */
const WAITING: ReadonlySet<string> = new Set([
  'SUBMITTED',
  'PENDING',
  'RUNNABLE'
]);

/** What the Jobs section asks of the application. */
export interface IJobsActions {
  openLog(analysis: { id: string; name: string }, index: number): void;
}

async function confirm(
  title: string,
  body: string,
  label: string
): Promise<boolean> {
  const result = await showDialog({
    title,
    body,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label })]
  });
  return result.button.accept;
}

function AnalysisRow(props: {
  analysis: IAnalysis;
  onOpen: () => void;
}): JSX.Element {
  const a = props.analysis;
  return (
    <li
      className="jp-Explorer-analysis"
      data-id={a.id}
      data-status={a.status}
      onClick={props.onOpen}
      title={`${a.id}\nclick to see its elements`}
    >
      <div className="jp-Explorer-analysis-head">
        <span className={`jp-Explorer-dot jp-Explorer-status-${a.status}`} />
        <span className="jp-Explorer-analysis-name">{a.name}</span>
        <span className="jp-Explorer-analysis-status">{a.status}</span>
        <span className="jp-Explorer-analysis-age">{age(a.created)}</span>
      </div>
      <div className="jp-Explorer-analysis-meta">
        <span className="jp-Explorer-mono">{shortId(a.id)}</span>
        {a.size !== null ? ` · array of ${a.size}` : ' · single job'}
        {a.depends_on.length > 0 && WAITING.has(a.status) && (
          <span className="jp-Explorer-waits">
            {' · waits for '}
            {a.depends_on.map(d => d.name).join(', ')}
          </span>
        )}
      </div>
      {a.size !== null && (
        <ProgressBar counts={a.counts} size={a.size} compact />
      )}
    </li>
  );
}

function ElementRow(props: {
  element: IElement | undefined;
  onOpen: (index: number) => void;
  onTerminate: (index: number) => void;
}): JSX.Element {
  const e = props.element;
  if (!e) {
    return <div className="jp-Explorer-element jp-mod-loading">…</div>;
  }
  return (
    <div
      className="jp-Explorer-element"
      data-index={e.index}
      data-status={e.status}
      data-display-status={displayStatus(e)}
      onClick={() => props.onOpen(e.index)}
      title={elementTitle(e)}
    >
      <span className="jp-Explorer-element-index">#{e.index}</span>
      <StatusBadge status={displayStatus(e)} />
      {e.cached && (
        <span
          className="jp-Explorer-cached"
          title={`Did not run: reuses element ${e.cached.index} of ${e.cached.analysis}`}
        >
          cached
        </span>
      )}
      <ElementFacts element={e} />
      <span className="jp-Explorer-element-reason">{e.reason ?? ''}</span>
      {!TERMINAL.has(e.status) && (
        <button
          className="jp-Explorer-icon-button jp-Explorer-terminate-element"
          title={`Terminate element ${e.index}`}
          onClick={event => {
            event.stopPropagation();
            props.onTerminate(e.index);
          }}
        >
          ✕
        </button>
      )}
    </div>
  );
}

function AnalysisDetail(props: {
  model: AnalysisModel;
  view: JobsView;
  onBack: () => void;
  onOpenOther: (id: string) => void;
}): JSX.Element {
  const { model, view } = props;
  const actions = view.actions;
  useSignal(model.changed);
  useSignal(view.analysisActionsChanged);
  const info = model.info;
  const name = info?.name ?? '';
  const onRange = useCallback(
    (start: number, end: number) => {
      void model.showRange(start, end);
    },
    [model]
  );
  const openLog = (index: number) =>
    actions.openLog({ id: model.id, name }, index);
  const terminate = async (index: number) => {
    if (
      await confirm(
        'Terminate element?',
        `Stop element ${index} of ${name}? It will be marked FAILED.`,
        'Terminate'
      )
    ) {
      await model.run(async () => {
        await model.terminateElement(index);
        return `Terminate requested for element ${index}.`;
      });
    }
  };
  const terminateAll = async () => {
    if (
      await confirm(
        'Terminate the whole analysis?',
        `Stop every element of ${name} (${model.id}) that has not finished?`,
        'Terminate all'
      )
    ) {
      await model.run(async () => {
        await model.terminateAll();
        return 'Terminate requested for every element that has not finished.';
      });
    }
  };
  const size = info?.size ?? 1;
  const filter = model.statusFilter;
  return (
    <div className="jp-Explorer-detail" data-id={model.id}>
      <div className="jp-Explorer-detail-head">
        <button
          className="jp-Explorer-link jp-Explorer-back"
          onClick={props.onBack}
        >
          ‹ All analyses
        </button>
        <div className="jp-Explorer-detail-title">
          <span className="jp-Explorer-analysis-name">
            {name || shortId(model.id)}
          </span>
          {info && <StatusBadge status={info.status} />}
        </div>
        <div
          className="jp-Explorer-mono jp-Explorer-detail-id"
          title={model.id}
        >
          {model.id}
        </div>
        {info && (
          <div className="jp-Explorer-analysis-meta">
            {date(info.created)} · {info.compute} ·{' '}
            {info.size !== null ? `array of ${info.size}` : 'single job'}
          </div>
        )}
        {info && info.depends_on.length > 0 && (
          <div className="jp-Explorer-depends">
            {WAITING.has(info.status) ? 'Waits for:' : 'Depends on:'}{' '}
            {info.depends_on.map(d => (
              <button
                key={d.id}
                className="jp-Explorer-link jp-Explorer-dependency"
                title={d.id}
                onClick={() => props.onOpenOther(d.id)}
              >
                {d.name}
              </button>
            ))}
          </div>
        )}
        {info?.reason && (
          <div className="jp-Explorer-reason">{info.reason}</div>
        )}
        {model.error && <div className="jp-Explorer-error">{model.error}</div>}
        <Notice notice={model.notice} onDismiss={() => model.setNotice(null)} />
        {info && (
          <ProgressBar
            counts={info.counts}
            size={size}
            picked={filter}
            onPick={s => void model.setStatusFilter(filter === s ? null : s)}
          />
        )}
        <div className="jp-Explorer-detail-actions">
          <select
            className="jp-Explorer-status-filter"
            value={filter ?? ''}
            onChange={e =>
              void model.setStatusFilter(
                (e.target.value || null) as Status | null
              )
            }
            title="Show elements with this status only"
          >
            <option value="">All statuses</option>
            {STATUSES.map(s => (
              <option key={s} value={s}>
                {s} ({info?.counts[s] ?? 0})
              </option>
            ))}
          </select>
          {info &&
            view.analysisActions
              .filter(a => !a.isVisible || a.isVisible(info))
              .map(a => (
                <button
                  key={a.id}
                  className="jp-Explorer-button jp-Explorer-analysis-action"
                  data-action={a.id}
                  title={a.caption ?? a.label}
                  onClick={() => void model.run(() => a.execute(model))}
                >
                  {a.label}
                </button>
              ))}
          {info && !TERMINAL.has(info.status) && (
            <button
              className="jp-Explorer-button jp-mod-warn jp-Explorer-terminate-all"
              onClick={terminateAll}
            >
              Terminate all
            </button>
          )}
        </div>
      </div>
      <div className="jp-Explorer-elements-header">
        {model.total === null
          ? 'Loading elements…'
          : `${model.total} element${model.total === 1 ? '' : 's'}${filter ? ' ' + filter : ''}, failed first`}
      </div>
      <VirtualList
        className="jp-Explorer-elements"
        count={model.total ?? 0}
        rowHeight={ROW_HEIGHT}
        onRange={onRange}
        renderRow={position => (
          <ElementRow
            element={model.elementAt(position)}
            onOpen={openLog}
            onTerminate={index => void terminate(index)}
          />
        )}
      />
    </div>
  );
}

function JobsComponent(props: { view: JobsView }): JSX.Element {
  const { view } = props;
  const model = view.model;
  useSignal(model.changed);
  useSignal(view.currentChanged);
  const [name, setName] = useState(model.nameFilter);
  useEffect(() => {
    const timer = setTimeout(() => {
      if (name !== model.nameFilter) {
        void model.setFilter({ name }).catch(() => undefined);
      }
    }, 300);
    return () => clearTimeout(timer);
  }, [name, model]);

  const current = view.current;
  if (current) {
    return (
      <AnalysisDetail
        key={current.id}
        model={current}
        view={view}
        onBack={() => view.open(null)}
        onOpenOther={id => view.open(id)}
      />
    );
  }
  return (
    <div className="jp-Explorer-jobs">
      <div className="jp-Explorer-filters">
        <input
          className="jp-Explorer-input jp-Explorer-name-filter"
          type="search"
          placeholder="Filter by name"
          value={name}
          onChange={e => setName(e.target.value)}
        />
        <select
          className="jp-Explorer-since"
          value={model.since}
          onChange={e =>
            void model
              .setFilter({ since: e.target.value })
              .catch(() => undefined)
          }
          title="Show analyses created within"
        >
          {SINCE_CHOICES.map(c => (
            <option key={c.value} value={c.value}>
              {c.label}
            </option>
          ))}
        </select>
      </div>
      {model.error && <div className="jp-Explorer-error">{model.error}</div>}
      {model.loaded && model.analyses.length === 0 && (
        <div className="jp-Explorer-empty">
          No analyses {model.since ? 'in this period' : 'yet'}. Submit one from
          a notebook with <code>Analysis(function=f, input=[...]).run()</code>.
        </div>
      )}
      <ul className="jp-Explorer-analyses">
        {model.analyses.map(a => (
          <AnalysisRow
            key={a.id}
            analysis={a}
            onOpen={() => view.open(a.id, a)}
          />
        ))}
      </ul>
      {model.hasMore && (
        <button
          className="jp-Explorer-button jp-Explorer-more"
          onClick={() =>
            // a failure shows as the model's error; nothing more to do here
            void model.loadMore().catch(() => undefined)
          }
        >
          Show older analyses
        </button>
      )}
    </div>
  );
}

/** The Jobs section's content: the list, or one analysis opened. */
export class JobsView extends ReactWidget implements IExplorerJobs {
  constructor(model: JobsModel, actions: IJobsActions) {
    super();
    this.model = model;
    this.actions = actions;
    this.addClass('jp-Explorer-jobsView');
  }

  readonly model: JobsModel;
  readonly actions: IJobsActions;

  get current(): AnalysisModel | null {
    return this._current;
  }

  get currentChanged(): ISignal<this, AnalysisModel | null> {
    return this._currentChanged;
  }

  /** The buttons other plugins added to an opened analysis, by rank. */
  get analysisActions(): readonly IAnalysisAction[] {
    return this._analysisActions;
  }

  get analysisActionsChanged(): ISignal<this, void> {
    return this._analysisActionsChanged;
  }

  addAnalysisAction(action: IAnalysisAction): IDisposable {
    const rank = (a: IAnalysisAction) => a.rank ?? 500;
    this._analysisActions = this._analysisActions
      .filter(a => a.id !== action.id)
      .concat([action])
      .sort((a, b) => rank(a) - rank(b));
    this._analysisActionsChanged.emit();
    return new DisposableDelegate(() => {
      this._analysisActions = this._analysisActions.filter(a => a !== action);
      this._analysisActionsChanged.emit();
    });
  }

  /** Open an analysis (its elements), or go back to the list with null. */
  open(id: string | null, info?: IAnalysis): void {
    this._current?.dispose();
    this._current = id
      ? new AnalysisModel(id, { info, visible: () => this.isVisible })
      : null;
    this._currentChanged.emit(this._current);
    if (!id) {
      void this.model.poll.refresh();
    }
  }

  dispose(): void {
    this._current?.dispose();
    this._current = null;
    super.dispose();
  }

  /** Catch up at once when the section is shown again (its polls stood by while hidden). */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.model.poll.refresh();
    void this._current?.poll.refresh();
  }

  render(): JSX.Element {
    return <JobsComponent view={this} />;
  }

  private _current: AnalysisModel | null = null;
  private _currentChanged = new Signal<this, AnalysisModel | null>(this);
  private _analysisActions: IAnalysisAction[] = [];
  private _analysisActionsChanged = new Signal<this, void>(this);
}
