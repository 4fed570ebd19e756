"""Attempts that AWS Batch made itself (its retryStrategy), from recorded Batch answers (see
tests/test_batch_recorded.py): moto cannot show a retried job."""

from __future__ import annotations

from explorer_magics.analysis import Analysis
from explorer_magics.records import ElementStatus
from explorer_magics.rerun import read_attempt_log
from tests.test_batch_recorded import (  # noqa: F401 - fixtures and helpers of the recorded tests
    PARENT,
    fake_credentials,
    fast_retries,
    job,
    manifest,
    recorded,
    stubbed,
)


def test_batchs_own_retries_are_attempts_with_their_logs(stubbed, monkeypatch):  # noqa: F811
    compute, b, logs = stubbed
    m = manifest(4, retries=2, retry_on=["node"])
    an = Analysis._from_manifest(m)
    monkeypatch.setattr(Analysis, "_compute", lambda self: compute)
    recorded(ElementStatus(2, "SUCCEEDED", exit_code=0, outputs={"files": [], "values": []}), m)
    lost = {
        "container": {"exitCode": 137, "logStreamName": "explorer-job/default/lost"},
        "statusReason": "Host EC2 (instance i-0abc) terminated.",
        "startedAt": 1_700_000_000_000,
        "stoppedAt": 1_700_000_060_000,
    }
    done = {"container": {"exitCode": 0, "logStreamName": "explorer-job/default/ok"}}
    child = job(f"{PARENT}:2", "SUCCEEDED", attempts=[lost, done], container={"exitCode": 0})
    b.add_response("describe_jobs", {"jobs": [child, job(PARENT, "SUCCEEDED")]}, {"jobs": [f"{PARENT}:2", PARENT]})
    b.add_response("describe_jobs", {"jobs": [child]}, {"jobs": [f"{PARENT}:2"]})

    attempts = an.status(2)["attempts"]
    assert [(a["attempt"], a["status"]) for a in attempts] == [(0, "FAILED"), (1, "SUCCEEDED")]
    assert attempts[0]["reason"] == "Host EC2 (instance i-0abc) terminated."
    assert attempts[0]["exit_code"] == 137 and attempts[0]["resources"]["memory_mb"] == 4000

    b.add_response("describe_jobs", {"jobs": [child]}, {"jobs": [f"{PARENT}:2"]})
    logs.add_response(
        "get_log_events",
        {"events": [{"timestamp": 1, "message": "reading sample 2"}], "nextForwardToken": "f/1"},
        {"logGroupName": "/aws/batch/job", "logStreamName": "explorer-job/default/lost", "startFromHead": True},
    )
    logs.add_response(
        "get_log_events",
        {"events": [], "nextForwardToken": "f/1"},
        {
            "logGroupName": "/aws/batch/job",
            "logStreamName": "explorer-job/default/lost",
            "startFromHead": True,
            "nextToken": "f/1",
        },
    )
    assert read_attempt_log(an, 2, 0, "stdout", 0).data == b"reading sample 2\n"
