"""pytest plugin: the S3 servers every S3 test runs on, SeaweedFS (real) and moto (a mock).

SeaweedFS checks signatures and serves requests in parallel, as AWS does; moto stays because
Batch and CloudWatch Logs have no other stand-in, and because a test that passes on one server and
fails on the other points at a bug of ours. Where the two differ from AWS: README ("S3 servers the
tests run on").

Fixtures:

* ``seaweedfs`` (session): ONE SeaweedFS (``devcluster.seaweedfs``) on 127.0.0.1 for the session,
  stopped by PID at the end.
* ``s3_server``: parametrized over ``seaweedfs`` and ``moto``; the chosen server's
  :class:`S3Server`, with its credentials in this test's environment (child processes inherit
  them) and the real AWS config files hidden.
* ``s3_bucket``: a fresh, empty bucket on that server; ``s3_storage_url``: ``s3://<it>/eos``;
  ``s3_storage``: makes that URL this test's Explorer storage (``EXPLORER_STORAGE`` +
  ``EXPLORER_S3_ENDPOINT_URL``, then ``session.reset()``).

A fixture that itself is parametrized over ``local`` and the S3 servers (a ``backend`` fixture)
uses :data:`STORAGE_PARAMS` and :func:`use_storage`, since a parametrized fixture cannot be asked
for with ``request.getfixturevalue``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.moto_server import FAKE_AWS_ENV

#: the S3 servers, as pytest params (``-m "not aws"`` leaves out moto, ``-m "not s3"`` both)
S3_PARAMS = [
    pytest.param("seaweedfs", marks=pytest.mark.s3),
    pytest.param("moto", marks=[pytest.mark.s3, pytest.mark.aws]),
]
#: a storage backend fixture's params: the local directory, S3 on each server
STORAGE_PARAMS = [
    "local",
    pytest.param("s3:seaweedfs", id="s3-seaweedfs", marks=pytest.mark.s3),
    pytest.param("s3:moto", id="s3-moto", marks=[pytest.mark.s3, pytest.mark.aws]),
]


@dataclasses.dataclass(frozen=True)
class S3Server:
    """An S3 endpoint a test talks to, and the key pair its environment signs with."""

    name: str  # "seaweedfs" | "moto"
    endpoint: str
    access_key: str
    secret_key: str

    def client(self) -> Any:
        """Explorer's own (cached, retrying) S3 client for this endpoint."""
        from explorer_magics import aws

        return aws.client("s3", endpoint_url=self.endpoint, region="us-east-1")

    def new_bucket(self) -> str:
        """Create a fresh, empty bucket; returns its name."""
        name = f"test-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SeaweedFS S3 server for the whole session (``devcluster.seaweedfs.SeaweedFS``)."""
    from devcluster import seaweedfs as launcher

    server = launcher.start(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.stop()
        from explorer_magics import aws

        aws.clear_clients()


def use_s3_server(request: pytest.FixtureRequest, name: str) -> S3Server:
    """Start (once per session) the S3 server ``name`` and put its credentials in this test's
    environment, the real AWS config files hidden."""
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    hidden = request.getfixturevalue("tmp_path_factory").mktemp("no-aws-config")
    if name == "moto":
        server = S3Server("moto", request.getfixturevalue("moto_endpoint"), "testing", "testing")
        env = dict(FAKE_AWS_ENV)
    elif name == "seaweedfs":
        sw = request.getfixturevalue("seaweedfs")
        server = S3Server("seaweedfs", sw.endpoint, sw.access_key, sw.secret_key)
        env = {**FAKE_AWS_ENV, "AWS_ACCESS_KEY_ID": sw.access_key, "AWS_SECRET_ACCESS_KEY": sw.secret_key}
        env.pop("AWS_SESSION_TOKEN")  # SeaweedFS refuses a request carrying an unknown session token
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    else:
        raise ValueError(f"unknown S3 server {name!r}")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(hidden / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(hidden / "credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return server


def use_storage(request: pytest.FixtureRequest, param: str) -> str:
    """For a fixture parametrized with :data:`STORAGE_PARAMS`: make ``param``'s storage this
    test's Explorer storage; returns the backend name (``local`` or ``s3``)."""
    if param == "local":
        return "local"
    backend, _, server_name = param.partition(":")
    server = use_s3_server(request, server_name)
    _point_storage_at(request.getfixturevalue("monkeypatch"), f"s3://{server.new_bucket()}/eos", server)
    return backend


def _point_storage_at(monkeypatch: pytest.MonkeyPatch, url: str, server: S3Server) -> None:
    from explorer_magics import session

    monkeypatch.setenv("EXPLORER_STORAGE", url)
    monkeypatch.setenv("EXPLORER_S3_ENDPOINT_URL", server.endpoint)
    session.reset()


@pytest.fixture(params=S3_PARAMS)
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """The test runs once on SeaweedFS and once on moto."""
    return use_s3_server(request, request.param)


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh, empty S3 bucket for this test."""
    return s3_server.new_bucket()


@pytest.fixture
def s3_storage_url(s3_bucket: str) -> str:
    """``s3://<fresh bucket>/eos``."""
    return f"s3://{s3_bucket}/eos"


@pytest.fixture
def s3_storage(s3_storage_url: str, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make S3 (on the test's server) this test's Explorer storage; returns its URL."""
    _point_storage_at(monkeypatch, s3_storage_url, s3_server)
    return s3_storage_url
