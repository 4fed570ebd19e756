"""The Explorer extension app: routes, backends and the shared status poller.

Configure with traitlets, e.g. in ``jupyter_server_config.py``::

    c.ExplorerApp.poll_interval = 2.0      # seconds between two polls of one analysis
    c.ExplorerApp.watch_seconds = 30.0     # an analysis nobody asked about for this long is not polled
    c.ExplorerApp.download_redirect = False  # True: S3 downloads answer 302 to a presigned URL

Explorer's own settings (user, storage, compute) come from the SDK
(:mod:`explorer_magics.config`): read afresh when the server starts, into the one
:class:`~explorer_magics.session.Session` the handlers use (:attr:`ExplorerApp.session`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import mimetypes
import threading
from typing import Any, TypeVar

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int

from explorer_magics import session
from explorer_magics.errors import ExplorerError
from explorer_magics.session import Session
from explorer_magics.storage.base import Storage

from .handlers import ROUTES
from .poller import SharedCache, StatusPoller

T = TypeVar("T")


class ExplorerApp(ExtensionApp):
    """Serves Explorer's REST API under ``<base_url>/explorer/api/`` (see ``openapi.yaml``)."""

    name = "explorer"
    handlers = list(ROUTES)

    poll_interval = Float(
        2.0, config=True, help="Seconds between two status polls of one analysis, however many clients watch it."
    )
    watch_seconds = Float(
        30.0, config=True, help="An analysis nobody has asked about for this many seconds is no longer polled."
    )
    list_cache_seconds = Float(
        1.0, config=True, help="Seconds an answer of the analyses listing is shared between clients."
    )
    stale_seconds = Float(
        30.0,
        config=True,
        help="While a shared answer (the analyses listing, an element's status) is being refreshed, "
        "clients get the previous one at once if it is at most this many seconds past its time.",
    )
    element_status_seconds = Float(
        0.5,
        config=True,
        help="Seconds the status of a running element is shared between the clients following its log.",
    )
    finished_cache_seconds = Float(
        300.0, config=True, help="Seconds the element listing (and element statuses) of a finished analysis are kept."
    )
    sdk_workers = Int(16, config=True, help="Threads for SDK calls (status, listings, small operations).")
    transfer_workers = Int(8, config=True, help="Threads for streaming uploads and downloads.")
    chunk_bytes = Int(1024 * 1024, config=True, help="Bytes read or written at a time while streaming a file.")
    max_upload_bytes = Int(5 * 1024**4, config=True, help="The largest upload accepted (bytes).")
    upload_parts_in_flight = Int(
        2,
        config=True,
        help="Parts of one upload sent to S3 at once (each part is held in memory while it is sent): "
        "bounds the server's memory per upload to (this + 1) part sizes.",
    )
    upload_part_bytes = Int(
        5 * 1024 * 1024,
        config=True,
        help="Part size of uploads streamed to S3 when the size is known (at least 5 MiB; larger "
        "when the object needs more than 10,000 parts). Unknown sizes use the storage's own part size.",
    )
    download_redirect = Bool(
        False,
        config=True,
        help="On S3 storage, answer downloads with a redirect to a presigned URL instead of streaming "
        "through the server (the browser must be able to reach the S3 endpoint).",
    )

    def initialize_settings(self) -> None:
        """Read Explorer's settings afresh and build the thread pools, poller and cache."""
        mimetypes.init()  # read the system's type map now, not inside the first download
        session.reset()
        self._session_lock = threading.Lock()
        self._session: Session | None = None
        try:
            settings = self.session.settings
            self.session.storage  # noqa: B018 - opened now, not in the first request's event loop
        except ExplorerError as exc:  # every route answers with this message until it is fixed
            self.log.error("Explorer: %s", exc)
        else:
            self.log.info(
                "Explorer: user %s, storage %s, compute %s", settings.user, settings.storage_url, settings.compute
            )
        self.sdk_pool = concurrent.futures.ThreadPoolExecutor(self.sdk_workers, thread_name_prefix="explorer-sdk")
        self.transfer_pool = concurrent.futures.ThreadPoolExecutor(
            self.transfer_workers, thread_name_prefix="explorer-transfer"
        )
        self.poller = StatusPoller(
            run=self.run, interval=self.poll_interval, watch_seconds=self.watch_seconds, session=lambda: self.session
        )
        self.cache = SharedCache()

    @property
    def session(self) -> Session:
        """The server's session: its settings, storage and compute backends, built when it starts
        from the environment and the config file (while they are wrong, built again on each use,
        so every route answers with what to fix until it is fixed)."""
        with self._session_lock:
            if self._session is None:
                self._session = Session()
            return self._session

    async def run(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in the SDK pool: blocking SDK calls never stall the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.sdk_pool, functools.partial(fn, *args, **kwargs))

    async def transfer(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Like :meth:`run`, in the pool kept for streaming bytes (so a big upload never delays a
        status request)."""
        return await asyncio.get_running_loop().run_in_executor(
            self.transfer_pool, functools.partial(fn, *args, **kwargs)
        )

    def upload_storage(self, size: int | None = None) -> Storage:
        """The storage one upload of ``size`` bytes (if known) is written to: the session's, but
        where the backend sends parts (S3), with parts of ``upload_part_bytes`` (larger if the
        object needs it: at most 10,000 parts) and ``upload_parts_in_flight`` of them at once,
        so the memory one upload holds stays near (parts in flight + 1) x part size. Without a
        size the writer grows its parts as the object grows."""
        return self.session.storage.with_part_limits(
            part_bytes=self.upload_part_bytes, parts_in_flight=self.upload_parts_in_flight, size=size
        )

    def changed(self, analysis_id: str) -> None:
        """An analysis was changed through the API: poll it now and drop cached element pages."""
        self.poller.reopen(analysis_id)
        self.poller.nudge(analysis_id)
        self.cache.drop(lambda key: isinstance(key, tuple) and key[1:2] == (analysis_id,))

    async def stop_extension(self) -> None:
        await self.poller.stop()
        self.sdk_pool.shutdown(wait=False, cancel_futures=True)
        self.transfer_pool.shutdown(wait=False, cancel_futures=True)
        with self._session_lock:
            if self._session is not None:
                self._session.close()  # its compute backends' clients and threads
