"""``s3`` storage: a bucket (and optional prefix) on AWS S3 or any S3-compatible endpoint.

``s3://bucket[/prefix]``; the endpoint (MinIO, Ceph, moto, ...) comes from ``endpoint_url``,
credentials from the standard AWS chain. Clients are built by :mod:`explorer_magics.aws`
(adaptive retries, one connection pool).

Large objects move in parts, several at once, and memory stays bounded whatever the size:

* uploads above ``multipart_threshold`` are multipart uploads; each part is read from the file
  as it is sent (``os.pread``), ``max_concurrency`` parts in flight; on any failure the upload
  is aborted, so no partial object ever appears;
* downloads read the first part with one ranged GET (which also tells the size: a small
  object takes one call), then the rest as ranged GETs in parallel, one per worker up to 64 MiB
  each, pinned to the first response's ETag (``If-Match``), streamed a MiB at a time with
  ``os.pwrite`` into a temporary file beside the destination, renamed into place at the end;
* :meth:`S3Storage.open_write` buffers one part at a time and uploads full parts in the
  background (at most ``max_concurrency`` buffered), committing on ``close()``.

The part size grows for very large objects so a transfer never needs more than 10,000 parts.
"""

from __future__ import annotations

import concurrent.futures
import copy
import http.client
import io
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import aws
from ..eos import validate_relpath
from ..errors import AccessDenied, BackendError, ExplorerError, InvalidPath, NotFound
from .base import Capabilities, ListPage, ObjectInfo, Progress, Storage, temp_beside

if TYPE_CHECKING:
    from ..config import Settings

MiB = 1024 * 1024
MAX_PARTS = 10_000
MIN_PART = 5 * MiB  # S3's smallest part (except the last one)
PARTS_PER_STEP = 1_000  # open_write doubles its part size after each this many parts
MAX_RANGE = 64 * MiB  # the largest ranged GET of a download
SMALL_BODY = MiB  # objects up to this size are sent from memory
_READ = MiB  # read/write granularity while streaming a part
_buffers = threading.local()  # one _READ buffer per downloading thread


def s3_client(*, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 S3 client built by :func:`explorer_magics.aws.client` (cached, retrying)."""
    return aws.client("s3", endpoint_url=endpoint_url or aws.endpoint_for("s3"), region=region or aws.region_for())


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix/")`` (prefix "" or ending in /)."""
    if not url.startswith("s3://"):
        raise InvalidPath(f"{url!r} is not an S3 URL; write s3://bucket or s3://bucket/prefix.")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise InvalidPath(f"{url!r} does not name a bucket; write s3://bucket or s3://bucket/prefix.")
    prefix = prefix.strip("/")
    if prefix:
        validate_relpath(prefix, what=f"the prefix of {url!r}", allow_dir=False)
    return bucket, (prefix + "/" if prefix else "")


class S3Storage(Storage):
    """Objects in ``s3://bucket/prefix/<key>``."""

    name = "s3"
    capabilities = Capabilities(presign=True, multipart=True)

    @classmethod
    def options(cls, settings: Settings) -> dict[str, Any]:
        """``[s3]`` endpoint_url and region (see :class:`explorer_magics.aws.S3Settings`)."""
        s3 = settings.of(aws.S3Settings)
        return {"endpoint_url": s3.endpoint_url, "region": s3.region}

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        multipart_threshold: int = 16 * MiB,
        multipart_chunksize: int = 16 * MiB,
        max_concurrency: int = 8,
    ) -> None:
        self.bucket, self.prefix = split_s3_url(url)
        self.endpoint_url = endpoint_url or aws.endpoint_for("s3")
        self.region = region or aws.region_for()
        if multipart_chunksize < MIN_PART:
            raise ExplorerError(f"multipart_chunksize must be at least {MIN_PART} bytes (S3's smallest part).")
        self.multipart_threshold = max(multipart_threshold, 1)
        self.multipart_chunksize = multipart_chunksize
        self.max_concurrency = max(1, max_concurrency)

    # -- plumbing -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    @property
    def client(self) -> Any:
        """The boto3 client (one per process, shared by every S3Storage with this endpoint)."""
        return aws.client("s3", endpoint_url=self.endpoint_url, region=self.region)

    def _full(self, key: str) -> str:
        validate_relpath(key, what="storage key")
        return self.prefix + key

    def _object_key(self, key: str) -> str:
        if key == "" or key.endswith("/"):
            raise NotFound(f"{key!r} is a folder, not an object.")
        return self._full(key)

    def _error(self, exc: Exception, key: str, doing: str) -> ExplorerError:
        """Turn a botocore error into the Explorer error a person can act on."""
        code = aws.error_code(exc)
        where = f"s3://{self.bucket}/{self.prefix}{key}"
        if code in ("NoSuchKey", "404", "NotFound"):
            return NotFound(f"No object at {key!r} ({where}).")
        if code == "NoSuchBucket":
            return BackendError(
                f"The bucket {self.bucket!r} does not exist (while {doing} {where}); create it "
                "or fix the storage setting (EXPLORER_STORAGE / storage in the config file)."
            )
        if code in ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return AccessDenied(
                f"S3 refused {doing} {where} ({code}); check the AWS credentials and their permissions on this bucket."
            )
        name = type(exc).__name__
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            return BackendError(
                f"No AWS credentials for {doing} {where}; set AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run where an IAM role is available."
            )
        if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError", "ReadTimeoutError"):
            return BackendError(
                f"Cannot reach S3 at {self.endpoint_url or 'AWS'} while {doing} {where}: {exc}. "
                "Check the network and the endpoint setting (EXPLORER_S3_ENDPOINT_URL)."
            )
        return BackendError(f"S3 failed while {doing} {where}: {exc}")

    def _call(self, key: str, doing: str, method: str, **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        # Repeating these after a 5xx could leave an orphan upload or fail on a finished one;
        # everything else S3 does here can be repeated (throttling is retried for all).
        idempotent = method not in ("create_multipart_upload", "complete_multipart_upload")
        try:
            return aws.call(self.client, method, idempotent=idempotent, Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key, doing) from exc

    def part_size(self, size: int) -> int:
        """The upload part size for an object of ``size`` bytes (never more than 10,000 parts)."""
        return max(self.multipart_chunksize, -(-size // MAX_PARTS))

    def range_size(self, remaining: int) -> int:
        """The size of each ranged GET for the ``remaining`` bytes of a download: one range per
        worker (every connection streams), between the part size and 64 MiB, so a large file
        needs few requests and a retry never repeats much."""
        per_worker = -(-remaining // self.max_concurrency)
        return max(self.multipart_chunksize, min(MAX_RANGE, per_worker))

    # -- reading --------------------------------------------------------------------------
    def get_bytes(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        full = self._object_key(key)
        params: dict[str, Any] = {"Key": full}
        if start or end is not None:
            first = start or 0
            if end is not None and end <= first:
                self.stat(key)  # still NotFound for a missing object
                return b""
            params["Range"] = f"bytes={first}-" + ("" if end is None else str(end - 1))
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, **params)
        except ClientError as exc:
            if aws.error_code(exc) == "InvalidRange":
                return b""  # start at or past the end
            raise self._error(exc, key, "reading") from exc
        except BotoCoreError as exc:
            raise self._error(exc, key, "reading") from exc
        with response["Body"] as body:
            return body.read()

    def open_read(self, key: str) -> BinaryIO:
        response = self._call(key, "reading", "get_object", Key=self._object_key(key))
        return _BodyReader(response["Body"])  # type: ignore[return-value]

    def stat(self, key: str) -> ObjectInfo:
        response = self._call(key, "reading", "head_object", Key=self._object_key(key))
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            mtime=response["LastModified"].timestamp(),
            etag=str(response.get("ETag", "")).strip('"') or None,
        )

    def list_page(
        self,
        prefix: str,
        *,
        delimiter: str | None = "/",
        token: str | None = None,
        limit: int = 1000,
        start_after: str | None = None,
    ) -> ListPage:
        validate_relpath(prefix, what="prefix")
        params: dict[str, Any] = {"Prefix": self.prefix + prefix, "MaxKeys": max(1, min(limit, 1000))}
        if delimiter:
            params["Delimiter"] = delimiter
        if token:
            params["ContinuationToken"] = token
        elif start_after:
            params["StartAfter"] = self.prefix + start_after
        response = self._call(prefix, "listing", "list_objects_v2", **params)
        cut = len(self.prefix)
        objects = tuple(
            ObjectInfo(
                key=item["Key"][cut:],
                size=int(item["Size"]),
                mtime=item["LastModified"].timestamp(),
                etag=str(item.get("ETag", "")).strip('"') or None,
            )
            for item in response.get("Contents", ())
            # a key ending in "/" is a folder marker (put_bytes("a/")): a folder, not an object
            if not item["Key"].endswith("/")
        )
        prefixes = tuple(p["Prefix"][cut:] for p in response.get("CommonPrefixes", ()))
        next_token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
        return ListPage(objects, prefixes, next_token)

    # -- writing --------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes) -> None:
        full = self._full(key)
        self._call(key, "writing", "put_object", Key=full, Body=bytes(data))

    def open_write(self, key: str) -> BinaryIO:
        return _MultipartWriter(self, key, self._object_key(key))  # type: ignore[return-value]

    def upload_file(self, path: str | os.PathLike[str], key: str, *, progress: Progress | None = None) -> None:
        full = self._object_key(key)
        src = Path(path)
        try:
            fd = os.open(src, os.O_RDONLY)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"No local file {src}.") from None
        except OSError as exc:
            raise BackendError(f"Cannot read {src}: {exc}") from exc
        try:
            size = os.fstat(fd).st_size
            if size <= SMALL_BODY:
                # bytes, not a file: no "Expect: 100-continue" round trip for a small object
                self._call(key, "uploading to", "put_object", Key=full, Body=_pread_all(fd, size))
                if progress:
                    progress(size)
                return
            if size <= self.multipart_threshold:
                body = _FileSlice(fd, 0, size, progress)
                self._call(key, "uploading to", "put_object", Key=full, Body=body)
                return
            part = self.part_size(size)
            slices = [
                (number, offset, min(part, size - offset))
                for number, offset in enumerate(range(0, size, part), start=1)
            ]
            with _Multipart(self, key, full) as upload:
                upload.run(
                    lambda number, offset, length: _FileSlice(fd, offset, length, progress),
                    slices,
                )
        finally:
            os.close(fd)

    def upload_small_files(
        self, items: Sequence[tuple[str | os.PathLike[str], str]], *, progress: Progress | None = None
    ) -> list[bool]:
        """Files up to the multipart threshold, through AWS's C runtime when there are enough of
        them to pay for it (:mod:`.s3_crt`); the rest, and anything it could not do, are left
        to :meth:`upload_file` (which says why a file cannot go up)."""
        from . import s3_crt

        def size_of(path: str | os.PathLike[str]) -> int | None:
            try:
                return os.stat(path).st_size
            except OSError:
                return None

        return self._in_batch(s3_crt.put_files, [(path, key, size_of(path)) for path, key in items], progress)

    def download_small_files(
        self, items: Sequence[tuple[str, str | os.PathLike[str], int]], *, progress: Progress | None = None
    ) -> list[bool]:
        """Objects up to the multipart threshold, through AWS's C runtime when there are enough
        of them (:mod:`.s3_crt`); the rest are left to :meth:`download_file`."""
        from . import s3_crt

        return self._in_batch(s3_crt.get_files, [(path, key, size) for key, path, size in items], progress)

    def _in_batch(
        self,
        move: Callable[..., list[bool]],
        items: Sequence[tuple[str | os.PathLike[str], str, int | None]],
        progress: Progress | None,
    ) -> list[bool]:
        """``move`` (an :mod:`.s3_crt` batch) for the items (local path, key, size) that are
        single-request objects with a valid key; which of ``items`` it did."""
        done = [False] * len(items)
        chosen: list[int] = []
        batch: list[tuple[str, str, int]] = []
        for i, (path, key, size) in enumerate(items):
            try:
                full = self._object_key(key)
            except ExplorerError:
                continue  # the one-by-one path says why
            if size is not None and size <= self.multipart_threshold:
                chosen.append(i)
                batch.append((os.fspath(path), full, size))
        for i, ok in zip(chosen, move(self, batch, progress=progress), strict=True):
            done[i] = ok
        return done

    def download_file(self, key: str, path: str | os.PathLike[str], *, progress: Progress | None = None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._object_key(key)
        dst = Path(path)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_beside(dst)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            # The first part comes with the object's size and ETag: a small object takes one call.
            first = self.multipart_chunksize
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=full, Range=f"bytes=0-{first - 1}")
            except ClientError as exc:
                if aws.error_code(exc) != "InvalidRange":
                    raise self._error(exc, key, "downloading") from exc
                response = self._call(key, "downloading", "get_object", Key=full)  # an empty object
            except BotoCoreError as exc:
                raise self._error(exc, key, "downloading") from exc
            content_range = str(response.get("ContentRange") or "")
            size = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else int(response["ContentLength"])
            etag = response.get("ETag")
            with response["Body"] as body:
                _stream_into(body, fd, 0, min(first, size), progress)
            part = self.range_size(size - first) if size > first else first
            rest = [(offset, min(part, size - offset)) for offset in range(first, size, part)]

            def fetch(offset: int, length: int) -> None:
                params: dict[str, Any] = {"Key": full, "Range": f"bytes={offset}-{offset + length - 1}"}
                if etag:
                    params["IfMatch"] = etag
                for attempt in range(3):
                    written = 0

                    def counted(n: int) -> None:
                        nonlocal written
                        written += n
                        if progress:
                            progress(n)

                    try:
                        reply = self.client.get_object(Bucket=self.bucket, **params)
                        with reply["Body"] as chunk_body:
                            _stream_into(chunk_body, fd, offset, length, counted)
                        return
                    except (ClientError, BotoCoreError, OSError) as exc:
                        if progress and written:
                            progress(-written)
                        if aws.error_code(exc) == "PreconditionFailed":
                            raise BackendError(
                                f"{key!r} changed while it was being downloaded; download it again."
                            ) from exc
                        if attempt == 2 or isinstance(exc, ClientError):
                            raise self._error(exc, key, "downloading") from exc

            _run_parallel(fetch, rest, self.max_concurrency)
            os.close(fd)
            fd = -1
            os.replace(tmp, dst)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            tmp.unlink(missing_ok=True)
            raise

    def copy(self, src_key: str, dst_key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        source = {"Bucket": self.bucket, "Key": self._object_key(src_key)}
        dst = self._object_key(dst_key)
        try:
            self.client.copy_object(Bucket=self.bucket, Key=dst, CopySource=source)
            return
        except ClientError as exc:
            if aws.error_code(exc) not in ("InvalidRequest", "EntityTooLarge"):
                raise self._error(exc, src_key, f"copying to {dst_key!r} from") from exc
        except BotoCoreError as exc:
            raise self._error(exc, src_key, f"copying to {dst_key!r} from") from exc
        # larger than CopyObject allows (5 GiB): copy part by part, server side
        size = self.stat(src_key).size
        part = max(self.part_size(size), 256 * MiB)
        slices = [(n, o, min(part, size - o)) for n, o in enumerate(range(0, size, part), start=1)]
        with _Multipart(self, dst_key, dst) as upload:
            upload.run_copy(source, slices)

    def delete(self, key: str) -> None:
        self._call(key, "deleting", "delete_object", Key=self._full(key))

    def delete_many(self, keys: list[str]) -> None:
        """Delete in batches of 1,000 keys per DeleteObjects call."""
        full = [self._full(k) for k in keys]
        for start in range(0, len(full), 1000):
            batch = full[start : start + 1000]
            response = self._call(
                keys[start],
                "deleting",
                "delete_objects",
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise BackendError(
                    f"S3 could not delete {len(errors)} object(s), e.g. "
                    f"{first.get('Key', '')[len(self.prefix) :]!r}: {first.get('Code')} {first.get('Message', '')}"
                )

    # -- extras ---------------------------------------------------------------------------
    def presign(self, key: str, *, expires_seconds: int = 48 * 3600) -> str:
        expires_seconds = aws.presign_seconds(expires_seconds)
        full = self._object_key(key)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return str(
                self.client.generate_presigned_url(
                    "get_object", Params={"Bucket": self.bucket, "Key": full}, ExpiresIn=int(expires_seconds)
                )
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key, "making a URL for") from exc

    def s3_uri(self, key: str) -> str | None:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def with_part_limits(self, *, part_bytes: int, parts_in_flight: int, size: int | None = None) -> S3Storage:
        bounded = copy.copy(self)
        unknown = self.multipart_chunksize if size is None else 0  # growing parts, from this size
        bounded.multipart_chunksize = max(part_bytes, MIN_PART, unknown)
        bounded.multipart_chunksize = bounded.part_size(size or 0)
        bounded.max_concurrency = max(1, min(parts_in_flight, self.max_concurrency))
        return bounded

    def __repr__(self) -> str:
        return f"S3Storage({self.url!r}, endpoint_url={self.endpoint_url!r})"


# -- helpers ------------------------------------------------------------------------------
def _run_parallel(work: Callable[..., Any], items: list[tuple[Any, ...]], concurrency: int) -> list[Any]:
    """``work(*item)`` for every item, ``concurrency`` at a time; the first error cancels the
    rest and is raised. Results in item order."""
    if not items:
        return []
    if len(items) == 1 or concurrency == 1:
        return [work(*item) for item in items]
    results: list[Any] = [None] * len(items)
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
        futures = {pool.submit(work, *item): i for i, item in enumerate(items)}
        try:
            for future in concurrent.futures.as_completed(futures):
                results[futures[future]] = future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results


def _pread_all(fd: int, size: int) -> bytes:
    data = os.pread(fd, size, 0)
    while len(data) < size:
        more = os.pread(fd, size - len(data), len(data))
        if not more:
            break
        data += more
    return data


def _stream_into(body: Any, fd: int, offset: int, length: int, progress: Progress | None) -> None:
    """Copy ``length`` bytes of ``body`` to ``fd`` at ``offset``, a MiB at a time.

    When the body is a plain HTTP response (botocore asks urllib3 for the bytes as sent, never
    decoded), its standard-library response is read straight into one reused buffer per thread:
    ``read(n)`` would allocate a fresh MiB object per read, and on a 2 GiB download that
    allocation churn (`sys` time, measured) took more time than the network.
    """
    raw = getattr(body, "_fp", None)
    if not (isinstance(raw, http.client.HTTPResponse) and getattr(body, "_fp_bytes_read", None) == 0):
        raw = None  # something else (or already partly read through urllib3): its own read()
    buffer = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = memoryview(bytearray(_READ))
    remaining = length
    while remaining > 0:
        want = min(_READ, remaining)
        if raw is not None:
            got = raw.readinto(buffer[:want])
            view = buffer[:got]
        else:
            data = body.read(want)
            got = len(data)
            view = memoryview(data)
        if not got:
            raise BackendError(f"The download ended early ({remaining} bytes missing); try again.")
        while view:
            written = os.pwrite(fd, view, offset)
            offset += written
            view = view[written:]
        remaining -= got
        if progress:
            progress(got)


class _FileSlice(io.RawIOBase):
    """Bytes ``[offset, offset+length)`` of an open file, read as sent (seekable, so botocore
    can checksum and retry it). Never holds more than one read in memory."""

    def __init__(self, fd: int, offset: int, length: int, progress: Progress | None = None) -> None:
        super().__init__()
        self._fd = fd
        self._start = offset
        self._length = length
        self._pos = 0
        self._progress = progress
        self._reported = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + offset))
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        left = self._length - self._pos
        if size is None or size < 0 or size > left:
            size = left
        if size <= 0:
            return b""
        data = os.pread(self._fd, size, self._start + self._pos)
        self._pos += len(data)
        if self._progress and self._pos > self._reported:
            # report each byte once, even if botocore reads twice (checksum, then send)
            self._progress(self._pos - self._reported)
            self._reported = self._pos
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Multipart:
    """One multipart upload: create on enter, complete on a clean exit, abort on an error."""

    def __init__(self, storage: S3Storage, key: str, full: str) -> None:
        self.storage = storage
        self.key = key
        self.full = full
        self.upload_id: str | None = None
        self.parts: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> _Multipart:
        response = self.storage._call(
            self.key, "uploading to", "create_multipart_upload", Key=self.full, ChecksumAlgorithm="CRC32"
        )
        self.upload_id = response["UploadId"]
        return self

    def _record(self, number: int, response: dict[str, Any], etag_field: str = "ETag") -> None:
        part: dict[str, Any] = {"PartNumber": number, "ETag": response[etag_field]}
        if response.get("ChecksumCRC32"):
            part["ChecksumCRC32"] = response["ChecksumCRC32"]
        with self._lock:
            self.parts[number] = part

    def put_part(self, number: int, body: Any) -> None:
        response = self.storage._call(
            self.key,
            "uploading to",
            "upload_part",
            Key=self.full,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="CRC32",
        )
        self._record(number, response)

    def run(self, body_for: Callable[[int, int, int], Any], slices: list[tuple[int, int, int]]) -> None:
        """Upload every ``(number, offset, length)`` slice, several at once."""
        _run_parallel(
            lambda number, offset, length: self.put_part(number, body_for(number, offset, length)),
            slices,
            self.storage.max_concurrency,
        )

    def run_copy(self, source: dict[str, str], slices: list[tuple[int, int, int]]) -> None:
        def copy_part(number: int, offset: int, length: int) -> None:
            response = self.storage._call(
                self.key,
                "copying to",
                "upload_part_copy",
                Key=self.full,
                UploadId=self.upload_id,
                PartNumber=number,
                CopySource=source,
                CopySourceRange=f"bytes={offset}-{offset + length - 1}",
            )
            result = response["CopyPartResult"]
            self._record(number, result)

        _run_parallel(copy_part, slices, self.storage.max_concurrency)

    def abort(self) -> None:
        if self.upload_id is None:
            return
        upload_id, self.upload_id = self.upload_id, None
        try:
            self.storage.client.abort_multipart_upload(Bucket=self.storage.bucket, Key=self.full, UploadId=upload_id)
        except Exception:  # noqa: BLE001 - the original error matters more; S3 lifecycle cleans up
            pass

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
            return
        parts = [self.parts[n] for n in sorted(self.parts)]
        try:
            self.storage._call(
                self.key,
                "uploading to",
                "complete_multipart_upload",
                Key=self.full,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            self.abort()
            raise
        self.upload_id = None


class _MultipartWriter(io.RawIOBase):
    """``open_write`` for S3: a single PUT for small objects, else a multipart upload whose
    parts go up in the background while the caller writes. Commits on ``close()``; ``abort()``
    (or an exception in a ``with`` block) stores nothing."""

    def __init__(self, storage: S3Storage, key: str, full: str) -> None:
        super().__init__()
        self._storage = storage
        self._key = key
        self._full = full
        self._part = storage.multipart_chunksize
        self._buffer = bytearray()
        self._upload: _Multipart | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._inflight: list[concurrent.futures.Future[None]] = []
        self._slots = threading.BoundedSemaphore(storage.max_concurrency)
        self._number = 0
        self._done = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        if self._done:
            raise ValueError("write to a closed S3 writer")
        view = memoryview(data).cast("B")
        self._buffer += view
        while len(self._buffer) >= self._part:
            chunk = bytes(self._buffer[: self._part])
            del self._buffer[: self._part]
            self._send(chunk)
        return len(view)

    def _send(self, chunk: bytes) -> None:
        if self._upload is None:
            self._upload = _Multipart(self._storage, self._key, self._full).__enter__()
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self._storage.max_concurrency)
        self._check()
        self._number += 1
        if self._number % PARTS_PER_STEP == 0:
            # The size is not known up front: every 1,000 parts the parts double, so 10,000
            # parts reach S3's largest object (5 TiB) from a 5 MiB start, while a small
            # object still goes in small parts.
            self._part *= 2
        self._slots.acquire()  # bounded memory: at most max_concurrency parts held
        assert self._pool is not None
        future = self._pool.submit(self._upload.put_part, self._number, chunk)
        future.add_done_callback(lambda _f: self._slots.release())
        self._inflight.append(future)

    def _check(self) -> None:
        for future in [f for f in self._inflight if f.done()]:
            self._inflight.remove(future)
            future.result()  # raises the part's error

    def _finish_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._buffer = bytearray()
            for future in self._inflight:
                future.cancel()
            self._finish_pool()
            if self._upload is not None:
                self._upload.abort()
        super().close()

    def close(self) -> None:
        if self._done:
            super().close()
            return
        try:
            if self._upload is None:
                self._storage.put_bytes(self._key, bytes(self._buffer))
            else:
                if self._buffer:
                    self._send(bytes(self._buffer))
                self._buffer = bytearray()
                for future in self._inflight:
                    future.result()
                self._finish_pool()
                self._upload.__exit__(None, None, None)
        except BaseException:
            self.abort()
            raise
        self._done = True
        super().close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


class _BodyReader(io.RawIOBase):
    """A botocore StreamingBody as a proper binary stream (closes the connection on close)."""

    def __init__(self, body: Any) -> None:
        super().__init__()
        self._body = body

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self._body.read()
        return self._body.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
