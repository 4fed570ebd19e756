"""Shared, budgeted polling of analysis status, and a small single-flight cache.

However many tabs, kernels or users ask about an analysis, the server asks its compute backend
at most once per ``interval``, and answers everyone from that one result:

* one asyncio task per *watched* analysis (asked about within the last ``watch_seconds``);
* requests read the cached answer (the first request for an analysis waits for the first poll);
* an analysis nobody asks about any more stops being polled; asked again, it is polled again
  before anyone is answered, so a stale answer is never served;
* a finished analysis (SUCCEEDED/FAILED) is polled no more: its last answer is kept, and
  looked at again (its record and status) at most every ``recheck_seconds`` while someone
  asks, since a rerun from a notebook or another server makes it run again.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from explorer_magics.analysis import Analysis
from explorer_magics.errors import BackendError
from explorer_magics.job_manager import JobManager
from explorer_magics.records import StatusSummary
from explorer_magics.session import Session, current

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclasses.dataclass
class Watched:
    """One analysis the server keeps an eye on."""

    analysis: Analysis
    summary: StatusSummary | None = None
    error: BaseException | None = None
    wanted_at: float = 0.0  # monotonic time of the last request
    current: bool = False  # polled since its poll task (re)started: the answer is fresh
    task: asyncio.Task[None] | None = None
    waiters: list[asyncio.Future[None]] = dataclasses.field(default_factory=list)
    wake: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    rechecked_at: float = 0.0  # monotonic time a finished analysis was last looked at again

    @property
    def finished(self) -> bool:
        return self.summary is not None and self.summary.finished

    @property
    def following(self) -> bool:
        return self.task is not None and not self.task.done()


class StatusPoller:
    """Polls watched analyses; see the module docstring."""

    #: seconds between two looks at a finished analysis that someone asks about (a rerun)
    recheck_seconds = 10.0

    def __init__(
        self,
        *,
        run: Callable[..., Awaitable[Any]],
        interval: float = 2.0,
        watch_seconds: float = 30.0,
        max_entries: int = 10_000,
        session: Callable[[], Session] = current,
    ) -> None:
        self._run = run  # runs a blocking SDK call off the event loop
        self._session = session  # the server's session (where analyses are opened)
        self.interval = interval
        self.watch_seconds = max(watch_seconds, interval)
        self.max_entries = max_entries
        self._entries: collections.OrderedDict[str, Watched] = collections.OrderedDict()
        self._loading: dict[str, asyncio.Future[Watched]] = {}

    # -- what handlers call ------------------------------------------------------------
    async def get(self, analysis_id: str) -> tuple[Analysis, StatusSummary]:
        """The analysis and its latest status (polling it if nobody was watching it)."""
        entry = await self._entry(analysis_id)
        entry.wanted_at = time.monotonic()
        self._entries.move_to_end(analysis_id)
        if entry.finished and not entry.following:
            now = time.monotonic()
            if not entry.rechecked_at:
                entry.rechecked_at = now
            elif now - entry.rechecked_at > self.recheck_seconds:
                entry.rechecked_at = now
                entry.task = asyncio.create_task(self._recheck(entry), name=f"explorer-recheck-{analysis_id}")
        if entry.finished or (entry.following and entry.current):
            return entry.analysis, self._answer(entry)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry.waiters.append(waiter)
        if not entry.following:
            entry.task = asyncio.create_task(self._follow(entry), name=f"explorer-poll-{analysis_id}")
        await waiter
        return entry.analysis, self._answer(entry)

    @staticmethod
    def _answer(entry: Watched) -> StatusSummary:
        if entry.summary is not None:
            return entry.summary
        if entry.error is not None:
            raise entry.error
        raise BackendError("The status of this analysis is not available (the server is stopping); try again.")

    async def analysis(self, analysis_id: str) -> Analysis:
        """The analysis (its manifest read once and kept), without asking for its status."""
        return (await self._entry(analysis_id)).analysis

    def nudge(self, analysis_id: str) -> None:
        """Something changed (an element was terminated): poll it again now, not at the next tick."""
        entry = self._entries.get(analysis_id)
        if entry is not None:
            entry.wake.set()

    def reopen(self, analysis_id: str) -> None:
        """A finished analysis runs again (a rerun): poll it like a new one from the next ask."""
        entry = self._entries.get(analysis_id)
        if entry is not None and entry.finished:
            entry.summary = None
            entry.current = False

    @property
    def following(self) -> list[str]:
        """Ids of the analyses being polled right now."""
        return [aid for aid, e in self._entries.items() if e.following]

    async def stop(self) -> None:
        """Stop every poll task (server shutdown)."""
        tasks = [e.task for e in self._entries.values() if e.task is not None and not e.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals ---------------------------------------------------------------------
    async def _entry(self, analysis_id: str) -> Watched:
        entry = self._entries.get(analysis_id)
        if entry is not None:
            return entry
        loading = self._loading.get(analysis_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(analysis_id))
            self._loading[analysis_id] = loading
            loading.add_done_callback(lambda _f: self._loading.pop(analysis_id, None))
        return await asyncio.shield(loading)

    async def _load(self, analysis_id: str) -> Watched:
        analysis = await self._run(lambda: JobManager(session=self._session()).get_analysis(analysis_id))
        entry = Watched(analysis=analysis)
        self._entries[analysis_id] = entry
        self._trim()
        return entry

    def _trim(self) -> None:
        """Forget the least recently asked-about analyses nobody is following."""
        excess = len(self._entries) - self.max_entries
        if excess <= 0:
            return
        for aid in list(self._entries):
            if excess <= 0:
                break
            if not self._entries[aid].following:
                del self._entries[aid]
                excess -= 1

    async def _poll(self, entry: Watched) -> None:
        an = entry.analysis
        try:
            summary = await self._run(lambda: an._compute().summary(an.manifest))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - kept and shown to whoever asks
            entry.error = exc
            log.warning("Explorer: polling %s failed: %s", an.id, exc)
        else:
            entry.summary = summary
            entry.error = None
        entry.current = True
        waiters, entry.waiters = entry.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _recheck(self, entry: Watched) -> None:
        """Look at a finished analysis again: rerun since (from anywhere), it runs again."""
        an = entry.analysis
        try:
            fresh = await self._run(lambda: JobManager(session=self._session()).get_analysis(str(an.id)))
            summary = await self._run(lambda: fresh._compute().summary(fresh.manifest))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the last answer stands
            log.warning("Explorer: looking again at %s failed: %s", an.id, exc)
            return
        an._manifest = fresh.manifest  # the same Analysis: handlers may hold it
        entry.summary = summary
        if not summary.finished:
            await self._follow(entry)

    async def _follow(self, entry: Watched) -> None:
        try:
            while True:
                entry.wake.clear()
                await self._poll(entry)
                if entry.finished:
                    return
                try:
                    await asyncio.wait_for(entry.wake.wait(), timeout=self.interval)
                except TimeoutError:
                    pass
                if not entry.waiters and time.monotonic() - entry.wanted_at > self.watch_seconds:
                    return  # nobody is watching
        finally:
            entry.current = entry.finished
            for waiter in entry.waiters:
                if not waiter.done():
                    waiter.set_result(None)
            entry.waiters = []


@dataclasses.dataclass
class _Answer:
    future: asyncio.Future[Any]  # the current answer (its first computation may be in flight)
    expires: float = float("inf")
    refresh: asyncio.Future[Any] | None = None  # a newer answer being computed


class SharedCache:
    """Single-flight, time-limited answers: concurrent askers of the same key share one call,
    and later askers reuse its result for ``ttl`` seconds. Past that, ONE refresh runs; with
    ``stale`` seconds allowed, askers wait for it at most ``patience`` seconds and otherwise get
    the previous answer (a slow backend then slows nobody down); without, they wait for the
    refresh. Errors are not kept."""

    def __init__(self, max_entries: int = 512, patience: float = 0.05) -> None:
        self.max_entries = max_entries
        self.patience = patience  # how long an asker waits for a refresh before taking the old answer
        self._items: collections.OrderedDict[Hashable, _Answer] = collections.OrderedDict()

    async def get(
        self, key: Hashable, make: Callable[[], Awaitable[T]], ttl: float | Callable[[T], float], stale: float = 0.0
    ) -> T:
        """The answer for ``key``; ``ttl`` may depend on the answer (``lambda status: ...``)."""
        item = self._items.get(key)
        if item is None or (item.future.done() and (item.future.cancelled() or item.future.exception())):
            item = _Answer(self._start(make))
            self._items[key] = item
            item.future.add_done_callback(functools.partial(self._first, key, item, ttl))
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
            return await asyncio.shield(item.future)
        self._items.move_to_end(key)
        if not item.future.done():
            return await asyncio.shield(item.future)
        now = time.monotonic()
        if now < item.expires:
            return item.future.result()
        if item.refresh is None:
            item.refresh = self._start(make)
            item.refresh.add_done_callback(functools.partial(self._refreshed, key, item, ttl))
        refresh = item.refresh
        if now < item.expires + stale:
            # a quick backend answers within the patience: nobody sees the old answer then
            await asyncio.wait({refresh}, timeout=self.patience)
            if refresh.done() and not refresh.cancelled() and refresh.exception() is None:
                return refresh.result()
            return item.future.result()
        return await asyncio.shield(refresh)

    def _start(self, make: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        return asyncio.ensure_future(make())

    @staticmethod
    def _expiry(ttl: float | Callable[[Any], float], result: Any) -> float:
        return time.monotonic() + (ttl(result) if callable(ttl) else ttl)

    def _first(self, key: Hashable, item: _Answer, ttl: Any, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            if self._items.get(key) is item:
                del self._items[key]
        else:
            item.expires = self._expiry(ttl, future.result())

    def _refreshed(self, key: Hashable, item: _Answer, ttl: Any, future: asyncio.Future[Any]) -> None:
        item.refresh = None
        if not future.cancelled() and future.exception() is None:
            item.future = future
            item.expires = self._expiry(ttl, future.result())
        elif not future.cancelled():
            log.info("Explorer: refreshing %r failed: %s", key, future.exception())

    def drop(self, match: Callable[[Hashable], bool]) -> None:
        """Forget every answer whose key ``match``es."""
        for key in [k for k in self._items if match(k)]:
            del self._items[key]
