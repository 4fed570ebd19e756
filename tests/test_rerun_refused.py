"""A rerun (or a retry the SDK makes) whose submission the compute backend refuses changes
nothing a user can see: the error says so, every element keeps the status, attempts, logs and
outputs it had, and the record's files are as they were, byte for byte (issue 13's gap)."""

from __future__ import annotations

import json

import pytest

from explorer_magics import records, session
from explorer_magics.analysis import Analysis, JobDefinition
from explorer_magics.errors import BackendError

from .test_rerun import _needs_a_gigabyte, _OneShotCompute, failed_array  # noqa: F401 - a fixture


def _everything(user: str) -> dict[str, bytes]:
    """Every object of the user's namespace (the analysis's record, the resume index)."""
    storage = session.storage()
    return {o.key: storage.get_bytes(o.key) for o in storage.iter_objects(f"users/{user}/")}


def _faces(an: Analysis) -> list[dict]:
    """What a user sees of each element: its record and its attempts."""
    out = []
    for i in range(an.size):
        shown = an.status(i)
        out.append({**shown, "attempts": shown["attempts"]})
    return out


def _refuse(monkeypatch, compute) -> None:
    def refused(self, manifest, dependencies=(), indices=None):  # noqa: ANN001
        raise BackendError("the queue 'normal' is disabled")

    monkeypatch.setattr(type(compute), "submit", refused)


@pytest.mark.parametrize("change", ["nothing", "function and job definition"])
def test_a_rerun_the_backend_refuses_leaves_every_element_as_it_was(failed_array, monkeypatch, change):  # noqa: F811
    an, marker = failed_array
    user = an.manifest.user
    before, shown, summary = _everything(user), _faces(an), an.status()
    monkeypatch.setattr(records, "_CACHED_TTL", 0.0)  # no memo between the reads below
    _refuse(monkeypatch, session.compute("local"))

    def fixed(ac):
        ac.output.depth = 0

    extra = {"function": fixed, "job_definition": JobDefinition(memory_mb=2000)} if change != "nothing" else {}
    with pytest.raises(BackendError) as refused:
        an.rerun(**extra)
    message = str(refused.value)
    assert "Could not rerun 3 element(s) of coverage" in message
    assert "the queue 'normal' is disabled" in message and "None of them was submitted" in message

    assert an.status() == summary
    assert _faces(an) == shown  # FAILED as before, with their one attempt
    assert [an.status(i)["status"] for i in (0, 3, 6)] == ["FAILED"] * 3
    assert _everything(user) == before  # not a byte of the record changed, nothing added
    assert an.manifest.job_definition["memory_mb"] == 4000

    # once the backend takes it, the rerun is attempt 1 (the refused one left no trace)
    monkeypatch.undo()
    marker.write_text("fixed")
    an.rerun()
    assert an.wait_done(timeout=120)["summary"] == {"SUCCEEDED": 7}
    assert [(a["attempt"], a["status"]) for a in an.status(3)["attempts"]] == [(0, "FAILED"), (1, "SUCCEEDED")]


class _RefusesResubmission(_OneShotCompute):
    """Runs the first submission; refuses every later one (as a Batch queue disabled meanwhile)."""

    name = "refuses"

    def submit(self, manifest, dependencies=(), indices=None):  # noqa: ANN001
        if indices is not None:
            raise BackendError("the job queue is DISABLED")
        return super().submit(manifest, dependencies, indices)


def test_a_retry_the_backend_refuses_leaves_the_failed_element_as_it_was(monkeypatch):
    original = session.compute_class
    monkeypatch.setattr(
        session, "compute_class", lambda name: _RefusesResubmission if name == "refuses" else original(name)
    )
    jd = JobDefinition(memory_mb=400, retries=2, retry_on=("oom",), memory_growth=2.0)
    an = Analysis(function=_needs_a_gigabyte, input=[1], job_definition=jd, compute="refuses").run()
    layout = an.manifest.layout
    storage = session.storage()
    before = {o.key: storage.get_bytes(o.key) for o in storage.iter_objects(layout.prefix)}

    with pytest.raises(BackendError, match="Could not retry 1 element"):
        an.status()  # a finished analysis with an OOM failure: the SDK resubmits it with 800 MB
    after = {o.key: storage.get_bytes(o.key) for o in storage.iter_objects(layout.prefix)}
    assert after == before
    element = an.status(0)
    assert element["status"] == "FAILED" and element["reason"].startswith("out of memory")
    assert [(a["status"], a["resources"]["memory_mb"]) for a in element["attempts"]] == [("FAILED", 400)]


async def test_post_rerun_the_backend_refuses_is_a_502_that_changed_nothing(explorer_api, failed_array, monkeypatch):  # noqa: F811
    an, _marker = failed_array
    before, shown = _everything(an.manifest.user), _faces(an)
    monkeypatch.setattr(records, "_CACHED_TTL", 0.0)
    _refuse(monkeypatch, session.compute("local"))
    response = await explorer_api("POST", f"analyses/{an.id}/rerun", json={"failed": True})
    assert response.code == 502
    message = json.loads(response.body)["message"]
    assert "the queue 'normal' is disabled" in message and "None of them was submitted" in message
    assert _everything(an.manifest.user) == before and _faces(an) == shown
    element = json.loads((await explorer_api("GET", f"analyses/{an.id}/elements/0")).body)
    assert element["status"] == "FAILED" and len(element["attempts"]) == 1
