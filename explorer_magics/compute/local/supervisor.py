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

from ... import records
from ...config import get_settings
from ...errors import ExplorerError, NotFound, is_no_space, no_space_reason
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
from ...rerun import failure_kind, next_resources, resources_of
from ...runner import (
    exit_reason,
    pip_env_dir,
    pip_env_ready,
    pip_install_command,
    publish_pip_env,
)
from ...session import Session
from ...storage.base import Storage
from ..base import dependency_failed_reason
from .client import LocalSettings, socket_path, spool_path, state_token
from .launcher import Launcher
from .libc import become_subreaper, kill_marked, kill_strays, refreeze
from .libc import suppress as _suppress

SUMMARY_INTERVAL = 0.2
KILL_GRACE = 3.0
DEP_POLL = 0.5
OUTCOME_DAYS = 30  # how long the final status of a finished run is kept for its dependents
IDLE_EXIT = float(os.environ.get("EXPLORER_LOCAL_IDLE_SECONDS", "600"))
#: launchers of one run that may die in a row, without an element finishing in between,
#: before its remaining elements fail: a launcher that keeps dying (its loading crashes the
#: process, the machine keeps killing it) would otherwise be restarted forever
MAX_LAUNCHER_DEATHS = 3


def log(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {msg}", flush=True)


class Proc:
    """One launched element (``pid`` is None until its launcher reports the fork)."""

    __slots__ = ("pid", "index", "run", "deadline", "started", "launched", "kill_reason", "kill_at", "slot", "usage")

    def __init__(self, index: int, run: Run, deadline: float | None, slot: int) -> None:
        self.slot = slot
        self.pid: int | None = None
        self.index = index
        self.run = run
        self.deadline = deadline
        self.started = time.time()
        self.launched = self.started  # when it was handed to its launcher (``started`` is its start)
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
        self.launcher_deaths = 0  # in a row: an element finishing starts the count again
        #: element statuses storage refused (a full disk): written again on every flush
        self.unwritten: dict[int, ElementStatus] = {}
        self.closing = False  # finished, but its last records are not in storage yet
        self.write_error: str | None = None  # the last write storage refused (logged once)
        #: (retries that learn) elements whose next attempt has other resources, and how many
        #: automatic retries each has had
        self.overrides: dict[int, dict[str, Any]] = {}
        self.tries: dict[int, int] = {}

    def job_definition_of(self, index: int) -> dict[str, Any]:
        """The job definition element ``index`` runs with now (a retry may have grown it)."""
        override = self.overrides.get(index)
        return {**self.manifest.job_definition, **override} if override else self.manifest.job_definition

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
        try:
            if self.started_fd is None:
                self.started_fd = os.open(_started_log(self.journal), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.write(self.started_fd, f"{index}\n".encode())
        except OSError as exc:  # a full disk: the element runs all the same (recovery reads statuses)
            log(f"{self.manifest.id}: cannot note element {index} as started: {exc}")

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
    def __init__(self, state: Path, max_parallel: int, session: Session | None = None) -> None:
        #: the supervisor's own settings (its environment's): the identity of a run rebuilt from a journal
        self.session = session if session is not None else Session()
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
        self.token = state_token(state)
        self.logged_failures: set[tuple[str, str]] = set()
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
                try:
                    entry = json.loads(journal.read_text())
                    analysis, user, env = entry["analysis"], entry["user"], entry["env"]
                    waits, indices = entry.get("waits", []), entry.get("indices")
                except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                    # cut short (a full disk, a crash while it was written): rebuilt from the
                    # analysis id in its name, this supervisor's own settings (those of the
                    # process that started it) and the analysis's record in storage
                    log(f"journal {journal.name} is unreadable ({exc}); rebuilding it from storage")
                    analysis, (user, env) = journal.stem, self._own_identity()
                    waits, indices = self._own_waits(analysis, user, env), None
                    self._write_journal(journal, analysis, user, env, waits, indices, best_effort=True)
                self.add_run(analysis, user, env, waits=waits, indices=indices, recovering=True)
            except Exception as exc:  # noqa: BLE001 - one bad journal must not stop the rest
                log(f"cannot recover {journal.name}: {exc}")
                journal.unlink(missing_ok=True)

    def _own_identity(self) -> tuple[str, dict[str, str]]:
        """(user, environment) of a run submitted with this supervisor's own settings."""
        settings = self.session.settings
        env = settings.as_env()
        env["EXPLORER_STORAGE"] = settings.storage_url
        return settings.user, env

    def _own_waits(self, analysis_id: str, user: str, env: dict[str, str]) -> list[dict[str, str]]:
        """The dependencies a rebuilt run waits for: those this cluster runs or ran (the core
        resolved the others when it was submitted)."""
        manifest = records.read_manifest(self._storage(env), user, analysis_id)
        return [
            {"id": d["id"], "name": d["name"]}
            for d in manifest.depends_on
            if d["id"] in self.runs or self.outcome(d["id"]) is not None
        ]

    @staticmethod
    def _write_journal(
        journal: Path,
        analysis_id: str,
        user: str,
        env: dict[str, str],
        waits: list[dict[str, str]],
        indices: list[int] | None,
        *,
        best_effort: bool,
    ) -> None:
        """Write a run's journal whole or not at all (a temporary file, synced, renamed)."""
        tmp = journal.with_suffix(".tmp")
        entry = {"analysis": analysis_id, "user": user, "env": env, "waits": waits, "indices": indices}
        try:
            with open(tmp, "w") as fh:
                fh.write(json.dumps(entry))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, journal)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if best_effort:
                log(f"cannot write the journal {journal.name}: {exc}")
                return
            if is_no_space(exc):
                raise ExplorerError(
                    no_space_reason(exc, where=f"the local cluster's journal in {journal.parent}", then="submit again")
                ) from None
            raise

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
            if indices is not None:  # a rerun of elements that ended while the rest still run
                run = self.runs[analysis_id]
                for i in indices:
                    if i not in run.running and i not in run.pending:
                        run.pending.append(i)
                        run.set(i, RUNNABLE if run.ready else PENDING)
                if run.indices is not None:  # the journal says what a recovering supervisor runs
                    run.indices = sorted(set(run.indices) | set(indices))
                    now_runs: dict[str, Any] = {"analysis": analysis_id, "user": user, "env": run.env}
                    tmp = run.journal.with_suffix(".tmp")
                    tmp.write_text(json.dumps({**now_runs, "waits": run.waits, "indices": run.indices}))
                    os.replace(tmp, run.journal)
                self.flush(run, force=True)
            return
        # the storage as the submitter's settings (handed over in env) describe it
        storage = self._storage(env)
        manifest = records.read_manifest(storage, user, analysis_id)
        if indices is not None and any(i >= manifest.count for i in indices):
            raise ExplorerError(f"{analysis_id} has {manifest.count} element(s); indices {indices[:10]} go past them.")
        journal = self.state / "queue" / f"{analysis_id}.json"
        if not recovering:  # a submission the disk cannot journal is refused (the SDK removes its record)
            self._write_journal(journal, analysis_id, user, env, waits, indices, best_effort=False)
        elif not journal.exists():  # taken up from storage (terminate): journal it from now on
            self._write_journal(journal, analysis_id, user, env, waits, indices, best_effort=True)
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
                    self.record(run, ElementStatus(i, FAILED, reason=reason, stopped=time.time()))
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
            self.record(run, ElementStatus(i, FAILED, reason=reason, stopped=now))
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
                if run.finished:  # nothing of it ever ran: it is done (and the supervisor may go idle)
                    self.finish(run)
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
        if run.launcher is not None:  # its socket closing tells the launcher to exit
            handle, run.launcher = run.launcher, None
            with _suppress():
                self.sel.unregister(handle.sock)
            handle.sock.close()
            self.exited_launchers.append(handle.pid)
        if not self.flush(run, force=True):
            # storage refuses the final records (a full disk): the run, and its journal, stay
            # until they are written (retried from the loop), so no reader waits forever
            run.closing = True
            return
        run.closing = False
        with _suppress():
            self.keep_outcome(run)
        run.journal.unlink(missing_ok=True)
        run.close()
        shutil.rmtree(self.state / "logs" / run.manifest.id, ignore_errors=True)
        self.runs.pop(run.manifest.id, None)
        try:
            self.order.remove(run.manifest.id)
        except ValueError:
            pass
        log(f"finished {run.manifest.id}: {run.counts}")

    def record(self, run: Run, status: ElementStatus) -> None:
        """Write an element's status; one storage refuses (a full disk) is kept and written
        again with every flush: the supervisor never stops over a failed write."""
        try:
            records.write_element_status(run.storage, run.layout, status)
        except OSError as exc:
            run.unwritten[status.index] = status
            run.dirty = True
            self._write_failed(run, exc)
        else:
            run.unwritten.pop(status.index, None)

    def _write_failed(self, run: Run, exc: OSError) -> None:
        text = f"{type(exc).__name__}: {exc}"
        if text != run.write_error:  # once per kind of failure, not at every retry
            log(f"{run.manifest.id}: storage refused a write, retrying: {text}")
            run.write_error = text

    def flush(self, run: Run, *, force: bool = False) -> bool:
        """Write the run's letters and summary (and statuses storage refused before) if they
        changed. False if storage refused them: they are tried again later."""
        now = time.monotonic()
        if run.dirty and (force or now - run.last_flush >= SUMMARY_INTERVAL):
            run.last_flush = now
            try:
                for status in list(run.unwritten.values()):
                    records.write_element_status(run.storage, run.layout, status)
                    del run.unwritten[status.index]
                # the letters first: a reader takes the summary first, then the letters
                run.storage.put_bytes(run.layout.elements, bytes(run.letters))
                run.storage.put_bytes(run.layout.summary, run.summary().to_json())
            except OSError as exc:
                self._write_failed(run, exc)
                return False
            run.dirty = False
            if run.write_error is not None:
                log(f"{run.manifest.id}: storage takes writes again")
                run.write_error = None
        return not run.dirty

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
            try:
                self.start_pip(run)
            except OSError as exc:  # e.g. a full disk: the install cannot even begin
                run.pip_state = "failed"
                self.fail_pending(run, f"cannot install {', '.join(run.manifest.pip_packages)}: {exc}"[:600])
                self.flush(run, force=True)
                if run.finished:
                    self.finish(run)
                return False
        return run.pip_state == "ready"

    def launch(self, run: Run, index: int, slot: int, *, queued: bool = False) -> None:
        try:
            run.load_payload()
        except Exception as exc:  # noqa: BLE001
            self.fail_pending(run, f"cannot read the analysis record: {exc}")
            self.record(run, ElementStatus(index, FAILED, reason=str(exc)))
            run.set(index, FAILED)
            if run.finished:
                self.finish(run)
            return
        if run.launcher is None:
            try:
                self.start_launcher(run)
            except OSError as exc:  # no process or socket to be had now (fork, EMFILE): later
                run.pending.appendleft(index)
                self._log_once("starting a launcher", f"{type(exc).__name__}: {exc}")
                return
        assert run.launcher is not None
        timeout = run.job_definition_of(index).get("timeout_seconds")
        # the deadline of a queued element starts when it does; one launched now also covers
        # a launcher stuck loading the work function
        deadline = time.monotonic() + timeout if timeout and not queued else None
        proc = Proc(index, run, deadline, slot)
        self.slots.setdefault(slot, []).append(proc)
        run.running[index] = proc
        try:
            override = run.overrides.get(index, {}).get("memory_mb")
            if override:
                run.launcher.sock.send(b"L %d %d %d" % (index, slot, int(override)))
            else:
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
                run.launcher_deaths = 0  # an element finished: this launcher works
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
        timeout = run.job_definition_of(index).get("timeout_seconds")
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
        with _suppress():
            os.waitpid(handle.pid, 0)  # gone: its elements, and what they started, are ours now
        self.end_strays()
        run.launcher_deaths += 1
        reason = "the process that starts this analysis's elements stopped unexpectedly" + (
            "" if handle.ready else " while loading the work function"
        )
        lost = list(run.running.values())
        for proc in lost:
            if proc.pid is None and handle.ready and proc.kill_reason is None and not self._began(proc):
                self.forget(proc)  # never started: it waits for the next launcher
                run.pending.appendleft(proc.index)
        for proc in lost:
            if proc.index in run.running:
                if proc.pid is not None:
                    with _suppress():
                        os.killpg(proc.pid, signal.SIGKILL)
                recorded = self._recorded_end(proc) if proc.kill_reason is None else None
                if recorded is not None:  # it had finished and recorded it; only the news was lost
                    self.reap(proc, 0 if recorded == SUCCEEDED else 1)
                else:
                    self.reap(proc, None, reason=proc.kill_reason or reason)
        log(f"launcher {handle.pid} of {run.manifest.id} stopped unexpectedly ({run.launcher_deaths} in a row)")
        if run.launcher_deaths >= MAX_LAUNCHER_DEATHS and run.pending:
            self.fail_pending(
                run,
                f"not started: {reason} {run.launcher_deaths} times in a row, without an element finishing in "
                "between; see supervisor.log in the local cluster's folder",
            )
            self.flush(run, force=True)
            if run.finished:
                self.finish(run)

    def _began(self, proc: Proc) -> bool:
        """True if element ``proc`` was forked in this launch although its launcher died before
        saying so: its log was opened (the first thing an element does). It ran user code, so
        it is failed with its launcher, not run a second time."""
        run = proc.run
        path = run.storage.local_path(run.layout.log(proc.index, "stdout"))
        try:
            opened = os.stat(path or spool_path(self.state, run.manifest.id, proc.index, "stdout")).st_mtime
        except OSError:
            return False
        return opened >= proc.launched - 0.05  # (file times come from a coarse clock)

    def _recorded_end(self, proc: Proc) -> str | None:
        """SUCCEEDED/FAILED if element ``proc`` recorded its own end in this launch."""
        if proc.pid is None:
            return None
        try:
            el = self._read_status(proc.run, proc.index)
        except Exception:  # noqa: BLE001 - unreadable: as if not recorded
            return None
        if el is None or el.status not in records.TERMINAL or el.started is None or el.started < proc.launched:
            return None
        return el.status

    def end_strays(self) -> None:
        """End every process re-parented to the supervisor (it is their subreaper): the
        elements of a launcher that died, and whatever those elements started. Launchers and
        pip installs still at work are left alone."""
        keep = {r.launcher.pid for r in self.runs.values() if r.launcher is not None}
        keep.update(self.exited_launchers)
        keep.update(proc.pid for proc, _, _ in self.pip_jobs.values())  # type: ignore[misc]
        if kill_strays(keep):
            log("ended processes left behind by a stopped launcher's elements")

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
                reason = proc.kill_reason or exit_reason(code, run.job_definition_of(proc.index))
            self.record(
                run,
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
        if final == FAILED and proc.pid is not None and self.retry(run, proc.index):
            return
        run.set(proc.index, final)
        if run.finished:
            self.finish(run)

    def retry(self, run: Run, index: int) -> bool:
        """Retries that learn: if the job definition retries this failure, keep the attempt
        (moved to attempts/<k>/), grow its resources and queue the element again."""
        jd = run.manifest.job_definition
        if not jd.get("retries") or run.tries.get(index, 0) >= int(jd["retries"]):
            return False
        el = self._read_status(run, index)
        if el is None or el.status != FAILED or el.reason == "terminated by user":
            return False
        kind = failure_kind(el.reason)
        current = resources_of(run.job_definition_of(index))
        nxt = next_resources(jd, current, kind) if kind else None
        if nxt is None:
            return False
        try:
            number = records.archive_attempt(run.storage, run.layout, index, el, current)
            if nxt != resources_of(jd):
                run.storage.put_bytes(records.resources_key(run.layout, index), json.dumps(nxt).encode())
        except Exception as exc:  # noqa: BLE001 - the element stays FAILED, with its reason
            log(f"cannot retry element {index} of {run.manifest.id}: {exc}")
            return False
        run.tries[index] = run.tries.get(index, 0) + 1
        run.overrides[index] = {k: v for k, v in nxt.items() if v != jd.get(k)}
        run.pending.appendleft(index)
        run.set(index, RUNNABLE)
        log(f"retrying element {index} of {run.manifest.id} ({kind}; attempt {number + 1}): {nxt}")
        return True

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
                t = proc.run.job_definition_of(proc.index).get("timeout_seconds")
                self.kill(proc, f"timeout: the element ran longer than timeout_seconds={t:g}", signal.SIGKILL)
            elif proc.kill_at is not None and now >= proc.kill_at and proc.pid is not None:
                with _suppress():
                    os.killpg(proc.pid, signal.SIGKILL)

    # -- control socket -----------------------------------------------------------------
    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        """Answer one request, already checked by :func:`parse_request`."""
        op = message["op"]
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
        return self.terminate(message["analysis"], message["user"], message.get("env"), message.get("index"))

    def terminate(self, analysis_id: str, user: str, env: dict[str, str] | None, index: int | None) -> dict[str, Any]:
        """Stop an analysis (or one element). One this supervisor does not know (its journal
        was lost: a full disk, a crash) is taken up from storage first, so terminating always
        ends it. ``already`` in the answer: the element had finished (its status)."""
        run = self.runs.get(analysis_id)
        if run is None:
            if env is None:
                return {"ok": True, "note": "not running"}
            storage = self._storage(env)
            summary = self._stored_summary(storage, user, analysis_id)
            if summary is not None and summary.finished:
                if index is None:
                    return {"ok": True, "note": "finished"}
                el = self._read_status_of(storage, user, analysis_id, index)
                return {"ok": True, "already": el.status if el is not None else summary.status}
            cluster = records.read_manifest(storage, user, analysis_id).backend.get("cluster")
            if cluster != self.token:
                raise ExplorerError(
                    f"{analysis_id} was not submitted to this local cluster ({self.state}); terminate it from "
                    "the machine and EXPLORER_HOME that submitted it."
                )
            log(f"terminate: taking up {analysis_id} from storage (this supervisor had no journal of it)")
            self.add_run(analysis_id, user, env, waits=self._own_waits(analysis_id, user, env), recovering=True)
            run = self.runs.get(analysis_id)
            if run is None:  # taken up and found finished
                if index is None:
                    return {"ok": True, "note": "finished"}
                el = self._read_status_of(storage, user, analysis_id, index)
                return {"ok": True, "already": el.status if el is not None else FAILED}
        if index is not None and not 0 <= index < run.manifest.count:
            return {"ok": False, "error": f"no element {index} in {analysis_id}"}
        reason = "terminated by user"
        answer: dict[str, Any] = {"ok": True}
        if index is None:
            self.fail_pending(run, reason)
            for proc in list(run.running.values()):
                self.kill(proc, reason)
        elif index in run.running:
            self.kill(run.running[index], reason)
        elif index in run.pending:
            run.pending.remove(index)
            self.record(run, ElementStatus(index, FAILED, reason=reason, stopped=time.time()))
            run.set(index, FAILED)
        else:  # it had finished
            answer["already"] = records.LETTER_STATUS.get(run.letters[index], FAILED)
        self.flush(run, force=True)
        if run.finished:
            self.finish(run)
        return answer

    @staticmethod
    def _storage(env: dict[str, str]) -> Storage:
        """The storage as the submitter's settings (handed over in ``env``) describe it."""
        return Session(get_settings(environ={**os.environ, **env})).storage

    @staticmethod
    def _stored_summary(storage: Storage, user: str, analysis_id: str) -> StatusSummary | None:
        try:
            return StatusSummary.from_json(storage.get_bytes(records.Layout(user, analysis_id).summary))
        except NotFound:
            return None

    @staticmethod
    def _read_status_of(storage: Storage, user: str, analysis_id: str, index: int) -> ElementStatus | None:
        try:
            return ElementStatus.from_json(storage.get_bytes(records.Layout(user, analysis_id).status(index)))
        except NotFound:
            return None

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
        if len(buf) > MAX_REQUEST:
            log(f"refused a control message: more than {MAX_REQUEST} bytes")
            self.sel.unregister(sock)
            del self.clients[fd]
            with _suppress():
                sock.setblocking(True)
                sock.settimeout(5)
                sock.sendall(b'{"ok": false, "error": "the request is too large"}')
            sock.close()
            return
        if data and b"\n" not in buf:
            return
        self.sel.unregister(sock)
        del self.clients[fd]
        try:
            if not buf.strip():
                return
            try:
                message = parse_request(bytes(buf))
            except ValueError as exc:  # malformed: refused, logged, and the supervisor carries on
                log(f"refused a control message ({len(buf)} bytes): {exc}")
                answer: dict[str, Any] = {"ok": False, "error": f"refused: {exc}"}
            else:
                try:
                    answer = self.handle(message)
                except (ExplorerError, OSError) as exc:
                    log(f"{message['op']} {message.get('analysis', '')} failed: {exc}")
                    answer = {"ok": False, "error": str(exc)}
                except Exception as exc:  # noqa: BLE001 - a bug must cost one request, not the supervisor
                    log(f"{message['op']} {message.get('analysis', '')} failed:\n{traceback.format_exc()}")
                    answer = {"ok": False, "error": f"internal error ({type(exc).__name__}: {exc}); see supervisor.log"}
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
            try:
                self.step(rfd)
            except Exception:  # noqa: BLE001 - the supervisor outlives any one failure
                self._log_once("the supervisor's loop", traceback.format_exc())
                time.sleep(0.2)  # (no busy loop on a failure that repeats)
            if self.runs or self.clients:  # (a run is kept until none of its elements runs)
                self.last_activity = time.monotonic()
            elif time.monotonic() - self.last_activity > IDLE_EXIT:
                log("idle; exiting")
                break
        self.shutdown()

    def _log_once(self, where: str, text: str) -> None:
        """Log an unexpected failure, once per kind (a failure that repeats does not flood the log)."""
        key = (where, text.strip().splitlines()[-1] if text.strip() else "")
        if key not in self.logged_failures:
            self.logged_failures.add(key)
            log(f"unexpected failure in {where} (the supervisor carries on):\n{text}")

    def step(self, rfd: int) -> None:
        """One turn of the loop: wait for something to do, then do it."""
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
            if run.closing:
                self.finish(run)
            else:
                self.flush(run)

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
        kill_strays()  # whatever the elements started, handed to us by their launchers' end
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


MAX_REQUEST = 1024 * 1024  # bytes: a submit's environment is a few kB


def parse_request(raw: bytes) -> dict[str, Any]:
    """One control message, checked: ``{"op": "ping"}``, ``{"op": "submit", "analysis",
    "user", "env"[, "waits"][, "indices"]}`` or ``{"op": "terminate", "analysis", "user"[, "env"][, "index"]}``.
    Anything else raises ValueError saying what is wrong (never a crash further on)."""
    try:
        message = json.loads(raw)
    except ValueError as exc:  # (UnicodeDecodeError too)
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise ValueError(f"a request is a JSON object, not {type(message).__name__}")
    op = message.get("op")
    if op not in ("ping", "submit", "terminate"):
        raise ValueError(f"unknown op {op!r}")
    if op == "ping":
        return {"op": op}
    analysis, user, env = message.get("analysis"), message.get("user"), message.get("env")
    if not isinstance(analysis, str):
        raise ValueError(f"'analysis' must be an analysis id, not {analysis!r:.80}")
    try:
        records.parse_analysis_id(analysis)
    except ExplorerError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(user, str) or not user or "/" in user:
        raise ValueError(f"'user' must be a user name, not {user!r:.80}")
    if env is not None or op == "submit":
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ValueError("'env' must be an object of strings")
        if not env.get("EXPLORER_STORAGE"):
            raise ValueError("'env' must name EXPLORER_STORAGE")
    checked: dict[str, Any] = {"op": op, "analysis": analysis, "user": user, "env": env}
    if op == "submit":
        waits, indices = message.get("waits") or [], message.get("indices")
        if not isinstance(waits, list) or not all(
            isinstance(w, dict) and isinstance(w.get("id"), str) and isinstance(w.get("name"), str) for w in waits
        ):
            raise ValueError('\'waits\' must be a list of {"id": ..., "name": ...}')
        if indices is not None and (
            not isinstance(indices, list)
            or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in indices)
        ):
            raise ValueError("'indices' must be a list of whole numbers >= 0, or null")
        checked["waits"] = [{"id": w["id"], "name": w["name"]} for w in waits]
        checked["indices"] = indices
    if op == "terminate":
        index = message.get("index")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
            raise ValueError(f"'index' must be a whole number >= 0 or null, not {index!r:.80}")
        checked["index"] = index
    return checked


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
    own = Session()  # this supervisor's settings come from its environment
    become_subreaper()  # what a killed launcher's elements leave behind comes here, to be ended
    sup = Supervisor(state, own.settings.of(LocalSettings).slots, own)
    log(f"supervisor {os.getpid()} starting; max_parallel={sup.max_parallel}")
    sup.warm_up()
    ended = kill_marked(sup.token)  # left by elements when a supervisor and its launchers were killed at once
    if ended:
        log(f"ended {ended} process(es) that elements of a stopped supervisor had left running")
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
