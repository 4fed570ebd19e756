"""moto's server mode in a child process, for the benchmarks (loopback only)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto_server(*, batch_without_docker: bool = False) -> Iterator[str]:
    """Start moto on 127.0.0.1 in its own process; yield its endpoint URL; stop it after.

    ``batch_without_docker`` turns off Batch's Docker use (there is no Docker engine here):
    jobs then finish at once.
    """
    port = free_port()
    code = (
        "import threading\n"
        "from moto.server import ThreadedMotoServer\n"
        f"s = ThreadedMotoServer(ip_address='127.0.0.1', port={port}, verbose=False)\n"
        "s.start(); print('ready', flush=True); threading.Event().wait()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            sys.exit("moto's server did not start")
        endpoint = f"http://127.0.0.1:{port}"
        if batch_without_docker:
            request = urllib.request.Request(
                f"{endpoint}/moto-api/config",
                data=json.dumps({"batch": {"use_docker": False}}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            urllib.request.urlopen(request).read()  # noqa: S310 - loopback
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)
