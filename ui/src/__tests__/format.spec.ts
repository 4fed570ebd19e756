/**
 * How sizes, times and e:// URIs are shown and taken apart.
 */
import {
  age,
  breadcrumbs,
  bytes,
  checkName,
  child,
  duration,
  namespaceRoot,
  parent,
  parseUri,
  shareable,
  shortId
} from '../format';
import { toDrivePath, toUri } from '../drive';

it('shows sizes in B, kB, MB', () => {
  expect(bytes(0)).toBe('0 B');
  expect(bytes(999)).toBe('999 B');
  expect(bytes(1500)).toBe('1.5 kB');
  expect(bytes(25_000_000)).toBe('25 MB');
  expect(bytes(null)).toBe('');
});

it('shows ages and durations the way people say them', () => {
  expect(age(1000, 1030)).toBe('30 s ago');
  expect(age(1000, 1000 + 5 * 60)).toBe('5 min ago');
  expect(age(1000, 1000 + 3 * 3600)).toBe('3 h ago');
  expect(age(1000, 1000 + 2 * 86400)).toBe('2 d ago');
  expect(duration(0.25)).toBe('250 ms');
  expect(duration(12.34)).toBe('12.3 s');
  expect(duration(245)).toBe('4 min 05 s');
});

it('shortens an analysis id to its uuid prefix', () => {
  expect(
    shortId('2026-11-22T013000_work_0123456789abcdef0123456789abcdef')
  ).toBe('01234567');
});

it('takes e:// URIs apart by namespace', () => {
  expect(namespaceRoot('e://users/me/a/b.txt')).toBe('e://users/me/');
  expect(namespaceRoot('e://public/ref/x')).toBe('e://public/');
  expect(parent('e://users/me/a/b.txt')).toBe('e://users/me/a/');
  expect(parent('e://users/me/a/')).toBe('e://users/me/');
  expect(parent('e://users/me/')).toBe('e://users/me/');
  expect(parent('e://org/')).toBe('e://org/');
  expect(child('e://org/a', 'dir/b.txt')).toBe('e://org/a/dir/b.txt');
});

it('makes breadcrumbs from the namespace root down', () => {
  expect(breadcrumbs('e://users/me/a/b/')).toEqual([
    { label: 'e://users/me', uri: 'e://users/me/' },
    { label: 'a', uri: 'e://users/me/a/' },
    { label: 'b', uri: 'e://users/me/a/b/' }
  ]);
  expect(breadcrumbs('e://public/')).toEqual([
    { label: 'e://public', uri: 'e://public/' }
  ]);
});

it('makes a shareable URI that names the user instead of "me"', () => {
  expect(shareable('e://users/me/data/x.csv', 'alice')).toBe(
    'e://users/alice/data/x.csv'
  );
  expect(shareable('e://org/x.csv', 'alice')).toBe('e://org/x.csv');
  expect(shareable('e://users/bob/x.csv', 'alice')).toBe('e://users/bob/x.csv');
});

it('refuses names that are not one plain path segment', () => {
  expect(checkName('ok.txt')).toBeNull();
  expect(checkName('  ')).toMatch(/empty/);
  expect(checkName('a/b')).toMatch(/"\/"/);
  expect(checkName('..')).toMatch(/not a valid name/);
});

it('maps e:// URIs to paths of the EOS drive and back', () => {
  expect(toDrivePath('e://users/me/notes.txt')).toBe('EOS:users/me/notes.txt');
  expect(toUri('users/me/notes.txt')).toBe('e://users/me/notes.txt');
  expect(toUri('users/me/dir', true)).toBe('e://users/me/dir/');
});

it('takes a pasted e:// URI or EOS: path, and nothing else', () => {
  expect(parseUri('  e://users/bob/a.txt ')).toBe('e://users/bob/a.txt');
  expect(parseUri('"e://org/results/"')).toBe('e://org/results/');
  expect(parseUri('EOS:users/me/x.csv')).toBe('e://users/me/x.csv');
  expect(parseUri('e://public')).toBe('e://public/');
  expect(parseUri('e://users/bob')).toBe('e://users/bob/');
  expect(parseUri('/home/alice/a.txt')).toBeNull();
  expect(parseUri('s3://bucket/key')).toBeNull();
  expect(parseUri('e://')).toBeNull();
});
