"""Many small uploads at once through AWS's C runtime (``awscrt``), for :class:`S3Storage`.

botocore spends 1-2 ms of Python CPU on every request (building, signing, parsing, events), so
1,000 small files took 2 s where a Go tool takes 0.6 s, and threads do not help: that CPU holds
the GIL. ``awscrt``'s S3 client (the engine of the AWS CLI v2 and boto3's ``crt`` extra) builds,
signs and sends requests in C on its own event loop; Python only hands it each file's path.

Only what is easy to get right goes this way: single-request uploads and downloads (objects up
to the multipart threshold) of a batch large enough to pay for starting the event loop; a
download is written to a temporary file beside its destination and renamed into place. Anything the
C client could not do (a refused signature, a missing bucket, a file that vanished, a server
error) is reported back as "not done" and the caller sends that file through botocore, whose
errors and retries are the ones every other path shows: a failure reads the same either way.

boto3's own CRT transfer manager is not used: it ignores a client's ``endpoint_url`` and always
uses TLS (boto/boto3#4839, #4689), so it cannot talk to SeaweedFS, MinIO, Ceph or moto. The
client here is given the endpoint (path-style, as botocore is configured for custom endpoints)
or, on AWS, the bucket's virtual-hosted name over TLS. Credentials come from botocore's
chain, as the S3 clients' do, so both paths sign as the same identity. The event loop lives
only for one batch: no C threads are left running when a process forks an element.
"""

from __future__ import annotations

import contextlib
import os
import threading
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from .. import aws
from ..errors import ExplorerError
from .base import temp_beside

if TYPE_CHECKING:
    from .s3 import S3Storage

#: the fewest files worth starting the C event loop for (below it botocore's pool is as quick)
MIN_FILES = 32
IN_FLIGHT = 64  # requests handed to the C client at a time (bounds its memory and open files)


def min_files() -> int:
    """``EXPLORER_S3_CRT_MIN_FILES``, else :data:`MIN_FILES`."""
    text = os.environ.get("EXPLORER_S3_CRT_MIN_FILES", "").strip()
    if not text:
        return MIN_FILES
    if not text.isdigit():
        raise ExplorerError(
            f"EXPLORER_S3_CRT_MIN_FILES must be a whole number of files (e.g. 32), not {text!r}; "
            "unset it for the default."
        )
    return int(text)


def available() -> bool:
    """Whether ``awscrt`` can be imported (and ``EXPLORER_S3_CRT`` does not turn it off)."""
    if os.environ.get("EXPLORER_S3_CRT", "1").lower() in ("0", "false", "no", "off"):
        return False
    try:
        import awscrt.s3  # noqa: F401
    except ImportError:
        return False
    return True


def _address(storage: S3Storage) -> tuple[str, str, bool] | None:
    """``(host, path prefix, tls)`` for requests to ``storage``'s bucket, or None where only
    botocore knows how to reach it (a proxy, which botocore honours from the environment)."""
    if storage.endpoint_url:
        parts = urlsplit(storage.endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            return None
        found = parts.netloc, parts.path.rstrip("/") + "/" + quote(storage.bucket, safe=""), parts.scheme == "https"
    # AWS: virtual-hosted names over TLS; a bucket with dots would not match the certificate
    elif "." in storage.bucket or not storage.region or storage.region.startswith("cn-"):
        return None
    else:
        found = f"{storage.bucket}.s3.{storage.region}.amazonaws.com", "", True
    host, _, tls = found
    if urllib.request.getproxies().get("https" if tls else "http") and not urllib.request.proxy_bypass(host):
        return None
    return found


PUT, GET = "PUT", "GET"


def put_files(
    storage: S3Storage,
    items: Sequence[tuple[str, str, int]],
    *,
    progress: Callable[[int], None] | None = None,
) -> list[bool]:
    """Upload each ``(local path, full object key, size)``; ``done[i]`` says whether item ``i``
    is stored. Items not done were not written by this call (or were written whole, then
    reported failed: the caller's retry overwrites them with the same bytes)."""
    return _batch(storage, PUT, items, progress)


def get_files(
    storage: S3Storage,
    items: Sequence[tuple[str, str, int]],
    *,
    progress: Callable[[int], None] | None = None,
) -> list[bool]:
    """Download each ``(local path, full object key, size)``, each through a temporary file
    beside the path, renamed into place when whole; ``done[i]`` says whether item ``i`` is there.
    A path not done is untouched."""
    return _batch(storage, GET, items, progress)


def _batch(
    storage: S3Storage, method: str, items: Sequence[tuple[str, str, int]], progress: Callable[[int], None] | None
) -> list[bool]:
    done = [False] * len(items)
    if len(items) < min_files() or not available():
        return done
    address = _address(storage)
    if address is None:
        return done
    # the very credentials botocore signs this storage's requests with (found without making a
    # botocore client, which alone takes 0.2-0.3 s); without them, botocore alone
    credentials = aws.credentials()
    if credentials is None:
        return done
    shutdowns: list[threading.Event] = []
    try:
        _run(storage, method, items, address, credentials, done, shutdowns, progress)
    finally:
        # Every reference to the C client died with _run: its threads stop; wait so that none
        # is left when this process forks next.
        for event in shutdowns:
            event.wait(5)
    return done


def _run(
    storage: S3Storage,
    method: str,
    items: Sequence[tuple[str, str, int]],
    address: tuple[str, str, bool],
    credentials: Any,
    done: list[bool],
    shutdowns: list[threading.Event],
    progress: Callable[[int], None] | None,
) -> None:
    from awscrt import auth, http, io, s3

    host, base, tls = address

    def current() -> Any:
        frozen = credentials.get_frozen_credentials()
        return auth.AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    loops = io.EventLoopGroup(min(4, os.cpu_count() or 1))
    resolver = io.DefaultHostResolver(loops)
    bootstrap = io.ClientBootstrap(loops, resolver)
    client = s3.S3Client(
        bootstrap=bootstrap,
        region=storage.region,
        tls_mode=s3.S3RequestTlsMode.ENABLED if tls else s3.S3RequestTlsMode.DISABLED,
        credential_provider=auth.AwsCredentialsProvider.new_delegate(current),
        part_size=storage.multipart_chunksize,
        multipart_upload_threshold=storage.multipart_threshold,
    )
    shutdowns += [client.shutdown_event, bootstrap.shutdown_event, loops.shutdown_event]
    if method == PUT:
        # Over plain HTTP nothing else protects the bytes: each object carries its CRC32, which
        # the server checks (botocore signs the payload's SHA-256 there instead).
        checksum = s3.S3ChecksumConfig(algorithm=s3.S3ChecksumAlgorithm.CRC32, location=s3.S3ChecksumLocation.HEADER)
        kind = s3.S3RequestType.PUT_OBJECT
    else:
        # a CRC32 the object was stored with is checked on the way down
        checksum = s3.S3ChecksumConfig(validate_response=True)
        kind = s3.S3RequestType.GET_OBJECT
    idle = threading.Condition()
    running: dict[int, Any] = {}  # what the C client holds; at most IN_FLIGHT
    settled: set[int] = set()

    def settle(i: int, ok: bool) -> None:
        with idle:
            done[i] = ok
            settled.add(i)
            running.pop(i, None)
            idle.notify_all()

    def wait_until(at_most: int) -> None:
        with idle:
            while len(running) > at_most:
                idle.wait(0.5)  # a bounded wait: Ctrl-C gets through

    try:
        for i, (path, key, size) in enumerate(items):
            wait_until(IN_FLIGHT - 1)
            target = path
            if method == GET:
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                except OSError:
                    continue  # botocore's download says why
                target = str(temp_beside(Path(path)))

            def on_done(
                error: Any = None, status_code: Any = None, i: int = i, size: int = size, target: str = target, **_: Any
            ) -> None:
                ok = error is None and status_code is not None and 200 <= int(status_code) < 300
                if method == GET:
                    try:
                        if ok:
                            ok = os.stat(target).st_size == size
                        if ok:
                            os.replace(target, items[i][0])
                    except OSError:
                        ok = False
                    if not ok:
                        with contextlib.suppress(OSError):
                            os.unlink(target)
                if ok and progress:
                    progress(size)
                settle(i, ok)

            headers = [("Host", host)] + ([("Content-Length", str(size))] if method == PUT else [])
            request = http.HttpRequest(method, f"{base}/{quote(key, safe='/~')}", http.HttpHeaders(headers))
            files = {"send_filepath": path} if method == PUT else {"recv_filepath": target}
            try:
                sent = client.make_request(
                    type=kind, request=request, checksum_config=checksum, on_done=on_done, **files
                )
            except Exception:  # noqa: BLE001 - not moved this way: botocore moves it and reports why
                continue
            with idle:
                if i not in settled:  # (it may already be done)
                    running[i] = sent
            aws.count_call("s3.PutObject" if method == PUT else "s3.GetObject")
        wait_until(0)
    except BaseException:
        with idle:
            for request in list(running.values()):
                request.cancel()
        with idle:
            idle.wait_for(lambda: not running, timeout=10)
        raise
