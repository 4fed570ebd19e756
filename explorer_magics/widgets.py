"""Notebook views of an analysis (a live status widget); plain text outside notebooks."""

from __future__ import annotations

from typing import Any


def in_notebook() -> bool:
    """True inside a Jupyter kernel with a widget-capable frontend."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def show_if_notebook(analysis: Any) -> None:
    """Display the live widget for ``analysis`` when running in a notebook (else nothing)."""
    return None
