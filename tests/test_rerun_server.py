"""The server's faces of reruns and attempts: ``POST analyses/{id}/rerun``,
``GET analyses/{id}/elements/{i}`` with attempts, and an earlier attempt's log."""

from __future__ import annotations

import json

import pytest

from explorer_magics import session
from explorer_magics.analysis import Analysis


def _flaky(ac):
    import pathlib

    n, marker = ac.input
    print(f"try {n}")
    if n == 1 and not pathlib.Path(marker).exists():
        raise RuntimeError("bad region")
    ac.output.n = n


@pytest.fixture
def failed(tmp_path):
    marker = tmp_path / "fixed"
    an = Analysis(function=_flaky, input=[(n, str(marker)) for n in range(3)]).run()
    assert an.wait_done(timeout=120)["summary"] == {"SUCCEEDED": 2, "FAILED": 1}
    return an, marker


async def _body(response):
    return json.loads(response.body)


async def test_post_rerun_reruns_the_failed_elements_and_get_element_shows_attempts(explorer_api, failed):
    an, marker = failed
    marker.write_text("fixed")
    response = await explorer_api("POST", f"analyses/{an.id}/rerun", json={"failed": True})
    assert response.code == 202
    assert await _body(response) == {"id": an.id, "indices": [1], "count": 1}
    from tests.helpers import wait_for

    wait_for(lambda: an.status()["status"] == "SUCCEEDED", timeout=120, what="the rerun to finish")
    response = await explorer_api("GET", f"analyses/{an.id}/elements/1")
    assert response.code == 200
    element = await _body(response)
    assert element["status"] == "SUCCEEDED"
    assert [(a["attempt"], a["status"]) for a in element["attempts"]] == [(0, "FAILED"), (1, "SUCCEEDED")]
    assert "bad region" in element["attempts"][0]["reason"]
    log = await explorer_api("GET", f"analyses/{an.id}/elements/1/log", params={"stream": "stderr", "attempt": "0"})
    assert log.code == 200
    assert "RuntimeError: bad region" in (await _body(log))["data"]
    assert (await _body(log))["finished"] is True
    download = await explorer_api(
        "GET", f"analyses/{an.id}/elements/1/log", params={"stream": "stderr", "attempt": "0", "download": "1"}
    )
    assert download.code == 200 and b"RuntimeError: bad region" in download.body
    assert "attempt0" in download.headers["Content-Disposition"]
    latest = await explorer_api("GET", f"analyses/{an.id}/elements/1/log", params={"stream": "stderr"})
    assert "RuntimeError" not in (await _body(latest))["data"]
    # the analysis shows the whole array again, with its id
    response = await explorer_api("GET", f"analyses/{an.id}")
    assert (await _body(response))["counts"] == {"SUCCEEDED": 3}


async def test_post_rerun_refuses_bad_input_and_changes_nothing(explorer_api, failed):
    an, _marker = failed
    storage = session.storage()
    before = {o.key: storage.get_bytes(o.key) for o in storage.iter_objects(an.manifest.layout.prefix)}
    for body in ({"indices": [7]}, {"indices": "1"}, {"failed": "yes"}, {"failed": False}, {"indexes": [1]}):
        response = await explorer_api("POST", f"analyses/{an.id}/rerun", json=body, validate=False)
        assert response.code in (400, 404), body
        assert (await _body(response))["message"]
    after = {o.key: storage.get_bytes(o.key) for o in storage.iter_objects(an.manifest.layout.prefix)}
    assert after == before
    response = await explorer_api("GET", f"analyses/{an.id}/elements/9")
    assert response.code == 404
    response = await explorer_api(
        "GET", f"analyses/{an.id}/elements/1/log", params={"stream": "stdout", "attempt": "3"}
    )
    assert response.code == 404


async def test_a_rerun_made_elsewhere_shows_in_the_server_too(explorer_api, failed, monkeypatch):
    from server_ext.poller import StatusPoller

    monkeypatch.setattr(StatusPoller, "recheck_seconds", 0.0)
    an, marker = failed
    response = await explorer_api("GET", f"analyses/{an.id}")
    assert (await _body(response))["counts"] == {"SUCCEEDED": 2, "FAILED": 1}
    marker.write_text("fixed")
    an.rerun()  # from a notebook, not through the server
    an.wait_done(timeout=120)

    async def counts():
        return (await _body(await explorer_api("GET", f"analyses/{an.id}")))["counts"]

    import asyncio
    import time

    deadline = time.monotonic() + 30
    while await counts() != {"SUCCEEDED": 3}:
        assert time.monotonic() < deadline, "the server kept the analysis FAILED after a rerun"
        await asyncio.sleep(0.1)
