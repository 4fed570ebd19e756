"""Jupyter server extension of Explorer: REST over the SDK (``explorer_magics``), nothing more."""

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict]:
    """Tell jupyter_server where the extension app lives."""
    from .app import ExplorerApp

    return [{"module": "server_ext", "app": ExplorerApp}]
