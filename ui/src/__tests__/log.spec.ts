/**
 * Following an element's log: text arrives in order from the last offset, the stream can be
 * switched, and following stops once the element has finished.
 */
jest.mock('../api', () => require('./mockapi').mockApi());

import * as api from '../api';
import { APIError } from '../api';
import { LogModel } from '../log';
import { resetApi, waitFor } from './mockapi';

const mocked = api as jest.Mocked<typeof api>;

const models: LogModel[] = [];
afterEach(() => models.splice(0).forEach(m => m.dispose()));
beforeEach(() => resetApi(api));

function chunk(data: string, next_offset: number, finished = false) {
  return { data, next_offset, finished };
}

it('appends new text from the last offset until the element finished and nothing is left', async () => {
  mocked.readLog
    .mockResolvedValueOnce(chunk('line 1\n', 7))
    .mockResolvedValueOnce(chunk('line 2\n', 14, true))
    .mockResolvedValueOnce(chunk('', 14, true));
  const model = new LogModel({ id: 'a', index: 3, autoStart: false });
  models.push(model);
  const appended: string[] = [];
  model.appended.connect((_, text) => appended.push(text));

  await model.fetch();
  await model.fetch();
  expect(model.following).toBe(true); // finished, but that answer still carried text
  await model.fetch();

  expect(mocked.readLog.mock.calls.map(c => c[3])).toEqual([0, 7, 14]);
  expect(mocked.readLog).toHaveBeenCalledWith('a', 3, 'stdout', 0);
  expect(appended).toEqual(['line 1\n', 'line 2\n']);
  expect(model.text).toBe('line 1\nline 2\n');
  expect(model.following).toBe(false);
});

it('follows a running element live through its poll', async () => {
  let written = '';
  mocked.readLog.mockImplementation(async (_id, _i, _s, offset) =>
    chunk(written.slice(offset), written.length, false)
  );
  const model = new LogModel({ id: 'a', index: 0, interval: 50 });
  models.push(model);
  written = 'started\n';
  await waitFor(() => model.text === 'started\n', 3000);
  written += 'Traceback (most recent call last):\n';
  await waitFor(() => model.text.includes('Traceback'), 3000);
  expect(model.text).toBe('started\nTraceback (most recent call last):\n');
});

it('starts again from the beginning of the other stream when switched to stderr', async () => {
  mocked.readLog.mockResolvedValue(chunk('out\n', 4));
  const model = new LogModel({ id: 'a', index: 1, autoStart: false });
  models.push(model);
  await model.fetch();
  let cleared = 0;
  model.cleared.connect(() => cleared++);

  mocked.readLog.mockResolvedValue(chunk('err\n', 4, true));
  model.setStream('stderr');
  expect(cleared).toBe(1);
  expect(model.text).toBe('');
  await waitFor(() => model.text === 'err\n');
  expect(mocked.readLog).toHaveBeenCalledWith('a', 1, 'stderr', 0);
  expect(model.downloadUrl).toContain('stream=stderr');
});

it('says why it cannot read the log, and carries on once it can', async () => {
  let healthy = false;
  mocked.readLog.mockImplementation(async () => {
    if (!healthy) {
      throw new APIError(404, 'No element 9 in analysis a.');
    }
    return chunk('ok\n', 3, true);
  });
  const model = new LogModel({ id: 'a', index: 9, interval: 20 });
  models.push(model);
  await waitFor(() => model.error === 'No element 9 in analysis a.');
  healthy = true;
  // the poll backs off after failures, then reads again
  await waitFor(() => model.text === 'ok\n' && model.error === null, 8000);
}, 15000);
