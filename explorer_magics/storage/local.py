"""``local`` storage: a directory on this machine (the embedded default).

Keys map to files below the root. Writes go to a hidden temporary file in the same folder
and are renamed into place, so readers never see a partial object. Hidden temporaries are
never listed.

Symbolic links are never followed: a key whose path goes through a link (an element, or anyone
with a shell, can make one inside the root) is refused with :class:`AccessDenied` for every read,
write and delete, and listings skip links, saying so in a warning on the
``explorer_magics.storage.local`` logger. So nothing outside the root can be read, written or
deleted through storage, and a link loop cannot make a listing run forever.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import shutil
import stat as stat_mod
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..eos import validate_relpath
from ..errors import AccessDenied, BackendError, InvalidPath, NotFound
from .base import Capabilities, ListPage, ObjectInfo, Progress, Storage

_TMP = ".explorer-tmp-"
log = logging.getLogger(__name__)
_counter = itertools.count()
_CHUNK = 1024 * 1024


def _file_in_the_way(final: str | Path) -> InvalidPath:
    return InvalidPath(
        f"Cannot store {final}: a file stands where one of its folders must be (a directory "
        "cannot hold a file and a folder of the same name); pick another name."
    )


def _folder_in_the_way(final: str | Path) -> InvalidPath:
    return InvalidPath(f"Cannot store {final}: a folder of that name is already there; pick another name.")


class _AtomicWriter(io.RawIOBase):
    """Writes to a temporary file; ``close()`` renames it into place, ``abort()`` drops it."""

    def __init__(self, final: Path) -> None:
        super().__init__()
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise _file_in_the_way(final) from None
        if final.is_dir():
            raise _folder_in_the_way(final)
        self._final = final
        self._tmp = final.parent / f"{_TMP}{uuid.uuid4().hex}"
        self._fh = open(self._tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._done = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        return self._fh.write(data)

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._fh.close()
            self._tmp.unlink(missing_ok=True)
        super().close()

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._fh.close()
            os.replace(self._tmp, self._final)
        super().close()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


class LocalStorage(Storage):
    """Objects as files below ``root``."""

    name = "local"
    capabilities = Capabilities(local_paths=True)

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self._root_str = str(self.root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendError(f"Cannot create the storage directory {self.root}: {exc}") from exc

    @property
    def url(self) -> str:
        return str(self.root)

    def _checked(self, key: str) -> str:
        """The filesystem path of ``key``, after checking that no part of it below the root is a
        symbolic link (resolve-then-check, part by part; parts that do not exist yet are made
        by us as real folders)."""
        validate_relpath(key, what="storage key")
        path = self._root_str
        for part in key.rstrip("/").split("/") if key else ():
            path = os.path.join(path, part)
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                break
            if stat_mod.S_ISLNK(st.st_mode):
                raise AccessDenied(
                    f"{key!r} goes through the symbolic link {path}; local storage does not follow links "
                    "(they could lead outside its folder). Replace the link with the real file or folder."
                )
        return os.path.join(self._root_str, key)

    def _path(self, key: str) -> Path:
        checked = self._checked(key)
        if key == "" or key.endswith("/"):
            raise NotFound(f"{key!r} is a folder, not an object.")
        return Path(checked)

    def local_path(self, key: str) -> str | None:
        return str(self._path(key))

    # -- reading -------------------------------------------------------------------------
    def get_bytes(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        path = self._checked(key)
        try:
            with open(path, "rb") as fh:
                if start:
                    fh.seek(start)
                if end is None:
                    return fh.read()
                return fh.read(max(0, end - (start or 0)))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"No object at {key!r}.") from None

    def open_read(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")  # noqa: SIM115 - the caller closes it
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"No object at {key!r}.") from None

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"No object at {key!r}.") from None
        if not stat_mod.S_ISREG(st.st_mode):
            raise NotFound(f"{key!r} is a folder, not an object.")
        etag = f"{st.st_size:x}-{st.st_mtime_ns:x}"
        return ObjectInfo(key=key, size=st.st_size, mtime=st.st_mtime, etag=etag)

    def _walk(self, directory: Path, keyprefix: str, recursive: bool) -> Iterator[tuple[str, os.DirEntry[str] | None]]:
        """(key, entry) in S3 key order; folders yield (key + '/', None) when not recursive."""
        try:
            entries = [e for e in os.scandir(directory) if not e.name.startswith(_TMP)]
        except (FileNotFoundError, NotADirectoryError):
            return
        kept = []
        for entry in entries:
            if entry.is_symlink():
                log.warning("Skipping %s: a symbolic link (local storage does not follow links).", entry.path)
                continue
            kept.append(entry)
        keyed = sorted(((e.name + "/" if e.is_dir(follow_symlinks=False) else e.name), e) for e in kept)
        for name, entry in keyed:
            if name.endswith("/"):
                if recursive:
                    yield from self._walk(Path(entry.path), keyprefix + name, True)
                else:
                    yield keyprefix + name, None
            else:
                yield keyprefix + name, entry

    def list_page(
        self,
        prefix: str,
        *,
        delimiter: str | None = "/",
        token: str | None = None,
        limit: int = 1000,
        start_after: str | None = None,
    ) -> ListPage:
        validate_relpath(prefix, what="prefix")
        self._checked(prefix.rpartition("/")[0])
        if delimiter not in (None, "/"):
            raise ValueError("local storage lists with delimiter '/' or None")
        folder = prefix.rpartition("/")[0]
        base = folder + "/" if folder else ""
        after = token or start_after or ""
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        more = False
        last_key: str | None = None
        start = self.root / folder if folder else self.root
        for key, entry in self._walk(start, base, delimiter is None):
            if not key.startswith(prefix):
                if key > prefix:
                    break  # keys come in order: the prefix's range is over
                continue
            if key <= after:
                continue
            if len(objects) + len(prefixes) >= limit:
                more = True
                break
            last_key = key
            if entry is None:
                prefixes.append(key)
            else:
                st = entry.stat()
                etag = f"{st.st_size:x}-{st.st_mtime_ns:x}"
                objects.append(ObjectInfo(key=key, size=st.st_size, mtime=st.st_mtime, etag=etag))
        return ListPage(tuple(objects), tuple(prefixes), last_key if more else None)

    # -- writing -------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes) -> None:
        final = self._checked(key)
        if key == "" or key.endswith("/"):
            (self.root / key).mkdir(parents=True, exist_ok=True)  # a folder marker
            return
        # The hot path of every element's status and values: plain os calls, no pathlib.
        folder = os.path.dirname(final)
        tmp = os.path.join(folder, f"{_TMP}{os.getpid()}-{next(_counter)}")
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileNotFoundError:
                os.makedirs(folder, exist_ok=True)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except (NotADirectoryError, FileExistsError):
            raise _file_in_the_way(final) from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        try:
            os.replace(tmp, final)
        except IsADirectoryError:
            os.unlink(tmp)
            raise _folder_in_the_way(final) from None

    def open_write(self, key: str) -> BinaryIO:
        return _AtomicWriter(self._path(key))  # type: ignore[return-value]

    def upload_file(self, path: str | os.PathLike[str], key: str, *, progress: Progress | None = None) -> None:
        src = Path(path)
        if not src.is_file():
            raise NotFound(f"No local file {src}.")
        with open(src, "rb") as fin, _AtomicWriter(self._path(key)) as fout:
            _copy(fin, fout, progress)

    def download_file(self, key: str, path: str | os.PathLike[str], *, progress: Progress | None = None) -> None:
        dst = Path(path)
        with self.open_read(key) as fin, _AtomicWriter(dst) as fout:
            _copy(fin, fout, progress)

    def copy(self, src_key: str, dst_key: str) -> None:
        with self.open_read(src_key) as fin, _AtomicWriter(self._path(dst_key)) as fout:
            shutil.copyfileobj(fin, fout, _CHUNK)

    def delete(self, key: str) -> None:
        target = Path(self._checked(key))
        if key.endswith("/"):
            try:
                target.rmdir()
            except OSError:
                return
        else:
            try:
                target.unlink()
            except (FileNotFoundError, NotADirectoryError):
                return
            except IsADirectoryError:
                return
        # prune empty parent folders (S3 has no folders: an empty one disappears there too)
        parent = target.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def _copy(fin: BinaryIO, fout, progress: Progress | None) -> None:
    while True:
        chunk = fin.read(_CHUNK)
        if not chunk:
            return
        fout.write(chunk)
        if progress:
            progress(len(chunk))
