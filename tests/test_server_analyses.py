"""The analyses routes of the server extension: listing, one analysis, its elements, live logs
and terminating, against real analyses (the local cluster, and run_local records)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import time

import pytest

from explorer_magics import records, session
from explorer_magics.analysis import Analysis, AnalysisContext
from explorer_magics.records import ElementStatus, Manifest, StatusSummary
from server_ext.handlers import _utf8_complete


@pytest.fixture
def jp_server_config(jp_server_config, storage_backend):
    """Every test runs on both storage backends; the server starts after the backend is chosen."""
    return jp_server_config


async def _json(response):
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    return json.loads(response.body)


async def _until(predicate, timeout=60.0, what="condition"):
    """Await ``predicate()`` (a coroutine function) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _record(name: str, created: dt.datetime, *, status: str = "SUCCEEDED", size: int | None = 3) -> str:
    """An analysis record as the SDK writes it, created at ``created`` (for date/since filters)."""
    s = session.settings()
    storage = session.storage()
    manifest = Manifest(
        id=records.new_analysis_id(name, now=created),
        name=name,
        user=s.user,
        created=created.timestamp(),
        size=size,
        compute="inline",
        storage=storage.url,
    )
    count = manifest.count
    storage.put_bytes(
        manifest.layout.summary,
        StatusSummary(status=status, counts={status: count}, size=size, updated=time.time()).to_json(),
    )
    storage.put_bytes(manifest.layout.manifest, manifest.to_json())
    return manifest.id


def square(ac: AnalysisContext):
    if ac.input == 2:
        raise ValueError("two is not allowed")
    ac.output.value(key="square", value=ac.input**2)


def chatty(ac: AnalysisContext):
    import sys
    import time as _time

    for i in range(12):
        print(f"line {i} ✓ é", flush=True)
        print(f"err {i}", file=sys.stderr, flush=True)
        _time.sleep(0.15)


def sleeper(ac: AnalysisContext):
    import time as _time

    print("started", flush=True)
    _time.sleep(120)


async def test_list_analyses_newest_first_with_filters_and_paging(explorer_api):
    now = dt.datetime.now(dt.UTC)
    old = _record("old_one", dt.datetime(2020, 1, 15, 12, 0, tzinfo=dt.UTC), status="FAILED", size=None)
    recent = [_record(f"work{i}", now - dt.timedelta(minutes=10 * i)) for i in range(4)]
    body = await _json(await explorer_api("GET", "analyses"))
    assert [a["id"] for a in body["analyses"]] == recent + [old]
    assert body["next_offset"] is None
    first = body["analyses"][0]
    assert first == {
        "id": recent[0],
        "name": "work0",
        "created": first["created"],
        "size": 3,
        "status": "SUCCEEDED",
        "counts": {"SUCCEEDED": 3},
        "reason": None,
        "depends_on": [],
        "compute": "inline",
    }
    assert abs(first["created"] - now.timestamp()) < 2
    assert body["analyses"][-1]["size"] is None and body["analyses"][-1]["status"] == "FAILED"
    page1 = await _json(await explorer_api("GET", "analyses", params={"limit": "2"}))
    assert [a["id"] for a in page1["analyses"]] == recent[:2] and page1["next_offset"] == 2
    page2 = await _json(await explorer_api("GET", "analyses", params={"limit": "2", "offset": "2"}))
    assert [a["id"] for a in page2["analyses"]] == recent[2:] and page2["next_offset"] == 4
    page3 = await _json(await explorer_api("GET", "analyses", params={"limit": "2", "offset": "4"}))
    assert [a["id"] for a in page3["analyses"]] == [old] and page3["next_offset"] is None
    since = await _json(await explorer_api("GET", "analyses", params={"since": "25m"}))
    assert [a["id"] for a in since["analyses"]] == recent[:3]
    dated = await _json(await explorer_api("GET", "analyses", params={"date": "2020-01"}))
    assert [a["id"] for a in dated["analyses"]] == [old]
    named = await _json(await explorer_api("GET", "analyses", params={"name": "WORK2"}))
    assert [a["name"] for a in named["analyses"]] == ["work2"]


async def test_bad_listing_parameters_are_400_with_a_message(explorer_api):
    for params in ({"since": "yesterday"}, {"date": "May 2023"}, {"limit": "0"}, {"offset": "-1"}, {"limit": "x"}):
        r = await explorer_api("GET", "analyses", params=params, validate=False)
        assert r.code == 400, params
        assert (await _json(r))["message"]


async def test_one_analysis_and_its_elements_failed_first(explorer_api):
    an = Analysis(function=square, input=[1, 2, 3, 4], name="squares").run()
    an.wait_done(timeout=60)
    info = await _json(await explorer_api("GET", f"analyses/{an.id}"))
    assert (info["status"], info["size"], info["counts"], info["compute"]) == (
        "FAILED",
        4,
        {"SUCCEEDED": 3, "FAILED": 1},
        "local",
    )
    body = await _json(await explorer_api("GET", f"analyses/{an.id}/elements"))
    assert body["total"] == 4
    assert [(e["index"], e["status"]) for e in body["elements"]] == [
        (1, "FAILED"),
        (0, "SUCCEEDED"),
        (2, "SUCCEEDED"),
        (3, "SUCCEEDED"),
    ]
    assert "two is not allowed" in body["elements"][0]["reason"]
    assert all(e["started"] and e["stopped"] for e in body["elements"])
    failed = await _json(await explorer_api("GET", f"analyses/{an.id}/elements", params={"status": "FAILED"}))
    assert (failed["total"], [e["index"] for e in failed["elements"]]) == (1, [1])
    page = await _json(
        await explorer_api(
            "GET", f"analyses/{an.id}/elements", params={"status": "SUCCEEDED", "offset": "1", "limit": "1"}
        )
    )
    assert (page["total"], [e["index"] for e in page["elements"]]) == (3, [2])
    r = await explorer_api("GET", f"analyses/{an.id}/elements", params={"status": "DONE"}, validate=False)
    assert r.code == 400 and "status" in (await _json(r))["message"].lower()


async def test_missing_and_malformed_analyses(explorer_api):
    missing = "2026-01-01T000000_nothing_0123456789abcdef0123456789abcdef"
    for route in (f"analyses/{missing}", f"analyses/{missing}/elements", f"analyses/{missing}/elements/0/log"):
        r = await explorer_api("GET", route)
        assert r.code == 404
        assert "No analysis" in (await _json(r))["message"]
    r = await explorer_api("GET", "analyses/not-an-id")
    assert r.code == 400
    assert "not an analysis id" in (await _json(r))["message"]
    an = Analysis(function=lambda ac: None, input=[1, 2]).run_local()
    r = await explorer_api("GET", f"analyses/{an.id}/elements/7/log")
    assert r.code == 404 and "No element 7" in (await _json(r))["message"]
    r = await explorer_api("GET", f"analyses/{an.id}/elements/0/log", params={"stream": "stdin"}, validate=False)
    assert r.code == 400


async def test_following_a_live_log_with_the_offset_cursor(explorer_api):
    an = Analysis(function=chatty, input=None, name="chatty").run()
    route = f"analyses/{an.id}/elements/0/log"
    texts = {"stdout": "", "stderr": ""}
    offsets = {"stdout": 0, "stderr": 0}
    chunks = 0
    while True:
        finished = True
        got_any = False
        for stream in ("stdout", "stderr"):
            body = await _json(
                await explorer_api("GET", route, params={"stream": stream, "offset": str(offsets[stream])})
            )
            assert body["next_offset"] == offsets[stream] + len(body["data"].encode())
            texts[stream] += body["data"]
            offsets[stream] = body["next_offset"]
            finished = finished and body["finished"]
            got_any = got_any or bool(body["data"])
            chunks += bool(body["data"])
        if finished and not got_any:
            break
        await asyncio.sleep(0.1)
    assert texts["stdout"] == "".join(f"line {i} ✓ é\n" for i in range(12))
    assert texts["stderr"] == "".join(f"err {i}\n" for i in range(12))
    assert chunks > 2  # it arrived while the element ran, not in one piece at the end
    # the whole log as a file
    r = await explorer_api("GET", route, params={"stream": "stdout", "download": "1"})
    assert r.code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["Content-Disposition"] == f'attachment; filename="{an.id}-0.stdout.txt"'
    assert r.body.decode() == texts["stdout"]


async def test_since_leaves_out_the_log_of_an_element_that_ended_long_ago(explorer_api):
    an = Analysis(function=lambda ac: print("hello"), input=None, name="quiet").run_local()
    storage = session.storage()
    layout = an.manifest.layout
    el = ElementStatus.from_json(storage.get_bytes(layout.status(0)))
    records.write_element_status(storage, layout, dataclasses.replace(el, stopped=time.time() - 3600))
    route = f"analyses/{an.id}/elements/0/log"
    recent = await _json(await explorer_api("GET", route, params={"since": "2h"}))
    assert recent["data"] and recent["finished"] is True
    old = await _json(await explorer_api("GET", route, params={"since": "10m"}))
    assert old == {"data": "", "next_offset": 0, "finished": True}
    r = await explorer_api("GET", route, params={"since": "soon"}, validate=False)
    assert r.code == 400


async def test_terminate_one_element_then_all(explorer_api):
    an = Analysis(function=sleeper, input=[1, 2, 3], name="sleepers").run()

    async def running():
        info = await _json(await explorer_api("GET", f"analyses/{an.id}"))
        return info["status"] == "RUNNING"

    await _until(running, what="RUNNING")
    r = await explorer_api("DELETE", f"analyses/{an.id}/elements/1")
    assert (r.code, await _json(r)) == (202, {"ok": True})

    async def element_failed():
        body = await _json(await explorer_api("GET", f"analyses/{an.id}/elements", params={"status": "FAILED"}))
        return [e for e in body["elements"] if e["index"] == 1]

    failed = await _until(element_failed, what="element 1 FAILED")
    assert "terminat" in (failed[0]["reason"] or "").lower()
    r = await explorer_api("DELETE", f"analyses/{an.id}/elements")
    assert (r.code, await _json(r)) == (202, {"ok": True})

    async def all_failed():
        info = await _json(await explorer_api("GET", f"analyses/{an.id}"))
        return info if info["status"] == "FAILED" else None

    info = await _until(all_failed, what="analysis FAILED")
    assert info["counts"] == {"FAILED": 3}
    r = await explorer_api("DELETE", f"analyses/{an.id}/elements/9")
    assert r.code == 404


@pytest.mark.parametrize(
    ("data", "complete"),
    [
        (b"", 0),
        (b"abc", 3),
        ("é".encode(), 2),
        ("é".encode()[:1], 0),
        (b"ab" + "✓".encode()[:2], 2),
        (b"ab" + "✓".encode(), 5),
        (b"a" + "😀".encode()[:3], 1),
        (b"a" + "😀".encode(), 5),
        (b"\xff\xfe", 2),  # not UTF-8 at all: sent as is (replaced when decoded)
    ],
)
def test_a_character_split_between_two_reads_is_sent_whole_next_time(data, complete):
    assert _utf8_complete(data) == complete


async def test_the_log_of_an_element_that_has_not_started_costs_no_backend_call(explorer_api, monkeypatch):
    from explorer_magics.compute.inline import InlineCompute

    aid = _record("waiting", dt.datetime.now(dt.UTC), status="RUNNABLE")
    reads = []
    monkeypatch.setattr(InlineCompute, "read_log", lambda self, *args: reads.append(args))
    body = await _json(await explorer_api("GET", f"analyses/{aid}/elements/1/log", params={"offset": "0"}))
    assert body == {"data": "", "next_offset": 0, "finished": False}
    assert reads == []


async def test_a_since_too_long_to_count_back_is_400_with_a_message(explorer_api):
    for since in ("99999999999999999999w", "40000d"):
        r = await explorer_api("GET", "analyses", params={"since": since}, validate=False)
        assert r.code == 400, (since, r.code, r.body)
        assert "100 years" in (await _json(r))["message"]


@pytest.mark.parametrize("index", ["+1", " 1", "1 ", "\u0661", "1_0", "0x1", "-0", "1.0", "\uff11"])
async def test_an_element_index_is_plain_ascii_digits_only(explorer_api, index):
    """``int()`` takes ``+1``, `` 1``, ``1_0`` and other scripts' digits (``١``, ``１``); the
    server does not: every element route answers 404 for them."""
    an = Analysis(function=lambda ac: print(ac.input), input=list(range(11)), name="eleven").run_local()
    for method, route in (
        ("GET", f"analyses/{an.id}/elements/{index}/log"),
        ("DELETE", f"analyses/{an.id}/elements/{index}"),
    ):
        r = await explorer_api(method, route, validate=False)
        assert r.code == 404, (method, index, r.code, r.body)
        assert "plain decimal digits" in (await _json(r))["message"]
    assert (await explorer_api("GET", f"analyses/{an.id}/elements/10/log")).code == 200  # what 1_0 would be


async def test_terminating_an_element_that_had_already_finished_says_so(explorer_api):
    an = Analysis(function=square, input=[1, 2], name="done").run()
    an.wait_done(timeout=60)
    r = await explorer_api("DELETE", f"analyses/{an.id}/elements/0")
    assert r.code == 409
    assert (await _json(r))["message"].startswith("element 0 had already SUCCEEDED")
    r = await explorer_api("DELETE", f"analyses/{an.id}/elements/1")
    assert r.code == 409
    assert (await _json(r))["message"].startswith("element 1 had already FAILED")
    assert an.status(0)["status"] == "SUCCEEDED" and "reason" not in an.status(0)  # nothing was changed
