"""compute=slurm on a real Slurm cluster (Debian's slurm-wlm, started by devcluster/slurm.py).

The cluster runs for the whole session; each test has its own Explorer home and storage (a
directory: on one machine every "node" reaches it, as NFS would). ``sbatch``/``squeue`` are
counted by wrappers first on PATH, so the tests see how often Slurm is asked.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from devcluster import slurm as devcluster
from explorer_magics import session
from explorer_magics.analysis import Analysis, JobDefinition
from explorer_magics.compute.slurm import scheduler
from explorer_magics.errors import InvalidAnalysis
from tests.helpers import wait_for
from tests.slurm_cluster import calls

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(not devcluster.available(), reason="slurm-wlm/munge not installed (make test installs them)"),
]


def square(ac):
    print(f"element {ac.job_index} says hello")
    ac.output.value(key="square", value=ac.input * ac.input)


def test_an_array_runs_on_slurm_with_one_sbatch_and_every_output_is_right(slurm):
    before = calls(slurm, "sbatch")
    an = Analysis(function=square, input=list(range(6))).run()
    assert calls(slurm, "sbatch") == before + 1
    status = an.wait_done(timeout=120)
    assert status == {"status": "SUCCEEDED", "size": 6, "summary": {"SUCCEEDED": 6}}
    assert [an.get_output(i).value("square") for i in range(6)] == [i * i for i in range(6)]
    assert b"element 3 says hello" in an._compute().read_log(an.manifest, 3, "stdout", 0).data
    assert an.manifest.backend["jobs"][0]["count"] == 6


def test_a_single_input_is_one_plain_job(slurm):
    an = Analysis(function=square, input=7).run()
    assert an.wait_done(timeout=120)["status"] == "SUCCEEDED"
    assert an.get_output().value("square") == 49
    assert an.manifest.backend["array"] is False


def test_an_array_larger_than_max_array_size_is_split_into_few_sbatch_calls(slurm, monkeypatch):
    # the cluster's MaxArraySize as scontrol reports it (here made 4 by a wrapper): 10 elements, 3 jobs
    real = "/usr/bin/scontrol"
    wrapper = slurm.bin / "scontrol"
    original = wrapper.read_text()
    wrapper.write_text(
        '#!/bin/sh\nif [ "$1 $2" = "show config" ]; then '
        f'{real} "$@" | sed "s/^MaxArraySize .*/MaxArraySize            = 4/"; else exec {real} "$@"; fi\n'
    )
    try:
        scheduler.forget_limits()
        before = calls(slurm, "sbatch")
        an = Analysis(function=square, input=list(range(10))).run()
        assert calls(slurm, "sbatch") == before + 3
        assert [j["count"] for j in an.manifest.backend["jobs"]] == [4, 4, 2]
        assert an.wait_done(timeout=120)["status"] == "SUCCEEDED"
        assert [an.get_output(i).value("square") for i in range(10)] == [i * i for i in range(10)]
    finally:
        wrapper.write_text(original)
        scheduler.forget_limits()


def failing_on_two(ac):
    if ac.input == 2:
        raise ValueError("two is not allowed")
    ac.output.value(key="x", value=ac.input)


def test_a_failed_dependency_fails_its_dependents_with_the_reason(slurm):
    up = Analysis(function=failing_on_two, input=[1, 2, 3], name="up")
    down = Analysis(function=square, input=[1, 2, 3], depends_on=[up], name="down").run()
    assert up.wait_done(timeout=120)["status"] == "FAILED"
    assert up.status(1)["reason"] == "ValueError: two is not allowed"
    status = down.wait_done(timeout=120)
    expected = f"dependency up ({up.id}) FAILED"
    assert status["status"] == "FAILED"
    assert status["summary"] == {"FAILED": 3}
    assert {down.status(i)["reason"] for i in range(3)} == {expected}


def test_a_dependency_that_succeeds_lets_its_dependents_run_after_it(slurm):
    up = Analysis(function=square, input=[1, 2], name="up")

    def plus(ac):
        dep = ac.dependency("up")
        ac.output.value(key="y", value=dep.get_output(ac.job_index).value("square") + 1)

    down = Analysis(function=plus, input=[0, 0], depends_on=[up], name="down").run()
    assert down.wait_done(timeout=120)["status"] == "SUCCEEDED"
    assert [down.get_output(i).value("y") for i in range(2)] == [2, 5]
    assert up.status()["status"] == "SUCCEEDED"


def test_aftercorr_starts_element_i_when_element_i_of_the_dependency_succeeded(slurm, monkeypatch):
    monkeypatch.setenv("EXPLORER_SLURM_AFTERCORR", "1")
    session.reset()

    def slow_on_zero(ac):
        import time as _t

        if ac.input == 0:
            _t.sleep(60)
        ac.output.value(key="square", value=ac.input * ac.input)

    up = Analysis(function=slow_on_zero, input=[0, 1], name="up")

    def plus(ac):
        ac.output.value(key="y", value=ac.dependency("up").get_output(ac.job_index).value("square") + 1)

    down = Analysis(function=plus, input=[0, 0], depends_on=[up], name="down").run()
    # element 1 of down runs while element 0 of up is still running
    wait_for(lambda: down.status(1)["status"] == "SUCCEEDED", timeout=90, what="down[1] to succeed")
    assert up.status(0)["status"] == "RUNNING"
    assert down.get_output(1).value("y") == 2
    up.terminate_all()
    down.terminate_all()


def sleeper(ac):
    import time as _t

    print("started", flush=True)
    _t.sleep(120)


def test_logs_are_live_while_the_element_runs_on_its_node(slurm):
    an = Analysis(function=sleeper, input=None).run()
    compute = an._compute()
    wait_for(lambda: b"started" in compute.read_log(an.manifest, 0, "stdout", 0).data, timeout=60, what="the live log")
    assert an.status()["status"] == "RUNNING"
    an.terminate()
    assert an.wait_done(timeout=60)["status"] == "FAILED"
    assert an.status(0)["reason"] == "terminated by user"


def test_terminate_one_element_and_then_all(slurm):
    an = Analysis(function=sleeper, input=list(range(4))).run()
    wait_for(lambda: an.status(1)["status"] == "RUNNING", timeout=60, what="element 1 running")
    an.terminate(1)
    wait_for(lambda: an.status(1)["status"] == "FAILED", timeout=60, what="element 1 stopped")
    assert an.status(1)["reason"] == "terminated by user"
    assert an.status()["status"] == "RUNNING"
    an.terminate_all()
    status = an.wait_done(timeout=60)
    assert status["summary"] == {"FAILED": 4}
    assert {an.status(i)["reason"] for i in range(4)} == {"terminated by user"}


def test_timeout_is_enforced_exactly_and_the_reason_says_so(slurm):
    an = Analysis(function=sleeper, input=None, job_definition=JobDefinition(timeout_seconds=2)).run()
    assert an.wait_done(timeout=90)["status"] == "FAILED"
    assert an.status(0)["reason"] == "timeout: the element ran longer than timeout_seconds=2"


def test_an_element_over_its_memory_is_killed_by_the_cgroup_and_says_out_of_memory(slurm):
    def hog(ac):
        block = bytearray(600 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])
        print(len(block))

    an = Analysis(function=hog, input=None, job_definition=JobDefinition(memory_mb=200)).run()
    assert an.wait_done(timeout=90)["status"] == "FAILED"
    reason = an.status(0)["reason"]
    assert reason.startswith("out of memory") and "memory_mb=200" in reason


def test_an_element_killed_for_memory_is_retried_with_more_memory(slurm):
    """Retries that learn on Slurm: the SDK resubmits the OOM-killed element with memory_mb x
    memory_growth (Slurm cannot grow a requeued job's memory), keeping the first attempt."""

    def hog(ac):
        block = bytearray(300 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])
        ac.output.value(key="mb", value=len(block) // (1024 * 1024))

    jd = JobDefinition(memory_mb=150, retries=1, retry_on=("oom",), memory_growth=4.0, max_memory_mb=1000)
    an = Analysis(function=hog, input=None, job_definition=jd).run()
    assert an.wait_done(timeout=180)["status"] == "SUCCEEDED"
    assert an.get_output().value("mb") == 300
    attempts = an.status(0)["attempts"]
    assert [a["status"] for a in attempts] == ["FAILED", "SUCCEEDED"]
    assert attempts[0]["reason"].startswith("out of memory")


def test_pip_packages_are_installed_once_per_node_in_its_scratch_dir(slurm, tmp_path):
    pytest.importorskip("pip")

    def work(ac):
        import humanize

        ac.output.value(key="v", value=humanize.intcomma(1234567))

    an = Analysis(function=work, input=[1, 2, 3], pip_packages=["humanize==4.9.0"]).run()
    assert an.wait_done(timeout=240)["status"] == "SUCCEEDED"
    assert [an.get_output(i).value("v") for i in range(3)] == ["1,234,567"] * 3
    envs = [e for e in (tmp_path / "node-scratch" / "explorer-alice" / "pip-envs").iterdir() if e.is_dir()]
    assert len(envs) == 1


def test_storage_the_nodes_cannot_reach_is_refused_before_anything_is_written(slurm, monkeypatch, explorer_env):
    monkeypatch.setenv("EXPLORER_STORAGE", "local")  # the embedded default: a directory in this home
    session.reset()
    before = calls(slurm, "sbatch")
    with pytest.raises(InvalidAnalysis, match="shared_paths"):
        Analysis(function=square, input=[1, 2]).run()
    assert calls(slurm, "sbatch") == before
    assert not (explorer_env / "eos").exists() or not any((explorer_env / "eos").rglob("manifest.json"))


def test_ten_thousand_elements_are_submitted_with_one_sbatch_call(slurm):
    before = calls(slurm, "sbatch")
    an = Analysis(function=square, input=list(range(10_000)), name="big").run()
    assert calls(slurm, "sbatch") == before + 1
    summary = an._compute().summary(an.manifest)
    assert sum(summary.counts.values()) == 10_000
    an.terminate_all()  # the test is about submission: the rest need not run
    wait_for(lambda: an._compute().summary(an.manifest).finished, timeout=120, what="the array to be cancelled")


def test_status_of_many_analyses_is_one_squeue_per_poll(slurm):
    analyses = [Analysis(function=sleeper, input=[1, 2], name=f"a{i}").run() for i in range(4)]
    before = calls(slurm, "squeue")
    started = time.monotonic()
    polls = 0
    while time.monotonic() - started < 3:
        for an in analyses:
            an.status()
        polls += 1
    elapsed = time.monotonic() - started
    asked = calls(slurm, "squeue") - before
    assert polls * len(analyses) > asked  # every status call did not ask Slurm
    assert asked <= elapsed / scheduler.MIN_INTERVAL + 1
    for an in analyses:
        an.terminate_all()


def test_logs_are_live_with_s3_storage_too(slurm, s3_storage):
    # on S3 the node uploads the log as it grows (there is no shared file to append to)
    an = Analysis(function=sleeper, input=[1]).run()
    compute = an._compute()
    wait_for(
        lambda: b"started" in compute.read_log(an.manifest, 0, "stdout", 0).data, timeout=60, what="the live log on S3"
    )
    assert an.status(0)["status"] == "RUNNING"
    an.terminate_all()
    assert an.wait_done(timeout=60)["summary"] == {"FAILED": 1}
    assert an.status(0)["reason"] == "terminated by user"


def test_dependents_fail_even_when_slurm_would_leave_them_pending_forever(slurm, monkeypatch):
    # --kill-on-invalid-dep=no: Slurm keeps the dependents PENDING (DependencyNeverSatisfied); Explorer
    # cancels them itself and says which dependency failed
    monkeypatch.setenv("EXPLORER_SLURM_SBATCH_OPTIONS", "--kill-on-invalid-dep=no")
    session.reset()
    up = Analysis(function=failing_on_two, input=[2], name="up")
    down = Analysis(function=square, input=[1, 2], depends_on=[up], name="down").run()
    assert "--kill-on-invalid-dep=no" in down._compute().sbatch_options(down.manifest)
    status = down.wait_done(timeout=120)
    assert status["summary"] == {"FAILED": 2}
    assert {down.status(i)["reason"] for i in range(2)} == {f"dependency up ({up.id}) FAILED"}
    # and Slurm no longer holds them
    jobs = [str(j["id"]) for j in down.manifest.backend["jobs"]]
    wait_for(
        lambda: not slurm.run("squeue", "-h", "-t", "PENDING", "-j", ",".join(jobs), check=False).strip(),
        timeout=30,
        what="the dependents to leave the queue",
    )


def test_explorer_slurm_check_runs_one_tiny_element_on_a_node(slurm, capsys):
    from explorer_magics.cli import main

    assert main(["slurm", "check", "--timeout", "120"]) == 0
    out = capsys.readouterr().out
    assert "ok   slurmctld" in out
    assert "ok   partition: explorer (the cluster's default)" in out
    assert "ok   storage from a node: node " in out


def test_explorer_slurm_check_names_a_missing_partition(slurm, monkeypatch, capsys):
    from explorer_magics.cli import main

    monkeypatch.setenv("EXPLORER_SLURM_PARTITION", "gpu-big")
    assert main(["slurm", "check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL partition: partition 'gpu-big' not found; there are: explorer. Set [slurm] partition." in out


# -- the reference's examples and the example notebooks, unchanged, on Slurm -------------------
_REFERENCE = [
    "test_work_function_with_imports_and_helpers_inside",
    "test_interleaving_shell_and_python",
    "test_braces_and_dollars_behave_as_the_reference_table_says",
    "test_array_jobs_and_their_logs",
    "test_job_input_and_output",
    "test_status_and_logs",
    "test_job_manager_retrieval_and_listing",
    "test_waiters",
    "test_custom_pip_packages",
    "test_job_resources_and_global_config",
    "test_job_dependencies_pass_files_by_name",
    "test_terminating_jobs",
    "test_anonymous_work_function_with_lambda",
]


@pytest.mark.parametrize("example", _REFERENCE)
def test_the_reference_examples_run_unchanged_on_slurm(slurm, example, request):
    import inspect

    from tests import test_reference_examples as reference

    test = getattr(reference, example)
    args = {name: request.getfixturevalue(name) for name in inspect.signature(test).parameters}
    before = calls(slurm, "sbatch")
    test(**args)
    assert calls(slurm, "sbatch") > before  # (it really went to Slurm)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("samtools") is None, reason="samtools is not installed (`make test` apt-installs it)")
def test_the_coverage_notebook_runs_unchanged_on_slurm(slurm, tmp_path):
    from tests.test_notebooks import execute, outputs_of

    before = calls(slurm, "sbatch")
    nb = execute("coverage.ipynb", tmp_path)
    depths = outputs_of(nb, "outputs = [an.get_output(i)")[0].splitlines()
    assert len(depths) == 12 and all(line.startswith("SAMPLE") for line in depths)
    assert calls(slurm, "sbatch") > before


@pytest.mark.slow
def test_the_quickstart_notebook_runs_unchanged_on_slurm(slurm, tmp_path):
    from tests.test_notebooks import execute, outputs_of

    before = calls(slurm, "sbatch")
    nb = execute("quickstart.ipynb", tmp_path)
    assert outputs_of(nb, "[an.get_output(i)")[0].strip() == "['FOO', 'BAR', 'BAZ']"
    assert outputs_of(nb, "total.wait_done()")[0].strip() == "55"
    assert outputs_of(nb, "%explorer_logs")[0].splitlines() == ["Hello, BAR!"]
    assert calls(slurm, "sbatch") > before


@pytest.fixture
def slurm_with_accounting(slurm, tmp_path, monkeypatch):
    """A second cluster with slurmdbd + MariaDB (sacct works) that forgets ended jobs quickly."""
    if not shutil.which("slurmdbd") or not shutil.which("mariadbd"):
        pytest.skip("slurmdbd/mariadb-server not installed (make test installs them)")
    cluster = devcluster.start(tmp_path / "accounting-cluster", accounting=True, min_job_age=2)
    try:
        monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
        scheduler.forget_limits()
        session.reset()
        yield cluster
    finally:
        cluster.stop()
        scheduler.forget_limits()


@pytest.mark.slow
def test_with_accounting_sacct_says_how_an_element_squeue_forgot_ended(slurm_with_accounting, monkeypatch):
    cluster = slurm_with_accounting
    monkeypatch.setenv("EXPLORER_SLURM_SBATCH_OPTIONS", "--begin=now+1hour")  # it waits: it never runs
    session.reset()
    an = Analysis(function=square, input=[1, 2]).run()
    assert scheduler.limits().accounting
    job = an.manifest.backend["jobs"][0]["id"]
    assert an.status()["summary"] == {"RUNNABLE": 2}
    cluster.run("scancel", str(job))  # from outside Explorer: no record, no terminate marker
    wait_for(
        lambda: not cluster.run("squeue", "-h", "-t", "all", "-j", str(job), check=False).strip(),
        timeout=180,
        what="slurmctld to forget the cancelled job",
    )
    before = scheduler.accounting().calls
    status = an.wait_done(timeout=20)  # well inside the grace for elements nobody reports on
    assert status["summary"] == {"FAILED": 2}
    assert an.status(0)["reason"] == "cancelled in Slurm (scancel from outside Explorer, or by an administrator)"
    assert scheduler.accounting().calls > before


def test_without_slurm_commands_nothing_is_written(slurm, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    session.reset()
    with pytest.raises(InvalidAnalysis, match="sbatch, squeue, scancel"):
        Analysis(function=square, input=[1, 2]).run()
    assert not any(Path(os.environ["EXPLORER_STORAGE"]).rglob("manifest.json"))


def test_throttle_limits_how_many_elements_run_at_once(slurm, monkeypatch):
    monkeypatch.setenv("EXPLORER_SLURM_THROTTLE", "2")
    session.reset()
    an = Analysis(function=square, input=list(range(5))).run()
    job = an.manifest.backend["jobs"][0]["id"]
    assert "ArrayTaskThrottle=2" in slurm.run("scontrol", "show", "job", str(job))
    assert an.wait_done(timeout=120)["status"] == "SUCCEEDED"
    assert [an.get_output(i).value("square") for i in range(5)] == [i * i for i in range(5)]


def test_a_finished_analysis_is_answered_from_storage_without_asking_slurm(slurm):
    an = Analysis(function=failing_on_two, input=[1, 2, 3]).run()
    assert an.wait_done(timeout=120)["summary"] == {"SUCCEEDED": 2, "FAILED": 1}
    held = Analysis(function=sleeper, input=list(range(3))).run()
    held.terminate_all()  # elements that never started have no record of their own
    assert held.wait_done(timeout=60)["summary"] == {"FAILED": 3}
    session.reset()  # a new process (a restarted server, another kernel) looks at them
    before = calls(slurm, "squeue") + calls(slurm, "sacct")
    again = Analysis._from_manifest(an.manifest)
    assert again.status() == {"status": "FAILED", "size": 3, "summary": {"SUCCEEDED": 2, "FAILED": 1}}
    assert [(e.index, e.status) for e in again.elements()] == [(1, "FAILED"), (0, "SUCCEEDED"), (2, "SUCCEEDED")]
    assert again.status(1)["reason"] == "ValueError: two is not allowed"
    other = Analysis._from_manifest(held.manifest)
    assert {e.reason for e in other.elements()} == {"terminated by user"}
    assert {k: v for k, v in other.status(2).items() if k in ("status", "reason")} == {
        "status": "FAILED",
        "reason": "terminated by user",
    }
    assert calls(slurm, "squeue") + calls(slurm, "sacct") == before


def test_a_rerun_of_some_elements_runs_only_those_and_counts_every_element(slurm, tmp_path):
    import dataclasses

    flag = str(tmp_path / "odd-ones-fail")
    Path(flag).write_text("x")

    def work(ac):
        import os as _os

        if ac.input % 2 and _os.path.exists(flag):
            raise ValueError("odd")
        ac.output.value(key="square", value=ac.input * ac.input)

    an = Analysis(function=work, input=list(range(5))).run()
    assert an.wait_done(timeout=120)["summary"] == {"SUCCEEDED": 3, "FAILED": 2}
    Path(flag).unlink()
    compute = an._compute()
    before = calls(slurm, "sbatch")
    backend = compute.submit(an.manifest, [], indices=[1, 3])  # what a rerun of the failed ones asks
    assert calls(slurm, "sbatch") == before + 1
    an._manifest = dataclasses.replace(an.manifest, backend=backend)
    session.storage().put_bytes(an.manifest.layout.manifest, an.manifest.to_json())
    status = an.wait_done(timeout=120)
    assert status == {"status": "SUCCEEDED", "size": 5, "summary": {"SUCCEEDED": 5}}
    assert [an.get_output(i).value("square") for i in range(5)] == [i * i for i in range(5)]


@pytest.mark.slow
def test_a_qos_max_submit_jobs_is_read_and_a_bigger_array_refused_with_what_to_do(
    slurm_with_accounting, slurm_cluster, monkeypatch
):
    cluster = slurm_with_accounting
    cluster.run("sacctmgr", "-i", "add", "qos", "tiny", "MaxSubmitJobsPerUser=3")
    monkeypatch.setenv("EXPLORER_SLURM_QOS", "tiny")
    session.reset()
    assert scheduler.limits("tiny").max_submit_jobs == 3
    before = calls(slurm_cluster, "sbatch")  # (the wrappers count every cluster's commands)
    with pytest.raises(InvalidAnalysis, match="at most 3 jobs queued; this analysis has 5 elements"):
        Analysis(function=square, input=list(range(5))).run()
    assert calls(slurm_cluster, "sbatch") == before


async def test_the_server_watches_several_slurm_analyses_with_one_squeue_per_poll(slurm, explorer_api):
    import asyncio
    import json

    analyses = [Analysis(function=sleeper, input=[1, 2], name=f"watched{i}").run() for i in range(3)]
    before = calls(slurm, "squeue")
    started = time.monotonic()
    for _ in range(6):  # three tabs each asking about every analysis
        for an in analyses:
            for _tab in range(3):
                response = await explorer_api("GET", f"analyses/{an.id}")
                assert response.code == 200
                assert json.loads(response.body)["compute"] == "slurm"
        await asyncio.sleep(0.25)
    asked = calls(slurm, "squeue") - before
    assert asked <= (time.monotonic() - started) / scheduler.MIN_INTERVAL + 2
    body = json.loads((await explorer_api("GET", f"analyses/{analyses[0].id}/elements")).body)
    assert body["total"] == 2 and {e["status"] for e in body["elements"]} <= {"RUNNABLE", "RUNNING"}
    for an in analyses:
        an.terminate_all()
