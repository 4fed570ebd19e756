/**
 * The api module as the model tests see it: every route a jest.fn, the types and APIError
 * real. Use with `jest.mock('../api', () => require('./mockapi').mockApi())`.
 */
import type * as Api from '../api';

const ROUTES = [
  'whoami',
  'listAnalyses',
  'getAnalysis',
  'listElements',
  'terminateElement',
  'terminateAnalysis',
  'readLog',
  'logDownloadUrl',
  'listFolder',
  'stat',
  'readBytes',
  'writeFile',
  'contentUrl',
  'makeFolder',
  'copy',
  'remove',
  'presign',
  'uploadFile',
  'serverSettings'
] as const;

/** What a few routes answer unless a test says otherwise. */
const DEFAULTS: Partial<
  Record<(typeof ROUTES)[number], (...args: any[]) => any>
> = {
  logDownloadUrl: (id: string, index: number, stream: string) =>
    `/explorer/api/analyses/${id}/elements/${index}/log?stream=${stream}&download=1`,
  contentUrl: (uri: string) => `/explorer/api/eos/content?uri=${uri}`
};

export function mockApi(): Partial<typeof Api> {
  const routes: Record<string, jest.Mock> = {};
  for (const name of ROUTES) {
    routes[name] = jest.fn(DEFAULTS[name]);
  }
  return { ...jest.requireActual('../types'), ...routes };
}

/**
 * Forget calls AND answers set by earlier tests (jest.clearAllMocks keeps the answers, so a
 * `mockResolvedValue` of one test would leak into the next).
 */
export function resetApi(api: unknown): void {
  const mod = api as Record<string, jest.Mock>;
  for (const name of ROUTES) {
    mod[name].mockReset();
    const fallback = DEFAULTS[name];
    if (fallback) {
      mod[name].mockImplementation(fallback);
    }
  }
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/** Wait until `predicate()` holds (polling every 5 ms), or fail after `timeout` ms. */
export async function waitFor(
  predicate: () => boolean,
  timeout = 5000
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error('timed out waiting for a condition');
    }
    await sleep(5);
  }
}
