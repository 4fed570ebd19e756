"""Issue 14: what an array cost counts every attempt that ran, not only each element's latest.

An element that failed and ran again (a rerun, the SDK's retries on Batch/Slurm, the local
cluster supervisor's own retries) was paid for each time: its earlier attempts count in
``spent``, ``spent_failed``, the wall and CPU totals and the vCPU/GB-hours, with the resources
each attempt had, and reading them costs one listing for the whole analysis."""

from __future__ import annotations

import dataclasses
import json

import pytest

from explorer_magics import records, session
from explorer_magics.analysis import Analysis, JobDefinition
from explorer_magics.job_manager import JobManager
from explorer_magics.observe import views
from explorer_magics.observe.usage import usage
from explorer_magics.records import FAILED, SUCCEEDED, Attempt, ElementStatus, Manifest

from .observe_array import write_array
from .test_rerun import failed_array  # noqa: F401 - fixture

# USD a vCPU-hour and a GB-hour, set for every test below: high, so that elements running for
# milliseconds cost cents (the cost is rounded to 1/100 of a cent)
VCPU, GB = 3600.0, 1024.0


@pytest.fixture(autouse=True)
def price(monkeypatch):
    monkeypatch.setenv("EXPLORER_COST_VCPU_HOUR", str(VCPU))
    monkeypatch.setenv("EXPLORER_COST_GB_HOUR", str(GB))
    session.reset()


def _cost(seconds: float, cpu: float, memory_mb: float) -> float:
    return seconds * cpu / 3600 * VCPU + seconds * memory_mb / 1024 / 3600 * GB


def test_earlier_attempts_are_paid_for_with_the_resources_each_had():
    manifest = Manifest(
        id="2026-01-01T000000_x_" + "0" * 32,
        name="x",
        user="alice",
        created=0.0,
        size=2,
        compute="batch",
        storage="/tmp",
        job_definition={"cpu": 2, "memory_mb": 4000},
    )
    elements = [
        ElementStatus(0, SUCCEEDED, started=5000.0, stopped=8600.0, cpu_s=3000.0, peak_rss_mb=6000.0),
        ElementStatus(1, SUCCEEDED, started=0.0, stopped=1800.0, cpu_s=1000.0, peak_rss_mb=1000.0),
    ]
    # element 0 ran out of memory at 4000 MB after 1800 s, was retried with 8000 MB (its
    # current attempt), and that took 3600 s
    earlier = [
        (0, Attempt(0, FAILED, reason="out of memory", started=0.0, stopped=1800.0, cpu_s=1500.0, peak_rss_mb=4000.0,
                    resources={"cpu": 2, "memory_mb": 4000})),
    ]  # fmt: skip
    u = usage(manifest, elements, attempts=earlier, resources={0: (2.0, 8000)}, now=9000.0)

    assert u["cost"]["spent_failed"] == round(_cost(1800, 2, 4000), 4)
    assert u["cost"]["spent"] == round(_cost(3600, 2, 8000) + _cost(1800, 2, 4000) + _cost(1800, 2, 4000), 4)
    assert u["wall_s"] == 3600 + 1800 + 1800 and u["cpu_s"] == 5500.0
    assert u["vcpu_hours"]["requested"] == round(7200 * 2 / 3600, 4)
    assert u["gb_hours"]["requested"] == round((3600 * 8000 + 3600 * 4000) / 1024 / 3600, 4)
    assert u["gb_hours"]["used"] == round((3600 * 6000 + 1800 * 1000 + 1800 * 4000) / 1024 / 3600, 4)
    assert u["earlier_attempts"] == {"count": 1, "failed": 1, "elements": 1, "wall_s": 1800.0}
    assert u["elapsed_s"] == 8600.0
    # the spreads describe the elements as they are now (the retry fixed element 0)
    assert u["runtime_s"]["max"] == 3600.0 and u["measured"] == 2


def _paid(an: Analysis) -> tuple[float, float]:
    """(spent, spent on failed attempts) as the records say, summed by hand from every attempt."""
    jd = an.manifest.job_definition
    spent = failed = 0.0
    for i in range(an.size):
        for a in an.status(i)["attempts"]:
            if a.get("started") is None or a.get("stopped") is None:
                continue
            res = a.get("resources") or jd
            c = _cost(a["stopped"] - a["started"], res.get("cpu") or 2, res.get("memory_mb") or 4000)
            spent += c
            failed += c if a["status"] == FAILED else 0.0
    return spent, failed


def test_a_rerun_keeps_what_the_failed_attempts_cost(failed_array):  # noqa: F811
    an, marker = failed_array
    before = an.usage()
    assert before["cost"]["spent_failed"] > 0 and before["earlier_attempts"]["count"] == 0
    marker.write_text("fixed")
    an.rerun()
    assert an.wait_done(timeout=120)["summary"] == {"SUCCEEDED": 7}

    after = an.usage()
    earlier = after["earlier_attempts"]
    assert (earlier["count"], earlier["failed"], earlier["elements"]) == (3, 3, 3)
    first = [an.status(i)["attempts"][0] for i in (0, 3, 6)]
    assert earlier["wall_s"] == pytest.approx(sum(a["stopped"] - a["started"] for a in first), abs=0.2)
    # nothing is FAILED any more, yet the three failed attempts were paid for
    assert after["cost"]["spent_failed"] == pytest.approx(before["cost"]["spent_failed"], abs=1e-4)
    assert after["cost"]["spent"] > before["cost"]["spent"]
    spent, failed = _paid(an)
    assert after["cost"]["spent"] == pytest.approx(spent, abs=2e-4)
    assert after["cost"]["spent_failed"] == pytest.approx(failed, abs=2e-4)
    # the widget says what the failed attempts cost, and that earlier attempts count
    from explorer_magics import widgets

    view = widgets.AnalysisView(an, autostart=False)
    view.refresh_glance()
    facts = view.glance.facts.value
    assert "on failed attempts" in facts and "with 3 earlier attempts of rerun or retried elements" in facts


def _fails_first(ac):
    """Fails the first time it runs for an input (a flaky node), succeeds the next."""
    import pathlib
    import time

    marker = pathlib.Path(ac.input)
    time.sleep(0.2)
    if not marker.exists():
        marker.write_text("tried")
        raise RuntimeError("flaky")


def test_the_local_clusters_own_retries_are_counted(tmp_path):
    jd = JobDefinition(retries=2, retry_on=("error",))
    an = Analysis(function=_fails_first, input=[str(tmp_path / f"m{i}") for i in range(3)], job_definition=jd).run()
    assert an.wait_done(timeout=120)["summary"] == {"SUCCEEDED": 3}
    # the supervisor retried each element itself: no rerun was asked for, none is recorded
    assert not session.storage().exists(records.reruns_key(an.manifest.layout))
    assert all([a["status"] for a in an.status(i)["attempts"]] == [FAILED, SUCCEEDED] for i in range(3))

    u = an.usage()
    assert u["earlier_attempts"]["count"] == 3 and u["earlier_attempts"]["failed"] == 3
    spent, failed = _paid(an)
    assert failed > 0 and u["cost"]["spent_failed"] == pytest.approx(failed, abs=2e-4)
    assert u["cost"]["spent"] == pytest.approx(spent, abs=2e-4)


def test_a_10000_element_array_reads_its_attempts_in_one_listing(monkeypatch):
    storage = session.storage()
    manifest = write_array(storage, session.settings().user, size=10_000, name="attempts")
    layout = manifest.layout
    # 300 elements had a failed attempt of 600 s each, archived before their current one
    for i in range(300):
        el = records.ElementStatus.from_json(storage.get_bytes(layout.status(i)))
        earlier = dataclasses.replace(
            el, status=FAILED, reason="flaky", started=el.started - 700, stopped=el.started - 100, exit_code=1
        )
        records.write_element_status(storage, layout, earlier)
        records.archive_attempt(storage, layout, i, earlier, {"cpu": 2, "memory_mb": 4000})
        records.write_element_status(storage, layout, el)
    an = JobManager().get_analysis(manifest.id)

    listed: list[str] = []
    for name in ("list_page",):
        real = getattr(type(storage), name)

        def counting(self, prefix, *args, _real=real, **kwargs):  # noqa: ANN001
            listed.append(prefix)
            return _real(self, prefix, *args, **kwargs)

        monkeypatch.setattr(type(storage), name, counting)
    u = views.usage(an)
    assert u["earlier_attempts"] == {"count": 300, "failed": 300, "elements": 300, "wall_s": 300 * 600.0}
    assert len(listed) <= 2, listed  # the attempts folder, not a listing per element
    no_attempts = usage(an.manifest, views.all_elements(an))
    extra = 300 * _cost(600, 2, 4000)
    assert u["cost"]["spent"] == pytest.approx(no_attempts["cost"]["spent"] + extra, abs=2e-4)
    assert u["cost"]["spent_failed"] == pytest.approx(no_attempts["cost"]["spent_failed"] + extra, abs=2e-4)

    # kept in the record once computed: the next ask lists nothing
    listed.clear()
    assert views.usage(an)["cost"] == u["cost"]
    assert listed == []
    kept = json.loads(storage.get_bytes(layout.failures))
    assert kept["usage"]["earlier_attempts"]["count"] == 300
