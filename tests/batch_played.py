"""pytest plugin: AWS Batch on moto's server mode, with the containers' part played.

moto's Batch (with ``use_docker: false``) takes jobs and reports them finished at once; it runs
no container. The container's part is played by :class:`PlayedBatch`: for each job it reads
what AWS Batch would hand the container (the job definition's command with ``Ref::``
parameters filled in, its environment, ``AWS_BATCH_JOB_ID`` / ``AWS_BATCH_JOB_ARRAY_INDEX``),
runs exactly that command in a fresh process against the moto S3, and ships the process's
output to CloudWatch Logs as the ``awslogs`` driver does.

Fixtures: ``batch_moto`` (module), ``played`` (settings for compute=batch on a fresh bucket
and queue, and the played agent). Registered in tests/conftest.py through ``pytest_plugins``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from explorer_magics import session
from explorer_magics.analysis import Analysis
from explorer_magics.compute.batch import backend as batch_mod

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/explorer-job:test"


# -- moto and the played containers -----------------------------------------------------------
@pytest.fixture(scope="module")
def batch_moto(moto_endpoint):
    """The shared moto server (tests/moto_server.py) with Batch's Docker use off, and a
    compute environment for the job queues the tests create (IAM role ARNs are moto's)."""
    import urllib.request

    import boto3

    endpoint = moto_endpoint
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=json.dumps({"batch": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request).read()
    # moto's own credentials, not the environment's: this module fixture may be set up while
    # no test has put fake credentials there (a test file run on its own)
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", **keys)
    role = iam.create_role(RoleName=f"batch-service-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}")
    batch = boto3.client("batch", endpoint_url=endpoint, region_name="us-east-1", **keys)
    ce = batch.create_compute_environment(
        computeEnvironmentName=f"explorer-ce-{uuid.uuid4().hex[:8]}",
        type="UNMANAGED",
        state="ENABLED",
        serviceRole=role["Role"]["Arn"],
    )
    return {"endpoint": endpoint, "compute_environment": ce["computeEnvironmentName"]}


class PlayedBatch:
    """Plays the AWS Batch agent: runs each job's container command, ships its logs."""

    def __init__(self, endpoint: str, scratch: Path) -> None:
        import boto3

        self.scratch = scratch  # the container's own disk (EXPLORER_HOME points into it)
        self.batch = boto3.client("batch", endpoint_url=endpoint, region_name="us-east-1")
        self.logs = boto3.client("logs", endpoint_url=endpoint, region_name="us-east-1")
        self.endpoint = endpoint

    def job_ids(self, an: Analysis) -> list[str]:
        backend = an.manifest.backend
        parent = backend["job_id"]
        size = len(backend["indices"]) if "indices" in backend else an.size  # a job of only some elements
        return [f"{parent}:{i}" for i in range(size)] if backend["array"] else [parent]

    def run(self, an: Analysis, indices: list[int] | None = None) -> dict[int, int]:
        """Run the containers of ``an`` (every element, or ``indices``), all at once; returns
        each element's exit code."""
        ids = self.job_ids(an)
        chosen = range(len(ids)) if indices is None else indices
        procs = {i: self._start(ids[i]) for i in chosen}
        codes = {}
        for i, (proc, job) in procs.items():
            out, _ = proc.communicate(timeout=120)
            codes[i] = proc.returncode
            self._ship_logs(job, out)
        return codes

    def _start(self, job_id: str) -> tuple[subprocess.Popen, dict]:
        job = self.batch.describe_jobs(jobs=[job_id])["jobs"][0]
        definition = self.batch.describe_job_definitions(jobDefinitions=[job["jobDefinition"]])["jobDefinitions"][0]
        command = [
            next((part.replace(f"Ref::{k}", v) for k, v in job["parameters"].items() if f"Ref::{k}" in part), part)
            for part in definition["containerProperties"]["command"]
        ]
        assert command[0] == "python"
        command[0] = sys.executable  # the image's python
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            # the job role's credentials, as the container's credential provider hands them out
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        env.update({e["name"]: e["value"] for e in definition["containerProperties"].get("environment", [])})
        env.update({e["name"]: e["value"] for e in job["container"].get("environment", [])})  # overrides
        env["EXPLORER_HOME"] = str(self.scratch / env["EXPLORER_HOME"].lstrip("/"))  # inside "the container"
        env["AWS_BATCH_JOB_ID"] = job_id
        env["AWS_BATCH_JOB_ATTEMPT"] = "1"
        env["AWS_BATCH_JQ_NAME"] = job["jobQueue"].rsplit("/", 1)[-1]
        if ":" in job_id:
            env["AWS_BATCH_JOB_ARRAY_INDEX"] = job_id.rsplit(":", 1)[1]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd="/")
        return proc, job

    def _ship_logs(self, job: dict, output: bytes) -> None:
        stream = job["container"]["logStreamName"]
        self.put_lines(stream, output.decode(errors="replace").splitlines())

    def put_lines(self, stream: str, lines: list[str]) -> None:
        group = batch_mod.LOG_GROUP
        try:
            self.logs.create_log_group(logGroupName=group)
        except self.logs.exceptions.ResourceAlreadyExistsException:
            pass
        try:
            self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except self.logs.exceptions.ResourceAlreadyExistsException:
            pass
        now = int(time.time() * 1000)
        if lines:
            self.logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": now, "message": line} for line in lines],
            )


@pytest.fixture
def played(batch_moto, monkeypatch, tmp_path):
    """Settings for compute=batch on moto (a fresh bucket and queue per test) and the played
    Batch agent."""
    import boto3

    from explorer_magics.compute.batch import provisioning as cloud

    endpoint = batch_moto["endpoint"]
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("EXPLORER_AWS_ENDPOINT_URL", endpoint)
    bucket = f"explorer-{uuid.uuid4().hex[:12]}"
    queue = f"explorer-{uuid.uuid4().hex[:8]}"
    result = cloud.init(
        bucket=bucket,
        job_queue=queue,
        compute_environment=batch_moto["compute_environment"],
        image=IMAGE,
        region="us-east-1",
        endpoint_url=endpoint,
    )
    assert result.created_bucket and result.created_job_queue
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").head_bucket(Bucket=bucket)
    monkeypatch.setenv("EXPLORER_STORAGE", f"s3://{bucket}/explorer")
    monkeypatch.setenv("EXPLORER_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("EXPLORER_COMPUTE", "batch")
    monkeypatch.setenv("EXPLORER_BATCH_JOB_QUEUE", queue)
    monkeypatch.setenv("EXPLORER_BATCH_IMAGE", IMAGE)
    session.reset()
    yield PlayedBatch(endpoint, tmp_path / "container")
    session.reset()
