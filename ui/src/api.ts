/**
 * The one door to the Explorer server extension (docs/api-contract.md).
 *
 * Every HTTP request of the frontend goes through `requestAPI()` (fetch, via ServerConnection)
 * or, for uploads that need progress events, `uploadFile()` (XMLHttpRequest with the same
 * authentication headers). Failures throw `APIError` carrying the server's `message`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export * from './types';
import {
  APIError,
  IAnalysis,
  IAnalysisPage,
  IElementPage,
  IEntry,
  IListing,
  ILogChunk,
  IWhoAmI,
  LogStream
} from './types';

type Query = Record<string, string | number | boolean | null | undefined>;

export interface IRequestOptions {
  method?: 'GET' | 'PUT' | 'POST' | 'DELETE';
  query?: Query;
  /** A JSON body (serialized here) or a raw body (sent as it is). */
  json?: unknown;
  body?: string | Blob;
  /** How to read the answer: JSON (default), text, or the exact bytes. */
  read?: 'json' | 'text' | 'bytes';
}

let settings: ServerConnection.ISettings | null = null;

/** The server settings used by every request (made once, from the page config). */
export function serverSettings(): ServerConnection.ISettings {
  if (!settings) {
    settings = ServerConnection.makeSettings();
  }
  return settings;
}

/** The absolute URL of an API route, with its query string. */
export function apiUrl(endPoint: string, query: Query = {}): string {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') {
      params[key] = String(value);
    }
  }
  const base = URLExt.join(
    serverSettings().baseUrl,
    'explorer',
    'api',
    endPoint
  );
  const qs = URLExt.objectToQueryString(params);
  return qs ? base + qs : base;
}

/** The message the server put in an error answer, or a plain description of the status. */
function messageOf(status: number, text: string, endPoint: string): string {
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed.message === 'string' && parsed.message) {
      return parsed.message;
    }
  } catch {
    // not JSON: fall through
  }
  if (status === 404) {
    return `Not found: ${endPoint} (is the Explorer server extension installed?)`;
  }
  return `The server answered ${status} to ${endPoint}.`;
}

/**
 * Call an Explorer REST route and return its answer. Throws `APIError` with the server's message
 * when the answer is not 2xx, or with status 0 when the server cannot be reached.
 */
export async function requestAPI<T>(
  endPoint: string,
  options: IRequestOptions = {}
): Promise<T> {
  const init: RequestInit = { method: options.method ?? 'GET' };
  if (options.json !== undefined) {
    init.body = JSON.stringify(options.json);
    init.headers = { 'Content-Type': 'application/json' };
  } else if (options.body !== undefined) {
    init.body = options.body;
    init.headers = { 'Content-Type': 'application/octet-stream' };
  }
  const url = apiUrl(endPoint, options.query);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, serverSettings());
  } catch (error) {
    throw new APIError(
      0,
      `Cannot reach the Jupyter server (${(error as Error).message}).`
    );
  }
  if (response.ok && options.read === 'bytes') {
    return (await response.arrayBuffer()) as unknown as T;
  }
  const text = await response.text();
  if (!response.ok) {
    throw new APIError(
      response.status,
      messageOf(response.status, text, endPoint)
    );
  }
  if (options.read === 'text') {
    return text as unknown as T;
  }
  if (!text) {
    return undefined as unknown as T;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new APIError(
      response.status,
      `The server's answer to ${endPoint} is not JSON.`
    );
  }
}

/** The value of a cookie (the last one if several paths set it, as tornado reads them). */
function getCookie(name: string): string | undefined {
  if (typeof document === 'undefined') {
    return undefined;
  }
  let value: string | undefined;
  for (const part of document.cookie.split(';')) {
    const trimmed = part.trim();
    if (trimmed.startsWith(name + '=')) {
      value = trimmed.substring(name.length + 1);
    }
  }
  return value;
}

/** A link that downloads through the browser (the login cookie authenticates it). */
export function downloadUrl(endPoint: string, query: Query): string {
  const xsrf = getCookie('_xsrf');
  return apiUrl(endPoint, xsrf ? { ...query, _xsrf: xsrf } : query);
}

/** An upload under way: its result and a way to cancel it. */
export interface IUpload {
  readonly done: Promise<IEntry>;
  abort(): void;
}

/**
 * PUT `body` to `eos/content?uri=...`, reporting progress. XMLHttpRequest (not fetch) because
 * only it reports upload progress; it carries the same auth headers as ServerConnection.
 */
export function uploadFile(
  uri: string,
  body: Blob,
  onProgress: (loaded: number, total: number) => void
): IUpload {
  const xhr = new XMLHttpRequest();
  const done = new Promise<IEntry>((resolve, reject) => {
    xhr.open('PUT', apiUrl('eos/content', { uri }));
    const s = serverSettings();
    if (s.token) {
      xhr.setRequestHeader('Authorization', `token ${s.token}`);
    }
    const xsrf = getCookie('_xsrf');
    if (xsrf) {
      xhr.setRequestHeader('X-XSRFToken', xsrf);
    }
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.onprogress = event => {
      onProgress(
        event.loaded,
        event.lengthComputable ? event.total : body.size
      );
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(body.size, body.size);
        try {
          resolve(JSON.parse(xhr.responseText) as IEntry);
        } catch {
          reject(new APIError(xhr.status, 'The upload answer is not JSON.'));
        }
      } else {
        reject(
          new APIError(
            xhr.status,
            messageOf(xhr.status, xhr.responseText, 'eos/content')
          )
        );
      }
    };
    xhr.onerror = () => {
      reject(new APIError(0, 'The upload was interrupted (network error).'));
    };
    xhr.onabort = () => {
      reject(new APIError(0, 'Upload cancelled.', true));
    };
    xhr.send(body);
  });
  return { done, abort: () => xhr.abort() };
}

// ---- the routes of docs/api-contract.md -------------------------------------------------

export function whoami(): Promise<IWhoAmI> {
  return requestAPI<IWhoAmI>('whoami');
}

export function listAnalyses(query: {
  name?: string;
  since?: string;
  offset?: number;
  limit?: number;
}): Promise<IAnalysisPage> {
  return requestAPI<IAnalysisPage>('analyses', { query });
}

export function getAnalysis(id: string): Promise<IAnalysis> {
  return requestAPI<IAnalysis>(`analyses/${encodeURIComponent(id)}`);
}

export function listElements(
  id: string,
  query: { status?: string | null; offset: number; limit: number }
): Promise<IElementPage> {
  return requestAPI<IElementPage>(
    `analyses/${encodeURIComponent(id)}/elements`,
    { query }
  );
}

export async function terminateElement(
  id: string,
  index: number
): Promise<void> {
  await requestAPI(`analyses/${encodeURIComponent(id)}/elements/${index}`, {
    method: 'DELETE'
  });
}

export async function terminateAnalysis(id: string): Promise<void> {
  await requestAPI(`analyses/${encodeURIComponent(id)}/elements`, {
    method: 'DELETE'
  });
}

export function readLog(
  id: string,
  index: number,
  stream: LogStream,
  offset: number,
  attempt: number | null = null
): Promise<ILogChunk> {
  const query =
    attempt === null ? { stream, offset } : { stream, offset, attempt };
  return requestAPI<ILogChunk>(
    `analyses/${encodeURIComponent(id)}/elements/${index}/log`,
    { query }
  );
}

export function logDownloadUrl(
  id: string,
  index: number,
  stream: LogStream
): string {
  return downloadUrl(
    `analyses/${encodeURIComponent(id)}/elements/${index}/log`,
    { stream, download: 1 }
  );
}

export function listFolder(
  uri: string,
  token: string | null = null,
  limit = 200
): Promise<IListing> {
  return requestAPI<IListing>('eos/list', {
    query: { uri, page_token: token, limit }
  });
}

export function stat(uri: string): Promise<IEntry> {
  return requestAPI<IEntry>('eos/stat', { query: { uri } });
}

/** The exact bytes of a file (whatever they are: the caller decides how to show them). */
export function readBytes(uri: string): Promise<ArrayBuffer> {
  return requestAPI<ArrayBuffer>('eos/content', {
    query: { uri, inline: 1 },
    read: 'bytes'
  });
}

/** Write a whole file: a string is sent as UTF-8, a Blob as its bytes. */
export function writeFile(uri: string, body: string | Blob): Promise<IEntry> {
  return requestAPI<IEntry>('eos/content', {
    method: 'PUT',
    query: { uri },
    body
  });
}

export function contentUrl(uri: string): string {
  return downloadUrl('eos/content', { uri });
}

export function makeFolder(uri: string): Promise<IEntry> {
  return requestAPI<IEntry>('eos/folder', { method: 'POST', query: { uri } });
}

export function copy(src: string, dst: string, move: boolean): Promise<IEntry> {
  return requestAPI<IEntry>('eos/copy', {
    method: 'POST',
    json: { src, dst, move }
  });
}

export async function remove(uri: string, recursive: boolean): Promise<number> {
  const answer = await requestAPI<{ deleted: number }>('eos/content', {
    method: 'DELETE',
    query: { uri, recursive: recursive ? 1 : null }
  });
  return answer.deleted;
}

export async function presign(uri: string): Promise<string> {
  const answer = await requestAPI<{ url: string }>('eos/presign', {
    query: { uri }
  });
  return answer.url;
}
