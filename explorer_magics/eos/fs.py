"""EOS as a file browser sees it: list, stat, streamed reads and writes, make folder, shareable
URLs, and the folder rules; each call checked with :func:`explorer_magics.eos.check_access` first.

The server extension's EOS routes and ``d ls`` are thin faces over these functions; copying,
moving and deleting (one file or whole folders) are in :mod:`explorer_magics.eos.transfer`.
Conventions:

* a URI ending in ``/`` names a folder; a URI without one names a file, or a folder when no
  file has that name (``stat``, ``copy`` and ``delete`` find out which, with :func:`kind`);
* folders exist when something is stored below them, or when they were made empty with
  :func:`make_folder` (a directory on local storage, a ``key/`` marker object on S3);
* nothing is read or written before the access rule and the path rules have passed, and a
  write that fails or is abandoned leaves nothing behind (``storage.open_write``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import BinaryIO

from ..errors import AccessDenied, ExplorerError, InvalidPath, NotFound
from ..session import Session, or_default
from ..storage.base import Storage
from . import uri as eos

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


def _context(user: str | None, storage: Storage | None, session: Session | None = None) -> tuple[str, Storage]:
    """The user and storage a call acts as: those given, else ``session``'s (default: the
    process's, for a caller such as a notebook that passed neither)."""
    return (
        user if user is not None else or_default(session).user,
        storage if storage is not None else or_default(session).storage,
    )


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
    user = user or or_default(None).user
    if uri.rstrip("/") in ("e:", "e://users"):
        return False
    return can_write(parse(uri, user=user), user=user)


def _exists_as_folder(storage: Storage, loc: eos.EosPath) -> bool:
    folder = loc.as_folder()
    if folder.path == "":
        return True  # a namespace root always exists (it may be empty)
    return folder_exists(storage, folder.key)


# -- folders -------------------------------------------------------------------------------
# What a folder is, for every backend: a key prefix ending in "/" that has something below it
# (a directory, or keys below the prefix on S3), or that was made empty with make_folder (an
# empty directory, an S3 "key/" marker object). A recursive delete removes the folders too
# (transfer.plan_rm), so an emptied folder disappears from listings at once.
def folder_exists(storage: Storage, key: str) -> bool:
    """True if the folder ``key`` (ending in ``/``) holds something or was made empty."""
    if not key.endswith("/"):
        raise InvalidPath(f"{key!r} is not a folder key (no trailing '/').")
    page = storage.list_page(key, delimiter="/", limit=1)
    if page.objects or page.prefixes:
        return True
    # An empty folder shows only in its parent's listing (a directory / an S3 marker object).
    # Names that sort before "name/" ("name.txt", "name-2", ...) come first: page past them.
    stem = key[:-1]
    token: str | None = None
    while True:
        page = storage.list_page(stem, delimiter="/", token=token, limit=1000)  # (S3's page size)
        if key in page.prefixes:
            return True
        seen = [o.key for o in page.objects] + list(page.prefixes)
        if page.next_token is None or any(k > key for k in seen):
            return False
        token = page.next_token


def subfolders(storage: Storage, key: str) -> list[str]:
    """Every folder key below the folder ``key`` (not ``key`` itself), deepest first, found with
    delimiter listings: empty directories, S3 folder markers and folders implied by keys alike."""
    found: list[str] = []
    todo = [key]
    while todo:
        current = todo.pop()
        for prefix in storage.iter_prefixes(current):
            found.append(prefix)
            todo.append(prefix)
    return sorted(found, key=lambda k: (-k.count("/"), k))


def kind(storage: Storage, loc: eos.EosPath) -> str | None:
    """FILE or FOLDER for what ``loc`` names (a URI ending in ``/`` is a folder; otherwise a
    file, or a folder when no file has that name), or None when nothing is there."""
    if not loc.is_dir and storage.exists(loc.key):
        return FILE
    return FOLDER if _exists_as_folder(storage, loc) else None


# -- listing in aws s3 ls terms (d ls) -------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Entry:
    """One line of a listing: a folder (``name`` ends with ``/``) or an object."""

    name: str  # relative to the listed folder (recursive: to the namespace root)
    uri: str  # the full e:// URI, as the user would write it
    is_dir: bool
    size: int | None = None
    mtime: float | None = None
    etag: str | None = None


@dataclasses.dataclass(frozen=True)
class EntryPage:
    entries: tuple[Entry, ...]
    next_token: str | None


def list_page(
    uri: str,
    *,
    recursive: bool = False,
    token: str | None = None,
    limit: int = 1000,
    user: str | None = None,
    storage: Storage | None = None,
) -> EntryPage:
    """One page of what is at ``uri`` (``aws s3 ls`` semantics: ``e://users/me/dir/`` lists the
    folder, ``e://users/me/di`` lists names that start with ``di``).

    ``e://`` lists the namespaces and ``e://users/`` the users who have files.
    """
    user, storage = _context(user, storage)
    if uri in ("e://", "e:///"):
        roots = [("users/me/", "e://users/me/"), ("org/", "e://org/"), ("public/", "e://public/")]
        return EntryPage(tuple(Entry(name=n, uri=u, is_dir=True) for n, u in roots), None)
    if uri.rstrip("/") == "e://users":
        page = storage.list_page("users/", delimiter="/", token=token, limit=limit)
        users = tuple(Entry(name=p[len("users/") :], uri="e://" + p, is_dir=True) for p in page.prefixes)
        return EntryPage(users, page.next_token)
    loc = eos.parse_uri(uri, user=user)
    eos.check_access(user, loc.key, write=False)
    folder_path = loc.path.rsplit("/", 1)[0] + "/" if "/" in loc.path else ""
    base = dataclasses.replace(loc, path=folder_path)
    page = storage.list_page(loc.key, delimiter=None if recursive else "/", token=token, limit=limit)
    cut = len(base.key) if not recursive else len(dataclasses.replace(loc, path="").key)
    entries: list[Entry] = []
    for prefix in page.prefixes:
        found = eos.key_to_eos(prefix)
        entries.append(Entry(name=prefix[cut:], uri=found.uri_for(user) if found else prefix, is_dir=True))
    for obj in page.objects:
        found = eos.key_to_eos(obj.key)
        entries.append(
            Entry(
                name=obj.key[cut:],
                uri=found.uri_for(user) if found else obj.key,
                is_dir=False,
                size=obj.size,
                mtime=obj.mtime,
                etag=obj.etag,
            )
        )
    if not recursive:
        entries.sort(key=lambda e: e.name)
    return EntryPage(tuple(entries), page.next_token)


def ls(
    uri: str | None = None,
    *,
    recursive: bool = False,
    user: str | None = None,
    storage: Storage | None = None,
) -> Iterator[Entry]:
    """Everything at ``uri`` (default ``e://users/me/``), page by page."""
    uri = uri or "e://users/me/"
    token: str | None = None
    while True:
        page = list_page(uri, recursive=recursive, token=token, user=user, storage=storage)
        yield from page.entries
        if page.next_token is None:
            return
        token = page.next_token


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
        page = list_page(shown, token=token, limit=limit, user=user, storage=storage)
        entries = tuple(EosEntry(name=e.name.rstrip("/"), uri=e.uri, type=FOLDER) for e in page.entries)
        return Listing(uri=shown, writable=False, entries=entries, next_token=page.next_token)
    loc = parse(uri, user=user).as_folder()
    eos.check_access(user, loc.key, write=False)
    shown = loc.uri_for(user)
    page = list_page(shown, token=token, limit=limit, user=user, storage=storage)
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
    """True if ``storage`` can make URLs anyone can download from (its declared capability)."""
    return storage.capabilities.presign


def presign(
    uri: str, *, expires_seconds: int = 48 * 3600, user: str | None = None, storage: Storage | None = None
) -> str:
    """A URL anyone can download the file ``uri`` with until it expires (``expires_seconds``
    from 1 s to 7 days, SigV4's limit). Storage that cannot make such URLs (a local directory)
    is refused with :class:`~explorer_magics.errors.Unsupported`."""
    from ..aws import presign_seconds

    presign_seconds(expires_seconds)
    user, storage = _context(user, storage)
    loc = eos.parse_uri(uri, user=user)
    if loc.is_dir:
        raise InvalidPath(f"{uri} is a folder; a URL can only point at one object.")
    eos.check_access(user, loc.key, write=False)
    try:
        storage.stat(loc.key)
    except NotFound:
        raise NotFound(f"No object at {uri}.") from None
    return storage.presign(loc.key, expires_seconds=expires_seconds)


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


__all__ = [
    "FILE",
    "FOLDER",
    "MAX_PAGE",
    "Entry",
    "EntryPage",
    "EosEntry",
    "Listing",
    "can_presign",
    "can_write",
    "folder_exists",
    "kind",
    "list_folder",
    "list_page",
    "ls",
    "make_folder",
    "open_read",
    "open_write",
    "parse",
    "presign",
    "stat",
    "subfolders",
    "writable",
]
