"""Process glue shared by the local cluster's supervisor and its launchers: ``prctl``, a raw
``fork`` without CPython's at-fork work, gc freezing before forks, best-effort cleanup.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
from typing import Any

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)
PRCTL = _LIBC.prctl  # resolved once here, not in every forked element
MAX_FD = 1 << 20


def refreeze() -> None:
    """Move every object into gc's permanent generation, so a forked element's collections
    do not walk (and copy-on-write) the supervisor's whole heap."""
    import gc

    gc.collect()
    gc.freeze()


def record_at_fork_hooks() -> list[Any]:
    """From now on, note the ``after_in_child`` hooks that modules register (while the
    launcher loads the work function, say), so elements forked by ``fork`` run them too."""
    hooks: list[Any] = []
    register = os.register_at_fork

    def recording(**kwargs: Any) -> None:
        register(**kwargs)
        if kwargs.get("after_in_child") is not None:
            hooks.append(kwargs["after_in_child"])

    os.register_at_fork = recording
    return hooks


_RAW_FORK = ctypes.PyDLL(None, use_errno=True).fork  # called holding the GIL
_RAW_FORK.restype = ctypes.c_int


def fork() -> tuple[int, bool]:
    """fork(2) without CPython's Python-level at-fork hooks, when that is safe: (pid, raw).

    ``os.fork()`` runs threading's, logging's and concurrent.futures' after-fork code in the
    child; in a process with no other Python thread it only re-creates locks nobody holds,
    yet it copies about 200 pages (a third of an element's page faults). The launcher has
    no other thread, so it forks directly; ``after_fork`` does the part that does matter.
    """
    import _thread

    count = getattr(_thread, "_count", None)  # Python threads besides the main one
    if count is None or count() != 0:  # another Python thread exists: let CPython make fork safe
        return os.fork(), False
    pid = _RAW_FORK()
    if pid < 0:
        raise OSError(ctypes.get_errno(), "fork failed")
    return pid, True


def after_fork(hooks: list[Any]) -> None:
    """In an element forked by ``fork``: a fresh random state (``os.fork`` reseeds it, and
    elements must not share random streams) and the hooks recorded since launch."""
    import random

    random.seed()
    for hook in hooks:
        hook()


def empty_folder(folder: str | os.PathLike[str]) -> None:
    """Remove what an element left in its working folder (usually nothing: one scandir)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with suppress():
                    os.unlink(entry.path)


def suppress() -> contextlib.AbstractContextManager[None]:
    """Best effort: a cleanup step that fails must not stop the supervisor."""
    return contextlib.suppress(Exception)
