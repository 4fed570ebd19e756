"""The installed package is wired into Jupyter: server extension, labextension, health route."""

import json
import re
import subprocess
import sys
from pathlib import Path

import tornado.httpclient

import server_ext

# The `jupyter` command of the environment that runs the tests (.venv/bin/jupyter).
JUPYTER = str(Path(sys.executable).parent / "jupyter")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def jupyter(*args: str) -> str:
    """Run a `jupyter` subcommand and return what it printed (both streams, colours removed)."""
    done = subprocess.run([JUPYTER, *args], capture_output=True, text=True, timeout=120, check=True)
    return ANSI.sub("", done.stdout + done.stderr)


def test_server_extension_is_enabled_and_loads():
    listing = jupyter("server", "extension", "list")
    assert re.search(r"^\s*server_ext enabled\s*$", listing, re.M), listing
    assert re.search(r"^\s*server_ext \S* ?OK\s*$", listing, re.M), listing


def test_labextension_is_installed_enabled_and_ok():
    listing = jupyter("labextension", "list")
    version = re.escape(server_ext.__version__)
    assert re.search(rf"explorer-jupyterlab v{version} enabled\s+OK", listing), listing


async def test_health_route_answers_an_authenticated_client(jp_fetch):
    response = await jp_fetch("explorer", "api", "health")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.body) == {"ok": True, "version": server_ext.__version__}


async def test_health_route_refuses_a_client_without_a_token(jp_serverapp, http_server, jp_http_port, jp_base_url):
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}explorer/api/health"
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    try:
        response = await client.fetch(url, raise_error=False, follow_redirects=False)
    finally:
        client.close()
    assert response.code == 403


REPO = Path(__file__).resolve().parents[1]


def test_make_lab_installs_only_what_running_needs():
    """`make lab` (dry run, every target out of date) installs the project without its test
    extra (pytest, playwright, moto, awscli, ...); `make venv` keeps installing it."""
    lab = subprocess.run(
        ["make", "-n", "-B", "lab"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    installs = [line for line in lab.splitlines() if "pip install -e" in line]
    assert installs == ['.venv/bin/python -m pip install -e "."'], lab
    assert "[test]" not in lab
    venv = subprocess.run(
        ["make", "-n", "-B", "venv"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert '.venv/bin/python -m pip install -e ".[test]"' in venv.splitlines(), venv


def test_the_folder_make_lab_opens_holds_only_what_users_open():
    shown = sorted(p.name for p in (REPO / "examples").iterdir() if not p.name.startswith("."))
    assert shown and all(name.endswith(".ipynb") for name in shown), shown
    assert (REPO / "tools" / "make_notebooks.py").is_file()
