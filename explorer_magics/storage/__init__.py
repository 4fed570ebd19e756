"""Storage backends. :func:`open_storage` turns a settings URL into a backend instance."""

from __future__ import annotations

import functools

from ..errors import ExplorerError
from .base import Capabilities, ListPage, ObjectInfo, Storage

__all__ = ["Capabilities", "ListPage", "ObjectInfo", "Storage", "open_storage"]


@functools.lru_cache(maxsize=16)
def open_storage(url: str, *, endpoint_url: str | None = None, region: str | None = None) -> Storage:
    """The storage at ``url``: a directory path, ``s3://bucket[/prefix]``, or ``<name>://...``
    for a backend registered in the ``explorer.storage`` entry-point group."""
    if "://" not in url:
        from .local import LocalStorage

        return LocalStorage(url)
    scheme = url.split("://", 1)[0]
    if scheme == "s3":
        from .s3 import S3Storage

        return S3Storage(url, endpoint_url=endpoint_url, region=region)
    from importlib.metadata import entry_points

    for ep in entry_points(group="explorer.storage"):
        if ep.name == scheme:
            return ep.load()(url)
    raise ExplorerError(
        f"No storage backend for {url!r}; use a directory, 's3://bucket/prefix', or install "
        f"a package that registers '{scheme}' in the explorer.storage entry points."
    )
