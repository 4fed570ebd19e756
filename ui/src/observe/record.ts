/**
 * The element record behind a log tab, followed until the element has finished; a failed
 * element whose stdout is empty switches its log to stderr, where its error is.
 */
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { IElement, TERMINAL } from '../api';
import { LogModel } from '../log';
import { refreshPoll } from '../poll';
import { disposePoll } from '../types';
import * as oapi from './api';

/** The element record behind a log tab, followed until the element has finished. */
export class ElementRecordModel {
  constructor(
    log: LogModel,
    options: { interval?: number; autoStart?: boolean } = {}
  ) {
    this.log = log;
    this._poll = refreshPoll({
      name: 'explorer:element',
      factory: () => this.refresh(),
      interval: options.interval ?? 2000,
      max: 30 * 1000,
      auto: options.autoStart ?? true
    });
    log.stateChanged.connect(this._maybeStderr, this);
  }

  readonly log: LogModel;

  get element(): IElement | null {
    return this._element;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  async refresh(): Promise<void> {
    const element = await oapi.getElement(this.log.id, this.log.index);
    if (this._disposed) {
      return;
    }
    this._element = element;
    if (TERMINAL.has(element.status)) {
      disposePoll(this._poll);
    }
    this._changed.emit();
    this._maybeStderr();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    disposePoll(this._poll);
    this.log.stateChanged.disconnect(this._maybeStderr, this);
    Signal.clearData(this);
  }

  /** Once: FAILED, and stdout read to its end with nothing in it -> show stderr. */
  private _maybeStderr(): void {
    const log = this.log;
    if (
      this._switched ||
      this._element?.status !== 'FAILED' ||
      log.stream !== 'stdout' ||
      log.following ||
      log.text !== ''
    ) {
      return;
    }
    this._switched = true;
    log.setStream('stderr');
  }

  private _changed = new Signal<this, void>(this);
  private _disposed = false;
  private _element: IElement | null = null;
  private _poll: Poll;
  private _switched = false;
}
