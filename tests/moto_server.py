"""pytest plugin: AWS played by moto's server mode (a real HTTP server on 127.0.0.1).

Fixtures:

* ``moto_endpoint`` (session): starts ONE ``ThreadedMotoServer`` on a free port and returns its
  URL; every AWS service (S3, Batch, CloudWatch Logs, ...) answers there. Fake credentials are
  put in the environment for the session (child processes inherit them) and the real AWS
  config files are hidden, so nothing can reach a real account.
* ``s3_bucket``: a fresh, empty bucket for one test (its name).
* ``s3_storage_url``: ``s3://<fresh bucket>/eos``, the storage URL of a fresh S3 storage.
* ``s3_storage``: points the Explorer settings of the test at that storage
  (``EXPLORER_STORAGE`` + ``EXPLORER_S3_ENDPOINT_URL``, then ``session.reset()``) and returns
  the URL.

Registered in tests/conftest.py through ``pytest_plugins``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a moto server (all AWS services) running for the whole test session."""
    from moto.server import ThreadedMotoServer

    hidden = tmp_path_factory.mktemp("no-aws-config")
    saved = {
        k: os.environ.get(k) for k in (*FAKE_AWS_ENV, "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE")
    }
    os.environ.update(FAKE_AWS_ENV)
    os.environ["AWS_CONFIG_FILE"] = str(hidden / "config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(hidden / "credentials")
    os.environ.pop("AWS_PROFILE", None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        from explorer_magics import aws

        aws.clear_clients()


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    """A fresh, empty S3 bucket for this test."""
    from explorer_magics import aws

    name = f"test-{uuid.uuid4().hex[:20]}"
    aws.client("s3", endpoint_url=moto_endpoint, region="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_storage_url(s3_bucket: str) -> str:
    """``s3://<fresh bucket>/eos``."""
    return f"s3://{s3_bucket}/eos"


@pytest.fixture
def s3_storage(s3_storage_url: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make S3 (on moto) this test's Explorer storage; returns its URL."""
    from explorer_magics import session

    monkeypatch.setenv("EXPLORER_STORAGE", s3_storage_url)
    monkeypatch.setenv("EXPLORER_S3_ENDPOINT_URL", moto_endpoint)
    session.reset()
    return s3_storage_url
