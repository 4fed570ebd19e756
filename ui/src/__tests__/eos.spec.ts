/**
 * The Files section's model: listing and paging a folder, the actions of its context menu,
 * and uploads (progress per file, cancel, the read-only refusal).
 */
jest.mock('../api', () => require('./mockapi').mockApi());

import * as api from '../api';
import { APIError, IEntry, IListing } from '../api';
import { EosModel, IFileToUpload } from '../eos';
import { EosDrive } from '../drive';
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

describe('EosDrive (JupyterLab editor on e:// files)', () => {
  it('opens a file with its text, read-only where the user may not write', async () => {
    mocked.stat.mockResolvedValue({
      ...entry('e://public/ref.txt'),
      writable: false
    });
    mocked.readText.mockResolvedValue('reference\n');
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
  });

  it('saves text back to e://', async () => {
    mocked.writeText.mockResolvedValue(entry('e://users/me/n.txt'));
    const drive = new EosDrive();
    const saved = await drive.save('users/me/n.txt', {
      content: 'hi\n',
      format: 'text'
    });
    expect(mocked.writeText).toHaveBeenCalledWith('e://users/me/n.txt', 'hi\n');
    expect(saved.writable).toBe(true);
  });
});
