import os
import signal
import time
from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]


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
