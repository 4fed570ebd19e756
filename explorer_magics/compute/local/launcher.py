"""A run's launcher: the local cluster's fork server for one analysis (a child of the supervisor)."""

from __future__ import annotations

import collections
import os
import resource
import select
import signal
import socket
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

from ... import records, session
from ...errors import is_no_space
from ...observe.labels import unpack_labels
from ...records import FAILED, SUCCEEDED, ElementStatus
from ...runner import NO_SPACE_EXIT, activate_pip_env, execute, load_failure_reason
from ...serialize import loads
from ...storage.base import Storage
from .client import spool_path
from .libc import (
    ELEMENT_MARK,
    MAX_FD,
    PR_SET_PDEATHSIG,
    PRCTL,
    after_fork,
    become_subreaper,
    empty_folder,
    fork,
    kill_strays,
    record_at_fork_hooks,
    refreeze,
)
from .libc import suppress as _suppress

if TYPE_CHECKING:
    from .supervisor import Run, Supervisor


class Launcher:
    """A run's fork server, in its own process (a child of the supervisor).

    It applies the run's environment and pip packages and unpickles the work function once,
    freezes that state, then forks one process per element on the supervisor's word
    (``L index slot``) and reports ``S index pid`` and, when an element ends,
    ``E index wait-status``. Its loop touches little memory, so forking it stays cheap.
    An ``L`` for a slot that is still busy waits behind it and starts the moment the slot
    frees, so the supervisor is not in the path from one element to the next; ``C index``
    withdraws one that has not started.
    """

    def __init__(self, sup: Supervisor, run: Run, sock: socket.socket) -> None:
        self.sup = sup
        self.run = run
        self.sock = sock
        self.pid = os.getpid()
        self.pidfds: dict[int, tuple[int, int, int]] = {}  # pidfd -> (pid, element index, slot)
        self.after_fork_hooks: list[Any] = []
        self.busy: set[int] = set()  # slots with an element running
        self.queued: dict[int, collections.deque[int]] = {}  # slot -> elements to start there next
        self.memory: dict[int, int] = {}  # element -> memory_mb, where a retry grew it
        self.load_error: tuple[str, str] | None = None  # (traceback, reason) if loading failed
        self.storage: Storage = run.storage
        self.task_root: str | None = None  # <analysis>/tasks when storage is a local folder
        self.function: Any = None
        self.names: dict[str, Any] = {}
        self.input_shared: Any = None
        self.global_config: Any = None
        self.labels: list[str] = []  # observe: every element's input_label (labels.txt)

    def set_up(self) -> None:
        PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != self.sup.pid:
            os._exit(71)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)  # and so for every element, which inherits them
        keep = self.sock.fileno()
        os.closerange(3, keep)  # the supervisor's socket, selector, pidfds and lock are not ours
        os.closerange(keep + 1, MAX_FD)
        # One line-buffered stdout/stderr for all elements: each element points fds 1 and 2
        # at its own log files, and these write there.
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        self.after_fork_hooks = record_at_fork_hooks()
        run = self.run
        for name, value in run.env.items():
            if os.environ.get(name) != value:
                os.environ[name] = value
        os.environ["EXPLORER_ANALYSIS_ID"] = run.manifest.id
        session.reset()  # settings now come from the analysis's environment
        if run.pip_dir is not None:
            activate_pip_env(run.pip_dir)
        self.storage = run.storage.for_child_process()
        fn_bytes, shared_bytes, _, _ = run.load_payload()
        try:
            self.function, self.names = loads(fn_bytes)
            self.input_shared, self.global_config = loads(shared_bytes)
        except BaseException as exc:  # noqa: BLE001 - every element reports it
            self.load_error = (
                traceback.format_exc(),
                load_failure_reason(exc),
            )
        with _suppress():  # observe: an older record has no labels.txt; the runner's rules apply
            self.labels = unpack_labels(self.storage.get_bytes(run.layout.labels))
        local = run.storage.local_path(run.layout.status(0))  # <analysis>/tasks/0/status.json
        self.task_root = os.path.dirname(os.path.dirname(local)) if local is not None else None
        refreeze()

    def serve(self) -> int:
        self.set_up()
        # From here on the launcher outlives a supervisor killed outright long enough to end
        # what its elements started: its socket reads EOF when the supervisor is gone (the
        # supervisor holds the only other end), and the loop below then stops everything.
        PRCTL(PR_SET_PDEATHSIG, 0, 0, 0, 0)
        if os.getppid() != self.sup.pid:  # the supervisor died meanwhile
            return 0
        become_subreaper()
        self.sock.send(b"R")
        sfd = self.sock.fileno()
        while True:
            readable, _, _ = select.select([sfd, *self.pidfds], [], [])
            for fd in readable:
                if fd != sfd:
                    self.reap(fd)
            if sfd in readable:
                msg = self.sock.recv(64)
                if not msg:
                    break  # the supervisor is done with this run, or gone
                kind, *args = msg.split()
                index = int(args[0])
                if kind == b"C":  # cancelled before it started
                    for waiting in self.queued.values():
                        with _suppress():
                            waiting.remove(index)
                    continue
                if len(args) > 2:  # L index slot memory_mb: a retry with more memory
                    self.memory[index] = int(args[2])
                if int(args[1]) in self.busy:  # L index slot, behind the slot's running element
                    self.queued.setdefault(int(args[1]), collections.deque()).append(index)
                else:
                    self.start(index, int(args[1]))
        for pid, _, _ in self.pidfds.values():
            with _suppress():
                os.killpg(pid, signal.SIGKILL)
            with _suppress():
                os.kill(pid, signal.SIGKILL)
        kill_strays()  # the elements, and every process they started, wherever it went
        return 0

    def start(self, index: int, slot: int) -> None:
        pid, raw = fork()
        if pid == 0:  # the element
            code = 70
            try:
                if raw:
                    after_fork(self.after_fork_hooks)
                code = self.element(index, slot)
            except BaseException:  # noqa: BLE001
                with _suppress():
                    traceback.print_exc()
            finally:
                os._exit(code)
        self.pidfds[os.pidfd_open(pid)] = (pid, index, slot)
        self.busy.add(slot)
        self.sock.send(b"S %d %d" % (index, pid))

    def reap(self, pidfd: int) -> None:
        pid, index, slot = self.pidfds[pidfd]
        done, wstatus, usage = os.wait4(pid, os.WNOHANG)  # observe: the kernel's rusage of the element
        if not done:
            return
        del self.pidfds[pidfd]
        os.close(pidfd)
        # what the element started and left behind (a daemon: setsid, double fork, a new
        # session) was handed to us when it exited: it ends with the element
        kill_strays(keep={p for p, _, _ in self.pidfds.values()})
        self.busy.discard(slot)
        # reported before anything else happens: a launcher killed a moment later must not take
        # the news of a finished element with it (the supervisor would fail an element that
        # SUCCEEDED); the element queued behind keeps the slot in the supervisor's books
        cpu_ms = int((usage.ru_utime + usage.ru_stime) * 1000)  # observe: what it used, for a record
        self.sock.send(b"E %d %d %d %d" % (index, wstatus, cpu_ms, usage.ru_maxrss))  # the supervisor writes
        waiting = self.queued.get(slot)
        if waiting:  # the slot's next element starts now, without a round trip
            self.start(waiting.popleft(), slot)

    def element(self, index: int, slot: int) -> int:
        """In the forked element process. Returns the exit code."""
        os.setpgid(0, 0)
        PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != self.pid:
            return 71
        become_subreaper()  # a daemon it starts stays below it while it runs (then the launcher ends it)
        os.closerange(3, MAX_FD)
        run = self.run
        # logs: straight into storage when it is a directory, else a spool uploaded at the end
        if self.task_root is not None:
            folder = os.path.join(self.task_root, str(index))
            names = ("stdout", "stderr")
        else:
            folder = str(spool_path(self.sup.state, run.manifest.id, index, "stdout").parent)
            names = (f"{index}.stdout", f"{index}.stderr")
        try:
            os.mkdir(folder)
        except FileExistsError:
            pass
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
        for name, fd in zip(names, (1, 2), strict=True):
            out = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            os.dup2(out, fd)
            os.close(out)
        memory = int(self.memory.get(index) or run.manifest.job_definition.get("memory_mb") or 4000) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        os.environ["EXPLORER_JOB_INDEX"] = str(index)
        os.environ[ELEMENT_MARK] = self.sup.token  # what it starts carries it: see libc.kill_marked
        workdir = os.path.join(self.sup.state, "work", f"slot-{slot}")
        try:
            os.chdir(workdir)  # a slot's folder is reused (and left empty) from element to element
        except FileNotFoundError:
            os.makedirs(workdir, exist_ok=True)
            os.chdir(workdir)
        empty_folder(workdir)
        failure = self.load_error
        value = None
        if failure is None:
            try:
                _, _, blob, offsets = run.load_payload()  # (loaded before the launcher started)
                start, end = records.input_range(offsets, index)
                value = loads(blob[start:end])
            except BaseException as exc:  # noqa: BLE001
                failure = (traceback.format_exc(), load_failure_reason(exc, "the input"))
        if failure is not None:
            with _suppress():
                sys.stderr.write(failure[0])
            try:
                records.write_element_status(
                    self.storage,
                    run.layout,
                    ElementStatus(index, FAILED, reason=failure[1], stopped=time.time(), exit_code=1),
                )
            except OSError as exc:
                if is_no_space(exc):
                    return NO_SPACE_EXIT
                raise
            return 1
        try:
            status = execute(
                self.storage,
                run.manifest,
                index,
                self.function,
                value,
                self.input_shared,
                self.global_config,
                workdir,
                shell_names=self.names,
                record_running=False,
                label=self.labels[index] if index < len(self.labels) else None,
            )
        except OSError as exc:
            if not is_no_space(exc):
                raise
            # the disk is full and not even the element's FAILED status could be written: the
            # supervisor records it from this exit code (and tries again until it is written)
            empty_folder(workdir)
            return NO_SPACE_EXIT
        with _suppress():  # (a log on a full disk)
            sys.stdout.flush()
            sys.stderr.flush()
        empty_folder(workdir)
        return 0 if status.status == SUCCEEDED else 1
