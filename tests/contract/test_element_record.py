"""Issue 14 on every compute backend: the element record the runner writes (label, times, exit
code, peak memory, CPU, host) and the failure digest built from it."""

from __future__ import annotations

import socket

from explorer_magics.analysis import Analysis
from explorer_magics.models import Sample

from .conftest import Backend


def _work(ac):
    import subprocess

    subprocess.run(["true"], check=True)  # a child, counted in cpu_s / peak_rss_mb
    ac.output.value(key="who", value=ac.input.id)


def test_every_element_records_its_label_times_exit_code_memory_cpu_and_host(compute_backend: Backend):
    an = Analysis(function=_work, input=[Sample(id="NA12878"), Sample(id="HG00096")]).run()
    assert compute_backend.finish(an)["status"] == "SUCCEEDED"
    for i, label in enumerate(["NA12878", "HG00096"]):
        rec = an.status(i)
        assert rec["input_label"] == label and rec["exit_code"] == 0
        assert rec["started"] <= rec["ended"] and rec["duration_s"] >= 0
        assert rec["peak_rss_mb"] > 0 and rec["cpu_s"] >= 0 and rec["host"] == socket.gethostname()
    listed = sorted(an.elements(), key=lambda e: e.index)
    assert [e.input_label for e in listed] == ["NA12878", "HG00096"]
    assert all(e.peak_rss_mb and e.host for e in listed)


def _fail_by_cause(ac):
    sample, n = ac.input
    if n % 2:
        raise FileNotFoundError(2, "No such file or directory", f"/data/{sample}/{sample}.cram")
    raise KeyError(sample)


def test_failures_are_grouped_by_cause_whatever_the_backend(compute_backend: Backend):
    with compute_backend.failing():
        an = Analysis(function=_fail_by_cause, input=[(f"S{i:03d}", i) for i in range(6)]).run()
        assert compute_backend.finish(an)["status"] == "FAILED"
    groups = an.failures()
    assert [(g["reason"], g["count"], g["indices"]) for g in groups] == [  # equal counts: first index first
        ("KeyError: '<sample>'", 3, [0, 2, 4]),
        ("FileNotFoundError: [Errno <n>] No such file or directory: '<path>'", 3, [1, 3, 5]),
    ]
    assert an.status(0)["input_label"] == "S000" and an.status(0)["exit_code"] == 1
