"""What one Slurm array task runs on a node::

    python -m explorer_magics.compute.slurm.node --analysis ID --user U --offset O --scratch DIR

It runs element ``O + SLURM_ARRAY_TASK_ID`` with the ordinary runner (a forked child in its own
process group: one interpreter start-up per element) and around it:

* streams the element's stdout/stderr into storage while it runs (straight into the file on a
  shared directory; on S3 the log so far is uploaded every few seconds), so a log can be
  followed live from anywhere and nothing depends on Slurm's own output files;
* enforces ``timeout_seconds`` exactly (Slurm's ``--time`` is whole minutes), and treats
  ``SIGUSR2`` (``--signal=B:USR2@60``: Slurm's time limit is near) the same way;
* on ``SIGTERM`` (``scancel``) stops the element and records it as terminated;
* records a FAILED status with a reason when the element died without recording one (killed
  by the kernel's OOM killer inside the job's memory cgroup, a crash);
* keeps node-local state (pip package sets, installed once per set and node under a lock)
  in ``DIR`` (``[slurm] scratch_dir``), never in the shared storage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ... import records, runner, session
from ...errors import ExplorerError, NotFound
from ...records import FAILED, TERMINAL, ElementStatus, Layout, Manifest
from ...storage.base import Storage

TERMINATED = "terminated by user"
KILL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL of the element's process group
UPLOAD_EVERY = 2.0  # seconds between two uploads of a growing log (S3 storage)


def terminated_key(layout: Layout) -> str:
    """The record of what ``terminate()`` asked for: ``{"all": bool, "indices": [...]}``."""
    return layout.prefix + "slurm/terminated.json"


def dependency_failed_key(layout: Layout) -> str:
    """Why the analysis's waiting elements were cancelled: ``{"reason": ...}``."""
    return layout.prefix + "slurm/dependency-failed.json"


def read_json(storage: Storage, key: str) -> dict[str, Any] | None:
    try:
        value = json.loads(storage.get_bytes(key))
    except (NotFound, ValueError):
        return None
    return value if isinstance(value, dict) else None


def terminated_by_user(storage: Storage, layout: Layout, index: int) -> bool:
    marker = read_json(storage, terminated_key(layout))
    return bool(marker and (marker.get("all") or index in marker.get("indices", ())))


def oom_killed() -> bool:
    """True if the kernel's OOM killer struck inside this job's memory cgroup (cgroup v1/v2)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        _, controllers, path = line.split(":", 2)
        candidates = []
        if "memory" in controllers.split(","):
            candidates.append(Path("/sys/fs/cgroup/memory") / path.lstrip("/"))
        elif controllers == "":
            candidates.append(Path("/sys/fs/cgroup") / path.lstrip("/"))
        for folder in candidates:
            # the job's cgroup is a parent of this step's
            for d in (folder, *folder.parents):
                for name, key in (("memory.oom_control", "oom_kill"), ("memory.events", "oom_kill")):
                    try:
                        text = (d / name).read_text()
                    except OSError:
                        continue
                    for entry in text.splitlines():
                        parts = entry.split()
                        if len(parts) == 2 and parts[0] == key and parts[1].isdigit() and int(parts[1]) > 0:
                            return True
                if d.name.startswith("job_") or d == Path("/sys/fs/cgroup"):
                    break
    return False


class LogPump:
    """The element's stdout/stderr, in storage while it runs."""

    def __init__(self, storage: Storage, layout: Layout, index: int, spool: Path) -> None:
        self.storage = storage
        self.layout = layout
        self.index = index
        self.files: dict[str, Path] = {}
        self.direct = True
        self._sent: dict[str, tuple[int, float]] = {}
        for stream in ("stdout", "stderr"):
            key = layout.log(index, stream)
            local = storage.local_path(key)
            if local is None:
                self.direct = False
                spool.mkdir(parents=True, exist_ok=True)
                path = spool / f"{index}.{stream}"
            else:
                path = Path(local)
                path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
            self.files[stream] = path
        if not self.direct:
            self.flush(force=True)  # the log exists (empty) as soon as the element starts

    def open(self, stream: str) -> Any:
        return open(self.files[stream], "ab")  # noqa: SIM115 - handed to the child

    def flush(self, *, force: bool = False) -> None:
        """Upload a log that grew (at most every few seconds, less often as it gets big)."""
        if self.direct:
            return
        now = time.monotonic()
        for stream, path in self.files.items():
            size = path.stat().st_size if path.exists() else 0
            sent, at = self._sent.get(stream, (-1, 0.0))
            wait = UPLOAD_EVERY * max(1, size // (8 << 20))
            if size == sent or (not force and now - at < wait):
                continue
            try:
                self.storage.upload_file(path, self.layout.log(self.index, stream))
                self._sent[stream] = (size, now)
            except ExplorerError as exc:
                print(f"explorer: could not upload the {stream} log yet: {exc}", file=sys.stderr)

    def close(self) -> None:
        self.flush(force=True)
        if not self.direct:
            for path in self.files.values():
                path.unlink(missing_ok=True)


class Element:
    def __init__(self, manifest: Manifest, index: int, storage: Storage, scratch: Path) -> None:
        self.manifest = manifest
        self.index = index
        self.storage = storage
        self.scratch = scratch
        self.stop_reason: str | None = None
        self.pid: int | None = None  # the element's process (and process group)
        self.reaped = False
        self.note = ""

    def _signal(self, signum: int, frame: Any) -> None:
        if self.stop_reason is not None:
            return
        if signum == signal.SIGUSR2:
            self.stop_reason = "timeout: the element reached the Slurm time limit of its job (--time)"
        else:
            self.stop_reason = "terminated"
        self._kill(signal.SIGTERM)

    def _kill(self, sig: int) -> None:
        if self.pid is not None:
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def stored(self) -> ElementStatus | None:
        try:
            return ElementStatus.from_json(self.storage.get_bytes(self.manifest.layout.status(self.index)))
        except NotFound:
            return None

    def run(self, argv_runner: list[str], env: dict[str, str]) -> int:
        layout = self.manifest.layout
        for sig in (signal.SIGTERM, signal.SIGUSR2, signal.SIGINT):
            signal.signal(sig, self._signal)
        pump = LogPump(self.storage, layout, self.index, self.scratch / "logs" / self.manifest.id)
        raw = self.manifest.job_definition.get("timeout_seconds")
        timeout = float(raw) if raw else None
        deadline = time.monotonic() + timeout if timeout else None
        with pump.open("stdout") as out, pump.open("stderr") as err:
            self.pid = _fork_runner(argv_runner, env, self.scratch, out.fileno(), err.fileno())
        killed_at: float | None = None
        code: int | None = None
        delay = 0.01
        while code is None:
            pid, wait_status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(wait_status)
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
            now = time.monotonic()
            if deadline is not None and now >= deadline and self.stop_reason is None:
                self.stop_reason = f"timeout: the element ran longer than timeout_seconds={timeout:g}"
                self._kill(signal.SIGKILL)
            if self.stop_reason is not None:
                if killed_at is None:
                    killed_at = now
                elif now - killed_at > KILL_GRACE:
                    self._kill(signal.SIGKILL)
            pump.flush()
        self._kill(signal.SIGKILL)  # anything the element left behind in its group
        stored = self.stored()
        if stored is not None and stored.status in TERMINAL:
            status = stored  # the runner's own record is the truth
        elif self.stop_reason is not None:
            reason = self.stop_reason
            if reason == "terminated":
                reason = (
                    TERMINATED
                    if terminated_by_user(self.storage, layout, self.index)
                    else "terminated by Slurm (scancel, preemption or the node shutting down)"
                )
            status = self._fail(reason, code, stored)
        else:
            status = self._fail(
                runner.exit_reason(
                    code, self.manifest.job_definition, oom_killed=code == -signal.SIGKILL and oom_killed()
                ),
                code,
                stored,
            )
        if self.note:  # why, at the end of the element's own log
            with pump.open("stderr") as err:
                err.write(self.note.encode())
        pump.close()
        return 0 if status.status == records.SUCCEEDED else 1

    def _fail(self, reason: str, code: int, stored: ElementStatus | None) -> ElementStatus:
        status = ElementStatus(
            self.index,
            FAILED,
            reason=reason,
            started=stored.started if stored is not None else None,
            stopped=time.time(),
            exit_code=code if code >= 0 else 128 - code,
        )
        records.write_element_status(self.storage, self.manifest.layout, status)
        self.note = f"explorer: element {self.index} FAILED: {reason}\n"
        return status


def _fork_runner(argv: list[str], env: dict[str, str], cwd: Path, out: int, err: int) -> int:
    """Run the runner in a forked child (this process has imported it: no second interpreter
    start-up per element), in its own session, its stdout/stderr on ``out``/``err``."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGUSR2, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        session.reset()  # no client made before the fork is used in the child
        from ... import aws

        aws.clear_clients()
        code = runner.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - shown in the element's log, recorded by the parent
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer_magics.compute.slurm.node")
    parser.add_argument("--analysis", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--offset", type=int, default=0, help="index of this job's task 0")
    parser.add_argument("--scratch", default=os.environ.get("TMPDIR") or "/tmp")
    args = parser.parse_args(argv)
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    index = args.offset + (int(task) if task not in (None, "", "N/A") else 0)
    # node-local state: pip package sets (installed once per set and node), spooled logs
    scratch = Path(args.scratch) / f"explorer-{args.user}"
    scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = dict(os.environ)
    env["EXPLORER_HOME"] = str(scratch)
    env["EXPLORER_USER"] = args.user
    env["PYTHONUNBUFFERED"] = "1"
    env["EXPLORER_NODE"] = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    os.environ["EXPLORER_HOME"] = str(scratch)
    storage = session.Session().storage  # the node's own settings, from the job's environment
    manifest = records.read_manifest(storage, args.user, args.analysis)
    if not 0 <= index < manifest.count:
        print(f"explorer: no element {index} in {manifest.id} ({manifest.count} elements)", file=sys.stderr)
        return 2
    argv_runner = ["--analysis", manifest.id, "--index", str(index), "--user", args.user]
    return Element(manifest, index, storage, scratch).run(argv_runner, env)


if __name__ == "__main__":
    sys.exit(main())
