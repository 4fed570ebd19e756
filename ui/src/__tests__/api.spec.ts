/**
 * requestAPI: one place that builds URLs, and turns a failed answer into an APIError that
 * carries the server's message.
 */
jest.mock('@jupyterlab/services', () => ({
  ServerConnection: {
    makeSettings: () => ({
      baseUrl: 'http://127.0.0.1:8888/base/',
      token: 'tok'
    }),
    makeRequest: jest.fn()
  }
}));

import { ServerConnection } from '@jupyterlab/services';
import { APIError, listElements, requestAPI } from '../api';

const makeRequest = ServerConnection.makeRequest as jest.Mock;

function answer(status: number, body: string): Response {
  return new Response(body, { status });
}

function fail(): never {
  throw new Error('expected the request to fail');
}

beforeEach(() => makeRequest.mockReset());

it('calls <base_url>/explorer/api/<route> with the query and returns the JSON answer', async () => {
  makeRequest.mockResolvedValue(answer(200, '{"elements": [], "total": 0}'));
  const page = await listElements('2026_x_1', {
    status: 'FAILED',
    offset: 0,
    limit: 200
  });
  expect(page).toEqual({ elements: [], total: 0 });
  const [url, init] = makeRequest.mock.calls[0];
  expect(url).toBe(
    'http://127.0.0.1:8888/base/explorer/api/analyses/2026_x_1/elements?status=FAILED&offset=0&limit=200'
  );
  expect(init.method).toBe('GET');
});

it("throws an APIError with the server's message and status", async () => {
  makeRequest.mockResolvedValue(
    answer(
      403,
      '{"message": "e://public/ is read-only: write under e://users/me/."}'
    )
  );
  const error = await requestAPI('eos/folder', { method: 'POST' }).then(
    fail,
    (e: APIError) => e
  );
  expect(error).toBeInstanceOf(APIError);
  expect(error.status).toBe(403);
  expect(error.message).toBe(
    'e://public/ is read-only: write under e://users/me/.'
  );
});

it('says the server extension may be missing when a route is not there at all', async () => {
  makeRequest.mockResolvedValue(answer(404, '<html>404: Not Found</html>'));
  const error = await requestAPI('whoami').then(fail, (e: APIError) => e);
  expect(error.status).toBe(404);
  expect(error.message).toMatch(/server extension/);
});

it('reports an unreachable server as status 0', async () => {
  makeRequest.mockRejectedValue(new TypeError('Failed to fetch'));
  const error = await requestAPI('whoami').then(fail, (e: APIError) => e);
  expect(error).toBeInstanceOf(APIError);
  expect(error.status).toBe(0);
  expect(error.message).toMatch(/Cannot reach the Jupyter server/);
});

it('sends JSON bodies as JSON', async () => {
  makeRequest.mockResolvedValue(answer(200, '{"name": "b"}'));
  await requestAPI('eos/copy', {
    method: 'POST',
    json: { src: 'a', dst: 'b', move: true }
  });
  const [, init] = makeRequest.mock.calls[0];
  expect(init.body).toBe('{"src":"a","dst":"b","move":true}');
  expect(init.headers).toEqual({ 'Content-Type': 'application/json' });
});
