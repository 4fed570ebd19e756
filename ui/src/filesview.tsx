/**
 * The Files section: an EOS folder with breadcrumbs and quick switches, paging, drag-and-drop
 * upload (files and folders from the desktop) with a progress bar per file.
 */
import { ReactWidget } from '@jupyterlab/apputils';
import { fileIcon, folderIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import React, { useRef, useState } from 'react';

import { IEntry } from './api';
import { Notice, useSignal } from './components';
import { EosModel, IFileToUpload, IUploadItem } from './eos';
import {
  ROOTS,
  breadcrumbs,
  bytes,
  date,
  namespaceRoot,
  shortDate
} from './format';

/** What the Files section asks of the application. */
export interface IFilesActions {
  /** Open a file (in JupyterLab's editor or a viewer). */
  open(entry: IEntry): void;
  /** Show a pasted e:// URI: its folder, and open it if it is a file. */
  openUri(uri: string): void;
}

// ---- reading what was dropped ---------------------------------------------------------------

interface IFsEntry {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  file?(ok: (file: File) => void, fail: (error: unknown) => void): void;
  createReader?(): {
    readEntries(
      ok: (entries: IFsEntry[]) => void,
      fail: (error: unknown) => void
    ): void;
  };
}

async function walk(
  entry: IFsEntry,
  prefix: string,
  out: IFileToUpload[]
): Promise<void> {
  const path = prefix + entry.name;
  if (entry.isFile && entry.file) {
    const file = await new Promise<File>((ok, fail) => entry.file!(ok, fail));
    out.push({ file, relativePath: path });
  } else if (entry.isDirectory && entry.createReader) {
    const reader = entry.createReader();
    // readEntries answers in batches until it answers an empty one.
    for (;;) {
      const batch = await new Promise<IFsEntry[]>((ok, fail) =>
        reader.readEntries(ok, fail)
      );
      if (batch.length === 0) {
        break;
      }
      for (const sub of batch) {
        await walk(sub, path + '/', out);
      }
    }
  }
}

/**
 * The files of a drop, folders walked recursively (`dir/sub/a.txt`). The entries must be taken
 * from the DataTransfer before the drop handler returns, so this is called synchronously.
 */
export function collectDropped(data: DataTransfer): Promise<IFileToUpload[]> {
  const out: IFileToUpload[] = [];
  const pending: Promise<void>[] = [];
  const items = Array.from(data.items ?? []).filter(i => i.kind === 'file');
  if (items.length === 0) {
    for (const file of Array.from(data.files ?? [])) {
      out.push({ file, relativePath: file.name });
    }
    return Promise.resolve(out);
  }
  for (const item of items) {
    const entry = (
      item as DataTransferItem & { webkitGetAsEntry?: () => IFsEntry | null }
    ).webkitGetAsEntry?.();
    if (entry && entry.isDirectory) {
      pending.push(walk(entry, '', out));
    } else {
      const file = item.getAsFile();
      if (file) {
        out.push({ file, relativePath: file.name });
      }
    }
  }
  return Promise.all(pending).then(() => out);
}

function hasFiles(event: React.DragEvent): boolean {
  return Array.from(event.dataTransfer?.types ?? []).includes('Files');
}

// ---- the component --------------------------------------------------------------------------

function UploadRow(props: { item: IUploadItem; model: EosModel }): JSX.Element {
  const { item, model } = props;
  const percent =
    item.total > 0 ? Math.floor((100 * item.loaded) / item.total) : 100;
  return (
    <li
      className="jp-Explorer-upload"
      data-state={item.state}
      data-name={item.name}
      title={item.uri}
    >
      <div className="jp-Explorer-upload-head">
        <span className="jp-Explorer-upload-name">{item.name}</span>
        <span className="jp-Explorer-upload-state">
          {item.state === 'uploading'
            ? `${percent}% of ${bytes(item.total)}`
            : item.state === 'failed'
              ? 'failed'
              : item.state}
        </span>
        {(item.state === 'uploading' || item.state === 'queued') && (
          <button
            className="jp-Explorer-icon-button jp-Explorer-upload-cancel"
            title={`Cancel the upload of ${item.name}`}
            onClick={() => model.cancelUpload(item)}
          >
            ✕
          </button>
        )}
      </div>
      <div className="jp-Explorer-upload-bar">
        <div style={{ width: `${item.state === 'done' ? 100 : percent}%` }} />
      </div>
      {item.error && <div className="jp-Explorer-error">{item.error}</div>}
    </li>
  );
}

function EntryRow(props: {
  entry: IEntry;
  view: FilesView;
  dropTarget: string | null;
  setDropTarget: (uri: string | null) => void;
}): JSX.Element {
  const { entry, view, dropTarget, setDropTarget } = props;
  const model = view.model;
  const folder = entry.type === 'folder';
  const Icon = folder ? folderIcon : fileIcon;
  const selected = model.selected?.uri === entry.uri;
  const dropHere = folder && dropTarget === entry.uri;
  return (
    <li
      className={
        'jp-Explorer-fileRow' +
        (selected ? ' jp-mod-selected' : '') +
        (dropHere ? ' jp-mod-dropTarget' : '')
      }
      data-uri={entry.uri}
      data-name={entry.name}
      data-type={entry.type}
      title={`${entry.uri}${folder ? '' : '\n' + bytes(entry.size)}\n${date(entry.mtime)}`}
      onClick={() => view.select(entry)}
      onContextMenu={() => view.select(entry)}
      onDoubleClick={() =>
        folder ? void model.cd(entry.uri) : view.actions.open(entry)
      }
      onDragOver={
        folder
          ? event => {
              if (hasFiles(event)) {
                event.preventDefault();
                event.stopPropagation();
                event.dataTransfer.dropEffect = 'copy';
                setDropTarget(entry.uri);
              }
            }
          : undefined
      }
      onDrop={
        folder
          ? event => {
              event.preventDefault();
              event.stopPropagation();
              setDropTarget(null);
              view.drop(event.dataTransfer, entry.uri);
            }
          : undefined
      }
    >
      <Icon.react tag="span" className="jp-Explorer-fileIcon" />
      <span className="jp-Explorer-fileName">{entry.name}</span>
      <span className="jp-Explorer-fileSize">
        {folder ? '' : bytes(entry.size)}
      </span>
      <span className="jp-Explorer-fileDate" title={date(entry.mtime)}>
        {shortDate(entry.mtime)}
      </span>
    </li>
  );
}

function FilesComponent(props: { view: FilesView }): JSX.Element {
  const { view } = props;
  const model = view.model;
  useSignal(model.changed);
  const [dropTarget, setDropTarget] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  view.fileInput = input;
  const root = namespaceRoot(model.uri);
  return (
    <div
      className={'jp-Explorer-files' + (dropTarget ? ' jp-mod-dropping' : '')}
      data-uri={model.uri}
      data-writable={String(model.writable)}
      onDragEnter={event => {
        if (hasFiles(event)) {
          event.preventDefault();
        }
      }}
      onDragOver={event => {
        if (hasFiles(event)) {
          event.preventDefault();
          // 'copy' even when read-only: the drop must happen so that the refusal is explained.
          event.dataTransfer.dropEffect = 'copy';
          if (dropTarget !== model.uri) {
            setDropTarget(model.uri);
          }
        }
      }}
      onDragLeave={event => {
        if (!event.currentTarget.contains(event.relatedTarget as Node | null)) {
          setDropTarget(null);
        }
      }}
      onDrop={event => {
        event.preventDefault();
        setDropTarget(null);
        view.drop(event.dataTransfer, model.uri);
      }}
    >
      <div className="jp-Explorer-roots">
        {ROOTS.map(r => (
          <button
            key={r.uri}
            className={
              'jp-Explorer-root' + (root === r.uri ? ' jp-mod-active' : '')
            }
            data-uri={r.uri}
            title={r.uri}
            onClick={() => void model.cd(r.uri)}
          >
            {r.label}
          </button>
        ))}
      </div>
      <form
        className="jp-Explorer-goto"
        onSubmit={event => {
          event.preventDefault();
          const field = event.currentTarget.elements.namedItem(
            'uri'
          ) as HTMLInputElement;
          if (field.value.trim()) {
            view.actions.openUri(field.value);
            field.value = '';
          }
        }}
      >
        <input
          name="uri"
          className="jp-Explorer-input jp-Explorer-goto-input"
          type="text"
          placeholder="Go to e://…"
          title="Paste an e:// URI someone shared (a folder or a file) and press Enter"
          spellCheck={false}
          autoComplete="off"
        />
      </form>
      <div className="jp-Explorer-crumbs">
        {breadcrumbs(model.uri).map((c, i, all) => (
          <React.Fragment key={c.uri}>
            {i > 0 && <span className="jp-Explorer-crumb-sep">/</span>}
            <button
              className="jp-Explorer-link jp-Explorer-crumb"
              data-uri={c.uri}
              disabled={i === all.length - 1}
              onClick={() => void model.cd(c.uri)}
            >
              {c.label}
            </button>
          </React.Fragment>
        ))}
        {!model.writable && !model.error && (
          <span
            className="jp-Explorer-readonly"
            title="You can read here but not write"
          >
            read-only
          </span>
        )}
      </div>
      <Notice notice={model.notice} onDismiss={() => model.setNotice(null)} />
      {model.error && <div className="jp-Explorer-error">{model.error}</div>}
      <div className="jp-Explorer-fileHeader">
        <span className="jp-Explorer-fileName">Name</span>
        <span className="jp-Explorer-fileSize">Size</span>
        <span className="jp-Explorer-fileDate">Modified</span>
      </div>
      <ul className="jp-Explorer-fileList">
        {model.entries.map(e => (
          <EntryRow
            key={e.uri}
            entry={e}
            view={view}
            dropTarget={dropTarget}
            setDropTarget={setDropTarget}
          />
        ))}
        {!model.loading && !model.error && model.entries.length === 0 && (
          <li className="jp-Explorer-empty">
            {model.writable
              ? 'Empty folder. Drop files here from your desktop to upload them.'
              : 'Empty folder.'}
          </li>
        )}
        {model.hasMore && (
          <li>
            <button
              className="jp-Explorer-button jp-Explorer-more"
              disabled={model.loading}
              onClick={() => void model.loadMore()}
            >
              Show more
            </button>
          </li>
        )}
      </ul>
      {model.uploads.length > 0 && (
        <div className="jp-Explorer-uploads">
          <div className="jp-Explorer-uploads-head">
            <span>Uploads</span>
            <button
              className="jp-Explorer-link"
              onClick={() => model.clearUploads()}
            >
              Clear finished
            </button>
          </div>
          <ul>
            {model.uploads.map(u => (
              <UploadRow key={u.key} item={u} model={model} />
            ))}
          </ul>
        </div>
      )}
      <input
        ref={input}
        className="jp-Explorer-fileInput"
        type="file"
        multiple
        style={{ display: 'none' }}
        onChange={event => {
          const files = Array.from(event.currentTarget.files ?? []);
          model.upload(files.map(file => ({ file, relativePath: file.name })));
          event.currentTarget.value = '';
        }}
      />
    </div>
  );
}

/** The Files section's content. */
export class FilesView extends ReactWidget {
  constructor(model: EosModel, actions: IFilesActions) {
    super();
    this.model = model;
    this.actions = actions;
    this.addClass('jp-Explorer-filesView');
  }

  readonly model: EosModel;
  readonly actions: IFilesActions;
  fileInput: React.RefObject<HTMLInputElement> | null = null;

  /** Let the user pick files to upload into the folder shown. */
  chooseFiles(): void {
    this.fileInput?.current?.click();
  }

  select(entry: IEntry | null): void {
    this.model.selected = entry;
    this.update();
  }

  /** Upload what was dropped onto the folder `target`. */
  drop(data: DataTransfer, target: string): void {
    void collectDropped(data).then(files => this.model.upload(files, target));
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.model.poll.refresh();
  }

  render(): JSX.Element {
    return <FilesComponent view={this} />;
  }
}
