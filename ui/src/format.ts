/**
 * Pure helpers: how times, sizes and e:// URIs are shown and taken apart.
 */

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function age(seconds: number, now: number = Date.now() / 1000): string {
  const delta = Math.max(0, now - seconds);
  if (delta < 60) {
    return `${Math.floor(delta)} s ago`;
  }
  if (delta < 3600) {
    return `${Math.floor(delta / 60)} min ago`;
  }
  if (delta < 86400) {
    return `${Math.floor(delta / 3600)} h ago`;
  }
  return `${Math.floor(delta / 86400)} d ago`;
}

/** "850 ms", "12.3 s", "4 min 05 s", "2 h 03 min". */
export function duration(seconds: number): string {
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${String(Math.floor(seconds % 60)).padStart(2, '0')} s`;
  }
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** "0 B", "12 B", "1.5 kB", "3.2 MB" (powers of 1000, as disks are sold). */
export function bytes(size: number | null | undefined): string {
  if (size === null || size === undefined) {
    return '';
  }
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = size;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0
    ? `${value} B`
    : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** "2026-11-22 01:30" in local time. */
export function date(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) {
    return '';
  }
  const d = new Date(seconds * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}`
  );
}

/** Like `date` but short for narrow columns: "11-22 01:30" this year, "2025-11-22" before. */
export function shortDate(
  seconds: number | null | undefined,
  now: Date = new Date()
): string {
  if (seconds === null || seconds === undefined) {
    return '';
  }
  const full = date(seconds);
  const year = String(now.getFullYear());
  return full.startsWith(year + '-') ? full.slice(5) : full.slice(0, 10);
}

/** The uuid part of an analysis id, shortened: `..._work_3f2a9c01...` -> `3f2a9c01`. */
export function shortId(id: string): string {
  const last = id.split('_').pop() ?? id;
  return last.slice(0, 8);
}

// ---- e:// URIs ----------------------------------------------------------------------------

export const SCHEME = 'e://';

/** The quick switches of the file browser. */
export const ROOTS = [
  { label: 'My files', uri: 'e://users/me/' },
  { label: 'Org', uri: 'e://org/' },
  { label: 'Public', uri: 'e://public/' }
];

/** The part after `e://` split into segments: `e://users/me/a/` -> ['users', 'me', 'a']. */
export function segments(uri: string): string[] {
  return uri
    .slice(SCHEME.length)
    .split('/')
    .filter(s => s.length > 0);
}

/** How many leading segments name the namespace: 2 for users/<u>/, else 1. */
function namespaceLength(parts: string[]): number {
  return parts[0] === 'users' ? 2 : 1;
}

/** The namespace root of a URI: `e://users/me/a/b` -> `e://users/me/`. */
export function namespaceRoot(uri: string): string {
  const parts = segments(uri);
  return SCHEME + parts.slice(0, namespaceLength(parts)).join('/') + '/';
}

/** A folder URI always ends with `/`. */
export function asFolder(uri: string): string {
  return uri.endsWith('/') ? uri : uri + '/';
}

/** The folder that holds `uri` (a file or a folder); a namespace root is its own parent. */
export function parent(uri: string): string {
  const parts = segments(uri);
  if (parts.length <= namespaceLength(parts)) {
    return namespaceRoot(uri);
  }
  return SCHEME + parts.slice(0, -1).join('/') + '/';
}

/** `child('e://org/a/', 'b.txt')` -> `e://org/a/b.txt`; `relative` may hold `/`s. */
export function child(folder: string, relative: string): string {
  return asFolder(folder) + relative.replace(/^\/+/, '');
}

export interface ICrumb {
  label: string;
  uri: string;
}

/** `e://users/me/a/b/` -> [e://users/me/, a, b] with the URI each one opens. */
export function breadcrumbs(uri: string): ICrumb[] {
  const parts = segments(uri);
  const n = namespaceLength(parts);
  const crumbs: ICrumb[] = [
    { label: SCHEME + parts.slice(0, n).join('/'), uri: namespaceRoot(uri) }
  ];
  for (let i = n; i < parts.length; i++) {
    crumbs.push({
      label: parts[i],
      uri: SCHEME + parts.slice(0, i + 1).join('/') + '/'
    });
  }
  return crumbs;
}

/**
 * The URI another person can open: `e://users/me/...` names the current user, so a shared
 * URI names the user explicitly (`e://users/alice/...`). Other URIs are already shareable.
 */
export function shareable(uri: string, user: string | null): string {
  if (user && uri.startsWith('e://users/me/')) {
    return `e://users/${user}/` + uri.slice('e://users/me/'.length);
  }
  if (user && uri === 'e://users/me') {
    return `e://users/${user}`;
  }
  return uri;
}

/**
 * The e:// URI in what a person pasted: `e://users/bob/a.txt`, the JupyterLab path
 * `EOS:users/bob/a.txt`, either in quotes or with spaces around; null when it is not an EOS
 * location. A namespace alone (`e://public`) is a folder (`e://public/`).
 */
export function parseUri(raw: string): string | null {
  let text = raw
    .trim()
    .replace(/^(['"`<])(.*)(['"`>])$/, '$2')
    .trim();
  if (/^EOS:/i.test(text)) {
    text = SCHEME + text.slice(4).replace(/^\/+/, '');
  }
  if (!text.toLowerCase().startsWith(SCHEME) || text.length <= SCHEME.length) {
    return null;
  }
  const uri = SCHEME + text.slice(SCHEME.length);
  const parts = segments(uri);
  if (parts.length === 0) {
    return null;
  }
  return parts.length <= namespaceLength(parts) ? namespaceRoot(uri) : uri;
}

/** A new name must be one plain path segment. */
export function checkName(name: string): string | null {
  const trimmed = name.trim();
  if (!trimmed) {
    return 'A name cannot be empty.';
  }
  if (trimmed.includes('/')) {
    return 'A name cannot contain "/".';
  }
  if (trimmed === '.' || trimmed === '..') {
    return `"${trimmed}" is not a valid name.`;
  }
  return null;
}

/** The message of an error (or whatever was thrown), for showing to the user. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
