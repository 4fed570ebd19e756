"""``local`` compute: a small cluster on this machine (the embedded default).

One supervisor process per state directory (``$EXPLORER_HOME/cluster``) runs every element of
every analysis submitted from any process on this machine, at most ``max_parallel`` at once,
each in its own process, forked by the analysis's warm launcher (a child of the supervisor).
It starts on the first submission, outlives the kernels that submit to it, and exits after a
while with nothing to do. Its state is in storage (status files, ``summary.json``,
``elements.txt``) plus a small journal, so a restarted supervisor marks elements that were
running as FAILED and carries on with the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ... import records
from ...config import BackendSettings, Settings, setting
from ...errors import AlreadyFinished, BackendError, ExplorerError
from ...records import FAILED, PENDING, RUNNABLE, RUNNING, TERMINAL, ElementStatus, LogChunk, Manifest, StatusSummary
from ...storage.base import Storage
from ..base import LOG_READ_LIMIT, Dependency
from ..stored import StoredCompute

START_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class LocalSettings(BackendSettings):
    """``[local]``: the cluster on this machine."""

    section = "local"

    max_parallel: int | None = setting(
        aliases=("EXPLORER_MAX_PARALLEL",), legacy_key="max_parallel", doc="elements at once (default: CPU count)"
    )

    def validate(self) -> None:
        if self.max_parallel is not None and self.max_parallel < 1:
            raise ExplorerError(f"max_parallel must be at least 1, not {self.max_parallel}.")

    @property
    def slots(self) -> int:
        """How many elements run at once."""
        return self.max_parallel or os.cpu_count() or 1


def state_dir(settings: Settings) -> Path:
    return settings.home / "cluster"


def state_token(state: Path) -> str:
    """A short name of one local cluster (its state folder): kept in the manifests of what it
    runs, and in the environment of every element (see ``libc.kill_marked``)."""
    return hashlib.sha256(str(Path(state).resolve()).encode()).hexdigest()[:16]


def socket_path(state: Path) -> str:
    """The supervisor's unix socket (a short private path when the state dir is too deep)."""
    path = str(state / "supervisor.sock")
    if len(path.encode()) < 100:
        return path
    digest = hashlib.sha256(str(state).encode()).hexdigest()[:16]
    short = Path(tempfile.gettempdir()) / f"explorer-{os.getuid()}-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return str(short / "s.sock")


def supervisor_alive(state: Path) -> bool:
    """True while a supervisor holds the state directory's lock."""
    lock = state / "supervisor.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def request(state: Path, message: dict[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
    """Send one request to the supervisor and return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path(state))
        sock.sendall(json.dumps(message).encode() + b"\n")
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    answer = json.loads(b"".join(chunks) or b"{}")
    if not answer.get("ok"):
        raise BackendError(f"The local cluster refused the request: {answer.get('error', 'no answer')}")
    return answer


def ensure_supervisor(settings: Settings) -> Path:
    """Start the supervisor for these settings unless one is running; wait until it answers."""
    state = state_dir(settings)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError, BackendError, ValueError):
        request(state, {"op": "ping"}, timeout=5)
        return state
    log = open(state / "supervisor.log", "ab")  # noqa: SIM115 - handed to the child
    env = dict(os.environ)
    env.update(settings.as_env())
    starter = subprocess.Popen(
        [sys.executable, "-m", "explorer_magics.compute.local.supervisor", "--daemon", "--state", str(state)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    log.close()
    starter.wait()  # it forks the supervisor and returns: no zombie is left behind
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.02
    while time.monotonic() < deadline:
        try:
            request(state, {"op": "ping"}, timeout=5)
            return state
        except (OSError, BackendError, ValueError):
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
    raise BackendError(
        f"The local cluster supervisor did not start within {START_TIMEOUT:.0f} s; see {state / 'supervisor.log'}."
    )


class LocalCompute(StoredCompute):
    """Elements run as processes on this machine, supervised by one long-lived process."""

    name = "local"
    settings_class = LocalSettings
    #: the supervisor runs a JobDefinition's retries itself, growing memory and time
    #: (explorer_magics.rerun.retry_due leaves them alone)
    retries_itself = True

    def __init__(self, settings: Settings, storage: Storage) -> None:
        super().__init__(settings, storage)
        self.config = settings.of(LocalSettings)  # checked now; and a child process gets it (as_env)
        self.state = state_dir(settings)

    def _env(self) -> dict[str, str]:
        """The environment a run of this backend gets (and the supervisor takes it up with)."""
        env = self.settings.as_env()
        env["EXPLORER_STORAGE"] = self.storage.url
        return env

    def submit(
        self,
        manifest: Manifest,
        dependencies: Sequence[Dependency] = (),
        indices: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        ensure_supervisor(self.settings)
        # the core has resolved every finished dependency; the supervisor waits for the rest,
        # which are its own runs
        waits = [{"id": d.id, "name": d.name} for d in dependencies if d.waits]
        message = {
            "op": "submit",
            "analysis": manifest.id,
            "user": manifest.user,
            "env": self._env(),
            "waits": waits,
            "indices": None if indices is None else [int(i) for i in indices],
        }
        request(self.state, message)
        # which local cluster runs it: only that one may take it up from storage (terminate)
        return {"cluster": state_token(self.state)}

    def _recover_if_orphaned(self) -> bool:
        """If the supervisor died, start it again (it fails what was running). True if so."""
        if supervisor_alive(self.state):
            return False
        ensure_supervisor(self.settings)
        return True

    def summary(self, manifest: Manifest) -> StatusSummary:
        summary = super().summary(manifest)
        if not summary.finished and self._recover_if_orphaned():
            summary = super().summary(manifest)
        if not summary.finished:
            summary = self._caught_up(manifest, summary)
        return summary

    def _caught_up(self, manifest: Manifest, summary: StatusSummary) -> StatusSummary:
        """The summary with the last few elements' own records: the supervisor writes it up
        to SUMMARY_INTERVAL after an element has recorded its end, and a reader that saw the
        element end (its log followed to the end) must not then see the analysis still running."""
        done = {k: v for k, v in summary.counts.items() if k in TERMINAL}
        left = manifest.count - sum(done.values())
        if manifest.count == 1:
            last: tuple[int, ...] = (0,)
        elif 0 < left <= 8 and len(summary.running) == left:
            last = summary.running
        else:
            return summary
        ended = [self._stored_element(manifest, i) for i in last]
        if not all(el is not None and el.finished for el in ended):
            return summary
        if manifest.job_definition.get("retries") and any(el is not None and el.status == FAILED for el in ended):
            return summary  # the supervisor may run it again (JobDefinition(retries=...)): it says when it ended
        counts = dict(done) if manifest.count > 1 else {}
        for el in ended:
            assert el is not None
            counts[el.status] = counts.get(el.status, 0) + 1
        status = records.overall_status(counts, manifest.count)
        return StatusSummary(
            status=status, counts=counts, size=manifest.size, reason=summary.reason, updated=time.time()
        )

    def element_status(self, manifest: Manifest, index: int) -> ElementStatus:
        # (a status not yet in a status file comes from self.summary(), which has already
        # restarted an orphaned supervisor and read again)
        el = super().element_status(manifest, index)
        if el.status in (RUNNABLE, PENDING):
            started = self._log_started(manifest, index)
            if started is not None:
                # started since the supervisor's last summary (it writes one at most every 0.2 s)
                el = ElementStatus(index, RUNNING, started=started)
        return el

    def _log_started(self, manifest: Manifest, index: int) -> float | None:
        """Once the element's process has opened its log (the first thing it does): about when
        it started (the log's change time, so within 0.2 s of it); None before."""
        path = self.storage.local_path(manifest.layout.log(index, "stdout"))
        try:
            return os.stat(path or spool_path(self.state, manifest.id, index, "stdout")).st_ctime
        except FileNotFoundError:
            return None

    def terminate(self, manifest: Manifest, index: int | None = None) -> None:
        """Stop an element (or all). The supervisor takes up an analysis whose journal it lost
        (so terminating always ends it) and says when the element had already finished
        (:class:`AlreadyFinished`)."""
        if self.summary(manifest).finished:
            if index is not None:
                status = super().element_status(manifest, index).status
                raise AlreadyFinished.element(index, status)
            return
        ensure_supervisor(self.settings)
        answer = request(
            self.state,
            {"op": "terminate", "analysis": manifest.id, "user": manifest.user, "index": index, "env": self._env()},
        )
        if index is not None and answer.get("already"):
            raise AlreadyFinished.element(index, str(answer["already"]))

    def read_log(self, manifest: Manifest, index: int, stream: str, offset: int) -> LogChunk:
        spool = spool_path(self.state, manifest.id, index, stream)
        if self.storage.local_path(manifest.layout.log(index, stream)) is None and spool.exists():
            with open(spool, "rb") as fh:
                fh.seek(offset)
                data = fh.read(LOG_READ_LIMIT)
            return LogChunk(data, offset + len(data))
        return super().read_log(manifest, index, stream, offset)


def spool_path(state: Path, analysis_id: str, index: int, stream: str) -> Path:
    """Where a running element's log is written when storage is not a local directory."""
    return state / "logs" / analysis_id / f"{index}.{stream}"
