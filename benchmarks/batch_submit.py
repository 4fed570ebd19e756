"""AWS Batch at 10,000 elements: API calls and time to submit, to watch, and under throttling.

    .venv/bin/python benchmarks/batch_submit.py [--n 10000] [--arrays 20] [--watch-seconds 60]
                                                [--interval 5] [--throttle-n 1500] [--quick]

Starts ONE moto server (its server mode, in its own process, on 127.0.0.1) playing S3 and
AWS Batch (Docker off: jobs are taken and reported finished at once), then measures:

1. Submitting one N-element analysis: ``Analysis(...).run()`` with compute=batch (one inputs
   blob + offsets index in S3, ONE SubmitJob with arrayProperties), first in a fresh process
   (the job definition is looked up and registered) and again (it is known), next to the naive
   way: one S3 object and one SubmitJob per element. Every AWS API call is counted.
2. Watching ``--arrays`` arrays of N for ``--watch-seconds``, polling each every
   ``--interval`` seconds with ``an.status()``: on moto (the arrays finish at once) and with
   DescribeJobs answered by a recorded RUNNING array (moto cannot keep an array running), next
   to the naive watch that describes every child (DescribeJobs takes 100 ids: N/100 calls per
   array per poll; ten of them are made and timed on moto, the rest counted, since moto's
   DescribeJobs scans all of its jobs and describing 200,000 children would time moto).
3. ``--throttle-n`` SubmitJobs in a loop, half from each of two processes (two notebooks),
   against a local HTTP endpoint that refuses (429) more than AWS Batch's 50 SubmitJob/s per
   account: Explorer's client (token bucket + adaptive retries) next to a default boto3 client.

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _moto import moto_server as _moto_server  # noqa: E402

SUBMIT_TPS = 50  # AWS Batch: SubmitJob transactions per second per account (a fixed quota)


def setup(endpoint: str) -> None:
    """Environment for compute=batch on moto, and the account: bucket, compute env, queue."""
    home = tempfile.mkdtemp(prefix="explorer-batch-bench-")
    bucket, queue = f"bench-{uuid.uuid4().hex[:10]}", "explorer-bench"
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        EXPLORER_HOME=home,
        EXPLORER_USER="bench",
        EXPLORER_CONFIG=os.path.join(home, "none.toml"),
        EXPLORER_AWS_ENDPOINT_URL=endpoint,
        EXPLORER_S3_ENDPOINT_URL=endpoint,
        EXPLORER_STORAGE=f"s3://{bucket}/explorer",
        EXPLORER_COMPUTE="batch",
        EXPLORER_BATCH_JOB_QUEUE=queue,
        EXPLORER_BATCH_IMAGE="123456789012.dkr.ecr.us-east-1.amazonaws.com/explorer-job:bench",
    )
    import boto3

    from explorer_magics.compute.batch import provisioning as cloud

    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch = boto3.client("batch", endpoint_url=endpoint, region_name="us-east-1")
    batch.create_compute_environment(
        computeEnvironmentName="explorer-bench", type="UNMANAGED", state="ENABLED", serviceRole=role
    )
    cloud.init(bucket=bucket, job_queue=queue, compute_environment="explorer-bench", endpoint_url=endpoint)


def work(ac):
    ac.output.value(key="v", value=ac.input * 2)


def _counted(fn):
    from explorer_magics import aws

    aws.reset_call_counts()
    t0 = time.perf_counter()
    result = fn()
    took = time.perf_counter() - t0
    return result, took, dict(aws.call_counts())


def bench_submit(n: int) -> list[tuple[str, float, dict[str, int]]]:
    from explorer_magics import aws, session
    from explorer_magics.analysis import Analysis
    from explorer_magics.compute.batch.backend import BatchCompute, BatchSettings

    rows = []
    BatchCompute._definitions.clear()  # as in a fresh process
    first, took, calls = _counted(lambda: Analysis(function=work, input=list(range(n))).run())
    rows.append(("explorer: `Analysis.run()`, fresh process (definition looked up + registered)", took, calls))
    _, took, calls = _counted(lambda: Analysis(function=work, input=list(range(n))).run())
    rows.append(("explorer: `Analysis.run()`, definition known", took, calls))

    settings = session.settings()
    s3 = aws.client("s3", settings=settings)
    batch = aws.client("batch", settings=settings)
    bucket, prefix = settings.storage_url[len("s3://") :].split("/", 1)
    from explorer_magics.serialize import dumps, dumps_function

    definition = batch.register_job_definition(
        jobDefinitionName="naive",
        type="container",
        containerProperties={"image": "x", "command": ["run", "Ref::input"], "vcpus": 2, "memory": 4000},
    )["jobDefinitionArn"]

    def naive() -> None:
        run = uuid.uuid4().hex
        s3.put_object(Bucket=bucket, Key=f"{prefix}/naive/{run}/function.pkl", Body=dumps_function(work))
        for i in range(n):
            key = f"{prefix}/naive/{run}/input-{i}.pkl"
            s3.put_object(Bucket=bucket, Key=key, Body=dumps(i))
            batch.submit_job(
                jobName=f"naive-{i}",
                jobQueue=settings.of(BatchSettings).job_queue,
                jobDefinition=definition,
                parameters={"input": key},
            )

    _, took, calls = _counted(naive)
    calls.pop("batch.RegisterJobDefinition", None)
    rows.append(("naive: one S3 object + one `SubmitJob` per element", took, calls))
    return rows, first


def naive_poll(an, sample: int = 10) -> tuple[int, float]:
    """(DescribeJobs calls, seconds) to describe every child of one array, 100 ids a call:
    ``sample`` calls are made and timed on moto, the rest extrapolated."""
    from explorer_magics import aws, session
    from explorer_magics.compute.batch.backend import DESCRIBE_BATCH

    batch = aws.client("batch", settings=session.settings())
    parent = an.manifest.backend["job_id"]
    ids = [f"{parent}:{i}" for i in range(an.size)]
    batches = [ids[s : s + DESCRIBE_BATCH] for s in range(0, len(ids), DESCRIBE_BATCH)]
    t0 = time.perf_counter()
    for chunk in batches[:sample]:
        assert len(batch.describe_jobs(jobs=chunk)["jobs"]) == len(chunk)
    took = time.perf_counter() - t0
    return len(batches), took * len(batches) / min(sample, len(batches))


class RecordedRunningArrays:
    """A Batch endpoint answering DescribeJobs like AWS does for a running 10,000 array (the
    parent PENDING, its children RUNNING/RUNNABLE/SUCCEEDED); counts what it is asked."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.calls = 0

    def __call__(self, request, **_):
        from botocore.awsrequest import AWSResponse

        self.calls += 1
        ids = json.loads(request.body)["jobs"]
        done = min(self.size, 100 * self.calls)
        jobs = [
            {
                "jobName": "work",
                "jobId": job_id,
                "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/q",
                "status": "PENDING",
                "startedAt": 1,
                "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/d:1",
                "arrayProperties": {
                    "size": self.size,
                    "statusSummary": {"SUCCEEDED": done // 2, "RUNNING": 500, "RUNNABLE": self.size - done // 2 - 500},
                },
            }
            for job_id in ids
        ]
        return AWSResponse(request.url, 200, {}, _Raw(json.dumps({"jobs": jobs}).encode()))


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_):
        yield self.data


def bench_watch(
    n: int, arrays: int, seconds: float, interval: float, naive: tuple[int, float]
) -> tuple[list[tuple[str, int, int, float]], float]:
    import botocore.session

    from explorer_magics import aws, session
    from explorer_magics.analysis import Analysis
    from explorer_magics.compute.batch.backend import BatchCompute

    t0 = time.perf_counter()
    analyses = [Analysis(function=work, input=list(range(n))).run() for _ in range(arrays)]
    submit_took = time.perf_counter() - t0
    session.reset()  # the watcher is another process (the Jupyter server)
    watched = [type(a)._from_manifest(a.manifest) for a in analyses]

    recorded = RecordedRunningArrays(n)
    client = botocore.session.get_session().create_client(
        "batch",
        region_name="us-east-1",
        endpoint_url="http://recorded-batch.invalid",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.meta.events.register("before-send.batch.DescribeJobs", recorded)
    running = BatchCompute(session.settings(), session.storage(), batch_client=client)

    aws.reset_call_counts()
    polls = 0
    start = time.monotonic()
    while True:
        polls += 1
        for an in watched:
            an.status()  # the backend the server uses (arrays finished on moto)
            running.summary(an.manifest)  # the same call, the array still running
        if time.monotonic() - start + interval > seconds:
            break
        time.sleep(interval)
    finished_calls = aws.call_counts()["batch.DescribeJobs"]
    per = arrays * polls
    rows = [
        ("explorer, arrays running (recorded DescribeJobs answers)", polls, recorded.calls, recorded.calls / per),
        ("explorer, arrays finished (moto)", polls, finished_calls, finished_calls / per),
        (
            f"naive: DescribeJobs on every child, 100 ids a call "
            f"({naive[0]} calls, ~{naive[1]:.0f} s on moto, per array)",
            polls,
            naive[0] * per,
            float(naive[0]),
        ),
    ]
    return rows, submit_took


class ThrottledBatch:
    """An HTTP endpoint speaking Batch's SubmitJob that refuses (429 TooManyRequestsException)
    above ``rate`` calls per second, as AWS Batch does above 50 SubmitJob/s per account."""

    def __init__(self, rate: float) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.rate, self.tokens, self.last = rate, float(rate), time.monotonic()
        self.lock = threading.Lock()
        self.served = self.refused = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.allow():
                    status, body, headers = 200, {"jobName": "w", "jobId": str(uuid.uuid4())}, {}
                else:
                    status, body = 429, {"message": "Too Many Requests"}
                    headers = {"x-amzn-ErrorType": "TooManyRequestsException"}
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {**headers, "Content-Type": "application/json", "Content-Length": str(len(data))}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def allow(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                self.served += 1
                return True
            self.refused += 1
            return False


SUBMITTER = """
import json, sys
n, url, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if kind == "explorer":
    from explorer_magics import aws
    from explorer_magics.compute.batch.backend import call_batch
    client = aws.client("batch", endpoint_url=url, region="us-east-1")
    submit = lambda: call_batch(client, "submit_job", idempotent=False, jobName="w", jobQueue="q", jobDefinition="d")
else:
    import boto3
    client = boto3.session.Session().client("batch", endpoint_url=url, region_name="us-east-1")
    submit = lambda: client.submit_job(jobName="w", jobQueue="q", jobDefinition="d")
errors = 0
for _ in range(n):
    try:
        submit()
    except Exception:
        errors += 1
print(json.dumps({"errors": errors}))
"""


def bench_throttle(total: int) -> list[tuple[str, float, int, int, int]]:
    """``total`` SubmitJobs from a loop in each of two processes (two notebooks)."""
    rows = []
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_RETRY", "AWS_MAX_ATTEMPTS", "EXPLORER_BATCH_SUBMIT"))
    }
    for kind, label in (
        ("explorer", "explorer (`call_batch`: 20 SubmitJob/s per process + adaptive retries)"),
        ("boto3", "a default boto3 client, no pacing"),
    ):
        service = ThrottledBatch(SUBMIT_TPS)
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", SUBMITTER, str(total // 2), service.url, kind],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(2)
        ]
        errors = sum(json.loads(p.communicate()[0])["errors"] for p in procs)
        took = time.perf_counter() - t0
        service.server.shutdown()
        rows.append((label, took, service.served, service.refused, errors))
    return rows


def _calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(calls.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="array size")
    parser.add_argument("--arrays", type=int, default=20, help="arrays watched at once")
    parser.add_argument("--watch-seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=5, help="seconds between polls of one array")
    parser.add_argument("--throttle-n", type=int, default=1500, help="SubmitJobs in the throttling loop")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.n, args.arrays, args.watch_seconds, args.interval, args.throttle_n = 1000, 3, 4, 1, 200

    with _moto_server(batch_without_docker=True) as endpoint:
        setup(endpoint)
        submit_rows, first = bench_submit(args.n)
        naive = naive_poll(first)
        watch_rows, submit20 = bench_watch(args.n, args.arrays, args.watch_seconds, args.interval, naive)
    throttle_rows = bench_throttle(args.throttle_n)

    print(f"## Submitting one {args.n:,}-element analysis (moto on 127.0.0.1)\n")
    floor = f"floor at AWS's {SUBMIT_TPS} SubmitJob/s (s)"
    print(f"| submission | AWS API calls | of which SubmitJob | time here (s) | {floor} | calls |")
    print("|---|---:|---:|---:|---:|---|")
    for label, took, calls in submit_rows:
        submits = calls.get("batch.SubmitJob", 0)
        total = sum(calls.values())
        print(f"| {label} | {total:,} | {submits:,} | {took:.2f} | {submits / SUBMIT_TPS:.2f} | {_calls(calls)} |")
    print(f"\n({args.arrays} arrays of {args.n:,} submitted for the watch in {submit20:.1f} s.)\n")

    window = f"for {args.watch_seconds:g} s, a poll every {args.interval:g} s"
    print(f"## Watching {args.arrays} arrays of {args.n:,} {window}\n")
    print("| watcher | polls | DescribeJobs calls | per array per poll |")
    print("|---|---:|---:|---:|")
    for label, polls, calls, per in watch_rows:
        print(f"| {label} | {polls} | {calls:,} | {per:.2f} |")

    limit = f"against an endpoint refusing (429) above {SUBMIT_TPS}/s"
    print(f"\n## {args.throttle_n:,} SubmitJobs in loops in two processes, {limit}\n")
    print("| client | time (s) | accepted | 429s received | errors the user saw |")
    print("|---|---:|---:|---:|---:|")
    for label, took, served, refused, errors in throttle_rows:
        print(f"| {label} | {took:.1f} | {served:,} | {refused:,} | {errors:,} |")


if __name__ == "__main__":
    main()
