/**
 * The array at a glance for one analysis: statuses (the heatmap), usage (histograms, cost)
 * and the failure digest, refreshed with one Poll while the analysis runs and read once more
 * when it has finished (then the server answers from the analysis's record).
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { refreshPoll, Visibility } from '../poll';
import { disposePoll } from '../types';
import { errorText } from '../format';
import * as oapi from './api';
import { IFailures, IStatuses, IUsage } from './api';
import { displayStatuses } from './heatmap';

export class ObserveModel implements IDisposable {
  constructor(id: string, options: ObserveModel.IOptions = {}) {
    this.id = id;
    this._poll = refreshPoll({
      name: 'explorer:observe',
      factory: () => this.refresh(),
      interval: options.interval ?? 3000,
      max: 30 * 1000,
      visible: options.visible,
      auto: options.autoStart ?? true
    });
  }

  readonly id: string;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get statuses(): IStatuses | null {
    return this._statuses;
  }

  /** One display status per element (CANCELLED apart from FAILED). */
  get display(): string[] {
    return this._display;
  }

  get usage(): IUsage | null {
    return this._usage;
  }

  get failures(): IFailures | null {
    return this._failures;
  }

  get error(): string | null {
    return this._error;
  }

  get finished(): boolean {
    return this._finished;
  }

  get poll(): Poll {
    return this._poll;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  async refresh(): Promise<void> {
    try {
      const [statuses, usage, failures] = await Promise.all([
        oapi.getStatuses(this.id),
        oapi.getUsage(this.id),
        oapi.getFailures(this.id)
      ]);
      if (this._isDisposed) {
        return;
      }
      this._statuses = statuses;
      this._display = displayStatuses(statuses.letters, statuses.cancelled);
      this._usage = usage;
      this._failures = failures;
      this._error = null;
      this._finished = failures.finished;
      if (this._finished) {
        disposePoll(this._poll); // nothing changes any more
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

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    disposePoll(this._poll);
    Signal.clearData(this);
  }

  private _changed = new Signal<this, void>(this);
  private _display: string[] = [];
  private _error: string | null = null;
  private _failures: IFailures | null = null;
  private _finished = false;
  private _isDisposed = false;
  private _poll: Poll;
  private _statuses: IStatuses | null = null;
  private _usage: IUsage | null = null;
}

export namespace ObserveModel {
  export interface IOptions {
    interval?: number;
    autoStart?: boolean;
    visible?: Visibility;
  }
}
