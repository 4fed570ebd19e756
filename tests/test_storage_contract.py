"""THE storage contract (explorer_magics/storage/base.py), one suite for every backend:
``local`` (a directory) and ``s3`` (a bucket on moto's server mode, over real HTTP).

The S3 backend runs with 5 MiB parts (S3's smallest) so a 20 MiB file proves multipart
uploads, parallel ranged downloads and bounded memory without a large file.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from explorer_magics import aws
from explorer_magics.errors import BackendError, ExplorerError, NotFound
from explorer_magics.storage import open_storage
from explorer_magics.storage.base import Storage
from explorer_magics.storage.local import LocalStorage
from explorer_magics.storage.s3 import S3Storage
from tests.s3_servers import STORAGE_PARAMS, S3Server, use_s3_server

MiB = 1024 * 1024
BIG = 20 * MiB


@pytest.fixture(params=STORAGE_PARAMS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """A local directory, a fresh bucket on SeaweedFS, a fresh bucket on moto."""
    if request.param == "local":
        return LocalStorage(tmp_path / "eos")
    server = use_s3_server(request, request.param.partition(":")[2])
    return S3Storage(
        f"s3://{server.new_bucket()}/eos",
        endpoint_url=server.endpoint,
        multipart_threshold=5 * MiB,
        multipart_chunksize=5 * MiB,
        max_concurrency=3,
    )


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.bin"
    with open(path, "wb") as fh:
        for _ in range(BIG // MiB):
            fh.write(os.urandom(MiB))
    return path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def is_s3(storage: Storage) -> bool:
    return isinstance(storage, S3Storage)


def open_uploads(storage: Storage) -> list:
    """Multipart uploads left open in the S3 bucket (parts that cost money and show up nowhere)."""
    assert isinstance(storage, S3Storage)
    return storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])


# -- writing and reading whole objects ------------------------------------------------------
def test_an_object_put_comes_back_byte_for_byte(storage: Storage) -> None:
    storage.put_bytes("users/alice/files/a.txt", b"hello")
    assert storage.get_bytes("users/alice/files/a.txt") == b"hello"
    assert storage.exists("users/alice/files/a.txt")


def test_putting_again_replaces_the_object(storage: Storage) -> None:
    storage.put_bytes("k", b"old contents")
    storage.put_bytes("k", b"new")
    assert storage.get_bytes("k") == b"new"
    assert storage.stat("k").size == 3


def test_an_empty_object_is_an_object(storage: Storage, tmp_path: Path) -> None:
    storage.put_bytes("empty", b"")
    assert storage.get_bytes("empty") == b""
    assert storage.stat("empty").size == 0
    storage.download_file("empty", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b""


def test_reading_a_missing_object_says_not_found(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        storage.get_bytes("nope")
    with pytest.raises(NotFound):
        storage.get_bytes("nope", 0, 10)
    with pytest.raises(NotFound):
        storage.stat("nope")
    with pytest.raises(NotFound):
        storage.open_read("nope")
    assert not storage.exists("nope")


def test_keys_with_spaces_and_unicode_round_trip(storage: Storage) -> None:
    key = "users/alice/files/dir with space/résumé ✓.txt"
    storage.put_bytes(key, b"x")
    assert storage.get_bytes(key) == b"x"
    assert [o.key for o in storage.iter_objects("users/alice/files/")] == [key]


def test_stat_gives_size_time_and_etag(storage: Storage) -> None:
    before = time.time()
    storage.put_bytes("s/obj", b"12345")
    info = storage.stat("s/obj")
    assert info.key == "s/obj"
    assert info.size == 5
    assert before - 5 <= info.mtime <= time.time() + 5
    assert info.etag
    assert storage.exists("s/obj")


def test_a_folder_is_not_an_object(storage: Storage) -> None:
    storage.put_bytes("d/inside", b"x")
    with pytest.raises(NotFound):
        storage.stat("d/")
    assert not storage.exists("d/")


# -- ranged reads ---------------------------------------------------------------------------
def test_ranged_reads_return_exactly_the_bytes_asked_for(storage: Storage) -> None:
    data = bytes(range(256)) * 4
    storage.put_bytes("r", data)
    assert storage.get_bytes("r", 10, 20) == data[10:20]
    assert storage.get_bytes("r", 1000) == data[1000:]
    assert storage.get_bytes("r", None, 7) == data[:7]
    assert storage.get_bytes("r", 1020, 5000) == data[1020:]  # end past the end
    assert storage.get_bytes("r", 5000) == b""  # start past the end
    assert storage.get_bytes("r", 30, 30) == b""


def test_open_read_streams_the_object(storage: Storage) -> None:
    data = os.urandom(3 * MiB + 17)
    storage.put_bytes("stream", data)
    with storage.open_read("stream") as fh:
        parts = []
        while chunk := fh.read(MiB):
            parts.append(chunk)
    assert b"".join(parts) == data


# -- listing --------------------------------------------------------------------------------
def test_listing_folds_subfolders_and_keeps_key_order(storage: Storage) -> None:
    for key in ("p/b.txt", "p/a.txt", "p/sub/x", "p/sub/y/z", "p/a-b.txt", "q/other"):
        storage.put_bytes(key, b"1")
    page = storage.list_page("p/")
    assert [o.key for o in page.objects] == ["p/a-b.txt", "p/a.txt", "p/b.txt"]
    assert page.prefixes == ("p/sub/",)
    assert page.next_token is None
    flat = storage.list_page("p/", delimiter=None)
    assert [o.key for o in flat.objects] == ["p/a-b.txt", "p/a.txt", "p/b.txt", "p/sub/x", "p/sub/y/z"]


def test_a_prefix_that_is_not_a_folder_matches_names_that_start_with_it(storage: Storage) -> None:
    for key in ("p/file1", "p/file2", "p/fig/x", "p/other"):
        storage.put_bytes(key, b"1")
    page = storage.list_page("p/fi")
    assert [o.key for o in page.objects] == ["p/file1", "p/file2"]
    assert page.prefixes == ("p/fig/",)


def test_listing_pages_with_a_token_and_start_after(storage: Storage) -> None:
    keys = [f"many/k{i:03d}" for i in range(25)]
    for key in keys:
        storage.put_bytes(key, b"")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = storage.list_page("many/", token=token, limit=10)
        pages += 1
        assert len(page.objects) <= 10
        seen += [o.key for o in page.objects]
        if page.next_token is None:
            break
        token = page.next_token
    assert seen == keys
    assert pages == 3
    after = storage.list_page("many/", start_after="many/k019")
    assert [o.key for o in after.objects] == keys[20:]


def test_an_empty_folder_marker_lists_as_a_folder_not_an_object(storage: Storage) -> None:
    storage.put_bytes("m/empty/", b"")
    assert storage.list_page("m/").prefixes == ("m/empty/",)
    assert storage.list_page("m/empty/").objects == ()
    assert list(storage.iter_objects("m/")) == []


def test_listing_and_batch_delete_handle_more_than_a_page(storage: Storage) -> None:
    """iter_objects pages through any number of keys; delete_many removes them all (S3 in
    batches of 1,000 keys per DeleteObjects call)."""
    keys = [f"lots/{i:05d}" for i in range(1001)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: storage.put_bytes(k, b"x"), keys))
    aws.reset_call_counts()
    assert [o.key for o in storage.iter_objects("lots/")] == keys
    if is_s3(storage):
        assert aws.call_counts()["s3.ListObjectsV2"] == 2
    aws.reset_call_counts()
    storage.delete_many(keys)
    if is_s3(storage):
        assert aws.call_counts()["s3.DeleteObjects"] == 2
    assert list(storage.iter_objects("lots/")) == []


def test_listing_a_missing_prefix_is_empty(storage: Storage) -> None:
    page = storage.list_page("nothing/here/")
    assert page.objects == () and page.prefixes == () and page.next_token is None


# -- streamed writes --------------------------------------------------------------------------
def test_open_write_shows_the_object_only_when_closed(storage: Storage) -> None:
    with storage.open_write("w/obj") as fh:
        fh.write(b"part one, ")
        assert not storage.exists("w/obj")
        fh.write(b"part two")
    assert storage.get_bytes("w/obj") == b"part one, part two"


def test_a_failed_streamed_write_leaves_nothing(storage: Storage) -> None:
    storage.put_bytes("w/keep", b"the old version")
    with pytest.raises(RuntimeError):
        with storage.open_write("w/keep") as fh:
            fh.write(os.urandom(12 * MiB))  # several parts already sent on S3
            raise RuntimeError("the producer failed")
    assert storage.get_bytes("w/keep") == b"the old version"
    with pytest.raises(RuntimeError):
        with storage.open_write("w/new") as fh:
            fh.write(b"x")
            raise RuntimeError("failed")
    assert not storage.exists("w/new")
    assert [o.key for o in storage.iter_objects("w/")] == ["w/keep"]
    if is_s3(storage):
        assert open_uploads(storage) == []


def test_a_large_streamed_write_goes_up_in_parts(storage: Storage) -> None:
    data = os.urandom(BIG + 123)
    aws.reset_call_counts()
    with storage.open_write("w/large") as fh:
        for start in range(0, len(data), MiB):
            fh.write(data[start : start + MiB])
    assert storage.get_bytes("w/large") == data
    if is_s3(storage):
        assert aws.call_counts()["s3.UploadPart"] == 5
        assert open_uploads(storage) == []


def test_a_streamed_write_of_unknown_size_grows_its_parts(s3_storage_url, s3_server, monkeypatch) -> None:
    """Without a size up front, 10,000 parts of the first size could fall short of S3's 5 TiB:
    the writer doubles its parts every PARTS_PER_STEP parts (here 2, to see it on 30 MiB)."""
    from explorer_magics.storage import s3

    monkeypatch.setattr(s3, "PARTS_PER_STEP", 2)
    storage = S3Storage(s3_storage_url, endpoint_url=s3_server.endpoint, multipart_chunksize=5 * MiB, max_concurrency=2)
    sizes: list[int] = []
    put_part = s3._Multipart.put_part

    def recording(self, number, chunk):
        sizes.append(len(chunk))
        return put_part(self, number, chunk)

    monkeypatch.setattr(s3._Multipart, "put_part", recording)
    data = os.urandom(30 * MiB)
    with storage.open_write("w/growing") as fh:
        for start in range(0, len(data), MiB):
            fh.write(data[start : start + MiB])
    assert storage.get_bytes("w/growing") == data
    assert sorted(sizes) == [5 * MiB, 5 * MiB, 10 * MiB, 10 * MiB]  # two parts of 5 MiB, then two of 10


# -- files --------------------------------------------------------------------------------------
def test_a_large_file_goes_up_and_down_intact_in_parallel_parts(
    storage: Storage, big_file: Path, tmp_path: Path
) -> None:
    up: list[int] = []
    aws.reset_call_counts()
    storage.upload_file(big_file, "f/big.bin", progress=up.append)
    assert sum(up) == BIG
    assert storage.stat("f/big.bin").size == BIG
    down: list[int] = []
    storage.download_file("f/big.bin", tmp_path / "sub" / "copy.bin", progress=down.append)  # makes sub/
    assert sum(down) == BIG
    assert md5(tmp_path / "sub" / "copy.bin") == md5(big_file)
    if is_s3(storage):
        calls = aws.call_counts()
        assert calls["s3.CreateMultipartUpload"] == 1
        assert calls["s3.UploadPart"] == 4
        assert calls["s3.CompleteMultipartUpload"] == 1
        assert calls["s3.GetObject"] == 4  # the first part, then three ranged reads
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["copy.bin"]  # no leftovers


_MEMORY_PROBE = """
import json, sys, tracemalloc
from explorer_magics.storage import open_storage
from explorer_magics.storage.s3 import S3Storage
url, endpoint, src, dst = sys.argv[1:5]
if url.startswith("s3://"):
    storage = S3Storage(url, endpoint_url=endpoint, multipart_threshold=5 << 20,
                        multipart_chunksize=5 << 20, max_concurrency=3)
else:
    storage = open_storage(url)
storage.exists("warm-up")  # builds the client (botocore's models) before measuring
tracemalloc.start()
storage.upload_file(src, "mem/big.bin")
up = tracemalloc.get_traced_memory()[1]
tracemalloc.reset_peak()
storage.download_file("mem/big.bin", dst)
down = tracemalloc.get_traced_memory()[1]
print(json.dumps({"up": up, "down": down}))
"""


def test_moving_a_large_file_holds_a_bounded_amount_in_memory(storage: Storage, big_file: Path, tmp_path: Path) -> None:
    """Neither the file nor its parts are held whole: with 5 MiB parts, 3 at a time, holding
    them would take 15 MiB or more. Measured in a separate process (moto, in this one, keeps
    the uploaded bytes)."""
    endpoint = storage.endpoint_url if isinstance(storage, S3Storage) else ""
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, storage.url, endpoint or "", str(big_file), str(tmp_path / "copy.bin")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    peaks = json.loads(done.stdout)
    assert peaks["up"] < 10 * MiB, f"upload held {peaks['up'] / MiB:.1f} MiB"
    assert peaks["down"] < 10 * MiB, f"download held {peaks['down'] / MiB:.1f} MiB"
    assert md5(tmp_path / "copy.bin") == md5(big_file)


def test_a_small_file_moves_in_one_call(storage: Storage, tmp_path: Path) -> None:
    src = tmp_path / "small.txt"
    src.write_bytes(b"small")
    aws.reset_call_counts()
    storage.upload_file(src, "f/small.txt")
    storage.download_file("f/small.txt", tmp_path / "back.txt")
    assert (tmp_path / "back.txt").read_bytes() == b"small"
    if is_s3(storage):
        assert aws.call_counts() == {"s3.PutObject": 1, "s3.GetObject": 1}


NAMES = ["plain.txt", "with space.txt", "résumé ✓.txt", "plus+and&equals=.txt", "quote's (1),;.txt", "~tilde.txt"]


def test_many_small_files_go_up_at_once_byte_for_byte(storage: Storage, tmp_path: Path) -> None:
    """``upload_small_files`` stores what it says it stored, exactly; the rest go one by one."""
    items = []
    for i in range(40):
        path = tmp_path / f"{i:02d} {NAMES[i % len(NAMES)]}"
        path.write_bytes(os.urandom(i * 97))  # 0 bytes to ~4 KB
        items.append((path, f"many/{path.name}"))
    aws.reset_call_counts()
    done = storage.upload_small_files(items)
    for (path, key), ok in zip(items, done, strict=True):
        if not ok:
            storage.upload_file(path, key)
    for path, key in items:
        assert storage.get_bytes(key) == path.read_bytes(), key
    assert sorted(o.key for o in storage.iter_objects("many/")) == sorted(k for _, k in items)
    if is_s3(storage):  # AWS's C runtime sent every one, one request each
        assert all(done)
        assert aws.call_counts()["s3.PutObject"] == 40
    else:
        assert not any(done)


def test_many_small_objects_come_down_at_once_byte_for_byte(storage: Storage, tmp_path: Path) -> None:
    """``download_small_files`` leaves exactly the object's bytes where it says it did, and
    nothing (not even a temporary file) where it did not."""
    sizes = {f"many/{i:02d} {NAMES[i % len(NAMES)]}": i * 97 for i in range(40)}
    for key, size in sizes.items():
        storage.put_bytes(key, os.urandom(size))
    items = [(key, tmp_path / "down" / "sub" / key.removeprefix("many/"), size) for key, size in sizes.items()]
    aws.reset_call_counts()
    done = storage.download_small_files(items)
    gets = aws.call_counts()["s3.GetObject"]
    for (key, path, _), ok in zip(items, done, strict=True):
        if not ok:
            assert not path.exists()
            storage.download_file(key, path)
        assert path.read_bytes() == storage.get_bytes(key), key
    assert sorted(p.name for p in (tmp_path / "down" / "sub").iterdir()) == sorted(p.name for _, p, _ in items)
    if is_s3(storage):
        assert all(done)
        assert gets == 40
    else:
        assert not any(done)


def test_a_failed_download_leaves_the_destination_untouched(storage: Storage, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "dest.txt"
    dest.write_text("keep me")
    with pytest.raises(NotFound):
        storage.download_file("missing", dest)
    assert dest.read_text() == "keep me"
    assert [p.name for p in out.iterdir()] == ["dest.txt"]


@pytest.mark.parametrize("length", [233, 255])
def test_a_file_with_a_name_of_up_to_255_bytes_downloads(storage: Storage, tmp_path: Path, length: int) -> None:
    """The longest names a file system allows come down too: the temporary name used while the
    download runs must not be longer than the name itself may be."""
    name = "é" + "n" * (length - 2)  # 2 bytes + (length - 2): exactly ``length`` bytes
    assert len(name.encode()) == length
    storage.put_bytes(f"long/{name}", b"long name")
    down = tmp_path / "down"
    down.mkdir()
    storage.download_file(f"long/{name}", down / name)
    assert (down / name).read_bytes() == b"long name"
    assert [p.name for p in down.iterdir()] == [name]  # and no temporary file left beside it


def test_uploading_a_missing_local_file_says_not_found(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        storage.upload_file(tmp_path / "nope", "x")
    assert not storage.exists("x")


# -- copy and delete ------------------------------------------------------------------------------
def test_copy_duplicates_an_object(storage: Storage) -> None:
    storage.put_bytes("c/src", b"content")
    storage.copy("c/src", "c/dst")
    assert storage.get_bytes("c/dst") == b"content"
    assert storage.get_bytes("c/src") == b"content"
    with pytest.raises(NotFound):
        storage.copy("c/missing", "c/other")
    assert not storage.exists("c/other")


def test_delete_removes_and_a_missing_object_is_fine(storage: Storage) -> None:
    storage.put_bytes("del/a", b"1")
    storage.delete("del/a")
    assert not storage.exists("del/a")
    storage.delete("del/a")
    storage.delete_many([])
    assert list(storage.iter_objects("del/")) == []


# -- addresses ---------------------------------------------------------------------------------
def test_presign_gives_a_url_that_downloads_the_object_or_says_it_cannot(storage: Storage) -> None:
    storage.put_bytes("share/me.txt", b"shared bytes")
    if is_s3(storage):
        url = storage.presign("share/me.txt", expires_seconds=3600)
        assert "X-Amz-Expires=3600" in url
        with urllib.request.urlopen(url) as resp:  # noqa: S310 - a local moto URL
            assert resp.read() == b"shared bytes"
    else:
        with pytest.raises(BackendError, match="cannot make shareable URLs"):
            storage.presign("share/me.txt")


@pytest.mark.parametrize("seconds", [0, -5, 7 * 24 * 3600 + 1, 30 * 24 * 3600])
def test_a_url_lifetime_outside_one_second_to_seven_days_is_refused(s3_storage_url, s3_server, seconds) -> None:
    """SigV4 caps a presigned URL at 7 days (S3 refuses a longer one when it is used), and a
    lifetime of 0 or less makes a URL that is dead on arrival: neither is handed out."""
    storage = S3Storage(s3_storage_url, endpoint_url=s3_server.endpoint)
    storage.put_bytes("share/me.txt", b"shared bytes")
    with pytest.raises(ExplorerError, match="between 1 second and 7 days"):
        storage.presign("share/me.txt", expires_seconds=seconds)
    url = storage.presign("share/me.txt", expires_seconds=7 * 24 * 3600)  # the longest allowed works
    with urllib.request.urlopen(url) as resp:  # noqa: S310 - a local test server
        assert resp.read() == b"shared bytes"


def test_each_backend_names_where_an_object_really_is(storage: Storage) -> None:
    storage.put_bytes("where/x", b"1")
    if is_s3(storage):
        assert isinstance(storage, S3Storage)
        assert storage.s3_uri("where/x") == f"s3://{storage.bucket}/eos/where/x"
        assert storage.local_path("where/x") is None
    else:
        path = storage.local_path("where/x")
        assert path and Path(path).read_bytes() == b"1"
        assert storage.s3_uri("where/x") is None


def test_keys_that_escape_are_refused_before_anything_is_stored(storage: Storage) -> None:
    for bad in ("../x", "a/../../x", "/abs", "a//b", "a\\b"):
        with pytest.raises(ExplorerError):
            storage.put_bytes(bad, b"x")
    assert list(storage.iter_objects("")) == []


def test_open_storage_picks_the_backend_from_the_url(tmp_path: Path, s3_storage_url: str, s3_server: S3Server) -> None:
    assert isinstance(open_storage(str(tmp_path / "dir")), LocalStorage)
    s3 = open_storage(s3_storage_url, endpoint_url=s3_server.endpoint)
    assert isinstance(s3, S3Storage) and s3.url == s3_storage_url
    s3.put_bytes("k", b"v")
    assert s3.get_bytes("k") == b"v"


def test_local_storage_explains_a_file_standing_where_a_folder_must_go(tmp_path: Path) -> None:
    """A directory cannot hold ``a`` and ``a/b`` at once (S3 can): a clear error, not OSError."""
    storage = LocalStorage(tmp_path / "eos")
    storage.put_bytes("a", b"file")
    with pytest.raises(ExplorerError, match="a file stands where"):
        storage.put_bytes("a/b", b"x")
    storage.put_bytes("d/x", b"1")
    with pytest.raises(ExplorerError, match="folder of that name"):
        storage.put_bytes("d", b"x")
    assert storage.get_bytes("a") == b"file"


# -- the one AWS client factory (explorer_magics.aws) ---------------------------------------------
def test_every_aws_client_retries_adaptively_and_counts_its_calls(moto_endpoint: str) -> None:
    s3 = aws.client("s3", endpoint_url=moto_endpoint, region="us-east-1")
    logs = aws.client("logs", endpoint_url=moto_endpoint, region="us-east-1")
    for made in (s3, logs):
        # retries={"mode": "adaptive", "max_attempts": 10}: botocore counts the first try too
        assert made.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 11}
        assert made.meta.config.max_pool_connections >= 16
    assert aws.client("s3", endpoint_url=moto_endpoint, region="us-east-1") is s3  # cached
    s3.create_bucket(Bucket="counted")
    aws.reset_call_counts()
    s3.list_objects_v2(Bucket="counted")
    logs.describe_log_groups()
    assert aws.call_counts() == {"s3.ListObjectsV2": 1, "logs.DescribeLogGroups": 1}


def test_endpoints_and_region_come_from_settings_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from explorer_magics import session

    for name in ("EXPLORER_AWS_ENDPOINT_URL", "EXPLORER_BATCH_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXPLORER_S3_ENDPOINT_URL", "http://s3.example:9000")
    session.reset()
    settings = session.settings()
    assert aws.endpoint_for("s3", settings) == "http://s3.example:9000"
    assert aws.endpoint_for("batch", settings) is None  # the S3 endpoint is not Batch's
    monkeypatch.setenv("EXPLORER_AWS_ENDPOINT_URL", "http://all.example")
    monkeypatch.setenv("EXPLORER_BATCH_ENDPOINT_URL", "http://batch.example")
    assert aws.endpoint_for("batch", settings) == "http://batch.example"
    assert aws.endpoint_for("logs", settings) == "http://all.example"
    assert aws.region_for(settings) == "us-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    session.reset()
    assert aws.region_for(session.settings()) == "eu-west-3"


def test_small_s3_bodies_go_without_waiting_for_100_continue() -> None:
    """One round trip per small object; a large body still asks first (as the Go SDK does)."""
    import io

    from botocore.awsrequest import AWSResponse

    class Empty:
        def stream(self, *args: object, **kwargs: object):  # noqa: ANN202
            return iter([b""])

    sent: list[dict] = []

    def capture(request, **_):  # noqa: ANN001, ANN202
        sent.append(dict(request.headers.items()))
        return AWSResponse(request.url, 200, {}, Empty())

    s3 = aws.client("s3", endpoint_url="http://127.0.0.1:9", region="us-east-1")
    s3.meta.events.register("before-send.s3", capture)
    try:
        s3.put_object(Bucket="b", Key="small", Body=b"x" * 1024)
        s3.put_object(Bucket="b", Key="large", Body=io.BytesIO(b"x" * (3 * MiB)))
    finally:
        s3.meta.events.unregister("before-send.s3", capture)
    assert "Expect" not in sent[0]
    assert sent[1]["Expect"] == b"100-continue"


def test_s3_times_parse_as_botocore_would() -> None:
    from botocore.utils import parse_timestamp

    for value in ("2023-05-08T12:00:01.000Z", "Mon, 08 May 2023 12:00:01 GMT", 1683547201):
        assert aws._parse_timestamp(value).timestamp() == parse_timestamp(value).timestamp()


def test_an_unreachable_endpoint_fails_at_once_with_what_to_check(tmp_path: Path) -> None:
    """Connection refused is not retried (ten adaptive retries took ~22 s to say the endpoint is
    wrong); the error names the endpoint and the setting to fix."""
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    storage = S3Storage("s3://bucket/eos", endpoint_url=f"http://127.0.0.1:{port}")
    sent: list[str] = []

    def count(request, **_):  # noqa: ANN001, ANN202
        sent.append(request.url)

    storage.client.meta.events.register("before-send.s3", count)
    try:
        with pytest.raises(BackendError, match=f"Cannot reach S3 at http://127.0.0.1:{port}.*EXPLORER_S3_ENDPOINT_URL"):
            storage.get_bytes("k")
    finally:
        storage.client.meta.events.unregister("before-send.s3", count)
    assert len(sent) == 1


def test_throttling_and_server_errors_are_still_retried(s3_storage_url: str, s3_server: S3Server) -> None:
    """Only unreachable endpoints fail fast: a 503 SlowDown is retried until it passes."""
    from botocore.awsrequest import AWSResponse

    storage = S3Storage(s3_storage_url, endpoint_url=s3_server.endpoint)
    storage.put_bytes("k", b"v")
    answers = iter([503, 500])

    class SlowDown:
        def stream(self, *args: object, **kwargs: object):  # noqa: ANN202
            return iter([b"<Error><Code>SlowDown</Code><Message>slow</Message></Error>"])

    def busy(request, **_):  # noqa: ANN001, ANN202
        status = next(answers, None)
        if status is None:
            return None
        return AWSResponse(request.url, status, {}, SlowDown())

    storage.client.meta.events.register_first("before-send.s3", busy)
    try:
        assert storage.get_bytes("k") == b"v"
    finally:
        storage.client.meta.events.unregister("before-send.s3", busy)
    assert next(answers, None) is None  # both errors were answered, then retried


def test_a_missing_bucket_is_named_with_what_to_do(s3_server: S3Server) -> None:
    storage = S3Storage("s3://no-such-bucket-here/eos", endpoint_url=s3_server.endpoint)
    with pytest.raises(BackendError, match="bucket 'no-such-bucket-here' does not exist.*EXPLORER_STORAGE"):
        storage.put_bytes("k", b"v")
