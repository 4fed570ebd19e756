"""The Analysis API on the embedded default backends (local compute, local storage)."""

from __future__ import annotations

import threading

import pytest

from explorer_magics import session
from explorer_magics.analysis import Analysis, AnalysisContext, GlobalConfig, InputShared, JobDefinition
from explorer_magics.errors import ExplorerError, InvalidAnalysis, NotFound
from explorer_magics.job_manager import JobManager


def _analyses_written() -> list[str]:
    s = session.settings()
    return list(session.storage().iter_prefixes(f"users/{s.user}/analyses/"))


def square(ac: AnalysisContext):
    print(f"squaring {ac.input}")
    ac.output.value(key="square", value=ac.input**2)


def test_array_job_runs_every_element_and_reports_a_summary(capsys):
    an = Analysis(function=square, input=[1, 2, 3, 4])
    assert an.run() is an
    assert f"Analysis ID: {an.id}" in capsys.readouterr().out
    status = an.wait_done(timeout=60)
    assert status == {"status": "SUCCEEDED", "size": 4, "summary": {"SUCCEEDED": 4}}
    assert [an.get_output(i).value("square") for i in range(4)] == [1, 4, 9, 16]
    assert an.status(2)["status"] == "SUCCEEDED"
    assert an.name == "square"
    assert an.id.split("_")[1] == "square"


def test_a_list_inside_a_dict_is_one_job():
    an = Analysis(function=lambda ac: ac.output.value(key="n", value=len(ac.input["i"])), input={"i": [1, 2, 3]})
    an.run().wait_done(timeout=60)
    assert an.status() == {"status": "SUCCEEDED"}
    assert an.get_output().value("n") == 3
    assert an.name == "lambda"


def test_context_carries_shared_input_global_config_job_definition_and_index():
    def work(ac: AnalysisContext):
        ac.output.value(
            key="seen",
            value=(
                ac.input,
                ac.input_shared.ref,
                ac.global_context.age_map["sheep"],
                ac.job_definition.cpu,
                ac.job_index,
            ),
        )

    an = Analysis(
        function=work,
        input=["a", "b"],
        input_shared=InputShared(ref="hg38"),
        global_config=GlobalConfig(age_map={"human": 20, "sheep": 5}),
        job_definition=JobDefinition(cpu=1, memory_mb=4000),
    ).run()
    an.wait_done(timeout=60)
    assert an.get_output(1).value("seen") == ("b", "hg38", 5, 1, 1)
    single = Analysis(
        function=work, input="x", input_shared=InputShared(ref="r"), global_config=GlobalConfig(age_map={"sheep": 1})
    ).run()
    single.wait_done(timeout=60)
    assert single.get_output().value("seen")[-1] is None  # not an array: no index


def test_outputs_files_values_and_attribute_assignment(tmp_path):
    def work(ac: AnalysisContext):
        path = ac.output.file("my-file").as_local()
        with open(path, "w") as fh:
            fh.write("123\n")
        with open("local.json", "w") as fh:  # relative to the element's own work dir
            fh.write('{"hello": "world"}')
        ac.output.file(path_local="local.json", key="outfile")
        ac.output.value(key="var", value="abc")
        ac.output.depth = 7

    an = Analysis(function=work, input=None).run()
    an.wait_done(timeout=60)
    out = an.get_output()
    assert open(out.file("my-file").as_local()).read() == "123\n"
    assert open(out.file("outfile").as_local()).read() == '{"hello": "world"}'
    assert out.value("var") == "abc"
    assert out.value("depth") == 7
    assert out.keys() == {"files": ["my-file", "outfile"], "values": ["depth", "var"]}
    with pytest.raises(NotFound, match=r"No output value 'nope'.*'depth', 'var'"):
        out.value("nope")
    with pytest.raises(NotFound, match="No output file 'nope'"):
        out.file("nope")


def test_notebook_globals_helpers_and_outside_imports_travel_by_value():
    import json as outside_json

    offset = 100

    def helper(x):
        return x + offset

    def work(ac: AnalysisContext):
        ac.output.value(key="r", value=outside_json.dumps(helper(ac.input)))

    an = Analysis(function=work, input=[1, 2]).run()
    an.wait_done(timeout=60)
    assert an.get_output(1).value("r") == "102"


def test_a_failing_element_fails_with_its_reason_and_exposes_no_outputs():
    def work(ac: AnalysisContext):
        ac.output.value(key="half", value="written before the failure")
        path = ac.output.file("partial").as_local()
        open(path, "w").write("half")
        if ac.input == 1:
            raise ValueError("bad sample 1")

    an = Analysis(function=work, input=[0, 1, 2]).run()
    status = an.wait_done(timeout=60)
    assert status["status"] == "FAILED"
    assert status["summary"] == {"SUCCEEDED": 2, "FAILED": 1}
    assert {k: an.status(1).get(k) for k in ("status", "reason")} == {
        "status": "FAILED",
        "reason": "ValueError: bad sample 1",
    }
    with pytest.raises(NotFound, match="FAILED: ValueError: bad sample 1"):
        an.get_output(1)
    layout = an.manifest.layout
    storage = session.storage()
    assert not storage.exists(layout.values(1))
    assert not storage.exists(layout.file(1, "partial"))
    assert an.get_output(0).value("half") == "written before the failure"
    failed_first = an.elements()
    assert [e.index for e in failed_first] == [1, 0, 2]


def test_logs_print_stdout_and_stderr_of_an_element(capsys):
    import sys

    def work(ac):
        print("to stdout", ac.input)
        print("to stderr", ac.input, file=sys.stderr)

    an = Analysis(function=work, input=["x", "y", "z"]).run()
    an.wait_done(timeout=60)
    capsys.readouterr()
    an.logs(2)
    got = capsys.readouterr()
    assert got.out == "to stdout z\n"
    assert got.err == "to stderr z\n"
    capsys.readouterr()
    an.logs()  # element 0 unless told otherwise
    assert capsys.readouterr().out == "to stdout x\n"
    with pytest.raises(NotFound, match="elements 0..2"):
        an.logs(3)


def test_live_logs_follow_a_running_element_until_it_ends(capsys):
    import time

    def work(ac):
        for i in range(5):
            print("tick", i, flush=True)
            time.sleep(0.2)

    an = Analysis(function=work, input=None).run()
    an.wait_running_or_done(timeout=60)
    an.logs(live=True)
    assert capsys.readouterr().out.splitlines()[-5:] == [f"tick {i}" for i in range(5)]
    assert an.status()["status"] == "SUCCEEDED"


def test_since_leaves_out_logs_of_elements_that_ended_earlier(capsys):
    import time

    an = Analysis(function=lambda ac: print("old news"), input=None).run()
    an.wait_done(timeout=60)
    time.sleep(1.1)
    capsys.readouterr()
    an.logs(since="1s")
    got = capsys.readouterr()
    assert got.out == "" and "since='1s'" in got.err
    an.logs(since="1h")
    assert capsys.readouterr().out == "old news\n"


def test_dependencies_run_first_once_and_pass_outputs():
    def work1(ac: AnalysisContext):
        import json

        with open("local.json", "w") as fd:
            json.dump({"hello": ac.input}, fd)
        ac.output.file(path_local="local.json", key="outfile_work1")

    def work2(ac: AnalysisContext):
        import json

        f = ac.dependency("work1").get_output(0).file("outfile_work1").as_local()
        with open(f) as fd:
            ac.output.value(key="got", value=json.load(fd)["hello"])

    a1 = Analysis(function=work1, input=["world"])
    a2 = Analysis(function=work2, input=["x"], depends_on=[a1])
    a3 = Analysis(function=lambda ac: None, input=None, depends_on=[a1, a2], name="last")
    a3.run()
    assert a1.id and a2.id and a3.id
    first_a1 = a1.id
    a3.wait_done(timeout=60)
    assert a2.get_output(0).value("got") == "world"
    assert a3.status()["status"] == "SUCCEEDED"
    assert a1.id == first_a1  # a1 ran once although two analyses depend on it
    assert len(_analyses_written()) == 3


def test_a_failed_dependency_fails_its_dependents_with_the_reason():
    def broken(ac):
        raise RuntimeError("upstream broke")

    a1 = Analysis(function=broken, input=[1])
    a2 = Analysis(function=lambda ac: None, input=[1, 2], depends_on=[a1], name="downstream")
    a2.run()
    status = a2.wait_done(timeout=60)
    assert status["status"] == "FAILED"
    assert status["summary"] == {"FAILED": 2}
    reason = a2.status(1)["reason"]
    assert reason.startswith("dependency broken (") and reason.endswith(") FAILED")


def test_a_dependency_cycle_is_refused_and_nothing_is_submitted():
    a = Analysis(function=lambda ac: None, name="a")
    b = Analysis(function=lambda ac: None, name="b", depends_on=[a])
    a.depends_on.append(b)
    with pytest.raises(InvalidAnalysis, match="loop: a -> b -> a"):
        a.run()
    assert a.id is None and b.id is None
    assert _analyses_written() == []


def test_unpicklable_input_is_refused_before_anything_is_written():
    with pytest.raises(InvalidAnalysis, match=r"Input element 1 \(lock\) cannot be pickled.*nothing was submitted"):
        Analysis(function=square, input=[1, threading.Lock()]).run()
    with pytest.raises(InvalidAnalysis, match="cannot be sent to the cluster"):
        lock = threading.Lock()
        Analysis(function=lambda ac: lock.acquire(), input=None).run()
    assert _analyses_written() == []


def test_an_unknown_eos_namespace_in_the_input_is_refused_before_anything_is_written():
    with pytest.raises(InvalidAnalysis, match="Unknown EOS namespace 'gencove'.*Nothing was submitted"):
        Analysis(function=square, input=[{"cram": "e://users/me/a.cram"}, {"cram": "e://gencove/b.cram"}]).run()
    with pytest.raises(InvalidAnalysis, match="input_shared: .*cannot leave"):
        Analysis(function=square, input=[1], input_shared=InputShared(ref="e://org/../etc/ref.fa")).run()
    assert _analyses_written() == []


def test_more_than_ten_thousand_elements_is_refused():
    with pytest.raises(InvalidAnalysis, match="at most 10,000 elements; this input has 10,001"):
        Analysis(function=square, input=list(range(10_001))).run()
    assert _analyses_written() == []


def test_unknown_analysis_ids_and_elements_say_what_to_do():
    with pytest.raises(NotFound, match="list_jobs"):
        JobManager().get_analysis(job_id="2023-05-08T000000_example_fn_17eb494f3d5349c88959bace7a6b7873")
    with pytest.raises(ExplorerError, match="is not an analysis id"):
        JobManager().get_analysis(job_id="../../etc/passwd")
    with pytest.raises(InvalidAnalysis, match=r"has not been submitted yet; call .run\(\)"):
        Analysis(function=square).status()


def test_bad_job_definitions_are_refused():
    with pytest.raises(InvalidAnalysis, match="memory_mb"):
        JobDefinition(memory_mb=0)
    with pytest.raises(InvalidAnalysis, match="timeout_seconds"):
        JobDefinition(timeout_seconds=-1)
    # the wrong type is refused the same way, not with a TypeError from a comparison
    with pytest.raises(InvalidAnalysis, match=r"timeout_seconds=\.\.\.\) must be positive seconds, not 'soon'"):
        JobDefinition(timeout_seconds="soon")
    with pytest.raises(InvalidAnalysis, match="cpu"):
        JobDefinition(cpu="2")
    with pytest.raises(InvalidAnalysis, match="memory_mb"):
        JobDefinition(memory_mb=True)


def test_job_manager_lists_and_filters_and_rehydrates():
    a = Analysis(function=square, input=[3], name="Example_FN").run()
    b = Analysis(function=square, input=[4], name="other").run()
    a.wait_done(timeout=60)
    b.wait_done(timeout=60)
    mgr = JobManager()
    assert [j.id for j in mgr.list_jobs()] == sorted([a.id, b.id], reverse=True)
    assert [j.id for j in mgr.list_jobs(name="example_fn")] == [a.id]
    assert {j.id for j in mgr.list_jobs(since="1h")} == {a.id, b.id}
    assert {j.id for j in mgr.list_jobs(date=a.id[:10])} == {a.id, b.id}
    assert {j.id for j in mgr.list_jobs(date=a.id[:7])} == {a.id, b.id}
    assert mgr.list_jobs(date="2023-05") == []
    again = mgr.get_analysis(job_id=a.id)
    assert again.name == "Example_FN"
    assert again.status() == {"status": "SUCCEEDED", "size": 1, "summary": {"SUCCEEDED": 1}}
    assert again.get_output(0).value("square") == 9
    with pytest.raises(ExplorerError, match="not a duration"):
        mgr.list_jobs(since="yesterday")


def test_run_local_runs_here_and_records_outputs(capsys):
    seen = []

    def work(ac: AnalysisContext):
        seen.append(ac.input)  # same process: the closure's list is this very list
        print("local", ac.input)
        ac.output.value(key="v", value=ac.input + 1)

    an = Analysis(function=work, input=[1, 2])
    an.run_local()
    assert seen == [1, 2]
    assert "local 1\nlocal 2\n" in capsys.readouterr().out
    assert an.status() == {"status": "SUCCEEDED", "size": 2, "summary": {"SUCCEEDED": 2}}
    assert an.get_output(1).value("v") == 3


def test_run_local_raises_the_work_functions_exception():
    def work(ac):
        raise KeyError("missing column")

    an = Analysis(function=work, input=None)
    with pytest.raises(KeyError, match="missing column"):
        an.run_local()
    assert an.status() == {"status": "FAILED"}
    assert {k: an.status(0).get(k) for k in ("status", "reason")} == {
        "status": "FAILED",
        "reason": "KeyError: 'missing column'",
    }


def test_a_long_log_is_read_in_bounded_pieces_and_logs_still_prints_all_of_it(capsys):
    from explorer_magics import log_ops
    from explorer_magics.compute.base import LOG_READ_LIMIT

    def chatty(ac):
        for i in range(30_000):
            print(f"{i:06d} " + "x" * 93)  # 100 bytes a line, 3 MB in all

    an = Analysis(function=chatty, input=None).run()
    assert an.wait_done(timeout=120)["status"] == "SUCCEEDED"
    first = log_ops.read_log(an, 0, "stdout", 0)
    assert len(first.data) == LOG_READ_LIMIT and first.finished and first.next_offset == LOG_READ_LIMIT
    capsys.readouterr()
    an.logs(0)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("0")]
    assert len(lines) == 30_000 and lines[-1].startswith("029999 ")


def test_logs_without_live_return_what_is_there_even_while_the_element_keeps_printing(monkeypatch, capsys):
    """A log that grows faster than it is read: without ``live`` one look is taken, not an
    endless chase (each read of the backend here finds a few new bytes)."""
    from explorer_magics.records import LogChunk

    an = Analysis(function=lambda ac: print("hello"), input=None).run()
    an.wait_done(timeout=60)
    compute = an._compute()
    reads = []

    def always_a_little_more(manifest, index, stream, offset):
        reads.append(stream)
        if len(reads) > 1000:
            raise AssertionError("logs() kept reading a log that was still being written")
        return LogChunk(b"more\n", offset + 5)

    monkeypatch.setattr(compute, "read_log", always_a_little_more)
    monkeypatch.setattr(an, "_compute", lambda: compute)
    an.logs(0)
    assert reads == ["stdout", "stderr"]
    assert capsys.readouterr().out.endswith("more\n")


def test_run_local_of_an_element_that_does_not_exist_is_refused_before_anything_is_written():
    from explorer_magics.errors import NotFound

    an = Analysis(function=lambda ac: None, input=[1, 2])
    for bad in (5, "1", -1):
        with pytest.raises(NotFound, match="this analysis has 2 element"):
            an.run_local(index=bad)
    assert an.id is None
    assert JobManager().list_jobs() == []


@pytest.mark.parametrize(
    "resources",
    [
        {"cpu": float("nan")},
        {"cpu": float("inf")},
        {"timeout_seconds": float("inf")},
        {"timeout_seconds": float("nan")},
        {"timeout_seconds": float("-inf")},
    ],
)
def test_nan_and_infinite_resources_are_refused_before_anything_is_written(resources):
    with pytest.raises(InvalidAnalysis, match=r"JobDefinition\((cpu|timeout_seconds)=") as refused:
        Analysis(function=square, input=[1], job_definition=JobDefinition(**resources)).run()
    assert "finite" in str(refused.value)
    assert _analyses_written() == []


def test_a_manifest_never_holds_nan_or_infinity():
    import dataclasses
    import time

    from explorer_magics.records import Manifest

    manifest = Manifest(
        id="2026-01-01T000000_work_0123456789abcdef0123456789abcdef",
        name="work",
        user="alice",
        created=time.time(),
        size=None,
        compute="local",
        storage="local",
    )
    assert b"NaN" not in manifest.to_json()
    for bad in (float("nan"), float("inf")):  # even one built around JobDefinition's checks
        with pytest.raises(InvalidAnalysis, match="NaN or infinite"):
            dataclasses.replace(manifest, job_definition={"cpu": bad}).to_json()


def test_a_duration_too_long_to_count_back_is_refused_with_a_message():
    from explorer_magics.definitions import parse_duration

    for since in ("99999999999999999999w", float("inf"), float("nan"), -5):
        with pytest.raises(ExplorerError, match="between 0 and 100 years"):
            JobManager().list_jobs(since=since)
    assert parse_duration("5200w") == 5200 * 7 * 86400


def collide(ac: AnalysisContext):
    import os

    with open("b.txt", "w") as fh:
        fh.write("the folder's file")
    os.makedirs("sub", exist_ok=True)
    with open("sub/c", "w") as fh:
        fh.write("inside")
    ac.output.file(path_local="b.txt", key="b")
    ac.output.file(path_local="sub/c", key="b/c")  # b would be a file and a folder at once


def test_colliding_output_keys_fail_the_element_before_anything_is_written():
    an = Analysis(function=collide, input=[0]).run()
    assert an.wait_done(timeout=60)["status"] == "FAILED"
    reason = an.status(0)["reason"]
    assert "'b' and 'b/c' collide" in reason, reason
    storage = session.storage()
    task = an.manifest.layout.task(0)
    assert [o.key for o in storage.iter_objects(task) if "/files/" in o.key] == []


def test_colliding_output_keys_are_refused_in_either_order_and_one_key_twice_is_fine(tmp_path):
    from explorer_magics.context import OutputCollector
    from explorer_magics.errors import InvalidPath

    out = OutputCollector(tmp_path)
    out.file("plots/depth.png")
    out.file("plots/depth.png")  # asked twice: the same file
    out.file("plots-old")  # shares a prefix, not a folder
    with pytest.raises(InvalidPath, match="'plots' and 'plots/depth.png' collide"):
        out.file("plots")
    with pytest.raises(InvalidPath, match="'plots-old' and 'plots-old/x' collide"):
        out.file("plots-old/x")
    assert sorted(out.files) == ["plots-old", "plots/depth.png"]
    assert not (tmp_path / "outputs" / "plots-old").exists()  # no folder was made for the refused key
