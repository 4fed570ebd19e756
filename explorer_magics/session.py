"""The current settings, storage and compute backends of this process (built once, lazily).

Tests and long-lived servers that change settings call :func:`reset`.
"""

from __future__ import annotations

import threading
from importlib.metadata import entry_points

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
    """Backends, the built-in ones too, are found in the ``explorer.compute`` entry points."""
    found = {ep.name: ep for ep in entry_points(group="explorer.compute")}
    if name not in found:
        installed = ", ".join(sorted(n for n in found if n != "inline")) or "none"
        raise ExplorerError(
            f"Unknown compute backend {name!r}; installed: {installed}. A backend registers itself in the "
            "explorer.compute entry points (for this package's own: reinstall it, e.g. `make venv`)."
        )
    return found[name].load()(s, storage(s))


def reset() -> None:
    """Forget cached settings and backends (after changing the environment or config)."""
    global _settings
    with _lock:
        for c in _computes.values():
            c.close()
        _computes.clear()
        _settings = None
        open_storage.cache_clear()
