"""Process glue shared by the local cluster's supervisor and its launchers: ``prctl``, a raw
``fork`` without CPython's at-fork work, gc freezing before forks, best-effort cleanup.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
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


def become_subreaper() -> None:
    """Make this process the *child subreaper* of everything below it: a descendant whose
    parent exits (a daemon that double-forked, ``setsid -f``, ``start_new_session=True`` and
    its parent gone) is re-parented here instead of to init, so it can still be found and
    ended. (Not inherited across fork: each level sets it for itself.)"""
    PRCTL(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def children(pid: int | None = None) -> list[int]:
    """The child processes of ``pid`` (this process by default)."""
    pid = os.getpid() if pid is None else pid
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:  # one read (CONFIG_PROC_CHILDREN)
            return [int(c) for c in fh.read().split()]
    except FileNotFoundError:
        pass
    found = []
    for entry in os.listdir("/proc"):  # no children file: scan every process's parent
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def kill_strays(keep: set[int] | frozenset[int] = frozenset(), *, passes: int = 1000) -> int:
    """SIGKILL and reap every child of this (subreaper) process not in ``keep``, and then
    whatever was below them: each one killed hands its own children to us, so this goes
    round until no stray is left. Returns how many processes it ended."""
    ended = 0
    for _ in range(passes):
        strays = [pid for pid in children() if pid not in keep]
        if not strays:
            break
        for pid in strays:
            with suppress():
                os.kill(pid, signal.SIGKILL)
        for pid in strays:
            with contextlib.suppress(ChildProcessError, InterruptedError):
                os.waitpid(pid, 0)  # gone, and its children are ours now
            ended += 1
    return ended


#: set in every element's environment (so inherited by all it starts): ``<state token>``
ELEMENT_MARK = "EXPLORER_LOCAL_ELEMENT_OF"


def kill_marked(token: str) -> int:
    """SIGKILL every process whose environment carries ``ELEMENT_MARK=token``: what elements
    of that cluster started and that outlived both their launcher and the supervisor (both
    killed at once, so no subreaper was left to take them). Returns how many."""
    needle = f"{ELEMENT_MARK}={token}".encode()
    me = os.getpid()
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                marked = needle in fh.read().split(b"\0")
        except OSError:
            continue
        if marked:
            with suppress():
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
    return killed


def suppress() -> contextlib.AbstractContextManager[None]:
    """Best effort: a cleanup step that fails must not stop the supervisor."""
    return contextlib.suppress(Exception)
