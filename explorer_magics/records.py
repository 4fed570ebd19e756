"""The analysis record: one layout in storage, shared by the SDK, every compute backend, the
runner and the server. Nothing else spells these keys.

    users/<user>/analyses/<analysis-id>/
        manifest.json    what was submitted (Manifest)
        function.pkl     the work function (cloudpickle, by value)
        shared.pkl       (input_shared, global_config)
        inputs.bin       every element's pickled input, back to back
        inputs.idx       n+1 little-endian uint64 offsets into inputs.bin
        summary.json     status of the whole analysis, counts per status (kept by the backend)
        elements.txt     one letter per element, its status (kept by the local cluster)
        labels.txt       one short label per element, a line each (its input's sample name, ...)
        failures.json    the failure digest of a finished analysis (a cache, rebuilt if stale)
        tasks/<i>/status.json  (with the output keys once SUCCEEDED)
        tasks/<i>/values.pkl  files/<key>  stdout  stderr
        (attempts, resume keys and reruns: see the block "Attempts, resume keys, reruns" below)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import struct
import uuid
from typing import Any

from .errors import InvalidAnalysis, InvalidPath, NotFound
from .storage.base import Storage

# AWS Batch's words, for every backend.
SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING, SUCCEEDED, FAILED = (
    "SUBMITTED",
    "PENDING",
    "RUNNABLE",
    "STARTING",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
)
STATUSES = (SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING, SUCCEEDED, FAILED)
TERMINAL = frozenset({SUCCEEDED, FAILED})
#: an element's status as one byte of ``elements.txt``
STATUS_LETTERS = {
    SUBMITTED: b"M",
    PENDING: b"P",
    RUNNABLE: b"N",
    STARTING: b"T",
    RUNNING: b"R",
    SUCCEEDED: b"S",
    FAILED: b"F",
}
LETTER_STATUS = {letter[0]: status for status, letter in STATUS_LETTERS.items()}
MAX_ARRAY_SIZE = 10_000

_ID_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{6})_(.+)_([0-9a-f]{32})$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_.\-][A-Za-z0-9_.\-/ ]{0,254}$")


def new_analysis_id(name: str, now: dt.datetime | None = None) -> str:
    """``YYYY-MM-DDTHHMMSS_<name>_<uuid32>`` (UTC), so a date is a listing prefix."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y-%m-%dT%H%M%S}_{safe_name(name)}_{uuid.uuid4().hex}"


def safe_name(name: str) -> str:
    """A name usable inside ids and keys: letters, digits, ``-`` and ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:64]
    return cleaned or "analysis"


def parse_analysis_id(analysis_id: str) -> tuple[dt.datetime, str]:
    """(created UTC, name) of an id; :class:`InvalidPath` if it is not an analysis id."""
    m = _ID_RE.match(analysis_id or "")
    if not m:
        raise InvalidPath(
            f"{analysis_id!r} is not an analysis id (they look like "
            "2023-05-08T000000_example_fn_17eb494f3d5349c88959bace7a6b7873)."
        )
    created = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H%M%S").replace(tzinfo=dt.UTC)
    return created, m.group(2)


def validate_output_key(key: str) -> str:
    """Output keys are short relative names (``my-file``, ``plots/depth.png``)."""
    if not isinstance(key, str) or not _KEY_RE.match(key) or key.endswith("/"):
        raise InvalidPath(
            f"Output key {key!r} is not usable: use letters, digits, '-', '_', '.', '/' "
            "(e.g. 'depth' or 'plots/depth.png')."
        )
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise InvalidPath(f"Output key {key!r} has an empty, '.' or '..' part.")
    return key


def colliding_output_keys(keys: list[str] | set[str] | tuple[str, ...]) -> tuple[str, str] | None:
    """Two file output keys that cannot both be stored (``b`` and ``b/c``: ``b`` would be a
    file and a folder at once), or None."""
    have = set(keys)
    for key in sorted(have):
        parts = key.split("/")
        for n in range(1, len(parts)):
            folder = "/".join(parts[:n])
            if folder in have:
                return folder, key
    return None


def check_output_keys(keys: list[str] | set[str] | tuple[str, ...]) -> None:
    """Refuse file output keys that collide (see :func:`colliding_output_keys`)."""
    clash = colliding_output_keys(keys)
    if clash is not None:
        raise InvalidPath(
            f"Output file keys {clash[0]!r} and {clash[1]!r} collide: {clash[0]!r} would be a file and a folder "
            f"at once. Rename one of them (e.g. '{clash[0]}.txt')."
        )


class Layout:
    """Storage keys of one analysis."""

    def __init__(self, user: str, analysis_id: str) -> None:
        self.user = user
        self.id = analysis_id
        self.prefix = f"users/{user}/analyses/{analysis_id}/"

    @staticmethod
    def analyses_prefix(user: str) -> str:
        return f"users/{user}/analyses/"

    @property
    def manifest(self) -> str:
        return self.prefix + "manifest.json"

    @property
    def function(self) -> str:
        return self.prefix + "function.pkl"

    @property
    def shared(self) -> str:
        return self.prefix + "shared.pkl"

    @property
    def inputs_blob(self) -> str:
        return self.prefix + "inputs.bin"

    @property
    def inputs_index(self) -> str:
        return self.prefix + "inputs.idx"

    @property
    def summary(self) -> str:
        return self.prefix + "summary.json"

    @property
    def elements(self) -> str:
        return self.prefix + "elements.txt"

    @property
    def labels(self) -> str:
        return self.prefix + "labels.txt"

    @property
    def failures(self) -> str:
        return self.prefix + "failures.json"

    def task(self, index: int) -> str:
        return f"{self.prefix}tasks/{index}/"

    def status(self, index: int) -> str:
        return self.task(index) + "status.json"

    def values(self, index: int) -> str:
        return self.task(index) + "values.pkl"

    def file(self, index: int, key: str) -> str:
        return self.task(index) + "files/" + validate_output_key(key)

    def log(self, index: int, stream: str) -> str:
        if stream not in ("stdout", "stderr"):
            raise InvalidPath(f"A log stream is 'stdout' or 'stderr', not {stream!r}.")
        return self.task(index) + stream


@dataclasses.dataclass(frozen=True)
class Manifest:
    """What was submitted. Written once at submission (``backend`` may be filled in after)."""

    id: str
    name: str
    user: str
    created: float
    size: int | None  # None: a single (non-array) job
    compute: str
    storage: str
    depends_on: tuple[dict[str, str], ...] = ()  # ({"id": ..., "name": ...}, ...)
    job_definition: dict[str, Any] = dataclasses.field(default_factory=dict)
    pip_packages: tuple[str, ...] = ()
    backend: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def count(self) -> int:
        """How many elements run: the array size, or 1."""
        return 1 if self.size is None else self.size

    @property
    def layout(self) -> Layout:
        return Layout(self.user, self.id)

    def to_json(self) -> bytes:
        """The manifest as JSON; NaN and Infinity (not JSON, and meaningless as resources) are refused."""
        try:
            return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True, allow_nan=False).encode()
        except ValueError as exc:
            raise InvalidAnalysis(
                f"The analysis record holds a NaN or infinite number ({exc}); use finite numbers."
            ) from None

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw = json.loads(data)
        raw["depends_on"] = tuple(raw.get("depends_on", ()))
        raw["pip_packages"] = tuple(raw.get("pip_packages", ()))
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in fields})


def read_manifest(storage: Storage, user: str, analysis_id: str) -> Manifest:
    parse_analysis_id(analysis_id)
    try:
        return Manifest.from_json(storage.get_bytes(Layout(user, analysis_id).manifest))
    except NotFound:
        raise NotFound(
            f"No analysis {analysis_id!r} for user {user!r}. List yours with "
            "JobManager().list_jobs() (or `explorer jobs`)."
        ) from None


def pack_inputs(items: list[bytes]) -> tuple[bytes, bytes]:
    """(blob, index) for per-element pickles; element i is blob[idx[i]:idx[i+1]]."""
    offsets = [0]
    for item in items:
        offsets.append(offsets[-1] + len(item))
    return b"".join(items), struct.pack(f"<{len(offsets)}Q", *offsets)


def input_range(index_bytes: bytes, i: int) -> tuple[int, int]:
    start, end = struct.unpack_from("<2Q", index_bytes, 8 * i)
    return start, end


def overall_status(counts: dict[str, int], total: int) -> str:
    """The status of an analysis (or array) from its count per status, as AWS Batch reports
    an array parent: RUNNING while anything runs, FAILED once all ended and one failed."""
    done = counts.get(SUCCEEDED, 0) + counts.get(FAILED, 0)
    if total and counts.get(SUCCEEDED, 0) == total:
        return SUCCEEDED
    if done == total and total:
        return FAILED
    for status in (RUNNING, STARTING):
        if counts.get(status, 0):
            return RUNNING
    if done:
        return RUNNING  # some finished, others still to run
    for status in (RUNNABLE, PENDING, SUBMITTED):
        if counts.get(status, 0):
            return status
    return SUBMITTED


@dataclasses.dataclass(frozen=True)
class StatusSummary:
    """The state of a whole analysis, in O(1) backend calls."""

    status: str
    counts: dict[str, int]
    size: int | None
    reason: str | None = None
    updated: float = 0.0
    running: tuple[int, ...] = ()  # indices running now, where the backend knows them cheaply
    running_started: tuple[float, ...] = ()  # when each of ``running`` started (same order), if known

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> StatusSummary:
        raw = json.loads(data)
        return cls(
            status=raw["status"],
            counts=dict(raw.get("counts", {})),
            size=raw.get("size"),
            reason=raw.get("reason"),
            updated=raw.get("updated", 0.0),
            running=tuple(raw.get("running", ())),
            running_started=tuple(raw.get("running_started", ())),
        )

    def started_of(self, index: int) -> float | None:
        """When running element ``index`` started, if this summary knows."""
        if len(self.running_started) != len(self.running):
            return None
        try:
            return self.running_started[self.running.index(index)]
        except ValueError:
            return None


@dataclasses.dataclass(frozen=True)
class ElementStatus:
    """One element's state."""

    index: int
    status: str
    reason: str | None = None
    started: float | None = None
    stopped: float | None = None
    exit_code: int | None = None
    outputs: dict[str, list[str]] | None = None  # {"files": [...], "values": [...]} once SUCCEEDED
    # -- observe (issue 14): what the runner measured; None where unknown ------------------
    input_label: str | None = None  # a short label of the element's input (its sample name, ...)
    signal: str | None = None  # "SIGKILL" when the element's process was ended by a signal
    peak_rss_mb: float | None = None  # peak resident memory of the element and its children
    cpu_s: float | None = None  # user + system CPU seconds, children included
    host: str | None = None  # where it ran
    # (issue 13) a SUCCEEDED element resumed from an earlier result, without running:
    # {"analysis": <source analysis id>, "index": <its element>}; its outputs are read there
    cached: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    # -- observe (issue 14) -------------------------------------------------------------------
    @property
    def ended(self) -> float | None:
        """When the element stopped (the record's ``stopped``)."""
        return self.stopped

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end; for a RUNNING element, None (see ``started``)."""
        if self.started is None or self.stopped is None:
            return None
        return max(0.0, self.stopped - self.started)

    @property
    def cancelled(self) -> bool:
        """FAILED because a person terminated it before it started (shown as CANCELLED; the
        stored status stays AWS Batch's FAILED)."""
        return self.status == FAILED and self.started is None and (self.reason or "").startswith(TERMINATED_BY_USER)

    def to_dict(self) -> dict[str, Any]:
        """The element record as the faces show it (REST, ``an.status(i)``): every stored field
        plus ``ended``, ``duration_s`` and ``cancelled``."""
        out = {f: getattr(self, f) for f in _ELEMENT_FIELDS}
        out["ended"] = self.ended
        out["duration_s"] = self.duration_s
        out["cancelled"] = self.cancelled
        return out

    def to_json(self) -> bytes:
        return json.dumps({f: v for f in _ELEMENT_FIELDS if (v := getattr(self, f)) is not None or f in _CORE}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ElementStatus:
        raw = json.loads(data)
        fields = {f.name for f in dataclasses.fields(cls)}
        if "stopped" not in raw and "ended" in raw:
            raw["stopped"] = raw["ended"]
        return cls(**{k: v for k, v in raw.items() if k in fields})


@dataclasses.dataclass(frozen=True)
class LogChunk:
    """Bytes of a log from ``offset`` on, and where to continue."""

    data: bytes
    next_offset: int


_ELEMENT_FIELDS = tuple(f.name for f in dataclasses.fields(ElementStatus))
#: fields always written (the others only when known, so a record stays small)
_CORE = frozenset({"index", "status", "reason", "started", "stopped", "exit_code", "outputs"})
#: the reason of an element a person stopped (every backend uses these words)
TERMINATED_BY_USER = "terminated by user"


def write_element_status(storage: Storage, layout: Layout, status: ElementStatus) -> None:
    storage.put_bytes(layout.status(status.index), status.to_json())


def status_order(status: str) -> int:
    """Where ``status`` comes in an element's lifecycle (SUBMITTED first, FAILED last)."""
    return STATUSES.index(status) if status in STATUSES else len(STATUSES)


def format_counts(counts: dict[str, int]) -> str:
    """``RUNNING 2, SUCCEEDED 3, FAILED 1``: counts in the order of the lifecycle."""
    return ", ".join(f"{k} {counts[k]}" for k in sorted(counts, key=status_order))


def check_size(size: int) -> None:
    if size > MAX_ARRAY_SIZE:
        raise InvalidAnalysis(
            f"An array job has at most {MAX_ARRAY_SIZE:,} elements; this input has {size:,}. "
            "Split it into several analyses, or batch several items per element "
            "(e.g. input=[items[i:i+10] for i in range(0, len(items), 10)])."
        )
    if size == 0:
        raise InvalidAnalysis("The input list is empty: there is nothing to run.")


# -- Attempts, resume keys, reruns (issue 13) ------------------------------------------------
#
#     users/<user>/analyses/<analysis-id>/
#         tasks/<i>/attempts/<k>/attempt.json   an earlier attempt k of element i (0 = the first):
#                                               status, reason, started, stopped, resources, ...
#         tasks/<i>/attempts/<k>/stdout stderr values.pkl files/<key>   its logs and outputs
#         tasks/<i>/resources.json  the current attempt's resources, when not the analysis's own
#                                   (a retry with more memory or time)
#         tasks/<i>/attempts/<k>/status.json resources.json   its record and resources as they were
#                                   (so a rerun whose submission fails can put it back)
#         attempts/<i>.<k>.json    the same attempt record, one small object per archived attempt
#                                   in ONE folder: every attempt of every element (what it cost,
#                                   whoever archived it: a rerun, the SDK's or the local cluster's
#                                   retries) is one listing, not one per element
#         keys.json        the resume key of every element and the parts it is made of
#         reruns.json      every rerun/retry: when, which elements, with which job definition
#     users/<user>/resume/<function-digest>/<analysis-id>   the key index: one marker per analysis
#
# The current (latest) attempt of an element always lives in tasks/<i>/ itself, so everything
# that reads an element (backends, the runner, the server) reads it as before. Before an element
# runs again its current attempt is *moved* to attempts/<k>/: the outputs of a failed attempt
# never mix with the next one's. attempt.json is written after the attempt's other objects, so
# an attempt folder without it is an interrupted move (it is overwritten by the next one).

ATTEMPT_RECORD = "attempt.json"


def attempts_prefix(layout: Layout, index: int) -> str:
    return layout.task(index) + "attempts/"


def attempt_prefix(layout: Layout, index: int, attempt: int) -> str:
    return f"{attempts_prefix(layout, index)}{attempt}/"


def attempt_log(layout: Layout, index: int, attempt: int, stream: str) -> str:
    layout.log(index, stream)  # refuses a stream that is not stdout/stderr
    return attempt_prefix(layout, index, attempt) + stream


def resources_key(layout: Layout, index: int) -> str:
    """The current attempt's resources of element ``index`` (only when not the analysis's)."""
    return layout.task(index) + "resources.json"


def attempts_ledger_prefix(layout: Layout) -> str:
    """The folder holding one record per archived attempt of any element (``<i>.<k>.json``)."""
    return layout.prefix + "attempts/"


def attempts_ledger_key(layout: Layout, index: int, attempt: int) -> str:
    return f"{attempts_ledger_prefix(layout)}{index}.{attempt}.json"


def keys_key(layout: Layout) -> str:
    return layout.prefix + "keys.json"


def reruns_key(layout: Layout) -> str:
    return layout.prefix + "reruns.json"


def resume_index_prefix(user: str, function_digest: str | None = None) -> str:
    base = f"users/{user}/resume/"
    return base if function_digest is None else f"{base}{function_digest}/"


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One attempt of an element: its outcome and the resources it had."""

    attempt: int
    status: str
    reason: str | None = None
    started: float | None = None
    stopped: float | None = None
    exit_code: int | None = None
    resources: dict[str, Any] | None = None
    outputs: dict[str, list[str]] | None = None
    cached: dict[str, Any] | None = None
    # what the attempt used, as measured (issue 14: an earlier attempt was paid for too)
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    signal: str | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started is None or self.stopped is None:
            return None
        return max(0.0, self.stopped - self.started)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: bytes) -> Attempt:
        raw = json.loads(data)
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in fields})


def archived_attempts(storage: Storage, layout: Layout, index: int) -> list[Attempt]:
    """The earlier attempts of element ``index`` (complete ones only), attempt 0 first."""
    found: list[Attempt] = []
    for prefix in storage.iter_prefixes(attempts_prefix(layout, index)):
        number = prefix.rstrip("/").rsplit("/", 1)[-1]
        if not number.isdigit():
            continue
        try:
            found.append(Attempt.from_json(storage.get_bytes(prefix + ATTEMPT_RECORD)))
        except NotFound:
            continue  # an interrupted move
    found.sort(key=lambda a: a.attempt)
    return found


def current_resources(storage: Storage, layout: Layout, index: int, default: dict[str, Any]) -> dict[str, Any]:
    """The resources element ``index``'s current attempt runs with (``default``: the analysis's)."""
    try:
        return dict(json.loads(storage.get_bytes(resources_key(layout, index))))
    except NotFound:
        return dict(default)


def all_archived_attempts(storage: Storage, layout: Layout) -> list[tuple[int, Attempt]]:
    """Every archived attempt of every element of the analysis, as (element, attempt): one
    listing of ``attempts/`` (a request per 1,000 attempts on S3), then the small records
    read 8 at a time. Index order, attempt 0 first."""
    from concurrent.futures import ThreadPoolExecutor

    prefix = attempts_ledger_prefix(layout)
    keys: list[tuple[int, int, str]] = []
    for obj in storage.iter_objects(prefix):
        name = obj.key[len(prefix) :]
        parts = name.split(".")
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() and parts[2] == "json":
            keys.append((int(parts[0]), int(parts[1]), obj.key))

    def read(key: str) -> Attempt | None:
        try:
            return Attempt.from_json(storage.get_bytes(key))
        except (NotFound, ValueError, TypeError):
            return None  # removed meanwhile (a failed rerun put it back), or not ours

    keys.sort()
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(read, [k for _, _, k in keys]))
    return [(i, a) for (i, _, _), a in zip(keys, found, strict=True) if a is not None]


def archive_attempt(
    storage: Storage,
    layout: Layout,
    index: int,
    current: ElementStatus,
    resources: dict[str, Any],
    *,
    number: int | None = None,
    logs: dict[str, bytes] | None = None,
) -> int:
    """Move element ``index``'s current attempt (status, logs, outputs) to ``attempts/<k>/``
    and return ``k``. ``logs`` replaces the stored logs (a backend whose logs live elsewhere,
    e.g. CloudWatch, hands them in). Afterwards the element has no status, log or output: it
    is ready to run again (or, should its new submission fail, :func:`restore_attempt` puts
    this attempt back)."""
    if number is None:
        done = archived_attempts(storage, layout, index)
        number = done[-1].attempt + 1 if done else 0
    dest = attempt_prefix(layout, index, number)
    task = layout.task(index)
    attempts = attempts_prefix(layout, index)
    moved: list[str] = []
    for obj in storage.iter_objects(task):
        if obj.key.startswith(attempts):
            continue
        rel = obj.key[len(task) :]
        if logs is not None and rel in ("stdout", "stderr"):
            moved.append(obj.key)
            continue
        storage.copy(obj.key, dest + rel)  # status.json and resources.json too: restore_attempt
        if obj.key != layout.status(index):
            moved.append(obj.key)
    for stream, data in (logs or {}).items():
        storage.put_bytes(dest + stream, data)
    record = Attempt(
        attempt=number,
        status=current.status,
        reason=current.reason,
        started=current.started,
        stopped=current.stopped,
        exit_code=current.exit_code,
        resources=resources,
        outputs=current.outputs,
        cached=current.cached,
        cpu_s=current.cpu_s,
        peak_rss_mb=current.peak_rss_mb,
        signal=current.signal,
    )
    data = json.dumps(record.to_dict()).encode()
    storage.put_bytes(dest + ATTEMPT_RECORD, data)
    storage.put_bytes(attempts_ledger_key(layout, index, number), data)
    # the status goes first: from now on nothing reads the old attempt as current
    storage.delete(layout.status(index))
    storage.delete_many(moved)
    return number


def restore_attempt(storage: Storage, layout: Layout, index: int, number: int, *, logs: bool = True) -> None:
    """Undo :func:`archive_attempt`: attempt ``number`` of element ``index`` becomes its
    current attempt again, as it was (a rerun whose submission the backend refused).
    ``logs=False``: its logs were handed in by the backend, which still has them (they are
    not put back into storage)."""
    src = attempt_prefix(layout, index, number)
    task = layout.task(index)
    objects = [obj.key for obj in storage.iter_objects(src)]
    status_copy = None
    for key in objects:
        rel = key[len(src) :]
        if rel == ATTEMPT_RECORD or (not logs and rel in ("stdout", "stderr")):
            continue
        if rel == "status.json":
            status_copy = key
            continue
        storage.copy(key, task + rel)
    if status_copy is not None:  # last: the element is current again once all of it is back
        storage.copy(status_copy, layout.status(index))
    storage.delete(attempts_ledger_key(layout, index, number))
    storage.delete(src + ATTEMPT_RECORD)  # from here on an interrupted move, overwritten by the next
    storage.delete_many([k for k in objects if not k.endswith("/" + ATTEMPT_RECORD)])


# resumed elements: ONE object per analysis (not a status file each), so that resuming 10,000
# elements is a few writes. An element's own status.json, once it has one, comes first.
_CACHED_TTL = 5.0
_cached_memo: dict[tuple[str, str], tuple[float, dict[int, dict[str, Any]], float]] = {}


def cached_key(layout: Layout) -> str:
    return layout.prefix + "cached.json"


def write_cached(storage: Storage, layout: Layout, elements: dict[int, tuple[str, int]], at: float) -> None:
    """Record that ``elements`` (index -> (source analysis, source index)) reuse earlier results."""
    sources = sorted({s for s, _ in elements.values()})
    number = {s: n for n, s in enumerate(sources)}
    rows = [[i, number[s], j] for i, (s, j) in sorted(elements.items())]
    storage.put_bytes(cached_key(layout), json.dumps({"at": at, "sources": sources, "elements": rows}).encode())
    _cached_memo.pop((storage.url, layout.id), None)


def forget_cached_memo(storage: Storage, layout: Layout) -> None:
    """Read ``cached.json`` afresh next time (it was put back as it was)."""
    _cached_memo.pop((storage.url, layout.id), None)


def read_cached(storage: Storage, layout: Layout) -> tuple[dict[int, dict[str, Any]], float]:
    """(index -> {"analysis", "index"}, when) of an analysis's resumed elements (read at most
    every few seconds per process: it changes only when a rerun takes an element back)."""
    import time

    memo_key = (storage.url, layout.id)
    now = time.monotonic()
    known = _cached_memo.get(memo_key)
    if known is not None and now - known[0] < _CACHED_TTL:
        return known[1], known[2]
    try:
        raw = json.loads(storage.get_bytes(cached_key(layout)))
        sources = raw["sources"]
        found = {int(i): {"analysis": sources[s], "index": int(j)} for i, s, j in raw["elements"]}
        at = float(raw.get("at") or 0.0)
    except NotFound:
        found, at = {}, 0.0
    if len(_cached_memo) > 1000:
        _cached_memo.clear()
    _cached_memo[memo_key] = (now, found, at)
    return found, at


def cached_status(storage: Storage, layout: Layout, index: int) -> ElementStatus | None:
    """Element ``index`` as SUCCEEDED and ``cached`` if it reuses an earlier result."""
    found, at = read_cached(storage, layout)
    source = found.get(index)
    if source is None:
        return None
    return ElementStatus(index, SUCCEEDED, started=at, stopped=at, exit_code=0, cached=source)


def forget_cached(storage: Storage, layout: Layout, indices: list[int]) -> None:
    """Elements that run again (a rerun) no longer reuse an earlier result."""
    found, at = read_cached(storage, layout)
    if not any(i in found for i in indices):
        return
    keep = {i: (s["analysis"], s["index"]) for i, s in found.items() if i not in set(indices)}
    write_cached(storage, layout, keep, at)
