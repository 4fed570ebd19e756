"""The ONE place that builds boto3 clients, for every AWS service Explorer uses.

Every client gets the same botocore config: adaptive retries (client-side rate limiting and
backoff on 429/Throttling and 5xx, up to 10 attempts), a connection pool large enough for
parallel transfers, and the endpoint and region from the settings. An endpoint that cannot be
reached at all (connection refused, unknown host, connect timeout) fails at once instead: ten
more tries would only make a wrong endpoint setting take ~20 s to report. Credentials come from the standard
AWS chain (environment, shared files, SSO, container/instance roles): nothing here reads or
stores a secret.

Endpoints, most specific first::

    client("s3", endpoint_url="http://...")        an explicit argument
    EXPLORER_<SERVICE>_ENDPOINT_URL                e.g. EXPLORER_BATCH_ENDPOINT_URL
    S3Settings.endpoint_url                        S3 only (EXPLORER_S3_ENDPOINT_URL, [s3] endpoint_url)
    EXPLORER_AWS_ENDPOINT_URL                      every service (e.g. one moto server)
    AWS_ENDPOINT_URL_<SERVICE> / AWS_ENDPOINT_URL  botocore's own variables

Clients are cached per process (they are thread-safe, and building one costs ~50 ms); a
forked child builds its own, never sharing its parent's sockets.

Throttling beyond botocore's own retries: :func:`call` retries a call again with jittered
backoff while AWS says "slow down" (and, for idempotent calls, on 5xx and dropped connections),
optionally taking a :class:`TokenBucket` token first. Batch and S3 use it alike.

Every API call made through these clients is counted (:func:`call_counts`), so benchmarks and
tests can check how many calls an operation costs, e.g. ``{"s3.PutObject": 1000}``; with
``EXPLORER_AWS_CALLS_FILE`` set, a process writes its counts there (JSON) when it exits.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .config import BackendSettings, setting

if TYPE_CHECKING:
    from .config import Settings

DEFAULT_REGION = "us-east-1"
#: connections per client; parallel transfers use up to this many at once
MAX_POOL_CONNECTIONS = 64
#: the longest a presigned URL can live: SigV4 refuses expiries over 7 days
PRESIGN_MAX_SECONDS = 7 * 24 * 3600
#: S3 request bodies larger than this wait for "100 Continue" before being sent
EXPECT_CONTINUE_ABOVE = 2 * 1024 * 1024

_lock = threading.RLock()  # (client() makes a session under it)
_clients: dict[tuple[Any, ...], Any] = {}
_calls: collections.Counter[str] = collections.Counter()
_calls_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child (the local cluster forks element processes) starts with fresh locks and
    no clients: a lock held by another thread at fork time would never be released, and a
    client's pooled sockets belong to the parent."""
    global _lock, _calls_lock
    _lock = threading.RLock()
    _calls_lock = threading.Lock()
    _clients.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _count_call(model: Any = None, **_: Any) -> None:
    """botocore ``before-call`` handler: count ``service.Operation``."""
    if model is None:
        return
    count_call(f"{model.service_model.endpoint_prefix}.{model.name}")


def count_call(name: str) -> None:
    """Count one ``service.Operation`` call made without botocore (AWS's C runtime)."""
    with _calls_lock:
        _calls[name] += 1


def call_counts() -> collections.Counter[str]:
    """A copy of the API calls made by this process so far, keyed ``service.Operation``."""
    with _calls_lock:
        return collections.Counter(_calls)


def reset_call_counts() -> None:
    """Start counting API calls from zero."""
    with _calls_lock:
        _calls.clear()


def _dump_calls_at_exit(path: str) -> None:
    """With ``EXPLORER_AWS_CALLS_FILE`` set, write this process's call counts there (JSON)
    when it exits: how benchmarks count the calls a command-line run made."""
    import atexit
    import json

    def dump() -> None:
        with open(path, "w") as fh:
            json.dump(dict(call_counts()), fh)

    atexit.register(dump)


if os.environ.get("EXPLORER_AWS_CALLS_FILE"):
    _dump_calls_at_exit(os.environ["EXPLORER_AWS_CALLS_FILE"])


@dataclasses.dataclass(frozen=True)
class S3Settings(BackendSettings):
    """``[s3]``: how to reach S3 (and the region every AWS client uses)."""

    section = "s3"

    endpoint_url: str | None = setting(aliases=("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"), doc="S3 endpoint")
    region: str | None = setting(aliases=("AWS_REGION", "AWS_DEFAULT_REGION"), doc="AWS region")

    def to_env(self) -> dict[str, str]:
        env = super().to_env()
        if self.region:
            env["AWS_DEFAULT_REGION"] = self.region
        return env


def endpoint_for(service: str, settings: Settings | None = None) -> str | None:
    """The endpoint URL ``service`` should use, or None for botocore's default."""
    specific = os.environ.get(f"EXPLORER_{service.upper().replace('-', '_')}_ENDPOINT_URL")
    if specific:
        return specific
    if service == "s3" and settings is not None and settings.of(S3Settings).endpoint_url:
        return settings.of(S3Settings).endpoint_url
    return os.environ.get("EXPLORER_AWS_ENDPOINT_URL") or None


def region_for(settings: Settings | None = None) -> str:
    """The region: the settings', else the AWS environment's, else us-east-1."""
    configured = settings.of(S3Settings).region if settings is not None else None
    if configured:
        return configured
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


# -- throttling and retries beyond botocore's ---------------------------------------------------
THROTTLE_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "SlowDown",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
    }
)


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, ``burst`` at once (thread-safe)."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from .errors import ExplorerError

        if rate <= 0:
            raise ExplorerError(f"A rate limit must be positive, not {rate!r}.")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self._tokens = self.burst
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until there is one; returns the seconds slept."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait:
            self._sleep(wait)
        return wait


def http_status(exc: BaseException) -> int:
    """The HTTP status of a botocore ``ClientError`` (0 if there was no answer)."""
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_throttle(exc: BaseException) -> bool:
    """True for "slow down" answers: the request was NOT carried out, so it may be repeated."""
    return error_code(exc) in THROTTLE_CODES or http_status(exc) == 429


def retryable(exc: BaseException, *, idempotent: bool) -> bool:
    """True if ``exc`` is worth another try: throttling always; 5xx answers and connections
    dropped mid-request when repeating the call cannot do it twice. An endpoint that cannot be
    reached at all is not (see the module docstring)."""
    if is_throttle(exc):
        return True
    if not idempotent:
        return False  # a 5xx SubmitJob may have created the job: botocore's own retries only
    if http_status(exc) >= 500:
        return True
    return type(exc).__name__ in ("ConnectionClosedError", "ReadTimeoutError")


class Retry:
    """Backoff of :func:`call` (class attributes so tests can make it fast)."""

    attempts = 8
    base_delay = 0.5
    max_delay = 20.0
    sleep: Callable[[float], None] = staticmethod(time.sleep)


def call(
    made: Any, operation: str, *, idempotent: bool = True, before: Callable[[], object] | None = None, **params: Any
) -> Any:
    """``made.<operation>(**params)`` (a client from :func:`client`), retried while
    :func:`retryable` says so, with full-jitter exponential backoff, on top of botocore's adaptive
    retries; ``before`` runs before every try (e.g. a :class:`TokenBucket`'s ``acquire``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    method = getattr(made, operation)
    for attempt in range(Retry.attempts):
        if before is not None:
            before()
        try:
            return method(**params)
        except (ClientError, BotoCoreError) as exc:
            if attempt + 1 >= Retry.attempts or not retryable(exc, idempotent=idempotent):
                raise
            Retry.sleep(random.uniform(0, min(Retry.max_delay, Retry.base_delay * 2**attempt)))
    raise AssertionError("unreachable")  # pragma: no cover


def presign_seconds(seconds: object) -> int:
    """``seconds`` as a presigned URL's lifetime, if SigV4 allows it (1 s to 7 days), else raise
    :class:`~explorer_magics.errors.ExplorerError` saying what is allowed. A URL that S3 would
    refuse, or one that is dead on arrival, is never handed out."""
    from .errors import ExplorerError

    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise ExplorerError(f"A URL's lifetime must be a whole number of seconds, not {seconds!r}.")
    if not 1 <= seconds <= PRESIGN_MAX_SECONDS:
        raise ExplorerError(
            f"A URL's lifetime must be between 1 second and 7 days ({PRESIGN_MAX_SECONDS} s, the most "
            f"S3 signatures allow), not {seconds} s."
        )
    return seconds


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``"NoSuchKey"``, ``"404"``), else ""."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def client(
    service: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    settings: Settings | None = None,
    max_pool_connections: int = MAX_POOL_CONNECTIONS,
) -> Any:
    """A (cached) boto3 client for ``service`` with Explorer's retry, pool and endpoint setup.

    ``endpoint_url`` and ``region`` override what ``settings`` say (pass
    ``settings=<a Session>.settings`` to follow that session's settings; without it only the
    environment is consulted).
    """
    endpoint = endpoint_url or endpoint_for(service, settings)
    region_name = region or region_for(settings)
    key = (os.getpid(), service, endpoint, region_name, max_pool_connections)
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = _build(service, endpoint, region_name, max_pool_connections)
            _clients[key] = found
        return found


def _core_session(service: str) -> Any:
    """A new botocore session to make one ``service`` client with. New each time: a session
    keeps the credentials it found first, and the environment's may have changed since."""
    import botocore.session

    made = botocore.session.Session()
    if service == "s3":
        # A listing of 1,000 keys carries 1,000 ISO 8601 times; botocore parses each with
        # dateutil (a third of the CPU of a `d sync` with nothing to copy). Same result, faster.
        made.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_parse_timestamp)
    return made


def credentials() -> Any:
    """The credentials a client made now would sign with (botocore's chain: environment, config
    files, SSO, instance role; refreshing where the source does), or None if there are none.
    For a client that is not botocore's (AWS's C runtime): it signs as the same identity, and
    finding them costs far less than making a client."""
    import botocore.session

    return botocore.session.Session().get_credentials()


def _build(service: str, endpoint: str | None, region: str, pool: int) -> Any:
    from botocore.config import Config

    options: dict[str, Any] = {
        "retries": {"mode": "adaptive", "max_attempts": 10},
        "max_pool_connections": pool,
        "connect_timeout": 10,
        "read_timeout": 120,
    }
    if service == "s3":
        # SigV4 presigned URLs (required outside us-east-1; SigV4 caps a URL's life at 7 days,
        # see PRESIGN_MAX_SECONDS); path-style addressing when an endpoint is given (MinIO, moto, Ceph name buckets in
        # the path, not in a DNS name).
        options["signature_version"] = "s3v4"
        if endpoint:
            options["s3"] = {"addressing_style": "path"}
        # S3 calls come from our own code with parameters it built: skip botocore's parameter
        # validation (a measurable share of a small request's CPU when copying many files).
        options["parameter_validation"] = False
        # Small objects go up without a CRC32 header (S3's default before 2025; the transfer is
        # already protected by TLS, or by the signed payload hash over plain HTTP): computing
        # and checking it costs client and server more than the request itself for a 1 KB file.
        # Multipart uploads still ask for CRC32 explicitly, part by part.
        options["request_checksum_calculation"] = "when_required"
    core = _core_session(service)
    # botocore's own client, as boto3's Session.client makes it, without importing boto3 and
    # s3transfer (a fifth of a second of every `d` command's start); nothing here uses the
    # methods boto3 adds (upload_file & co.: Explorer moves files itself)
    made = core.create_client(service, region_name=region, endpoint_url=endpoint, config=Config(**options))
    if service == "s3":
        _fix_user_agent(made)
        _expect_continue_for_large_bodies_only(made)
    made.meta.events.register("before-call", _count_call)
    service_event = made.meta.service_model.service_id.hyphenize()
    made.meta.events.register_first(f"needs-retry.{service_event}", _no_retry_when_unreachable)
    return made


def _no_retry_when_unreachable(caught_exception: BaseException | None = None, **_: Any) -> None:
    """botocore ``needs-retry`` handler, run before the retry policy: a request that could not
    even connect is not retried (raising here ends the call with that error). Throttling, 5xx
    answers and connections dropped mid-request still go to the adaptive retries."""
    from botocore.exceptions import EndpointConnectionError

    if isinstance(caught_exception, EndpointConnectionError):  # also ConnectTimeoutError
        raise caught_exception


def _expect_continue_for_large_bodies_only(made: Any) -> None:
    """botocore asks S3 for "100 Continue" before sending ANY body: one more round trip, and
    one more answer from the server, for every small object. Ask only when a refused request
    would waste a large body (over 2 MiB, as the Go and Java SDKs do)."""
    from botocore import handlers, utils

    def expect_large(model: Any, params: dict[str, Any], **_: Any) -> None:
        body = params.get("body")
        if model.http.get("method", "") not in ("PUT", "POST") or not hasattr(body, "read"):
            return
        size = utils.determine_content_length(body)
        if size is None or size > EXPECT_CONTINUE_ABOVE:
            params["headers"]["Expect"] = "100-continue"

    made.meta.events.unregister("before-call.s3", handlers.add_expect_header)
    made.meta.events.register("before-call.s3", expect_large)


def _fix_user_agent(made: Any) -> None:
    """Build the User-Agent header once per client instead of twice per request.

    botocore assembles it from ~16 sanitized parts for every request, then again just before
    sending to add usage metrics: a sixth of the CPU of a small PutObject when thousands of
    files are copied. Best effort: if botocore changes these internals, nothing changes here.
    """
    creator = getattr(made, "_user_agent_creator", None)
    if creator is None or not callable(getattr(creator, "to_string", None)):
        return
    rebuild = getattr(creator, "rebuild_and_replace_user_agent_handler", None)
    if rebuild is not None:
        service_id = made.meta.service_model.service_id.hyphenize()
        made.meta.events.unregister(f"request-created.{service_id}", rebuild)
    fixed = creator.to_string()
    creator.to_string = lambda: fixed


def _parse_timestamp(value: Any) -> Any:
    """botocore's timestamp parser, with fast paths for what S3 sends: ISO 8601 in XML bodies
    (``2023-05-08T12:00:00.000Z``) and HTTP dates in headers. Times are timezone-aware UTC."""
    import datetime as dt

    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            if value.endswith("GMT"):
                from email.utils import parsedate_to_datetime

                try:
                    return parsedate_to_datetime(value)
                except (TypeError, ValueError):
                    pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    from botocore.utils import parse_timestamp

    return parse_timestamp(value)


def clear_clients() -> None:
    """Forget cached clients (after changing credentials or endpoints in this process)."""
    with _lock:
        _clients.clear()
