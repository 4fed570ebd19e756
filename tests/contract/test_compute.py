"""The compute contract (explorer_magics.compute.base), run against every backend.

Each test runs once per backend registered in tests/contract/conftest.py; a new backend is done
when it passes. Checks a backend's test set-up cannot exercise are skipped with the reason.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from explorer_magics import session
from explorer_magics.analysis import Analysis, JobDefinition
from explorer_magics.errors import InvalidAnalysis
from explorer_magics.job_manager import JobManager

from ..helpers import wait_for
from .conftest import Backend, flaky_array

#: a backend's call that submits work (one per analysis, whatever its size)
SUBMIT_CALLS = ("SubmitJob", "supervisor.submit", "sbatch")


def _double_and_square(ac):
    path = ac.output.file("doubled.txt").as_local()
    with open(path, "w") as fh:
        fh.write(str(ac.input * 2))
    ac.output.value(key="square", value=ac.input**2)
    ac.output.index = ac.job_index  # attribute style stores a value too
    print(f"element {ac.job_index} of input {ac.input}")


def test_an_array_runs_every_element_and_its_outputs_and_values_come_back(compute_backend: Backend):
    an = Analysis(function=_double_and_square, input=[1, 2, 3]).run()
    assert compute_backend.finish(an) == {"status": "SUCCEEDED", "size": 3, "summary": {"SUCCEEDED": 3}}
    assert [an.get_output(i).value("square") for i in range(3)] == [1, 4, 9]
    assert [an.get_output(i).value("index") for i in range(3)] == [0, 1, 2]
    assert Path(an.get_output(2).file("doubled.txt").as_local()).read_text() == "6"
    assert [e.status for e in an.elements()] == ["SUCCEEDED"] * 3


def test_a_single_input_is_one_job_run_as_element_0(compute_backend: Backend):
    an = Analysis(function=lambda ac: ac.output.value(key="got", value=(ac.input, ac.job_index)), input={"a": 1}).run()
    assert an.size is None
    assert compute_backend.finish(an) == {"status": "SUCCEEDED"}
    assert an.get_output().value("got") == ({"a": 1}, None)


def test_dependencies_fan_in_and_the_dependent_reads_their_outputs(compute_backend: Backend):
    def upper(ac):
        ac.output.value(key="word", value=ac.input.upper())

    def sentence(ac):
        first = [ac.dependency("upper").get_output(i).value("word") for i in range(2)]
        second = ac.dependency("and_").get_output().value("word")
        ac.output.value(key="sentence", value=f"{first[0]} {second} {first[1]}")

    a1 = Analysis(function=upper, input=["salt", "pepper"])
    a2 = Analysis(function=lambda ac: ac.output.value(key="word", value="and"), input=None, name="and_")
    a3 = Analysis(function=sentence, input=None, depends_on=[a1, a2]).run()
    assert a1.id and a2.id  # submitted with it, first
    for an in (a1, a2, a3):
        compute_backend.finish(an)
    assert a3.status() == {"status": "SUCCEEDED"}
    assert a3.get_output().value("sentence") == "SALT and PEPPER"


def test_a_dependent_of_a_failed_dependency_fails_with_its_name_and_never_runs(compute_backend: Backend):
    def broken(ac):
        raise ValueError("bad input")

    with compute_backend.failing():
        up = Analysis(function=broken, input=[1, 2], name="up").run()
        assert compute_backend.finish(up)["status"] == "FAILED"
    with compute_backend.count_calls() as calls:
        down = Analysis(function=lambda ac: None, input=[1, 2, 3], depends_on=[up], name="down").run()
    assert not any(op.endswith(SUBMIT_CALLS) for op in calls), calls  # never submitted
    reason = f"dependency up ({up.id}) FAILED"
    assert down.status() == {"status": "FAILED", "size": 3, "summary": {"FAILED": 3}, "reason": reason}
    assert [(e.status, e.reason) for e in down.elements()] == [("FAILED", reason)] * 3
    assert {k: v for k, v in down.status(1).items() if k in ("status", "reason")} == {
        "status": "FAILED",
        "reason": reason,
    }
    down.terminate_all()  # nothing runs: nothing to stop, and no error


def test_a_dependency_that_fails_later_fails_the_waiting_dependent(compute_backend: Backend):
    compute_backend.require("running")
    flag = session.settings().home / "go"

    def wait_then_fail(ac):
        import os
        import time

        while not os.path.exists(ac.input):
            time.sleep(0.05)
        raise RuntimeError("failed after a while")

    up = Analysis(function=wait_then_fail, input=str(flag), name="up")
    down = Analysis(function=lambda ac: None, input=[1, 2], depends_on=[up], name="down").run()
    assert down.status()["status"] == "PENDING"
    flag.touch()
    assert down.wait_done(timeout=60)["status"] == "FAILED"
    assert down.status(0)["reason"] == f"dependency up ({up.id}) FAILED"


def test_only_the_chosen_indices_run_and_the_others_keep_their_status(compute_backend: Backend):
    """What rerunning some elements stands on: submit(..., indices=[...]) runs exactly those."""
    marks = session.settings().home / "ran"
    marks.mkdir(parents=True, exist_ok=True)

    def work(ac):
        ac.output.value(key="twice", value=ac.input * 2)

    an = Analysis(function=work, input=[10, 11, 12, 13])
    manifest = an._write_record(an._prepare(compute_backend.name))
    compute = session.compute(compute_backend.name)
    first = compute.submit(manifest, [], indices=[1, 3])
    manifest = dataclasses.replace(manifest, backend=first)
    session.storage().put_bytes(manifest.layout.manifest, manifest.to_json())
    an = JobManager().get_analysis(manifest.id)
    compute_backend.play(an, [1, 3])
    wait_for(lambda: an.status()["summary"].get("SUCCEEDED") == 2, what="elements 1 and 3 to succeed")
    status = an.status()
    assert status["status"] not in ("SUCCEEDED", "FAILED")  # 0 and 2 never ran
    assert status["summary"] == {"SUCCEEDED": 2, "RUNNABLE": 2}
    assert [an.status(i)["status"] for i in range(4)] == ["RUNNABLE", "SUCCEEDED", "RUNNABLE", "SUCCEEDED"]
    assert [e.index for e in an.elements(status="RUNNABLE")] == [0, 2]
    assert [an.get_output(i).value("twice") for i in (1, 3)] == [22, 26]

    second = compute.submit(manifest, [], indices=[0, 2])  # the rest, as a rerun would
    manifest = dataclasses.replace(manifest, backend=second)
    session.storage().put_bytes(manifest.layout.manifest, manifest.to_json())
    an = JobManager().get_analysis(manifest.id)
    assert compute_backend.finish(an, [0, 2]) == {"status": "SUCCEEDED", "size": 4, "summary": {"SUCCEEDED": 4}}
    assert [an.get_output(i).value("twice") for i in range(4)] == [20, 22, 24, 26]
    assert [e.status for e in an.elements()] == ["SUCCEEDED"] * 4


def test_rerunning_a_failed_element_replaces_its_failure(compute_backend: Backend):
    compute_backend.require("partial_failure")
    an, fixed = flaky_array("not yet")
    assert compute_backend.finish(an)["summary"] == {"FAILED": 1, "SUCCEEDED": 2}
    assert {k: v for k, v in an.status(1).items() if k in ("status", "reason")} == {
        "status": "FAILED",
        "reason": "RuntimeError: not yet",
    }
    fixed.touch()
    backend = session.compute(compute_backend.name).submit(an.manifest, [], indices=[1])
    manifest = dataclasses.replace(an.manifest, backend=backend)
    session.storage().put_bytes(manifest.layout.manifest, manifest.to_json())
    an = JobManager().get_analysis(manifest.id)
    assert an.status(1)["status"] != "FAILED"  # the old failure does not show while it runs again
    assert compute_backend.finish(an, [1]) == {"status": "SUCCEEDED", "size": 3, "summary": {"SUCCEEDED": 3}}
    assert {k: v for k, v in an.status(1).items() if k in ("status", "reason")} == {"status": "SUCCEEDED"}
    assert [an.get_output(i).value("ok") for i in range(3)] == [0, 1, 2]


def test_logs_are_read_from_an_offset_cursor_to_the_end(compute_backend: Backend):
    def talk(ac):
        for i in range(50):
            print(f"line {i} " + "x" * 40)

    an = Analysis(function=talk, input=None).run()
    compute_backend.finish(an)
    compute = session.compute(compute_backend.name)
    whole = b""
    offset = 0
    while True:
        chunk = compute.read_log(an.manifest, 0, "stdout", offset)
        if not chunk.data:
            break
        assert chunk.next_offset == offset + len(chunk.data)
        whole += chunk.data
        offset = chunk.next_offset
    lines = [line for line in whole.decode().splitlines() if line.startswith("line ")]
    assert lines == [f"line {i} " + "x" * 40 for i in range(50)]
    tail = compute.read_log(an.manifest, 0, "stdout", offset - 10)  # from any offset read before
    assert tail.data == whole[-10:] and tail.next_offset == offset


def test_live_logs_follow_a_running_element_until_it_ends(compute_backend: Backend):
    compute_backend.require("running")
    flag = session.settings().home / "go-logs"

    def wait_for_flag(ac):
        import os
        import time

        print("started", flush=True)
        while not os.path.exists(ac.input):
            time.sleep(0.05)
        print("finished", flush=True)

    an = Analysis(function=wait_for_flag, input=str(flag)).run()
    chunks = an.follow_logs(0, live=True)
    assert next(chunks) == ("stdout", "started\n")
    flag.touch()
    assert "".join(t for s, t in chunks if s == "stdout") == "finished\n"
    assert an.status() == {"status": "SUCCEEDED"}


def test_terminate_one_element_and_then_all(compute_backend: Backend):
    compute_backend.require("running")

    def sleep(ac):
        import time

        time.sleep(120)

    an = Analysis(function=sleep, input=list(range(4))).run()
    an.wait_running_or_done(timeout=60)
    an.terminate(1)
    wait_for(lambda: an.status(1)["status"] == "FAILED", what="element 1 to stop")
    assert {k: v for k, v in an.status(1).items() if k in ("status", "reason")} == {
        "status": "FAILED",
        "reason": "terminated by user",
    }
    an.terminate_all()
    status = an.wait_done(timeout=60)
    assert status == {"status": "FAILED", "size": 4, "summary": {"FAILED": 4}, "reason": "terminated by user"}
    assert {an.status(i)["reason"] for i in range(4)} == {"terminated by user"}


def test_timeout_is_enforced_and_the_reason_says_so(compute_backend: Backend):
    compute_backend.require("timeout")

    def slow(ac):
        import time

        print("starting", flush=True)
        time.sleep(30)

    an = Analysis(function=slow, input=None, job_definition=JobDefinition(timeout_seconds=1)).run()
    status = compute_backend.finish(an, timeout=30)
    assert status["status"] == "FAILED"
    assert an.status(0)["reason"] == "timeout: the element ran longer than timeout_seconds=1"


def test_memory_limit_fails_the_element_with_an_out_of_memory_reason(compute_backend: Backend):
    compute_backend.require("memory")

    def hog(ac):
        blocks = []
        for _ in range(40):
            blocks.append(b"x" * (50 * 1024 * 1024))  # 2 GB in all, far past memory_mb
        ac.output.value(key="never", value=len(blocks))

    an = Analysis(function=hog, input=None, job_definition=JobDefinition(memory_mb=400)).run()
    assert compute_backend.finish(an, timeout=60)["status"] == "FAILED"
    reason = an.status(0)["reason"]
    assert reason.startswith("out of memory") and "memory_mb=400" in reason


def test_unpicklable_work_is_refused_before_anything_is_submitted(compute_backend: Backend, capsys):
    import threading

    lock = threading.Lock()
    before = JobManager().list_jobs()
    with compute_backend.count_calls() as calls, pytest.raises(InvalidAnalysis, match="pickle"):
        Analysis(function=lambda ac: lock.locked(), input=[1, 2]).run()
    with compute_backend.count_calls() as more, pytest.raises(InvalidAnalysis, match="pickle"):
        Analysis(function=lambda ac: None, input=[1, lock]).run()
    assert not any(op.endswith(SUBMIT_CALLS) for op in {**calls, **more})
    assert JobManager().list_jobs() == before
    assert "Analysis ID" not in capsys.readouterr().out


def test_submitting_10000_elements_is_a_handful_of_backend_calls(compute_backend: Backend):
    with compute_backend.count_calls() as calls:
        an = Analysis(function=lambda ac: None, input=list(range(10_000))).run()
    assert sum(v for k, v in calls.items() if k.endswith(SUBMIT_CALLS)) == 1, calls
    assert sum(calls.values()) <= 13, calls  # (3 of them: the resume keys and their index markers)
    if "running" in compute_backend.cannot:  # (its jobs end at once)
        assert an.status()["summary"] == {"SUCCEEDED": 10_000}
    else:  # (running 10,000 elements here is not the point)
        an.terminate_all()
        assert sum(an.wait_done(timeout=120)["summary"].values()) == 10_000
