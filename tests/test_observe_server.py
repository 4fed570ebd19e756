"""Issue 14's routes, validated against server_ext/openapi.yaml: an element's record, the
failure digest (kept in the analysis's record once finished), usage with histograms, the
per-index statuses of the heatmap."""

from __future__ import annotations

import json

from explorer_magics import session
from explorer_magics.analysis import Analysis
from explorer_magics.models import Sample

from .observe_array import write_array


def _fail_some(ac):
    if ac.input.id.startswith("BAD"):
        raise FileNotFoundError(2, "No such file or directory", f"/data/{ac.input.id}.cram")


async def test_element_routes_carry_the_whole_record(explorer_api):
    an = Analysis(function=_fail_some, input=[Sample(id="NA1"), Sample(id="BAD2"), Sample(id="BAD3")]).run()
    an.wait_done(timeout=60)
    r = await explorer_api("GET", f"analyses/{an.id}/elements/1")
    assert r.code == 200
    el = json.loads(r.body)
    assert el["input_label"] == "BAD2" and el["status"] == "FAILED" and el["exit_code"] == 1
    assert el["duration_s"] is not None and el["peak_rss_mb"] > 0 and el["cpu_s"] is not None and el["host"]
    r = await explorer_api("GET", f"analyses/{an.id}/elements")
    listed = json.loads(r.body)["elements"]
    assert [e["input_label"] for e in listed] == ["BAD2", "BAD3", "NA1"]
    r = await explorer_api("GET", f"analyses/{an.id}/elements/7")
    assert r.code == 404


async def test_failures_usage_and_statuses_of_a_10000_element_array(explorer_api):
    manifest = write_array(session.storage(), session.settings().user, size=10_000, name="routes")
    r = await explorer_api("GET", f"analyses/{manifest.id}/failures")
    assert r.code == 200
    digest = json.loads(r.body)
    assert digest["finished"] is True and digest["failed"] == sum(g["count"] for g in digest["groups"])
    assert [g["reason"] for g in digest["groups"]][:1] == [
        "FileNotFoundError: [Errno <n>] No such file or directory: '<path>'"
    ]
    assert len(digest["groups"]) == 4
    cached = json.loads(session.storage().get_bytes(manifest.layout.failures))
    assert cached["failures"] == digest["groups"]  # computed once, kept in the record

    r = await explorer_api("GET", f"analyses/{manifest.id}/usage")
    usage = json.loads(r.body)
    assert usage["measured"] == 9990 and usage["requested"]["memory_mb"] == 4000
    assert sum(usage["histograms"]["runtime_s"]["counts"]) == 9990
    assert usage["histograms"]["peak_rss_mb"]["request"] == 4000

    r = await explorer_api("GET", f"analyses/{manifest.id}/statuses")
    statuses = json.loads(r.body)
    assert statuses["size"] == 10_000 and len(statuses["letters"]) == 10_000
    assert statuses["cancelled"] == list(range(9990, 10_000))
    assert statuses["letters"].count("F") == digest["failed"]


async def test_a_running_array_has_no_digest_yet(explorer_api, tmp_path):
    flag = tmp_path / "go"

    def wait(ac):
        import time

        while not flag.exists():
            time.sleep(0.05)

    an = Analysis(function=wait, input=[1, 2]).run()
    r = await explorer_api("GET", f"analyses/{an.id}/failures")
    assert json.loads(r.body) == {"groups": [], "failed": 0, "finished": False}
    r = await explorer_api("GET", f"analyses/{an.id}/statuses")
    assert len(json.loads(r.body)["letters"]) == 2
    flag.write_text("go")
    an.wait_done(timeout=60)
