/**
 * The log of one element in a main-area tab: follows live while the element runs, keeps the
 * reader's scroll position unless they were at the bottom, switches stdout/stderr, downloads.
 */
import {
  MainAreaWidget,
  ReactWidget,
  ToolbarButton
} from '@jupyterlab/apputils';
import { downloadIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import React from 'react';

import { LogStream } from './api';
import { useSignal } from './components';
import { shortId } from './format';
import { explorerIcon } from './icons';
import { attemptSwitchWidget } from './attempts';
import { LogModel } from './log';
import { LogHeaderWidget } from './observe/log';

/** How close to the bottom (px) still counts as "at the bottom", i.e. following. */
const BOTTOM_SLACK = 24;

/** The text of the log, appended to as it grows. */
export class LogView extends Widget {
  constructor(model: LogModel) {
    super();
    this.model = model;
    this.addClass('jp-Explorer-log');
    this._pre = document.createElement('pre');
    this._pre.className = 'jp-Explorer-log-text';
    this.node.appendChild(this._pre);
    this._status = document.createElement('div');
    this._status.className = 'jp-Explorer-log-status';
    this.node.appendChild(this._status);
    model.appended.connect(this._onAppended, this);
    model.cleared.connect(this._onCleared, this);
    model.stateChanged.connect(this._onState, this);
    if (model.text) {
      this._pre.textContent = model.text;
    }
    this._onState();
  }

  readonly model: LogModel;

  /** A widget shown above the text (the element's record, issue 14). */
  setHeader(header: Widget): void {
    this._header = header;
    if (this.isAttached) {
      Widget.attach(header, this.node, this._pre);
    }
  }

  dispose(): void {
    this._header?.dispose();
    this.model.dispose();
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this._header && !this._header.isAttached) {
      Widget.attach(this._header, this.node, this._pre);
    }
    this._pre.scrollTop = this._pre.scrollHeight;
  }

  /** Catch up at once when the tab is shown again (its poll stood by while hidden). */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.model.refresh();
  }

  private _onAppended(_: LogModel, text: string): void {
    const node = this._pre;
    const atBottom =
      node.scrollHeight - node.scrollTop - node.clientHeight <= BOTTOM_SLACK;
    this._pre.appendChild(document.createTextNode(text));
    if (atBottom) {
      node.scrollTop = node.scrollHeight;
    }
  }

  private _onCleared(): void {
    this._pre.textContent = '';
  }

  private _onState(): void {
    const m = this.model;
    let text: string;
    if (m.error) {
      text = `Cannot read the log: ${m.error} (retrying)`;
    } else if (m.following) {
      text = `Following ${m.stream}…`;
    } else {
      text = m.text ? `End of ${m.stream}.` : `${m.stream} is empty.`;
    }
    this._status.textContent = text;
    this._status.dataset.state = m.error
      ? 'error'
      : m.following
        ? 'following'
        : 'finished';
    this.node.dataset.stream = m.stream;
  }

  private _header: Widget | null = null;
  private _pre: HTMLPreElement;
  private _status: HTMLDivElement;
}

function StreamSwitch(props: { model: LogModel }): JSX.Element {
  const { model } = props;
  useSignal(model.stateChanged);
  useSignal(model.cleared);
  const streams: LogStream[] = ['stdout', 'stderr'];
  return (
    <div className="jp-Explorer-stream-switch" role="tablist">
      {streams.map(s => (
        <button
          key={s}
          role="tab"
          aria-selected={model.stream === s}
          className={
            'jp-Explorer-stream' + (model.stream === s ? ' jp-mod-active' : '')
          }
          data-stream={s}
          onClick={() => model.setStream(s)}
        >
          {s}
        </button>
      ))}
    </div>
  );
}

/** Ask the browser to download `url` (the login cookie authenticates the request). */
export function download(url: string, filename = ''): void {
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
}

/** A main-area tab with the log of element `index` of analysis `id`. */
export function createLogWidget(
  options: LogModel.IOptions
): MainAreaWidget<LogView> {
  let content: LogView | null = null;
  const model = new LogModel({
    ...options,
    visible: () => !!content?.isVisible
  });
  content = new LogView(model);
  content.setHeader(new LogHeaderWidget(model));
  const widget = new MainAreaWidget({ content });
  widget.id = `explorer-log-${options.id}-${options.index}`;
  widget.title.label = `${options.name || shortId(options.id)} #${options.index}`;
  widget.title.caption = `Log of element ${options.index} of ${options.id}`;
  widget.title.icon = explorerIcon;
  widget.title.closable = true;
  widget.addClass('jp-Explorer-logPanel');
  widget.toolbar.addItem(
    'stream',
    ReactWidget.create(<StreamSwitch model={model} />)
  );
  widget.toolbar.addItem('attempt', attemptSwitchWidget(model));
  widget.toolbar.addItem(
    'download',
    new ToolbarButton({
      icon: downloadIcon,
      label: 'Download',
      tooltip: 'Download the whole log of this stream',
      className: 'jp-Explorer-log-download',
      onClick: () =>
        download(
          model.downloadUrl,
          `${options.id}-${options.index}.${model.stream}.txt`
        )
    })
  );
  return widget;
}
