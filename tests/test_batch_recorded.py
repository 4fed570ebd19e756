"""The ``batch`` backend where moto cannot show AWS Batch's behaviour: RUNNING arrays, partial
failure, retries, killed containers, throttling (429s).

AWS's answers are recorded responses in the API's own shapes (botocore's Stubber validates
both our requests and these responses against the service model); our code is not faked.
"""

from __future__ import annotations

import dataclasses
import io
import json
import threading
import time

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import ANY, Stubber

from explorer_magics import aws, records, session
from explorer_magics.compute.batch import backend as batch_mod
from explorer_magics.compute.batch.backend import BatchCompute, Retry, TokenBucket
from explorer_magics.errors import BackendError
from explorer_magics.records import ElementStatus, Manifest, StatusSummary
from tests.s3_servers import use_storage

PARENT = "4c5d1a3e-0000-4000-8000-000000000001"
QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/explorer"
DEFINITION = "arn:aws:batch:us-east-1:123456789012:job-definition/explorer-job-abc:1"


def _client(service: str):
    return botocore.session.get_session().create_client(
        service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def stubbed():
    """A BatchCompute on local storage whose Batch and Logs clients answer from recordings."""
    batch, logs = _client("batch"), _client("logs")
    compute = BatchCompute(session.settings(), session.storage(), batch_client=batch, logs_client=logs)
    with Stubber(batch) as b, Stubber(logs) as lg:
        yield compute, b, lg
        b.assert_no_pending_responses()
        lg.assert_no_pending_responses()


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.clear_clients()
    yield
    aws.clear_clients()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(Retry, "sleep", slept.append)
    yield slept


def _new(size: int | None = 3, name: str = "work", **fields) -> Manifest:
    """A batch analysis's record (not stored): ``fields`` are the Manifest's others."""
    return Manifest(
        id=records.new_analysis_id(name),
        name=name,
        user="alice",
        created=time.time(),
        size=size,
        compute="batch",
        storage=session.storage().url,
        **fields,
    )


def manifest(size: int | None = 10, *, array: bool | None = None, **job_definition) -> Manifest:
    """A stored record of an analysis submitted to Batch as job PARENT."""
    m = _new(
        size,
        job_definition={"cpu": 2, "memory_mb": 4000, **job_definition},
        backend={"job_id": PARENT, "array": (size or 1) >= 2 if array is None else array},
    )
    session.storage().put_bytes(m.layout.manifest, m.to_json())
    return m


def job(job_id: str, status: str, **extra) -> dict:
    detail = {
        "jobName": "work",
        "jobId": job_id,
        "jobQueue": QUEUE,
        "status": status,
        "startedAt": 1_700_000_000_000,
        "jobDefinition": DEFINITION,
    }
    detail.update(extra)
    return detail


def recorded(el: ElementStatus, m: Manifest) -> None:
    """What the runner left in storage for an element."""
    records.write_element_status(session.storage(), m.layout, el)


# -- status -----------------------------------------------------------------------------------
def test_a_running_array_shows_its_children_counts_from_one_describe_jobs(stubbed):
    compute, b, _ = stubbed
    m = manifest(10)
    summary = {"SUBMITTED": 0, "PENDING": 0, "RUNNABLE": 5, "STARTING": 0, "RUNNING": 3, "SUCCEEDED": 2, "FAILED": 0}
    b.add_response(
        "describe_jobs",
        {"jobs": [job(PARENT, "PENDING", arrayProperties={"statusSummary": summary, "size": 10})]},
        {"jobs": [PARENT]},
    )
    got = compute.summary(m)
    assert got.status == "RUNNING"  # an array parent is PENDING while its children run
    assert got.counts == {"RUNNABLE": 5, "RUNNING": 3, "SUCCEEDED": 2}


def test_a_finished_analysis_costs_no_more_batch_calls(stubbed):
    compute, b, _ = stubbed
    m = manifest(4)
    b.add_response(
        "describe_jobs",
        {"jobs": [job(PARENT, "SUCCEEDED", arrayProperties={"statusSummary": {"SUCCEEDED": 4}, "size": 4})]},
        {"jobs": [PARENT]},
    )
    assert compute.summary(m).status == "SUCCEEDED"
    for _ in range(3):  # the Stubber would refuse any further call
        assert compute.summary(m).counts == {"SUCCEEDED": 4}
    # and the final summary is in the record, for after Batch forgets the job
    stored = StatusSummary.from_json(session.storage().get_bytes(m.layout.summary))
    assert stored.status == "SUCCEEDED"


def test_after_batch_forgets_a_job_its_status_comes_from_the_records(stubbed):
    compute, b, _ = stubbed
    m = manifest(3)
    for i, status in enumerate(["SUCCEEDED", "FAILED", "SUCCEEDED"]):
        recorded(ElementStatus(i, status, reason="ValueError: x" if status == "FAILED" else None), m)
    b.add_response("describe_jobs", {"jobs": []}, {"jobs": [PARENT]})
    got = compute.summary(m)
    assert (got.status, got.counts) == ("FAILED", {"SUCCEEDED": 2, "FAILED": 1})
    assert "no longer reports" in got.reason


def test_partial_failure_lists_failed_elements_first_with_the_runners_reason(stubbed):
    compute, b, _ = stubbed
    m = manifest(10)
    recorded(ElementStatus(3, "FAILED", reason="ValueError: bad input 3", exit_code=1), m)
    counts = {"SUCCEEDED": 8, "FAILED": 2}
    parent = job(PARENT, "FAILED", arrayProperties={"statusSummary": counts, "size": 10})
    b.add_response("describe_jobs", {"jobs": [parent]}, {"jobs": [PARENT]})
    failed = [
        {
            "jobId": f"{PARENT}:3",
            "jobName": "work",
            "status": "FAILED",
            "statusReason": "Essential container in task exited",
            "container": {"exitCode": 1},
            "arrayProperties": {"index": 3},
        },
        {
            "jobId": f"{PARENT}:7",
            "jobName": "work",
            "status": "FAILED",
            "statusReason": "Essential container in task exited",
            "container": {"exitCode": 137, "reason": "OutOfMemoryError: Container killed due to memory usage"},
            "arrayProperties": {"index": 7},
        },
    ]
    b.add_response(
        "list_jobs", {"jobSummaryList": failed[::-1]}, {"arrayJobId": PARENT, "jobStatus": "FAILED", "maxResults": 1000}
    )
    b.add_response(
        "describe_jobs",
        {"jobs": [job(f"{PARENT}:{i}", "SUCCEEDED") for i in (0, 1, 2)]},
        {"jobs": [f"{PARENT}:{i}" for i in (0, 1, 2)]},
    )
    page = compute.list_elements(m, limit=5)
    assert [(e.index, e.status) for e in page] == [
        (3, "FAILED"),
        (7, "FAILED"),
        (0, "SUCCEEDED"),
        (1, "SUCCEEDED"),
        (2, "SUCCEEDED"),
    ]
    assert page[0].reason == "ValueError: bad input 3"  # the runner said why
    assert page[1].reason.startswith("out of memory") and "memory_mb=4000" in page[1].reason  # Batch said why

    # the next page: past both failed elements, on through the others in index order
    b.add_response("describe_jobs", {"jobs": [parent]}, {"jobs": [PARENT]})
    b.add_response(
        "list_jobs", {"jobSummaryList": failed}, {"arrayJobId": PARENT, "jobStatus": "FAILED", "maxResults": 1000}
    )
    rest = [4, 5, 6, 8, 9]
    b.add_response(
        "describe_jobs",
        {"jobs": [job(f"{PARENT}:{i}", "SUCCEEDED") for i in rest]},
        {"jobs": [f"{PARENT}:{i}" for i in rest]},
    )
    assert [e.index for e in compute.list_elements(m, offset=5, limit=5)] == rest


def test_element_pages_of_a_10000_array_cost_a_listing_and_one_describe_per_100(stubbed):
    compute, b, _ = stubbed
    m = manifest(10_000)
    parent = job(PARENT, "PENDING", arrayProperties={"statusSummary": {"RUNNING": 9_999, "FAILED": 1}, "size": 10_000})
    b.add_response("describe_jobs", {"jobs": [parent]}, {"jobs": [PARENT]})
    b.add_response(
        "list_jobs",
        {"jobSummaryList": [{"jobId": f"{PARENT}:5000", "jobName": "work", "status": "FAILED"}]},
        {"arrayJobId": PARENT, "jobStatus": "FAILED", "maxResults": 1000},
    )
    ids = [f"{PARENT}:{i}" for i in range(99)]
    b.add_response("describe_jobs", {"jobs": [job(i, "RUNNING") for i in ids]}, {"jobs": ids})
    page = compute.list_elements(m, limit=100)
    assert [e.index for e in page] == [5000, *range(99)]


def test_elements_of_an_array_not_yet_spawned_share_the_parents_status(stubbed):
    compute, b, _ = stubbed
    m = manifest(10)
    b.add_response(
        "describe_jobs", {"jobs": [job(PARENT, "SUBMITTED", arrayProperties={"size": 10})]}, {"jobs": [PARENT]}
    )
    assert [(e.index, e.status) for e in compute.list_elements(m, limit=3)] == [
        (0, "SUBMITTED"),
        (1, "SUBMITTED"),
        (2, "SUBMITTED"),
    ]
    b.add_response(
        "describe_jobs",
        {"jobs": [job(PARENT, "SUBMITTED", arrayProperties={"size": 10})]},
        {"jobs": [f"{PARENT}:4", PARENT]},
    )
    assert compute.element_status(m, 4).status == "SUBMITTED"


def test_a_retrying_element_says_so_and_then_succeeds(stubbed):
    compute, b, _ = stubbed
    m = manifest(10, retries=2)
    recorded(ElementStatus(2, "FAILED", reason="ConnectionError: flaky", exit_code=1), m)
    first_attempt = {
        "container": {"exitCode": 1, "logStreamName": "explorer-job-abc/default/attempt-1"},
        "stoppedAt": 1_700_000_100_000,
    }
    b.add_response(
        "describe_jobs",
        {"jobs": [job(f"{PARENT}:2", "RUNNABLE", attempts=[first_attempt]), job(PARENT, "PENDING")]},
        {"jobs": [f"{PARENT}:2", PARENT]},
    )
    el = compute.element_status(m, 2)
    assert (el.status, el.reason) == ("RUNNABLE", "retrying after a failed attempt (ConnectionError: flaky)")
    recorded(ElementStatus(2, "SUCCEEDED", exit_code=0, outputs={"files": [], "values": ["v"]}), m)
    b.add_response(
        "describe_jobs",
        {
            "jobs": [
                job(f"{PARENT}:2", "SUCCEEDED", attempts=[first_attempt, {"container": {"exitCode": 0}}]),
                job(PARENT, "PENDING"),
            ]
        },
        {"jobs": [f"{PARENT}:2", PARENT]},
    )
    el = compute.element_status(m, 2)
    assert (el.status, el.outputs) == ("SUCCEEDED", {"files": [], "values": ["v"]})


@pytest.mark.parametrize(
    ("batch_says", "job_definition", "reason"),
    [
        ({"statusReason": "terminated by user", "isTerminated": True}, {}, "terminated by user"),
        (
            {"statusReason": "Job attempt duration exceeded timeout"},
            {"timeout_seconds": 30},
            "timeout: the element ran longer than timeout_seconds=30 (AWS Batch enforces at least 60 s)",
        ),
        (
            {
                "statusReason": "Essential container in task exited",
                "container": {"exitCode": 137, "reason": "OutOfMemoryError: Container killed due to memory usage"},
            },
            {"memory_mb": 500},
            "out of memory: the element needed more than memory_mb=500 (the container was killed); "
            "raise JobDefinition(memory_mb=...)",
        ),
        ({"statusReason": "Host EC2 (instance i-0abc) terminated."}, {}, "Host EC2 (instance i-0abc) terminated."),
    ],
)
def test_an_element_killed_outside_the_runner_fails_with_batchs_reason(stubbed, batch_says, job_definition, reason):
    compute, b, _ = stubbed
    m = manifest(3, **job_definition)
    recorded(ElementStatus(1, "RUNNING", started=time.time()), m)  # the runner never got to finish
    b.add_response(
        "describe_jobs",
        {"jobs": [job(f"{PARENT}:1", "FAILED", **batch_says), job(PARENT, "PENDING")]},
        {"jobs": [f"{PARENT}:1", PARENT]},
    )
    assert compute.element_status(m, 1).reason == reason


def test_a_dependent_of_a_failed_dependency_names_it(stubbed):
    compute, b, _ = stubbed
    up_id = records.new_analysis_id("up")
    m = _new(None, "down", depends_on=({"id": up_id, "name": "up"},), backend={"job_id": PARENT, "array": False})
    b.add_response(
        "describe_jobs", {"jobs": [job(PARENT, "FAILED", statusReason="Dependent Job failed")]}, {"jobs": [PARENT]}
    )
    assert compute.element_status(m, 0).reason == f"dependency up ({up_id}) FAILED"


def test_which_of_several_dependencies_failed_is_looked_up_once_per_analysis(stubbed):
    """Asked of Batch (the dependency jobs kept at submission, one DescribeJobs), once per
    analysis and not once per failed element; never of another analysis's records."""
    compute, b, _ = stubbed
    deps = [
        {"id": records.new_analysis_id(name), "name": name, "job_id": f"{name}-job"} for name in ("ok_dep", "bad_dep")
    ]
    m = dataclasses.replace(
        manifest(None),
        depends_on=tuple({"id": d["id"], "name": d["name"]} for d in deps),
        backend={"job_id": PARENT, "array": False, "dependencies": deps},
    )
    b.add_response(
        "describe_jobs",
        {"jobs": [job("ok_dep-job", "SUCCEEDED"), job("bad_dep-job", "FAILED")]},
        {"jobs": ["ok_dep-job", "bad_dep-job"]},
    )  # one answer only: a second DescribeJobs would fail the test
    expected = f"dependency bad_dep ({deps[1]['id']}) FAILED"
    assert [compute._dependency_reason(m) for _ in range(3)] == [expected] * 3


# -- throttling -------------------------------------------------------------------------------
def _submit_setup(b: Stubber) -> None:
    b.add_response(
        "describe_job_definitions",
        {
            "jobDefinitions": [
                {"jobDefinitionName": "x", "jobDefinitionArn": DEFINITION, "revision": 1, "type": "container"}
            ]
        },
        {"jobDefinitionName": ANY, "status": "ACTIVE"},
    )


@pytest.fixture
def batch_settings(monkeypatch, request):
    """A BatchCompute ready to submit (S3 storage on moto, a queue, an image) whose Batch
    client answers from recordings."""
    use_storage(request, "s3:moto")  # Batch is a mock anyway; S3 itself is tested on SeaweedFS too
    monkeypatch.setenv("EXPLORER_BATCH_JOB_QUEUE", "explorer")
    monkeypatch.setenv("EXPLORER_BATCH_IMAGE", "explorer-job:test")
    session.reset()
    BatchCompute._definitions.clear()
    batch = _client("batch")
    compute = BatchCompute(session.settings(), session.storage(), batch_client=batch)
    with Stubber(batch) as b:
        yield compute, b
        b.assert_no_pending_responses()
    BatchCompute._definitions.clear()


def test_a_429_on_submit_job_is_retried_and_never_reaches_the_user(batch_settings, fast_retries):
    compute, b = batch_settings
    _submit_setup(b)
    b.add_client_error("submit_job", service_error_code="TooManyRequestsException", http_status_code=429)
    b.add_client_error("submit_job", service_error_code="TooManyRequestsException", http_status_code=429)
    b.add_response(
        "submit_job",
        {"jobName": "work", "jobId": PARENT},
        {
            "jobName": ANY,
            "jobQueue": "explorer",
            "jobDefinition": DEFINITION,
            "parameters": ANY,
            "containerOverrides": ANY,
            "tags": ANY,
            "propagateTags": True,
            "arrayProperties": {"size": 3},
        },
    )
    assert compute.submit(_new(3), [])["job_id"] == PARENT
    assert len(fast_retries) == 2  # backed off twice, with jitter below the cap
    assert all(0 <= s <= Retry.base_delay * 2**n for n, s in enumerate(fast_retries))


def test_throttling_that_never_stops_ends_in_a_clear_error(batch_settings, fast_retries):
    compute, b = batch_settings
    _submit_setup(b)
    for _ in range(Retry.attempts):
        b.add_client_error("submit_job", service_error_code="ThrottlingException", http_status_code=400)
    with pytest.raises(BackendError, match="kept throttling"):
        compute.submit(_new(3), [])


def test_a_5xx_on_submit_job_is_not_repeated_by_us_but_one_on_describe_jobs_is(batch_settings, fast_retries):
    compute, b = batch_settings
    _submit_setup(b)
    b.add_client_error("submit_job", service_error_code="ServerException", http_status_code=500)
    with pytest.raises(BackendError):  # the job may exist: repeating could run it twice
        compute.submit(_new(3), [])
    b.add_client_error("describe_jobs", service_error_code="ServerException", http_status_code=500)
    b.add_response("describe_jobs", {"jobs": []}, {"jobs": ["j"]})
    assert compute.describe(["j"]) == {}


def test_the_submit_rate_is_limited_by_a_token_bucket():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    bucket = TokenBucket(10, burst=5, clock=lambda: now[0], sleep=sleep)
    for _ in range(55):
        bucket.acquire()
    assert now[0] == pytest.approx(5.0)  # 5 at once, then 10 per second


def test_botocores_own_adaptive_retries_absorb_a_429(monkeypatch):
    """Without the Stubber: the client aws.py builds retries a real 429 response itself."""
    client = aws.client("batch", endpoint_url="http://batch.invalid", region="us-east-1")
    sent = []

    def endpoint(request, **_):
        sent.append(request.url)
        if len(sent) == 1:
            body = json.dumps({"message": "Too Many Requests"}).encode()
            return AWSResponse(request.url, 429, {"x-amzn-ErrorType": "TooManyRequestsException"}, _Raw(body))
        body = json.dumps({"jobName": "work", "jobId": "j-1"}).encode()
        return AWSResponse(request.url, 200, {}, _Raw(body))

    client.meta.events.register("before-send.batch.SubmitJob", endpoint)
    try:
        got = batch_mod.call_batch(
            client, "submit_job", idempotent=False, jobName="work", jobQueue="q", jobDefinition="d"
        )
    finally:
        client.meta.events.unregister("before-send.batch.SubmitJob", endpoint)
    assert got["jobId"] == "j-1" and len(sent) == 2


class _ServiceLimit:
    """A service's rate limit: a token bucket that refuses instead of waiting."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.last = rate, burst, burst, time.monotonic()
        self.lock = threading.Lock()

    def allow(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


class _Raw(io.BytesIO):
    def stream(self, **_):
        yield self.getvalue()


def test_a_submission_loop_stays_under_the_services_rate_so_it_never_sees_a_429(monkeypatch):
    """A Batch endpoint that answers 429 above 50 calls/s (AWS's SubmitJob limit), scaled up
    here to 100/s to keep the test short; 300 SubmitJobs in a loop from two threads (two
    notebooks) pass our token bucket (90/s) and none is refused. benchmarks/batch_submit.py
    runs 1,500 against the real 50/s."""
    service = _ServiceLimit(100, burst=10)
    throttled = []

    def endpoint(request, **_):
        if not service.allow():
            throttled.append(1)
            body = json.dumps({"message": "Too Many Requests"}).encode()
            return AWSResponse(request.url, 429, {"x-amzn-ErrorType": "TooManyRequestsException"}, _Raw(body))
        return AWSResponse(request.url, 200, {}, _Raw(json.dumps({"jobName": "w", "jobId": "j"}).encode()))

    client = aws.client("batch", endpoint_url="http://throttled-batch.invalid", region="us-east-1")
    client.meta.events.register("before-send.batch.SubmitJob", endpoint)
    batch_mod.set_submit_bucket(TokenBucket(90, burst=5))
    errors = []

    def loop(n):
        for _ in range(n):
            try:
                batch_mod.call_batch(
                    client, "submit_job", idempotent=False, jobName="w", jobQueue="q", jobDefinition="d"
                )
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    started = time.monotonic()
    try:
        threads = [threading.Thread(target=loop, args=(150,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        client.meta.events.unregister("before-send.batch.SubmitJob", endpoint)
        batch_mod.set_submit_bucket(None)
    assert errors == [] and throttled == []
    assert time.monotonic() - started >= (300 - 5) / 90 - 0.2  # the bucket did pace the loop


# -- logs -------------------------------------------------------------------------------------
def test_logs_follow_by_forward_token_and_restart_from_any_offset(stubbed, monkeypatch):
    compute, b, lg = stubbed
    m = manifest(3)
    stream = "explorer-job-abc/default/0f1e"
    b.add_response(
        "describe_jobs",
        {"jobs": [job(f"{PARENT}:1", "RUNNING", container={"logStreamName": stream})]},
        {"jobs": [f"{PARENT}:1"]},
    )
    where = {"logGroupName": "/aws/batch/job", "logStreamName": stream, "startFromHead": True}
    one_two = [{"timestamp": 1, "message": "one"}, {"timestamp": 2, "message": "two"}]
    lg.add_response("get_log_events", {"events": one_two, "nextForwardToken": "f/2"}, where)
    lg.add_response("get_log_events", {"events": [], "nextForwardToken": "f/2"}, {**where, "nextToken": "f/2"})
    first = compute.read_log(m, 1, "stdout", 0)
    assert first.data == b"one\ntwo\n" and first.next_offset == 8

    # following: the next read asks only for what came after the token (and the stream name
    # of the running element is trusted for a few seconds: no DescribeJobs)
    three = [{"timestamp": 3, "message": "three"}]
    lg.add_response("get_log_events", {"events": three, "nextForwardToken": "f/3"}, {**where, "nextToken": "f/2"})
    lg.add_response("get_log_events", {"events": [], "nextForwardToken": "f/3"}, {**where, "nextToken": "f/3"})
    assert compute.read_log(m, 1, "stdout", 8) == records.LogChunk(b"three\n", 14)

    # an offset never handed out: read from the start and cut there
    lg.add_response("get_log_events", {"events": one_two + three, "nextForwardToken": "f/3"}, where)
    lg.add_response("get_log_events", {"events": [], "nextForwardToken": "f/3"}, {**where, "nextToken": "f/3"})
    assert compute.read_log(m, 1, "stdout", 5) == records.LogChunk(b"wo\nthree\n", 14)
    assert compute.read_log(m, 1, "stderr", 0) == records.LogChunk(b"", 0)  # CloudWatch has one stream

    # later, a retry: the element's latest attempt writes to a new stream, which is followed
    monkeypatch.setattr(batch_mod, "STREAM_TTL", 0.0)
    compute._streams.clear()
    retry = "explorer-job-abc/default/9a8b"
    attempt1 = {"container": {"exitCode": 1, "logStreamName": stream}}
    b.add_response(
        "describe_jobs",
        {"jobs": [job(f"{PARENT}:1", "RUNNING", attempts=[attempt1], container={"logStreamName": retry})]},
        {"jobs": [f"{PARENT}:1"]},
    )
    again = {**where, "logStreamName": retry}
    lg.add_response(
        "get_log_events", {"events": [{"timestamp": 9, "message": "second try"}], "nextForwardToken": "f/0"}, again
    )
    lg.add_response("get_log_events", {"events": [], "nextForwardToken": "f/0"}, {**again, "nextToken": "f/0"})
    assert compute.read_log(m, 1, "stdout", 0).data == b"second try\n"


def test_an_element_without_a_log_yet_has_an_empty_log(stubbed):
    compute, b, lg = stubbed
    m = manifest(3)
    b.add_response("describe_jobs", {"jobs": [job(f"{PARENT}:0", "RUNNABLE")]}, {"jobs": [f"{PARENT}:0"]})
    assert compute.read_log(m, 0, "stdout", 0) == records.LogChunk(b"", 0)
    b.add_response(
        "describe_jobs",
        {"jobs": [job(f"{PARENT}:0", "STARTING", container={"logStreamName": "s"})]},
        {"jobs": [f"{PARENT}:0"]},
    )
    lg.add_client_error("get_log_events", service_error_code="ResourceNotFoundException", http_status_code=400)
    assert compute.read_log(m, 0, "stdout", 0) == records.LogChunk(b"", 0)


@pytest.mark.parametrize(
    ("parent_reason", "shown"),
    [
        ("terminated by user", "terminated by user"),
        ("Dependent Job failed", "a dependency FAILED"),
        ("Array Child Job failed", None),
    ],
)
def test_a_failed_array_gives_a_reason_when_it_is_the_whole_analysiss(stubbed, parent_reason, shown):
    compute, b, _ = stubbed
    m = manifest(4)
    parent = job(
        PARENT, "FAILED", statusReason=parent_reason, arrayProperties={"statusSummary": {"FAILED": 4}, "size": 4}
    )
    b.add_response("describe_jobs", {"jobs": [parent]}, {"jobs": [PARENT]})
    got = compute.summary(m)
    assert (got.status, got.counts, got.reason) == ("FAILED", {"FAILED": 4}, shown)
