/**
 * The Jobs models against a mocked api module: what a person sees in the Jobs section.
 */
jest.mock('../api', () => require('./mockapi').mockApi());

import * as api from '../api';
import { APIError, IAnalysis, IElement, Status } from '../api';
import { AnalysisModel, JobsModel } from '../jobs';
import { resetApi, sleep, waitFor } from './mockapi';

const mocked = api as jest.Mocked<typeof api>;

function analysis(name: string, extra: Partial<IAnalysis> = {}): IAnalysis {
  return {
    id: `2026-11-22T013000_${name}_0123456789abcdef0123456789abcdef`,
    name,
    created: 1795310750,
    size: 4,
    status: 'RUNNING',
    counts: { SUCCEEDED: 2, RUNNING: 2 },
    reason: null,
    depends_on: [],
    compute: 'local',
    ...extra
  };
}

/** A fake array of `n` elements, FAILED first then by index, as the server orders them. */
function serveElements(n: number, failed: number[] = []) {
  const all: IElement[] = [];
  for (let i = 0; i < n; i++) {
    all.push({
      index: i,
      status: failed.includes(i) ? 'FAILED' : 'SUCCEEDED',
      reason: failed.includes(i) ? 'ValueError: bad input' : null,
      started: 1,
      stopped: 2
    });
  }
  all.sort((a, b) =>
    a.status === b.status ? a.index - b.index : a.status === 'FAILED' ? -1 : 1
  );
  mocked.listElements.mockImplementation(async (_id, q) => {
    const rows = q.status ? all.filter(e => e.status === q.status) : all;
    return {
      elements: rows.slice(q.offset, q.offset + q.limit),
      total: rows.length
    };
  });
}

const models: { dispose(): void }[] = [];
function track<T extends { dispose(): void }>(model: T): T {
  models.push(model);
  return model;
}

beforeEach(() => {
  resetApi(api);
});

afterEach(() => {
  models.splice(0).forEach(m => m.dispose());
});

describe('JobsModel', () => {
  it('shows the analyses the server lists, newest first, filtered by name and time', async () => {
    const newest = analysis('square', { created: 3 });
    const older = analysis('square', { created: 2, id: 'older' });
    mocked.listAnalyses.mockResolvedValue({
      analyses: [newest, older],
      next_offset: null
    });
    const model = track(new JobsModel({ autoStart: false }));
    let changes = 0;
    model.changed.connect(() => changes++);

    await model.setFilter({ name: 'squ', since: '1h' });

    expect(mocked.listAnalyses).toHaveBeenLastCalledWith({
      name: 'squ',
      since: '1h',
      offset: 0,
      limit: 50
    });
    expect(model.analyses.map(a => a.id)).toEqual([newest.id, 'older']);
    expect(model.loaded).toBe(true);
    expect(changes).toBeGreaterThan(0);
  });

  it('asks for any time when the time filter is cleared', async () => {
    mocked.listAnalyses.mockResolvedValue({ analyses: [], next_offset: null });
    const model = track(new JobsModel({ autoStart: false }));
    await model.setFilter({ since: '' });
    expect(mocked.listAnalyses.mock.calls[0][0].since).toBeUndefined();
  });

  it("keeps the server's message visible while it fails, and rejects so the poll backs off", async () => {
    mocked.listAnalyses.mockRejectedValueOnce(
      new APIError(502, 'Batch is unreachable')
    );
    const model = track(new JobsModel({ autoStart: false }));
    await expect(model.refresh()).rejects.toThrow('Batch is unreachable');
    expect(model.error).toBe('Batch is unreachable');

    mocked.listAnalyses.mockResolvedValue({
      analyses: [analysis('a')],
      next_offset: null
    });
    await model.refresh();
    expect(model.error).toBeNull();
    expect(model.analyses).toHaveLength(1);
  });

  it('does not let a slow answer for an old filter overwrite the newer one', async () => {
    let releaseOld: (v: api.IAnalysisPage) => void = () => undefined;
    mocked.listAnalyses
      .mockImplementationOnce(
        () => new Promise(resolve => (releaseOld = resolve))
      )
      .mockResolvedValueOnce({
        analyses: [analysis('new')],
        next_offset: null
      });
    const model = track(new JobsModel({ autoStart: false }));
    const old = model.setFilter({ name: 'old' });
    await model.setFilter({ name: 'new' });
    releaseOld({ analyses: [analysis('old')], next_offset: null });
    await old;
    expect(model.analyses.map(a => a.name)).toEqual(['new']);
  });

  it('appends older analyses page by page without repeating one', async () => {
    const a = analysis('a', { id: 'a' });
    const b = analysis('b', { id: 'b' });
    const c = analysis('c', { id: 'c' });
    mocked.listAnalyses
      .mockResolvedValueOnce({ analyses: [a, b], next_offset: 2 })
      .mockResolvedValueOnce({ analyses: [b, c], next_offset: null });
    const model = track(new JobsModel({ autoStart: false, pageSize: 2 }));
    await model.refresh();
    expect(model.hasMore).toBe(true);
    await model.loadMore();
    expect(mocked.listAnalyses).toHaveBeenLastCalledWith(
      expect.objectContaining({ offset: 2, limit: 2 })
    );
    expect(model.analyses.map(x => x.id)).toEqual(['a', 'b', 'c']);
    expect(model.hasMore).toBe(false);
  });

  /**
   * A fake server listing `ids` newest first, by offset and limit. `hold(offset, limit)` makes
   * the answer to that request wait until the function it returns is called.
   */
  function serveAnalyses(ids: string[]) {
    const gates = new Map<string, Promise<void>>();
    mocked.listAnalyses.mockImplementation(async q => {
      const offset = q.offset ?? 0;
      const end = offset + (q.limit ?? 50);
      await gates.get(`${offset}/${q.limit}`);
      return {
        analyses: ids.slice(offset, end).map(id => analysis(id, { id })),
        next_offset: end < ids.length ? end : null
      };
    });
    return {
      hold(offset: number, limit: number): () => void {
        let release: () => void = () => undefined;
        gates.set(
          `${offset}/${limit}`,
          new Promise<void>(resolve => (release = resolve))
        );
        return () => release();
      }
    };
  }

  it.each([
    ['before', true],
    ['after', false]
  ])(
    'keeps the older page when a refresh runs while it loads (its answer arriving %s the refresh)',
    async (_when, olderFirst) => {
      const server = serveAnalyses(['a', 'b', 'c', 'd', 'e']);
      const model = track(new JobsModel({ autoStart: false, pageSize: 2 }));
      await model.refresh();
      expect(model.analyses.map(x => x.id)).toEqual(['a', 'b']);

      const releaseOlder = server.hold(2, 2);
      const releaseTick = server.hold(0, 4);
      const more = model.loadMore(); // "Show older analyses"
      const tick = model.refresh(); // a poll tick while that page is in flight
      expect(mocked.listAnalyses).toHaveBeenLastCalledWith(
        expect.objectContaining({ offset: 0, limit: 4 })
      );
      if (olderFirst) {
        releaseOlder();
        await more;
        releaseTick();
        await tick;
      } else {
        releaseTick();
        await tick;
        releaseOlder();
        await more;
      }
      expect(model.analyses.map(x => x.id)).toEqual(['a', 'b', 'c', 'd']);
      expect(model.hasMore).toBe(true);

      await model.refresh(); // and the next ticks keep the older page shown
      expect(mocked.listAnalyses).toHaveBeenLastCalledWith(
        expect.objectContaining({ offset: 0, limit: 4 })
      );
      expect(model.analyses.map(x => x.id)).toEqual(['a', 'b', 'c', 'd']);
      await model.loadMore();
      expect(model.analyses.map(x => x.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(model.hasMore).toBe(false);
    }
  );

  it("shows why older analyses could not be loaded, and doesn't let an older refresh hide them", async () => {
    serveAnalyses(['a', 'b', 'c']);
    const model = track(new JobsModel({ autoStart: false, pageSize: 2 }));
    await model.refresh();

    mocked.listAnalyses.mockRejectedValueOnce(
      new APIError(502, 'Batch is unreachable')
    );
    await expect(model.loadMore()).rejects.toThrow('Batch is unreachable');
    expect(model.error).toBe('Batch is unreachable');
    expect(model.analyses.map(x => x.id)).toEqual(['a', 'b']);

    // A refresh that started before "load more" answers last: it does not replace the longer list.
    let answerOld: (v: api.IAnalysisPage) => void = () => undefined;
    mocked.listAnalyses.mockImplementationOnce(
      () => new Promise(resolve => (answerOld = resolve))
    );
    const old = model.refresh();
    await model.loadMore();
    expect(model.error).toBeNull();
    expect(model.analyses.map(x => x.id)).toEqual(['a', 'b', 'c']);
    answerOld({
      analyses: [analysis('a', { id: 'a' }), analysis('b', { id: 'b' })],
      next_offset: 2
    });
    await old;
    expect(model.analyses.map(x => x.id)).toEqual(['a', 'b', 'c']);
    expect(model.hasMore).toBe(false);
  });

  it('polls while its view is visible and stands by while it is hidden', async () => {
    mocked.listAnalyses.mockResolvedValue({ analyses: [], next_offset: null });
    let visible = false;
    const model = track(
      new JobsModel({ visible: () => visible, interval: 20 })
    );
    await sleep(120);
    expect(mocked.listAnalyses).not.toHaveBeenCalled();

    visible = true;
    await waitFor(() => mocked.listAnalyses.mock.calls.length >= 2);
    expect(model.loaded).toBe(true);
  });
});

describe('AnalysisModel', () => {
  it("shows the server's message when a terminate is refused, and what was done otherwise", async () => {
    mocked.getAnalysis.mockResolvedValue(analysis('x', { size: 10 }));
    serveElements(10, []);
    const model = track(new AnalysisModel('x', { autoStart: false }));
    mocked.terminateElement.mockRejectedValue(
      new APIError(409, 'element 8 had already SUCCEEDED')
    );
    await model.run(async () => {
      await model.terminateElement(8);
      return 'Terminate requested for element 8.';
    });
    expect(model.notice).toEqual({
      kind: 'error',
      text: 'element 8 had already SUCCEEDED'
    });
    mocked.terminateElement.mockResolvedValue(undefined);
    await model.run(async () => {
      await model.terminateElement(7);
      return 'Terminate requested for element 7.';
    });
    expect(model.notice).toEqual({
      kind: 'info',
      text: 'Terminate requested for element 7.'
    });
  });

  it('fetches only the pages of the rows in view, even for 10,000 elements', async () => {
    serveElements(10000, [9999]);
    mocked.getAnalysis.mockResolvedValue(analysis('big', { size: 10000 }));
    const model = track(new AnalysisModel('big', { autoStart: false }));

    await model.showRange(0, 40);
    expect(mocked.listElements).toHaveBeenCalledTimes(1);
    expect(model.total).toBe(10000);
    // FAILED first
    expect(model.elementAt(0)).toMatchObject({ index: 9999, status: 'FAILED' });
    expect(model.elementAt(1)).toMatchObject({ index: 0 });

    await model.showRange(5000, 5040);
    expect(mocked.listElements).toHaveBeenCalledTimes(2);
    expect(mocked.listElements).toHaveBeenLastCalledWith('big', {
      status: null,
      offset: 5000,
      limit: 200
    });
    expect(model.elementAt(5001)).toMatchObject({ index: 5000 });
    expect(model.elementAt(3000)).toBeUndefined();

    await model.showRange(5010, 5050); // same page: no new request
    expect(mocked.listElements).toHaveBeenCalledTimes(2);
  });

  it('filters by status from the first row again', async () => {
    serveElements(50, [3, 7]);
    const model = track(new AnalysisModel('x', { autoStart: false }));
    await model.showRange(0, 30);
    expect(model.total).toBe(50);

    await model.setStatusFilter('FAILED' as Status);
    expect(mocked.listElements).toHaveBeenLastCalledWith('x', {
      status: 'FAILED',
      offset: 0,
      limit: 200
    });
    expect(model.total).toBe(2);
    expect([model.elementAt(0)?.index, model.elementAt(1)?.index]).toEqual([
      3, 7
    ]);
    expect(model.elementAt(2)).toBeUndefined();
  });

  it('refreshes the summary and the rows in view, and keeps the error when it fails', async () => {
    serveElements(4);
    mocked.getAnalysis.mockResolvedValueOnce(
      analysis('a', { status: 'RUNNING' })
    );
    const model = track(new AnalysisModel('a', { autoStart: false }));
    await model.refresh();
    expect(model.info?.status).toBe('RUNNING');
    expect(model.total).toBe(4);

    mocked.getAnalysis.mockRejectedValueOnce(
      new APIError(404, 'No analysis a.')
    );
    await expect(model.refresh()).rejects.toThrow('No analysis a.');
    expect(model.error).toBe('No analysis a.');
  });

  it('reloads the rows of a finished analysis whose counts changed (a rerun between two polls)', async () => {
    serveElements(3, [1]);
    mocked.getAnalysis.mockResolvedValue(
      analysis('r', {
        size: 3,
        status: 'FAILED',
        counts: { SUCCEEDED: 2, FAILED: 1 }
      })
    );
    const model = track(new AnalysisModel('r', { autoStart: false }));
    await model.refresh();
    await model.refresh(); // finished, nothing changed: the rows are not asked again
    expect(mocked.listElements).toHaveBeenCalledTimes(1);
    expect(model.elementAt(0)).toMatchObject({ index: 1, status: 'FAILED' });

    serveElements(3, []); // element 1 was rerun and SUCCEEDED before the next poll
    mocked.getAnalysis.mockResolvedValue(
      analysis('r', { size: 3, status: 'SUCCEEDED', counts: { SUCCEEDED: 3 } })
    );
    await model.refresh();
    expect(mocked.listElements).toHaveBeenCalledTimes(2);
    expect(model.elementAt(0)).toMatchObject({ index: 0, status: 'SUCCEEDED' });
    expect(model.elementAt(1)).toMatchObject({
      index: 1,
      status: 'SUCCEEDED'
    });
  });

  it('terminates one element or all of them, then refreshes', async () => {
    serveElements(2);
    mocked.getAnalysis.mockResolvedValue(analysis('a'));
    mocked.terminateElement.mockResolvedValue(undefined);
    mocked.terminateAnalysis.mockResolvedValue(undefined);
    const model = track(new AnalysisModel('a', { autoStart: false }));
    await model.terminateElement(1);
    expect(mocked.terminateElement).toHaveBeenCalledWith('a', 1);
    await model.terminateAll();
    expect(mocked.terminateAnalysis).toHaveBeenCalledWith('a');
    await waitFor(() => mocked.getAnalysis.mock.calls.length >= 1);
  });

  it('shows the dependencies the server reports', async () => {
    serveElements(1);
    mocked.getAnalysis.mockResolvedValue(
      analysis('second', {
        status: 'PENDING',
        depends_on: [{ id: 'first-id', name: 'first' }]
      })
    );
    const model = track(new AnalysisModel('second', { autoStart: false }));
    await model.refresh();
    expect(model.info?.depends_on).toEqual([{ id: 'first-id', name: 'first' }]);
  });
});
