/**
 * Reruns and attempts in the sidebar: "Rerun failed" is offered only for a finished analysis
 * with failures, and a log tab switched to an earlier attempt reads that attempt from the start.
 */
jest.mock('../api', () => require('./mockapi').mockApi());

import * as api from '../api';
import { LogModel } from '../log';
import { attemptLabel, failedCount } from '../rerun';
import { resetApi } from './mockapi';

const mocked = api as jest.Mocked<typeof api>;
const models: LogModel[] = [];
afterEach(() => models.splice(0).forEach(m => m.dispose()));
beforeEach(() => resetApi(api));

it('offers "Rerun failed" only once the analysis finished with FAILED elements', () => {
  expect(
    failedCount({ status: 'FAILED', counts: { SUCCEEDED: 2463, FAILED: 37 } })
  ).toBe(37);
  expect(
    failedCount({ status: 'RUNNING', counts: { RUNNING: 3, FAILED: 2 } })
  ).toBe(0);
  expect(failedCount({ status: 'SUCCEEDED', counts: { SUCCEEDED: 5 } })).toBe(
    0
  );
});

it('reads an earlier attempt from its start, and the latest again when switched back', async () => {
  mocked.readLog.mockResolvedValue({
    data: 'x\n',
    next_offset: 2,
    finished: true
  });
  const model = new LogModel({ id: 'a', index: 3, autoStart: false });
  models.push(model);
  await model.fetch();
  expect(model.text).toBe('x\n');
  let cleared = 0;
  model.cleared.connect(() => cleared++);

  model.setAttempt(0);
  expect(model.text).toBe('');
  await model.fetch();
  expect(mocked.readLog).toHaveBeenLastCalledWith('a', 3, 'stdout', 0, 0);
  model.setAttempt(null);
  await model.fetch();
  expect(mocked.readLog).toHaveBeenLastCalledWith('a', 3, 'stdout', 0);
  expect(cleared).toBe(2);
});

it('labels attempts with their status and memory', () => {
  expect(
    attemptLabel(
      { attempt: 1, status: 'FAILED', resources: { memory_mb: 8000 } },
      false
    )
  ).toBe('attempt 1 · FAILED · 8000 MB');
  expect(attemptLabel({ attempt: 2, status: 'SUCCEEDED' }, true)).toBe(
    'attempt 2 · SUCCEEDED · latest'
  );
});
