"""The browser tests' lab: one `jupyter lab` subprocess per test module (a start costs
seconds) on the local backends, real Chromium (Debian's, through Python Playwright), a page per
test, and the module's Explorer home and user for every test (the ``explorer_env`` fixture here
replaces conftest's per-test one). Screenshots go under test-artifacts/ui/.

A browser test module takes every fixture with ``from .browser_lab import *`` and names the
helpers it calls (``open_explorer``, ``shot``, ...)."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from explorer_magics import session

from .conftest import stop_supervisor
from .helpers import REPO, wait_for

#: the fixtures a browser test module needs (pytest finds fixtures by name in the module)
__all__ = ["browser", "explorer_env", "jp_asyncio_loop", "jp_server_cleanup", "lab", "lab_home", "page"]

CHROMIUM = "/usr/bin/chromium"
JUPYTER_LAB = str(Path(sys.executable).parent / "jupyter-lab")
ARTIFACTS = REPO / "test-artifacts" / "ui"
USER = "alice"


# ---- the JupyterLab server and the browser ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _explorer_env(home: Path) -> dict[str, str]:
    return {
        "EXPLORER_HOME": str(home),
        "EXPLORER_USER": USER,
        "EXPLORER_CONFIG": str(home / "no-config.toml"),
        "EXPLORER_LOCAL_IDLE_SECONDS": "120",
    }


class Lab:
    """A `jupyter-lab` process on a free port with a random token; `stop()` ends it."""

    def __init__(self, home: Path, workdir: Path, *, server_extension: bool = True) -> None:
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXPLORER_") and k != "JUPYTERHUB_USER"}
        env.update(_explorer_env(home))
        # Nothing from ~/.jupyter: settings, workspaces and runtime files live in the test's dirs.
        env["JUPYTER_CONFIG_DIR"] = str(workdir / "config")
        env["JUPYTER_RUNTIME_DIR"] = str(workdir / "runtime")
        root = workdir / "root"
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        # No "Would you like to get notified about official Jupyter news?" toast on the screenshots.
        news = workdir / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)
        (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        args = [
            JUPYTER_LAB,
            "--allow-root",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.port_retries=0",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if not server_extension:  # as if the package's server half were not installed
            config = workdir / "config"
            config.mkdir(parents=True, exist_ok=True)
            (config / "jupyter_server_config.json").write_text(
                json.dumps({"ServerApp": {"jpserver_extensions": {"server_ext": False}}})
            )
        self.log_path = workdir / "jupyter-lab.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(root))
        try:
            wait_for(self._ready, timeout=60, what=f"jupyter-lab on port {self.port} (log: {self.log_path})")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"jupyter-lab exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def api(self, route: str) -> dict:
        """GET an Explorer route the way any authenticated client would."""
        req = urllib.request.Request(
            f"{self.url}/explorer/api/{route}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()


@pytest.fixture
def jp_asyncio_loop():
    """Replaces pytest-jupyter's autouse loop fixture: no in-process server here, and the loop
    that runs in this thread is Playwright's (closing it between tests would break the browser)."""
    yield None


@pytest.fixture
def jp_server_cleanup():
    """Replaces pytest-jupyter's autouse cleanup: the lab server here is a subprocess."""
    yield


@pytest.fixture(scope="module")
def lab_home(tmp_path_factory):
    """The Explorer home of the module: the lab server and the tests' SDK calls share it."""
    home = tmp_path_factory.mktemp("explorer-ui-home")
    # Reference data in e://public/ (read-only for users), as an operator would provide it.
    ref = home / "eos" / "public" / "files" / "reference.txt"
    ref.parent.mkdir(parents=True)
    ref.write_text("chr1\t248956422\nchr2\t242193529\n")
    yield home
    stop_supervisor(home)


@pytest.fixture(autouse=True)
def explorer_env(lab_home, monkeypatch):
    """Replaces conftest's per-test home: every test here uses the module's home and user."""
    for name in list(os.environ):
        if name.startswith("EXPLORER_") or name == "JUPYTERHUB_USER":
            monkeypatch.delenv(name, raising=False)
    for name, value in _explorer_env(lab_home).items():
        monkeypatch.setenv(name, value)
    session.reset()
    yield lab_home
    session.reset()


@pytest.fixture(scope="module")
def lab(lab_home, tmp_path_factory):
    server = Lab(lab_home, tmp_path_factory.mktemp("jupyter-lab"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():  # `make test` installs it (apt); a bare pytest run may not
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs it) or `apt-get install chromium`.")
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


def open_lab(browser, lab: Lab, workspace: str) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    # A workspace of its own, reset: no layout restored from an earlier test.
    page.goto(f"{lab.url}/lab/workspaces/{workspace}?reset&token={lab.token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
    return page


@pytest.fixture
def page(browser, lab, request):
    page = open_lab(browser, lab, re.sub(r"\W", "-", request.node.name))
    yield page
    shot(page, f"{request.node.name}-end")  # what the window showed last, pass or fail
    page.context.close()


def shot(page: Page, name: str) -> Path:
    """Save a screenshot of the whole window as test-artifacts/ui/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def open_explorer(page: Page) -> None:
    page.click('li[data-id="explorer-sidebar"]')
    expect(page.locator("#explorer-sidebar")).to_be_visible()
    expect(page.locator(".jp-Explorer-files")).to_have_attribute("data-uri", "e://users/me/")


def drop_files(page: Page, selector: str, files: dict[str, str]) -> None:
    """Drop files from "the desktop" onto `selector`: the drag events a browser fires."""
    data = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const [name, text] of Object.entries(files)) {
                dt.items.add(new File([text], name, { type: 'text/plain' }));
            }
            return dt;
        }""",
        files,
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(selector, event, {"dataTransfer": data})


def context_menu(page: Page, row: str, item: str) -> None:
    page.click(row, button="right")
    page.locator(".lm-Menu-item", has_text=re.compile(rf"^{re.escape(item)}")).first.click()


def open_from_path(page: Page, path: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="File").click()
    page.locator(".lm-Menu-itemLabel", has_text="Open from Path").click()
    page.locator(".jp-Dialog input").fill(path)
    page.locator(".jp-Dialog .jp-mod-accept").click()


def show_widget(page: Page, lab: Lab, notebook: str, analysis_id: str) -> Locator:
    """Open a new notebook ``notebook`` in the lab's root whose one cell shows the widget of
    ``analysis_id``, run that cell, and return the output area (where the widget appears)."""
    source = (
        "from explorer_magics import widgets\n"
        "from explorer_magics.job_manager import JobManager\n"
        f"view = widgets.show(JobManager().get_analysis(job_id={analysis_id!r}))\n"
    )
    cell = {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (lab.root / notebook).write_text(
        json.dumps({"cells": [cell], "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5})
    )
    open_from_path(page, notebook)
    kernel_idle = page.locator("#jp-main-statusbar", has_text=re.compile(r"Python 3 \(ipykernel\) \| Idle"))
    expect(kernel_idle).to_be_visible(timeout=60_000)
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.keyboard.press("Shift+Enter")
    return page.locator(".jp-OutputArea-output")
