"""The current settings, storage and compute backends of this process (built once, lazily).

Tests and long-lived servers that change settings call :func:`reset`. Backends, the built-in
ones too, are found in the ``explorer.compute`` / ``explorer.storage`` entry points.
"""

from __future__ import annotations

import threading
from importlib.metadata import entry_points

from .compute.base import Compute
from .config import Settings, get_settings
from .errors import ExplorerError
from .storage import forget_open_storages, open_storage, storage_class
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
    url = s.storage_url
    return open_storage(url, **storage_class(url).options(s))


def compute(name: str | None = None, s: Settings | None = None) -> Compute:
    """The compute backend called ``name`` (default: the configured one)."""
    s = s or settings()
    name = name or s.compute
    with _lock:
        key = f"{name}|{s.storage_url}|{s.user}"
        if key not in _computes:
            _computes[key] = compute_class(name)(s, storage(s))
        return _computes[key]


def compute_names() -> list[str]:
    """The installed compute backends a user can choose (``inline`` is run_local()'s record)."""
    return sorted(ep.name for ep in entry_points(group="explorer.compute") if ep.name != "inline")


def compute_class(name: str) -> type[Compute]:
    """The backend class registered as ``name`` in the ``explorer.compute`` entry points."""
    found = {ep.name: ep for ep in entry_points(group="explorer.compute")}
    if name not in found:
        raise ExplorerError(
            f"Unknown compute backend {name!r}; installed: {', '.join(compute_names()) or 'none'}. A backend "
            "registers itself in the explorer.compute entry points (for this package's own: reinstall it, "
            "e.g. `make venv`)."
        )
    cls = found[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Compute)):
        raise ExplorerError(f"The explorer.compute entry point {name!r} is not a Compute class: {cls!r}.")
    return cls


def reset() -> None:
    """Forget cached settings and backends (after changing the environment or config)."""
    global _settings
    with _lock:
        for c in _computes.values():
            c.close()
        _computes.clear()
        _settings = None
        forget_open_storages()
