"""Small helpers shared by the SDK tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from IPython.core.inputtransformer2 import TransformerManager

REPO = Path(__file__).resolve().parents[1]


def notebook_namespace(source: str) -> dict:
    """Run ``source`` as a notebook cell would: IPython's transformer turns ``!`` lines into
    Python, and the code runs in a real InteractiveShell's user namespace."""
    from explorer_magics import shell

    ip = shell.get_ipython()
    code = TransformerManager().transform_cell(textwrap.dedent(source))
    ns = ip.user_ns
    exec(compile(code, "<notebook-cell>", "exec"), ns)  # noqa: S102 - test harness
    return ns


def run_python(code: str, *, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python process (a new kernel, as far as Explorer can tell)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=str(REPO),
        check=False,
    )


def wait_for(predicate, *, timeout: float = 30, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
