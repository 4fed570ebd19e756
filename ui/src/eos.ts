/**
 * Model of the Files section: one EOS folder (paged), the actions on its entries, and the
 * uploads dropped onto it.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import * as api from './api';
import { disposePoll } from './types';
import { APIError, IEntry, INotice } from './api';
import {
  asFolder,
  checkName,
  child,
  errorText,
  namespaceRoot,
  parent
} from './format';
import { refreshPoll } from './poll';

export const HOME = 'e://users/me/';

/** A file to upload and where it goes below the drop target (`a/b.txt` for a dropped folder). */
export interface IFileToUpload {
  file: Blob & { name: string };
  relativePath: string;
}

export type UploadState =
  'queued' | 'uploading' | 'done' | 'failed' | 'cancelled';

/** One upload as the list shows it. */
export interface IUploadItem {
  readonly key: number;
  readonly name: string;
  readonly uri: string;
  readonly total: number;
  loaded: number;
  state: UploadState;
  error: string | null;
}

export type { INotice } from './types';

/** The message shown when something is dropped where the user may not write. */
export function readOnlyMessage(folder: string): string {
  return (
    `${namespaceRoot(folder)} is read-only for you: nothing was uploaded. ` +
    `Drop files into e://users/me/ (your files) or e://org/ instead.`
  );
}

export class EosModel implements IDisposable {
  constructor(options: EosModel.IOptions = {}) {
    this._uri = asFolder(options.uri ?? HOME);
    this._pageSize = options.pageSize ?? 200;
    this._parallel = options.parallelUploads ?? 2;
    this._poll = refreshPoll({
      name: 'explorer:eos',
      factory: () => this._pollOnce(),
      interval: options.interval ?? 10 * 1000,
      max: 60 * 1000,
      visible: options.visible,
      auto: options.autoStart ?? true
    });
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The folder shown, always ending in `/`. */
  get uri(): string {
    return this._uri;
  }

  get entries(): readonly IEntry[] {
    return this._entries;
  }

  /** Whether the user may write in the folder shown. */
  get writable(): boolean {
    return this._writable;
  }

  get hasMore(): boolean {
    return this._nextToken !== null;
  }

  get loading(): boolean {
    return this._loading;
  }

  get error(): string | null {
    return this._error;
  }

  /** A message for the user (an upload refused, an action that failed), until dismissed. */
  get notice(): INotice | null {
    return this._notice;
  }

  get uploads(): readonly IUploadItem[] {
    return this._uploads;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  get poll(): Poll {
    return this._poll;
  }

  /** The entry the context menu acts on. */
  selected: IEntry | null = null;

  /** Open a folder (dismissing the notice about the folder left). */
  async cd(uri: string): Promise<void> {
    this._uri = asFolder(uri);
    this._entries = [];
    this._nextToken = null;
    this.selected = null;
    this._error = null;
    // A notice is about the folder it was shown in: leaving the folder dismisses it.
    this._notice = null;
    this._changed.emit();
    await this.refresh();
  }

  up(): Promise<void> {
    return this.cd(parent(this._uri));
  }

  /** List the folder again from its first page. */
  async refresh(): Promise<void> {
    const uri = this._uri;
    const ticket = ++this._ticket;
    this._loading = true;
    this._changed.emit();
    try {
      const listing = await api.listFolder(uri, null, this._pageSize);
      if (ticket !== this._ticket || this._isDisposed) {
        return;
      }
      this._entries = listing.entries;
      this._writable = listing.writable;
      this._nextToken = listing.next_token;
      this._error = null;
    } catch (error) {
      if (ticket !== this._ticket || this._isDisposed) {
        return;
      }
      this._entries = [];
      this._nextToken = null;
      this._error = errorText(error);
    } finally {
      if (ticket === this._ticket && !this._isDisposed) {
        this._loading = false;
        this._changed.emit();
      }
    }
  }

  /** Append the next page of a large folder. */
  async loadMore(): Promise<void> {
    if (this._nextToken === null) {
      return;
    }
    const uri = this._uri;
    const ticket = ++this._ticket;
    this._loading = true;
    this._changed.emit();
    try {
      const listing = await api.listFolder(
        uri,
        this._nextToken,
        this._pageSize
      );
      if (ticket !== this._ticket || this._isDisposed) {
        return;
      }
      this._entries = this._entries.concat(listing.entries);
      this._nextToken = listing.next_token;
    } catch (error) {
      this.setNotice({ kind: 'error', text: errorText(error) });
    } finally {
      if (ticket === this._ticket && !this._isDisposed) {
        this._loading = false;
        this._changed.emit();
      }
    }
  }

  setNotice(notice: INotice | null): void {
    this._notice = notice;
    this._changed.emit();
  }

  /** Create `name` in the folder shown. */
  async newFolder(name: string): Promise<IEntry | null> {
    const problem = checkName(name);
    if (problem) {
      this.setNotice({ kind: 'error', text: problem });
      return null;
    }
    return this._act(() => api.makeFolder(child(this._uri, name.trim()) + '/'));
  }

  /** Rename an entry within its folder. */
  async rename(entry: IEntry, name: string): Promise<IEntry | null> {
    const problem = checkName(name);
    if (problem) {
      this.setNotice({ kind: 'error', text: problem });
      return null;
    }
    let dst = child(parent(entry.uri), name.trim());
    if (entry.type === 'folder') {
      dst += '/';
    }
    if (dst === entry.uri) {
      return entry;
    }
    return this._act(() => api.copy(entry.uri, dst, true));
  }

  /** Delete a file, or a folder with everything in it. */
  async remove(entry: IEntry): Promise<number | null> {
    return this._act(() => api.remove(entry.uri, entry.type === 'folder'));
  }

  /** A presigned https URL of a file (S3 storage only; the server explains otherwise). */
  async presign(entry: IEntry): Promise<string | null> {
    try {
      return await api.presign(entry.uri);
    } catch (error) {
      this.setNotice({ kind: 'error', text: errorText(error) });
      return null;
    }
  }

  /**
   * Upload files into `folder` (the folder shown unless a folder row was the drop target),
   * a few at a time, each with its own progress. Refused at once, with a message saying why,
   * when the folder is read-only for the user.
   */
  upload(files: IFileToUpload[], folder: string = this._uri): IUploadItem[] {
    folder = asFolder(folder);
    if (files.length === 0) {
      return [];
    }
    // Writing is decided per namespace, so the listing's flag holds for its sub-folders too.
    const sameNamespace = namespaceRoot(folder) === namespaceRoot(this._uri);
    if (sameNamespace && !this._writable) {
      this.setNotice({ kind: 'error', text: readOnlyMessage(folder) });
      return [];
    }
    const items = files.map(f => {
      const item: IUploadItem = {
        key: ++this._uploadKey,
        name: f.relativePath || f.file.name,
        uri: child(folder, f.relativePath || f.file.name),
        total: f.file.size,
        loaded: 0,
        state: 'queued',
        error: null
      };
      this._queue.push({ item, file: f.file });
      return item;
    });
    this._uploads = this._uploads.concat(items);
    this._notice = null;
    this._changed.emit();
    this._pump();
    return items;
  }

  /** Stop an upload (queued or under way). */
  cancelUpload(item: IUploadItem): void {
    if (item.state === 'queued') {
      this._queue = this._queue.filter(q => q.item !== item);
      item.state = 'cancelled';
      this._changed.emit();
    } else if (item.state === 'uploading') {
      this._running.get(item.key)?.abort();
    }
  }

  /** Forget finished, failed and cancelled uploads. */
  clearUploads(): void {
    this._uploads = this._uploads.filter(
      u => u.state === 'queued' || u.state === 'uploading'
    );
    this._changed.emit();
  }

  /** Resolves when no upload is queued or running (tests, and the refresh after a drop). */
  get uploadsSettled(): Promise<void> {
    return this._settled ?? Promise.resolve();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._queue = [];
    this._running.forEach(r => r.abort());
    disposePoll(this._poll);
    Signal.clearData(this);
  }

  private async _pollOnce(): Promise<void> {
    // Re-list quietly only while the whole folder fits one page (paging state stays put).
    if (this._nextToken === null && !this._loading) {
      await this.refresh();
    }
  }

  private async _act<T>(action: () => Promise<T>): Promise<T | null> {
    try {
      const result = await action();
      this._notice = null;
      await this.refresh();
      return result;
    } catch (error) {
      this.setNotice({ kind: 'error', text: errorText(error) });
      return null;
    }
  }

  private _pump(): void {
    if (!this._settled) {
      this._settled = new Promise<void>(resolve => {
        this._resolveSettled = resolve;
      });
    }
    while (this._running.size < this._parallel && this._queue.length > 0) {
      const { item, file } = this._queue.shift()!;
      item.state = 'uploading';
      const handle = api.uploadFile(item.uri, file, loaded => {
        item.loaded = loaded;
        this._changed.emit();
      });
      this._running.set(item.key, handle);
      this._changed.emit();
      handle.done
        .then(
          () => {
            item.state = 'done';
            item.loaded = item.total;
          },
          (error: unknown) => {
            const cancelled = error instanceof APIError && error.cancelled;
            item.state = cancelled ? 'cancelled' : 'failed';
            item.error = cancelled ? null : errorText(error);
            if (
              !cancelled &&
              error instanceof APIError &&
              error.status === 403
            ) {
              this._notice = { kind: 'error', text: item.error! };
            }
          }
        )
        .finally(() => {
          this._running.delete(item.key);
          if (this._isDisposed) {
            return;
          }
          this._changed.emit();
          this._pump();
        });
    }
    if (this._running.size === 0 && this._queue.length === 0 && this._settled) {
      const resolve = this._resolveSettled;
      this._settled = null;
      this._resolveSettled = null;
      void this.refresh().finally(() => resolve?.());
    }
  }

  private _changed = new Signal<this, void>(this);
  private _entries: IEntry[] = [];
  private _error: string | null = null;
  private _isDisposed = false;
  private _loading = false;
  private _nextToken: string | null = null;
  private _notice: INotice | null = null;
  private _pageSize: number;
  private _parallel: number;
  private _poll: Poll;
  private _queue: { item: IUploadItem; file: Blob }[] = [];
  private _resolveSettled: (() => void) | null = null;
  private _running = new Map<number, api.IUpload>();
  private _settled: Promise<void> | null = null;
  private _ticket = 0;
  private _uploadKey = 0;
  private _uploads: IUploadItem[] = [];
  private _uri: string;
  private _writable = false;
}

export namespace EosModel {
  export interface IOptions {
    uri?: string;
    visible?: () => boolean;
    /** Re-list interval in ms (default 10 s). */
    interval?: number;
    pageSize?: number;
    parallelUploads?: number;
    autoStart?: boolean;
  }
}
