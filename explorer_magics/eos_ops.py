"""EOS as a file browser sees it: folders, stat, streamed reads and writes, make folder, copy,
move and delete, each checked with :func:`explorer_magics.eos.check_access` first.

The server extension's EOS routes are a thin face over these functions (the CLI's ``d`` uses
:mod:`explorer_magics.eos_transfer`, which these build on). Conventions:

* a URI ending in ``/`` names a folder; a URI without one names a file, or a folder when no
  file has that name (``stat``, ``copy`` and ``delete`` find out which);
* folders exist when something is stored below them, or when they were made empty with
  :func:`make_folder` (a directory on local storage, a ``key/`` marker object on S3);
* nothing is read or written before the access rule and the path rules have passed, and a
  write that fails or is abandoned leaves nothing behind (``storage.open_write``).
"""

from __future__ import annotations

import dataclasses
from typing import BinaryIO

from . import eos, eos_transfer, session
from .eos_transfer import folder_exists
from .errors import AccessDenied, BackendError, ExplorerError, InvalidPath, NotFound
from .storage.base import Storage

FILE, FOLDER = "file", "folder"
#: listings return at most this many entries per page (S3's own page size)
MAX_PAGE = 1000
_PSEUDO_ROOTS = ("e://", "e:///", "e://users", "e://users/")


@dataclasses.dataclass(frozen=True)
class EosEntry:
    """One file or folder. ``uri`` is written as the user writes it (``e://users/me/...``);
    a folder's ends with ``/`` and its ``name`` does not."""

    name: str
    uri: str
    type: str  # FILE | FOLDER
    size: int | None = None
    mtime: float | None = None

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Listing:
    """One page of a folder."""

    uri: str
    writable: bool
    entries: tuple[EosEntry, ...]
    next_token: str | None


def parse(uri: str, *, user: str) -> eos.EosPath:
    """:func:`explorer_magics.eos.parse_uri` (which also refuses encoded escapes)."""
    return eos.parse_uri(uri, user=user)


def _context(user: str | None, storage: Storage | None) -> tuple[str, Storage]:
    return user or session.settings().user, storage or session.storage()


def _as_file(loc: eos.EosPath) -> eos.EosPath:
    return dataclasses.replace(loc, path=loc.path.rstrip("/"))


def _basename(loc: eos.EosPath) -> str:
    return loc.path.rstrip("/").rsplit("/", 1)[-1]


def _file_entry(loc: eos.EosPath, user: str, size: int, mtime: float) -> EosEntry:
    return EosEntry(name=_basename(loc), uri=loc.uri_for(user), type=FILE, size=size, mtime=mtime)


def _folder_entry(loc: eos.EosPath, user: str) -> EosEntry:
    folder = loc.as_folder()
    name = _basename(folder) or (
        folder.owner if folder.namespace == "users" and folder.path == "" else folder.namespace
    )
    return EosEntry(name=name or "", uri=folder.uri_for(user), type=FOLDER)


def can_write(loc: eos.EosPath, *, user: str) -> bool:
    """True if ``user`` may change ``loc`` (the access rule, asked without raising)."""
    try:
        eos.check_access(user, loc.key, write=True)
    except AccessDenied:
        return False
    return True


def writable(uri: str, *, user: str | None = None) -> bool:
    """True if ``user`` may create, change or delete things at ``uri``."""
    user = user or session.settings().user
    if uri.rstrip("/") in ("e:", "e://users"):
        return False
    return can_write(parse(uri, user=user), user=user)


def _exists_as_folder(storage: Storage, loc: eos.EosPath) -> bool:
    folder = loc.as_folder()
    if folder.path == "":
        return True  # a namespace root always exists (it may be empty)
    return folder_exists(storage, folder.key)


# -- reading --------------------------------------------------------------------------------
def list_folder(
    uri: str,
    *,
    token: str | None = None,
    limit: int = 200,
    user: str | None = None,
    storage: Storage | None = None,
) -> Listing:
    """One page of the folder ``uri`` (a trailing ``/`` is implied), in key order.

    ``e://`` lists the namespaces and ``e://users/`` the users who have files. Pages are
    listed from storage one at a time (a folder of 100,000 keys is never loaded whole);
    pass ``next_token`` back as ``token`` for the next one. :class:`NotFound` if the folder
    does not exist.
    """
    user, storage = _context(user, storage)
    if not 1 <= limit <= MAX_PAGE:
        raise ExplorerError(f"limit must be between 1 and {MAX_PAGE}, not {limit}.")
    if uri in _PSEUDO_ROOTS or uri.rstrip("/") in ("e:", "e://users"):
        shown = "e://" if uri.rstrip("/") == "e:" else "e://users/"
        page = eos_transfer.list_page(shown, token=token, limit=limit, user=user, storage=storage)
        entries = tuple(EosEntry(name=e.name.rstrip("/"), uri=e.uri, type=FOLDER) for e in page.entries)
        return Listing(uri=shown, writable=False, entries=entries, next_token=page.next_token)
    loc = parse(uri, user=user).as_folder()
    eos.check_access(user, loc.key, write=False)
    shown = loc.uri_for(user)
    page = eos_transfer.list_page(shown, token=token, limit=limit, user=user, storage=storage)
    entries = tuple(
        EosEntry(
            name=e.name.rstrip("/"),
            uri=e.uri,
            type=FOLDER if e.is_dir else FILE,
            size=None if e.is_dir else e.size,
            mtime=None if e.is_dir else e.mtime,
        )
        for e in page.entries
    )
    if not entries and token is None and not _exists_as_folder(storage, loc):
        raise NotFound(f"No folder {shown}; list its parent to see what is there.")
    return Listing(uri=shown, writable=can_write(loc, user=user), entries=entries, next_token=page.next_token)


def stat(uri: str, *, user: str | None = None, storage: Storage | None = None) -> EosEntry:
    """The file or folder at ``uri``. :class:`NotFound` if there is neither."""
    user, storage = _context(user, storage)
    loc = parse(uri, user=user)
    eos.check_access(user, loc.key, write=False)
    if not loc.is_dir:
        try:
            info = storage.stat(loc.key)
        except NotFound:
            pass
        else:
            return _file_entry(loc, user, info.size, info.mtime)
    if _exists_as_folder(storage, loc):
        return _folder_entry(loc, user)
    raise NotFound(f"Nothing at {loc.uri_for(user)}.")


def open_read(uri: str, *, user: str | None = None, storage: Storage | None = None) -> tuple[EosEntry, BinaryIO]:
    """(the entry, a binary stream of its bytes) for the file ``uri``; close the stream."""
    user, storage = _context(user, storage)
    loc = parse(uri, user=user)
    eos.check_access(user, loc.key, write=False)
    if loc.is_dir:
        raise InvalidPath(f"{uri} is a folder; only files can be downloaded.")
    try:
        info = storage.stat(loc.key)
    except NotFound:
        if _exists_as_folder(storage, loc):
            raise InvalidPath(f"{loc.uri_for(user)} is a folder; only files can be downloaded.") from None
        raise NotFound(f"No file at {loc.uri_for(user)}.") from None
    return _file_entry(loc, user, info.size, info.mtime), storage.open_read(loc.key)


def can_presign(storage: Storage) -> bool:
    """True if ``storage`` can make URLs anyone can download from (S3 can, a directory cannot)."""
    return storage.capabilities.presign


def presign(
    uri: str, *, expires_seconds: int = 48 * 3600, user: str | None = None, storage: Storage | None = None
) -> str:
    """A URL anyone can download the file with, until it expires. Storage that cannot make
    such URLs (a local directory) is refused with :class:`~explorer_magics.errors.Unsupported`."""
    user, storage = _context(user, storage)
    parse(uri, user=user)  # the encoded-escape rule, before anything else
    return eos_transfer.presign(uri, expires_seconds=expires_seconds, user=user, storage=storage)


# -- writing --------------------------------------------------------------------------------
def open_write(uri: str, *, user: str | None = None, storage: Storage | None = None) -> tuple[eos.EosPath, BinaryIO]:
    """(the location, a writer) for a new content of the file ``uri``.

    Checks everything first (path, access, not a folder). The writer stores the object
    atomically on ``close()``; ``abort()`` (or an exception in a ``with`` block) stores nothing.
    """
    user, storage = _context(user, storage)
    loc = parse(uri, user=user)
    if loc.is_dir:
        raise InvalidPath(f"{uri} names a folder (it ends with '/'); give the file's full name.")
    eos.check_access(user, loc.key, write=True)
    if folder_exists(storage, loc.key + "/"):
        raise InvalidPath(f"{loc.uri_for(user)} is a folder; choose another name for the file.")
    return loc, storage.open_write(loc.key)


def make_folder(uri: str, *, user: str | None = None, storage: Storage | None = None) -> EosEntry:
    """Create the (empty) folder ``uri``; nothing happens if it exists already."""
    user, storage = _context(user, storage)
    loc = parse(uri, user=user).as_folder()
    if loc.path == "":
        raise InvalidPath(f"{uri} is a namespace root; it exists already.")
    eos.check_access(user, loc.key, write=True)
    if storage.exists(_as_file(loc).key):
        raise InvalidPath(f"A file is called {_as_file(loc).uri_for(user)}; choose another folder name.")
    storage.put_bytes(loc.key, b"")
    return _folder_entry(loc, user)


def _run(plan: eos_transfer.Plan, storage: Storage) -> int:
    """Run ``plan``; raise on the first failure; the number of files it moved or deleted."""
    result = eos_transfer.run(plan, storage=storage)
    if result.failed:
        item, reason = result.failed[0]
        raise BackendError(f"{len(result.failed)} of {len(plan)} operation(s) failed, e.g. {item.describe()}: {reason}")
    return sum(1 for t in result.done if not t.is_folder)


def _kind(storage: Storage, loc: eos.EosPath) -> str | None:
    """FILE or FOLDER for what ``loc`` names (a URI ending in ``/`` is a folder; otherwise a
    file, or a folder when no file has that name), or None when nothing is there."""
    if not loc.is_dir and storage.exists(loc.key):
        return FILE
    return FOLDER if _exists_as_folder(storage, loc) else None


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
    user, storage = _context(user, storage)
    s = parse(src, user=user)
    d = parse(dst, user=user)
    eos.check_access(user, s.key, write=bool(move))
    if move and s.path == "":
        raise InvalidPath(f"{src} is a namespace root; it cannot be moved.")
    kind = _kind(storage, s)
    if kind is None:
        raise NotFound(f"Nothing at {s.uri_for(user)}.")
    if kind == FILE:
        target = d.child(_basename(s)) if d.is_dir else d
        eos.check_access(user, target.key, write=True)
        if target.key == s.key:
            raise InvalidPath(f"{src} and {dst} are the same file.")
        if folder_exists(storage, target.key + "/"):
            raise InvalidPath(f"{target.uri_for(user)} is a folder; give the new file name.")
        storage.copy(s.key, target.key)  # (checked above: no second look at the source)
        if move:
            storage.delete(s.key)
        info = storage.stat(target.key)
        return _file_entry(target, user, info.size, info.mtime)
    sf, df = s.as_folder(), d.as_folder()
    eos.check_access(user, df.key, write=True)
    if df.key.startswith(sf.key):
        raise InvalidPath(f"{df.uri_for(user)} is inside {sf.uri_for(user)}; a folder cannot be copied into itself.")
    if df.path == "":
        raise InvalidPath(f"{dst} is a namespace root; copy into a folder below it.")
    if storage.exists(_as_file(df).key):
        raise InvalidPath(f"A file is called {_as_file(df).uri_for(user)}; choose another folder name.")
    subfolders = eos_transfer.subfolders(storage, sf.key)
    try:
        plan = eos_transfer.plan_cp(sf.uri, df.uri, recursive=True, user=user, storage=storage)
    except NotFound:  # an empty folder (perhaps with empty sub-folders)
        plan = eos_transfer.Plan(())
    _run(plan, storage)
    storage.put_bytes(df.key, b"")
    for sub in subfolders:
        storage.put_bytes(df.key + sub[len(sf.key) :], b"")
    if move:
        _run(eos_transfer.plan_rm(sf.uri, recursive=True, user=user, storage=storage), storage)
    return _folder_entry(df, user)


def delete(uri: str, *, recursive: bool = False, user: str | None = None, storage: Storage | None = None) -> int:
    """Delete the file ``uri``, or the folder ``uri`` and everything in it (``recursive=True``
    is required for a folder). Returns how many files were deleted."""
    user, storage = _context(user, storage)
    loc = parse(uri, user=user)
    eos.check_access(user, loc.key, write=True)
    if loc.path.strip("/") == "":
        raise InvalidPath(f"{uri} is a namespace root; delete the folders inside it instead.")
    kind = _kind(storage, loc)
    if kind is None:
        raise NotFound(f"Nothing at {loc.uri_for(user)}.")
    if kind == FILE:
        storage.delete(loc.key)
        return 1
    folder = loc.as_folder()
    if not recursive:
        raise InvalidPath(f"{folder.uri_for(user)} is a folder; delete it with recursive=1 (everything in it goes).")
    return _run(eos_transfer.plan_rm(folder.uri, recursive=True, user=user, storage=storage), storage)


__all__ = [
    "EosEntry",
    "Listing",
    "can_presign",
    "can_write",
    "copy",
    "delete",
    "folder_exists",
    "list_folder",
    "make_folder",
    "open_read",
    "open_write",
    "parse",
    "presign",
    "stat",
    "writable",
]
