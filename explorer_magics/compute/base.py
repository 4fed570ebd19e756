"""The compute contract: where array elements run (this machine, AWS Batch, ...).

A backend receives a fully written analysis record (see :mod:`explorer_magics.records`) and
runs each element with :func:`explorer_magics.runner.execute` (the same code on every
backend; ``python -m explorer_magics.runner`` on a cluster node), reporting AWS Batch's statuses.

Adding a backend: a folder ``compute/<name>/`` with a :class:`Compute` subclass, registered
in the ``explorer.compute`` entry points (``<name> = "package.module:Class"``); its settings
are a :class:`~explorer_magics.config.BackendSettings` dataclass named by ``settings_class``
(the ``[<name>]`` config section, ``EXPLORER_<NAME>_<KEY>`` variables). It is done when the
contract suite (``tests/contract/``) passes with a fixture for it.

The core owns the dependency graph (:mod:`explorer_magics.submission`):

* before ``submit``, it asks each dependency's own backend for its state. A dependency that
  FAILED fails the dependent without submitting it (reason ``dependency <name> (<id>)
  FAILED``, every element); one that SUCCEEDED needs no waiting;
* a dependency still running must run on the same backend (the backend waits for its own
  work: Batch ``dependsOn``, the local supervisor's queue); on another backend the
  submission is refused before anything is written;
* so a backend only ever waits for its own analyses, learns their states from its own
  bookkeeping (never from the session nor another analysis's records), and gives a dependent
  whose dependency fails later the reason ``dependency <name> (<id>) FAILED``.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..config import Settings
from ..records import RUNNABLE, STATUS_LETTERS, SUCCEEDED, ElementStatus, LogChunk, Manifest, StatusSummary
from ..storage.base import Storage

if TYPE_CHECKING:
    from ..config import BackendSettings

#: the most log bytes one read_log call returns (the caller continues from next_offset), so a
#: multi-gigabyte log never has to fit in memory at once
LOG_READ_LIMIT = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Dependency:
    """One dependency of an analysis being submitted, as the core hands it to the backend.

    ``summary`` is its state as its own backend reported it just before this submission:
    never FAILED (the core fails the dependent instead); SUCCEEDED means there is nothing to
    wait for; anything else means it runs on this same backend, which waits for it using
    ``details`` (its ``manifest.backend``: job ids and the like).
    """

    manifest: Manifest
    summary: StatusSummary

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def backend(self) -> str:
        """The compute backend that runs it (``local``, ``batch``, ``inline``...)."""
        return self.manifest.compute

    @property
    def details(self) -> dict[str, Any]:
        """What its backend returned from ``submit`` (kept in its manifest)."""
        return self.manifest.backend

    @property
    def succeeded(self) -> bool:
        return self.summary.status == SUCCEEDED

    @property
    def waits(self) -> bool:
        """True when the dependent must wait for it (it has not finished yet)."""
        return not self.summary.finished

    def failed_reason(self) -> str:
        """The reason a dependent fails when this dependency FAILED."""
        return dependency_failed_reason(self.name, self.id)


def dependency_failed_reason(name: str, analysis_id: str) -> str:
    """The one wording of "this element did not run because a dependency failed"."""
    return f"dependency {name} ({analysis_id}) FAILED"


class Compute(abc.ABC):
    """Runs analyses. One instance per (settings, storage)."""

    #: short backend name (``local``, ``batch``): its name in the ``explorer.compute`` entry points
    name: str = ""
    #: its settings (``[<name>]`` section, ``EXPLORER_<NAME>_<KEY>``), read with ``settings.of(...)``
    settings_class: ClassVar[type[BackendSettings] | None] = None

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage

    def preflight(self, job_definition: dict[str, Any]) -> None:  # noqa: B027 - optional check
        """Refuse (with what to set) before anything is written if this backend cannot run a
        job with ``job_definition`` as configured. Default: nothing to check."""

    @abc.abstractmethod
    def submit(
        self,
        manifest: Manifest,
        dependencies: Sequence[Dependency] = (),
        indices: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        """Start the analysis whose record is already in storage; O(1) backend calls in its size.

        ``dependencies``: one :class:`Dependency` per entry of ``manifest.depends_on`` (see
        the module docstring for what the core has already decided). ``indices``: the
        elements to run (sorted, distinct), ``None`` for all; exactly those run, and the
        status of the others stays what their records say (``summary`` and ``list_elements``
        still count every element). Returns backend details to keep in the manifest's
        ``backend`` field (e.g. job ids).
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
