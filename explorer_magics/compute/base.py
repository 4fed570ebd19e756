"""The compute contract: where array elements run (this machine, AWS Batch, ...).

A backend receives a fully written analysis record (see :mod:`explorer_magics.records`) and
runs each element with :func:`explorer_magics.runner.execute` (the same code on every
backend; ``python -m explorer_magics.runner`` on a cluster node), reporting AWS Batch's statuses.
"""

from __future__ import annotations

import abc
from typing import Any

from ..config import Settings
from ..records import RUNNABLE, STATUS_LETTERS, ElementStatus, LogChunk, Manifest, StatusSummary
from ..storage.base import Storage

#: the most log bytes one read_log call returns (the caller continues from next_offset), so a
#: multi-gigabyte log never has to fit in memory at once
LOG_READ_LIMIT = 1024 * 1024


class Compute(abc.ABC):
    """Runs analyses. One instance per (settings, storage)."""

    #: short backend name (``local``, ``batch``)
    name: str = ""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage

    def preflight(self, job_definition: dict[str, Any]) -> None:  # noqa: B027 - optional check
        """Refuse (with what to set) before anything is written if this backend cannot run a
        job with ``job_definition`` as configured. Default: nothing to check."""

    @abc.abstractmethod
    def submit(self, manifest: Manifest, dependencies: list[Manifest]) -> dict[str, Any]:
        """Start the analysis whose record is already in storage; O(1) calls in its size.

        ``dependencies`` are the manifests of ``manifest.depends_on`` (already submitted).
        Returns backend details to keep in the manifest's ``backend`` field (e.g. job ids).
        """

    @abc.abstractmethod
    def summary(self, manifest: Manifest) -> StatusSummary:
        """The whole analysis's status and count per status, in O(1) backend calls."""

    @abc.abstractmethod
    def element_status(self, manifest: Manifest, index: int) -> ElementStatus:
        """One element's status (and reason when FAILED)."""

    @abc.abstractmethod
    def list_elements(
        self, manifest: Manifest, *, status: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[ElementStatus]:
        """Elements (optionally only those with ``status``), FAILED ones first, then by index."""

    def element_letters(self, manifest: Manifest) -> bytes:
        """Every element's status as one letter each (:data:`~explorer_magics.records.STATUS_LETTERS`),
        index order: what a per-index heatmap draws. Default: one full listing; backends
        override it with something cheaper."""
        letters = bytearray(STATUS_LETTERS[RUNNABLE] * manifest.count)
        for el in self.list_elements(manifest, offset=0, limit=manifest.count):
            letters[el.index] = STATUS_LETTERS.get(el.status, STATUS_LETTERS[RUNNABLE])[0]
        return bytes(letters)

    @abc.abstractmethod
    def terminate(self, manifest: Manifest, index: int | None = None) -> None:
        """Stop one element (``index``) or all; stopped elements become FAILED (terminated)."""

    @abc.abstractmethod
    def read_log(self, manifest: Manifest, index: int, stream: str, offset: int) -> LogChunk:
        """``stream`` ("stdout"/"stderr") of element ``index`` from byte ``offset`` on, at most
        about ``LOG_READ_LIMIT`` bytes: read again from ``next_offset`` until no data comes."""

    def close(self) -> None:  # noqa: B027 - optional hook, deliberately a no-op by default
        """Release resources (connections, threads). Optional."""
