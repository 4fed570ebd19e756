/**
 * The log of one element, followed live: a Poll asks for the bytes after the last offset every
 * half second until the element has finished and nothing new came. It stands by while the page
 * or the log's tab is hidden.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import * as api from './api';
import { refreshPoll, Visibility } from './poll';
import { disposePoll } from './types';
import { LogStream } from './api';

export class LogModel implements IDisposable {
  constructor(options: LogModel.IOptions) {
    this.id = options.id;
    this.index = options.index;
    this.name = options.name ?? '';
    this._stream = options.stream ?? 'stdout';
    this._interval = options.interval ?? 500;
    this._autoStart = options.autoStart ?? true;
    this._visible = options.visible;
    this._poll = this._makePoll();
  }

  readonly id: string;
  readonly index: number;
  readonly name: string;

  /** New text at the end of the log. */
  get appended(): ISignal<this, string> {
    return this._appended;
  }

  /** The log was emptied (another stream was chosen). */
  get cleared(): ISignal<this, void> {
    return this._cleared;
  }

  /** Following, finished, failed: anything besides the text. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  get stream(): LogStream {
    return this._stream;
  }

  /** The attempt shown (null: the latest, followed live). */
  get attempt(): number | null {
    return this._attempt;
  }

  /** Show an earlier attempt's log (null: the latest): the text starts again. */
  setAttempt(attempt: number | null): void {
    if (attempt === this._attempt) {
      return;
    }
    this._attempt = attempt;
    this._restart();
  }

  get text(): string {
    return this._text;
  }

  /** True while new text may still come. */
  get following(): boolean {
    return !this._finished;
  }

  get error(): string | null {
    return this._error;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** The browser link that downloads the whole log of the current stream. */
  get downloadUrl(): string {
    return api.logDownloadUrl(this.id, this.index, this._stream);
  }

  /** Switch between stdout and stderr: the text starts again from the beginning. */
  setStream(stream: LogStream): void {
    if (stream === this._stream) {
      return;
    }
    this._stream = stream;
    this._restart();
  }

  private _restart(): void {
    this._text = '';
    this._offset = 0;
    this._finished = false;
    this._error = null;
    disposePoll(this._poll);
    this._cleared.emit();
    this._stateChanged.emit();
    this._autoStart = true;
    this._poll = this._makePoll();
  }

  /**
   * Catch up at once, e.g. when the log is shown again (its poll stood by while hidden).
   * Does nothing once the log is complete.
   */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  /** Ask for new text now; resolves once it has been appended. */
  async fetch(): Promise<void> {
    const stream = this._stream;
    const attempt = this._attempt;
    const chunk =
      attempt === null
        ? await api.readLog(this.id, this.index, stream, this._offset)
        : await api.readLog(this.id, this.index, stream, this._offset, attempt);
    if (
      this._isDisposed ||
      stream !== this._stream ||
      attempt !== this._attempt
    ) {
      return;
    }
    const wasFollowing = !this._finished;
    const hadError = this._error !== null;
    this._error = null;
    this._offset = chunk.next_offset;
    if (chunk.data) {
      this._text += chunk.data;
      this._appended.emit(chunk.data);
    }
    // Finished and nothing more to read: the log is complete.
    this._finished = chunk.finished && !chunk.data;
    if (this._finished) {
      disposePoll(this._poll);
    }
    if (wasFollowing !== !this._finished || hadError) {
      this._stateChanged.emit();
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

  private _makePoll(): Poll {
    return refreshPoll({
      name: 'explorer:log',
      factory: async () => {
        try {
          await this.fetch();
        } catch (error) {
          if (!this._isDisposed) {
            this._error = (error as Error).message;
            this._stateChanged.emit();
          }
          throw error;
        }
      },
      interval: this._interval,
      max: 15 * 1000,
      visible: this._visible,
      auto: this._autoStart
    });
  }

  private _appended = new Signal<this, string>(this);
  private _attempt: number | null = null;
  private _autoStart: boolean;
  private _cleared = new Signal<this, void>(this);
  private _error: string | null = null;
  private _finished = false;
  private _interval: number;
  private _isDisposed = false;
  private _offset = 0;
  private _poll: Poll;
  private _stateChanged = new Signal<this, void>(this);
  private _stream: LogStream;
  private _text = '';
  private _visible: Visibility | undefined;
}

export namespace LogModel {
  export interface IOptions {
    id: string;
    index: number;
    /** The analysis name, for the tab title. */
    name?: string;
    stream?: LogStream;
    /** Poll interval in ms while following (default 500). */
    interval?: number;
    autoStart?: boolean;
    /** Whether the log's tab is visible; the poll stands by while it is not. */
    visible?: Visibility;
  }
}
