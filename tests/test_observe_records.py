"""Issue 14: the element record the runner writes (label, times, exit, memory, CPU, host), the
failure digest, usage and the estimate — on the local cluster and on AWS Batch (moto)."""

from __future__ import annotations

import json
import socket
import sys

import pytest

from explorer_magics import session
from explorer_magics.analysis import Analysis, JobDefinition
from explorer_magics.models import Sample

from .helpers import wait_for

HOST = socket.gethostname()


def _child_burns_cpu_and_memory(ac):
    """Runs a child process that uses ~0.3 s of CPU and 300 MB, and reports its own CPU."""
    import subprocess
    import sys as _sys

    code = (
        "import time, resource\n"
        "b = bytearray(300 * 2**20)\n"
        "for i in range(0, len(b), 4096): b[i] = 1\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 0.3: pass\n"
        "u = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(u.ru_utime + u.ru_stime)\n"
    )
    out = subprocess.run([_sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    ac.output.value(key="child_cpu", value=float(out))


def test_a_finished_element_records_its_label_times_exit_memory_cpu_and_host():
    samples = [Sample(id="NA12878"), Sample(id="HG00096")]
    an = Analysis(function=_child_burns_cpu_and_memory, input=samples).run()
    assert an.wait_done(timeout=120)["status"] == "SUCCEEDED"
    rec = an.status(1)
    assert rec["status"] == "SUCCEEDED" and rec["input_label"] == "HG00096"
    assert rec["exit_code"] == 0 and rec["host"] == HOST
    assert rec["started"] <= rec["ended"] and rec["duration_s"] == pytest.approx(rec["ended"] - rec["started"])
    assert rec["cpu_s"] >= an.get_output(1).value("child_cpu")  # children included
    assert rec["peak_rss_mb"] >= 300  # the child's 300 MB
    assert "signal" not in rec and "cancelled" not in rec
    listed = {el.index: el for el in an.elements()}
    assert listed[0].input_label == "NA12878" and listed[0].cpu_s is not None


def test_a_running_element_reports_when_it_started(tmp_path):
    release = tmp_path / "release"

    def wait(ac):
        import time

        while not release.exists():
            time.sleep(0.05)

    an = Analysis(function=wait, input=[("S1", "s3://b/S1.cram"), ("S2", "s3://b/S2.cram")]).run()
    rec = wait_for(lambda: (r := an.status(0))["status"] == "RUNNING" and r, what="element 0 to run")
    assert rec["started"] > an.manifest.created - 1 and rec["input_label"] == "S1"
    running = wait_for(lambda: [e for e in an.elements() if e.status == "RUNNING"], what="a RUNNING element listed")
    assert all(e.started is not None and e.duration_s is None and e.input_label for e in running)
    release.write_text("go")
    an.wait_done(timeout=60)


def test_a_killed_element_records_the_signal_and_what_it_used():
    def die(ac):
        import os
        import signal

        b = bytearray(200 * 2**20)
        for i in range(0, len(b), 4096):
            b[i] = 1
        os.kill(os.getpid(), signal.SIGKILL)

    an = Analysis(function=die, input=["s3://bucket/NA1.cram"]).run()
    assert an.wait_done(timeout=60)["status"] == "FAILED"
    rec = an.status(0)
    assert rec["signal"] == "SIGKILL" and rec["reason"].startswith("killed by SIGKILL")
    assert rec["peak_rss_mb"] >= 200 and rec["cpu_s"] is not None and rec["host"] == HOST
    assert rec["input_label"] == "NA1.cram"  # from the record's labels: the element never wrote one


def test_label_function_overrides_the_label_rules():
    an = Analysis(function=lambda ac: None, input=[{"who": "a1"}, {"who": "b2"}], label=lambda x: x["who"] + "!")
    an.run().wait_done(timeout=60)
    assert [an.status(i)["input_label"] for i in range(2)] == ["a1!", "b2!"]


def test_an_element_terminated_before_it_started_is_cancelled_not_failed(monkeypatch, tmp_path):
    from tests.conftest import stop_supervisor

    stop_supervisor(session.settings().home)
    monkeypatch.setenv("EXPLORER_MAX_PARALLEL", "1")
    session.reset()
    release = tmp_path / "release"

    def wait(ac):
        import time

        while not release.exists():
            time.sleep(0.05)

    an = Analysis(function=wait, input=[0, 1]).run()
    wait_for(lambda: an.status(0)["status"] == "RUNNING", what="element 0 to run")
    an.terminate(1)
    an.terminate(0)
    an.wait_done(timeout=60)
    assert an.status(1)["status"] == "FAILED" and an.status(1)["cancelled"] is True
    assert an.status(0)["status"] == "FAILED" and "cancelled" not in an.status(0)  # it had started
    assert an.failures()[0]["reason"] == "terminated by user"
    heat = __import__("explorer_magics.observe.views", fromlist=["letters"]).letters(an)
    assert heat["letters"] == "FF" and heat["cancelled"] == [1]


def test_failures_are_grouped_by_cause_and_kept_in_the_record_once_finished():
    def work(ac):
        sample, n = ac.input
        if n % 3 == 0:
            raise FileNotFoundError(2, "No such file or directory", f"/data/{sample}/{sample}.cram")
        if n % 3 == 1:
            raise KeyError(sample)
        raise ValueError(f"depth {n * 7} below 30 at chr{n}:{n * 1000}")

    inputs = [(f"HG{i:05d}", i) for i in range(12)]
    an = Analysis(function=work, input=inputs).run()
    assert an.wait_done(timeout=120)["summary"] == {"FAILED": 12}
    groups = an.failures()
    assert [(g["reason"], g["count"]) for g in groups] == [
        ("FileNotFoundError: [Errno <n>] No such file or directory: '<path>'", 4),
        ("KeyError: '<sample>'", 4),
        ("ValueError: depth <n> below <n> at chr<n>:<n>", 4),
    ]
    assert groups[1]["indices"] == [1, 4, 7, 10] and groups[1]["example"] == "KeyError: 'HG00001'"
    storage = session.storage()
    cached = json.loads(storage.get_bytes(an.manifest.layout.failures))
    assert cached["failures"] == groups
    # the cache is what is read next time: a changed cache shows through
    cached["failures"] = cached["failures"][:1]
    storage.put_bytes(an.manifest.layout.failures, json.dumps(cached).encode())
    assert len(an.failures()) == 1


def test_usage_counts_what_the_elements_used_and_the_local_cluster_is_free():
    an = Analysis(
        function=_child_burns_cpu_and_memory,
        input=["a", "b"],
        job_definition=JobDefinition(cpu=1, memory_mb=2000),
    ).run()
    an.wait_done(timeout=120)
    u = an.usage()
    assert u["measured"] == 2 and u["requested"] == {"cpu": 1.0, "memory_mb": 2000}
    assert u["cpu_s"] >= 0.6 and u["peak_rss_mb"]["max"] >= 300
    assert u["cost"]["spent"] == 0 and u["cost"]["vcpu_hour"] == 0
    assert sum(u["histograms"]["runtime_s"]["counts"]) == 2
    assert u["histograms"]["peak_rss_mb"]["request"] == 2000
    assert u["histograms"]["peak_rss_mb"]["edges"][-1] >= 2000


def test_estimate_after_one_local_run_forecasts_the_array(capsys):
    def work(ac):
        import time

        t = time.process_time()
        while time.process_time() - t < 0.05:
            pass

    an = Analysis(
        function=work, input=[f"S{i}" for i in range(1000)], job_definition=JobDefinition(cpu=2, memory_mb=4096)
    )
    an.run_local(index=0)
    est = an.estimate(compute="batch")
    element_s = est["element_s"]
    assert est["elements"] == 1000 and est["from_elements"] == [0]
    assert est["vcpu_hours"] == pytest.approx(1000 * element_s * 2 / 3600, rel=0.01)
    assert est["gb_hours"] == pytest.approx(1000 * element_s * 4 / 3600, rel=0.01)
    assert est["cost"]["total"] > 0 and "m6i" in est["cost"]["source"]
    local = an.estimate(compute="local")
    assert local["cost"]["total"] == 0 and local["wall_s"] is not None


def test_estimate_before_any_run_says_what_to_do():
    an = Analysis(function=lambda ac: None, input=[1, 2])
    an.run_local(index=0)
    an2 = Analysis(function=lambda ac: 1 / 0, input=[1, 2])
    with pytest.raises(ZeroDivisionError):
        an2.run_local(index=0)
    with pytest.raises(Exception, match=r"run_local\(index=0\)"):
        an2.estimate()


# -- AWS Batch (moto; the container played by running the runner) ----------------------------------
@pytest.mark.aws
def test_batch_elements_carry_the_runners_record(played):
    def work(ac):
        if ac.input.id == "BAD1":
            raise RuntimeError(f"no reads for {ac.input.id} in /data/{ac.input.id}.cram")
        ac.output.value(key="ok", value=1)

    an = Analysis(function=work, input=[Sample(id="NA1"), Sample(id="BAD1"), Sample(id="NA3")]).run()
    played.run(an)
    an.wait_done(timeout=30)
    rec = an.status(0)
    assert rec["input_label"] == "NA1" and rec["host"] == HOST and rec["cpu_s"] is not None
    assert rec["peak_rss_mb"] > 0 and rec["started"] is not None
    listed = {e.index: e for e in an.elements()}
    assert listed[2].input_label == "NA3" and listed[2].peak_rss_mb is not None


@pytest.mark.aws
def test_batch_heatmap_letters_come_from_listings_not_every_child(played):
    an = Analysis(function=lambda ac: None, input=list(range(5))).run()
    played.run(an)
    an.wait_done(timeout=30)
    from explorer_magics.observe import views

    assert views.letters(an)["letters"] == "SSSSS"


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("the local cluster's measurements are Linux's")
