/**
 * The Files section's model: listing and paging a folder, the actions of its context menu,
 * and uploads (progress per file, cancel, the read-only refusal).
 */
jest.mock('../api', () => require('./mockapi').mockApi());

import * as api from '../api';
import { APIError, IEntry, IListing } from '../api';
import { EosModel, IFileToUpload } from '../eos';
import { EosDrive, MAX_TEXT_BYTES } from '../drive';
import { resetApi, waitFor } from './mockapi';

const mocked = api as jest.Mocked<typeof api>;

function entry(uri: string, extra: Partial<IEntry> = {}): IEntry {
  const folder = uri.endsWith('/');
  const name = uri.replace(/\/$/, '').split('/').pop()!;
  return {
    name,
    uri,
    type: folder ? 'folder' : 'file',
    size: folder ? null : 12,
    mtime: 1,
    ...extra
  };
}

function listing(
  uri: string,
  entries: IEntry[],
  extra: Partial<IListing> = {}
): IListing {
  return { uri, writable: true, entries, next_token: null, ...extra };
}

function file(name: string, size: number): IFileToUpload {
  return {
    file: { name, size } as Blob & { name: string },
    relativePath: name
  };
}

/** An upload the test finishes by hand: progress(), succeed(), fail(). */
function controllableUploads() {
  const uploads: {
    uri: string;
    progress: (n: number) => void;
    succeed: () => void;
    fail: (e: Error) => void;
    aborted: boolean;
  }[] = [];
  mocked.uploadFile.mockImplementation((uri, body, onProgress) => {
    let resolve: (e: IEntry) => void = () => undefined;
    let reject: (e: Error) => void = () => undefined;
    const done = new Promise<IEntry>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    const u = {
      uri,
      aborted: false,
      progress: (n: number) => onProgress(n, body.size),
      succeed: () => resolve(entry(uri)),
      fail: (e: Error) => reject(e)
    };
    uploads.push(u);
    return {
      done,
      abort: () => {
        u.aborted = true;
        reject(new APIError(0, 'Upload cancelled.', true));
      }
    };
  });
  return uploads;
}

const models: EosModel[] = [];
function make(options: EosModel.IOptions = {}): EosModel {
  const model = new EosModel({ autoStart: false, ...options });
  models.push(model);
  return model;
}

beforeEach(() => resetApi(api));
afterEach(() => models.splice(0).forEach(m => m.dispose()));

it('lists e://users/me/ first, then any folder opened, with its writability', async () => {
  mocked.listFolder.mockResolvedValueOnce(
    listing('e://users/me/', [entry('e://users/me/a.txt')])
  );
  const model = make();
  await model.refresh();
  expect(mocked.listFolder).toHaveBeenCalledWith('e://users/me/', null, 200);
  expect(model.entries.map(e => e.name)).toEqual(['a.txt']);
  expect(model.writable).toBe(true);

  mocked.listFolder.mockResolvedValueOnce(
    listing('e://public/', [], { writable: false })
  );
  await model.cd('e://public');
  expect(model.uri).toBe('e://public/');
  expect(model.writable).toBe(false);
});

it('pages through a large folder with the token the server gave', async () => {
  mocked.listFolder
    .mockResolvedValueOnce(
      listing('e://org/', [entry('e://org/1')], { next_token: 't1' })
    )
    .mockResolvedValueOnce(listing('e://org/', [entry('e://org/2')]));
  const model = make({ uri: 'e://org/' });
  await model.refresh();
  expect(model.hasMore).toBe(true);
  await model.loadMore();
  expect(mocked.listFolder).toHaveBeenLastCalledWith('e://org/', 't1', 200);
  expect(model.entries.map(e => e.name)).toEqual(['1', '2']);
  expect(model.hasMore).toBe(false);
});

it('shows why a folder cannot be listed', async () => {
  mocked.listFolder.mockRejectedValueOnce(
    new APIError(403, 'e://users/bob/secret/ is not yours.')
  );
  const model = make({ uri: 'e://users/bob/secret/' });
  await model.refresh();
  expect(model.error).toBe('e://users/bob/secret/ is not yours.');
});

it('refuses an upload into a read-only folder with a clear message and sends nothing', async () => {
  mocked.listFolder.mockResolvedValue(
    listing('e://public/', [], { writable: false })
  );
  const model = make({ uri: 'e://public/' });
  await model.refresh();
  expect(model.upload([file('a.txt', 3)])).toEqual([]);
  expect(mocked.uploadFile).not.toHaveBeenCalled();
  expect(model.notice?.kind).toBe('error');
  expect(model.notice?.text).toMatch(/e:\/\/public\/ is read-only/);
});

it('uploads files a few at a time, each with its own progress, then lists the folder again', async () => {
  const uploads = controllableUploads();
  mocked.listFolder.mockResolvedValue(listing('e://users/me/', []));
  const model = make({ parallelUploads: 2 });
  await model.refresh();
  const items = model.upload([
    file('a.bin', 100),
    file('b.bin', 200),
    file('c.bin', 50)
  ]);

  expect(uploads.map(u => u.uri)).toEqual([
    'e://users/me/a.bin',
    'e://users/me/b.bin'
  ]);
  expect(items.map(i => i.state)).toEqual(['uploading', 'uploading', 'queued']);
  uploads[0].progress(40);
  expect(items[0].loaded).toBe(40);

  uploads[0].succeed();
  await waitFor(() => uploads.length === 3);
  expect(items[0].state).toBe('done');
  uploads[1].succeed();
  uploads[2].succeed();
  mocked.listFolder.mockClear();
  await model.uploadsSettled;
  expect(items.map(i => i.state)).toEqual(['done', 'done', 'done']);
  expect(mocked.listFolder).toHaveBeenCalledWith('e://users/me/', null, 200);
});

it('uploads a dropped folder below the folder row it was dropped on', async () => {
  const uploads = controllableUploads();
  mocked.listFolder.mockResolvedValue(
    listing('e://users/me/', [entry('e://users/me/in/')])
  );
  const model = make();
  await model.refresh();
  model.upload(
    [{ ...file('x.txt', 1), relativePath: 'dir/sub/x.txt' }],
    'e://users/me/in/'
  );
  expect(uploads[0].uri).toBe('e://users/me/in/dir/sub/x.txt');
  uploads[0].succeed();
  await model.uploadsSettled;
});

it('cancels an upload under way, and one still queued', async () => {
  const uploads = controllableUploads();
  mocked.listFolder.mockResolvedValue(listing('e://users/me/', []));
  const model = make({ parallelUploads: 1 });
  await model.refresh();
  const [running, queued] = model.upload([
    file('big.bin', 1e9),
    file('next.bin', 1)
  ]);
  model.cancelUpload(queued);
  expect(queued.state).toBe('cancelled');
  model.cancelUpload(running);
  expect(uploads[0].aborted).toBe(true);
  await model.uploadsSettled;
  expect(running.state).toBe('cancelled');
  expect(running.error).toBeNull();
  expect(uploads).toHaveLength(1);
  model.clearUploads();
  expect(model.uploads).toEqual([]);
});

it("shows the server's refusal of an upload (403) as the message", async () => {
  const uploads = controllableUploads();
  mocked.listFolder.mockResolvedValue(listing('e://users/me/', []));
  const model = make();
  await model.refresh();
  const [item] = model.upload([file('a.txt', 1)], 'e://users/bob/');
  uploads[0].fail(
    new APIError(
      403,
      'e://users/bob/ belongs to bob: you can read it, not write.'
    )
  );
  await model.uploadsSettled;
  expect(item.state).toBe('failed');
  expect(model.notice?.text).toBe(
    'e://users/bob/ belongs to bob: you can read it, not write.'
  );
});

it('renames within the folder, makes folders, deletes folders recursively', async () => {
  mocked.listFolder.mockResolvedValue(listing('e://users/me/', []));
  mocked.copy.mockResolvedValue(entry('e://users/me/b.txt'));
  mocked.makeFolder.mockResolvedValue(entry('e://users/me/new/'));
  mocked.remove.mockResolvedValue(3);
  const model = make();

  await model.rename(entry('e://users/me/a.txt'), 'b.txt');
  expect(mocked.copy).toHaveBeenCalledWith(
    'e://users/me/a.txt',
    'e://users/me/b.txt',
    true
  );
  await model.rename(entry('e://users/me/dir/'), 'renamed');
  expect(mocked.copy).toHaveBeenLastCalledWith(
    'e://users/me/dir/',
    'e://users/me/renamed/',
    true
  );

  await model.newFolder('new');
  expect(mocked.makeFolder).toHaveBeenCalledWith('e://users/me/new/');

  expect(await model.remove(entry('e://users/me/dir/'))).toBe(3);
  expect(mocked.remove).toHaveBeenCalledWith('e://users/me/dir/', true);
  await model.remove(entry('e://users/me/a.txt'));
  expect(mocked.remove).toHaveBeenLastCalledWith('e://users/me/a.txt', false);
});

it('refuses a bad new name without asking the server', async () => {
  const model = make();
  expect(await model.rename(entry('e://users/me/a.txt'), 'x/y')).toBeNull();
  expect(await model.newFolder('')).toBeNull();
  expect(mocked.copy).not.toHaveBeenCalled();
  expect(mocked.makeFolder).not.toHaveBeenCalled();
  expect(model.notice?.kind).toBe('error');
});

it("shows the server's message when an action fails", async () => {
  mocked.presign.mockRejectedValueOnce(
    new APIError(400, 'Presigned URLs need S3 storage.')
  );
  const model = make();
  expect(await model.presign(entry('e://users/me/a.txt'))).toBeNull();
  expect(model.notice?.text).toBe('Presigned URLs need S3 storage.');
});

it('dismisses the notice about a folder when another folder is opened', async () => {
  mocked.listFolder.mockResolvedValue(
    listing('e://public/', [], { writable: false })
  );
  const model = make({ uri: 'e://public/' });
  await model.refresh();
  model.upload([file('a.txt', 3)]);
  expect(model.notice?.kind).toBe('error');
  mocked.listFolder.mockResolvedValue(listing('e://users/me/', []));
  await model.cd('e://users/me/');
  expect(model.notice).toBeNull();
});

const utf8 = (text: string) => new TextEncoder().encode(text).buffer;

describe('EosDrive (JupyterLab editor and viewers on e:// files)', () => {
  it('opens a text file with its text, read-only where the user may not write', async () => {
    mocked.stat.mockResolvedValue({
      ...entry('e://public/ref.txt'),
      writable: false
    });
    mocked.readBytes.mockResolvedValue(utf8('reference\n'));
    const drive = new EosDrive();
    const model = await drive.get('public/ref.txt', { content: true });
    expect(mocked.stat).toHaveBeenCalledWith('e://public/ref.txt');
    expect(model).toMatchObject({
      name: 'ref.txt',
      path: 'public/ref.txt',
      type: 'file',
      format: 'text',
      content: 'reference\n',
      writable: false
    });
    await expect(
      drive.save('public/ref.txt', { content: 'x', format: 'text' })
    ).rejects.toThrow(/was opened read-only/);
    expect(mocked.writeFile).not.toHaveBeenCalled();
  });

  it('keeps a byte-order mark and CRLF line ends in the text, so saving writes them back', async () => {
    const text = '\ufeffa,b\r\n1,2\r\n';
    mocked.stat.mockResolvedValue({
      ...entry('e://users/me/t.csv'),
      writable: true
    });
    mocked.readBytes.mockResolvedValue(utf8(text));
    const drive = new EosDrive();
    const model = await drive.get('users/me/t.csv', {
      content: true,
      format: 'text'
    });
    expect(model.content).toBe(text);
    mocked.writeFile.mockResolvedValue(entry('e://users/me/t.csv'));
    await drive.save('users/me/t.csv', {
      content: model.content,
      format: 'text'
    });
    expect(mocked.writeFile).toHaveBeenCalledWith('e://users/me/t.csv', text);
  });

  it('refuses to hand out a binary or a too large file as text, saying to download it', async () => {
    const drive = new EosDrive();
    mocked.stat.mockResolvedValue({
      ...entry('e://users/me/x.bin'),
      writable: true
    });
    mocked.readBytes.mockResolvedValue(
      new Uint8Array([0x41, 0xff, 0xfe]).buffer
    );
    await expect(
      drive.get('users/me/x.bin', { content: true, format: 'text' })
    ).rejects.toThrow(/is not a text file.*Download it instead/);
    mocked.readBytes.mockResolvedValue(
      new Uint8Array([0x41, 0x00, 0x42]).buffer
    );
    await expect(
      drive.get('users/me/x.bin', { content: true })
    ).rejects.toThrow(/is not a text file/);

    mocked.readBytes.mockClear();
    mocked.stat.mockResolvedValue({
      ...entry('e://users/me/huge.txt'),
      size: MAX_TEXT_BYTES + 1,
      writable: true
    });
    await expect(
      drive.get('users/me/huge.txt', { content: true, format: 'text' })
    ).rejects.toThrow(/too large to open in JupyterLab/);
    expect(mocked.readBytes).not.toHaveBeenCalled(); // refused before downloading
  });

  it('hands images out as their exact bytes (base64) and saves those bytes back', async () => {
    const bytes = new Uint8Array([
      0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0x80, 0x0d, 0x0a
    ]);
    mocked.stat.mockResolvedValue({
      ...entry('e://users/me/p.png'),
      size: bytes.length,
      writable: true
    });
    mocked.readBytes.mockResolvedValue(bytes.slice().buffer);
    const drive = new EosDrive();
    const model = await drive.get('users/me/p.png', {
      content: true,
      format: 'base64'
    });
    expect(model).toMatchObject({
      format: 'base64',
      mimetype: 'image/png',
      writable: true
    });
    mocked.writeFile.mockResolvedValue(entry('e://users/me/p.png'));
    await drive.save('users/me/p.png', {
      content: model.content,
      format: 'base64'
    });
    const body = mocked.writeFile.mock.calls[0][1] as Blob;
    expect(new Uint8Array(await body.arrayBuffer())).toEqual(bytes);
  });

  it('opens a notebook (re-serialized JSON, not the same bytes) read-only', async () => {
    mocked.stat.mockResolvedValue({
      ...entry('e://users/me/n.ipynb'),
      writable: true
    });
    mocked.readBytes.mockResolvedValue(utf8('{"cells": []}'));
    const drive = new EosDrive();
    const model = await drive.get('users/me/n.ipynb', {
      content: true,
      type: 'notebook'
    });
    expect(model).toMatchObject({ format: 'json', writable: false });
    expect(model.content).toEqual({ cells: [] });
    expect(drive.isReadOnly('users/me/n.ipynb')).toBe(true);
  });

  it('uses bytes the sidebar just read instead of downloading them again', async () => {
    mocked.stat.mockResolvedValue({
      ...entry('e://users/me/a.txt'),
      size: 3,
      writable: true
    });
    const drive = new EosDrive();
    drive.prime('e://users/me/a.txt', utf8('abc'));
    const model = await drive.get('users/me/a.txt', { content: true });
    expect(model.content).toBe('abc');
    expect(mocked.readBytes).not.toHaveBeenCalled();
  });

  it('saves text back to e://', async () => {
    mocked.writeFile.mockResolvedValue(entry('e://users/me/n.txt'));
    const drive = new EosDrive();
    const saved = await drive.save('users/me/n.txt', {
      content: 'hi\n',
      format: 'text'
    });
    expect(mocked.writeFile).toHaveBeenCalledWith('e://users/me/n.txt', 'hi\n');
    expect(saved.writable).toBe(true);
  });
});
