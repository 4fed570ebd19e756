/**
 * EOS as a JupyterLab contents drive, so that JupyterLab's own editor opens e:// text files:
 * the path `EOS:users/me/notes.txt` is `e://users/me/notes.txt`. Files that the user may not
 * write come back with `writable: false`, which JupyterLab shows as read-only and never saves.
 * The drive speaks drive-local paths (`users/me/a.txt`); the contents manager adds `EOS:`.
 */
import { Contents, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import * as api from './api';
import { IEntry } from './api';
import { SCHEME } from './format';

export const DRIVE_NAME = 'EOS';

/** `users/me/a.txt` (a drive-local path) -> `e://users/me/a.txt`. */
export function toUri(localPath: string, folder = false): string {
  const uri = SCHEME + localPath.replace(/^\/+/, '');
  return folder && !uri.endsWith('/') ? uri + '/' : uri;
}

/** `e://users/me/a.txt` -> `EOS:users/me/a.txt`, the path the document manager opens. */
export function toDrivePath(uri: string): string {
  return `${DRIVE_NAME}:${uri.slice(SCHEME.length).replace(/\/+$/, '')}`;
}

function iso(seconds: number | null | undefined): string {
  return new Date((seconds ?? 0) * 1000).toISOString();
}

function toModel(
  localPath: string,
  entry: IEntry,
  writable: boolean,
  content: string | null
): Contents.IModel {
  const path = localPath.replace(/^\/+|\/+$/g, '');
  return {
    name: entry.name,
    path,
    type: entry.type === 'folder' ? 'directory' : 'file',
    writable,
    created: iso(entry.mtime),
    last_modified: iso(entry.mtime),
    mimetype: entry.type === 'folder' ? '' : 'text/plain',
    content,
    format: content === null ? null : entry.type === 'folder' ? 'json' : 'text',
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

  async get(
    localPath: string,
    options?: Contents.IFetchOptions
  ): Promise<Contents.IModel> {
    const uri = toUri(localPath);
    const entry = await api.stat(uri);
    const writable = entry.writable ?? false;
    if (entry.type === 'folder') {
      let content: Contents.IModel[] | null = null;
      if (options?.content) {
        const listing = await api.listFolder(toUri(localPath, true));
        content = listing.entries.map(e =>
          toModel(e.uri.slice(SCHEME.length), e, listing.writable, null)
        );
      }
      return { ...toModel(localPath, entry, writable, null), content };
    }
    const text = options?.content ? await api.readText(uri) : null;
    return toModel(localPath, entry, writable, text);
  }

  async getDownloadUrl(localPath: string): Promise<string> {
    return api.contentUrl(toUri(localPath));
  }

  async save(
    localPath: string,
    options: Partial<Contents.IModel> = {}
  ): Promise<Contents.IModel> {
    const uri = toUri(localPath);
    let text: string;
    if (typeof options.content === 'string') {
      text =
        options.format === 'base64' ? atob(options.content) : options.content;
    } else {
      text = JSON.stringify(options.content ?? '', null, 1);
    }
    const entry = await api.writeText(uri, text);
    const model = toModel(localPath, entry, true, null);
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
    const model = toModel(newPath, entry, true, null);
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
}
