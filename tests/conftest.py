import os
import signal
import time
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.moto_server", "tests.s3_servers")

from tests.s3_servers import STORAGE_PARAMS, use_storage  # noqa: E402

pytest_plugins = ["pytest_jupyter.jupyter_server"]
pytest_plugins.append("tests.moto_server")  # moto_endpoint (Batch, Logs, and S3 as a mock)
pytest_plugins.append("tests.s3_servers")  # seaweedfs, s3_server, s3_bucket, s3_storage, ...
pytest_plugins.append("tests.batch_played")  # batch_moto, played (AWS Batch on moto, containers played)
pytest_plugins.append("tests.slurm_cluster")  # slurm_cluster, slurm (a real Slurm for the session)


@pytest.fixture
def jp_server_config(jp_server_config):
    """Start every test server with the Explorer server extension enabled."""
    return {"ServerApp": {"jpserver_extensions": {"server_ext": True}}}


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for init to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


def stop_supervisor(home: Path) -> None:
    """Stop the local cluster supervisor of ``home`` (if one runs) and wait for it to go."""
    lock = home / "cluster" / "supervisor.lock"
    try:
        pid = int(lock.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _gone(pid):
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def explorer_env(tmp_path_factory, monkeypatch):
    """Every test gets its own Explorer home (storage, local cluster) and user, and its
    local cluster supervisor is stopped afterwards. Nothing touches ~."""
    from explorer_magics import session

    home = tmp_path_factory.mktemp("explorer-home")
    for name in list(os.environ):
        if name.startswith("EXPLORER_") or name in ("JUPYTERHUB_USER",):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXPLORER_HOME", str(home))
    monkeypatch.setenv("EXPLORER_USER", "alice")
    monkeypatch.setenv("EXPLORER_CONFIG", str(home / "no-config.toml"))
    monkeypatch.setenv("EXPLORER_LOCAL_IDLE_SECONDS", "120")
    session.reset()
    yield home
    stop_supervisor(home)
    session.reset()


# -- the server extension's REST API (tests/test_server_*.py) -------------------------------------
_OPENAPI = None


def _openapi():
    """server_ext/openapi.yaml, parsed once."""
    global _OPENAPI
    if _OPENAPI is None:
        from openapi_core import OpenAPI

        _OPENAPI = OpenAPI.from_file_path(str(Path(__file__).resolve().parents[1] / "server_ext" / "openapi.yaml"))
    return _OPENAPI


@pytest.fixture
def explorer_api(jp_fetch):
    """``await explorer_api("GET", "eos/list", params={...})``: the Explorer REST API called as the
    sidebar calls it (authenticated), every request and answer validated against
    server_ext/openapi.yaml. Never raises on an HTTP error status: tests assert on ``.code``."""
    import json as _json

    from openapi_core.testing import MockRequest, MockResponse

    async def call(method, route, *, params=None, body=None, headers=None, json=None, validate=True, **kwargs):
        headers = dict(headers or {})
        if json is not None:
            body = _json.dumps(json).encode()
            headers.setdefault("Content-Type", "application/json")
        if body is None and method in ("POST", "PUT"):
            body = b""
        response = await jp_fetch(
            "explorer",
            "api",
            *route.split("/"),
            method=method,
            params=params,
            body=body,
            headers=headers,
            raise_error=False,
            allow_nonstandard_methods=True,
            follow_redirects=False,
            **kwargs,
        )
        if validate:
            request = MockRequest(
                "http://localhost",
                method,
                "/explorer/api/" + route,
                args=params or {},
                headers={"Authorization": "token x", **headers},
                data=body if isinstance(body, bytes) else None,
                content_type=headers.get("Content-Type", "application/octet-stream" if body else "application/json"),
            )
            _openapi().validate_request(request)
            content_type = response.headers.get("Content-Type", "application/json").split(";")[0]
            _openapi().validate_response(
                request,
                MockResponse(
                    response.body or b"",
                    status_code=response.code,
                    headers=dict(response.headers),
                    content_type=content_type,
                ),
            )
        return response

    return call


@pytest.fixture(params=STORAGE_PARAMS)
def storage_backend(request):
    """Run the test on each storage backend: the embedded local directory, then a fresh S3 bucket
    on SeaweedFS and on moto (tests/s3_servers.py). Returns the backend's name (local, s3)."""
    return use_storage(request, request.param)
