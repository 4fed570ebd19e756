"""Listing, copying, syncing and deleting between local paths and EOS: the SDK behind ``d``.

The ``explorer data`` command (alias ``d``), the server extension and notebooks all call these
functions; they follow the conventions of ``aws s3``:

* ``cp SRC DST``: a local path or an ``e://`` URI on either side. A destination ending in
  ``/`` (or an existing local folder) receives the file under its own name. ``recursive=True``
  copies a whole folder.
* ``sync SRC DST``: copies only what differs (size, or a newer source; ETag for EOS to EOS;
  a same-size download only over a newer local file, as ``aws s3 sync`` does),
  optionally deletes what the source no longer has (``delete=True``).
* ``rm URI``: one object, or a folder with ``recursive=True``.
* ``--exclude`` / ``--include`` filters are glob patterns matched against each path relative to
  the source folder; the last filter that matches wins.

Every location is checked with :func:`explorer_magics.eos.check_access` while the plan is
made, before any byte moves, so a refused write leaves the destination untouched. Work is
done by a pool of threads (many small files at once; a large file also moves in parallel
parts inside the storage backend).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import fnmatch
import os
import re
import stat as stat_mod
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from ..errors import AccessDenied, BackendError, ExplorerError, InvalidPath, NotFound
from ..storage.base import ObjectInfo, Storage
from . import fs
from . import uri as eos
from .fs import FILE, EosEntry, folder_exists, subfolders

#: transfers run at once (small files); large files also split into parallel parts
WORKERS = int(os.environ.get("EXPLORER_TRANSFER_WORKERS") or 16)
#: files at least this large move a few at a time (each in parallel parts)
LARGE_FILE = 16 * 1024 * 1024
LARGE_WORKERS = 2
#: mtimes closer than this are equal (file systems and S3 keep different precisions)
MTIME_SLACK = 1.0
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


# -- locations -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Location:
    """A local path or an EOS location, as the user wrote it (``text``)."""

    text: str
    eos: eos.EosPath | None = None
    path: Path | None = None

    @property
    def is_eos(self) -> bool:
        return self.eos is not None

    @property
    def key(self) -> str:
        assert self.eos is not None
        return self.eos.key

    @property
    def is_dir_hint(self) -> bool:
        """The text names a folder (ends with ``/``, or is an EOS namespace root)."""
        if self.eos is not None:
            return self.eos.is_dir
        return self.text.endswith(("/", os.sep)) or self.text in (".", "..", "~")


def location(text: str, *, user: str) -> Location:
    """Parse a command-line location: ``e://...`` or a local path (``~`` expanded)."""
    if not isinstance(text, str) or not text:
        raise InvalidPath("A location is empty; give a local path or an e:// URI.")
    if eos.is_eos_uri(text):
        return Location(text=text, eos=eos.parse_uri(text, user=user))
    scheme_match = _SCHEME.match(text)
    if scheme_match:
        scheme = scheme_match.group(1)
        raise InvalidPath(
            f"{text!r}: {scheme}:// locations are not supported here; use a local path or an "
            "e:// URI (e://users/me/..., e://org/..., e://public/...)."
        )
    return Location(text=text, path=Path(text).expanduser())


def _join_text(base: str, rel: str) -> str:
    """``base`` (as the user wrote it) joined with a relative path, for messages."""
    if not base.endswith("/"):
        base += "/"
    return base + rel


# -- filters ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Filter:
    """``--exclude PATTERN`` (``include=False``) or ``--include PATTERN``."""

    pattern: str
    include: bool = False


def selected(relpath: str, filters: Sequence[Filter]) -> bool:
    """True unless the last filter matching ``relpath`` is an exclude (aws s3 semantics)."""
    keep = True
    for f in filters:
        if fnmatch.fnmatchcase(relpath, f.pattern):
            keep = f.include
    return keep


# -- plans ------------------------------------------------------------------------------------
UPLOAD, DOWNLOAD, COPY, DELETE = "upload", "download", "copy", "delete"


@dataclasses.dataclass(frozen=True)
class Transfer:
    """One thing to do: ``op`` is upload, download, copy or delete."""

    op: str
    src: str  # as shown to the user
    dst: str | None
    size: int = 0
    mtime: float | None = None  # of the source (downloads keep it)
    src_key: str | None = None
    src_path: str | None = None
    dst_key: str | None = None
    dst_path: str | None = None

    @property
    def is_folder(self) -> bool:
        """A folder to remove once what was in it is gone (a delete of a key ending in ``/``)."""
        return self.op == DELETE and (self.src_key or "").endswith("/")

    def describe(self, *, dryrun: bool = False) -> str:
        """``upload: ./a.txt to e://users/me/a.txt`` (the aws s3 wording)."""
        prefix = "(dryrun) " if dryrun else ""
        if self.dst is None:
            return f"{prefix}{self.op}: {self.src}"
        return f"{prefix}{self.op}: {self.src} to {self.dst}"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a cp/sync/rm will do, worked out (and access-checked) before anything moves."""

    transfers: tuple[Transfer, ...]
    warnings: tuple[str, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(t.size for t in self.transfers if t.op != DELETE)

    @property
    def files(self) -> tuple[Transfer, ...]:
        """The transfers that move or delete files (not the folders a delete removes after them)."""
        return tuple(t for t in self.transfers if not t.is_folder)

    def __len__(self) -> int:
        return len(self.transfers)


@dataclasses.dataclass(frozen=True)
class Result:
    """What happened: transfers done, failed (with the reason), and warnings."""

    done: tuple[Transfer, ...]
    failed: tuple[tuple[Transfer, str], ...]
    warnings: tuple[str, ...] = ()
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


class Reporter(Protocol):
    """Receives progress while a plan runs (methods may be called from worker threads)."""

    def progress(self, nbytes: int) -> None: ...

    def finished(self, item: Transfer, error: str | None) -> None: ...


# -- walking both sides ---------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Item:
    rel: str
    size: int
    mtime: float
    etag: str | None = None
    key: str | None = None
    path: str | None = None


def _walk_local(root: Path, warnings: list[str]) -> Iterator[_Item]:
    """Files below ``root`` (following file symlinks, not folder symlinks), as relative paths."""
    stack = [(root, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            warnings.append(f"warning: Skipping folder {folder}: {exc.strerror or exc}.")
            continue
        for entry in entries:
            name = rel + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), name + "/"))
                    continue
                st = entry.stat()
            except OSError as exc:
                warnings.append(f"warning: Skipping file {entry.path}: {exc.strerror or exc}.")
                continue
            if not stat_mod.S_ISREG(st.st_mode):
                warnings.append(f"warning: Skipping file {entry.path}. File is not a regular file.")
                continue
            try:
                eos.validate_relpath(name, allow_dir=False)
            except InvalidPath as exc:
                warnings.append(f"warning: Skipping file {entry.path}: {exc}")
                continue
            yield _Item(rel=name, size=st.st_size, mtime=st.st_mtime, path=entry.path)


def _walk_eos(storage: Storage, folder: eos.EosPath) -> Iterator[_Item]:
    base = folder.key
    for obj in storage.iter_objects(base):
        yield _Item(rel=obj.key[len(base) :], size=obj.size, mtime=obj.mtime, etag=obj.etag, key=obj.key)


# -- cp ---------------------------------------------------------------------------------------
def plan_cp(
    src: str,
    dst: str,
    *,
    recursive: bool = False,
    filters: Sequence[Filter] = (),
    user: str | None = None,
    storage: Storage | None = None,
) -> Plan:
    """Work out (and access-check) a copy. Raises before anything moves if it cannot be done."""
    user, storage = fs._context(user, storage)
    s, d = location(src, user=user), location(dst, user=user)
    if not s.is_eos and not d.is_eos:
        raise InvalidPath(
            f"Both {src!r} and {dst!r} are local paths; one side must be an e:// URI (use cp/rsync for local copies)."
        )
    if recursive:
        return _plan_tree(s, d, filters=filters, user=user, storage=storage, sync=False, delete=False)
    return Plan((_plan_one(s, d, user=user, storage=storage),))


def _plan_one(s: Location, d: Location, *, user: str, storage: Storage) -> Transfer:
    if s.is_eos:
        assert s.eos is not None
        if s.eos.is_dir:
            raise InvalidPath(f"{s.text} is a folder; add -r (--recursive) to copy a folder.")
        eos.check_access(user, s.key, write=False)
        try:
            info = storage.stat(s.key)
        except NotFound:
            raise NotFound(_missing_message(storage, s)) from None
        basename = s.eos.path.rsplit("/", 1)[-1]
        src_text = s.eos.uri_for(user)
    else:
        assert s.path is not None
        if s.path.is_dir():
            raise InvalidPath(f"{s.text} is a folder; add -r (--recursive) to copy a folder.")
        try:
            st = s.path.stat()
        except FileNotFoundError:
            raise NotFound(f"The local file {s.text} does not exist.") from None
        except OSError as exc:
            raise ExplorerError(f"Cannot read {s.text}: {exc.strerror or exc}.") from exc
        info = ObjectInfo(key="", size=st.st_size, mtime=st.st_mtime)
        basename = s.path.name
        src_text = s.text
    if d.is_eos:
        assert d.eos is not None
        target = d.eos.child(basename) if d.eos.is_dir else d.eos
        eos.validate_relpath(target.path, allow_dir=False, what=f"the destination {d.text!r}")
        eos.check_access(user, target.key, write=True)
        dst_text = target.uri_for(user)
        if s.is_eos:
            return Transfer(COPY, src_text, dst_text, info.size, info.mtime, src_key=s.key, dst_key=target.key)
        return Transfer(UPLOAD, src_text, dst_text, info.size, info.mtime, src_path=str(s.path), dst_key=target.key)
    assert d.path is not None
    path = d.path / basename if (d.is_dir_hint or d.path.is_dir()) else d.path
    dst_text = _join_text(d.text, basename) if (d.is_dir_hint or d.path.is_dir()) else d.text
    return Transfer(DOWNLOAD, src_text, dst_text, info.size, info.mtime, src_key=s.key, dst_path=str(path))


def _missing_message(storage: Storage, s: Location) -> str:
    assert s.eos is not None
    if folder_exists(storage, s.eos.as_folder().key):
        return f"{s.text} is a folder; add -r (--recursive) to copy or delete a folder."
    return f"No object at {s.text}; list what is there with `d ls {s.text.rsplit('/', 1)[0]}/`."


def _plan_tree(
    s: Location,
    d: Location,
    *,
    filters: Sequence[Filter],
    user: str,
    storage: Storage,
    sync: bool,
    delete: bool,
) -> Plan:
    warnings: list[str] = []
    # -- the source side
    if s.is_eos:
        assert s.eos is not None
        src_root = s.eos.as_folder()
        eos.check_access(user, src_root.key, write=False)
        sources = [i for i in _walk_eos(storage, src_root) if selected(i.rel, filters)]
        if not sources and not sync:
            raise NotFound(
                f"Nothing found below {src_root.uri_for(user)}; check it with `d ls {src_root.uri_for(user)}`."
            )
    else:
        assert s.path is not None
        if not s.path.is_dir():
            if s.path.exists():
                raise InvalidPath(f"{s.text} is a file; drop -r to copy one file.")
            raise NotFound(f"The local folder {s.text} does not exist.")
        sources = [i for i in _walk_local(s.path, warnings) if selected(i.rel, filters)]
        if not sources and not sync and not warnings:
            raise NotFound(f"The local folder {s.text} has no files to copy.")
    # -- the destination side
    dests: dict[str, _Item] = {}
    if d.is_eos:
        assert d.eos is not None
        dst_root = d.eos.as_folder()
        eos.check_access(user, dst_root.key, write=True)
        if sync:
            dests = {i.rel: i for i in _walk_eos(storage, dst_root)}
    else:
        assert d.path is not None
        if d.path.exists() and not d.path.is_dir():
            raise InvalidPath(f"{d.text} is a file; give a folder to copy a folder into.")
        if sync and d.path.is_dir():
            dests = {i.rel: i for i in _walk_local(d.path, warnings)}
    src_text = s.eos.as_folder().uri_for(user) if s.eos is not None else s.text
    dst_text = d.eos.as_folder().uri_for(user) if d.eos is not None else d.text
    transfers: list[Transfer] = []
    seen: set[str] = set()
    for item in sorted(sources, key=lambda i: i.rel):
        seen.add(item.rel)
        if sync and item.rel in dests and not _differs(item, dests[item.rel], s.is_eos, d.is_eos):
            continue
        shown_src = _join_text(src_text, item.rel)
        shown_dst = _join_text(dst_text, item.rel)
        if d.is_eos:
            target = dst_root.child(item.rel)
            eos.check_access(user, target.key, write=True)
            if s.is_eos:
                transfers.append(
                    Transfer(COPY, shown_src, shown_dst, item.size, item.mtime, src_key=item.key, dst_key=target.key)
                )
            else:
                transfers.append(
                    Transfer(
                        UPLOAD, shown_src, shown_dst, item.size, item.mtime, src_path=item.path, dst_key=target.key
                    )
                )
        else:
            assert d.path is not None
            target_path = d.path.joinpath(*item.rel.split("/"))
            transfers.append(
                Transfer(
                    DOWNLOAD, shown_src, shown_dst, item.size, item.mtime, src_key=item.key, dst_path=str(target_path)
                )
            )
    if delete:
        for rel, item in sorted(dests.items()):
            if rel in seen or not selected(rel, filters):
                continue
            shown = _join_text(dst_text, rel)
            if d.is_eos:
                transfers.append(Transfer(DELETE, shown, None, item.size, src_key=item.key))
            else:
                transfers.append(Transfer(DELETE, shown, None, item.size, src_path=item.path))
    return Plan(tuple(transfers), tuple(warnings))


def _differs(src: _Item, dst: _Item, src_eos: bool, dst_eos: bool) -> bool:
    """aws s3 sync's rule: copy when the size differs or the source is newer. EOS to EOS, equal
    ETags mean equal content whatever the times say. A download (EOS to a local folder) of the
    same size happens only when the local file is the newer one, as ``aws s3 sync`` does without
    ``--exact-timestamps``: downloads carry the object's time, while an object just uploaded
    from a local file is always newer than that file (by as long as the upload took)."""
    if src.size != dst.size:
        return True
    if src_eos and dst_eos and src.etag and src.etag == dst.etag:
        return False
    if src_eos and not dst_eos:
        return dst.mtime > src.mtime + MTIME_SLACK
    return src.mtime > dst.mtime + MTIME_SLACK


# -- sync -------------------------------------------------------------------------------------
def plan_sync(
    src: str,
    dst: str,
    *,
    delete: bool = False,
    filters: Sequence[Filter] = (),
    user: str | None = None,
    storage: Storage | None = None,
) -> Plan:
    """Work out what ``sync`` must copy (and delete, with ``delete=True``)."""
    user, storage = fs._context(user, storage)
    s, d = location(src, user=user), location(dst, user=user)
    if not s.is_eos and not d.is_eos:
        raise InvalidPath(f"Both {src!r} and {dst!r} are local paths; one side must be an e:// URI.")
    if s.eos is not None and not s.eos.is_dir:
        s = dataclasses.replace(s, eos=s.eos.as_folder())
    return _plan_tree(s, d, filters=filters, user=user, storage=storage, sync=True, delete=delete)


# -- rm ---------------------------------------------------------------------------------------
def plan_rm(
    uri: str,
    *,
    recursive: bool = False,
    filters: Sequence[Filter] = (),
    user: str | None = None,
    storage: Storage | None = None,
) -> Plan:
    """Work out (and access-check) a delete."""
    user, storage = fs._context(user, storage)
    loc = location(uri, user=user)
    if not loc.is_eos:
        raise InvalidPath(f"{uri!r} is not an e:// URI; d rm deletes EOS objects only (use rm for local files).")
    assert loc.eos is not None
    if not recursive:
        if loc.eos.is_dir:
            raise InvalidPath(f"{uri} is a folder; add -r (--recursive) to delete everything in it.")
        eos.check_access(user, loc.key, write=True)
        try:
            info = storage.stat(loc.key)
        except NotFound:
            raise NotFound(_missing_message(storage, loc)) from None
        return Plan((Transfer(DELETE, loc.eos.uri_for(user), None, info.size, src_key=loc.key),))
    root = loc.eos.as_folder()
    eos.check_access(user, root.key, write=True)
    transfers = []
    for item in _walk_eos(storage, root):
        if item.rel == "" or item.rel.endswith("/"):
            continue  # a folder marker: removed with its folder below
        if selected(item.rel, filters):
            eos.check_access(user, item.key or "", write=True)
            transfers.append(
                Transfer(DELETE, _join_text(root.uri_for(user), item.rel), None, item.size, src_key=item.key)
            )
    transfers.extend(_folder_deletes(storage, root, filters, user=user))
    return Plan(tuple(transfers))


def _folder_deletes(storage: Storage, root: eos.EosPath, filters: Sequence[Filter], *, user: str) -> list[Transfer]:
    """THE folder rule of a recursive delete (``d rm -r``, the SDK, the server): after the files,
    every folder below ``root`` that the filters select, deepest first, then ``root`` itself
    (not a namespace root). Removing a folder takes away its marker (an empty directory, an S3
    ``key/`` object), so an emptied folder disappears at once from listings (SeaweedFS keeps
    showing an emptied folder for minutes otherwise); a folder that still holds files is not
    affected (a directory is only removed when empty; on S3 the files keep it)."""
    base = root.uri_for(user)
    deletes = []
    for key in subfolders(storage, root.key):
        rel = key[len(root.key) :]
        if selected(rel, filters):
            eos.check_access(user, key, write=True)
            deletes.append(Transfer(DELETE, _join_text(base, rel), None, 0, src_key=key))
    if root.path != "" and folder_exists(storage, root.key):
        deletes.append(Transfer(DELETE, base, None, 0, src_key=root.key))
    return deletes


# -- running a plan ---------------------------------------------------------------------------
def run(
    plan: Plan,
    *,
    storage: Storage | None = None,
    reporter: Reporter | None = None,
    dryrun: bool = False,
    workers: int = WORKERS,
) -> Result:
    """Do what ``plan`` says, ``workers`` transfers at a time; deletes go in batches.

    A failed transfer does not stop the others (``aws s3`` behaves the same); the result lists
    every failure with its reason.
    """
    storage = fs._context(None, storage)[1]
    if dryrun:
        for item in plan.transfers:
            if reporter:
                reporter.finished(item, None)
        return Result(done=(), failed=(), warnings=plan.warnings)
    done: list[Transfer] = []
    failed: list[tuple[Transfer, str]] = []
    lock = threading.Lock()
    moved = [0]

    def progress(n: int) -> None:
        with lock:
            moved[0] += n
        if reporter:
            reporter.progress(n)

    def finish(item: Transfer, error: str | None) -> None:
        with lock:
            if error is None:
                done.append(item)
            else:
                failed.append((item, error))
        if reporter:
            reporter.finished(item, error)

    copies = [t for t in plan.transfers if t.op != DELETE]
    remote_deletes = [t for t in plan.transfers if t.op == DELETE and t.src_key is not None and not t.is_folder]
    local_deletes = [t for t in plan.transfers if t.op == DELETE and t.src_key is None]
    folder_deletes = [t for t in plan.transfers if t.is_folder]

    def one(item: Transfer) -> None:
        try:
            _do(storage, item, progress)
        except ExplorerError as exc:
            finish(item, str(exc))
        except OSError as exc:
            finish(item, f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        except Exception as exc:  # noqa: BLE001 - report it with the file, carry on with the rest
            finish(item, f"{type(exc).__name__}: {exc}")
        else:
            finish(item, None)

    # Small files many at a time; large ones (each already split into parallel parts by the
    # storage backend) a few at a time, so threads and buffers stay bounded.
    small = [t for t in copies if t.size < LARGE_FILE]
    large = [t for t in copies if t.size >= LARGE_FILE]
    small = _in_batches(storage, small, progress, finish)
    _in_pool(one, small, workers)
    _in_pool(one, large, LARGE_WORKERS)
    for start in range(0, len(remote_deletes), 1000):
        batch = remote_deletes[start : start + 1000]
        try:
            storage.delete_many([t.src_key for t in batch if t.src_key])
        except ExplorerError as exc:
            for item in batch:
                finish(item, str(exc))
        else:
            for item in batch:
                finish(item, None)
    for item in local_deletes:
        try:
            os.unlink(item.src_path or "")
        except OSError as exc:
            finish(item, exc.strerror or str(exc))
        else:
            finish(item, None)
    for item in folder_deletes:  # deepest first, after the files (plan_rm's order)
        try:
            storage.delete(item.src_key or "")
        except ExplorerError as exc:
            finish(item, str(exc))
        else:
            finish(item, None)
    return Result(done=tuple(done), failed=tuple(failed), warnings=plan.warnings, bytes=moved[0])


def _in_pool(work: Callable[[Transfer], None], items: list[Transfer], workers: int) -> None:
    if len(items) <= 1 or workers <= 1:
        for item in items:
            work(item)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            for future in futures:
                future.result()
        except BaseException:  # Ctrl-C: start no new transfers
            for future in futures:
                future.cancel()
            raise


def _in_batches(
    storage: Storage,
    items: list[Transfer],
    progress: Callable[[int], None],
    finish: Callable[[Transfer, str | None], None],
) -> list[Transfer]:
    """Small uploads and downloads through the backend's batch path first, where it has one
    (S3: AWS's C runtime); the transfers it did not do, for one by one."""
    uploads = [t for t in items if t.op == UPLOAD and t.src_path and t.dst_key]
    downloads = [t for t in items if t.op == DOWNLOAD and t.src_key and t.dst_path]
    done: list[bool] = []
    if len(uploads) > 1:
        done += storage.upload_small_files([(t.src_path or "", t.dst_key or "") for t in uploads], progress=progress)
    else:
        uploads = []
    if len(downloads) > 1:
        files = [(t.src_key or "", t.dst_path or "", t.size) for t in downloads]
        done += storage.download_small_files(files, progress=progress)
    else:
        downloads = []
    sent = {id(t) for t, ok in zip([*uploads, *downloads], done, strict=True) if ok}
    for item in items:
        if id(item) not in sent:
            continue
        try:
            _keep_time(item)
        except OSError as exc:
            finish(item, exc.strerror or str(exc))
        else:
            finish(item, None)
    return [t for t in items if id(t) not in sent]


def _keep_time(item: Transfer) -> None:
    """Like aws s3: a downloaded file carries the object's time, so sync sees it as current."""
    if item.op == DOWNLOAD and item.mtime is not None and item.dst_path:
        os.utime(item.dst_path, (item.mtime, item.mtime))


def _do(storage: Storage, item: Transfer, progress: Callable[[int], None]) -> None:
    if item.op == UPLOAD:
        assert item.src_path and item.dst_key
        storage.upload_file(item.src_path, item.dst_key, progress=progress)
    elif item.op == DOWNLOAD:
        assert item.src_key and item.dst_path
        storage.download_file(item.src_key, item.dst_path, progress=progress)
        _keep_time(item)
    elif item.op == COPY:
        assert item.src_key and item.dst_key
        storage.copy(item.src_key, item.dst_key)
        progress(item.size)
    else:  # pragma: no cover - deletes are batched by run()
        raise ExplorerError(f"Unknown transfer {item.op!r}.")


# -- copying, moving and deleting files or whole folders (the file browser's operations) ----
def _run_or_raise(plan: Plan, storage: Storage) -> int:
    """Run ``plan``; raise on the first failure; the number of files it moved or deleted."""
    result = run(plan, storage=storage)
    if result.failed:
        item, reason = result.failed[0]
        raise BackendError(f"{len(result.failed)} of {len(plan)} operation(s) failed, e.g. {item.describe()}: {reason}")
    return sum(1 for t in result.done if not t.is_folder)


def copy(
    src: str,
    dst: str,
    *,
    move: bool = False,
    user: str | None = None,
    storage: Storage | None = None,
) -> EosEntry:
    """Copy (``move=True``: rename) the file or folder ``src`` to ``dst``; folders recursively.

    A ``dst`` ending in ``/`` receives a file under its own name; otherwise ``dst`` is the new
    name. An existing file at ``dst`` is replaced (as ``aws s3 cp`` does). A folder cannot be
    copied into itself. Returns the entry at the destination.
    """
    user, storage = fs._context(user, storage)
    s = fs.parse(src, user=user)
    d = fs.parse(dst, user=user)
    eos.check_access(user, s.key, write=bool(move))
    if move and s.path == "":
        raise InvalidPath(f"{src} is a namespace root; it cannot be moved.")
    kind = fs.kind(storage, s)
    if kind is None:
        raise NotFound(f"Nothing at {s.uri_for(user)}.")
    if kind == FILE:
        target = d.child(fs._basename(s)) if d.is_dir else d
        eos.check_access(user, target.key, write=True)
        if target.key == s.key:
            raise InvalidPath(f"{src} and {dst} are the same file.")
        if folder_exists(storage, target.key + "/"):
            raise InvalidPath(f"{target.uri_for(user)} is a folder; give the new file name.")
        storage.copy(s.key, target.key)  # (checked above: no second look at the source)
        if move:
            storage.delete(s.key)
        info = storage.stat(target.key)
        return fs._file_entry(target, user, info.size, info.mtime)
    sf, df = s.as_folder(), d.as_folder()
    eos.check_access(user, df.key, write=True)
    if df.key.startswith(sf.key):
        raise InvalidPath(f"{df.uri_for(user)} is inside {sf.uri_for(user)}; a folder cannot be copied into itself.")
    if df.path == "":
        raise InvalidPath(f"{dst} is a namespace root; copy into a folder below it.")
    if storage.exists(fs._as_file(df).key):
        raise InvalidPath(f"A file is called {fs._as_file(df).uri_for(user)}; choose another folder name.")
    below = subfolders(storage, sf.key)
    try:
        plan = plan_cp(sf.uri, df.uri, recursive=True, user=user, storage=storage)
    except NotFound:  # an empty folder (perhaps with empty sub-folders)
        plan = Plan(())
    _run_or_raise(plan, storage)
    storage.put_bytes(df.key, b"")
    for sub in below:
        storage.put_bytes(df.key + sub[len(sf.key) :], b"")
    if move:
        _run_or_raise(plan_rm(sf.uri, recursive=True, user=user, storage=storage), storage)
    return fs._folder_entry(df, user)


def delete(uri: str, *, recursive: bool = False, user: str | None = None, storage: Storage | None = None) -> int:
    """Delete the file ``uri``, or the folder ``uri`` and everything in it (``recursive=True``
    is required for a folder). Returns how many files were deleted."""
    user, storage = fs._context(user, storage)
    loc = fs.parse(uri, user=user)
    eos.check_access(user, loc.key, write=True)
    if loc.path.strip("/") == "":
        raise InvalidPath(f"{uri} is a namespace root; delete the folders inside it instead.")
    kind = fs.kind(storage, loc)
    if kind is None:
        raise NotFound(f"Nothing at {loc.uri_for(user)}.")
    if kind == FILE:
        storage.delete(loc.key)
        return 1
    folder = loc.as_folder()
    if not recursive:
        raise InvalidPath(f"{folder.uri_for(user)} is a folder; delete it with recursive=1 (everything in it goes).")
    return _run_or_raise(plan_rm(folder.uri, recursive=True, user=user, storage=storage), storage)


# -- one-call conveniences --------------------------------------------------------------------
def cp(
    src: str,
    dst: str,
    *,
    recursive: bool = False,
    filters: Sequence[Filter] = (),
    dryrun: bool = False,
    reporter: Reporter | None = None,
) -> Result:
    """Copy ``src`` to ``dst`` (local <-> EOS, EOS <-> EOS)."""
    return run(plan_cp(src, dst, recursive=recursive, filters=filters), reporter=reporter, dryrun=dryrun)


def sync(
    src: str,
    dst: str,
    *,
    delete: bool = False,
    filters: Sequence[Filter] = (),
    dryrun: bool = False,
    reporter: Reporter | None = None,
) -> Result:
    """Make ``dst`` hold what ``src`` holds, copying only what changed."""
    return run(plan_sync(src, dst, delete=delete, filters=filters), reporter=reporter, dryrun=dryrun)


def rm(
    uri: str,
    *,
    recursive: bool = False,
    filters: Sequence[Filter] = (),
    dryrun: bool = False,
    reporter: Reporter | None = None,
) -> Result:
    """Delete an object (or, with ``recursive=True``, everything below a folder)."""
    return run(plan_rm(uri, recursive=recursive, filters=filters), reporter=reporter, dryrun=dryrun)


__all__ = [
    "AccessDenied",
    "Filter",
    "Location",
    "Plan",
    "Reporter",
    "Result",
    "Transfer",
    "copy",
    "cp",
    "delete",
    "location",
    "plan_cp",
    "plan_rm",
    "plan_sync",
    "rm",
    "run",
    "selected",
    "sync",
]
