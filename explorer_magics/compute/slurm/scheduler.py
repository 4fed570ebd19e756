"""Talking to Slurm: its commands, its limits, and ONE shared ``squeue`` for every analysis.

However many analyses a process watches (the server's poller, a notebook waiting on several),
their status comes from one ``squeue --me --states=all`` at most once a second
(:class:`Queue`): concurrent askers share the call in flight, later ones reuse its answer,
and a failing or slow slurmctld is asked less often (the interval doubles, up to a minute,
while the last answer is served). ``--states=all`` also lists tasks that ended within the
cluster's ``MinJobAge``, so most final states cost nothing extra.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
import time
from collections.abc import Iterable

from ...errors import BackendError

#: squeue fields: array job id | array task id(s) | state | reason
SQUEUE_FORMAT = "%F|%K|%T|%r"
MIN_INTERVAL = 1.0  # seconds between two squeue calls, at least
MAX_INTERVAL = 60.0  # the longest backoff while slurmctld does not answer
COMMAND_TIMEOUT = 60.0


def run(args: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run a Slurm command; its stdout, or :class:`BackendError` with its stderr."""
    try:
        proc = subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise BackendError(
            f"{args[0]} is not on PATH: run Explorer where Slurm's commands work (a login node), or install "
            "them (apt-get install slurm-client) with this cluster's slurm.conf."
        ) from None
    except subprocess.TimeoutExpired:
        raise BackendError(f"{args[0]} did not answer within {COMMAND_TIMEOUT:.0f} s (slurmctld busy?).") from None
    if proc.returncode != 0:
        raise BackendError(f"{' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def parse_tasks(spec: str) -> list[int]:
    """Task ids of squeue's ``%K``: ``5``, ``0-999%4``, ``[6-9,11]``, ``0-9:2``."""
    spec = spec.strip().strip("[]").split("%", 1)[0]
    out: list[int] = []
    for part in spec.split(","):
        if not part or part == "N/A":
            continue
        step = 1
        if ":" in part:
            part, step_s = part.split(":", 1)
            step = int(step_s)
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1, step))
        else:
            out.append(int(part))
    return out


@dataclasses.dataclass(frozen=True)
class Row:
    """One squeue line: the task ids of array job ``job`` in ``state`` (``reason``)."""

    job: str
    tasks: tuple[int, ...] | None  # None: not an array job
    state: str
    reason: str


def parse_squeue(text: str) -> dict[str, list[Row]]:
    """Rows by (array) job id."""
    out: dict[str, list[Row]] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 4:
            continue
        job, tasks, state, reason = parts[:4]
        ids = None if tasks.strip() in ("N/A", "") else tuple(parse_tasks(tasks))
        out.setdefault(job.strip(), []).append(Row(job.strip(), ids, state.strip().split()[0], reason.strip()))
    return out


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What squeue said at ``taken`` (monotonic; ``wall``: the same moment as ``time.time()``)."""

    jobs: dict[str, list[Row]]
    taken: float
    wall: float = 0.0


class Queue:
    """The user's jobs as one squeue saw them, shared by every analysis of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._snapshot: Snapshot | None = None
        self._busy = False
        self._interval = MIN_INTERVAL
        self._error: BackendError | None = None
        self._next_try = 0.0
        self.calls = 0  # squeue invocations (benchmarks and tests read it)

    def snapshot(self, *, after: float = 0.0) -> Snapshot:
        """The latest answer, asking squeue again once the last answer is older than the
        interval, or was asked before ``after`` (a ``time.time()``: just after a submission,
        an older answer would not list it)."""
        with self._cond:
            while True:
                now = time.monotonic()
                snap = self._snapshot
                fresh = snap is not None and now - snap.taken < self._interval and snap.wall >= after
                if fresh and snap is not None:
                    return snap
                if not self._busy:
                    if now < self._next_try and snap is not None:
                        return snap  # backing off after an error: the last answer
                    self._busy = True
                    break
                self._cond.wait(timeout=COMMAND_TIMEOUT)
        try:
            started = time.monotonic()
            wall = time.time()
            text = run(["squeue", "--me", "--noheader", "--states=all", "--format", SQUEUE_FORMAT])
            jobs = parse_squeue(text)
        except BackendError as exc:
            with self._cond:
                self._busy = False
                self._interval = min(MAX_INTERVAL, self._interval * 2)
                self._next_try = time.monotonic() + self._interval
                self._error = exc
                self._cond.notify_all()
                if self._snapshot is not None:
                    return self._snapshot
            raise
        finally:
            self.calls += 1
        took = time.monotonic() - started
        with self._cond:
            # a slow squeue (a busy slurmctld) is asked less often: 10x its own duration
            self._interval = max(MIN_INTERVAL, min(MAX_INTERVAL, 10 * took))
            self._snapshot = Snapshot(jobs, started, wall)
            self._busy = False
            self._error = None
            self._cond.notify_all()
            return self._snapshot


_queue_lock = threading.Lock()
_queues: dict[str, Queue] = {}


def queue() -> Queue:
    """The process's shared :class:`Queue` (one per ``SLURM_CONF``)."""
    key = os.environ.get("SLURM_CONF", "")
    with _queue_lock:
        if key not in _queues:
            _queues[key] = Queue()
        return _queues[key]


@dataclasses.dataclass(frozen=True)
class Limits:
    """What the cluster allows, read from ``scontrol show config`` (and the QOS)."""

    max_array_size: int
    accounting: bool
    max_submit_jobs: int | None = None


_limits: dict[tuple[str, str | None], Limits] = {}


def parse_config(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def limits(qos: str | None = None) -> Limits:
    """The cluster's limits (asked once per process)."""
    key = (os.environ.get("SLURM_CONF", ""), qos)
    with _queue_lock:
        if key in _limits:
            return _limits[key]
    config = parse_config(run(["scontrol", "show", "config"]))
    try:
        max_array = int(config.get("MaxArraySize", "1001"))
    except ValueError:
        max_array = 1001
    accounting = config.get("AccountingStorageType", "accounting_storage/none") != "accounting_storage/none"
    max_submit = None
    if accounting and qos:
        try:
            out = run(["sacctmgr", "--noheader", "--parsable2", "show", "qos", qos, "format=MaxSubmitPU"])
            value = out.strip().splitlines()[0] if out.strip() else ""
            max_submit = int(value) if value.isdigit() else None
        except (BackendError, IndexError):
            max_submit = None
    found = Limits(max_array_size=max(1, max_array), accounting=accounting, max_submit_jobs=max_submit)
    with _queue_lock:
        _limits[key] = found
    return found


def forget_limits() -> None:
    """Read the cluster's limits again next time (tests reconfigure clusters)."""
    with _queue_lock:
        _limits.clear()
        _queues.clear()
        _accounting.clear()


def scancel(targets: Iterable[str]) -> None:
    ids = list(targets)
    if ids:
        run(["scancel", *ids])


#: Slurm's final job states (what sacct reports once a job ended)
FINAL_STATES = frozenset(
    {"COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "CANCELLED", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}
)


def parse_sacct(text: str) -> dict[str, tuple[str, str]]:
    """``{"<job>_<task>" or "<job>": (state, exit code)}`` from ``sacct -X -P -o JobID,State,ExitCode``."""
    out: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or not parts[0]:
            continue
        job_id, state, code = parts[0], parts[1].split()[0] if parts[1].split() else "", parts[2]
        if "_" in job_id:
            job, tasks = job_id.split("_", 1)
            for task in parse_tasks(tasks):
                out[f"{job}_{task}"] = (state, code)
        else:
            out[job_id] = (state, code)
    return out


class Accounting:
    """Final states from ``sacct`` (clusters with accounting), for elements squeue no longer
    lists and that left no record: at most one call a second for the whole process, always
    with a start time; a final state, once known, is never asked again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._final: dict[str, tuple[str, str]] = {}
        self._last = -MIN_INTERVAL
        self.calls = 0

    def final_states(self, jobs: list[str], since: float) -> dict[str, tuple[str, str]]:
        with self._lock:
            if time.monotonic() - self._last >= MIN_INTERVAL and jobs:
                self._last = time.monotonic()
                start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since - 60))
                self.calls += 1
                try:
                    text = run(
                        [
                            "sacct",
                            "--noheader",
                            "--parsable2",
                            "--allocations",
                            f"--starttime={start}",
                            f"--jobs={','.join(jobs)}",
                            "--format=JobID,State,ExitCode",
                        ]
                    )
                except BackendError:
                    text = ""
                for key, value in parse_sacct(text).items():
                    if value[0] in FINAL_STATES:
                        self._final[key] = value
            return dict(self._final)


_accounting: dict[str, Accounting] = {}


def accounting() -> Accounting:
    """The process's shared :class:`Accounting` (one per ``SLURM_CONF``)."""
    key = os.environ.get("SLURM_CONF", "")
    with _queue_lock:
        if key not in _accounting:
            _accounting[key] = Accounting()
        return _accounting[key]
