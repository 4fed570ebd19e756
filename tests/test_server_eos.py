"""The EOS routes of the server extension (browse, upload, download, folders, copy, delete), on
both storage backends: a local directory and S3 played by moto's server mode."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.parse
from pathlib import Path

import pytest
import tornado.httpclient

from explorer_magics import session

ODD_NAMES = ["with space.txt", "ünïcødé ✓.txt", "hash#1.txt", "what?.txt", "100%.txt", "a+b&c=d.txt"]


@pytest.fixture
def eos_backend(storage_backend):
    return storage_backend


@pytest.fixture
def jp_server_config(jp_server_config, storage_backend):
    """Every test runs on both storage backends; the server starts after the backend is chosen."""
    return jp_server_config


def _storage():
    return session.storage()


async def _json(response):
    return json.loads(response.body)


async def test_whoami_names_the_user_and_backends(explorer_api, eos_backend):
    r = await explorer_api("GET", "whoami")
    assert r.code == 200
    capabilities = ["presign", "multipart"] if eos_backend == "s3" else ["local_paths"]
    assert await _json(r) == {
        "user": "alice",
        "storage": eos_backend,
        "capabilities": capabilities,
        "compute": "local",
        "version": "0.1.0",
    }


async def test_upload_list_stat_download_round_trip_names_with_spaces_unicode_and_specials(explorer_api):
    for i, name in enumerate(ODD_NAMES):
        r = await explorer_api(
            "PUT", "eos/content", params={"uri": f"e://users/me/odd dir #1/{name}"}, body=f"{i}:{name}".encode()
        )
        assert r.code == 201, r.body
        entry = await _json(r)
        assert entry == {
            "name": name,
            "uri": f"e://users/me/odd dir #1/{name}",
            "type": "file",
            "size": len(f"{i}:{name}".encode()),
            "mtime": entry["mtime"],
        }
    listing = await _json(await explorer_api("GET", "eos/list", params={"uri": "e://users/me/odd dir #1/"}))
    assert listing["uri"] == "e://users/me/odd dir #1/"
    assert listing["writable"] is True
    assert sorted(e["name"] for e in listing["entries"]) == sorted(ODD_NAMES)
    for i, name in enumerate(ODD_NAMES):
        uri = f"e://users/me/odd dir #1/{name}"
        stat = await _json(await explorer_api("GET", "eos/stat", params={"uri": uri}))
        assert (stat["name"], stat["type"], stat["writable"]) == (name, "file", True)
        r = await explorer_api("GET", "eos/content", params={"uri": uri})
        assert r.code == 200
        assert r.body == f"{i}:{name}".encode()
        assert r.headers["Content-Type"] == "application/octet-stream"
        disposition = r.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert urllib.parse.unquote(disposition.split("filename*=UTF-8''", 1)[1]) == name
    # the SDK sees the same object under the same name
    assert _storage().get_bytes(f"users/alice/files/odd dir #1/{ODD_NAMES[1]}") == f"1:{ODD_NAMES[1]}".encode()


async def test_root_and_users_listings(explorer_api):
    _storage().put_bytes("users/bob/files/shared.txt", b"from bob")
    root = await _json(await explorer_api("GET", "eos/list", params={"uri": "e://"}))
    assert [e["uri"] for e in root["entries"]] == ["e://users/me/", "e://org/", "e://public/"]
    assert root["writable"] is False
    users = await _json(await explorer_api("GET", "eos/list", params={"uri": "e://users/"}))
    assert {"name": "bob", "uri": "e://users/bob/", "type": "folder", "size": None, "mtime": None} in users["entries"]
    mine = await explorer_api("GET", "eos/list", params={"uri": "e://users/me/"})
    assert mine.code == 200  # an empty namespace root exists
    theirs = await _json(await explorer_api("GET", "eos/list", params={"uri": "e://users/bob/"}))
    assert theirs["writable"] is False
    assert [e["name"] for e in theirs["entries"]] == ["shared.txt"]


async def test_inline_download_never_serves_active_content(explorer_api):
    _storage().put_bytes("users/alice/files/page.html", b"<script>alert(1)</script>")
    _storage().put_bytes("users/alice/files/notes.md", b"# notes")
    _storage().put_bytes("users/alice/files/pic.png", b"\x89PNG....")
    r = await explorer_api("GET", "eos/content", params={"uri": "e://users/me/page.html", "inline": "1"})
    assert r.code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "Content-Disposition" not in r.headers
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = await explorer_api("GET", "eos/content", params={"uri": "e://users/me/notes.md", "inline": "1"})
    assert (r.body, r.headers["Content-Type"].split(";")[0]) == (b"# notes", "text/plain")
    r = await explorer_api("GET", "eos/content", params={"uri": "e://users/me/pic.png", "inline": "1"})
    assert r.headers["Content-Type"] == "image/png"


async def test_listing_pages_through_a_big_folder_one_storage_page_at_a_time(explorer_api, monkeypatch):
    storage = _storage()
    names = [f"k{i:05d}" for i in range(1100)]
    if storage.name == "s3":
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n: storage.put_bytes(f"users/alice/files/big/{n}", b"x"), names))
    else:
        folder = Path(storage.local_path("users/alice/files/big/x")).parent
        folder.mkdir(parents=True)
        for n in names:
            (folder / n).write_bytes(b"x")
    calls: list[int] = []
    original = type(storage).list_page

    def counted(self, prefix, **kwargs):
        calls.append(kwargs.get("limit", 1000))
        return original(self, prefix, **kwargs)

    monkeypatch.setattr(type(storage), "list_page", counted)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params = {"uri": "e://users/me/big/", "limit": "500"}
        if token:
            params["page_token"] = token
        page = await _json(await explorer_api("GET", "eos/list", params=params))
        pages += 1
        assert len(page["entries"]) <= 500
        seen += [e["name"] for e in page["entries"]]
        token = page["next_token"]
        if token is None:
            break
    assert seen == names
    assert pages == 3
    assert calls == [500, 500, 500]  # one bounded storage page per API page, never the whole folder


async def test_make_folder_rename_copy_and_delete(explorer_api):
    r = await explorer_api("POST", "eos/folder", params={"uri": "e://users/me/new folder/"})
    assert r.code == 201
    assert await _json(r) == {
        "name": "new folder",
        "uri": "e://users/me/new folder/",
        "type": "folder",
        "size": None,
        "mtime": None,
    }
    listing = await _json(await explorer_api("GET", "eos/list", params={"uri": "e://users/me/"}))
    assert [(e["name"], e["type"]) for e in listing["entries"]] == [("new folder", "folder")]
    empty = await _json(await explorer_api("GET", "eos/list", params={"uri": "e://users/me/new folder/"}))
    assert empty["entries"] == []

    await explorer_api("PUT", "eos/content", params={"uri": "e://users/me/new folder/a.txt"}, body=b"A")
    await explorer_api("PUT", "eos/content", params={"uri": "e://users/me/new folder/sub/b.txt"}, body=b"B")
    # rename a file
    r = await explorer_api(
        "POST",
        "eos/copy",
        json={"src": "e://users/me/new folder/a.txt", "dst": "e://users/me/new folder/A #1.txt", "move": True},
    )
    assert r.code == 200, r.body
    assert (await _json(r))["uri"] == "e://users/me/new folder/A #1.txt"
    assert (await explorer_api("GET", "eos/stat", params={"uri": "e://users/me/new folder/a.txt"})).code == 404
    # copy a folder recursively (the source stays)
    r = await explorer_api("POST", "eos/copy", json={"src": "e://users/me/new folder/", "dst": "e://users/me/copy/"})
    assert r.code == 200, r.body
    assert (await _json(r))["type"] == "folder"
    got = await explorer_api("GET", "eos/content", params={"uri": "e://users/me/copy/sub/b.txt"})
    assert got.body == b"B"
    assert (await explorer_api("GET", "eos/content", params={"uri": "e://users/me/new folder/A #1.txt"})).body == b"A"
    # rename a folder
    r = await explorer_api(
        "POST", "eos/copy", json={"src": "e://users/me/copy", "dst": "e://users/me/moved/", "move": True}
    )
    assert r.code == 200, r.body
    assert (await explorer_api("GET", "eos/stat", params={"uri": "e://users/me/copy/"})).code == 404
    assert (await explorer_api("GET", "eos/content", params={"uri": "e://users/me/moved/A #1.txt"})).body == b"A"
    # a folder cannot go inside itself
    r = await explorer_api("POST", "eos/copy", json={"src": "e://users/me/moved/", "dst": "e://users/me/moved/inner/"})
    assert r.code == 400
    assert "inside" in (await _json(r))["message"]
    # delete: a file; a folder needs recursive=1
    r = await explorer_api("DELETE", "eos/content", params={"uri": "e://users/me/moved/A #1.txt"})
    assert (r.code, await _json(r)) == (200, {"deleted": 1})
    r = await explorer_api("DELETE", "eos/content", params={"uri": "e://users/me/new folder/"})
    assert r.code == 400
    assert "recursive" in (await _json(r))["message"]
    r = await explorer_api("DELETE", "eos/content", params={"uri": "e://users/me/new folder/", "recursive": "1"})
    assert (r.code, await _json(r)) == (200, {"deleted": 2})
    assert (await explorer_api("GET", "eos/stat", params={"uri": "e://users/me/new folder/"})).code == 404
    listing = await _json(await explorer_api("GET", "eos/list", params={"uri": "e://users/me/"}))
    assert [e["name"] for e in listing["entries"]] == ["moved"]
    r = await explorer_api("DELETE", "eos/content", params={"uri": "e://users/me/nothing.txt"})
    assert r.code == 404


async def test_an_empty_folder_with_an_empty_subfolder_is_deleted_whole(explorer_api):
    await explorer_api("POST", "eos/folder", params={"uri": "e://users/me/outer/inner/"})
    assert (await _json(await explorer_api("GET", "eos/stat", params={"uri": "e://users/me/outer"})))[
        "type"
    ] == "folder"
    r = await explorer_api("DELETE", "eos/content", params={"uri": "e://users/me/outer", "recursive": "1"})
    assert (r.code, await _json(r)) == (200, {"deleted": 0})
    listing = await _json(await explorer_api("GET", "eos/list", params={"uri": "e://users/me/"}))
    assert listing["entries"] == []


async def test_missing_things_are_404(explorer_api):
    assert (await explorer_api("GET", "eos/stat", params={"uri": "e://users/me/none.txt"})).code == 404
    assert (await explorer_api("GET", "eos/content", params={"uri": "e://users/me/none.txt"})).code == 404
    assert (await explorer_api("GET", "eos/list", params={"uri": "e://users/me/none/"})).code == 404
    r = await explorer_api("POST", "eos/copy", json={"src": "e://users/me/none.txt", "dst": "e://users/me/x.txt"})
    assert r.code == 404
    assert (await _json(r))["message"]


async def test_presign_on_each_backend(explorer_api, eos_backend):
    _storage().put_bytes("users/alice/files/report.txt", b"report")
    r = await explorer_api("GET", "eos/presign", params={"uri": "e://users/me/report.txt"})
    if eos_backend == "local":
        assert r.code == 400
        assert "cannot make shareable URLs" in (await _json(r))["message"]
        return
    assert r.code == 200
    url = (await _json(r))["url"]
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    try:
        got = await client.fetch(url)
    finally:
        client.close()
    assert got.body == b"report"


async def test_download_redirects_to_a_presigned_url_when_configured(jp_serverapp, explorer_api, eos_backend):
    _storage().put_bytes("users/alice/files/big.bin", b"0123")
    app = jp_serverapp.web_app.settings["explorer"]
    app.download_redirect = True
    r = await explorer_api("GET", "eos/content", params={"uri": "e://users/me/big.bin"})
    if eos_backend == "local":
        assert (r.code, r.body) == (200, b"0123")  # nothing to redirect to: streamed
    else:
        assert r.code == 302
        assert "Signature" in r.headers["Location"] or "X-Amz-Signature" in r.headers["Location"]


def _tmp_files(storage) -> list[str]:
    """Partial uploads in progress: local temporaries, or S3 multipart uploads not completed."""
    if storage.name == "s3":
        listed = storage.client.list_multipart_uploads(Bucket=storage.bucket)
        return [u["Key"] for u in listed.get("Uploads", [])]
    root = Path(storage.url)
    return [str(p) for p in root.rglob(".explorer-tmp-*")]


def _part_sizes(storage) -> list[int]:
    """Sizes of the parts of the S3 multipart uploads in progress."""
    sizes = []
    for upload in storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []):
        parts = storage.client.list_parts(Bucket=storage.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        sizes += [p["Size"] for p in parts.get("Parts", [])]
    return sizes


def _partial_bytes(storage) -> int:
    """Bytes of uploads in progress already in storage (temporaries / uploaded parts)."""
    if storage.name == "s3":
        total = 0
        for upload in storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []):
            parts = storage.client.list_parts(Bucket=storage.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            total += sum(p["Size"] for p in parts.get("Parts", []))
        return total
    return sum(Path(p).stat().st_size for p in _tmp_files(storage))


async def _wait(predicate, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)
    return value


async def test_an_upload_is_streamed_to_storage_as_it_arrives(jp_serverapp, jp_fetch, explorer_api):
    """The first megabytes are in storage (a temporary / multipart part) before the client has
    sent the rest, and the object only appears, whole, when the body is complete."""
    storage = _storage()
    part = b"x" * (1024 * 1024)
    total_parts = 40
    app = jp_serverapp.web_app.settings["explorer"]
    observed: dict[str, object] = {}

    async def body(write):
        for i in range(total_parts):
            await write(part)
            if i == 20:
                observed["partial"] = await _wait(lambda: _partial_bytes(storage) >= 10 * len(part))
                observed["exists_early"] = storage.exists("users/alice/files/stream/big.bin")
                if storage.name == "s3":
                    observed["parts"] = _part_sizes(storage)

    r = await jp_fetch(
        "explorer",
        "api",
        "eos",
        "content",
        method="PUT",
        params={"uri": "e://users/me/stream/big.bin"},
        body_producer=body,
        headers={"Content-Length": str(len(part) * total_parts)},
        request_timeout=120,
    )
    assert r.code == 201
    assert observed["partial"]
    assert observed["exists_early"] is False
    assert storage.stat("users/alice/files/stream/big.bin").size == len(part) * total_parts
    assert app.chunk_bytes <= 4 * 1024 * 1024
    if storage.name == "s3":  # bounded memory: parts of upload_part_bytes, a few in flight
        assert set(observed["parts"]) == {app.upload_part_bytes}
    await _wait(lambda: not _tmp_files(storage))


async def test_a_broken_upload_leaves_nothing_behind(jp_serverapp, http_server, jp_http_port, jp_base_url):
    """The client disconnects half way: no object, no temporary, no open multipart upload."""
    storage = _storage()
    token = jp_serverapp.identity_provider.token
    path = f"{jp_base_url}explorer/api/eos/content?uri=" + urllib.parse.quote("e://users/me/broken.bin", safe="")
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    writer.write(
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{jp_http_port}\r\nAuthorization: token {token}\r\n"
        f"Content-Length: {64 * 1024 * 1024}\r\n\r\n".encode()
    )
    for _ in range(20):  # on S3, more than two 8 MiB parts go up before the break
        writer.write(b"y" * (1024 * 1024))
        await writer.drain()
    await _wait(lambda: _tmp_files(storage))
    writer.close()
    await _wait(lambda: not _tmp_files(storage))
    assert not storage.exists("users/alice/files/broken.bin")
    listing = storage.list_page("users/alice/files/", delimiter=None)
    assert listing.objects == ()


def test_openapi_file_is_a_valid_openapi_document():
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename

    spec, _ = read_from_filename(str(Path(__file__).resolve().parents[1] / "server_ext" / "openapi.yaml"))
    validate(spec)
    assert os.path.basename(spec["servers"][0]["url"]) == "api"
