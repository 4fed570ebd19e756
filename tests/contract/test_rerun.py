"""Rerun, attempts and resume (issue 13), run against every backend of the contract suite."""

from __future__ import annotations

from explorer_magics import session
from explorer_magics.analysis import Analysis

from .conftest import Backend, flaky_array


def _work(ac):
    print(f"ran {ac.input}")
    path = ac.output.file("out.txt").as_local()
    path.write_text(f"{ac.input}\n")
    ac.output.v = ac.input * 10


def _task_bytes(an: Analysis, index: int) -> dict[str, bytes]:
    storage = session.storage()
    return {o.key: storage.get_bytes(o.key) for o in storage.iter_objects(an.manifest.layout.task(index))}


def test_rerun_runs_the_chosen_elements_in_place_and_keeps_every_attempt(compute_backend: Backend):
    an = Analysis(function=_work, input=[1, 2, 3]).run()
    assert compute_backend.finish(an)["summary"] == {"SUCCEEDED": 3}
    first_id = an.id
    kept = {i: _task_bytes(an, i) for i in (0, 2)}

    def fixed(ac):
        print(f"again {ac.input}")
        ac.output.v = ac.input * 100

    an.rerun(indices=[1], function=fixed)
    assert an.id == first_id
    assert compute_backend.finish(an, [1]) == {"status": "SUCCEEDED", "size": 3, "summary": {"SUCCEEDED": 3}}
    assert [an.get_output(i).value("v") for i in range(3)] == [10, 200, 30]
    assert {i: _task_bytes(an, i) for i in (0, 2)} == kept  # not a byte changed
    attempts = an.status(1)["attempts"]
    assert [(a["attempt"], a["status"]) for a in attempts] == [(0, "SUCCEEDED"), (1, "SUCCEEDED")]
    out = "".join(text for stream, text in an.follow_logs(1, live=False) if stream == "stdout")
    assert "again 2" in out
    from explorer_magics.rerun import read_attempt_log

    assert b"ran 2" in read_attempt_log(an, 1, 0, "stdout", 0).data
    # an element not rerun still shows its log (on Batch: from the job that ran it)
    assert "ran 1" in "".join(text for stream, text in an.follow_logs(0, live=False) if stream == "stdout")


def test_rerun_failed_reruns_only_the_failed_elements(compute_backend: Backend):
    compute_backend.require("partial_failure")
    an, fixed = flaky_array("bad region")
    with compute_backend.failing():
        assert compute_backend.finish(an)["summary"] == {"FAILED": 1, "SUCCEEDED": 2}
    fixed.touch()
    an.rerun()
    assert compute_backend.finish(an, [1])["summary"] == {"SUCCEEDED": 3}
    assert [a["status"] for a in an.status(1)["attempts"]] == ["FAILED", "SUCCEEDED"]


def test_resume_reuses_what_succeeded_and_submits_only_the_rest(compute_backend: Backend):
    first = Analysis(function=_work, input=[1, 2, 3, 4], name="w").run()
    compute_backend.finish(first)
    with compute_backend.count_calls() as calls:
        everything = Analysis(function=_work, input=[1, 2, 3, 4], name="w", resume=True).run()
    assert not any(op.endswith(("SubmitJob", "supervisor.submit")) for op in calls), calls
    assert everything.status() == {"status": "SUCCEEDED", "size": 4, "summary": {"SUCCEEDED": 4}}
    half = Analysis(function=_work, input=[3, 4, 5, 6], name="w", resume=True).run()
    assert compute_backend.finish(half, [2, 3])["summary"] == {"SUCCEEDED": 4}
    assert [half.get_output(i).value("v") for i in range(4)] == [30, 40, 50, 60]
    assert [bool(half.status(i).get("cached")) for i in range(4)] == [True, True, False, False]

    def other(ac):
        ac.output.v = -1

    nothing = Analysis(function=other, input=[1, 2], name="w", resume=True).run()
    assert compute_backend.finish(nothing)["summary"] == {"SUCCEEDED": 2}
    assert [nothing.status(i).get("cached") for i in range(2)] == [None, None]
    assert nothing.explain(0).changed == ("function",)
