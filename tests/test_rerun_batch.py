"""Rerun, attempts and resume on the ``batch`` backend, against moto's server mode with the
containers played as in tests/test_batch.py (moto reports every job SUCCEEDED, so a FAILED
element cannot be shown here: reruns name their indices)."""

from __future__ import annotations

import pytest

from explorer_magics import aws, session
from explorer_magics.analysis import Analysis
from tests.test_batch import _sent, batch_moto, played  # noqa: F401 - the fixtures of test_batch.py

pytestmark = pytest.mark.aws


def _play_current_job(agent, an) -> dict[int, int]:  # noqa: ANN001
    """Run the containers of the analysis's current job (a rerun's job runs only some elements)."""
    backend = an.manifest.backend
    chosen = backend.get("indices") or list(range(an.manifest.count))
    ids = [f"{backend['job_id']}:{k}" for k in range(len(chosen))] if backend["array"] else [backend["job_id"]]
    codes = {}
    for index, job_id in zip(chosen, ids, strict=True):
        proc, job = agent._start(job_id)
        out, _ = proc.communicate(timeout=120)
        codes[index] = proc.returncode
        agent._ship_logs(job, out)
    return codes


def _work(ac):
    print(f"attempt for {ac.input}")
    path = ac.output.file("out.txt").as_local()
    path.write_text(f"{ac.input}\n")
    ac.output.v = ac.input * 10


def _task_bytes(an, index):  # noqa: ANN001
    storage = session.storage()
    prefix = an.manifest.layout.task(index)
    return {o.key: storage.get_bytes(o.key) for o in storage.iter_objects(prefix)}


def test_rerun_of_given_indices_on_batch_keeps_the_others_and_every_attempt(played):  # noqa: F811
    an = Analysis(function=_work, input=[1, 2, 3]).run()
    played.run(an)
    assert an.wait_done(timeout=30)["summary"] == {"SUCCEEDED": 3}
    kept = {i: _task_bytes(an, i) for i in (0, 2)}
    first_job = an.manifest.backend["job_id"]

    def fixed(ac):
        print(f"second attempt for {ac.input}")
        path = ac.output.file("out.txt").as_local()
        path.write_text(f"{ac.input} again\n")
        ac.output.v = ac.input * 100

    an.rerun(indices=[1], function=fixed)
    assert an.manifest.backend["job_id"] != first_job and an.manifest.backend["indices"] == [1]
    assert _play_current_job(played, an) == {1: 0}
    assert an.wait_done(timeout=30)["summary"] == {"SUCCEEDED": 3}
    assert [an.get_output(i).value("v") for i in range(3)] == [10, 200, 30]
    assert {i: _task_bytes(an, i) for i in (0, 2)} == kept
    assert [a["status"] for a in an.status(1)["attempts"]] == ["SUCCEEDED", "SUCCEEDED"]
    # the latest attempt's log comes from the rerun job's stream
    assert "second attempt for 2" in "".join(text for _s, text in an.follow_logs(1, live=False))
    from explorer_magics.rerun import read_attempt_log

    assert b"attempt for 2" in read_attempt_log(an, 1, 0, "stdout", 0).data  # copied from CloudWatch
    # an element not rerun still shows its log, from the job that ran it
    assert "attempt for 1" in "".join(text for _s, text in an.follow_logs(0, live=False))


def test_resume_on_batch_submits_only_the_new_elements_and_nothing_when_all_are_cached(played):  # noqa: F811
    first = Analysis(function=_work, input=[1, 2, 3, 4], name="w").run()
    played.run(first)
    first.wait_done(timeout=30)
    calls, stop = _sent("SubmitJob")
    aws.reset_call_counts()
    again = Analysis(function=_work, input=[3, 4, 5, 6], name="w", resume=True).run()
    assert again.manifest.backend["indices"] == [2, 3]
    assert len(calls) == 1 and calls[0]["arrayProperties"] == {"size": 2}
    assert _play_current_job(played, again) == {2: 0, 3: 0}
    assert again.wait_done(timeout=30)["summary"] == {"SUCCEEDED": 4}
    assert [again.get_output(i).value("v") for i in range(4)] == [30, 40, 50, 60]
    assert [bool(again.status(i).get("cached")) for i in range(4)] == [True, True, False, False]
    calls.clear()
    everything = Analysis(function=_work, input=[1, 2, 3, 4], name="w", resume=True).run()
    stop()
    assert calls == [] and everything.status()["summary"] == {"SUCCEEDED": 4}
