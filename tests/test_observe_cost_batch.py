"""Issue 14 on AWS Batch, from recorded Batch answers (moto cannot show a retried job): the
attempts Batch made itself (its retryStrategy: a lost host) were paid for, so a finished
analysis's cost counts them, read with one DescribeJobs per 100 children."""

from __future__ import annotations

import pytest

from explorer_magics import session
from explorer_magics.analysis import Analysis
from explorer_magics.observe import views
from explorer_magics.observe.usage import usage
from explorer_magics.records import ElementStatus
from tests.test_batch_recorded import (  # noqa: F401 - fixtures and helpers of the recorded tests
    PARENT,
    fake_credentials,
    fast_retries,
    job,
    manifest,
    recorded,
    stubbed,
)

LOST = {
    "container": {"exitCode": 137, "logStreamName": "explorer-job/default/lost"},
    "statusReason": "Host EC2 (instance i-0abc) terminated.",
    "startedAt": 1_700_000_000_000,
    "stoppedAt": 1_700_000_600_000,  # 600 s, then the host went away
}
OK = {
    "container": {"exitCode": 0, "logStreamName": "explorer-job/default/ok"},
    "startedAt": 1_700_000_700_000,
    "stoppedAt": 1_700_001_300_000,
}


def test_the_attempts_batch_made_itself_are_paid_for_once_finished(stubbed, monkeypatch):  # noqa: F811
    monkeypatch.setenv("EXPLORER_COST_VCPU_HOUR", "0.04")
    monkeypatch.setenv("EXPLORER_COST_GB_HOUR", "0.004")
    session.reset()
    compute, b, _ = stubbed
    m = manifest(4, retries=2, retry_on=["node"])
    an = Analysis._from_manifest(m)
    monkeypatch.setattr(Analysis, "_compute", lambda self: compute)
    children = [job(f"{PARENT}:{k}", "SUCCEEDED", attempts=[OK]) for k in range(4)]
    children[2] = job(f"{PARENT}:2", "SUCCEEDED", attempts=[LOST, OK])  # the host of its first attempt died
    b.add_response("describe_jobs", {"jobs": children}, {"jobs": [f"{PARENT}:{k}" for k in range(4)]})

    attempts, _default, _own = views.paid_attempts(an, finished=True)
    assert [(i, a.status, a.duration_s, a.exit_code) for i, a in attempts] == [(2, "FAILED", 600.0, 137)]
    assert attempts[0][1].reason == "Host EC2 (instance i-0abc) terminated."
    assert attempts[0][1].resources is not None and attempts[0][1].resources["memory_mb"] == 4000

    elements = [ElementStatus(i, "SUCCEEDED", started=1_700_000_700.0, stopped=1_700_001_300.0) for i in range(4)]
    with_batch = usage(m, elements, attempts=attempts)
    without = usage(m, elements)
    lost = 600 * 2 / 3600 * 0.04 + 600 * 4000 / 1024 / 3600 * 0.004
    assert with_batch["cost"]["spent_failed"] == pytest.approx(lost, abs=1e-4)
    assert with_batch["cost"]["spent"] == pytest.approx(without["cost"]["spent"] + lost, abs=1e-4)
    assert with_batch["earlier_attempts"]["count"] == 1


def test_nothing_is_asked_of_batch_while_running_or_when_batch_retries_nothing(stubbed, monkeypatch):  # noqa: F811
    compute, _b, _ = stubbed  # no response recorded: any Batch call fails the test
    monkeypatch.setattr(Analysis, "_compute", lambda self: compute)
    retrying = Analysis._from_manifest(manifest(4, retries=2, retry_on=["node"]))
    assert views.paid_attempts(retrying, finished=False)[0] == []
    plain = Analysis._from_manifest(manifest(4))
    assert views.paid_attempts(plain, finished=True)[0] == []
