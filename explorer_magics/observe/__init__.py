"""Seeing a large array at a glance (issue 14): element labels and measurements, the failure
digest, resource usage and cost, and the data behind the pictures (histograms, heatmap).

Everything here is plain computation over element records (:class:`~explorer_magics.records.
ElementStatus`); the faces (``Analysis.failures()``/``usage()``/``estimate()``, the widget, the
server's routes) call it and present the result.
"""

from __future__ import annotations

from .digest import failure_digest, mask_reason
from .labels import input_label, make_labels
from .measure import Meter

__all__ = ["Meter", "failure_digest", "input_label", "make_labels", "mask_reason"]
