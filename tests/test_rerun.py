"""Rerun what failed, resume what succeeded, retry with more memory (issue 13), on the local
cluster: what a scientist relies on when 37 of 2,500 elements failed."""

from __future__ import annotations

import collections
import os
import shutil
from pathlib import Path

import pytest

from explorer_magics import records, session
from explorer_magics.analysis import Analysis, GlobalConfig, InputShared, JobDefinition
from explorer_magics.compute.stored import StoredCompute
from explorer_magics.errors import InvalidAnalysis, NotFound


def _flaky(ac):
    """Fails for inputs whose 'fixed' marker file does not exist yet."""
    import pathlib

    n, marker = ac.input
    print(f"element {n} attempt")
    if n % 3 == 0 and not pathlib.Path(marker).exists():
        raise RuntimeError(f"bad region for sample {n}")
    path = ac.output.file("result.txt").as_local()
    path.write_text(f"sample {n}\n")
    ac.output.depth = n * 10


def _task_bytes(an: Analysis, index: int) -> dict[str, bytes]:
    storage = session.storage()
    prefix = an.manifest.layout.task(index)
    return {obj.key: storage.get_bytes(obj.key) for obj in storage.iter_objects(prefix)}


@pytest.fixture
def failed_array(tmp_path):
    marker = tmp_path / "fixed"
    an = Analysis(function=_flaky, input=[(n, str(marker)) for n in range(7)], name="coverage").run()
    status = an.wait_done(timeout=120)
    assert status["summary"] == {"SUCCEEDED": 4, "FAILED": 3}
    return an, marker


# -- rerun ----------------------------------------------------------------------------------------
def test_rerun_failed_runs_only_failed_elements_and_keeps_the_others_outputs_byte_for_byte(failed_array):
    an, marker = failed_array
    first_id = an.id
    kept = {i: _task_bytes(an, i) for i in (1, 2, 4, 5)}
    marker.write_text("fixed")

    assert an.rerun() is an
    assert an.id == first_id
    status = an.wait_done(timeout=120)

    assert status["status"] == "SUCCEEDED" and status["summary"] == {"SUCCEEDED": 7}
    for i, before in kept.items():  # not rerun: not a byte changed, no attempt added
        assert _task_bytes(an, i) == before
        assert [a["status"] for a in an.status(i)["attempts"]] == ["SUCCEEDED"]
    assert [an.get_output(i).value("depth") for i in range(7)] == [n * 10 for n in range(7)]


def test_every_attempt_keeps_its_status_reason_and_log(failed_array, capsys):
    an, marker = failed_array
    marker.write_text("fixed")
    an.rerun(indices=[3])
    an.wait_done(timeout=120)

    attempts = an.status(3)["attempts"]
    assert [(a["attempt"], a["status"]) for a in attempts] == [(0, "FAILED"), (1, "SUCCEEDED")]
    assert "bad region for sample 3" in attempts[0]["reason"]
    assert attempts[0]["started"] <= attempts[0]["stopped"] <= attempts[1]["started"]
    assert attempts[1]["resources"]["memory_mb"] == 4000
    capsys.readouterr()
    an.logs(3, attempt=0)
    first = capsys.readouterr()
    assert "RuntimeError: bad region for sample 3" in first.err
    an.logs(3)  # the latest attempt by default
    latest = capsys.readouterr()
    assert "element 3 attempt" in latest.out and "RuntimeError" not in latest.err
    # the element not rerun is still FAILED with its one attempt; the failed attempt left no output
    assert an.status(0)["status"] == "FAILED" and len(an.status(0)["attempts"]) == 1
    storage = session.storage()
    earlier = records.attempt_prefix(an.manifest.layout, 3, 0)
    assert not [o.key for o in storage.iter_objects(earlier) if "/files/" in o.key or o.key.endswith("values.pkl")]
    with pytest.raises(NotFound, match="attempts 0..1"):
        an.logs(3, attempt=5)


def test_rerun_with_a_new_function_fixes_the_failed_elements(failed_array):
    an, _marker = failed_array

    def fixed(ac):
        n, _ = ac.input
        path = ac.output.file("result.txt").as_local()
        path.write_text(f"sample {n} (fixed)\n")
        ac.output.depth = n * 10

    an.rerun(function=fixed, job_definition=JobDefinition(memory_mb=2000))
    an.wait_done(timeout=120)
    assert an.status()["summary"] == {"SUCCEEDED": 7}
    assert an.get_output(3).file("result.txt").as_local().read_text() == "sample 3 (fixed)\n"
    assert an.get_output(1).file("result.txt").as_local().read_text() == "sample 1\n"
    assert [a["resources"]["memory_mb"] for a in an.status(3)["attempts"]] == [4000, 2000]
    assert an.status(1)["attempts"][-1]["resources"]["memory_mb"] == 4000  # not rerun: as it ran


def test_rerun_refusals_change_nothing(failed_array):
    an, _marker = failed_array
    storage = session.storage()
    before = {o.key: storage.get_bytes(o.key) for o in storage.iter_objects(an.manifest.layout.prefix)}
    import threading

    lock = threading.Lock()

    with pytest.raises(NotFound, match="No element 7"):
        an.rerun(indices=[0, 7])
    with pytest.raises(InvalidAnalysis, match="cannot be sent"):
        an.rerun(function=lambda ac: lock)
    with pytest.raises(InvalidAnalysis, match="whole numbers"):
        an.rerun(indices=["3"])
    after = {o.key: storage.get_bytes(o.key) for o in storage.iter_objects(an.manifest.layout.prefix)}
    assert after == before


def test_rerun_refuses_elements_that_are_still_running(tmp_path):
    gate = tmp_path / "go"

    def slow(ac):
        import pathlib
        import time

        while not pathlib.Path(ac.input).exists():
            time.sleep(0.05)

    an = Analysis(function=slow, input=[str(gate)] * 2).run()
    an.wait_running_or_done(timeout=60)
    from tests.helpers import wait_for

    wait_for(lambda: an.status(0)["status"] == "RUNNING", what="element 0 running")
    with pytest.raises(InvalidAnalysis, match="have not finished"):
        an.rerun(indices=[0])
    gate.write_text("go")
    assert an.wait_done(timeout=60)["status"] == "SUCCEEDED"
    assert len(an.status(0)["attempts"]) == 1


def test_rerun_of_a_dependent_reruns_the_failed_dependency_first(tmp_path):
    marker = tmp_path / "fixed"
    first = Analysis(function=_flaky, input=[(n, str(marker)) for n in range(4)], name="align")

    def count(ac):
        ac.output.n = ac.dependency("align").get_output(ac.input).value("depth")

    second = Analysis(function=count, input=[0, 1, 2, 3], depends_on=[first], name="count").run()
    assert second.wait_done(timeout=120)["status"] == "FAILED"
    assert "dependency align" in second.status(0)["reason"]
    marker.write_text("fixed")

    second.rerun()
    assert second.wait_done(timeout=120)["status"] == "SUCCEEDED"
    assert first.status()["summary"] == {"SUCCEEDED": 4}
    assert [second.get_output(i).value("n") for i in range(4)] == [0, 10, 20, 30]


def test_rerun_with_nothing_failed_submits_nothing(capsys):
    an = Analysis(function=lambda ac: None, input=[1, 2]).run()
    an.wait_done(timeout=60)
    an.rerun()
    assert "Nothing to rerun" in capsys.readouterr().out
    assert [len(an.status(i)["attempts"]) for i in range(2)] == [1, 1]


# -- resume ---------------------------------------------------------------------------------------
def _double(ac):
    print("computing", ac.input)
    ac.output.x = ac.input * 2


def test_resume_with_everything_cached_submits_nothing(monkeypatch):
    first = Analysis(function=_double, input=list(range(20)), name="double").run()
    assert first.wait_done(timeout=120)["status"] == "SUCCEEDED"
    compute = session.compute("local")

    def no_submit(*args, **kwargs):
        raise AssertionError("nothing should be submitted")

    monkeypatch.setattr(type(compute), "submit", no_submit)
    again = Analysis(function=_double, input=list(range(20)), name="double", resume=True).run()
    assert again.id != first.id
    assert again.status() == {"status": "SUCCEEDED", "size": 20, "summary": {"SUCCEEDED": 20}}
    assert [again.get_output(i).value("x") for i in range(20)] == [2 * n for n in range(20)]
    assert again.status(5)["cached"] == {"analysis": first.id, "index": 5}
    assert "reuses element 5 of " + first.id in str(again.explain(5))


def test_resume_with_half_cached_runs_only_the_new_elements():
    first = Analysis(function=_double, input=list(range(10)), name="double").run()
    first.wait_done(timeout=120)
    again = Analysis(function=_double, input=list(range(5, 15)), name="double", resume=True).run()
    assert again.wait_done(timeout=120)["summary"] == {"SUCCEEDED": 10}
    cached = [again.status(i).get("cached") for i in range(10)]
    assert cached[:5] == [{"analysis": first.id, "index": 5 + i} for i in range(5)]
    assert cached[5:] == [None] * 5
    assert [again.get_output(i).value("x") for i in range(10)] == [2 * n for n in range(5, 15)]
    explanation = again.explain(7)
    assert explanation.ran and explanation.changed == ("input",) and explanation.earlier == first.id


def test_resume_with_nothing_cached_when_the_function_changed():
    first = Analysis(function=_double, input=list(range(4)), name="double").run()
    first.wait_done(timeout=120)

    def changed(ac):  # new code
        ac.output.x = ac.input * 2 + 0

    again = Analysis(function=changed, input=list(range(4)), name="double", resume=True).run()
    again.wait_done(timeout=120)
    assert [again.status(i).get("cached") for i in range(4)] == [None] * 4
    explanation = again.explain(0)
    assert explanation.changed == ("function",) and "work function changed" in str(explanation)


def test_only_succeeded_elements_of_an_earlier_analysis_are_reused(failed_array):
    an, marker = failed_array  # elements 0, 3, 6 FAILED
    again = Analysis(function=_flaky, input=[(n, str(marker)) for n in range(7)], name="coverage", resume=True)
    marker.write_text("fixed")
    again.run().wait_done(timeout=120)
    assert [bool(again.status(i).get("cached")) for i in range(7)] == [n % 3 != 0 for n in range(7)]
    assert "had not SUCCEEDED" in str(again.explain(0))


def test_explain_names_the_shared_input_and_image_parts():
    first = Analysis(
        function=_shared_work, input=[1], input_shared=InputShared(ref="hg19"), global_config=GlobalConfig(k=1)
    ).run()
    first.wait_done(timeout=60)
    shared = Analysis(
        function=_shared_work,
        input=[1],
        input_shared=InputShared(ref="hg38"),
        global_config=GlobalConfig(k=1),
        resume=True,
    ).run()
    shared.wait_done(timeout=60)
    assert shared.explain(0).changed == ("shared",)
    image = Analysis(
        function=_shared_work,
        input=[1],
        input_shared=InputShared(ref="hg19"),
        global_config=GlobalConfig(k=1),
        job_definition=JobDefinition(image="explorer-job:v2"),
        resume=True,
    ).run()
    image.wait_done(timeout=60)
    assert image.explain(0).changed == ("image",) and "the image changed" in str(image.explain(0))


def _shared_work(ac):
    ac.output.ref = ac.input_shared.ref


def test_explain_names_the_packages_part_and_says_when_there_is_no_earlier_result():
    from explorer_magics import resume

    storage = session.storage()

    def keys(packages):
        return resume.compute_keys(
            function=_double, inputs=[1], shared=None, pip_packages=packages, image=None, storage=storage
        )

    old = records.Manifest(
        id=records.new_analysis_id("pk"), name="pk", user="alice", created=0, size=1, compute="local", storage=""
    )
    resume.record_keys(storage, old, keys(["pendulum==3.0"]))
    new = records.Manifest(
        id=records.new_analysis_id("pk"), name="pk", user="alice", created=1, size=1, compute="local", storage=""
    )
    resume.record_keys(storage, new, keys(["pendulum==3.1"]))
    ran = records.ElementStatus(0, "SUCCEEDED")
    assert resume.explain(storage, new, 0, ran).changed == ("packages",)
    alone = records.Manifest(
        id=records.new_analysis_id("other"), name="other", user="alice", created=2, size=1, compute="local", storage=""
    )
    resume.record_keys(storage, alone, keys([]).__class__(**{**keys([]).__dict__, "function": "0" * 32}))
    assert "no earlier result" in str(resume.explain(storage, alone, 0, ran))


def test_file_inputs_count_by_size_and_mtime_not_by_name(tmp_path):
    from explorer_magics import resume
    from explorer_magics.models import File

    path = tmp_path / "sample.cram"
    path.write_bytes(b"A" * 10)
    storage = session.storage()

    def key():
        return resume.compute_keys(
            function=_double,
            inputs=[File(path_local=str(path))],
            shared=None,
            pip_packages=[],
            image=None,
            storage=storage,
        ).inputs[0]

    before = key()
    assert key() == before
    path.write_bytes(b"B" * 11)
    assert key() != before
    eos = File(path_e="e://users/me/in/a.txt", path_local=str(path)).upload()
    k1 = resume.compute_keys(function=_double, inputs=[eos], shared=None, pip_packages=[], image=None, storage=storage)
    File(path_e="e://users/me/in/a.txt", path_local=str(path)).upload()  # same bytes, same name
    k2 = resume.compute_keys(function=_double, inputs=[eos], shared=None, pip_packages=[], image=None, storage=storage)
    path.write_bytes(b"C" * 12)
    File(path_e="e://users/me/in/a.txt", path_local=str(path)).upload()
    k3 = resume.compute_keys(function=_double, inputs=[eos], shared=None, pip_packages=[], image=None, storage=storage)
    assert k3.inputs != k1.inputs
    assert os.path.getsize(path) == 12 and isinstance(k2, resume.KeySet)


def test_every_analysis_records_its_keys_and_the_index_survives_a_new_process(tmp_path):
    first = Analysis(function=_double, input=[1, 2, 3], name="double").run()
    first.wait_done(timeout=60)
    storage = session.storage()
    assert storage.exists(records.keys_key(first.manifest.layout))
    from tests.helpers import run_python

    proc = run_python(
        """
        from explorer_magics.analysis import Analysis
        from tests.test_rerun import _double
        an = Analysis(function=_double, input=[1, 2, 3], name="double", resume=True).run()
        print("CACHED", [bool(an.status(i).get("cached")) for i in range(3)])
        """
    )
    assert "CACHED [True, True, True]" in proc.stdout, proc.stderr


# -- retries --------------------------------------------------------------------------------------
def test_retry_on_oom_grows_memory_until_it_fits():
    def hog(ac):
        blocks = []
        for _ in range(12):
            blocks.append(b"x" * (50 * 1024 * 1024))  # 600 MB in all
        ac.output.ok = True

    jd = JobDefinition(memory_mb=400, retries=3, retry_on=("oom",), memory_growth=2.0, max_memory_mb=8000)
    an = Analysis(function=hog, input=[0], job_definition=jd).run()
    status = an.wait_done(timeout=120)
    attempts = an.status(0)["attempts"]
    assert status["status"] == "SUCCEEDED", attempts
    assert attempts[0]["status"] == "FAILED" and attempts[0]["reason"].startswith("out of memory")
    assert [a["resources"]["memory_mb"] for a in attempts] == [400 * 2**k for k in range(len(attempts))]
    assert attempts[-1]["status"] == "SUCCEEDED"


def test_retry_on_timeout_grows_the_time_limit(tmp_path):
    def sleepy(ac):
        import pathlib
        import time

        marker = pathlib.Path(ac.input)
        if not marker.exists():
            marker.write_text("tried")
            time.sleep(30)

    jd = JobDefinition(timeout_seconds=1, retries=1, retry_on=("timeout",), timeout_growth=3.0)
    an = Analysis(function=sleepy, input=[str(tmp_path / "m")], job_definition=jd).run()
    assert an.wait_done(timeout=120)["status"] == "SUCCEEDED"
    attempts = an.status(0)["attempts"]
    assert [a["status"] for a in attempts] == ["FAILED", "SUCCEEDED"]
    assert attempts[0]["reason"].startswith("timeout")
    assert [a["resources"]["timeout_seconds"] for a in attempts] == [1, 3]


def test_an_exception_is_not_retried_unless_asked():
    def broken(ac):
        raise ValueError("typo in the region")

    an = Analysis(function=broken, input=[0], job_definition=JobDefinition(retries=2)).run()
    assert an.wait_done(timeout=60)["status"] == "FAILED"
    assert len(an.status(0)["attempts"]) == 1
    again = Analysis(function=broken, input=[0], job_definition=JobDefinition(retries=2, retry_on=("error",))).run()
    assert again.wait_done(timeout=60)["status"] == "FAILED"
    assert [a["status"] for a in again.status(0)["attempts"]] == ["FAILED"] * 3


def test_job_definition_refuses_unknown_retry_kinds_and_bad_growth():
    with pytest.raises(InvalidAnalysis, match="retry_on"):
        JobDefinition(retries=1, retry_on=("oom", "cosmic rays"))
    with pytest.raises(InvalidAnalysis, match="memory_growth"):
        JobDefinition(memory_growth=0.5)
    with pytest.raises(InvalidAnalysis, match="max_memory_mb"):
        JobDefinition(memory_mb=4000, max_memory_mb=1000)


# -- faces ----------------------------------------------------------------------------------------
def test_explorer_rerun_magic_reruns_given_indices(failed_array, capsys):
    from explorer_magics import shell

    an, marker = failed_array
    marker.write_text("fixed")
    ip = shell.get_ipython()
    ip.extension_manager.load_extension("explorer_magics")
    ip.run_line_magic("explorer_rerun", f"{an.id} --indices 0,3-3")
    assert "Rerunning 2 element(s)" in capsys.readouterr().out
    from explorer_magics.job_manager import JobManager

    again = JobManager().get_analysis(job_id=an.id)
    again.wait_done(timeout=120)
    assert again.status()["summary"] == {"SUCCEEDED": 6, "FAILED": 1}
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="No element 9"):
        ip.run_line_magic("explorer_rerun", f"{an.id} --indices 9")
    with pytest.raises(UsageError, match="not an index"):
        ip.run_line_magic("explorer_rerun", f"{an.id} --indices 1,x")


def test_parse_indices_reads_lists_and_ranges():
    from explorer_magics.rerun import parse_indices

    assert parse_indices("1,5-9") == [1, 5, 6, 7, 8, 9]
    assert parse_indices(" 3 , 4 ") == [3, 4]
    with pytest.raises(InvalidAnalysis):
        parse_indices("9-5")


def _unused(path: Path) -> None:  # keeps tmp_path-only helpers importable
    del path


# -- the README's worked example -------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("samtools") is None, reason="samtools is not installed (`make test` installs it)")
def test_coverage_worked_example_reruns_the_failed_samples(tmp_path):
    """The reference's read-depth example on synthetic CRAMs: two samples' indexes are missing,
    their elements fail; once uploaded, rerun() runs just those two; resume=True then runs none."""
    import random
    import subprocess

    from explorer_magics.models import File

    rng = random.Random(4988235)
    contig, length, locus, read = "chr2", 3000, 1500, 100
    sequence = "".join(rng.choice("ACGT") for _ in range(length))
    reference = tmp_path / "chr2.fa"
    reference.write_text(f">{contig}\n" + "\n".join(sequence[i : i + 60] for i in range(0, length, 60)) + "\n")
    folder = "e://users/me/coverage"
    crams, truth = [], {}
    for n in range(6):
        name = f"SAMPLE{n:02d}"
        starts = sorted(rng.randint(locus - read + 1, locus) for _ in range(5 + 3 * n))
        rows = ["@HD\tVN:1.6\tSO:coordinate", f"@SQ\tSN:{contig}\tLN:{length}"]
        for k, start in enumerate(starts):
            bases = sequence[start - 1 : start - 1 + read]
            rows.append(f"{name}.{k}\t0\t{contig}\t{start}\t60\t{read}M\t*\t0\t0\t{bases}\t{'I' * read}")
        sam = tmp_path / f"{name}.sam"
        sam.write_text("\n".join(rows) + "\n")
        cram = tmp_path / f"{name}.cram"
        command = ["samtools", "view", "--no-PG", "-C", "-T", str(reference), "-o", str(cram), str(sam)]
        subprocess.run(command, check=True)
        subprocess.run(["samtools", "index", str(cram)], check=True)
        File(path_local=str(cram), path_e=f"{folder}/{name}.cram").upload()
        if n not in (2, 4):  # two indexes "never made it"
            File(path_local=f"{cram}.crai", path_e=f"{folder}/{name}.cram.crai").upload()
        crams.append((name, f"{folder}/{name}.cram"))
        truth[name] = len(starts)
    ref = File(path_local=str(reference), path_e=f"{folder}/chr2.fa").upload()
    region = f"{contig}:{locus}-{locus}"

    from tests.helpers import notebook_namespace

    ns = notebook_namespace(
        f"""
        from explorer_magics.models import File
        REGION = "{region}"

        def get_depth(ac):
            sample, cram_e = ac.input
            reference_path = ac.input_shared.reference.as_local()
            cram = File(path_e=cram_e).as_local()
            File(path_e=cram_e + ".crai", path_local=f"{{cram}}.crai").as_local()
            lines = !samtools mpileup --reference {{reference_path}} --region {{REGION}} {{cram}} 2> /dev/null \\
                | awk '{{{{print $$4}}}}'
            ac.output.depth = int(lines[0])
        """
    )
    get_depth = ns["get_depth"]

    an = Analysis(
        function=get_depth, input=crams, input_shared=InputShared(reference=ref), job_definition=JobDefinition(cpu=1)
    ).run()
    assert an.wait_done(timeout=120)["summary"] == {"SUCCEEDED": 4, "FAILED": 2}
    kept = {i: _task_bytes(an, i) for i in (0, 1, 3, 5)}
    for n in (2, 4):
        File(path_local=str(tmp_path / f"SAMPLE{n:02d}.cram.crai"), path_e=f"{folder}/SAMPLE{n:02d}.cram.crai").upload()

    an.rerun()
    assert an.wait_done(timeout=120)["summary"] == {"SUCCEEDED": 6}
    assert [an.get_output(i).value("depth") for i in range(6)] == [truth[s] for s, _ in crams]
    assert all(_task_bytes(an, i) == before for i, before in kept.items())
    assert [a["status"] for a in an.status(2)["attempts"]] == ["FAILED", "SUCCEEDED"]

    again = Analysis(
        function=get_depth,
        input=crams,
        input_shared=InputShared(reference=ref),
        job_definition=JobDefinition(cpu=1),
        resume=True,
    ).run()
    assert again.status()["summary"] == {"SUCCEEDED": 6}
    assert [again.status(i)["cached"]["analysis"] for i in range(6)] == [an.id] * 6


def test_widget_offers_rerun_failed_with_the_count_and_reruns_on_the_second_click(failed_array):
    from explorer_magics import widgets

    an, marker = failed_array
    view = widgets.AnalysisView(an, autostart=False)
    view.refresh()
    assert view.rerun_button.layout.display == "" and view.rerun_button.description == "Rerun 3 failed"
    marker.write_text("fixed")
    view.rerun_failed()  # the first click only asks
    assert "Confirm" in view.rerun_button.description and an.status()["status"] == "FAILED"
    view.rerun_failed()
    assert "Rerunning 3 failed" in view.message.value
    view.stop()
    assert an.wait_done(timeout=120)["summary"] == {"SUCCEEDED": 7}
    view.refresh()
    assert view.rerun_button.layout.display == "none"
    view.element.value = 3
    assert [label for label, _ in view.attempt.options] == ["latest attempt", "0 · FAILED"]
    view.show_logs(3, attempt=0)
    assert "bad region for sample 3" in view.log_pane.value and "attempt 0" in view.log_pane.value
    view.close()


def test_explorer_job_magic_resumes_with_resume_flag():
    from explorer_magics import shell

    ip = shell.get_ipython()
    ip.extension_manager.load_extension("explorer_magics")
    ip.user_ns["numbers"] = [1, 2, 3]
    cell = "ac.output.x = ac.input * 2\n"
    ip.run_cell_magic("explorer_job", "--name dbl --input numbers", cell)
    first = ip.user_ns["dbl"]
    first.wait_done(timeout=60)
    ip.run_cell_magic("explorer_job", "--name dbl --input numbers --resume", cell)
    again = ip.user_ns["dbl"]
    assert again.id != first.id
    assert [again.status(i)["cached"]["analysis"] for i in range(3)] == [first.id] * 3


def test_an_analysis_run_with_run_local_is_a_source_for_resume(monkeypatch):
    first = Analysis(function=_double, input=[4, 5], name="double").run_local()
    compute = session.compute("local")
    monkeypatch.setattr(type(compute), "submit", lambda *a, **k: pytest.fail("nothing should be submitted"))
    again = Analysis(function=_double, input=[4, 5], name="double", resume=True).run()
    assert [again.status(i)["cached"] for i in range(2)] == [{"analysis": first.id, "index": i} for i in range(2)]
    assert again.get_output(1).value("x") == 10


def test_failed_elements_of_an_analysis_still_running_can_be_rerun(tmp_path):
    gate, marker = tmp_path / "go", tmp_path / "fixed"

    def work(ac):
        import pathlib
        import time

        if ac.input == 0 and not marker.exists():
            raise RuntimeError("bad region")
        while ac.input == 1 and not pathlib.Path(gate).exists():
            time.sleep(0.05)

    an = Analysis(function=work, input=[0, 1]).run()
    from tests.helpers import wait_for

    wait_for(lambda: an.status().get("summary", {}).get("FAILED") == 1, what="element 0 to fail")
    assert an.status()["status"] == "RUNNING"
    marker.write_text("fixed")
    an.rerun(indices=[0])
    wait_for(lambda: an.status(0)["status"] == "SUCCEEDED", timeout=60, what="element 0 to succeed")
    assert an.status(1)["status"] == "RUNNING"
    gate.write_text("go")
    assert an.wait_done(timeout=60)["summary"] == {"SUCCEEDED": 2}


# -- retries the SDK makes, for a backend that cannot grow an attempt (as AWS Batch) ---------------
class _OneShotCompute(StoredCompute):
    """Runs the elements it is given at once, in this process, with the job definition it is
    handed (as a Batch job definition), and never retries anything itself."""

    name = "oneshot"

    def submit(self, manifest, dependencies=(), indices=None):  # noqa: ANN001
        import tempfile

        from explorer_magics.runner import execute, load_payload

        for i in range(manifest.count) if indices is None else indices:
            function, names, value, shared, config = load_payload(self.storage, manifest, i)
            with tempfile.TemporaryDirectory() as workdir:
                execute(self.storage, manifest, i, function, value, shared, config, workdir, shell_names=names)
        found = [self._stored_element(manifest, i) for i in range(manifest.count)]
        letters = bytes(records.STATUS_LETTERS[e.status][0] for e in found)
        self.storage.put_bytes(manifest.layout.elements, letters)
        counts = dict(collections.Counter(e.status for e in found))
        summary = records.StatusSummary(records.overall_status(counts, manifest.count), counts, manifest.size)
        self.storage.put_bytes(manifest.layout.summary, summary.to_json())
        return {}

    def terminate(self, manifest, index=None):  # noqa: ANN001
        """Nothing runs on after submit."""


@pytest.fixture
def oneshot(monkeypatch):
    original = session.compute_class
    monkeypatch.setattr(session, "compute_class", lambda name: _OneShotCompute if name == "oneshot" else original(name))
    return "oneshot"


def _needs_a_gigabyte(ac):
    if ac.job_definition.memory_mb < 1000:
        raise MemoryError()
    ac.output.memory = ac.job_definition.memory_mb


def test_the_sdk_retries_with_more_memory_where_the_backend_cannot(oneshot):
    jd = JobDefinition(memory_mb=400, retries=3, retry_on=("oom",), memory_growth=2.0)
    an = Analysis(function=_needs_a_gigabyte, input=[1, 2], job_definition=jd, compute=oneshot).run()
    assert an.wait_done(timeout=60)["summary"] == {"SUCCEEDED": 2}
    attempts = an.status(1)["attempts"]
    assert [(a["status"], a["resources"]["memory_mb"]) for a in attempts] == [
        ("FAILED", 400),
        ("FAILED", 800),
        ("SUCCEEDED", 1600),
    ]
    assert attempts[0]["reason"].startswith("out of memory")
    assert an.get_output(1).value("memory") == 1600


def test_the_sdk_stops_at_max_memory_and_does_not_retry_an_exception(oneshot):
    jd = JobDefinition(memory_mb=400, retries=5, retry_on=("oom",), max_memory_mb=700)
    capped = Analysis(function=_needs_a_gigabyte, input=[1], job_definition=jd, compute=oneshot).run()
    assert capped.wait_done(timeout=60)["status"] == "FAILED"
    assert [a["resources"]["memory_mb"] for a in capped.status(0)["attempts"]] == [400, 700]

    def broken(ac):
        raise ValueError("typo")

    plain = Analysis(function=broken, input=[1], job_definition=JobDefinition(retries=2), compute=oneshot).run()
    assert plain.wait_done(timeout=60)["status"] == "FAILED"
    assert len(plain.status(0)["attempts"]) == 1


def test_failures_are_sorted_by_what_a_retry_can_fix():
    from explorer_magics.rerun import failure_kind

    assert failure_kind("out of memory: the element needed more than memory_mb=400 (MemoryError)") == "oom"
    assert failure_kind("killed by SIGKILL (out of memory above memory_mb=400, or killed from outside)") == "oom"
    assert failure_kind("timeout: the element ran longer than timeout_seconds=5") == "timeout"
    assert failure_kind("the local cluster supervisor stopped while this element ran; run it again") == "node"
    assert failure_kind("Host EC2 (instance i-0abc) terminated.") == "node"
    assert failure_kind("ValueError: out of memory buffer in sample 3") == "error"  # the user's own words
    assert failure_kind("RuntimeError: hotspot region") == "error"
    assert failure_kind("terminated by user") is None
    assert failure_kind("dependency align (2026-...) FAILED") is None
