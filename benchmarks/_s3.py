"""The S3 server a benchmark runs against: SeaweedFS (a real object store, the default) or moto's
server mode (a mock that serves one request at a time), both on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def s3_server(kind: str, work: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield ``(endpoint, environment)``: the environment holds the credentials that server takes
    (and hides the real AWS config files)."""
    hidden = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(work / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
    }
    if kind == "moto":
        from _moto import moto_server

        with moto_server() as endpoint:
            yield endpoint, {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", **hidden}
        return
    if kind != "seaweedfs":
        raise SystemExit(f"unknown S3 server {kind!r}; use seaweedfs or moto")
    sys.path.insert(0, str(REPO))
    from devcluster import seaweedfs

    server = seaweedfs.start(work / "seaweedfs")
    try:
        yield (
            server.endpoint,
            {
                "AWS_ACCESS_KEY_ID": server.access_key,
                "AWS_SECRET_ACCESS_KEY": server.secret_key,
                **hidden,
            },
        )
    finally:
        server.stop()
