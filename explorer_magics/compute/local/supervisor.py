"""The local cluster's supervisor: ``python -m explorer_magics.compute.local.supervisor``.

One per state directory (held by an exclusive lock). Single-threaded: a selector waits on the
control socket, on each run's launcher socket, on pip installs and on a signal pipe. It decides
what runs where (``max_parallel`` slots shared by every analysis, round-robin between them),
enforces timeouts, and keeps each analysis's summary.

Elements are not forked by the supervisor but by a per-analysis *launcher* (``launcher.py``): a child of the
supervisor that sets up the analysis once (environment, pip packages, the unpickled work
function) and then forks one process per element from that warm state, each in its own
process group, with the memory limit applied, stdout/stderr going to the element's log files,
and SIGKILL on its parent's death (so nothing keeps RUNNING unsupervised).
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import json
import os
import select
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from ... import records, session
from ...config import get_settings
from ...errors import ExplorerError, NotFound
from ...observe.measure import hostname
from ...records import (
    FAILED,
    PENDING,
    RUNNABLE,
    RUNNING,
    SUCCEEDED,
    ElementStatus,
    Manifest,
    StatusSummary,
)
from ...runner import (
    pip_env_dir,
    pip_env_ready,
    pip_install_command,
    publish_pip_env,
)
from ...storage.base import Storage
from ..base import dependency_failed_reason
from .client import LocalSettings, socket_path, spool_path
from .launcher import Launcher
from .libc import refreeze
from .libc import suppress as _suppress

SUMMARY_INTERVAL = 0.2
KILL_GRACE = 3.0
DEP_POLL = 0.5
OUTCOME_DAYS = 30  # how long the final status of a finished run is kept for its dependents
IDLE_EXIT = float(os.environ.get("EXPLORER_LOCAL_IDLE_SECONDS", "600"))
MAX_LAUNCHERS = 3  # launcher processes per run before its remaining elements fail


def log(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {msg}", flush=True)


class Proc:
    """One launched element (``pid`` is None until its launcher reports the fork)."""

    __slots__ = ("pid", "index", "run", "deadline", "started", "kill_reason", "kill_at", "slot", "usage")

    def __init__(self, index: int, run: Run, deadline: float | None, slot: int) -> None:
        self.slot = slot
        self.pid: int | None = None
        self.index = index
        self.run = run
        self.deadline = deadline
        self.started = time.time()
        self.kill_reason: str | None = None
        self.kill_at: float | None = None
        self.usage: tuple[float, float] | None = None  # observe: (cpu_s, peak_rss_mb) from wait4


class Run:
    """One analysis being run."""

    def __init__(
        self,
        manifest: Manifest,
        storage: Storage,
        env: dict[str, str],
        journal: Path,
        waits: list[dict[str, str]],
        indices: list[int] | None,
    ) -> None:
        self.manifest = manifest
        #: dependencies still running on this cluster when it was submitted ({"id", "name"})
        self.waits = waits
        #: the elements to run (None: all); the others keep the status their records say
        self.indices = indices
        self.storage = storage
        self.env = env
        self.journal = journal
        self.layout = manifest.layout
        self.pending: collections.deque[int] = collections.deque()
        self.running: dict[int, Proc] = {}
        self.ready = not waits
        start = RUNNABLE if self.ready else PENDING
        #: every element's status, one letter each (``elements.txt``; the counts come from it)
        self.letters = bytearray(records.STATUS_LETTERS[start] * manifest.count)
        if indices is not None:  # the others as recorded: elements.txt, else their status files
            self.letters = bytearray(self._recorded_letters(start))
            for i in indices:
                self.letters[i] = records.STATUS_LETTERS[start][0]
        self.payload: tuple[bytes, bytes, bytes, bytes] | None = None
        self.pip_state = "ready" if not manifest.pip_packages else "needed"
        self.pip_dir: Path | None = None
        self.dirty = True
        self.last_flush = 0.0
        self.reason: str | None = None
        self.next_dep_check = 0.0
        self.started_fd: int | None = None
        self.launcher: LauncherHandle | None = None
        self.launchers_started = 0

    def _recorded_letters(self, default: str) -> bytes:
        try:
            letters = self.storage.get_bytes(self.layout.elements)
            if len(letters) == self.manifest.count:
                return letters
        except NotFound:
            pass
        out = bytearray(records.STATUS_LETTERS[default] * self.manifest.count)
        for i in range(self.manifest.count):
            try:
                el = ElementStatus.from_json(self.storage.get_bytes(self.layout.status(i)))
            except NotFound:
                continue
            out[i] = records.STATUS_LETTERS[el.status][0]
        return bytes(out)

    @property
    def finished(self) -> bool:
        return not self.pending and not self.running

    def note_started(self, index: int) -> None:
        """Append the index to the run's started log (one write, no new file per element), so
        a later supervisor knows which elements were running if this one dies."""
        if self.started_fd is None:
            self.started_fd = os.open(_started_log(self.journal), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self.started_fd, f"{index}\n".encode())

    def close(self) -> None:
        if self.started_fd is not None:
            os.close(self.started_fd)
            self.started_fd = None
        _started_log(self.journal).unlink(missing_ok=True)

    def load_payload(self) -> tuple[bytes, bytes, bytes, bytes]:
        if self.payload is None:
            lay = self.layout
            self.payload = (
                self.storage.get_bytes(lay.function),
                self.storage.get_bytes(lay.shared),
                self.storage.get_bytes(lay.inputs_blob),
                self.storage.get_bytes(lay.inputs_index),
            )
        return self.payload

    def set(self, index: int, status: str) -> None:
        """Element ``index`` is now ``status``."""
        letter = records.STATUS_LETTERS[status][0]
        if self.letters[index] != letter:
            self.letters[index] = letter
            self.dirty = True

    @property
    def counts(self) -> dict[str, int]:
        """How many elements are in each status (those with none left out)."""
        found = ((status, self.letters.count(letter)) for status, letter in records.STATUS_LETTERS.items())
        return {status: n for status, n in found if n}

    def summary(self) -> StatusSummary:
        counts = self.counts
        status = records.overall_status(counts, self.manifest.count)
        running = sorted(i for i, p in self.running.items() if p.pid is not None)
        if not self.ready and not self.running and self.pending and status in (RUNNABLE, PENDING):
            status = PENDING
        return StatusSummary(
            status=status,
            counts=counts,
            size=self.manifest.size,
            reason=self.reason,
            updated=time.time(),
            running=tuple(running),
            running_started=tuple(self.running[i].started for i in running),  # observe
        )


class LauncherHandle:
    """The supervisor's end of a run's launcher process."""

    __slots__ = ("pid", "sock", "ready")

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock
        self.ready = False


class Supervisor:
    def __init__(self, state: Path, max_parallel: int) -> None:
        self.state = state
        self.max_parallel = max_parallel
        self.runs: dict[str, Run] = {}
        self.order: collections.deque[str] = collections.deque()  # round-robin
        self.slots: dict[int, list[Proc]] = {}  # slot -> [its element, the one queued behind it]
        self.exited_launchers: list[int] = []
        self.pip_jobs: dict[int, tuple[Any, Run]] = {}  # pidfd -> (Popen, run)
        self.sel = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.clients: dict[int, tuple[socket.socket, bytearray]] = {}
        self.stopping = False
        self.last_activity = time.monotonic()
        self.pid = os.getpid()
        (state / "queue").mkdir(parents=True, exist_ok=True)
        (state / "work").mkdir(parents=True, exist_ok=True)

    def procs(self) -> list[Proc]:
        """Every launched element (started, or waiting in its launcher for its slot)."""
        return [proc for run in self.runs.values() for proc in run.running.values()]

    # -- start-up -----------------------------------------------------------------------
    def warm_up(self) -> None:
        """Import what every element needs, once, before forking."""
        from ... import models, shell  # noqa: F401 - what work functions use (the runner is loaded)

        shell.get_ipython()
        refreeze()

    def listen(self) -> None:
        path = socket_path(self.state)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        sock.listen(64)
        sock.setblocking(False)
        self.listener = sock
        self.sel.register(sock, selectors.EVENT_READ, "accept")

    def recover(self) -> None:
        """Pick up analyses a previous supervisor did not finish."""
        for journal in sorted((self.state / "queue").glob("*.json")):
            try:
                entry = json.loads(journal.read_text())
                self.add_run(
                    entry["analysis"],
                    entry["user"],
                    entry["env"],
                    waits=entry.get("waits", []),
                    indices=entry.get("indices"),
                    recovering=True,
                )
            except Exception as exc:  # noqa: BLE001 - one bad journal must not stop the rest
                log(f"cannot recover {journal.name}: {exc}")
                journal.unlink(missing_ok=True)

    # -- runs ---------------------------------------------------------------------------
    def add_run(
        self,
        analysis_id: str,
        user: str,
        env: dict[str, str],
        *,
        waits: list[dict[str, str]],
        indices: list[int] | None = None,
        recovering: bool = False,
    ) -> None:
        if analysis_id in self.runs:
            return
        # the storage as the submitter's settings (handed over in env) describe it
        storage = session.storage(get_settings(environ={**os.environ, **env}))
        manifest = records.read_manifest(storage, user, analysis_id)
        journal = self.state / "queue" / f"{analysis_id}.json"
        if not recovering:
            tmp = journal.with_suffix(".tmp")
            entry = {"analysis": analysis_id, "user": user, "env": env, "waits": waits, "indices": indices}
            tmp.write_text(json.dumps(entry))
            os.replace(tmp, journal)
        run = Run(manifest, storage, env, journal, waits, indices)
        selected = range(manifest.count) if indices is None else indices
        if recovering:
            started = _started_indices(journal)
            for i in selected:
                el = self._read_status(run, i)
                if el is not None and el.status in records.TERMINAL:
                    run.set(i, el.status)
                elif i in started or (el is not None and el.status not in (RUNNABLE, PENDING)):
                    # it was running when the previous supervisor stopped
                    reason = "the local cluster supervisor stopped while this element ran; run it again"
                    records.write_element_status(
                        storage, run.layout, ElementStatus(i, FAILED, reason=reason, stopped=time.time())
                    )
                    run.set(i, FAILED)
                else:
                    run.pending.append(i)
            log(f"recovered {analysis_id}: {run.counts}")
        else:
            if indices is not None:  # run again: an earlier outcome must not show while it waits or runs
                run.storage.delete_many([run.layout.status(i) for i in indices])
            run.pending.extend(selected)
        self.runs[analysis_id] = run
        self.order.append(analysis_id)
        self.flush(run, force=True)
        if run.finished:
            self.finish(run)

    @staticmethod
    def _read_status(run: Run, index: int) -> ElementStatus | None:
        try:
            return ElementStatus.from_json(run.storage.get_bytes(run.layout.status(index)))
        except NotFound:
            return None

    def fail_pending(self, run: Run, reason: str) -> None:
        """Every element not yet started becomes FAILED with ``reason``."""
        now = time.time()
        while run.pending:
            i = run.pending.popleft()
            records.write_element_status(run.storage, run.layout, ElementStatus(i, FAILED, reason=reason, stopped=now))
            run.set(i, FAILED)
        if run.reason is None:
            run.reason = reason

    def check_dependencies(self, run: Run) -> None:
        """Start a run once the runs of this cluster it waits for have succeeded (the core
        resolved every other dependency before submitting); fail it when one failed."""
        now = time.monotonic()
        if run.ready or now < run.next_dep_check:
            return
        run.next_dep_check = now + DEP_POLL
        for dep in run.waits:
            other = self.runs.get(dep["id"])
            if other is not None:
                status = other.summary().status if other.finished else RUNNING
            else:  # finished (its outcome kept), or never known here: as good as failed
                status = self.outcome(dep["id"]) or FAILED
            if status == FAILED:
                self.fail_pending(run, dependency_failed_reason(dep["name"], dep["id"]))
                self.flush(run, force=True)
                return
            if status != SUCCEEDED:
                return
        run.ready = True
        for i in run.pending:
            run.set(i, RUNNABLE)

    def outcome(self, analysis_id: str) -> str | None:
        """The final status of a run this cluster finished (kept across restarts), if any."""
        try:
            return (self.state / "outcomes" / analysis_id).read_text().strip() or None
        except (FileNotFoundError, NotADirectoryError):
            return None

    def keep_outcome(self, run: Run) -> None:
        folder = self.state / "outcomes"
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{run.manifest.id}.tmp"
        tmp.write_text(run.summary().status)
        os.replace(tmp, folder / run.manifest.id)

    def forget_old_outcomes(self, max_age: float = OUTCOME_DAYS * 86400) -> None:
        cutoff = time.time() - max_age
        with _suppress(), os.scandir(self.state / "outcomes") as entries:
            for entry in entries:
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)

    def finish(self, run: Run) -> None:
        self.flush(run, force=True)
        with _suppress():
            self.keep_outcome(run)
        run.journal.unlink(missing_ok=True)
        run.close()
        if run.launcher is not None:  # its socket closing tells the launcher to exit
            handle, run.launcher = run.launcher, None
            with _suppress():
                self.sel.unregister(handle.sock)
            handle.sock.close()
            self.exited_launchers.append(handle.pid)
        shutil.rmtree(self.state / "logs" / run.manifest.id, ignore_errors=True)
        self.runs.pop(run.manifest.id, None)
        try:
            self.order.remove(run.manifest.id)
        except ValueError:
            pass
        log(f"finished {run.manifest.id}: {run.counts}")

    def flush(self, run: Run, *, force: bool = False) -> None:
        now = time.monotonic()
        if run.dirty and (force or now - run.last_flush >= SUMMARY_INTERVAL):
            # the letters first: a reader takes the summary first, then the letters
            run.storage.put_bytes(run.layout.elements, bytes(run.letters))
            run.storage.put_bytes(run.layout.summary, run.summary().to_json())
            run.dirty = False
            run.last_flush = now

    # -- pip ------------------------------------------------------------------------------
    def start_pip(self, run: Run) -> None:
        import subprocess

        home = Path(run.env.get("EXPLORER_HOME", str(self.state.parent)))
        target = pip_env_dir(run.manifest.pip_packages, home)
        run.pip_dir = target
        if pip_env_ready(target):
            run.pip_state = "ready"
            return
        staging = Path(f"{target}.tmp-{os.getpid()}-{time.time_ns()}")
        staging.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.state / "pip.log", "ab")  # noqa: SIM115
        # stderr to a file, not a pipe: a pipe nobody reads until the end could fill and hang pip
        errf = tempfile.TemporaryFile(dir=self.state)  # noqa: SIM115 - read and closed in pip_done
        proc = subprocess.Popen(
            pip_install_command(run.manifest.pip_packages, staging),
            stdout=logf,
            stderr=errf,
            stdin=subprocess.DEVNULL,
        )
        logf.close()
        proc.explorer_stderr = errf  # type: ignore[attr-defined]
        fd = os.pidfd_open(proc.pid)
        self.pip_jobs[fd] = (proc, run, staging)  # type: ignore[assignment]
        self.sel.register(fd, selectors.EVENT_READ, "pip")
        run.pip_state = "installing"
        log(f"pip install for {run.manifest.id}: {' '.join(run.manifest.pip_packages)}")

    def pip_done(self, fd: int) -> None:
        proc, run, staging = self.pip_jobs.pop(fd)  # type: ignore[misc]
        self.sel.unregister(fd)
        os.close(fd)
        code = proc.wait()
        errf = proc.explorer_stderr
        errf.seek(0)
        err = errf.read().decode(errors="replace")
        errf.close()
        if code == 0:
            publish_pip_env(staging, run.pip_dir, run.manifest.pip_packages)
            run.pip_state = "ready"
        else:
            shutil.rmtree(staging, ignore_errors=True)
            tail = " | ".join(err.strip().splitlines()[-3:])
            run.pip_state = "failed"
            self.fail_pending(run, f"pip could not install {', '.join(run.manifest.pip_packages)}: {tail}"[:600])
            self.flush(run, force=True)
            if run.finished:
                self.finish(run)

    # -- launching ----------------------------------------------------------------------
    def launch_ready(self) -> None:
        free = [s for s in range(self.max_parallel) if s not in self.slots]
        idle_rounds = 0
        while free and idle_rounds < len(self.order):
            run_id = self.order[0]
            self.order.rotate(-1)
            run = self.runs[run_id]
            if not self.launchable(run):
                idle_rounds += 1
                continue
            idle_rounds = 0
            self.launch(run, run.pending.popleft(), free.pop(0))
        if free:
            return
        # Every slot is busy. When a single run is waiting for slots, queue its next element
        # behind each of its running ones: the launcher starts it the moment the slot frees.
        # (With several runs waiting, slots are handed out here, round-robin, instead.)
        waiting = [run for run in self.runs.values() if run.pending and self.launchable(run)]
        if len(waiting) != 1 or waiting[0].launcher is None or not waiting[0].launcher.ready:
            return
        run = waiting[0]
        for slot, procs in list(self.slots.items()):
            if not run.pending:
                break
            if len(procs) == 1 and procs[0].run is run and procs[0].pid is not None:
                self.launch(run, run.pending.popleft(), slot, queued=True)

    def launchable(self, run: Run) -> bool:
        if not run.pending or not run.ready:
            return False
        if run.pip_state == "needed":
            self.start_pip(run)
        return run.pip_state == "ready"

    def launch(self, run: Run, index: int, slot: int, *, queued: bool = False) -> None:
        try:
            run.load_payload()
        except Exception as exc:  # noqa: BLE001
            self.fail_pending(run, f"cannot read the analysis record: {exc}")
            records.write_element_status(run.storage, run.layout, ElementStatus(index, FAILED, reason=str(exc)))
            run.set(index, FAILED)
            if run.finished:
                self.finish(run)
            return
        if run.launcher is None:
            self.start_launcher(run)
        assert run.launcher is not None
        timeout = run.manifest.job_definition.get("timeout_seconds")
        # the deadline of a queued element starts when it does; one launched now also covers
        # a launcher stuck loading the work function
        deadline = time.monotonic() + timeout if timeout and not queued else None
        proc = Proc(index, run, deadline, slot)
        self.slots.setdefault(slot, []).append(proc)
        run.running[index] = proc
        try:
            run.launcher.sock.send(b"L %d %d" % (index, slot))
        except OSError:
            self.launcher_gone(run)

    def start_launcher(self, run: Run) -> None:
        """Fork the run's launcher: it does the run's one-off set-up once (environment, pip
        packages, the work function unpickled, a storage client), then forks one process
        per element from that warm state. The supervisor itself never forks per element, so
        its own bookkeeping does not copy-on-write its pages after every fork."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # the launcher
            code = 70
            try:
                ours.close()
                code = Launcher(self, run, theirs).serve()
            except BaseException:  # noqa: BLE001
                with _suppress():
                    traceback.print_exc()
            finally:
                os._exit(code)
        theirs.close()
        ours.setblocking(False)
        run.launcher = LauncherHandle(pid, ours)
        run.launchers_started += 1
        self.sel.register(ours, selectors.EVENT_READ, ("launcher", run))

    def on_launcher(self, run: Run) -> None:
        """Messages from a run's launcher: R (ready), S index pid (started), E index wstatus (exited)."""
        while run.launcher is not None:
            try:
                msg = run.launcher.sock.recv(64)
            except BlockingIOError:
                return
            except OSError:
                msg = b""
            if not msg:
                self.launcher_gone(run)
                return
            kind, *args = msg.split()
            if kind == b"R":
                run.launcher.ready = True
            elif kind == b"S":
                self.on_started(run, int(args[0]), int(args[1]))
            elif kind == b"E":
                proc = run.running.get(int(args[0]))
                if proc is not None and proc.pid is not None:
                    if len(args) >= 4:  # observe: what the element used, for a record written here
                        proc.usage = (int(args[2]) / 1000.0, int(args[3]) / 1024.0)
                    self.reap(proc, os.waitstatus_to_exitcode(int(args[1])))

    def on_started(self, run: Run, index: int, pid: int) -> None:
        proc = run.running.get(index)
        if proc is None:  # withdrawn while its launcher forked it
            with _suppress():
                os.killpg(pid, signal.SIGKILL)
            return
        proc.pid = pid
        proc.started = time.time()
        timeout = run.manifest.job_definition.get("timeout_seconds")
        if timeout:
            proc.deadline = time.monotonic() + timeout
        run.note_started(index)
        run.set(index, RUNNING)
        if proc.kill_reason is not None:
            with _suppress():
                os.killpg(pid, signal.SIGKILL)

    def launcher_gone(self, run: Run) -> None:
        """The launcher's socket closed: it exited (or was killed). Its elements died with it."""
        handle = run.launcher
        if handle is None:
            return
        run.launcher = None
        with _suppress():
            self.sel.unregister(handle.sock)
        handle.sock.close()
        with _suppress():
            os.kill(handle.pid, signal.SIGKILL)
        self.exited_launchers.append(handle.pid)
        self.reap_launchers()
        reason = "the process that starts this analysis's elements stopped unexpectedly" + (
            "" if handle.ready else " while loading the work function"
        )
        lost = list(run.running.values())
        for proc in lost:
            if proc.pid is None and handle.ready and proc.kill_reason is None:
                self.forget(proc)  # never started: it waits for the next launcher
                run.pending.appendleft(proc.index)
        for proc in lost:
            if proc.index in run.running:
                if proc.pid is not None:
                    with _suppress():
                        os.killpg(proc.pid, signal.SIGKILL)
                self.reap(proc, None, reason=proc.kill_reason or reason)
        if run.launchers_started >= MAX_LAUNCHERS and run.pending:
            self.fail_pending(run, reason)
            self.flush(run, force=True)
            if run.finished:
                self.finish(run)

    def reap_launchers(self) -> None:
        for pid in list(self.exited_launchers):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.exited_launchers.remove(pid)

    # -- reaping ------------------------------------------------------------------------
    def forget(self, proc: Proc) -> None:
        run = proc.run
        run.running.pop(proc.index, None)
        in_slot = self.slots.get(proc.slot, [])
        if proc in in_slot:
            in_slot.remove(proc)
            if not in_slot:
                del self.slots[proc.slot]

    def reap(self, proc: Proc, code: int | None, *, reason: str | None = None) -> None:
        """Element ``proc`` ended with exit ``code`` (None: it never ran or its end was not
        seen; ``reason`` says why)."""
        run = proc.run
        self.forget(proc)
        if proc.pid is not None:
            with _suppress():  # the element's process group may have left processes behind
                os.killpg(proc.pid, signal.SIGKILL)
        if code in (0, 1) and proc.kill_reason is None:
            final = SUCCEEDED if code == 0 else FAILED
        else:
            final = FAILED
            if code is not None:
                reason = proc.kill_reason or _exit_reason(code, run.manifest.job_definition)
            records.write_element_status(
                run.storage,
                run.layout,
                ElementStatus(
                    proc.index,
                    FAILED,
                    reason=reason,
                    started=proc.started if proc.pid is not None else None,
                    stopped=time.time(),
                    exit_code=code,
                    **_observed(proc, code),
                ),
            )
        if proc.pid is not None and run.storage.local_path(run.layout.log(proc.index, "stdout")) is None:
            for stream in ("stdout", "stderr"):
                spool = spool_path(self.state, run.manifest.id, proc.index, stream)
                if spool.exists():
                    with _suppress():
                        run.storage.upload_file(spool, run.layout.log(proc.index, stream))
                        spool.unlink()
        run.set(proc.index, final)
        if run.finished:
            self.finish(run)

    def kill(self, proc: Proc, reason: str, sig: int = signal.SIGTERM) -> None:
        proc.kill_reason = proc.kill_reason or reason
        if proc.pid is not None:
            if proc.kill_at is None:
                proc.kill_at = time.monotonic() + KILL_GRACE
            with _suppress():
                os.killpg(proc.pid, sig)
            return
        launcher = proc.run.launcher
        if launcher is not None and not launcher.ready:
            # still loading the work function (stuck?): stopping the launcher ends its elements
            with _suppress():
                os.kill(launcher.pid, signal.SIGKILL)
            return
        if launcher is not None:  # not started yet: withdraw it
            with _suppress():
                launcher.sock.send(b"C %d" % proc.index)
        self.reap(proc, None, reason=proc.kill_reason)

    def check_deadlines(self) -> None:
        now = time.monotonic()
        for proc in self.procs():
            if proc.deadline is not None and now >= proc.deadline and proc.kill_reason is None:
                t = proc.run.manifest.job_definition.get("timeout_seconds")
                self.kill(proc, f"timeout: the element ran longer than timeout_seconds={t:g}", signal.SIGKILL)
            elif proc.kill_at is not None and now >= proc.kill_at and proc.pid is not None:
                with _suppress():
                    os.killpg(proc.pid, signal.SIGKILL)

    # -- control socket -----------------------------------------------------------------
    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "ping":
            running = sum(p.pid is not None for p in self.procs())
            return {"ok": True, "pid": self.pid, "running": running, "analyses": len(self.runs)}
        if op == "submit":
            self.add_run(
                message["analysis"],
                message["user"],
                message["env"],
                waits=list(message.get("waits") or []),
                indices=message.get("indices"),
            )
            return {"ok": True}
        if op == "terminate":
            run = self.runs.get(message["analysis"])
            if run is None:
                return {"ok": True, "note": "not running"}
            index = message.get("index")
            reason = "terminated by user"
            if index is None:
                self.fail_pending(run, reason)
                for proc in list(run.running.values()):
                    self.kill(proc, reason)
            elif index in run.running:
                self.kill(run.running[index], reason)
            elif index in run.pending:
                run.pending.remove(index)
                records.write_element_status(
                    run.storage, run.layout, ElementStatus(index, FAILED, reason=reason, stopped=time.time())
                )
                run.set(index, FAILED)
            self.flush(run, force=True)
            if run.finished:
                self.finish(run)
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}

    def on_client(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        _, buf = self.clients[fd]
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        buf.extend(data)
        if data and b"\n" not in buf:
            return
        self.sel.unregister(sock)
        del self.clients[fd]
        try:
            if not buf.strip():
                return
            try:
                answer = self.handle(json.loads(bytes(buf)))
            except (ExplorerError, KeyError, ValueError, OSError) as exc:
                answer = {"ok": False, "error": str(exc)}
            sock.setblocking(True)
            sock.settimeout(5)
            with _suppress():
                sock.sendall(json.dumps(answer).encode())
        finally:
            sock.close()

    # -- main loop ----------------------------------------------------------------------
    def loop(self) -> None:
        rfd, wfd = os.pipe()
        os.set_blocking(rfd, False)
        os.set_blocking(wfd, False)
        signal.set_wakeup_fd(wfd)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel.register(rfd, selectors.EVENT_READ, "signal")
        while not self.stopping:
            timeout = self.next_timeout()
            for key, _ in self.sel.select(timeout):
                kind = key.data
                if isinstance(kind, tuple):  # ("launcher", run)
                    self.on_launcher(kind[1])
                elif kind == "accept":
                    assert self.listener is not None
                    with _suppress():
                        conn, _ = self.listener.accept()
                        conn.setblocking(False)
                        self.clients[conn.fileno()] = (conn, bytearray())
                        self.sel.register(conn, selectors.EVENT_READ, "client")
                elif kind == "client":
                    self.on_client(key.fileobj)  # type: ignore[arg-type]
                elif kind == "pip":
                    self.pip_done(key.fd)
                elif kind == "signal":
                    with _suppress():
                        os.read(rfd, 512)
            if self.exited_launchers:
                self.reap_launchers()
            self.check_deadlines()
            for run in list(self.runs.values()):
                self.check_dependencies(run)
            self.launch_ready()
            for run in list(self.runs.values()):
                self.flush(run)
            if self.runs or self.clients:  # (a run is kept until none of its elements runs)
                self.last_activity = time.monotonic()
            elif time.monotonic() - self.last_activity > IDLE_EXIT:
                log("idle; exiting")
                break
        self.shutdown()

    def next_timeout(self) -> float:
        timeout = 1.0
        now = time.monotonic()
        if any(r.dirty for r in self.runs.values()):
            timeout = min(timeout, SUMMARY_INTERVAL)
        if any(not r.ready for r in self.runs.values()):
            timeout = min(timeout, DEP_POLL)
        for proc in self.procs():
            for t in (proc.deadline, proc.kill_at):
                if t is not None:
                    timeout = min(timeout, max(0.0, t - now))
        return timeout

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def shutdown(self) -> None:
        for run in list(self.runs.values()):  # what the launchers already reported
            self.on_launcher(run)
        procs = self.procs()
        for proc in procs:
            if proc.pid is not None:
                with _suppress():
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in procs:  # gone before their FAILED status is written, so nothing overwrites it
            if proc.pid is not None:
                _wait_gone(proc.pid)
        for run in self.runs.values():
            if run.launcher is not None:
                with _suppress():
                    os.kill(run.launcher.pid, signal.SIGKILL)
                    os.waitpid(run.launcher.pid, 0)
        reason = "the local cluster supervisor was stopped while this element ran; run it again"
        for proc in procs:
            if proc.pid is None:
                continue  # never started: the journal keeps it for the next supervisor
            with _suppress():
                records.write_element_status(
                    proc.run.storage,
                    proc.run.layout,
                    ElementStatus(proc.index, FAILED, reason=reason, started=proc.started, stopped=time.time()),
                )
            proc.run.set(proc.index, FAILED)  # the journal stays: a new supervisor runs what waits
        for run in self.runs.values():
            with _suppress():
                self.flush(run, force=True)
        with _suppress():
            os.unlink(socket_path(self.state))


def _wait_gone(pid: int, timeout: float = 2.0) -> None:
    """Wait until process ``pid`` (not our child: an element is its launcher's) has exited."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return  # already gone
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)


def _started_log(journal: Path) -> Path:
    return journal.with_suffix(".started")


def _started_indices(journal: Path) -> set[int]:
    try:
        return {int(x) for x in _started_log(journal).read_text().split()}
    except (FileNotFoundError, ValueError):
        return set()


def _observed(proc: Proc, code: int | None) -> dict[str, Any]:
    """observe (issue 14): the measured fields of a record the supervisor writes for an element
    that could not write its own (killed, crashed): signal, CPU and peak memory from wait4."""
    out: dict[str, Any] = {"host": hostname()} if proc.pid is not None else {}
    if code is not None and code < 0:
        with _suppress():
            out["signal"] = signal.Signals(-code).name
    if proc.usage is not None:
        out["cpu_s"], out["peak_rss_mb"] = round(proc.usage[0], 3), round(proc.usage[1], 1)
    return out


def _exit_reason(code: int, job_definition: dict[str, Any]) -> str:
    if code < 0:
        sig = -code
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        if sig == signal.SIGKILL:
            memory = job_definition.get("memory_mb")
            return f"killed by {name} (out of memory above memory_mb={memory}, or killed from outside)"
        if sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
            return f"crashed with {name} (often out of memory: memory_mb={job_definition.get('memory_mb')})"
        return f"killed by {name}"
    return f"the element process exited with code {code} before recording a result"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Explorer local cluster supervisor")
    parser.add_argument("--state", required=True)
    parser.add_argument("--daemon", action="store_true", help="detach: return at once, keep running")
    args = parser.parse_args(argv)
    if args.daemon and os.fork() != 0:
        return 0  # the starter exits at once; the supervisor is re-parented to init
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock_fd = os.open(state / "supervisor.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another supervisor holds this state directory
    os.ftruncate(lock_fd, 0)
    os.write(lock_fd, str(os.getpid()).encode())
    settings = session.settings()
    sup = Supervisor(state, settings.of(LocalSettings).slots)
    log(f"supervisor {os.getpid()} starting; max_parallel={sup.max_parallel}")
    sup.warm_up()
    sup.forget_old_outcomes()
    sup.recover()
    sup.listen()
    sup.loop()
    log("stopped")
    # Skip interpreter finalization (seconds with a frozen, IPython-sized heap): the lock and
    # the socket go with the process, and everything else is already in storage.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
