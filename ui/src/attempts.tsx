/**
 * The log tab's attempt chooser (see rerun.ts): shown once the element has had more than one
 * attempt; the latest is followed live, an earlier one is read from its record.
 */
import { ReactWidget } from '@jupyterlab/apputils';
import * as React from 'react';

import { LogModel } from './log';
import { IAttempt, attemptLabel, getElement } from './rerun';

/** The log tab's attempt chooser: shown once the element has had more than one attempt. */
export function AttemptSwitch(props: { model: LogModel }): JSX.Element | null {
  const { model } = props;
  const [attempts, setAttempts] = React.useState<IAttempt[]>([]);
  const [chosen, setChosen] = React.useState<number | null>(model.attempt);
  React.useEffect(() => {
    let live = true;
    getElement(model.id, model.index)
      .then(detail => live && setAttempts(detail.attempts))
      .catch(() => undefined); // no chooser: the latest attempt is shown as before
    return () => {
      live = false;
    };
  }, [model.id, model.index]);
  if (attempts.length < 2) {
    return null;
  }
  const latest = attempts[attempts.length - 1].attempt;
  return (
    <select
      className="jp-Explorer-attempt-switch"
      aria-label="Attempt"
      title="Which attempt's log to show"
      value={chosen === null ? latest : chosen}
      onChange={event => {
        const value = Number(event.target.value);
        const next = value === latest ? null : value;
        setChosen(next);
        model.setAttempt(next);
      }}
    >
      {attempts.map(a => (
        <option key={a.attempt} value={a.attempt}>
          {attemptLabel(a, a.attempt === latest)}
        </option>
      ))}
    </select>
  );
}

export function attemptSwitchWidget(model: LogModel): ReactWidget {
  return ReactWidget.create(<AttemptSwitch model={model} />);
}
