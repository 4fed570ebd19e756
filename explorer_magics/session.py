"""The current settings, storage and compute backends of this process (built once, lazily).

Tests and long-lived servers that change settings call :func:`reset`.
"""

from __future__ import annotations

import threading

from .compute.base import Compute
from .config import Settings, get_settings
from .errors import ExplorerError
from .storage import open_storage
from .storage.base import Storage

_lock = threading.RLock()
_settings: Settings | None = None
_computes: dict[str, Compute] = {}


def settings() -> Settings:
    global _settings
    with _lock:
        if _settings is None:
            _settings = get_settings()
        return _settings


def storage(s: Settings | None = None) -> Storage:
    s = s or settings()
    return open_storage(s.storage_url, endpoint_url=s.s3_endpoint_url, region=s.region)


def compute(name: str | None = None, s: Settings | None = None) -> Compute:
    """The compute backend called ``name`` (default: the configured one)."""
    s = s or settings()
    name = name or s.compute
    with _lock:
        key = f"{name}|{s.storage_url}|{s.user}"
        if key not in _computes:
            _computes[key] = _make_compute(name, s)
        return _computes[key]


def _make_compute(name: str, s: Settings) -> Compute:
    if name == "inline":
        from .compute.stored import InlineCompute

        return InlineCompute(s, storage(s))
    if name == "local":
        from .compute.local import LocalCompute

        return LocalCompute(s, storage(s))
    if name == "batch":
        from .compute.batch import BatchCompute

        return BatchCompute(s, storage(s))
    from importlib.metadata import entry_points

    for ep in entry_points(group="explorer.compute"):
        if ep.name == name:
            return ep.load()(s, storage(s))
    raise ExplorerError(
        f"Unknown compute backend {name!r}; use 'local' or 'batch' (or install a package that "
        "registers it in the explorer.compute entry points)."
    )


def reset() -> None:
    """Forget cached settings and backends (after changing the environment or config)."""
    global _settings
    with _lock:
        for c in _computes.values():
            c.close()
        _computes.clear()
        _settings = None
        open_storage.cache_clear()
