"""The explorer context: one user's settings, storage and compute backends.

A :class:`Session` holds the settings it was made with, the storage they name (opened on first
use) and the compute backends it has opened (by name). Everything below the faces receives
one: an :class:`~explorer_magics.analysis.Analysis`, a :class:`~explorer_magics.models.File`
or a :class:`~explorer_magics.job_manager.JobManager` keeps the session it was made with, so
two sessions (two users, two storages) in one process never cross.

The faces hold one each: the CLI builds it from its arguments and the environment, the server
extension at start-up, the IPython magics and a notebook's plain ``Analysis(...)`` use the
process default (:func:`current`, built lazily from the environment and the config file;
:func:`reset` forgets it after the environment changed). :func:`or_default` is the one place
where code below the faces falls back to that default, for a caller that passed none.

Backends, the built-in ones too, are found in the ``explorer.compute`` / ``explorer.storage``
entry points.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points

from .compute.base import Compute
from .config import Settings, get_settings
from .errors import ExplorerError
from .storage import forget_open_storages, open_storage, storage_class
from .storage.base import Storage

__all__ = [
    "Session",
    "as_default",
    "compute",
    "compute_class",
    "compute_names",
    "current",
    "or_default",
    "reset",
    "settings",
    "storage",
    "use",
]


class Session:
    """Settings, the storage they name and the compute backends opened for them.

    ``Session()`` reads the environment and the config file once, now; ``Session(settings)``
    uses the given :class:`~explorer_magics.config.Settings` (e.g.
    ``Session(get_settings(environ={...}))``). The storage is opened on first use, each compute
    backend on its first :meth:`compute`. :meth:`close` closes the backends; a closed session
    opens them again when next used.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings: Settings = settings if settings is not None else get_settings()
        self._lock = threading.RLock()
        self._storage: Storage | None = None
        self._computes: dict[str, Compute] = {}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Session:
        """A session of the settings in ``environ`` (default: this process's environment)."""
        return cls(get_settings(environ=environ))

    @property
    def user(self) -> str:
        """The user this session acts as (``settings.user``)."""
        return self.settings.user

    @property
    def storage(self) -> Storage:
        """The storage of ``settings.storage_url``, opened on first use."""
        with self._lock:
            if self._storage is None:
                self._storage = _open_storage(self.settings)
            return self._storage

    def compute(self, name: str | None = None) -> Compute:
        """The compute backend called ``name`` (default: the configured one), opened once."""
        name = name or self.settings.compute
        with self._lock:
            if name not in self._computes:
                self._computes[name] = compute_class(name)(self.settings, self.storage)
            return self._computes[name]

    def close(self) -> None:
        """Close the compute backends opened so far (they are opened again when next used)."""
        with self._lock:
            computes, self._computes = list(self._computes.values()), {}
            self._storage = None
        for c in computes:
            c.close()

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError(
            "A Session cannot be pickled (it holds open backends and the environment's settings); an element "
            "has its own: pass Files and values to it, not a Session or an object holding one."
        )

    def __repr__(self) -> str:
        s = self.settings
        return f"Session(user={s.user!r}, storage={s.storage_url!r}, compute={s.compute!r})"


def _open_storage(s: Settings) -> Storage:
    url = s.storage_url
    return open_storage(url, **storage_class(url).options(s))


_lock = threading.RLock()
_default: Session | None = None
_of_settings: dict[str, Session] = {}  # compute(name, s): one session per (storage, user), as before


def current() -> Session:
    """The process default session (built on first use from the environment and config file)."""
    global _default
    with _lock:
        if _default is None:
            _default = Session()
        return _default


def or_default(session: Session | None) -> Session:
    """``session``, or the process default for a caller that passed none: the one fallback."""
    return session if session is not None else current()


def use(session: Session | None) -> Session | None:
    """Make ``session`` the process default (``None``: build it again from the environment on
    next use); returns the previous default. The old default is not closed."""
    global _default
    with _lock:
        previous, _default = _default, session
        return previous


@contextlib.contextmanager
def as_default(session: Session | None) -> Iterator[None]:
    """Make ``session`` the process default while the block runs (``None``: leave it): an
    element run in this process (``run_local()``) sees its analysis's session, as an element
    run by the runner sees its own."""
    if session is None:
        yield
        return
    previous = use(session)
    try:
        yield
    finally:
        use(previous)


def reset() -> None:
    """Forget the default session and the open storages (after changing the environment or
    config); the default is built again on next use."""
    previous = use(None)
    with _lock:
        others = list(_of_settings.values())
        _of_settings.clear()
    for s in [previous, *others]:
        if s is not None:
            s.close()
    forget_open_storages()


# -- the process default's parts, for old callers (faces, notebooks and tests) ------------------
def settings() -> Settings:
    """The default session's settings."""
    return current().settings


def storage(s: Settings | None = None) -> Storage:
    """The default session's storage, or the storage ``s`` names."""
    return _open_storage(s) if s is not None else current().storage


def compute(name: str | None = None, s: Settings | None = None) -> Compute:
    """The default session's compute backend ``name`` (default: the configured one); with
    ``s``, the backend of a session of those settings."""
    if s is None:
        return current().compute(name)
    with _lock:
        key = f"{s.storage_url}|{s.user}"
        if key not in _of_settings:
            _of_settings[key] = Session(s)
        return _of_settings[key].compute(name)


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
