"""Security of the server extension: authentication on every route, XSRF on every mutation, the
EOS access rules, and no way out of the storage root. Each test fails if its check is removed."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from pathlib import Path

import pytest
import tornado.httpclient

from explorer_magics import session
from explorer_magics.analysis import Analysis

AID = "2026-01-01T000000_work_0123456789abcdef0123456789abcdef"

# every verb of every route, as (method, path below explorer/api/, query)
ROUTES = [
    ("GET", "health", ""),
    ("GET", "whoami", ""),
    ("GET", "analyses", ""),
    ("GET", f"analyses/{AID}", ""),
    ("GET", f"analyses/{AID}/elements", ""),
    ("DELETE", f"analyses/{AID}/elements", ""),
    ("DELETE", f"analyses/{AID}/elements/0", ""),
    ("GET", f"analyses/{AID}/elements/0", ""),
    ("POST", f"analyses/{AID}/rerun", ""),
    ("GET", f"analyses/{AID}/elements/0/log", "stream=stdout"),
    ("GET", "eos/list", "uri=e%3A%2F%2Fusers%2Fme%2F"),
    ("GET", "eos/stat", "uri=e%3A%2F%2Fusers%2Fme%2Fa.txt"),
    ("GET", "eos/content", "uri=e%3A%2F%2Fusers%2Fme%2Fa.txt"),
    ("PUT", "eos/content", "uri=e%3A%2F%2Fusers%2Fme%2Fnew.txt"),
    ("DELETE", "eos/content", "uri=e%3A%2F%2Fusers%2Fme%2Fa.txt"),
    ("POST", "eos/folder", "uri=e%3A%2F%2Fusers%2Fme%2Fnew%2F"),
    ("POST", "eos/copy", ""),
    ("GET", "eos/presign", "uri=e%3A%2F%2Fusers%2Fme%2Fa.txt"),
]
MUTATIONS = [r for r in ROUTES if r[0] != "GET"]


@pytest.fixture
def jp_server_config(jp_server_config, storage_backend):
    """Every test runs on both storage backends; the server starts after the backend is chosen."""
    return jp_server_config


def _storage():
    return session.storage()


@pytest.fixture
def server(jp_serverapp, http_server, jp_http_port, jp_base_url):
    """``await server.fetch(method, route, query, ...)``: raw HTTP to the test server, with no
    credentials unless given."""

    class Server:
        base = f"http://127.0.0.1:{jp_http_port}{jp_base_url}explorer/api/"
        token = jp_serverapp.identity_provider.token

        async def fetch(self, method, route, query="", *, headers=None, body=None):
            client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
            if body is None and method in ("PUT", "POST"):
                body = b'{"src": "e://users/me/a.txt", "dst": "e://users/me/b.txt"}' if route == "eos/copy" else b"x"
            try:
                return await client.fetch(
                    self.base + route + ("?" + query if query else ""),
                    method=method,
                    headers=headers or {},
                    body=body,
                    raise_error=False,
                    follow_redirects=False,
                    allow_nonstandard_methods=True,
                )
            finally:
                client.close()

    return Server()


@pytest.fixture
def files():
    """alice's a.txt, bob's shared.txt, a public reference file."""
    s = _storage()
    s.put_bytes("users/alice/files/a.txt", b"alice")
    s.put_bytes("users/bob/files/shared.txt", b"bob's")
    s.put_bytes("public/files/ref.txt", b"reference")


@pytest.mark.parametrize(("method", "route", "query"), ROUTES, ids=[f"{m} {r}" for m, r, _ in ROUTES])
async def test_every_route_refuses_a_client_without_credentials(server, files, method, route, query):
    response = await server.fetch(method, route, query)
    assert response.code == 403
    assert json.loads(response.body)["message"]
    assert _storage().get_bytes("users/alice/files/a.txt") == b"alice"
    assert not _storage().exists("users/alice/files/new.txt")


async def test_a_wrong_token_is_refused(server, files):
    response = await server.fetch(
        "GET", "eos/content", "uri=e%3A%2F%2Fusers%2Fme%2Fa.txt", headers={"Authorization": "token nope"}
    )
    assert response.code == 403


async def _login_cookie(server) -> str:
    """Log in with the token once; return the login cookie the server set."""
    response = await server.fetch("GET", "whoami", headers={"Authorization": f"token {server.token}"})
    assert response.code == 200
    cookies = [c.split(";", 1)[0] for c in response.headers.get_list("Set-Cookie") if c.startswith("username-")]
    assert cookies, response.headers
    return cookies[0]


@pytest.mark.parametrize(("method", "route", "query"), MUTATIONS, ids=[f"{m} {r}" for m, r, _ in MUTATIONS])
async def test_a_mutation_with_the_login_cookie_but_without_xsrf_is_refused(server, files, method, route, query):
    cookie = await _login_cookie(server)
    # the cookie alone authenticates a read ...
    assert (
        await server.fetch("GET", "eos/stat", "uri=e%3A%2F%2Fusers%2Fme%2Fa.txt", headers={"Cookie": cookie})
    ).code == 200
    # ... but a mutation also needs the XSRF token
    response = await server.fetch(method, route, query, headers={"Cookie": cookie})
    assert response.code == 403
    assert "xsrf" in json.loads(response.body)["message"].lower()
    assert _storage().get_bytes("users/alice/files/a.txt") == b"alice"
    assert not _storage().exists("users/alice/files/new.txt")
    assert not _storage().exists("users/alice/files/b.txt")


async def test_a_mutation_with_cookie_and_xsrf_token_is_accepted(server, files):
    cookie = await _login_cookie(server)
    headers = {"Cookie": f"{cookie}; _xsrf=0123abcd", "X-XSRFToken": "0123abcd"}
    response = await server.fetch("POST", "eos/folder", "uri=e%3A%2F%2Fusers%2Fme%2Fvia-cookie%2F", headers=headers)
    assert response.code == 201, response.body
    response = await server.fetch(
        "PUT", "eos/content", "uri=e%3A%2F%2Fusers%2Fme%2Fvia-cookie%2Fx.txt", headers=headers, body=b"ok"
    )
    assert response.code == 201, response.body
    assert _storage().get_bytes("users/alice/files/via-cookie/x.txt") == b"ok"
    mismatched = {"Cookie": f"{cookie}; _xsrf=0123abcd", "X-XSRFToken": "ffff0000"}
    response = await server.fetch(
        "DELETE", "eos/content", "uri=e%3A%2F%2Fusers%2Fme%2Fvia-cookie%2Fx.txt", headers=mismatched
    )
    assert response.code == 403
    assert _storage().exists("users/alice/files/via-cookie/x.txt")


# -- EOS access rules -------------------------------------------------------------------------
READ_ONLY_TARGETS = ["e://users/bob/new.txt", "e://public/new.txt"]


@pytest.mark.parametrize("target", READ_ONLY_TARGETS)
async def test_read_only_namespaces_refuse_every_kind_of_write(explorer_api, files, target):
    folder = target.rsplit("/", 1)[0] + "/"
    existing = "e://users/bob/shared.txt" if "bob" in target else "e://public/ref.txt"
    attempts = [
        ("PUT", "eos/content", {"uri": target}, None, b"data"),
        ("POST", "eos/folder", {"uri": folder + "sub/"}, None, None),
        ("POST", "eos/copy", None, {"src": "e://users/me/a.txt", "dst": target}, None),
        ("POST", "eos/copy", None, {"src": existing, "dst": "e://users/me/moved.txt", "move": True}, None),
        ("DELETE", "eos/content", {"uri": existing}, None, None),
        ("DELETE", "eos/content", {"uri": folder, "recursive": "1"}, None, None),
    ]
    for method, route, params, body, raw in attempts:
        response = await explorer_api(method, route, params=params, json=body, body=raw)
        assert response.code == 403, (method, route, params, body, response.body)
        assert "read" in json.loads(response.body)["message"]
    s = _storage()
    assert s.get_bytes("users/bob/files/shared.txt") == b"bob's"
    assert s.get_bytes("public/files/ref.txt") == b"reference"
    assert not s.exists("users/bob/files/new.txt") and not s.exists("public/files/new.txt")
    assert not s.exists("users/alice/files/moved.txt")
    listing = json.loads((await explorer_api("GET", "eos/list", params={"uri": folder})).body)
    assert listing["writable"] is False
    stat = json.loads((await explorer_api("GET", "eos/stat", params={"uri": existing})).body)
    assert stat["writable"] is False


async def test_other_users_and_public_files_can_be_read_and_copied_to_my_namespace(explorer_api, files):
    assert (await explorer_api("GET", "eos/content", params={"uri": "e://users/bob/shared.txt"})).body == b"bob's"
    assert (await explorer_api("GET", "eos/content", params={"uri": "e://public/ref.txt"})).body == b"reference"
    r = await explorer_api("POST", "eos/copy", json={"src": "e://public/ref.txt", "dst": "e://users/me/"})
    assert r.code == 200
    assert json.loads(r.body)["uri"] == "e://users/me/ref.txt"


async def test_an_upload_to_a_read_only_target_is_refused_before_the_body_is_read(
    jp_serverapp, http_server, jp_http_port, jp_base_url, files
):
    """A 1 GB upload to e://public/ is answered 403 at once: the server does not wait for (or
    store) a single byte of the body."""
    token = jp_serverapp.identity_provider.token
    for uri in ("e://public/huge.bin", "e://users/bob/huge.bin", "e://users/me/../bob/huge.bin"):
        path = f"{jp_base_url}explorer/api/eos/content?uri=" + urllib.parse.quote(uri, safe="")
        reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
        writer.write(
            f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{jp_http_port}\r\nAuthorization: token {token}\r\n"
            f"Content-Length: {1024**3}\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        writer.close()
        assert status_line.split()[1] in (b"403", b"400"), (uri, status_line)
        assert status_line.split()[1] == (b"400" if ".." in uri else b"403")
    assert not _storage().exists("public/files/huge.bin")
    assert not _storage().exists("users/bob/files/huge.bin")


# -- no way out of the storage root ------------------------------------------------------------
ESCAPES = [
    "e://users/me/../bob/x.txt",
    "e://users/me/a/../../../../../../etc/passwd",
    "e://users/me/%2e%2e/bob/x.txt",  # decoded once more by someone else: ../bob
    "e://users/me/%252e%252e/bob/x.txt",
    "e://users/me/..%2f..%2fbob/x.txt",
    "e://users/me/a\\..\\..\\x.txt",
    "e://users/me/a\x00b.txt",
    "e://users/me/a%00b.txt",
    "e://users/me//x.txt",
    "e://users/me/./x.txt",
    "e://users/../../x.txt",
    "e://../x.txt",
    "e://secrets/x.txt",
    "/etc/passwd",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("uri", ESCAPES)
async def test_escapes_are_refused_on_every_eos_route(explorer_api, files, uri, tmp_path):
    outside = Path(_storage().url).parent if _storage().name == "local" else None
    attempts = [
        ("GET", "eos/list", {"uri": uri}, None),
        ("GET", "eos/stat", {"uri": uri}, None),
        ("GET", "eos/content", {"uri": uri}, None),
        ("GET", "eos/presign", {"uri": uri}, None),
        ("PUT", "eos/content", {"uri": uri}, None),
        ("POST", "eos/folder", {"uri": uri}, None),
        ("DELETE", "eos/content", {"uri": uri, "recursive": "1"}, None),
        ("POST", "eos/copy", None, {"src": uri, "dst": "e://users/me/copied.txt"}),
        ("POST", "eos/copy", None, {"src": "e://users/me/a.txt", "dst": uri}),
    ]
    for method, route, params, body in attempts:
        response = await explorer_api(
            method, route, params=params, json=body, body=b"evil" if method == "PUT" else None
        )
        assert response.code == 400, (method, route, uri, response.code, response.body)
        assert json.loads(response.body)["message"]
    s = _storage()
    assert not s.exists("users/alice/files/copied.txt")
    assert s.get_bytes("users/alice/files/a.txt") == b"alice"
    assert s.get_bytes("users/bob/files/shared.txt") == b"bob's"
    if outside is not None:  # nothing was written beside the storage root
        assert sorted(p.name for p in outside.iterdir()) == ["eos"]


async def test_a_query_string_with_encoded_dots_is_refused(server, files):
    """``%2e%2e`` sent as-is in the query string (decoded once by the server) is a plain ``..``."""
    headers = {"Authorization": f"token {server.token}"}
    for query in ("uri=e://users/me/%2e%2e/bob/shared.txt", "uri=e%3A%2F%2Fusers%2Fme%2F%2E%2E%2Fbob%2Fshared.txt"):
        response = await server.fetch("GET", "eos/content", query, headers=headers)
        assert response.code == 400, query
        response = await server.fetch("DELETE", "eos/content", query, headers=headers)
        assert response.code == 400, query
    assert _storage().exists("users/bob/files/shared.txt")


def _inline_analysis() -> str:
    an = Analysis(function=lambda ac: print("hi"), input=[1], name="work")
    an.run_local()
    return an.id


@pytest.mark.parametrize(
    ("route", "query"),
    [
        ("analyses/..%2F..%2Fbob%2Ffiles%2Fshared.txt", ""),
        ("analyses/%2E%2E", ""),
        ("analyses/..%5C..%5Cx/elements", ""),
        ("analyses/{id}/elements/0/log", "stream=..%2F..%2F..%2Ffiles%2Fa.txt"),
        ("analyses/{id}/elements/0/log", "stream=manifest.json"),
        ("analyses/{id}/elements/-1/log", ""),
        ("analyses/{id}/elements/..%2F..%2Fmanifest.json/log", ""),
    ],
)
async def test_analysis_routes_cannot_reach_outside_an_analysis(server, files, route, query):
    analysis_id = _inline_analysis()
    headers = {"Authorization": f"token {server.token}"}
    response = await server.fetch("GET", route.replace("{id}", analysis_id), query, headers=headers)
    assert response.code in (400, 404), (route, response.code, response.body)
    assert b"alice" not in response.body and b"bob's" not in response.body
    assert json.loads(response.body)["message"]


# -- names and connections -----------------------------------------------------------------------
async def test_a_name_longer_than_255_bytes_is_400_with_a_message_on_every_eos_route(explorer_api, files):
    long_name = "é" * 128  # 256 bytes in UTF-8
    uri = f"e://users/me/{long_name}.txt"
    attempts = [
        ("PUT", "eos/content", {"uri": uri}, None),
        ("POST", "eos/folder", {"uri": uri + "/"}, None),
        ("GET", "eos/stat", {"uri": uri}, None),
        ("POST", "eos/copy", None, {"src": "e://users/me/a.txt", "dst": uri}),
    ]
    for method, route, params, body in attempts:
        r = await explorer_api(method, route, params=params, json=body, body=b"data" if method == "PUT" else None)
        assert r.code == 400, (method, route, r.code, r.body)
        assert "at most 255 bytes" in json.loads(r.body)["message"]
    longest = "é" * 125 + "a.txt"  # 255 bytes: still a name
    ok = await explorer_api("PUT", "eos/content", params={"uri": f"e://users/me/{longest}"}, body=b"x")
    assert ok.code == 201, ok.body
    assert _storage().get_bytes(f"users/alice/files/{longest}") == b"x"


async def _raw_exchange(reader, writer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP/1.1 request on an open connection; read one whole answer."""
    writer.write(request)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    assert status_line, "the server closed the connection without answering"
    headers = {}
    while True:
        line = await asyncio.wait_for(reader.readline(), timeout=10)
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout=10)
    else:  # chunked
        body = b""
        while True:
            size = int((await asyncio.wait_for(reader.readline(), timeout=10)).strip(), 16)
            chunk = await asyncio.wait_for(reader.readexactly(size + 2), timeout=10)
            body += chunk[:-2]
            if size == 0:
                break
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("method", "query", "body", "credentials"),
    [
        ("PUT", "uri=e%3A%2F%2Fpublic%2Fx.txt", b"hello", True),  # read-only target
        ("PUT", "uri=e%3A%2F%2Fusers%2Fme%2F..%2Fbob%2Fx.txt", b"hello", True),  # an escape
        ("PUT", "uri=e%3A%2F%2Fusers%2Fme%2Fx.txt", b"hello", False),  # not authenticated
        ("DELETE", "uri=e%3A%2F%2Fpublic%2Fref.txt", b"{}", True),  # read-only (a body, as some clients send)
        ("DELETE", "uri=e%3A%2F%2Fusers%2Fme%2Fa.txt", b"{}", False),  # not authenticated
    ],
)
async def test_after_a_refused_upload_or_delete_the_keep_alive_connection_is_answered_cleanly(
    jp_serverapp, http_server, jp_http_port, jp_base_url, files, method, query, body, credentials
):
    """A refused request on a keep-alive connection either says ``Connection: close`` (and
    then closes) or leaves the connection usable: the client's next request never meets a
    socket the server silently closed."""
    token = jp_serverapp.identity_provider.token
    host = f"127.0.0.1:{jp_http_port}"
    path = f"{jp_base_url}explorer/api/eos/content?{query}"
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    try:
        auth = f"Authorization: token {token}\r\n" if credentials else ""
        code, headers, answer = await _raw_exchange(
            reader,
            writer,
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: {len(body)}\r\n\r\n".encode() + body,
        )
        assert code in (400, 403), (code, answer)
        assert json.loads(answer)["message"]
        if headers.get("connection", "").lower() == "close":
            assert await asyncio.wait_for(reader.read(), timeout=10) == b""  # and it did close
        else:  # kept open: the next request on it is answered
            code, _, answer = await _raw_exchange(
                reader,
                writer,
                f"GET {jp_base_url}explorer/api/health HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: token {token}\r\n\r\n".encode(),
            )
            assert code == 200 and json.loads(answer)["ok"] is True
    finally:
        writer.close()
    assert _storage().get_bytes("public/files/ref.txt") == b"reference"
    assert _storage().get_bytes("users/alice/files/a.txt") == b"alice"
    assert not _storage().exists("users/alice/files/x.txt")


async def test_a_path_too_long_for_the_file_system_is_400_not_a_backend_failure(explorer_api, files):
    """Every name within 255 bytes, the whole path past what a local file system takes."""
    if _storage().name != "local":
        pytest.skip("the path-length limit of a local file system")
    deep = "/".join(["d" * 250] * 20)  # 5 kB: past PATH_MAX (4096)
    r = await explorer_api("PUT", "eos/content", params={"uri": f"e://users/me/{deep}/x.txt"}, body=b"x")
    assert r.code == 400, r.body
    assert "too long" in json.loads(r.body)["message"]
