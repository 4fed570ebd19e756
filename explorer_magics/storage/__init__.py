"""Storage backends. :func:`open_storage` turns a settings URL into a backend instance.

Backends, the built-in ones too, are found in the ``explorer.storage`` entry points by the
URL's scheme (``s3://...`` -> ``s3``); a plain directory path is ``local``.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from typing import Any

from ..errors import ExplorerError
from .base import ListPage, ObjectInfo, Storage

__all__ = ["ListPage", "ObjectInfo", "Storage", "forget_open_storages", "open_storage", "storage_class"]


def storage_class(url: str) -> type[Storage]:
    """The backend class serving ``url`` (a directory path, ``s3://...``, ``<name>://...``)."""
    scheme = url.split("://", 1)[0] if "://" in url else "local"
    found = {ep.name: ep for ep in entry_points(group="explorer.storage")}
    if scheme not in found:
        installed = ", ".join(sorted(found)) or "none"
        raise ExplorerError(
            f"No storage backend for {url!r}; installed: {installed} (a directory is 'local'). Use a directory, "
            f"'s3://bucket/prefix', or install a package that registers '{scheme}' in the explorer.storage "
            "entry points (for this package's own: reinstall it, e.g. `make venv`)."
        )
    cls = found[scheme].load()
    if not (isinstance(cls, type) and issubclass(cls, Storage)):
        raise ExplorerError(f"The explorer.storage entry point {scheme!r} is not a Storage class: {cls!r}.")
    return cls


@functools.lru_cache(maxsize=16)
def _open(url: str, options: tuple[tuple[str, Any], ...]) -> Storage:
    return storage_class(url)(url, **dict(options))  # type: ignore[call-arg]


def open_storage(url: str, **options: Any) -> Storage:
    """The storage at ``url``, one instance per (url, options) in a process. ``options`` are
    the backend's own (``endpoint_url=``, ``region=`` for S3); ``None`` values are left out."""
    return _open(url, tuple(sorted((k, v) for k, v in options.items() if v is not None)))


def forget_open_storages() -> None:
    """Drop the instances :func:`open_storage` keeps (after settings change)."""
    _open.cache_clear()
