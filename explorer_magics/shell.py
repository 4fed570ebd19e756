"""The IPython shell that ``!cmd`` lines of a work function run in, wherever it runs.

Inside a notebook the kernel's shell is used as is. In the runner (a local element process or
a cluster container) a real ``InteractiveShell`` without history is created once, so
``{expr}``/``$$``/``x = !cmd`` expansion is IPython's own.
"""

from __future__ import annotations

from typing import Any

_shell: Any = None


def in_notebook() -> bool:
    """True inside a Jupyter kernel with a widget-capable frontend."""
    try:
        from IPython import get_ipython as current
    except ImportError:
        return False
    shell = current()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def get_ipython() -> Any:
    """The active IPython shell, creating a history-less one if there is none."""
    global _shell
    from IPython.core.interactiveshell import InteractiveShell

    if InteractiveShell.initialized():
        return InteractiveShell.instance()
    if _shell is None:
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.enabled = False
        _shell = InteractiveShell.instance(config=config)
        # Run `!cmd` straight on this process's stdout/stderr (the element's log files), not
        # through a pseudo-terminal: no "\r\n" line ends, no pexpect in between.
        _shell.system = _shell.system_raw
    return _shell


def prepare(names: dict[str, Any]) -> None:
    """Make ``names`` visible to ``{...}`` expansion in ``!`` lines."""
    if names:
        get_ipython().user_ns.update(names)
