"""Shared, budgeted status polling: however many clients watch an analysis, the server asks the
compute backend at most once per interval; unwatched and finished analyses are not polled.

The compute backend's ``summary`` is replaced by a counter, so the tests count the calls the
server really makes (and decide what status the backend reports)."""

from __future__ import annotations

import asyncio
import collections
import json
import time

import pytest

from explorer_magics.analysis import Analysis
from explorer_magics.compute.inline import InlineCompute
from explorer_magics.records import StatusSummary

INTERVAL = 0.25
WATCH = 1.0


@pytest.fixture
def jp_server_config(jp_server_config):
    return {**jp_server_config, "ExplorerApp": {"poll_interval": INTERVAL, "watch_seconds": WATCH}}


class Backend:
    """A compute whose summary is counted per analysis and says what the test wants."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.element_calls: collections.Counter[str] = collections.Counter()
        self.status: dict[str, str] = collections.defaultdict(lambda: "RUNNING")

    def list_elements(self, compute, manifest, *, status=None, offset=0, limit=100):
        from explorer_magics.records import ElementStatus

        self.element_calls[manifest.id] += 1
        return [ElementStatus(i, self.status[manifest.id]) for i in range(manifest.count)][offset : offset + limit]

    def summary(self, compute, manifest):
        self.calls[manifest.id] += 1
        status = self.status[manifest.id]
        return StatusSummary(status=status, counts={status: manifest.count}, size=manifest.size, updated=time.time())


@pytest.fixture
def backend(monkeypatch):
    fake = Backend()
    monkeypatch.setattr(InlineCompute, "summary", lambda self, manifest: fake.summary(self, manifest))
    monkeypatch.setattr(
        InlineCompute, "list_elements", lambda self, manifest, **kw: fake.list_elements(self, manifest, **kw)
    )
    return fake


@pytest.fixture
def poller(jp_serverapp):
    return jp_serverapp.web_app.settings["explorer"].poller


def _analysis(name: str = "watched") -> str:
    return Analysis(function=lambda ac: None, input=[1, 2, 3], name=name).run_local().id


async def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


async def test_many_clients_at_once_cost_one_backend_call(explorer_api, backend, jp_serverapp):
    jp_serverapp.web_app.settings["explorer"].poller.interval = 30  # nothing else happens during the test
    aid = _analysis()
    backend.calls.clear()
    requests = [explorer_api("GET", f"analyses/{aid}") for _ in range(20)]
    requests += [explorer_api("GET", "analyses") for _ in range(10)]
    requests += [explorer_api("GET", f"analyses/{aid}/elements") for _ in range(5)]
    answers = await asyncio.gather(*requests)
    assert all(r.code == 200 for r in answers)
    assert json.loads(answers[0].body)["status"] == "RUNNING"
    assert backend.calls[aid] == 1
    assert backend.element_calls[aid] == 1


async def test_a_watched_analysis_is_polled_at_most_once_per_interval(explorer_api, backend):
    aid = _analysis()
    backend.calls.clear()
    start = time.monotonic()
    while time.monotonic() - start < 8 * INTERVAL:
        await asyncio.gather(*(explorer_api("GET", f"analyses/{aid}") for _ in range(5)))
    elapsed = time.monotonic() - start
    assert backend.calls[aid] <= elapsed / INTERVAL + 1
    assert backend.calls[aid] >= 4  # and it IS polled while watched


async def test_a_change_reaches_every_client_within_an_interval(explorer_api, backend):
    aid = _analysis()
    assert json.loads((await explorer_api("GET", f"analyses/{aid}")).body)["status"] == "RUNNING"
    backend.status[aid] = "SUCCEEDED"
    changed_at = time.monotonic()
    while json.loads((await explorer_api("GET", f"analyses/{aid}")).body)["status"] != "SUCCEEDED":
        await asyncio.sleep(0.02)
    assert time.monotonic() - changed_at < INTERVAL + 1.0


async def test_a_finished_analysis_is_not_polled_again(explorer_api, backend, poller):
    aid = _analysis()
    backend.status[aid] = "SUCCEEDED"
    backend.calls.clear()
    for _ in range(3):
        answers = await asyncio.gather(*(explorer_api("GET", f"analyses/{aid}") for _ in range(10)))
        assert {json.loads(r.body)["status"] for r in answers} == {"SUCCEEDED"}
        await asyncio.sleep(INTERVAL * 1.5)
    assert backend.calls[aid] == 1
    assert aid not in poller.following


async def test_an_analysis_nobody_watches_is_not_polled(explorer_api, backend, poller):
    watched, ignored = _analysis("watched"), _analysis("ignored")
    backend.calls.clear()
    assert (await explorer_api("GET", f"analyses/{watched}")).code == 200
    await asyncio.sleep(3 * INTERVAL)
    assert backend.calls[ignored] == 0
    assert ignored not in poller.following
    # nobody asks about `watched` any more: its polling stops after watch_seconds
    await _wait(lambda: watched not in poller.following, timeout=WATCH + 5)
    stopped_at = backend.calls[watched]
    await asyncio.sleep(4 * INTERVAL)
    assert backend.calls[watched] == stopped_at
    # it changed meanwhile: the next client gets the new status, not the stale one
    backend.status[watched] = "FAILED"
    info = json.loads((await explorer_api("GET", f"analyses/{watched}")).body)
    assert info["status"] == "FAILED"
    assert backend.calls[watched] == stopped_at + 1


async def test_terminating_polls_again_at_once(explorer_api, backend, poller):
    poller.interval = 30
    aid = _analysis()
    assert json.loads((await explorer_api("GET", f"analyses/{aid}")).body)["status"] == "RUNNING"
    backend.status[aid] = "FAILED"  # what the backend reports once the elements are stopped
    assert (await explorer_api("DELETE", f"analyses/{aid}/elements")).code == 202
    await _wait(lambda: backend.calls[aid] >= 2, timeout=5)
    info = json.loads((await explorer_api("GET", f"analyses/{aid}")).body)
    assert info["status"] == "FAILED"


async def test_a_backend_failure_is_a_502_with_the_message(explorer_api, monkeypatch):
    from explorer_magics.errors import BackendError

    def broken(self, manifest):
        raise BackendError("AWS Batch did not answer (throttled); try again in a minute.")

    monkeypatch.setattr(InlineCompute, "summary", broken)
    aid = _analysis()
    r = await explorer_api("GET", f"analyses/{aid}")
    assert r.code == 502
    assert json.loads(r.body) == {"message": "AWS Batch did not answer (throttled); try again in a minute."}


async def test_shared_cache_single_flight_then_stale_while_revalidate():
    from server_ext.poller import SharedCache

    cache = SharedCache(patience=0.05)
    calls = []
    release = asyncio.Event()

    async def make():
        calls.append(len(calls))
        if len(calls) > 1:
            await release.wait()  # the backend is slow to answer a refresh
        return len(calls)

    assert await asyncio.gather(*(cache.get("k", make, ttl=0.2, stale=5) for _ in range(10))) == [1] * 10
    assert await cache.get("k", make, ttl=0.2, stale=5) == 1  # fresh: no call
    await asyncio.sleep(0.25)
    started = time.monotonic()
    assert await asyncio.gather(*(cache.get("k", make, ttl=0.2, stale=5) for _ in range(10))) == [1] * 10
    assert time.monotonic() - started < 0.5  # the old answer, at once, while ONE refresh runs
    assert len(calls) == 2
    release.set()
    await asyncio.sleep(0.01)
    assert await cache.get("k", make, ttl=0.2, stale=5) == 2
    # without stale, askers wait for the refresh
    await asyncio.sleep(0.25)
    assert await cache.get("k", make, ttl=0.2) == 3


async def test_shared_cache_does_not_keep_errors():
    from server_ext.poller import SharedCache

    cache = SharedCache()
    outcomes = iter([RuntimeError("backend down"), "ok"])

    async def make():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with pytest.raises(RuntimeError):
        await cache.get("k", make, ttl=60)
    assert await cache.get("k", make, ttl=60) == "ok"
