/**
 * Models of the Jobs section: the list of recent analyses, and one opened analysis with its
 * (possibly 10,000) elements loaded page by page as the view scrolls.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import * as api from './api';
import { errorText } from './format';
import { refreshPoll, Visibility } from './poll';
import { disposePoll } from './types';
import { IAnalysis, IElement, INotice, Status, TERMINAL } from './api';

/** The time filter choices of the Jobs section (`since` of GET analyses). */
export const SINCE_CHOICES: { label: string; value: string }[] = [
  { label: 'Last hour', value: '1h' },
  { label: 'Last day', value: '1d' },
  { label: 'Last week', value: '7d' },
  { label: 'Last 30 days', value: '30d' },
  { label: 'Any time', value: '' }
];

/**
 * The recent analyses, newest first, filtered by name and time, refreshed by a Poll that backs
 * off when the server fails and stands by while the page or the sidebar is hidden.
 */
export class JobsModel implements IDisposable {
  constructor(options: JobsModel.IOptions = {}) {
    this._pageSize = options.pageSize ?? 50;
    this._wanted = this._pageSize;
    this._poll = refreshPoll({
      name: 'explorer:jobs',
      factory: () => this.refresh(),
      interval: options.interval ?? 3000,
      max: 60 * 1000,
      visible: options.visible,
      auto: options.autoStart ?? true
    });
  }

  /** Emitted whenever something shown changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get analyses(): readonly IAnalysis[] {
    return this._analyses;
  }

  /** True once the first answer arrived. */
  get loaded(): boolean {
    return this._loaded;
  }

  get hasMore(): boolean {
    return this._nextOffset !== null;
  }

  /** The last failure, shown to the user until a refresh succeeds. */
  get error(): string | null {
    return this._error;
  }

  get nameFilter(): string {
    return this._name;
  }

  get since(): string {
    return this._since;
  }

  get poll(): Poll {
    return this._poll;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Show only analyses whose name contains `name`, created within `since` ('' = any time). */
  setFilter(filter: { name?: string; since?: string }): Promise<void> {
    if (filter.name !== undefined) {
      this._name = filter.name;
    }
    if (filter.since !== undefined) {
      this._since = filter.since;
    }
    this._changed.emit();
    return this.refresh();
  }

  /** Fetch the first pages again: as many analyses as were asked for (at least one page). */
  async refresh(): Promise<void> {
    const ticket = ++this._ticket;
    try {
      const page = await this._fetch(0, this._wanted);
      if (ticket !== this._ticket || this._isDisposed) {
        return; // a newer refresh (e.g. another filter) overtook this one
      }
      this._show(page.analyses, page.next_offset);
    } catch (error) {
      this._failed(ticket, error);
      throw error; // lets the Poll back off
    }
  }

  /**
   * Append the next page of older analyses. The wanted count grows first, so a refresh that
   * starts meanwhile (a poll tick) fetches this page too, and this answer then gives way to it.
   */
  async loadMore(): Promise<void> {
    if (this._nextOffset === null) {
      return;
    }
    const offset = this._nextOffset;
    this._wanted = Math.max(this._wanted, offset + this._pageSize);
    const ticket = ++this._ticket;
    try {
      const page = await this._fetch(offset, this._pageSize);
      if (ticket !== this._ticket || this._isDisposed) {
        return; // a newer refresh asked for these rows too
      }
      const seen = new Set(this._analyses.map(a => a.id));
      const older = page.analyses.filter(a => !seen.has(a.id));
      this._show(this._analyses.concat(older), page.next_offset);
    } catch (error) {
      this._failed(ticket, error);
      throw error;
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    disposePoll(this._poll);
    Signal.clearData(this);
  }

  /** GET analyses with the current filter. */
  private _fetch(offset: number, limit: number): Promise<api.IAnalysisPage> {
    return api.listAnalyses({
      name: this._name || undefined,
      since: this._since || undefined,
      offset,
      limit
    });
  }

  /** Show `analyses`, more from `nextOffset` (a successful answer clears the error). */
  private _show(analyses: IAnalysis[], nextOffset: number | null): void {
    this._analyses = analyses;
    this._nextOffset = nextOffset;
    this._error = null;
    this._loaded = true;
    this._changed.emit();
  }

  /** Show the failure of the latest request; an overtaken one is not news. */
  private _failed(ticket: number, error: unknown): void {
    if (ticket === this._ticket && !this._isDisposed) {
      this._error = errorText(error);
      this._changed.emit();
    }
  }

  private _analyses: IAnalysis[] = [];
  private _changed = new Signal<this, void>(this);
  private _error: string | null = null;
  private _isDisposed = false;
  private _loaded = false;
  private _name = '';
  private _nextOffset: number | null = null;
  private _pageSize: number;
  private _poll: Poll;
  private _since = '1d';
  private _ticket = 0;
  /** How many analyses to show: one page, and one more per "Show older analyses". */
  private _wanted: number;
}

export namespace JobsModel {
  export interface IOptions {
    /** Whether the view is visible; the poll stands by while it is not. */
    visible?: Visibility;
    /** Poll interval in ms (default 3 s; backs off to 60 s on failures). */
    interval?: number;
    pageSize?: number;
    /** Start polling at once (default true; tests refresh by hand). */
    autoStart?: boolean;
  }
}

/**
 * One analysis: its summary (counts per status, dependencies) and its elements, FAILED first,
 * optionally filtered by status. Elements are fetched a page at a time for the rows a view
 * shows (`showRange`), so an array of 10,000 costs a few small requests, not one huge one.
 */
export class AnalysisModel implements IDisposable {
  constructor(id: string, options: AnalysisModel.IOptions = {}) {
    this.id = id;
    this._info = options.info ?? null;
    this._pageSize = options.pageSize ?? 200;
    this._poll = refreshPoll({
      name: 'explorer:analysis',
      factory: () => this.refresh(),
      interval: options.interval ?? 2000,
      max: 30 * 1000,
      visible: options.visible,
      auto: options.autoStart ?? true
    });
  }

  readonly id: string;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The summary; null until the first answer. */
  get info(): IAnalysis | null {
    return this._info;
  }

  get error(): string | null {
    return this._error;
  }

  /** What the last action (terminate, an added action) came to, until dismissed. */
  get notice(): INotice | null {
    return this._notice;
  }

  setNotice(notice: INotice | null): void {
    this._notice = notice;
    this._changed.emit();
  }

  /**
   * Run an action on this analysis and say how it went: a thrown error's message (the
   * server's, e.g. "element 8 had already SUCCEEDED") as an error notice, a returned text as
   * an info notice. Never throws.
   */
  async run(
    action: () => Promise<string | void> | string | void
  ): Promise<void> {
    try {
      const text = await action();
      if (!this._isDisposed) {
        this.setNotice(text ? { kind: 'info', text } : null);
      }
    } catch (error) {
      if (!this._isDisposed) {
        this.setNotice({ kind: 'error', text: errorText(error) });
      }
    }
  }

  /** How many elements match the status filter (null until known). */
  get total(): number | null {
    return this._total;
  }

  get statusFilter(): Status | null {
    return this._status;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  get poll(): Poll {
    return this._poll;
  }

  /** The element shown at row `position` (FAILED first, then by index), if loaded. */
  elementAt(position: number): IElement | undefined {
    return this._rows.get(position);
  }

  /** Show only elements with `status` (null: all). */
  setStatusFilter(status: Status | null): Promise<void> {
    if (status === this._status) {
      return Promise.resolve();
    }
    this._status = status;
    this._rows.clear();
    this._pages.clear();
    this._total = null;
    this._changed.emit();
    return this._loadPages(this._wantedPages(), true);
  }

  /**
   * The view shows rows [start, end): fetch the pages that cover them and are not loaded yet.
   */
  showRange(start: number, end: number): Promise<void> {
    this._range = [Math.max(0, start), Math.max(start, end)];
    const missing = this._wantedPages().filter(p => !this._pages.has(p));
    return this._loadPages(missing, false);
  }

  /** Fetch the summary, and the element pages on screen while anything may still change. */
  async refresh(): Promise<void> {
    try {
      const before = this._info;
      const wasFinished = before !== null && TERMINAL.has(before.status);
      this._info = await api.getAnalysis(this.id);
      this._error = null;
      const finished = TERMINAL.has(this._info.status);
      // a rerun can start and end between two polls: finished both times, other counts
      const sameCounts =
        before !== null &&
        JSON.stringify(before.counts) === JSON.stringify(this._info.counts);
      if (!(wasFinished && finished && sameCounts && this._total !== null)) {
        await this._loadPages(this._wantedPages(), true);
      }
      this._changed.emit();
    } catch (error) {
      if (!this._isDisposed) {
        this._error = errorText(error);
        this._changed.emit();
      }
      throw error;
    }
  }

  async terminateElement(index: number): Promise<void> {
    await api.terminateElement(this.id, index);
    await this._poll.refresh();
  }

  async terminateAll(): Promise<void> {
    await api.terminateAnalysis(this.id);
    await this._poll.refresh();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    disposePoll(this._poll);
    Signal.clearData(this);
  }

  /** Page numbers covering the visible range (at least the first page). */
  private _wantedPages(): number[] {
    const [start, end] = this._range;
    const first = Math.floor(start / this._pageSize);
    const last = Math.max(
      first,
      Math.floor(Math.max(start, end - 1) / this._pageSize)
    );
    const pages: number[] = [];
    for (let p = first; p <= last; p++) {
      pages.push(p);
    }
    return pages;
  }

  private async _loadPages(pages: number[], replace: boolean): Promise<void> {
    const status = this._status;
    const generation = replace ? ++this._generation : this._generation;
    const todo = pages.filter(p => replace || !this._loading.has(p));
    if (todo.length === 0) {
      return;
    }
    todo.forEach(p => this._loading.add(p));
    try {
      const answers = await Promise.all(
        todo.map(p =>
          api.listElements(this.id, {
            status,
            offset: p * this._pageSize,
            limit: this._pageSize
          })
        )
      );
      if (
        this._isDisposed ||
        status !== this._status ||
        generation !== this._generation
      ) {
        return; // the filter changed, or a newer refresh is on its way
      }
      answers.forEach((answer, i) => {
        const page = todo[i];
        const offset = page * this._pageSize;
        for (let k = 0; k < this._pageSize; k++) {
          this._rows.delete(offset + k);
        }
        answer.elements.forEach((element, k) => {
          this._rows.set(offset + k, element);
        });
        this._pages.add(page);
        this._total = answer.total;
      });
      this._changed.emit();
    } finally {
      todo.forEach(p => this._loading.delete(p));
    }
  }

  private _changed = new Signal<this, void>(this);
  private _error: string | null = null;
  private _generation = 0;
  private _info: IAnalysis | null;
  private _isDisposed = false;
  private _notice: INotice | null = null;
  private _loading = new Set<number>();
  private _pageSize: number;
  private _pages = new Set<number>();
  private _poll: Poll;
  private _range: [number, number] = [0, 50];
  private _rows = new Map<number, IElement>();
  private _status: Status | null = null;
  private _total: number | null = null;
}

export namespace AnalysisModel {
  export interface IOptions {
    /** The summary already known from the list, shown until the first refresh. */
    info?: IAnalysis;
    visible?: Visibility;
    interval?: number;
    pageSize?: number;
    autoStart?: boolean;
  }
}
