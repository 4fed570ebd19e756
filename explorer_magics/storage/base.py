"""The storage contract: where bytes are kept (a directory, an S3 bucket, ...).

Keys are ``/``-separated relative paths (see the layout in :mod:`explorer_magics.eos`).
Backends do not check access: callers do, with :func:`explorer_magics.eos.check_access`.
Every write is atomic: a reader sees the old object or the whole new one, never a part.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

if TYPE_CHECKING:
    from ..config import Settings

Progress = Callable[[int], None]  # called with the number of bytes just moved


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """One stored object."""

    key: str
    size: int
    mtime: float  # POSIX seconds
    etag: str | None = None


@dataclasses.dataclass(frozen=True)
class ListPage:
    """One page of a listing: objects and (with a delimiter) folder prefixes ending in ``/``."""

    objects: tuple[ObjectInfo, ...]
    prefixes: tuple[str, ...]
    next_token: str | None  # pass back as ``token`` for the next page; None = last page


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond the contract. Faces (server, UI) ask these, never the
    backend's name or which methods it overrides."""

    #: :meth:`Storage.presign` makes URLs anyone can download from
    presign: bool = False
    #: large objects move in parts, several at once; :meth:`Storage.with_part_limits` bounds them
    multipart: bool = False
    #: :meth:`Storage.local_path` gives the object's real file on this machine
    local_paths: bool = False

    def names(self) -> list[str]:
        """The names of the capabilities this backend has (``["presign", "multipart"]``)."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name)]


class Storage(abc.ABC):
    """A flat key -> bytes store with atomic writes, ranged reads and paged listing."""

    #: short backend name (``local``, ``s3``): its name in the ``explorer.storage`` entry points
    #: (and the URL scheme it serves; ``local`` serves plain directory paths)
    name: str = ""
    #: what this backend can do beyond the contract
    capabilities: ClassVar[Capabilities] = Capabilities()

    @classmethod
    def options(cls, settings: Settings) -> dict[str, Any]:
        """Keyword arguments for ``cls(url, **options)`` from this backend's own settings
        (``settings.of(ItsSettings)``). Default: none."""
        return {}

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The location as settings spell it (a directory path or ``s3://bucket/prefix``)."""

    # -- reading -------------------------------------------------------------------------
    @abc.abstractmethod
    def get_bytes(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """The object's bytes, or bytes ``[start, end)`` of it. :class:`NotFound` if missing."""

    @abc.abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """A readable binary stream of the object (constant memory whatever its size)."""

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Size, mtime and etag of the object. :class:`NotFound` if missing."""

    def exists(self, key: str) -> bool:
        """True if the object exists."""
        from ..errors import NotFound

        try:
            self.stat(key)
        except NotFound:
            return False
        return True

    @abc.abstractmethod
    def list_page(
        self,
        prefix: str,
        *,
        delimiter: str | None = "/",
        token: str | None = None,
        limit: int = 1000,
        start_after: str | None = None,
    ) -> ListPage:
        """One page of keys starting with ``prefix``, in key order.

        With ``delimiter="/"``, keys below a further ``/`` are folded into ``prefixes``.
        ``start_after`` skips keys <= it (first page only). ``limit`` bounds objects+prefixes.
        """

    def iter_objects(self, prefix: str, *, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Every object below ``prefix`` (recursive), page by page, in key order."""
        token: str | None = None
        first = True
        while True:
            page = self.list_page(prefix, delimiter=None, token=token, start_after=start_after if first else None)
            first = False
            yield from page.objects
            if page.next_token is None:
                return
            token = page.next_token

    def iter_prefixes(self, prefix: str, *, start_after: str | None = None) -> Iterator[str]:
        """The immediate sub-folders of ``prefix`` (ending in ``/``), page by page."""
        token: str | None = None
        first = True
        while True:
            page = self.list_page(prefix, delimiter="/", token=token, start_after=start_after if first else None)
            first = False
            yield from page.prefixes
            if page.next_token is None:
                return
            token = page.next_token

    # -- writing -------------------------------------------------------------------------
    @abc.abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key`` atomically (replacing any object there)."""

    @abc.abstractmethod
    def open_write(self, key: str) -> BinaryIO:
        """A writable binary stream; the object appears atomically on ``close()``.

        If the ``with`` block raises, nothing is stored (use as a context manager, or call
        ``abort()`` on the returned object). Memory stays bounded whatever the size.
        """

    @abc.abstractmethod
    def upload_file(self, path: str | os.PathLike[str], key: str, *, progress: Progress | None = None) -> None:
        """Copy a local file to ``key`` atomically (multipart/parallel where the backend can)."""

    def upload_small_files(
        self, items: Sequence[tuple[str | os.PathLike[str], str]], *, progress: Progress | None = None
    ) -> list[bool]:
        """Upload many small files at once where the backend has a faster way than one
        :meth:`upload_file` each; ``done[i]`` says whether ``items[i]`` (a local path and a key)
        is stored. The caller sends what is not done through :meth:`upload_file`, which also
        gives the error of anything that failed. The default does nothing."""
        return [False] * len(items)

    def download_small_files(
        self, items: Sequence[tuple[str, str | os.PathLike[str], int]], *, progress: Progress | None = None
    ) -> list[bool]:
        """The other way: each ``(key, local path, size as listed)``; a path not done is left
        untouched and the caller sends it through :meth:`download_file`. The default does nothing."""
        return [False] * len(items)

    @abc.abstractmethod
    def download_file(self, key: str, path: str | os.PathLike[str], *, progress: Progress | None = None) -> None:
        """Copy ``key`` to a local file atomically (written beside, then renamed into place)."""

    @abc.abstractmethod
    def copy(self, src_key: str, dst_key: str) -> None:
        """Server-side copy of one object."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete one object; deleting a missing object is not an error."""

    def delete_many(self, keys: list[str]) -> None:
        """Delete several objects (backends may batch)."""
        for key in keys:
            self.delete(key)

    # -- extras --------------------------------------------------------------------------
    def presign(self, key: str, *, expires_seconds: int = 48 * 3600) -> str:
        """A URL anyone can GET the object with until it expires.

        Raises :class:`~explorer_magics.errors.Unsupported` (a :class:`BackendError`) where the
        backend cannot presign (local directory).
        """
        from ..errors import Unsupported

        raise Unsupported(
            f"The {self.name} storage backend cannot make shareable URLs; use S3 storage "
            "(storage = 's3://bucket/prefix') or share the e:// URI instead."
        )

    def with_part_limits(self, *, part_bytes: int, parts_in_flight: int, size: int | None = None) -> Storage:
        """This storage, for one transfer of ``size`` bytes (None: unknown), moving parts of about
        ``part_bytes`` (larger when the object needs it), at most ``parts_in_flight`` at once, so
        the memory it holds stays bounded. Backends without parts return themselves."""
        return self

    def for_child_process(self) -> Storage:
        """The instance a forked child should use (a fresh one where connections are held)."""
        return self

    def local_path(self, key: str) -> str | None:
        """The real filesystem path of ``key`` if the backend is a local directory, else None."""
        return None

    def s3_uri(self, key: str) -> str | None:
        """``s3://bucket/full-key`` for S3-backed storage, else None."""
        return None


NAME_MAX = 255  # bytes in one file name (Linux, macOS)


def temp_beside(dst: Path) -> Path:
    """A fresh hidden name in ``dst``'s folder for a download in progress: ``.<name>.explorer-<id>``
    so a person sees what it is, or ``.explorer-<id>`` when that would be longer than a file name
    may be (a 233-255 byte name: the full name fits, the temporary one must too)."""
    token = uuid.uuid4().hex[:12]
    name = f".{dst.name}.explorer-{token}"
    if len(os.fsencode(name)) > NAME_MAX:
        name = f".explorer-{token}"
    return dst.parent / name
