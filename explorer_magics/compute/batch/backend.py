"""``batch`` compute: every element runs in a container on an AWS Batch job queue.

The analysis record (function, shared input, ONE inputs blob + offsets index) is already in S3
when :meth:`BatchCompute.submit` is called, so submitting costs O(1) API calls whatever the
array size: at most a DescribeJobDefinitions + RegisterJobDefinition the first time an
image/resources combination is used in a process, then ONE ``SubmitJob`` per analysis (with
``arrayProperties`` for an array of 2..10,000 elements; a single input is a plain job).

The container runs the same runner as the local cluster::

    python -m explorer_magics.runner --analysis Ref::analysis --user Ref::user

and finds its element through ``AWS_BATCH_JOB_ARRAY_INDEX``. Only the analysis id and user
travel as job parameters; the job definition's environment holds the storage root (and S3
endpoint/region), never a credential: the container gets its AWS access from the job role.

Status:

* :meth:`~BatchCompute.summary` is ONE ``DescribeJobs`` on the array parent (its
  ``statusSummary``); a finished summary is remembered (in this process and in
  ``summary.json``), so a finished analysis costs no further Batch calls;
* elements are looked at only when asked: one element is one ``DescribeJobs`` (the child
  ``<parent>:<i>`` and the parent together) plus its ``status.json`` in S3 (the runner's reason
  and output keys); a page of elements is ``ListJobs(arrayJobId, FAILED)`` (failed ones first)
  plus ``DescribeJobs`` in batches of 100;
* logs come from CloudWatch Logs (group ``/aws/batch/job``, the stream of the element's latest
  attempt). CloudWatch keeps stdout and stderr in ONE stream: everything is read as ``stdout``
  and ``stderr`` is empty on this backend.

AWS Batch's status is authoritative; the runner's record in S3 adds the details (reason,
output keys) when it agrees with Batch. Batch forgets jobs some days after they end: then the
record in S3 is all there is, and it is used.

Every call goes through :mod:`explorer_magics.aws` clients (adaptive retries) and, on top,
:func:`call_batch` (:func:`explorer_magics.aws.call`, shared with S3): throttling errors that
outlast botocore's retries are retried again with jittered backoff, and ``SubmitJob`` passes
a process-wide token bucket first (``EXPLORER_BATCH_SUBMIT_RATE`` per second, default 20), so
a loop submitting 1,500 analyses never shows a 429 to the user.

Settings (:class:`BatchSettings`, the ``[batch]`` section or ``EXPLORER_BATCH_<KEY>``):
``job_queue``, ``image`` (the default container image), ``job_role_arn`` (the role containers
run as). Environment read here besides: ``EXPLORER_BATCH_SUBMIT_RATE``,
``EXPLORER_BATCH_N_TO_N`` (``1``: an array that depends on an array of the same size starts
element i as soon as element i of its dependency succeeded, instead of after the whole
dependency). Endpoints: see :func:`explorer_magics.aws.endpoint_for`
(``EXPLORER_BATCH_ENDPOINT_URL``, ``EXPLORER_LOGS_ENDPOINT_URL``, ``EXPLORER_AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import hashlib
import json
import math
import os
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ... import aws, records
from ...aws import Retry, TokenBucket, is_throttle  # noqa: F401 - Retry: re-exported, tests tune it
from ...config import BackendSettings, Settings, setting
from ...errors import BackendError, ExplorerError, InvalidAnalysis
from ...records import (
    FAILED,
    PENDING,
    RUNNABLE,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    TERMINAL,
    ElementStatus,
    LogChunk,
    Manifest,
    StatusSummary,
)
from ...storage.base import Storage
from ..base import LOG_READ_LIMIT, Dependency, dependency_failed_reason
from ..stored import StoredCompute

#: the container command: the same runner as the local cluster, nothing bulky
RUNNER_COMMAND = ["python", "-m", "explorer_magics.runner", "--analysis", "Ref::analysis", "--user", "Ref::user"]
#: what a barrier job runs (it only waits for up to 20 dependencies)
BARRIER_COMMAND = ["true"]
SOME_DEPENDENCY_FAILED = "a dependency FAILED"  # the reason when it is not known which
LOG_GROUP = "/aws/batch/job"
TERMINATED = "terminated by user"
#: the tag on every job: whose it is (the IAM policy lets users terminate only their own)
USER_TAG = "explorer-user"
MAX_DEPENDS_ON = 20  # AWS Batch's limit per job
DESCRIBE_BATCH = 100  # DescribeJobs takes at most 100 job ids
MIN_TIMEOUT = 60  # AWS Batch's smallest attemptDurationSeconds
MAX_ATTEMPTS = 10  # AWS Batch's largest retryStrategy.attempts
CONTAINER_HOME = "/tmp/explorer"
#: endpoint settings the containers inherit from the submitter (none are secrets)
ENDPOINT_VARIABLES = ("EXPLORER_AWS_ENDPOINT_URL", "EXPLORER_BATCH_ENDPOINT_URL", "EXPLORER_LOGS_ENDPOINT_URL")
#: seconds a running element's log stream name is trusted before DescribeJobs is asked again
STREAM_TTL = 15.0

# -- throttling (the shared rules live in explorer_magics.aws) ---------------------------------
_bucket_lock = threading.Lock()
_submit_bucket: TokenBucket | None = None


def submit_bucket() -> TokenBucket:
    """The process-wide SubmitJob rate limiter (``EXPLORER_BATCH_SUBMIT_RATE``/s, default 20)."""
    global _submit_bucket
    with _bucket_lock:
        if _submit_bucket is None:
            raw = os.environ.get("EXPLORER_BATCH_SUBMIT_RATE", "20")
            try:
                rate = float(raw)
            except ValueError:
                raise ExplorerError(
                    f"EXPLORER_BATCH_SUBMIT_RATE must be a number of calls per second, not {raw!r}."
                ) from None
            _submit_bucket = TokenBucket(rate, burst=max(1.0, rate))
        return _submit_bucket


def set_submit_bucket(bucket: TokenBucket | None) -> None:
    """Replace the SubmitJob rate limiter (None: rebuild it from the environment)."""
    global _submit_bucket
    with _bucket_lock:
        _submit_bucket = bucket


def call_batch(client: Any, operation: str, *, idempotent: bool = True, **params: Any) -> Any:
    """:func:`explorer_magics.aws.call` (throttling, and for ``idempotent`` calls 5xx and dropped
    connections, retried with jittered backoff on top of botocore's adaptive retries);
    ``SubmitJob`` first takes a token from :func:`submit_bucket`."""
    before = submit_bucket().acquire if operation == "submit_job" else None
    return aws.call(client, operation, idempotent=idempotent, before=before, **params)


def _backend_error(exc: BaseException, doing: str) -> ExplorerError:
    code = aws.error_code(exc) or type(exc).__name__
    if type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
        return BackendError(
            f"No AWS credentials while {doing}; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or run where an IAM role is available."
        )
    if code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException"):
        return BackendError(f"AWS refused {doing} ({code}); check the IAM policy (`explorer cloud init --policy`).")
    if is_throttle(exc):
        return BackendError(f"AWS Batch kept throttling while {doing}, even after backing off; try again in a minute.")
    return BackendError(f"AWS Batch failed while {doing}: {exc}")


# -- job definitions --------------------------------------------------------------------------
def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def resource_requirements(job_definition: dict[str, Any]) -> list[dict[str, str]]:
    """VCPU, MEMORY (MiB) and GPU of a :class:`~explorer_magics.analysis.JobDefinition` dict."""
    cpu = float(job_definition.get("cpu") or 2)
    memory = int(job_definition.get("memory_mb") or 4000)
    out = [{"type": "VCPU", "value": _number(cpu)}, {"type": "MEMORY", "value": str(memory)}]
    gpu = int(job_definition.get("gpu") or 0)
    if gpu:
        out.append({"type": "GPU", "value": str(gpu)})
    return out


def retry_strategy(job_definition: dict[str, Any]) -> dict[str, Any] | None:
    """The part of a JobDefinition's retries AWS Batch can do itself: a lost host (``node``), an
    exception (``error``: the runner exits 1) and an out-of-memory kill retried as is
    (``oom`` with ``memory_growth=1``); everything else ends the job (``EXIT``). Retries that
    need more memory or time are the SDK's (:mod:`explorer_magics.rerun`): Batch cannot grow
    an attempt's resources, and does not retry a job that timed out."""
    retries = int(job_definition.get("retries") or 0)
    kinds = set(job_definition.get("retry_on") or ())
    rules: list[dict[str, str]] = []
    if "node" in kinds:
        rules.append({"onStatusReason": "Host EC2*", "action": "RETRY"})
    if "oom" in kinds and float(job_definition.get("memory_growth") or 1) == 1:
        rules.append({"onReason": "OutOfMemoryError*", "action": "RETRY"})
    if "error" in kinds:
        rules.append({"onExitCode": "1", "action": "RETRY"})
    if not retries or not rules:
        return None
    rules.append({"onReason": "*", "action": "EXIT"})
    return {"attempts": min(MAX_ATTEMPTS, 1 + retries), "evaluateOnExit": rules}


def definition_name(kind: str, container_properties: dict[str, Any]) -> str:
    """``explorer-<kind>-<hash>``: one registered job definition per distinct content."""
    digest = hashlib.sha256(json.dumps(container_properties, sort_keys=True).encode()).hexdigest()[:20]
    return f"explorer-{kind}-{digest}"


def _ms(value: Any) -> float | None:
    return value / 1000.0 if isinstance(value, (int, float)) and value > 0 else None


def _exit_signal(code: Any) -> str | None:
    """observe: a container's exit code 128+n means it was ended by signal n (137: SIGKILL)."""
    import signal

    if isinstance(code, int) and 128 < code <= 128 + 64:
        try:
            return signal.Signals(code - 128).name
        except ValueError:
            return None
    return None


def _child_index(summary: dict[str, Any]) -> int:
    props = summary.get("arrayProperties") or {}
    if isinstance(props.get("index"), int):
        return int(props["index"])
    return int(str(summary["jobId"]).rsplit(":", 1)[1])


# -- the backend ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BatchSettings(BackendSettings):
    """``[batch]``: where and how AWS Batch runs elements."""

    section = "batch"

    job_queue: str | None = setting(doc="the job queue (`explorer cloud init` creates one)")
    image: str | None = setting(doc="the default container image (JobDefinition(image=...) wins)")
    job_role_arn: str | None = setting(doc="the IAM role containers run as (their S3 access)")


class BatchCompute(StoredCompute):
    """Analyses as AWS Batch jobs (array jobs for lists); see the module docstring."""

    name = "batch"
    settings_class = BatchSettings

    # (endpoint, region, name) -> job definition ARN, shared by every instance in the process
    _definitions: dict[tuple[Any, ...], str] = {}
    _definitions_lock = threading.Lock()

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        *,
        batch_client: Any = None,
        logs_client: Any = None,
    ) -> None:
        super().__init__(settings, storage)
        self._batch_client = batch_client
        self._logs_client = logs_client
        #: the IAM role containers run as (their S3 access); None: the queue's default
        self.config = settings.of(BatchSettings)
        self.job_role_arn: str | None = self.config.job_role_arn
        self._lock = threading.Lock()
        self._final: dict[str, StatusSummary] = {}  # finished summaries (they never change)
        self._dependency_reasons: dict[str, str] = {}  # analysis id -> which dependency failed
        # (log stream, byte offset) -> CloudWatch forward token, for live follow
        self._cursors: collections.OrderedDict[tuple[str, int], str] = collections.OrderedDict()
        self._streams: dict[tuple[str, int], tuple[str, float]] = {}  # (run, index) -> (stream, valid until)

    # -- clients (built lazily: nothing here talks to the network) ------------------------------
    @property
    def batch(self) -> Any:
        """The Batch client (from :func:`explorer_magics.aws.client`, or the one given)."""
        if self._batch_client is None:
            self._batch_client = aws.client("batch", settings=self.settings)
        return self._batch_client

    @property
    def logs(self) -> Any:
        """The CloudWatch Logs client."""
        if self._logs_client is None:
            self._logs_client = aws.client("logs", settings=self.settings)
        return self._logs_client

    def _call(self, operation: str, doing: str, *, idempotent: bool = True, **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call_batch(self.batch, operation, idempotent=idempotent, **params)
        except (ClientError, BotoCoreError) as exc:
            raise _backend_error(exc, doing) from exc

    # -- submission -----------------------------------------------------------------------------
    def preflight(self, job_definition: dict[str, Any]) -> None:
        self._check_ready(job_definition)

    def _check_ready(self, job_definition: dict[str, Any]) -> tuple[str, str]:
        """(job queue, image), or a refusal saying what to set."""
        if self.storage.s3_uri("") is None:
            raise InvalidAnalysis(
                f"compute=batch needs S3 storage (containers cannot read {self.storage.url}); set "
                "EXPLORER_STORAGE=s3://bucket/prefix (or storage in the config file). No job was submitted."
            )
        queue = self.config.job_queue
        if not queue:
            raise InvalidAnalysis(
                "No AWS Batch job queue is configured: set EXPLORER_BATCH_JOB_QUEUE (or [batch] job_queue in "
                "the config file); `explorer cloud init` creates one. No job was submitted."
            )
        image = job_definition.get("image") or self.config.image
        if not image:
            raise InvalidAnalysis(
                "No container image for AWS Batch: build and push the Dockerfile of this project and set "
                "EXPLORER_BATCH_IMAGE (or [batch] image in the config file), or pass "
                "JobDefinition(image=...). No job was submitted."
            )
        return queue, image

    def container_properties(self, job_definition: dict[str, Any], image: str) -> dict[str, Any]:
        """The job definition's container for an analysis's :class:`JobDefinition` dict: image,
        the runner command, resources, environment (storage root, endpoint, region; no secret)."""
        env = {
            "EXPLORER_STORAGE": self.storage.url,
            "EXPLORER_COMPUTE": self.name,
            "EXPLORER_HOME": CONTAINER_HOME,
            "AWS_DEFAULT_REGION": aws.region_for(self.settings),
            "PYTHONUNBUFFERED": "1",
        }
        s3_endpoint = self.settings.of(aws.S3Settings).endpoint_url
        if s3_endpoint:
            env["EXPLORER_S3_ENDPOINT_URL"] = s3_endpoint
        for name in ENDPOINT_VARIABLES:  # an element reading a dependency asks the same services
            if os.environ.get(name):
                env[name] = os.environ[name]
        props: dict[str, Any] = {
            "image": image,
            "command": list(RUNNER_COMMAND),
            "resourceRequirements": resource_requirements(job_definition),
            "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
        }
        if self.job_role_arn:
            props["jobRoleArn"] = self.job_role_arn
        return props

    def job_definition(self, kind: str, container_properties: dict[str, Any]) -> str:
        """The ARN of the ACTIVE job definition with exactly these container properties,
        registering it the first time (at most two calls per process and definition)."""
        name = definition_name(kind, container_properties)
        key = (aws.endpoint_for("batch", self.settings), aws.region_for(self.settings), name)
        with self._definitions_lock:
            found = self._definitions.get(key)
            if found:
                return found
            existing = self._call(
                "describe_job_definitions", "looking up a job definition", jobDefinitionName=name, status="ACTIVE"
            ).get("jobDefinitions", [])
            if existing:
                arn = max(existing, key=lambda d: d.get("revision", 0))["jobDefinitionArn"]
            else:
                arn = self._call(
                    "register_job_definition",
                    "registering a job definition",
                    jobDefinitionName=name,
                    type="container",
                    containerProperties=container_properties,
                    parameters={"analysis": "none", "user": "none"},
                    tags={"explorer": kind},
                )["jobDefinitionArn"]
            self._definitions[key] = arn
            return arn

    @staticmethod
    def _n_to_n() -> bool:
        return os.environ.get("EXPLORER_BATCH_N_TO_N", "").strip().lower() in ("1", "true", "yes", "on")

    def _depends_on(
        self, manifest: Manifest, dependencies: Sequence[Dependency], queue: str, image: str, whole: bool
    ) -> tuple[list[dict[str, str]], list[str]]:
        """(dependsOn entries, barrier job ids): never more than 20 entries per job."""
        entries: list[dict[str, str]] = []
        for dep in dependencies:
            # a Batch job is waited for even when it has finished (Batch knows it SUCCEEDED);
            # another backend's must have finished (the core refuses the rest, and fails the
            # dependents of a failed one itself)
            job_id = dep.details.get("job_id") if dep.backend == self.name else None
            if job_id is None and not dep.waits:
                continue
            if job_id is None:
                raise InvalidAnalysis(
                    f"{manifest.name} depends on {dep.name} ({dep.id}), which runs on compute={dep.backend!r} and is "
                    f"{dep.summary.status}; AWS Batch can only wait for Batch jobs. Run the dependency with "
                    "compute='batch', or wait for it to succeed first."
                )
            entry = {"jobId": job_id}
            if (
                whole
                and self._n_to_n()
                and dep.details.get("array")
                and "indices" not in dep.details
                and manifest.size is not None
                and manifest.size >= 2
                and dep.manifest.size == manifest.size
            ):
                entry["type"] = "N_TO_N"
            entries.append(entry)
        barriers: list[str] = []
        level = 0
        while len(entries) > MAX_DEPENDS_ON:
            level += 1
            props = {
                "image": image,
                "command": list(BARRIER_COMMAND),
                "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "256"}],
            }
            arn = self.job_definition("barrier", props)
            grouped: list[dict[str, str]] = []
            for n, start in enumerate(range(0, len(entries), MAX_DEPENDS_ON)):
                group = [{"jobId": e["jobId"]} for e in entries[start : start + MAX_DEPENDS_ON]]
                response = self._call(
                    "submit_job",
                    "submitting a dependency barrier",
                    idempotent=False,
                    jobName=f"{manifest.id[:100]}-wait{level}-{n}",
                    jobQueue=queue,
                    jobDefinition=arn,
                    dependsOn=group,
                )
                barriers.append(response["jobId"])
                grouped.append({"jobId": response["jobId"]})
            entries = grouped
        return entries, barriers

    def submit(
        self,
        manifest: Manifest,
        dependencies: Sequence[Dependency] = (),
        indices: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        # (a submission that fails is the core's to clean up: submission.submit removes the
        # record of a new analysis; rerun.py puts a refused rerun's attempts back)
        queue, image = self._check_ready(manifest.job_definition)
        definition = self.job_definition("job", self.container_properties(manifest.job_definition, image))
        chosen = None if indices is None else sorted(set(indices))
        if chosen is not None and chosen == list(range(manifest.count)):
            chosen = None  # every element: the plain array
        depends_on, barriers = self._depends_on(manifest, dependencies, queue, image, whole=chosen is None)
        jd = manifest.job_definition
        size = manifest.count if chosen is None else len(chosen)
        array = (manifest.size is not None or chosen is not None) and size >= 2
        environment = [{"name": "EXPLORER_USER", "value": manifest.user}]
        backend: dict[str, Any] = {}
        if chosen is not None:
            # child k of this job runs element chosen[k]: the runner reads the map (4 bytes)
            backend.update(self._others(manifest, chosen))
            key = f"{manifest.layout.prefix}runs/{time.time_ns()}.idx"
            self.storage.put_bytes(key, struct.pack(f"<{len(chosen)}I", *chosen))
            environment.append({"name": "EXPLORER_INDICES", "value": key})
            backend["indices"] = chosen
        params: dict[str, Any] = {
            "jobName": manifest.id[:128],
            "jobQueue": queue,
            "jobDefinition": definition,
            "parameters": {"analysis": manifest.id, "user": manifest.user},
            "containerOverrides": {"environment": environment},
            "tags": {USER_TAG: manifest.user, "explorer-analysis": manifest.id[:256]},
            "propagateTags": True,
        }
        if array:
            params["arrayProperties"] = {"size": size}
        if depends_on:
            params["dependsOn"] = depends_on
        if jd.get("timeout_seconds"):
            params["timeout"] = {"attemptDurationSeconds": max(MIN_TIMEOUT, math.ceil(jd["timeout_seconds"]))}
        strategy = retry_strategy(jd)
        if strategy:
            params["retryStrategy"] = strategy
        response = self._call("submit_job", f"submitting {manifest.id}", idempotent=False, **params)
        backend.update({"job_id": response["jobId"], "job_definition": definition, "job_queue": queue, "array": array})
        if barriers:
            backend["barrier_jobs"] = barriers
        waited = [
            {"id": d.id, "name": d.name, "job_id": d.details["job_id"]}
            for d in dependencies
            if d.backend == self.name and d.details.get("job_id")
        ]
        if waited:  # which one failed, should a dependent fail: asked of Batch, not of storage
            backend["dependencies"] = waited
        return backend

    def _others(self, manifest: Manifest, chosen: list[int]) -> dict[str, Any]:
        """The counts of the elements that do not run again (their status stays), from the
        analysis's state now minus the chosen elements' recorded states."""
        before = self.summary(manifest)
        chosen_set = set(chosen)
        with ThreadPoolExecutor(max_workers=8) as pool:
            recorded = list(pool.map(lambda i: self._stored_element(manifest, i), chosen))
        default = PENDING if before.status == PENDING else RUNNABLE
        counts = collections.Counter({k: v for k, v in before.counts.items() if v})
        counts.subtract(collections.Counter(r.status if r is not None else default for r in recorded))
        others = {k: v for k, v in counts.items() if v > 0}
        if sum(others.values()) != manifest.count - len(chosen_set):  # the state did not add up: records
            others = self._count_records(manifest, [i for i in range(manifest.count) if i not in chosen_set])
        return {"others": others}

    def _count_records(self, manifest: Manifest, indices: list[int]) -> dict[str, int]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = list(pool.map(lambda i: self._stored_element(manifest, i), indices))
        return dict(collections.Counter(e.status if e is not None else RUNNABLE for e in found))

    # -- reading Batch --------------------------------------------------------------------------
    @staticmethod
    def _job_id(manifest: Manifest) -> str | None:
        return manifest.backend.get("job_id")

    @staticmethod
    def _run_key(manifest: Manifest) -> str:
        """What per-run caches are keyed by: the analysis and its current job (a rerun is a new job)."""
        return f"{manifest.id}:{manifest.backend.get('job_id')}"

    @staticmethod
    def _position(manifest: Manifest, index: int) -> int | None:
        """Which child of the job runs element ``index`` (None: it did not run in this job)."""
        chosen = manifest.backend.get("indices")
        if chosen is None:
            return index
        k = bisect.bisect_left(chosen, index)
        return k if k < len(chosen) and chosen[k] == index else None

    @classmethod
    def _element_job_id(cls, manifest: Manifest, index: int) -> str | None:
        parent = manifest.backend["job_id"]
        k = cls._position(manifest, index)
        if k is None:
            return None
        return f"{parent}:{k}" if manifest.backend.get("array") else parent

    @classmethod
    def _earlier_job_id(cls, manifest: Manifest, index: int) -> str | None:
        """The job that last ran element ``index`` when a rerun's job did not (its log is there);
        ``backend["earlier"]`` lists the jobs before the current one, oldest first."""
        for run in reversed(manifest.backend.get("earlier") or []):
            found = cls._element_job_id(dataclasses.replace(manifest, backend=run), index)
            if found is not None:
                return found
        return None

    def describe(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """JobDetail by job id, ``DescribeJobs`` in batches of 100 (unknown ids are left out)."""
        ids = list(dict.fromkeys(job_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), DESCRIBE_BATCH):
            response = self._call("describe_jobs", "reading job status", jobs=ids[start : start + DESCRIBE_BATCH])
            for job in response.get("jobs", []):
                found[job["jobId"]] = job
        return found

    def list_children(self, manifest: Manifest, status: str) -> list[dict[str, Any]]:
        """Every child of the array with ``status`` (ListJobs pages of up to 1,000), by index."""
        parent = manifest.backend["job_id"]
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"arrayJobId": parent, "jobStatus": status, "maxResults": 1000}
            if token:
                params["nextToken"] = token
            response = self._call("list_jobs", "listing array elements", **params)
            out.extend(response.get("jobSummaryList", []))
            token = response.get("nextToken")
            if not token:
                break
        out.sort(key=_child_index)
        return out

    def _reason(self, manifest: Manifest, job: dict[str, Any], parent: dict[str, Any] | None = None) -> str:
        """A FAILED job's reason in the words the local cluster uses."""
        container = job.get("container") or {}
        status_reason = str(job.get("statusReason") or "")
        container_reason = str(container.get("reason") or "")
        text = f"{status_reason} {container_reason}"
        jd = manifest.job_definition
        parent_reason = str((parent or {}).get("statusReason") or "")
        if TERMINATED in text or TERMINATED in parent_reason:
            return TERMINATED
        if "OutOfMemory" in text or "out of memory" in text.lower():
            return (
                f"out of memory: the element needed more than memory_mb={jd.get('memory_mb')} "
                "(the container was killed); raise JobDefinition(memory_mb=...)"
            )
        if "timeout" in text.lower() or "attempt duration" in text.lower():
            t = jd.get("timeout_seconds")
            if t:
                note = f" (AWS Batch enforces at least {MIN_TIMEOUT} s)" if t < MIN_TIMEOUT else ""
                return f"timeout: the element ran longer than timeout_seconds={t:g}{note}"
            return "timeout: the element ran longer than the job's time limit"
        if "dependent job" in text.lower():
            return self._dependency_reason(manifest)
        if job.get("isTerminated"):  # terminated from outside Explorer (console, CLI)
            return f"terminated: {status_reason}" if status_reason else TERMINATED
        code = container.get("exitCode")
        if code == 137:
            return f"killed by SIGKILL (out of memory above memory_mb={jd.get('memory_mb')}, or killed from outside)"
        if isinstance(code, int) and code != 0:
            return f"the element process exited with code {code} before recording a result"
        return (status_reason or container_reason or "failed on AWS Batch (no reason given)").strip()

    def _dependency_reason(self, manifest: Manifest) -> str:
        """Which dependency failed. A failed dependency stays failed, so it is worked out
        once per analysis, not once per element that says "dependent job failed"."""
        with self._lock:
            known = self._dependency_reasons.get(self._run_key(manifest))
        if known is None:
            known = self._find_failed_dependency(manifest)
            if known != SOME_DEPENDENCY_FAILED:  # (the general answer may sharpen later)
                with self._lock:
                    self._dependency_reasons[self._run_key(manifest)] = known
        return known

    def _find_failed_dependency(self, manifest: Manifest) -> str:
        """Which dependency failed: the only one waited for, else the one Batch reports FAILED
        among the dependency jobs kept at submission (one DescribeJobs). A dependency that had
        finished before was SUCCEEDED (the core fails dependents of failed ones itself)."""
        waited = manifest.backend.get("dependencies")
        if waited is None:  # (recorded before dependency jobs were kept)
            deps = list(manifest.depends_on)
            return (
                dependency_failed_reason(deps[0]["name"], deps[0]["id"]) if len(deps) == 1 else SOME_DEPENDENCY_FAILED
            )
        if len(waited) == 1:
            return dependency_failed_reason(waited[0]["name"], waited[0]["id"])
        try:
            jobs = self.describe(d["job_id"] for d in waited)
        except ExplorerError:
            return SOME_DEPENDENCY_FAILED
        for dep in waited:
            if (jobs.get(dep["job_id"]) or {}).get("status") == FAILED:
                return dependency_failed_reason(dep["name"], dep["id"])
        return SOME_DEPENDENCY_FAILED

    def _from_batch(
        self, manifest: Manifest, index: int, job: dict[str, Any], parent: dict[str, Any] | None = None
    ) -> ElementStatus:
        status = job["status"]
        container = job.get("container") or {}
        code = container.get("exitCode")
        return ElementStatus(
            index,
            status,
            reason=self._reason(manifest, job, parent) if status == FAILED else None,
            started=_ms(job.get("startedAt")),
            stopped=_ms(job.get("stoppedAt")),
            exit_code=code if isinstance(code, int) else None,
            signal=_exit_signal(code),
        )

    @staticmethod
    def _merge(batch: ElementStatus, stored: ElementStatus | None, manifest: Manifest) -> ElementStatus:
        """Batch's status with the runner's details (reason, output keys) where they agree."""
        if stored is None:
            return batch
        if stored.status == batch.status:
            return dataclasses.replace(  # the runner's record keeps what it measured (label, CPU, memory, host)
                stored,
                index=batch.index,
                reason=stored.reason or batch.reason,
                started=stored.started or batch.started,
                stopped=stored.stopped or batch.stopped,
                exit_code=stored.exit_code if stored.exit_code is not None else batch.exit_code,
                signal=stored.signal or batch.signal,
            )
        if stored.status == FAILED and batch.status not in TERMINAL and manifest.job_definition.get("retries"):
            return ElementStatus(batch.index, batch.status, reason=f"retrying after a failed attempt ({stored.reason})")
        return batch

    # -- the contract ---------------------------------------------------------------------------
    def _observe(self, manifest: Manifest, job: dict[str, Any]) -> tuple[StatusSummary, bool]:
        """(summary, whether the array's children exist yet) from the parent's JobDetail."""
        status = job["status"]
        raw = (job.get("arrayProperties") or {}).get("statusSummary") or {}
        summary_counts = {k: int(v) for k, v in raw.items() if v}
        chosen = manifest.backend.get("indices")
        size = manifest.count if chosen is None else len(chosen)
        if manifest.backend.get("array"):
            counts = summary_counts or {status: size}
            if status not in TERMINAL and summary_counts:
                # an array parent is only SUBMITTED/PENDING/SUCCEEDED/FAILED; its children say more
                status = records.overall_status(counts, size)
        else:
            counts = {status: 1}
        if chosen is not None:  # the elements that did not run again keep their status
            merged = collections.Counter(counts)
            merged.update(manifest.backend.get("others") or {})
            counts = {k: v for k, v in merged.items() if v}
            status = records.overall_status(counts, manifest.count)
        reason = None
        if status == FAILED and job.get("statusReason"):
            # the whole analysis's reason, when there is one (each element has its own)
            mapped = self._reason(manifest, job)
            reason = mapped if mapped == TERMINATED or mapped.startswith(("dependency ", "a dependency")) else None
        summary = StatusSummary(status=status, counts=counts, size=manifest.size, reason=reason, updated=time.time())
        if summary.finished:
            self._remember_final(manifest, summary)
        return summary, bool(summary_counts) or not manifest.backend.get("array")

    def summary(self, manifest: Manifest) -> StatusSummary:
        job_id = self._job_id(manifest)
        if job_id is None:
            return super().summary(manifest)  # submitted a moment ago: the record says what is known
        with self._lock:
            final = self._final.get(self._run_key(manifest))
        if final is not None:
            return final
        job = self.describe([job_id]).get(job_id)  # the ONE call
        if job is None:
            return self._forgotten_summary(manifest)
        return self._observe(manifest, job)[0]

    def _remember_final(self, manifest: Manifest, summary: StatusSummary) -> None:
        with self._lock:
            if self._run_key(manifest) in self._final:
                return
            self._final[self._run_key(manifest)] = summary
        try:  # for when Batch has forgotten the job (best effort: it may be another user's)
            self.storage.put_bytes(manifest.layout.summary, summary.to_json())
        except ExplorerError:
            pass

    def _forgotten_summary(self, manifest: Manifest) -> StatusSummary:
        """Batch no longer knows the job: the stored final summary, else the elements' records."""
        stored = super().summary(manifest)
        if stored.finished:
            return stored
        with ThreadPoolExecutor(max_workers=8) as pool:
            elements = list(pool.map(lambda i: self._stored_element(manifest, i), range(manifest.count)))
        counts: dict[str, int] = dict(
            collections.Counter(e.status if e is not None and e.status in TERMINAL else FAILED for e in elements)
        )
        result = StatusSummary(
            status=records.overall_status(counts, manifest.count),
            counts=counts,
            size=manifest.size,
            reason="AWS Batch no longer reports on this job; status from the records its elements left",
            updated=time.time(),
        )
        self._remember_final(manifest, result)
        return result

    def element_status(self, manifest: Manifest, index: int) -> ElementStatus:
        if self._job_id(manifest) is None:
            return super().element_status(manifest, index)
        parent_id = manifest.backend["job_id"]
        child_id = self._element_job_id(manifest, index)
        if child_id is None:  # did not run again: its record says
            return super().element_status(manifest, index)
        jobs = self.describe([child_id, parent_id])  # one call for both
        stored = self._stored_element(manifest, index)
        job = jobs.get(child_id)
        parent = jobs.get(parent_id)
        if job is None:
            if parent is None:  # Batch has forgotten the job
                return stored or ElementStatus(
                    index, FAILED, reason="AWS Batch no longer reports on this job and the element left no record"
                )
            # the array's children do not exist yet: the element is where its parent is
            reason = self._reason(manifest, parent) if parent["status"] == FAILED else None
            return ElementStatus(index, parent["status"], reason=reason)
        element = self._from_batch(manifest, index, job, parent if child_id != parent_id else None)
        if element.finished:
            stream = self._stream_of(job)
            if stream:
                with self._lock:
                    self._streams[(self._run_key(manifest), index)] = (stream, math.inf)
        return self._merge(element, stored, manifest)

    def list_elements(
        self, manifest: Manifest, *, status: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[ElementStatus]:
        if status is not None and status not in STATUSES:
            raise InvalidAnalysis(f"Unknown status {status!r}; use one of {', '.join(STATUSES)}.")
        if self._job_id(manifest) is None:
            return super().list_elements(manifest, status=status, offset=offset, limit=limit)
        if "indices" in manifest.backend:
            return self._list_some_run(manifest, status=status, offset=offset, limit=limit)
        if not manifest.backend.get("array"):
            one = [self.element_status(manifest, 0)]
            return [e for e in one if status is None or e.status == status][offset : offset + limit]
        parent_id = manifest.backend["job_id"]
        parent = self.describe([parent_id]).get(parent_id)
        if parent is None:  # Batch has forgotten the job: the records in storage are all there is
            return super().list_elements(manifest, status=status, offset=offset, limit=limit)
        summary, spawned = self._observe(manifest, parent)
        if not spawned:  # no children yet: every element is where the parent is
            if status is not None and status != parent["status"]:
                return []
            reason = self._reason(manifest, parent) if parent["status"] == FAILED else None
            stop = min(manifest.count, offset + limit)
            return [ElementStatus(i, parent["status"], reason=reason) for i in range(offset, stop)]
        if status is not None:
            if not summary.counts.get(status):
                return []
            children = self.list_children(manifest, status)[offset : offset + limit]
            found = [self._from_batch(manifest, _child_index(c), c) for c in children]
            return self._with_runner_reasons(manifest, found)
        failed = self.list_children(manifest, FAILED) if summary.counts.get(FAILED) else []
        out = [self._from_batch(manifest, _child_index(c), c) for c in failed[offset : offset + limit]]
        want = limit - len(out)
        if want > 0:
            skip = max(0, offset - len(failed))
            failed_set = {_child_index(c) for c in failed}
            indices: list[int] = []
            for i in range(manifest.count):
                if i in failed_set:
                    continue
                if skip:
                    skip -= 1
                    continue
                indices.append(i)
                if len(indices) == want:
                    break
            jobs = self.describe(f"{parent_id}:{i}" for i in indices)
            for i in indices:
                job = jobs.get(f"{parent_id}:{i}")
                out.append(self._from_batch(manifest, i, job) if job else ElementStatus(i, RUNNABLE))
        return self._with_runner_reasons(manifest, out)

    def element_letters(self, manifest: Manifest) -> bytes:
        """observe: one ListJobs listing per status the parent's summary counts (pages of 1,000),
        instead of describing every child."""
        if self._job_id(manifest) is None or not manifest.backend.get("array") or manifest.backend.get("indices"):
            return super().element_letters(manifest)
        parent_id = manifest.backend["job_id"]
        parent = self.describe([parent_id]).get(parent_id)
        if parent is None:
            return super().element_letters(manifest)
        summary, spawned = self._observe(manifest, parent)
        letters = bytearray(records.STATUS_LETTERS.get(parent["status"], b"N") * manifest.count)
        if spawned:
            for status, n in summary.counts.items():
                if n and status in records.STATUS_LETTERS:
                    letter = records.STATUS_LETTERS[status][0]
                    for child in self.list_children(manifest, status):
                        i = _child_index(child)
                        if 0 <= i < manifest.count:
                            letters[i] = letter
        return bytes(letters)

    def _list_some_run(self, manifest: Manifest, *, status: str | None, offset: int, limit: int) -> list[ElementStatus]:
        """Elements of an analysis whose last job ran only some of them: those from Batch
        (DescribeJobs in batches of 100), the others from their records."""
        chosen: list[int] = manifest.backend["indices"]
        ids = {i: self._element_job_id(manifest, i) for i in chosen}
        jobs = self.describe(j for j in ids.values() if j is not None)
        chosen_set = set(chosen)
        others = [i for i in range(manifest.count) if i not in chosen_set]
        with ThreadPoolExecutor(max_workers=8) as pool:
            recorded = dict(zip(others, pool.map(lambda i: self._stored_element(manifest, i), others), strict=True))
        elements: list[ElementStatus] = []
        for i in range(manifest.count):
            job_id = ids.get(i)
            if job_id is not None:
                job = jobs.get(job_id)
                elements.append(self._from_batch(manifest, i, job) if job else ElementStatus(i, RUNNABLE))
            else:
                elements.append(recorded.get(i) or ElementStatus(i, RUNNABLE))
        if status is not None:
            elements = [e for e in elements if e.status == status]
        elements.sort(key=lambda e: (e.status != FAILED, e.index))
        return self._with_runner_reasons(manifest, elements[offset : offset + limit])

    def _with_runner_reasons(self, manifest: Manifest, elements: list[ElementStatus]) -> list[ElementStatus]:
        """Elements that ran get the runner's own record (from S3) where it wrote one: the
        reason of a FAILED one, and (observe) the label and measurements of every one."""
        failed = [e for e in elements if e.status in (FAILED, SUCCEEDED, RUNNING)]
        if not failed:
            return elements
        with ThreadPoolExecutor(max_workers=8) as pool:
            records_ = list(pool.map(lambda e: self._stored_element(manifest, e.index), failed))
        stored = {e.index: r for e, r in zip(failed, records_, strict=True)}
        return [self._merge(e, stored[e.index], manifest) if e.index in stored else e for e in elements]

    def terminate(self, manifest: Manifest, index: int | None = None) -> None:
        if self._job_id(manifest) is None:
            if super().summary(manifest).finished:
                return  # never submitted (a dependency had failed): nothing runs
            raise BackendError(f"{manifest.id} has no AWS Batch job yet (it is being submitted); try again shortly.")
        job_id = manifest.backend["job_id"] if index is None else self._element_job_id(manifest, index)
        if job_id is None:
            return  # the element did not run again: nothing to stop
        self._call("terminate_job", f"terminating {job_id}", jobId=job_id, reason=TERMINATED)
        if index is None:  # the whole analysis: its barrier jobs too
            for barrier in manifest.backend.get("barrier_jobs", ()):
                self._call("terminate_job", f"terminating {barrier}", jobId=barrier, reason=TERMINATED)

    # -- logs -----------------------------------------------------------------------------------
    @staticmethod
    def _stream_of(job: dict[str, Any]) -> str | None:
        """The log stream of the job's latest attempt: the container's (the current attempt
        while it runs), else the last finished attempt's."""
        stream = (job.get("container") or {}).get("logStreamName")
        if stream:
            return str(stream)
        attempts = job.get("attempts") or []
        if attempts:
            latest = (attempts[-1].get("container") or {}).get("logStreamName")
            if latest:
                return str(latest)
        return None

    def earlier_attempts(self, manifest: Manifest, index: int) -> list[dict[str, Any]]:
        """The attempts AWS Batch itself made of element ``index`` in its current job before
        the latest one (its ``retryStrategy``: a lost host, an exception with
        ``retry_on=("error",)``...), oldest first: status, reason, times, exit code and log
        stream. One DescribeJobs."""
        child = self._element_job_id(manifest, index) if self._job_id(manifest) else None
        job = self.describe([child]).get(child) if child else None
        if job is None:
            return []
        done = list(job.get("attempts") or [])
        if job["status"] in TERMINAL:
            done = done[:-1]  # the last one is the element's current attempt
        out = []
        for attempt in done:
            container = attempt.get("container") or {}
            code = container.get("exitCode")
            reason = str(container.get("reason") or attempt.get("statusReason") or "").strip()
            out.append(
                {
                    "status": FAILED,
                    "reason": reason or (f"exited with code {code}" if code is not None else "failed on AWS Batch"),
                    "started": _ms(attempt.get("startedAt")),
                    "stopped": _ms(attempt.get("stoppedAt")),
                    "exit_code": code if isinstance(code, int) else None,
                    "log_stream": container.get("logStreamName"),
                }
            )
        return out

    def in_job_attempts(self, manifest: Manifest) -> list[tuple[int, dict[str, Any]]]:
        """Every attempt AWS Batch made itself (its ``retryStrategy``) before the last one of
        each element's job, in the current job and the earlier ones (a rerun's, a resubmission's),
        as (element, attempt): what the cost of an analysis counts besides the attempts kept in
        storage. DescribeJobs of every child, 100 a call (10,000 elements: 100 calls), so it is
        asked once an analysis has finished; nothing when the job definition let Batch retry
        nothing."""
        if retry_strategy(manifest.job_definition) is None or not self._job_id(manifest):
            return []
        runs = [*(manifest.backend.get("earlier") or []), manifest.backend]
        children: dict[str, int] = {}
        for run in runs:
            if not run.get("job_id"):
                continue
            chosen = run.get("indices")
            indices = list(range(manifest.count)) if chosen is None else list(chosen)
            for k, index in enumerate(indices):
                children[f"{run['job_id']}:{k}" if run.get("array") else str(run["job_id"])] = index
        out: list[tuple[int, dict[str, Any]]] = []
        for job_id, job in self.describe(children).items():
            done = list(job.get("attempts") or [])
            if job.get("status") in TERMINAL:
                done = done[:-1]  # the last one is the element's attempt (current, or kept in storage)
            for attempt in done:
                container = attempt.get("container") or {}
                code = container.get("exitCode")
                out.append(
                    (
                        children[job_id],
                        {
                            "status": FAILED,
                            "reason": str(container.get("reason") or attempt.get("statusReason") or "").strip() or None,
                            "started": _ms(attempt.get("startedAt")),
                            "stopped": _ms(attempt.get("stoppedAt")),
                            "exit_code": code if isinstance(code, int) else None,
                        },
                    )
                )
        out.sort(key=lambda pair: pair[0])
        return out

    def log_stream(self, manifest: Manifest, index: int) -> str | None:
        """The CloudWatch stream of element ``index``'s latest attempt (None before it starts).

        A finished element's stream is remembered; a running one's for ``STREAM_TTL`` seconds
        (a retry starts a new stream), so following a live log is not a DescribeJobs per read.
        """
        key = (self._run_key(manifest), index)
        with self._lock:
            known = self._streams.get(key)
        if known and known[1] > time.monotonic():
            return known[0]
        job_id = self._element_job_id(manifest, index) or self._earlier_job_id(manifest, index)
        if job_id is None:
            return None
        job = self.describe([job_id]).get(job_id)
        if job is None:
            return None
        stream = self._stream_of(job)
        if stream:
            until = math.inf if job["status"] in TERMINAL else time.monotonic() + STREAM_TTL
            with self._lock:
                if len(self._streams) > 10_000:
                    self._streams.clear()
                self._streams[key] = (stream, until)
        return stream

    def read_log(self, manifest: Manifest, index: int, stream: str, offset: int) -> LogChunk:
        """``offset`` is a byte offset into the element's log as one text: every CloudWatch
        event's message followed by a newline. A read continues from the forward token the
        previous read ended at (so following a live log fetches only new events); an offset
        not seen before is found by reading from the start. ``stderr`` is always empty:
        CloudWatch keeps both streams in one, read as ``stdout``."""
        manifest.layout.log(index, stream)  # refuses a stream that is not stdout/stderr
        if self._job_id(manifest) is None:
            return super().read_log(manifest, index, stream, offset)
        if stream == "stderr":
            return LogChunk(b"", offset)

        name = self.log_stream(manifest, index)
        if name is None:
            return LogChunk(b"", offset)
        return self.read_stream(name, offset, index)

    def read_stream(self, name: str, offset: int, index: int = 0) -> LogChunk:
        """The CloudWatch log stream ``name`` from byte ``offset`` on (see :meth:`read_log`)."""
        from botocore.exceptions import BotoCoreError, ClientError

        with self._lock:
            token = self._cursors.get((name, offset))
        position = offset if token else 0
        skip = 0 if token else offset
        chunks: list[bytes] = []
        size = 0
        while True:
            params: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": name, "startFromHead": True}
            if token:
                params["nextToken"] = token
            try:
                response = call_batch(self.logs, "get_log_events", **params)
            except (ClientError, BotoCoreError) as exc:
                if aws.error_code(exc) == "ResourceNotFoundException":  # not created yet: empty
                    return LogChunk(b"", offset)
                raise _backend_error(exc, f"reading the log of element {index}") from exc
            for event in response.get("events", []):
                data = (str(event.get("message", "")).rstrip("\n") + "\n").encode()
                position += len(data)
                if skip:
                    if len(data) <= skip:
                        skip -= len(data)
                        continue
                    data = data[skip:]
                    skip = 0
                chunks.append(data)
                size += len(data)
            next_token = response.get("nextForwardToken")
            done = not next_token or next_token == token
            token = next_token
            if done or size >= LOG_READ_LIMIT:
                break
        data = b"".join(chunks)
        end = offset + len(data)
        if token and not skip and position == end:
            with self._lock:
                self._cursors[(name, end)] = token
                while len(self._cursors) > 4096:
                    self._cursors.popitem(last=False)
        return LogChunk(data, end)
