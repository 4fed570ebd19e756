"""pytest plugin: AWS played by moto's server mode (a real HTTP server on 127.0.0.1).

Fixtures:

* ``moto_endpoint`` (session): starts ONE ``ThreadedMotoServer`` on a free port and returns its
  URL; every AWS service (S3, Batch, CloudWatch Logs, ...) answers there. Fake credentials are
  put in the environment for the session (child processes inherit them) and the real AWS
  config files are hidden, so nothing can reach a real account.

S3 storage tests run on SeaweedFS and on this server: tests/s3_servers.py.

Registered in tests/conftest.py through ``pytest_plugins``.
"""

from __future__ import annotations

import os
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
