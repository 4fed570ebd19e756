"""The local cluster's supervisor: ``python -m explorer_magics.compute.local_supervisor``.

One per state directory (held by an exclusive lock). Single-threaded: a selector waits on the
control socket, on a pidfd per running element and on a signal pipe. Elements are forked from
this warm process (the SDK, cloudpickle and an IPython shell are already loaded), each in its
own process group, with the memory limit applied, stdout/stderr going to the element's log
files, and SIGKILL on supervisor death (so nothing keeps RUNNING unsupervised).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import fcntl
import json
import os
import resource
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

from .. import records, session
from ..errors import ExplorerError, NotFound
from ..records import (
    FAILED,
    PENDING,
    RUNNABLE,
    RUNNING,
    SUCCEEDED,
    ElementStatus,
    Manifest,
    StatusSummary,
)
from ..storage import open_storage
from ..storage.base import Storage
from .local import socket_path, spool_path

SUMMARY_INTERVAL = 0.2
KILL_GRACE = 3.0
DEP_POLL = 0.5
IDLE_EXIT = float(os.environ.get("EXPLORER_LOCAL_IDLE_SECONDS", "600"))
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


def log(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {msg}", flush=True)


class Proc:
    __slots__ = ("pid", "pidfd", "index", "run", "deadline", "started", "kill_reason", "kill_at", "slot")

    def __init__(self, pid: int, pidfd: int, index: int, run: Run, deadline: float | None, slot: int) -> None:
        self.slot = slot
        self.pid = pid
        self.pidfd = pidfd
        self.index = index
        self.run = run
        self.deadline = deadline
        self.started = time.time()
        self.kill_reason: str | None = None
        self.kill_at: float | None = None


class Run:
    """One analysis being run."""

    def __init__(self, manifest: Manifest, storage: Storage, env: dict[str, str], journal: Path) -> None:
        self.manifest = manifest
        self.storage = storage
        self.env = env
        self.journal = journal
        self.layout = manifest.layout
        self.pending: collections.deque[int] = collections.deque()
        self.running: dict[int, Proc] = {}
        self.counts: collections.Counter[str] = collections.Counter()
        self.ready = not manifest.depends_on
        self.payload: tuple[bytes, bytes, bytes, bytes] | None = None
        self.pip_state = "ready" if not manifest.pip_packages else "needed"
        self.pip_dir: Path | None = None
        self.dirty = True
        self.last_flush = 0.0
        self.reason: str | None = None
        self.next_dep_check = 0.0
        self.started_fd: int | None = None

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

    def move(self, old: str, new: str, n: int = 1) -> None:
        self.counts[old] -= n
        self.counts[new] += n
        self.dirty = True

    def summary(self) -> StatusSummary:
        counts = {k: v for k, v in self.counts.items() if v > 0}
        status = records.overall_status(counts, self.manifest.count)
        if not self.ready and not self.running and self.pending and status in (RUNNABLE, PENDING):
            status = PENDING
        return StatusSummary(
            status=status,
            counts=counts,
            size=self.manifest.size,
            reason=self.reason,
            updated=time.time(),
            running=tuple(sorted(self.running)),
        )


class Supervisor:
    def __init__(self, state: Path, max_parallel: int) -> None:
        self.state = state
        self.max_parallel = max_parallel
        self.runs: dict[str, Run] = {}
        self.order: collections.deque[str] = collections.deque()  # round-robin
        self.procs: dict[int, Proc] = {}  # pidfd -> Proc
        self.pip_jobs: dict[int, tuple[Any, Run]] = {}  # pidfd -> (Popen, run)
        self.sel = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.clients: dict[int, tuple[socket.socket, bytearray]] = {}
        self.stopping = False
        self.last_activity = time.monotonic()
        self.pid = os.getpid()
        (state / "queue").mkdir(parents=True, exist_ok=True)
        (state / "work").mkdir(parents=True, exist_ok=True)

    # -- start-up -----------------------------------------------------------------------
    def warm_up(self) -> None:
        """Import what every element needs, once, before forking."""
        import cloudpickle  # noqa: F401

        from .. import analysis, models, runner, serialize, shell  # noqa: F401

        shell.get_ipython()
        self.refreeze()

    @staticmethod
    def refreeze() -> None:
        """Move every object into gc's permanent generation, so a forked element's collections
        do not walk (and copy-on-write) the supervisor's whole heap."""
        import gc

        gc.collect()
        gc.freeze()

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
                self.add_run(entry["analysis"], entry["user"], entry["env"], recovering=True)
            except Exception as exc:  # noqa: BLE001 - one bad journal must not stop the rest
                log(f"cannot recover {journal.name}: {exc}")
                journal.unlink(missing_ok=True)

    # -- runs ---------------------------------------------------------------------------
    def add_run(self, analysis_id: str, user: str, env: dict[str, str], *, recovering: bool = False) -> None:
        if analysis_id in self.runs:
            return
        storage = open_storage(
            env["EXPLORER_STORAGE"],
            endpoint_url=env.get("EXPLORER_S3_ENDPOINT_URL"),
            region=env.get("AWS_DEFAULT_REGION"),
        )
        manifest = records.read_manifest(storage, user, analysis_id)
        journal = self.state / "queue" / f"{analysis_id}.json"
        if not recovering:
            tmp = journal.with_suffix(".tmp")
            tmp.write_text(json.dumps({"analysis": analysis_id, "user": user, "env": env}))
            os.replace(tmp, journal)
        run = Run(manifest, storage, env, journal)
        start_state = RUNNABLE if run.ready else PENDING
        if recovering:
            started = _started_indices(journal)
            for i in range(manifest.count):
                el = self._read_status(run, i)
                if el is not None and el.status in records.TERMINAL:
                    run.counts[el.status] += 1
                elif i in started or (el is not None and el.status not in (RUNNABLE, PENDING)):
                    # it was running when the previous supervisor stopped
                    reason = "the local cluster supervisor stopped while this element ran; run it again"
                    records.write_element_status(
                        storage, run.layout, ElementStatus(i, FAILED, reason=reason, stopped=time.time())
                    )
                    run.counts[FAILED] += 1
                else:
                    run.pending.append(i)
                    run.counts[start_state] += 1
            log(f"recovered {analysis_id}: {dict(run.counts)}")
        else:
            run.pending.extend(range(manifest.count))
            run.counts[start_state] = manifest.count
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
            run.move(PENDING if not run.ready else RUNNABLE, FAILED)
        if run.reason is None:
            run.reason = reason

    def check_dependencies(self, run: Run) -> None:
        now = time.monotonic()
        if run.ready or now < run.next_dep_check:
            return
        run.next_dep_check = now + DEP_POLL
        for dep in run.manifest.depends_on:
            other = self.runs.get(dep["id"])
            if other is not None:
                summary = other.summary()
                status = summary.status if other.finished else RUNNING
            else:
                try:
                    status = StatusSummary.from_json(
                        run.storage.get_bytes(records.Layout(run.manifest.user, dep["id"]).summary)
                    ).status
                except NotFound:
                    status = FAILED
            if status == FAILED:
                self.fail_pending(run, f"dependency {dep['name']} ({dep['id']}) FAILED")
                self.flush(run, force=True)
                return
            if status != SUCCEEDED:
                return
        run.ready = True
        n = run.counts[PENDING]
        run.move(PENDING, RUNNABLE, n)

    def finish(self, run: Run) -> None:
        self.flush(run, force=True)
        run.journal.unlink(missing_ok=True)
        run.close()
        shutil.rmtree(self.state / "logs" / run.manifest.id, ignore_errors=True)
        self.runs.pop(run.manifest.id, None)
        try:
            self.order.remove(run.manifest.id)
        except ValueError:
            pass
        log(f"finished {run.manifest.id}: {dict(+run.counts)}")

    def flush(self, run: Run, *, force: bool = False) -> None:
        now = time.monotonic()
        if run.dirty and (force or now - run.last_flush >= SUMMARY_INTERVAL):
            run.storage.put_bytes(run.layout.summary, run.summary().to_json())
            run.dirty = False
            run.last_flush = now

    # -- pip ------------------------------------------------------------------------------
    def start_pip(self, run: Run) -> None:
        import subprocess

        from ..runner import pip_env_dir, pip_env_ready, pip_install_command

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
        from ..runner import publish_pip_env

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
        running = len(self.procs)
        if running >= self.max_parallel or not self.order:
            return
        idle_rounds = 0
        while running < self.max_parallel and idle_rounds < len(self.order):
            run_id = self.order[0]
            self.order.rotate(-1)
            run = self.runs[run_id]
            if not run.pending or not run.ready:
                idle_rounds += 1
                continue
            if run.pip_state == "needed":
                self.start_pip(run)
            if run.pip_state != "ready":
                idle_rounds += 1
                continue
            idle_rounds = 0
            self.launch(run, run.pending.popleft())
            running += 1

    def launch(self, run: Run, index: int) -> None:
        try:
            payload = run.load_payload()
        except Exception as exc:  # noqa: BLE001
            self.fail_pending(run, f"cannot read the analysis record: {exc}")
            records.write_element_status(run.storage, run.layout, ElementStatus(index, FAILED, reason=str(exc)))
            run.move(RUNNABLE, FAILED)
            return
        jd = run.manifest.job_definition
        timeout = jd.get("timeout_seconds")
        slot = min(set(range(len(self.procs) + 1)) - {p.slot for p in self.procs.values()})
        pid = os.fork()
        if pid == 0:  # the element
            code = 70
            try:
                code = self.child(run, index, slot, payload)
            except BaseException:  # noqa: BLE001
                with _suppress():
                    traceback.print_exc()
            finally:
                os._exit(code)
        pidfd = os.pidfd_open(pid)
        proc = Proc(pid, pidfd, index, run, time.monotonic() + timeout if timeout else None, slot)
        self.procs[pidfd] = proc
        run.running[index] = proc
        run.note_started(index)
        run.move(RUNNABLE, RUNNING)
        self.sel.register(pidfd, selectors.EVENT_READ, "proc")

    def child(self, run: Run, index: int, slot: int, payload: tuple[bytes, bytes, bytes, bytes]) -> int:
        """In the forked element process. Returns the exit code."""
        os.setpgid(0, 0)
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != self.pid:
            return 71
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        self.sel.close()
        if self.listener is not None:
            self.listener.close()
        for fd in list(self.procs) + list(self.pip_jobs):
            with _suppress():
                os.close(fd)
        # logs: straight into storage when it is a directory, else a spool uploaded at the end
        for stream, fd in (("stdout", 1), ("stderr", 2)):
            path = run.storage.local_path(run.layout.log(index, stream)) or str(
                spool_path(self.state, run.manifest.id, index, stream)
            )
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            os.dup2(out, fd)
            os.close(out)
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        memory = int(run.manifest.job_definition.get("memory_mb") or 4000) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        for name, value in run.env.items():
            if os.environ.get(name) != value:
                os.environ[name] = value
        os.environ["EXPLORER_ANALYSIS_ID"] = run.manifest.id
        os.environ["EXPLORER_JOB_INDEX"] = str(index)
        session.reset()  # settings now come from the analysis's environment
        if run.pip_dir is not None:
            from ..runner import activate_pip_env

            activate_pip_env(run.pip_dir)
        workdir = self.state / "work" / f"slot-{slot}"
        try:
            os.chdir(workdir)  # a slot's folder is reused (and left empty) from element to element
        except FileNotFoundError:
            workdir.mkdir(parents=True, exist_ok=True)
            os.chdir(workdir)
        _empty(workdir)
        from ..runner import execute
        from ..serialize import loads

        fn_bytes, shared_bytes, blob, idx = payload
        storage = run.storage.for_child_process()
        try:
            function, names = loads(fn_bytes)
            input_shared, global_config = loads(shared_bytes)
            start, end = records.input_range(idx, index)
            value = loads(blob[start:end])
        except BaseException as exc:  # noqa: BLE001
            traceback.print_exc()
            reason = f"cannot load the work function or input: {type(exc).__name__}: {exc}"[:500]
            records.write_element_status(
                storage, run.layout, ElementStatus(index, FAILED, reason=reason, stopped=time.time(), exit_code=1)
            )
            return 1
        status = execute(
            storage,
            run.manifest,
            index,
            function,
            value,
            input_shared,
            global_config,
            workdir,
            shell_names=names,
            record_running=False,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        _empty(workdir)
        return 0 if status.status == SUCCEEDED else 1

    # -- reaping ------------------------------------------------------------------------
    def reap(self, pidfd: int) -> None:
        proc = self.procs[pidfd]
        pid, wstatus = os.waitpid(proc.pid, os.WNOHANG)
        if pid == 0:
            return  # not reapable yet; the pidfd will say so again
        del self.procs[pidfd]
        self.sel.unregister(pidfd)
        os.close(pidfd)
        run = proc.run
        run.running.pop(proc.index, None)
        code = os.waitstatus_to_exitcode(wstatus)
        with _suppress():  # the element's process group may have left processes behind
            os.killpg(proc.pid, signal.SIGKILL)
        if code == 0 and proc.kill_reason is None:
            final = SUCCEEDED
        elif code == 1 and proc.kill_reason is None:
            final = FAILED
        else:
            final = FAILED
            reason = proc.kill_reason or _exit_reason(code, run.manifest.job_definition)
            records.write_element_status(
                run.storage,
                run.layout,
                ElementStatus(
                    proc.index, FAILED, reason=reason, started=proc.started, stopped=time.time(), exit_code=code
                ),
            )
        if run.storage.local_path(run.layout.log(proc.index, "stdout")) is None:
            for stream in ("stdout", "stderr"):
                spool = spool_path(self.state, run.manifest.id, proc.index, stream)
                if spool.exists():
                    with _suppress():
                        run.storage.upload_file(spool, run.layout.log(proc.index, stream))
                        spool.unlink()
        run.move(RUNNING, final)
        if run.finished:
            self.finish(run)

    def kill(self, proc: Proc, reason: str, sig: int = signal.SIGTERM) -> None:
        proc.kill_reason = proc.kill_reason or reason
        if proc.kill_at is None:
            proc.kill_at = time.monotonic() + KILL_GRACE
        with _suppress():
            os.killpg(proc.pid, sig)

    def check_deadlines(self) -> None:
        now = time.monotonic()
        for proc in list(self.procs.values()):
            if proc.deadline is not None and now >= proc.deadline and proc.kill_reason is None:
                t = proc.run.manifest.job_definition.get("timeout_seconds")
                self.kill(proc, f"timeout: the element ran longer than timeout_seconds={t:g}", signal.SIGKILL)
            elif proc.kill_at is not None and now >= proc.kill_at:
                with _suppress():
                    os.killpg(proc.pid, signal.SIGKILL)

    # -- control socket -----------------------------------------------------------------
    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "ping":
            return {"ok": True, "pid": self.pid, "running": len(self.procs), "analyses": len(self.runs)}
        if op == "submit":
            self.add_run(message["analysis"], message["user"], message["env"])
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
                run.move(RUNNABLE if run.ready else PENDING, FAILED)
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
                if kind == "proc":
                    self.reap(key.fd)  # type: ignore[arg-type]
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
                    self.pip_done(key.fd)  # type: ignore[arg-type]
                elif kind == "signal":
                    with _suppress():
                        os.read(rfd, 512)
            self.check_deadlines()
            for run in list(self.runs.values()):
                self.check_dependencies(run)
            self.launch_ready()
            for run in list(self.runs.values()):
                self.flush(run)
            if self.runs or self.procs or self.clients:
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
        for proc in self.procs.values():
            for t in (proc.deadline, proc.kill_at):
                if t is not None:
                    timeout = min(timeout, max(0.0, t - now))
        return timeout

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def shutdown(self) -> None:
        for proc in list(self.procs.values()):
            with _suppress():
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in list(self.procs.values()):
            with _suppress():
                os.waitpid(proc.pid, 0)
            reason = "the local cluster supervisor was stopped while this element ran; run it again"
            with _suppress():
                records.write_element_status(
                    proc.run.storage,
                    proc.run.layout,
                    ElementStatus(proc.index, FAILED, reason=reason, started=proc.started, stopped=time.time()),
                )
            proc.run.move(RUNNING, FAILED)  # the journal stays: a new supervisor runs what waits
        for run in self.runs.values():
            with _suppress():
                self.flush(run, force=True)
        with _suppress():
            os.unlink(socket_path(self.state))


def _started_log(journal: Path) -> Path:
    return journal.with_suffix(".started")


def _started_indices(journal: Path) -> set[int]:
    try:
        return {int(x) for x in _started_log(journal).read_text().split()}
    except (FileNotFoundError, ValueError):
        return set()


def _empty(folder: Path) -> None:
    """Remove what an element left in its working folder (usually nothing: one scandir)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with _suppress():
                    os.unlink(entry.path)


def _suppress() -> contextlib.AbstractContextManager[None]:
    """Best effort: a cleanup step that fails must not stop the supervisor."""
    return contextlib.suppress(Exception)


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
    sup = Supervisor(state, settings.max_parallel)
    log(f"supervisor {os.getpid()} starting; max_parallel={sup.max_parallel}")
    sup.warm_up()
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
