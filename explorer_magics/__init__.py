"""Explorer: run notebook work functions over thousands of inputs, keep data in EOS.

from explorer_magics.analysis import Analysis, AnalysisContext
an = Analysis(function=work, input=["a", "b"]).run()
"""

from __future__ import annotations

__version__ = "0.1.0"


def load_ipython_extension(ipython):  # noqa: ANN001, ANN201
    """``%load_ext explorer_magics``: registers ``%%explorer_job`` and friends."""
    from .magics import ExplorerMagics

    ipython.register_magics(ExplorerMagics)


def _jupyter_labextension_paths():  # noqa: ANN202
    return [{"src": "../labextension", "dest": "explorer-jupyterlab"}]
