"""Jupyter server extension of Explorer: REST over the SDK (``explorer_magics``), nothing more."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("explorer-jupyterlab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"


def _jupyter_server_extension_points() -> list[dict]:
    """Tell jupyter_server where the extension app lives."""
    from .app import ExplorerApp

    return [{"module": "server_ext", "app": ExplorerApp}]
