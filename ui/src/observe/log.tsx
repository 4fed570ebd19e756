/**
 * A log tab's header (label, status, exit code, started, duration, peak memory, reason) and
 * its first stream: a failed element whose stdout is empty opens on stderr, where its error is.
 */
import { ReactWidget } from '@jupyterlab/apputils';
import React from 'react';

import { useSignal } from '../components';
import { LogModel } from '../log';
import { LogHeader } from './element';
import { ElementRecordModel } from './record';

function Header(props: { model: ElementRecordModel }): JSX.Element | null {
  useSignal(props.model.changed);
  return <LogHeader element={props.model.element} />;
}

/** The header widget of a log tab (it owns the record model). */
export class LogHeaderWidget extends ReactWidget {
  constructor(log: LogModel) {
    super();
    this.model = new ElementRecordModel(log);
    this.addClass('jp-Explorer-log-headerWidget');
  }

  readonly model: ElementRecordModel;

  dispose(): void {
    this.model.dispose();
    super.dispose();
  }

  protected render(): JSX.Element {
    return <Header model={this.model} />;
  }
}
