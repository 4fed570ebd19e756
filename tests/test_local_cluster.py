"""The local cluster: real processes, limits, failures, persistence across processes."""

from __future__ import annotations

import json
import os
import signal
import sys

import pytest

from explorer_magics import session
from explorer_magics.analysis import Analysis, InputShared, JobDefinition
from explorer_magics.compute.local.client import state_dir, supervisor_alive

from .helpers import run_python, wait_for


def _supervisor_pid() -> int:
    return int((state_dir(session.settings()) / "supervisor.lock").read_text())


def test_each_element_runs_in_its_own_process_that_is_not_the_submitter():
    an = Analysis(function=lambda ac: ac.output.value(key="pid", value=os.getpid()), input=[0, 1, 2]).run()
    an.wait_done(timeout=60)
    pids = {an.get_output(i).value("pid") for i in range(3)}
    assert len(pids) == 3
    assert os.getpid() not in pids
    assert _supervisor_pid() not in pids


def test_terminate_one_element_kills_its_process_tree_and_fails_it():
    marker_dir = session.settings().home / "markers"
    marker_dir.mkdir()

    def work(ac):
        import subprocess
        import time

        child = subprocess.Popen(["sleep", "60"])  # part of the element's process tree
        (marker_dir / f"{ac.job_index}.pid").write_text(str(child.pid))
        time.sleep(60 if ac.job_index == 0 else 0)

    an = Analysis(function=work, input=[0, 1]).run()
    pidfile = marker_dir / "0.pid"
    wait_for(lambda: pidfile.exists() and pidfile.read_text(), what="element 0 to start its child")
    grandchild = int(pidfile.read_text())
    an.terminate(0)
    status = an.wait_done(timeout=30)
    assert status["summary"] == {"FAILED": 1, "SUCCEEDED": 1}
    assert {k: an.status(0).get(k) for k in ("status", "reason")} == {
        "status": "FAILED",
        "reason": "terminated by user",
    }
    wait_for(lambda: not _alive(grandchild), what="the element's child process to be killed")


def test_terminating_a_dependency_fails_its_dependents():
    def slow(ac):
        import time

        time.sleep(60)

    up = Analysis(function=slow, input=None, name="up")
    down = Analysis(function=lambda ac: None, input=None, depends_on=[up], name="down").run()
    assert down.status()["status"] == "PENDING"
    up.wait_running_or_done(timeout=30)
    up.terminate()
    assert down.wait_done(timeout=30)["status"] == "FAILED"
    assert down.status(0)["reason"] == f"dependency up ({up.id}) FAILED"


def test_an_element_killed_from_outside_fails_with_a_reason():
    marker = session.settings().home / "pid"

    def work(ac):
        import os
        import time

        marker.write_text(str(os.getpid()))
        time.sleep(60)

    an = Analysis(function=work, input=None).run()
    wait_for(lambda: marker.exists() and marker.read_text(), what="the element to start")
    os.kill(int(marker.read_text()), signal.SIGKILL)
    assert an.wait_done(timeout=30)["status"] == "FAILED"
    assert an.status(0)["reason"].startswith("killed by SIGKILL")


def test_a_killed_supervisor_never_leaves_elements_running():
    def work(ac):
        import time

        time.sleep(60 if ac.input == "slow" else 0)

    an = Analysis(function=work, input=["slow", "slow", "fast", "fast"]).run()
    wait_for(lambda: an.status()["summary"].get("RUNNING") == 2, what="two elements running")
    old = _supervisor_pid()
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not supervisor_alive(state_dir(session.settings())), what="the supervisor to die")
    # The next look at the analysis notices, starts a new supervisor, which fails what was
    # running (its processes died with the supervisor) and runs what was waiting.
    status = an.wait_done(timeout=60)
    assert status["summary"] == {"FAILED": 2, "SUCCEEDED": 2}
    assert "supervisor stopped" in an.status(0)["reason"]
    assert _supervisor_pid() != old


def test_jobs_outlive_the_kernel_that_submitted_them():
    marker = session.settings().home / "go"
    result = run_python(
        f"""
        from explorer_magics.analysis import Analysis
        def work(ac):
            import pathlib, time
            while not pathlib.Path({str(marker)!r}).exists():
                time.sleep(0.05)
            print("done", ac.input)
            ac.output.value(key="v", value=ac.input * 10)
        an = Analysis(function=work, input=[1, 2]).run()
        """
    )
    assert result.returncode == 0, result.stderr
    analysis_id = result.stdout.split("Analysis ID: ")[1].split()[0]
    marker.write_text("go")  # the submitting process has exited by now
    check = run_python(
        f"""
        from explorer_magics.job_manager import JobManager
        an = JobManager().get_analysis(job_id={analysis_id!r})
        print(an.wait_done(timeout=60))
        print(an.get_output(1).value("v"))
        an.logs(0)
        """
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines() == [
        "{'status': 'SUCCEEDED', 'size': 2, 'summary': {'SUCCEEDED': 2}}",
        "20",
        "done 1",
    ]


def test_two_submitting_processes_share_one_limit_on_parallel_elements(tmp_path):
    log = tmp_path / "spans.jsonl"
    code = f"""
        from explorer_magics.analysis import Analysis
        def work(ac):
            import json, os, time
            start = time.time()
            time.sleep(0.3)
            with open({str(log)!r}, "a") as fh:
                fh.write(json.dumps([start, time.time()]) + "\\n")
        Analysis(function=work, input=list(range(4))).run().wait_done(timeout=120)
    """
    env = {"EXPLORER_MAX_PARALLEL": "2"}
    import subprocess

    procs = [
        subprocess.Popen([sys.executable, "-c", __import__("textwrap").dedent(code)], env={**os.environ, **env})
        for _ in range(2)
    ]
    assert [p.wait(timeout=180) for p in procs] == [0, 0]
    spans = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(spans) == 8
    # at no instant do more than two elements overlap, although two processes submitted at once
    assert _spans_peak(spans) == 2


def test_pip_packages_are_installed_for_the_job_and_not_in_the_kernel():
    pytest.importorskip("pip")
    with pytest.raises(ImportError):
        __import__("humanize")

    def work(ac):
        import humanize

        ac.output.value(key="size", value=humanize.naturalsize(3_000_000))

    an = Analysis(function=work, input=[1, 2], pip_packages=["humanize==4.9.0"]).run()
    status = an.wait_done(timeout=240)
    assert status["status"] == "SUCCEEDED", an.status(0)
    assert an.get_output(0).value("size") == "3.0 MB"
    with pytest.raises(ImportError):
        __import__("humanize")
    envs = list((session.settings().home / "pip-envs").iterdir())
    assert len([e for e in envs if e.is_dir()]) == 1  # one install for the package set, not per element
    # a second analysis with the same package set reuses it
    again = Analysis(function=work, input=None, pip_packages=["humanize==4.9.0"]).run()
    assert again.wait_done(timeout=60)["status"] == "SUCCEEDED"
    assert len([e for e in (session.settings().home / "pip-envs").iterdir() if e.is_dir()]) == 1


def test_an_uninstallable_pip_package_fails_every_element_with_pips_reason():
    an = Analysis(function=lambda ac: None, input=[1, 2], pip_packages=["explorer-no-such-package-xyz==0.0.1"]).run()
    status = an.wait_done(timeout=240)
    assert status["status"] == "FAILED" and status["summary"] == {"FAILED": 2}
    assert status["reason"].startswith("pip could not install explorer-no-such-package-xyz==0.0.1")
    assert an.status(1)["reason"].startswith("pip could not install explorer-no-such-package-xyz==0.0.1")


def test_the_runner_module_runs_one_element_like_a_cluster_node_would():
    """`python -m explorer_magics.runner` with the index in AWS_BATCH_JOB_ARRAY_INDEX."""
    import dataclasses

    from explorer_magics import records

    an = Analysis(function=lambda ac: ac.output.value(key="twice", value=ac.input * 2), input=[5, 6, 7])
    prepared = an._prepare("local")
    manifest = dataclasses.replace(an._write_record(prepared), compute="inline")
    session.storage().put_bytes(manifest.layout.manifest, manifest.to_json())
    result = run_python(
        f"import sys; from explorer_magics.runner import main; sys.exit(main(['--analysis', {manifest.id!r}]))",
        env={"AWS_BATCH_JOB_ARRAY_INDEX": "2"},
    )
    assert result.returncode == 0, result.stderr
    el = records.ElementStatus.from_json(session.storage().get_bytes(manifest.layout.status(2)))
    assert el.status == "SUCCEEDED"
    from explorer_magics.job_manager import JobManager

    assert JobManager().get_analysis(job_id=manifest.id).get_output(2).value("twice") == 14


def test_the_runner_records_a_work_function_it_cannot_load_as_the_elements_failure():
    import dataclasses

    from explorer_magics import records

    an = Analysis(function=lambda ac: None, input=[5, 6])
    manifest = dataclasses.replace(an._write_record(an._prepare("local")), compute="inline")
    session.storage().put_bytes(manifest.layout.manifest, manifest.to_json())
    session.storage().put_bytes(manifest.layout.function, b"not a pickle")
    argv = ["--analysis", manifest.id, "--index", "1"]
    result = run_python(f"import sys; from explorer_magics.runner import main; sys.exit(main({argv!r}))")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    el = records.ElementStatus.from_json(session.storage().get_bytes(manifest.layout.status(1)))
    assert el.status == "FAILED" and el.reason.startswith("cannot load the work function or input: UnpicklingError")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _count_storage_reads(monkeypatch) -> list[str]:
    """From now on, the key of every storage read is appended to the returned list."""
    storage = session.storage()
    calls: list[str] = []
    original = type(storage).get_bytes

    def counting(self, key, *args, **kwargs):
        calls.append(key)
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(type(storage), "get_bytes", counting)
    return calls


def test_status_reads_are_constant_in_the_array_size(monkeypatch):
    an = Analysis(function=lambda ac: None, input=list(range(300))).run()
    an.wait_done(timeout=120)
    calls = _count_storage_reads(monkeypatch)
    an.status()
    assert len(calls) == 1 and calls[0].endswith("summary.json")


def _spans_peak(spans: list[list[float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def test_one_analysis_never_runs_more_elements_at_once_than_the_limit(monkeypatch, tmp_path):
    # the launcher queues an element behind each running one; it must still wait for the slot
    monkeypatch.setenv("EXPLORER_MAX_PARALLEL", "2")
    session.reset()
    log = tmp_path / "spans.jsonl"

    def work(ac):
        import json
        import time

        start = time.time()
        time.sleep(0.05 * (ac.job_index % 3))
        with open(log, "a") as fh:
            fh.write(json.dumps([start, time.time()]) + "\n")

    an = Analysis(function=work, input=list(range(24))).run()
    assert an.wait_done(timeout=120)["status"] == "SUCCEEDED"
    spans = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(spans) == 24
    assert _spans_peak(spans) == 2


def test_terminating_an_element_that_waits_for_a_slot_means_it_never_runs(monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_PARALLEL", "2")
    session.reset()
    marker_dir = session.settings().home / "ran"
    marker_dir.mkdir()

    def work(ac):
        import time

        (marker_dir / str(ac.job_index)).touch()
        time.sleep(3 if ac.job_index < 2 else 0)

    an = Analysis(function=work, input=list(range(4))).run()
    wait_for(lambda: an.status()["summary"].get("RUNNING") == 2, what="two elements running")
    an.terminate(2)  # queued behind a running element, not started
    status = an.wait_done(timeout=60)
    assert status["summary"] == {"FAILED": 1, "SUCCEEDED": 3}
    assert {k: an.status(2).get(k) for k in ("status", "reason")} == {
        "status": "FAILED",
        "reason": "terminated by user",
    }
    assert sorted(p.name for p in marker_dir.iterdir()) == ["0", "1", "3"]


def test_a_killed_launcher_fails_the_elements_it_ran_and_the_rest_still_run(monkeypatch):
    """Elements are forked by a per-analysis launcher process (their parent). Killing it
    kills its running elements, which FAIL with a reason; the ones still waiting run."""
    monkeypatch.setenv("EXPLORER_MAX_PARALLEL", "2")
    session.reset()
    marker = session.settings().home / "launcher"

    def work(ac):
        import os
        import time

        if ac.input == "slow":
            marker.write_text(str(os.getppid()))
            time.sleep(60)
        ac.output.value(key="launcher", value=os.getppid())

    an = Analysis(function=work, input=["slow", "slow", "fast", "fast"]).run()
    wait_for(lambda: an.status()["summary"].get("RUNNING") == 2, what="two elements running")
    launcher = int(marker.read_text())
    assert launcher not in (os.getpid(), _supervisor_pid())
    os.kill(launcher, signal.SIGKILL)
    status = an.wait_done(timeout=60)
    assert status["summary"] == {"FAILED": 2, "SUCCEEDED": 2}
    assert an.status(0)["reason"] == "the process that starts this analysis's elements stopped unexpectedly"
    assert an.get_output(2).value("launcher") not in (launcher, _supervisor_pid())


class _HangsWhenUnpickled:
    def __reduce__(self):
        import time

        return (time.sleep, (3600,))


def test_a_launcher_stuck_loading_the_work_function_is_stopped_by_the_timeout():
    an = Analysis(
        function=lambda ac: None,
        input=None,
        input_shared=InputShared(reference=_HangsWhenUnpickled()),
        job_definition=JobDefinition(timeout_seconds=1),
    ).run()
    assert an.wait_done(timeout=60)["status"] == "FAILED"
    assert an.status(0)["reason"] == "timeout: the element ran longer than timeout_seconds=1"


def test_elements_get_their_own_random_streams():
    # elements are forked from one warm launcher; each must still draw different numbers
    def draw(ac):
        import random

        ac.output.value(key="r", value=random.random())

    an = Analysis(function=draw, input=list(range(6))).run()
    assert an.wait_done(timeout=60)["status"] == "SUCCEEDED"
    assert len({an.get_output(i).value("r") for i in range(6)}) == 6


class _RegistersAtForkHook:
    """Unpickling it registers an after-fork hook, as some libraries do when imported."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        code = f"import os, pathlib; os.register_at_fork(after_in_child=pathlib.Path({str(self.marker)!r}).touch)"
        return (exec, (code,))


def test_after_fork_hooks_registered_while_loading_the_work_function_run_in_every_element():
    marker = session.settings().home / "hook-ran"

    def work(ac):
        ac.output.value(key="hooked", value=marker.exists())

    an = Analysis(function=work, input=[0, 1], input_shared=InputShared(lib=_RegistersAtForkHook(marker))).run()
    assert an.wait_done(timeout=60)["status"] == "SUCCEEDED"
    assert [an.get_output(i).value("hooked") for i in range(2)] == [True, True]


def test_local_cluster_with_s3_storage_uploads_logs_and_outputs(s3_storage):
    # storage is not a local folder: elements write their logs to a spool, uploaded at the end
    def work(ac):
        import sys

        print(f"out {ac.input}")
        print(f"err {ac.input}", file=sys.stderr)
        ac.output.value(key="twice", value=ac.input * 2)

    an = Analysis(function=work, input=[1, 2, 3]).run()
    assert an.wait_done(timeout=120)["status"] == "SUCCEEDED", an.status(0)
    assert [an.get_output(i).value("twice") for i in range(3)] == [2, 4, 6]
    from explorer_magics.records import Layout

    layout = Layout(session.settings().user, an.id)
    assert session.storage().get_bytes(layout.log(2, "stdout")) == b"out 3\n"
    assert session.storage().get_bytes(layout.log(2, "stderr")) == b"err 3\n"


def test_a_page_of_the_element_list_reads_only_that_pages_status_files(monkeypatch):
    def work(ac):
        if ac.input % 50 == 7:
            raise ValueError(f"bad input {ac.input}")

    an = Analysis(function=work, input=list(range(300))).run()
    assert an.wait_done(timeout=120)["summary"] == {"FAILED": 6, "SUCCEEDED": 294}
    compute = an._compute()
    calls = _count_storage_reads(monkeypatch)
    page = compute.list_elements(an.manifest, offset=0, limit=10)
    # failed ones first, with their reasons, then the rest by index
    assert [e.index for e in page] == [7, 57, 107, 157, 207, 257, 0, 1, 2, 3]
    assert page[0].status == "FAILED" and page[0].reason == "ValueError: bad input 7"
    assert page[6].status == "SUCCEEDED"
    assert len(calls) == 2 + 10  # summary.json, elements.txt, and the page's own status files
    succeeded = compute.list_elements(an.manifest, status="SUCCEEDED", offset=290, limit=10)
    assert [e.index for e in succeeded] == [296, 297, 298, 299]  # 294 succeeded: 290..293 are the last


def test_an_element_starts_in_an_empty_folder_even_after_one_was_killed_there(monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_PARALLEL", "1")  # one slot: both elements use its folder
    session.reset()
    marker = session.settings().home / "pid"

    def work(ac):
        import os
        import time

        if ac.job_index == 0:
            with open("half-written.bam", "w") as fh:
                fh.write("partial")
            marker.write_text(str(os.getpid()))
            time.sleep(60)
        ac.output.value(key="found", value=sorted(os.listdir(".")))

    an = Analysis(function=work, input=[0, 1]).run()
    wait_for(lambda: marker.exists() and marker.read_text(), what="element 0 to write and wait")
    os.kill(int(marker.read_text()), signal.SIGKILL)
    assert an.wait_done(timeout=60)["summary"] == {"FAILED": 1, "SUCCEEDED": 1}
    assert an.get_output(1).value("found") == []


def test_an_analysis_whose_record_went_missing_fails_with_a_reason_instead_of_waiting():
    def slow(ac):
        import time

        time.sleep(1)

    up = Analysis(function=slow, input=None, name="up").run()
    down = Analysis(function=lambda ac: None, input=[1, 2], depends_on=[up], name="down").run()
    session.storage().delete(down.manifest.layout.function)  # gone before it could start
    status = down.wait_done(timeout=60)
    assert status["summary"] == {"FAILED": 2}
    assert status["reason"].startswith("cannot read the analysis record")
    wait_for(
        lambda: not (state_dir(session.settings()) / "queue" / f"{down.id}.json").exists(),
        what="the supervisor to be done with it",
    )
