/**
 * EOS as a JupyterLab contents drive, so that JupyterLab's own editor and viewers open e://
 * files: the path `EOS:users/me/notes.txt` is `e://users/me/notes.txt`. The drive speaks
 * drive-local paths (`users/me/a.txt`); the contents manager adds `EOS:`.
 *
 * Opening never makes a lossy round trip:
 * - text (what the editor and the CSV viewer ask for) is handed out only when the file is
 *   UTF-8 without NUL bytes and at most MAX_TEXT_BYTES; anything else is refused with a
 *   message that says to download it, so a binary never becomes editable garbage;
 * - base64 (images, PDF) is the exact bytes, and saving writes those bytes back;
 * - a file whose content cannot be written back byte for byte (a notebook re-serialized as
 *   JSON) comes back `writable: false`, like a file the user may not write, and this drive
 *   refuses to save any path it handed out read-only.
 */
import { Contents, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import * as api from './api';
import { IEntry } from './api';
import { SCHEME, bytes } from './format';

export const DRIVE_NAME = 'EOS';

/** Largest file opened as text (the editor, the CSV viewer). */
export const MAX_TEXT_BYTES = 10 * 1024 * 1024;
/** Largest file opened in a viewer as bytes (images, PDF). */
export const MAX_VIEW_BYTES = 50 * 1024 * 1024;

/** `users/me/a.txt` (a drive-local path) -> `e://users/me/a.txt`. */
export function toUri(localPath: string, folder = false): string {
  const uri = SCHEME + localPath.replace(/^\/+/, '');
  return folder && !uri.endsWith('/') ? uri + '/' : uri;
}

/** `e://users/me/a.txt` -> `EOS:users/me/a.txt`, the path the document manager opens. */
export function toDrivePath(uri: string): string {
  return `${DRIVE_NAME}:${uri.slice(SCHEME.length).replace(/\/+$/, '')}`;
}

/** How to get a file that JupyterLab cannot open unchanged. */
const DOWNLOAD_IT =
  'Download it instead (Explorer sidebar: right-click the file > Download).';

/** A file the drive will not hand to JupyterLab, and why (the message says what to do). */
export class NotOpenable extends Error {
  constructor(
    readonly uri: string,
    readonly why: 'binary' | 'too-large',
    /** The reason alone, without the advice to download it. */
    readonly reason: string
  ) {
    super(`${reason} ${DOWNLOAD_IT}`);
    this.name = 'NotOpenable';
  }
}

/** The text of UTF-8 bytes, or null when they are not text (invalid UTF-8, NUL bytes). */
export function decodeText(data: ArrayBuffer | Uint8Array): string | null {
  const view = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (view.includes(0)) {
    return null;
  }
  try {
    // ignoreBOM keeps a byte-order mark in the text, so that saving writes it back.
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(
      view
    );
  } catch {
    return null;
  }
}

/** Why `entry` cannot be opened as `format` given its size, or null when it can. */
export function sizeProblem(
  entry: IEntry,
  format: 'text' | 'base64'
): NotOpenable | null {
  const limit = format === 'base64' ? MAX_VIEW_BYTES : MAX_TEXT_BYTES;
  if ((entry.size ?? 0) <= limit) {
    return null;
  }
  return new NotOpenable(
    entry.uri,
    'too-large',
    `${entry.uri} is ${bytes(entry.size)}: too large to open in JupyterLab ` +
      `(at most ${bytes(limit)}).`
  );
}

export function binaryProblem(uri: string): NotOpenable {
  return new NotOpenable(
    uri,
    'binary',
    `${uri} is not a text file (it is not UTF-8 text), so the editor would change it ` +
      'on saving.'
  );
}

const VIEW_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
  ico: 'image/x-icon',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  svg: 'image/svg+xml',
  pdf: 'application/pdf'
};

/** The MIME type a viewer shows a file as (from its extension). */
export function mimeType(name: string, format: string | null): string {
  const ext = name.split('.').pop()?.toLowerCase() ?? '';
  if (format === 'base64') {
    return VIEW_TYPES[ext] ?? 'application/octet-stream';
  }
  if (format === 'json') {
    return 'application/json';
  }
  return 'text/plain';
}

function toBase64(data: ArrayBuffer): string {
  const view = new Uint8Array(data);
  const parts: string[] = [];
  const step = 0x8000;
  for (let i = 0; i < view.length; i += step) {
    parts.push(String.fromCharCode(...view.subarray(i, i + step)));
  }
  return btoa(parts.join(''));
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const raw = atob(text.replace(/\s+/g, ''));
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) {
    out[i] = raw.charCodeAt(i);
  }
  return out;
}

function iso(seconds: number | null | undefined): string {
  return new Date((seconds ?? 0) * 1000).toISOString();
}

function toModel(
  localPath: string,
  entry: IEntry,
  writable: boolean,
  content: unknown,
  format: Contents.FileFormat
): Contents.IModel {
  const path = localPath.replace(/^\/+|\/+$/g, '');
  const folder = entry.type === 'folder';
  return {
    name: entry.name,
    path,
    type: folder ? 'directory' : 'file',
    writable,
    created: iso(entry.mtime),
    last_modified: iso(entry.mtime),
    mimetype: folder ? '' : mimeType(entry.name, format),
    content,
    format,
    size: entry.size ?? undefined
  };
}

function unsupported(what: string): Promise<never> {
  return Promise.reject(
    new Error(`${what} is not available on EOS: use the Explorer sidebar.`)
  );
}

export class EosDrive implements Contents.IDrive {
  readonly name = DRIVE_NAME;

  get serverSettings(): ServerConnection.ISettings {
    return api.serverSettings();
  }

  get fileChanged(): ISignal<this, Contents.IChangedArgs> {
    return this._fileChanged;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    this._isDisposed = true;
    Signal.clearData(this);
  }

  /**
   * Keep bytes just read (by the sidebar, to check that a file is text) for the `get` that
   * follows within a few seconds, so the file is not downloaded twice.
   */
  prime(uri: string, data: ArrayBuffer): void {
    this._primed = { uri, data, until: Date.now() + 5000 };
  }

  /** Whether this drive handed `localPath` out read-only (and so will not save it). */
  isReadOnly(localPath: string): boolean {
    return this._readOnly.has(toUri(localPath));
  }

  async get(
    localPath: string,
    options?: Contents.IFetchOptions
  ): Promise<Contents.IModel> {
    const uri = toUri(localPath);
    const entry = await api.stat(uri);
    let writable = entry.writable ?? false;
    if (entry.type === 'folder') {
      let content: Contents.IModel[] | null = null;
      if (options?.content) {
        const listing = await api.listFolder(toUri(localPath, true));
        content = listing.entries.map(e =>
          toModel(e.uri.slice(SCHEME.length), e, listing.writable, null, null)
        );
      }
      return toModel(localPath, entry, writable, content, content && 'json');
    }
    if (!options?.content) {
      return toModel(localPath, entry, writable, null, null);
    }
    const format: Contents.FileFormat =
      options.format ?? (options.type === 'notebook' ? 'json' : 'text');
    const problem = sizeProblem(entry, format === 'base64' ? 'base64' : 'text');
    if (problem) {
      throw problem;
    }
    const primed = this._primed;
    this._primed = null;
    const data =
      primed &&
      primed.uri === uri &&
      primed.until > Date.now() &&
      primed.data.byteLength === entry.size
        ? primed.data
        : await api.readBytes(uri);
    let content: unknown;
    if (format === 'base64') {
      content = toBase64(data);
    } else {
      const text = decodeText(data);
      if (text === null) {
        throw binaryProblem(uri);
      }
      if (format === 'json') {
        try {
          content = JSON.parse(text);
        } catch {
          throw new Error(`${uri} is not valid JSON: open it in the editor.`);
        }
        writable = false; // re-serialized JSON is not the bytes that were read
      } else {
        content = text;
      }
    }
    if (writable) {
      this._readOnly.delete(uri);
    } else {
      this._readOnly.add(uri);
    }
    return toModel(localPath, entry, writable, content, format);
  }

  async getDownloadUrl(localPath: string): Promise<string> {
    return api.contentUrl(toUri(localPath));
  }

  async save(
    localPath: string,
    options: Partial<Contents.IModel> = {}
  ): Promise<Contents.IModel> {
    const uri = toUri(localPath);
    if (this._readOnly.has(uri)) {
      throw new Error(
        `${uri} was opened read-only (you may not write there, or saving would not give ` +
          'back the same bytes): it was not saved.'
      );
    }
    let body: string | Blob;
    let format: Contents.FileFormat = 'text';
    if (typeof options.content === 'string') {
      if (options.format === 'base64') {
        body = new Blob([fromBase64(options.content)]);
        format = 'base64';
      } else {
        body = options.content;
      }
    } else {
      body = JSON.stringify(options.content ?? '', null, 1);
      format = 'json';
    }
    const entry = await api.writeFile(uri, body);
    const model = toModel(localPath, entry, true, null, format);
    this._fileChanged.emit({ type: 'save', oldValue: null, newValue: model });
    return model;
  }

  async delete(localPath: string): Promise<void> {
    await api.remove(toUri(localPath), false);
    this._fileChanged.emit({
      type: 'delete',
      oldValue: { path: localPath },
      newValue: null
    });
  }

  async rename(oldPath: string, newPath: string): Promise<Contents.IModel> {
    const entry = await api.copy(toUri(oldPath), toUri(newPath), true);
    const model = toModel(newPath, entry, true, null, null);
    this._fileChanged.emit({
      type: 'rename',
      oldValue: { path: oldPath },
      newValue: model
    });
    return model;
  }

  newUntitled(): Promise<Contents.IModel> {
    return unsupported('Creating untitled files');
  }

  copy(): Promise<Contents.IModel> {
    return unsupported('Copying from the editor');
  }

  async createCheckpoint(): Promise<Contents.ICheckpointModel> {
    return { id: 'none', last_modified: new Date().toISOString() };
  }

  async listCheckpoints(): Promise<Contents.ICheckpointModel[]> {
    return [{ id: 'none', last_modified: new Date().toISOString() }];
  }

  restoreCheckpoint(): Promise<void> {
    return unsupported('Reverting to a checkpoint');
  }

  async deleteCheckpoint(): Promise<void> {
    return;
  }

  private _fileChanged = new Signal<this, Contents.IChangedArgs>(this);
  private _isDisposed = false;
  private _primed: { uri: string; data: ArrayBuffer; until: number } | null =
    null;
  private _readOnly = new Set<string>();
}
