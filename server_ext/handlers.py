"""HTTP handlers of ``<base_url>/explorer/api/``: thin faces over the SDK.

Every handler subclasses :class:`BaseHandler`: Jupyter authentication on every verb, XSRF on
every mutation (both from ``APIHandler``), SDK errors turned into HTTP in ONE place
(:func:`http_status`), blocking SDK calls run off the event loop. ``openapi.yaml`` beside this
file is the normative description of every route.
"""

from __future__ import annotations

import asyncio
import errno
import json
import mimetypes
import re
import sys
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import tornado.http1connection
import tornado.httputil
import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin

from explorer_magics import log_ops, rerun
from explorer_magics.compute.base import LOG_READ_LIMIT
from explorer_magics.eos import fs, transfer
from explorer_magics.errors import (
    AccessDenied,
    AlreadyFinished,
    BackendError,
    ExplorerError,
    InvalidAnalysis,
    InvalidPath,
    NotFound,
    Unsupported,
)
from explorer_magics.job_manager import JobManager
from explorer_magics.observe import views
from explorer_magics.records import Manifest, StatusSummary
from explorer_magics.session import Session

from ._version import __version__

if TYPE_CHECKING:
    from .app import ExplorerApp

T = TypeVar("T")

#: SDK error -> HTTP status; the first match wins (NotFound before its ExplorerError base)
ERROR_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (NotFound, 404),
    (AccessDenied, 403),
    (InvalidPath, 400),
    (InvalidAnalysis, 400),
    (AlreadyFinished, 409),  # e.g. terminating an element that had already SUCCEEDED
    (Unsupported, 400),  # the backend cannot do it: configuration, not a failure
    (BackendError, 502),
    (ExplorerError, 400),
    (OSError, 502),  # storage failing underneath the SDK (disk full, permissions)
)


def http_status(exc: BaseException | None) -> tuple[int, str] | None:
    """(status, message) for an SDK error, or None for anything else."""
    for kind, status in ERROR_STATUS:
        if isinstance(exc, kind):
            if isinstance(exc, OSError) and not isinstance(exc, ExplorerError):
                if exc.errno == errno.ENAMETOOLONG:  # bad input the path rules did not catch
                    return 400, "A name (or the whole path) is too long for the storage; choose a shorter one."
                return status, f"Storage failed: {exc.strerror or exc}"
            return status, str(exc) or kind.__name__
    return None


class BaseHandler(ExtensionHandlerMixin, APIHandler):
    """What every Explorer handler shares: JSON in and out, errors, the SDK off the loop."""

    @property
    def explorer(self) -> ExplorerApp:
        return self.extensionapp  # type: ignore[return-value]

    @property
    def session(self) -> Session:
        """The server's session (settings, storage, compute backends)."""
        return self.explorer.session

    @property
    def user(self) -> str:
        """The EOS user this server acts for (Explorer's settings, e.g. JUPYTERHUB_USER)."""
        return self.session.user

    @property
    def who(self) -> dict[str, Any]:
        """``user=`` and ``storage=`` for the EOS calls: the server's."""
        return {"user": self.session.user, "storage": self.session.storage}

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the SDK thread pool (it may do slow network I/O)."""
        return await self.explorer.run(fn, *args, **kwargs)

    # -- answers --------------------------------------------------------------------------
    def send_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(payload))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """THE error mapping: SDK errors become 400/403/404/502 with ``{"message": ...}``."""
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        mapped = http_status(exc)
        if mapped is not None:
            status_code, message = mapped
        elif isinstance(exc, tornado.web.HTTPError):  # authentication, XSRF, a missing argument
            message = exc.log_message or exc.reason or tornado.httputil.responses.get(status_code, "Error")
            if exc.log_message and exc.args:
                message = exc.log_message % exc.args
        elif exc is not None:
            message = f"Unexpected server error ({type(exc).__name__}); see the Jupyter server log."
        else:
            message = self._reason
        self.clear()
        self.set_status(status_code)
        if not self.body_read:
            # refused before the request body was read (a streamed upload refused in prepare):
            # tornado closes the connection rather than read the rest; say so, so the client
            # opens a new one instead of sending its next request into a closed socket
            self.set_header("Connection", "close")
        self.finish(json.dumps({"message": message}))

    #: True on handlers decorated with ``@tornado.web.stream_request_body``
    streams_body = False
    _verb_started = False

    @property
    def body_read(self) -> bool:
        """False while a streamed request body has not been read to its end: tornado calls a
        streaming handler's verb method only once the whole body is in (and reads the whole
        body of any other handler before its ``prepare``)."""
        return not self.streams_body or self._verb_started

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Expected SDK errors are answers, not crashes: log them without a traceback."""
        if isinstance(value, ExplorerError):
            self.log.info(
                "Explorer: %s %s -> %s: %s", self.request.method, self.request.path, type(value).__name__, value
            )
            return
        super().log_exception(typ, value, tb)

    # -- arguments --------------------------------------------------------------------------
    def int_argument(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.get_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ExplorerError(f"{name} must be a whole number, not {raw!r}.") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ExplorerError(f"{name} must be {bounds}, not {value}.")
        return value

    def flag_argument(self, name: str) -> bool:
        return (self.get_argument(name, "") or "").lower() in ("1", "true", "yes", "on")

    def uri_argument(self, name: str = "uri") -> str:
        """The e:// URI in the query, exactly as sent: tornado's ``get_argument`` would quietly
        turn control characters (NUL, ...) into spaces; the SDK must see and refuse them."""
        raw = self.request.query_arguments.get(name) or []
        try:
            value = raw[-1].decode("utf-8") if raw else None
        except UnicodeDecodeError:
            raise InvalidPath(f"?{name}= is not valid UTF-8 (URL-encode the URI as UTF-8).") from None
        if not value:
            raise InvalidPath(f"Give the EOS location as ?{name}=e://users/me/... (URL-encoded).")
        return value

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ExplorerError("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ExplorerError("The request body must be a JSON object.")
        return body


# -- who am I --------------------------------------------------------------------------------
class HealthHandler(BaseHandler):
    """``GET health``: the extension is loaded and answering."""

    @tornado.web.authenticated
    def get(self) -> None:
        self.send_json({"ok": True, "version": __version__})


class WhoAmIHandler(BaseHandler):
    """``GET whoami``: the EOS user and the backends this server uses."""

    @tornado.web.authenticated
    async def get(self) -> None:
        settings = self.session.settings
        storage = await self.run(lambda: self.session.storage)
        self.send_json(
            {
                "user": settings.user,
                "storage": storage.name,
                "capabilities": storage.capabilities.names(),
                "compute": settings.compute,
                "version": __version__,
            }
        )


# -- analyses --------------------------------------------------------------------------------
def analysis_info(manifest: Manifest, summary: StatusSummary) -> dict[str, Any]:
    """The AnalysisInfo of the REST contract."""
    return {
        "id": manifest.id,
        "name": manifest.name,
        "created": manifest.created,
        "size": manifest.size,
        "status": summary.status,
        "counts": {k: v for k, v in summary.counts.items() if v},
        "reason": summary.reason,
        "depends_on": [{"id": d.get("id"), "name": d.get("name")} for d in manifest.depends_on],
        "compute": manifest.compute,
    }


class AnalysesHandler(BaseHandler):
    """``GET analyses``: the user's analyses, newest first, paged.

    The page is built once per ``list_cache_seconds`` for everyone asking the same question
    (statuses come from the shared poller, so it is never staler than one poll interval plus
    that)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        since = self.get_argument("since", None) or None
        date = self.get_argument("date", None) or None
        name = self.get_argument("name", None) or None
        offset = self.int_argument("offset", 0)
        limit = self.int_argument("limit", 50, minimum=1, maximum=500)
        payload = await self.explorer.cache.get(
            ("analyses", self.user, since, date, name, offset, limit),
            lambda: self._page(since, date, name, offset, limit),
            ttl=self.explorer.list_cache_seconds,
            stale=self.explorer.stale_seconds,
        )
        self.send_json(payload)

    async def _page(
        self, since: str | None, date: str | None, name: str | None, offset: int, limit: int
    ) -> dict[str, Any]:
        jobs = await self.run(
            JobManager(session=self.session).list_jobs, since=since, date=date, name=name, limit=offset + limit + 1
        )
        page = jobs[offset : offset + limit]
        infos = await asyncio.gather(*(self._info(job.id) for job in page))
        more = len(jobs) > offset + limit
        return {"analyses": [i for i in infos if i is not None], "next_offset": offset + limit if more else None}

    async def _info(self, analysis_id: str) -> dict[str, Any] | None:
        try:
            analysis, summary = await self.explorer.poller.get(analysis_id)
        except NotFound:
            return None  # being submitted (its manifest is written last) or deleted meanwhile
        return analysis_info(analysis.manifest, summary)


class AnalysisHandler(BaseHandler):
    """``GET analyses/{id}``: one analysis, from the shared poller."""

    @tornado.web.authenticated
    async def get(self, analysis_id: str) -> None:
        analysis, summary = await self.explorer.poller.get(analysis_id)
        self.send_json(analysis_info(analysis.manifest, summary))


class ElementsHandler(BaseHandler):
    """``GET analyses/{id}/elements`` (paged, FAILED first) and ``DELETE`` (terminate all)."""

    @tornado.web.authenticated
    async def get(self, analysis_id: str) -> None:
        status = self.get_argument("status", None) or None
        offset = self.int_argument("offset", 0)
        limit = self.int_argument("limit", 200, minimum=1, maximum=1000)
        analysis, summary = await self.explorer.poller.get(analysis_id)
        ttl = self.explorer.finished_cache_seconds if summary.finished else self.explorer.poll_interval
        elements = await self.explorer.cache.get(
            # a page read while the analysis ran is not the answer once it has ended (nor after a rerun)
            ("elements", analysis_id, status, offset, limit, summary.finished),
            lambda: self.run(analysis.elements, status=status, offset=offset, limit=limit),
            ttl=ttl,
        )
        total = analysis.manifest.count if status is None else summary.counts.get(status, 0)
        self.send_json(
            {
                "elements": [e.to_dict() for e in elements],
                "total": total,
            }
        )

    @tornado.web.authenticated
    async def delete(self, analysis_id: str) -> None:
        analysis = await self.explorer.poller.analysis(analysis_id)
        await self.run(analysis.terminate_all)
        self.explorer.changed(analysis_id)
        self.send_json({"ok": True}, status=202)


_INDEX_RE = re.compile(r"[0-9]{1,18}")


def _element_detail(analysis: Any, index: int) -> dict[str, Any]:
    """One element's record (issue 14) with its attempts (issue 13), from one status read."""
    el = views.element(analysis, analysis._index(index))
    out = el.to_dict()
    out["attempts"] = rerun.attempts(analysis, el.index, el)
    return out


def _element_index(raw: str) -> int:
    """An element index from the URL: plain ASCII decimal digits only (``int()`` would also
    take ``+1``, `` 1``, ``1_0`` and other scripts' digits such as ``١``)."""
    if not _INDEX_RE.fullmatch(raw):
        raise NotFound(f"No element {raw!r}: elements are numbered 0, 1, 2, ... (plain decimal digits).")
    return int(raw)


class ElementHandler(BaseHandler):
    """``GET analyses/{id}/elements/{index}``: one element's record (label, times, exit code,
    memory, CPU, host) with its attempts (and the earlier result it reused, if resumed);
    ``DELETE``: terminate it (409 with what it was if it had already finished)."""

    @tornado.web.authenticated
    async def get(self, analysis_id: str, index: str) -> None:
        analysis = await self.explorer.poller.analysis(analysis_id)
        self.send_json(await self.run(_element_detail, analysis, _element_index(index)))

    @tornado.web.authenticated
    async def delete(self, analysis_id: str, index: str) -> None:
        analysis = await self.explorer.poller.analysis(analysis_id)
        await self.run(analysis.terminate, _element_index(index))
        self.explorer.changed(analysis_id)
        self.send_json({"ok": True}, status=202)


class RerunHandler(BaseHandler):
    """``POST analyses/{id}/rerun`` ``{"failed": true}`` or ``{"indices": [...]}``: submit those
    elements again, in place (202)."""

    @tornado.web.authenticated
    async def post(self, analysis_id: str) -> None:
        body = self.json_body()
        unknown = sorted(set(body) - {"failed", "indices"})
        if unknown:
            raise InvalidAnalysis(
                f"Unknown field(s) {', '.join(unknown)}; send " + '{"failed": true} or {"indices": [...]}.'
            )
        indices = body.get("indices")
        failed = body.get("failed", indices is None)
        if indices is not None and not isinstance(indices, list):
            raise InvalidAnalysis("indices must be a list of element numbers, e.g. [1, 5, 6].")
        if not isinstance(failed, bool):
            raise InvalidAnalysis("failed must be true or false.")
        if indices is None and not failed:
            raise InvalidAnalysis('Say what to rerun: {"failed": true} or {"indices": [...]}.')
        analysis = await self.explorer.poller.analysis(analysis_id)
        chosen = await self.run(rerun.rerun_elements, analysis, failed=failed, indices=indices, quiet=True)
        self.explorer.changed(analysis_id)
        self.send_json({"id": analysis_id, "indices": list(chosen), "count": len(chosen)}, status=202)


# -- observe (issue 14): the array at a glance --------------------------------------------------
class ObservedHandler(BaseHandler):
    """Shared by the routes below: the digest, usage and cancelled elements of an analysis are
    computed once per poll interval for every route and client (a finished analysis's come
    from its record, so they cost one read)."""

    async def observed(self, analysis_id: str) -> tuple[Any, Any, dict[str, Any]]:
        analysis, summary = await self.explorer.poller.get(analysis_id)
        # while it runs this reads every element's record: at most every poll interval, and
        # less often for large arrays (10,000 elements: every 55 s), so that watching a big
        # array on AWS Batch is not a stream of DescribeJobs and S3 reads
        ttl = (
            self.explorer.finished_cache_seconds
            if summary.finished
            else max(self.explorer.poll_interval, 5 + analysis.manifest.count / 200)
        )
        obs = await self.explorer.cache.get(
            ("observed", analysis_id), lambda: self.run(views.observed, analysis), ttl=ttl
        )
        return analysis, summary, obs


class FailuresHandler(ObservedHandler):
    """``GET analyses/{id}/failures``: the failure digest, largest group first."""

    @tornado.web.authenticated
    async def get(self, analysis_id: str) -> None:
        _, summary, obs = await self.observed(analysis_id)
        self.send_json(
            {"groups": obs["failures"], "failed": summary.counts.get("FAILED", 0), "finished": summary.finished}
        )


class UsageHandler(ObservedHandler):
    """``GET analyses/{id}/usage``: resources, cost and the runtime/memory histograms."""

    @tornado.web.authenticated
    async def get(self, analysis_id: str) -> None:
        _, _, obs = await self.observed(analysis_id)
        self.send_json(obs["usage"])


class StatusesHandler(ObservedHandler):
    """``GET analyses/{id}/statuses``: one status letter per element (the heatmap's data)."""

    @tornado.web.authenticated
    async def get(self, analysis_id: str) -> None:
        # live at the poll interval: the letters are one or two reads (elements.txt), or one
        # ListJobs listing per status on AWS Batch; not the every-record computation above
        analysis, summary = await self.explorer.poller.get(analysis_id)
        ttl = self.explorer.finished_cache_seconds if summary.finished else self.explorer.poll_interval
        payload = await self.explorer.cache.get(
            ("statuses", analysis_id), lambda: self.run(views.letters, analysis), ttl=ttl
        )
        self.send_json(payload)


def _utf8_complete(data: bytes) -> int:
    """How many leading bytes of ``data`` end on a whole UTF-8 character (a character split
    between two reads is sent whole with the next one)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte (or ASCII): does its sequence fit?
            need = (
                1
                if byte < 0x80
                else 2
                if byte >> 5 == 0b110
                else 3
                if byte >> 4 == 0b1110
                else 4
                if byte >> 3 == 0b11110
                else 1
            )
            return len(data) if need <= back else len(data) - back
    return len(data)


class LogHandler(BaseHandler):
    """``GET analyses/{id}/elements/{index}/log``: new bytes from an offset cursor (live
    following = polling with ``next_offset``), or the whole log as a download."""

    @tornado.web.authenticated
    async def get(self, analysis_id: str, index: str) -> None:
        stream = self.get_argument("stream", "stdout")
        offset = self.int_argument("offset", 0)
        since = self.get_argument("since", None) or None
        attempt = self.int_argument("attempt", -1, minimum=-1)
        i = _element_index(index)
        analysis = await self.explorer.poller.analysis(analysis_id)
        if attempt >= 0:  # an earlier attempt: finished, read straight from its record
            got = await self.run(log_ops.read_log, analysis, i, stream, offset, attempt=attempt)
            if got.finished and self.flag_argument("download"):
                await self._download(analysis, i, stream, attempt=attempt)
                return
            if got.finished:
                data = got.data
                if len(data) >= LOG_READ_LIMIT:  # more follows: a split character comes whole next time
                    data = data[: _utf8_complete(data)]
                self.send_json(
                    {
                        "data": data.decode("utf-8", errors="replace"),
                        "next_offset": got.next_offset - (len(got.data) - len(data)),
                        "finished": True,
                    }
                )
                return
        if self.flag_argument("download"):
            await self._download(analysis, i, stream)
            return
        # the element's status is shared by every follower (one read per element_status_seconds,
        # kept once finished); it is read before the bytes, so "finished" still means that
        # nothing more will come
        element = await self.explorer.cache.get(
            ("element", analysis_id, analysis._index(i)),
            lambda: self.run(log_ops.element_status, analysis, i),
            ttl=lambda el: (
                self.explorer.finished_cache_seconds if el.finished else self.explorer.element_status_seconds
            ),
            stale=self.explorer.stale_seconds,
        )
        got = await self.run(log_ops.read_log, analysis, i, stream, offset, since=since, element=element)
        data = got.data
        if not got.finished:
            data = data[: _utf8_complete(data)]
        self.send_json(
            {
                "data": data.decode("utf-8", errors="replace"),
                "next_offset": got.next_offset - (len(got.data) - len(data)),
                "finished": got.finished,
            }
        )

    async def _download(self, analysis: Any, index: int, stream: str, *, attempt: int | None = None) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        part = "" if attempt is None else f"-attempt{attempt}"
        filename = f"{analysis.id}-{index}{part}.{stream}.txt"
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        offset = 0
        element = await self.run(log_ops.element_status, analysis, index)  # once, not per piece
        while True:
            got = await self.run(log_ops.read_log, analysis, index, stream, offset, element=element, attempt=attempt)
            if got.data:
                self.write(got.data)
                await self.flush()
            offset = got.next_offset
            if not got.data:
                break
        self.finish(set_content_type="text/plain; charset=utf-8")


# -- EOS -------------------------------------------------------------------------------------
def _entry_json(entry: fs.EosEntry, writable: bool | None = None) -> dict[str, Any]:
    out = entry.to_dict()
    if writable is not None:
        out["writable"] = writable
    return out


class EosListHandler(BaseHandler):
    """``GET eos/list?uri=&page_token=&limit=``: one page of a folder.

    The cursor is ``page_token``, not ``token``: Jupyter reads a ``token`` query parameter as
    its own authentication token (and refuses the request when it is not)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        uri = self.uri_argument()
        # ``token`` is accepted too, but only reaches us when the request is authenticated by
        # the login cookie (Jupyter takes a ``token`` parameter for its own): use page_token.
        token = self.get_argument("page_token", None) or self.get_argument("token", None) or None
        limit = self.int_argument("limit", 200, minimum=1, maximum=fs.MAX_PAGE)
        listing = await self.run(fs.list_folder, uri, token=token, limit=limit, **self.who)
        self.send_json(
            {
                "uri": listing.uri,
                "writable": listing.writable,
                "entries": [e.to_dict() for e in listing.entries],
                "next_token": listing.next_token,
            }
        )


class EosStatHandler(BaseHandler):
    """``GET eos/stat?uri=``: one file or folder, and whether it may be changed."""

    @tornado.web.authenticated
    async def get(self) -> None:
        uri = self.uri_argument()
        entry = await self.run(fs.stat, uri, **self.who)
        self.send_json(_entry_json(entry, fs.writable(entry.uri, user=self.user)))


def _content_disposition(name: str) -> str:
    """``attachment`` with the name in ASCII and, exactly, in RFC 5987 UTF-8."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%' else "_" for c in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


_TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/x-yaml")


def _inline_type(name: str) -> str:
    """The Content-Type a file is served inline with. Nothing the browser would run (HTML,
    SVG, scripts) is ever served as itself from the Jupyter origin: text goes as text/plain."""
    guessed, _ = mimetypes.guess_type(name)
    if guessed and guessed.startswith("image/") and guessed != "image/svg+xml":
        return guessed
    if guessed is None or guessed.startswith("text/") or guessed in _TEXT_TYPES or guessed.endswith(("+xml", "+json")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


@tornado.web.stream_request_body
class EosContentHandler(BaseHandler):
    """``eos/content?uri=``: GET streams a file down, PUT streams one up as the body arrives
    (access checked before a byte is accepted), DELETE removes a file or (recursive) a folder."""

    streams_body = True
    _writer: BinaryIO | None = None
    _pending: list[bytes]
    _pending_bytes = 0

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()  # authentication and XSRF: before any byte of the body is read
        if self._finished or self.request.method != "PUT":
            return
        if not self.current_user:  # belt and braces: @authenticated on put() runs after the body
            raise tornado.web.HTTPError(403)
        uri = self.uri_argument()
        connection = self.request.connection
        assert isinstance(connection, tornado.http1connection.HTTP1Connection)  # (HTTP/1.1: Jupyter's server)
        connection.set_max_body_size(self.explorer.max_upload_bytes)
        length = self.request.headers.get("Content-Length")
        storage = await self.run(self.explorer.upload_storage, int(length) if length and length.isdigit() else None)
        self._loc, self._writer = await self.explorer.transfer(fs.open_write, uri, user=self.user, storage=storage)
        self._pending = []

    async def data_received(self, chunk: bytes) -> None:
        if self._writer is None or self._finished:
            return  # refused or failed: the rest of the body is dropped
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self._pending_bytes < self.explorer.chunk_bytes:
            # let other requests in between two chunks: while the client sends faster than
            # the loop reads, tornado would otherwise read chunk after chunk without yielding
            await asyncio.sleep(0)
            return
        data = b"".join(self._pending)
        self._pending, self._pending_bytes = [], 0
        try:
            await self.explorer.transfer(self._writer.write, data)
        except Exception:
            # tornado cannot answer an exception raised here: answer now, drop the rest
            self._abort()
            self.log_exception(*sys.exc_info())
            self.send_error(500, exc_info=sys.exc_info())

    def _abort(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            abort = getattr(writer, "abort", None)
            self.explorer.transfer_pool.submit(abort if abort else writer.close)

    def on_connection_close(self) -> None:
        self._abort()  # the client went away mid-upload: store nothing
        super().on_connection_close()

    def on_finish(self) -> None:
        self._abort()  # a response went out without the upload being committed
        super().on_finish()

    @tornado.web.authenticated
    async def put(self) -> None:
        self._verb_started = True  # tornado calls the verb once the whole body has arrived
        writer = self._writer
        if writer is None:
            raise BackendError("The upload was interrupted; send it again.")
        data = b"".join(self._pending)
        self._pending, self._pending_bytes = [], 0
        try:
            if data:
                await self.explorer.transfer(writer.write, data)
            self._writer = None
            await self.explorer.transfer(writer.close)  # commits the object (completes a multipart upload)
        except BaseException:
            self._writer = writer
            self._abort()
            raise
        entry = await self.run(fs.stat, self._loc.uri, **self.who)
        self.send_json(entry.to_dict(), status=201)

    @tornado.web.authenticated
    async def get(self) -> None:
        self._verb_started = True
        uri = self.uri_argument()
        inline = self.flag_argument("inline")
        if (
            self.explorer.download_redirect
            and not inline
            and (await self.run(lambda: self.session.storage)).capabilities.presign
        ):
            self.redirect(await self.run(fs.presign, uri, **self.who))
            return
        entry, stream = await self.explorer.transfer(fs.open_read, uri, **self.who)
        try:
            if inline:
                content_type = _inline_type(entry.name)
                self.set_header("Content-Security-Policy", "sandbox; default-src 'none'")
            else:
                content_type = "application/octet-stream"
                self.set_header("Content-Disposition", _content_disposition(entry.name))
            self.set_header("X-Content-Type-Options", "nosniff")
            self.set_header("Content-Type", content_type)
            self.set_header("Content-Length", str(entry.size))
            self.set_header("Cache-Control", "no-store")
            size = self.explorer.chunk_bytes
            while True:
                chunk = await self.explorer.transfer(stream.read, size)
                if not chunk:
                    break
                self.write(chunk)
                await self.flush()  # waits until the socket took it: memory stays at one chunk
        finally:
            self.explorer.transfer_pool.submit(stream.close)
        self.finish(set_content_type=content_type)

    @tornado.web.authenticated
    async def delete(self) -> None:
        self._verb_started = True
        uri = self.uri_argument()
        deleted = await self.run(transfer.delete, uri, recursive=self.flag_argument("recursive"), **self.who)
        self.send_json({"deleted": deleted})


class EosFolderHandler(BaseHandler):
    """``POST eos/folder?uri=``: make an empty folder."""

    @tornado.web.authenticated
    async def post(self) -> None:
        entry = await self.run(fs.make_folder, self.uri_argument(), **self.who)
        self.send_json(entry.to_dict(), status=201)


class EosCopyHandler(BaseHandler):
    """``POST eos/copy`` ``{"src", "dst", "move"}``: copy or rename a file or folder."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        src, dst, move = body.get("src"), body.get("dst"), body.get("move", False)
        if not isinstance(src, str) or not isinstance(dst, str) or not src or not dst:
            raise ExplorerError('Give {"src": "e://...", "dst": "e://..."} (and "move": true to rename).')
        if not isinstance(move, bool):
            raise ExplorerError('"move" must be true or false.')
        entry = await self.run(transfer.copy, src, dst, move=move, **self.who)
        self.send_json(entry.to_dict())


class EosPresignHandler(BaseHandler):
    """``GET eos/presign?uri=``: a URL anyone can download the file with (S3 storage)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        url = await self.run(fs.presign, self.uri_argument(), **self.who)
        self.send_json({"url": url})


_ID = r"(?P<analysis_id>[^/]+)"
_INDEX = r"(?P<index>[^/]+)"
API = r"/explorer/api"

#: (pattern, handler) for ExplorerApp.handlers (patterns are below the server's base_url)
ROUTES: list[tuple[str, type[BaseHandler]]] = [
    (rf"{API}/health", HealthHandler),
    (rf"{API}/whoami", WhoAmIHandler),
    (rf"{API}/analyses", AnalysesHandler),
    (rf"{API}/analyses/{_ID}", AnalysisHandler),
    (rf"{API}/analyses/{_ID}/elements", ElementsHandler),
    (rf"{API}/analyses/{_ID}/elements/{_INDEX}", ElementHandler),
    (rf"{API}/analyses/{_ID}/rerun", RerunHandler),
    (rf"{API}/analyses/{_ID}/elements/{_INDEX}/log", LogHandler),
    (rf"{API}/analyses/{_ID}/failures", FailuresHandler),
    (rf"{API}/analyses/{_ID}/usage", UsageHandler),
    (rf"{API}/analyses/{_ID}/statuses", StatusesHandler),
    (rf"{API}/eos/list", EosListHandler),
    (rf"{API}/eos/stat", EosStatHandler),
    (rf"{API}/eos/content", EosContentHandler),
    (rf"{API}/eos/folder", EosFolderHandler),
    (rf"{API}/eos/copy", EosCopyHandler),
    (rf"{API}/eos/presign", EosPresignHandler),
]

__all__ = ["ERROR_STATUS", "ROUTES", "BaseHandler", "http_status"]
