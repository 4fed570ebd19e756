"""Status, element listing and logs read from the analysis record in storage.

Backends that run elements themselves (``local``, and ``run_local``'s inline runs) keep their
truth in storage: ``summary.json`` (kept up to date by the supervisor, one read for the whole
array), ``elements.txt`` (a status letter per element, so a page of the element list reads
only that page's status files) and ``tasks/<i>/status.json``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .. import records
from ..errors import InvalidAnalysis, NotFound
from ..records import (
    FAILED,
    LETTER_STATUS,
    PENDING,
    RUNNABLE,
    RUNNING,
    STATUS_LETTERS,
    STATUSES,
    TERMINAL,
    ElementStatus,
    LogChunk,
    Manifest,
    StatusSummary,
)
from .base import LOG_READ_LIMIT, Compute


class StoredCompute(Compute):
    """Reads state from storage; subclasses add submit/terminate."""

    def summary(self, manifest: Manifest) -> StatusSummary:
        try:
            return StatusSummary.from_json(self.storage.get_bytes(manifest.layout.summary))
        except NotFound:
            return StatusSummary(status=PENDING, counts={PENDING: manifest.count}, size=manifest.size)

    def _stored_element(self, manifest: Manifest, index: int) -> ElementStatus | None:
        try:
            return ElementStatus.from_json(self.storage.get_bytes(manifest.layout.status(index)))
        except NotFound:  # not run: perhaps resumed from an earlier result (records.cached_status)
            return records.cached_status(self.storage, manifest.layout, index)

    def element_status(self, manifest: Manifest, index: int) -> ElementStatus:
        el = self._stored_element(manifest, index)
        if el is not None:
            return el
        summary = self.summary(manifest)
        if index in summary.running:
            return ElementStatus(index, RUNNING, started=summary.started_of(index))
        if summary.status == FAILED and summary.counts.get(FAILED) == manifest.count:
            # failed before it ran (a dependency failed, or it was never submitted)
            return ElementStatus(index, FAILED, reason=summary.reason)
        return ElementStatus(index, PENDING if summary.status == PENDING else RUNNABLE)

    def list_elements(
        self, manifest: Manifest, *, status: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[ElementStatus]:
        if status is not None and status not in STATUSES:
            raise InvalidAnalysis(f"Unknown status {status!r}; use one of {', '.join(STATUSES)}.")
        summary = self.summary(manifest)
        default = PENDING if summary.status == PENDING else RUNNABLE
        running = set(summary.running)

        # an element failed without a record of its own: the analysis's reason (a failed dependency)
        unrecorded_reason = summary.reason if summary.status == FAILED else None

        def placeholder(i: int, state: str) -> ElementStatus:
            """An element without a status file: its state, when it started (running), why (failed)."""
            return ElementStatus(
                i,
                state,
                reason=unrecorded_reason if state == FAILED else None,
                started=summary.started_of(i) if state == RUNNING else None,
            )

        def one(i: int) -> ElementStatus:
            return self._stored_element(manifest, i) or placeholder(i, RUNNING if i in running else default)

        letters = self._letters(manifest)
        if letters is None:  # no elements.txt (another backend's records): every status file
            with ThreadPoolExecutor(max_workers=8) as pool:
                elements = list(pool.map(one, range(manifest.count)))
            if status is not None:
                elements = [e for e in elements if e.status == status]
            elements.sort(key=lambda e: (e.status != FAILED, e.index))
            return elements[offset : offset + limit]
        # elements.txt picks the page; only the page's own status files are read
        states = [LETTER_STATUS.get(b, default) for b in letters]
        for i in running:
            if states[i] not in TERMINAL:
                states[i] = RUNNING
        chosen = [i for i, st in enumerate(states) if status is None or st == status]
        chosen.sort(key=lambda i: (states[i] != FAILED, i))
        page = chosen[offset : offset + limit]
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = list(pool.map(self._stored_element, [manifest] * len(page), page))
        return [el if el is not None else placeholder(i, states[i]) for i, el in zip(page, found, strict=True)]

    def element_letters(self, manifest: Manifest) -> bytes:
        """``elements.txt`` with running elements marked (two reads), else the base listing."""
        summary = self.summary(manifest)
        letters = self._letters(manifest)
        if letters is None:
            return super().element_letters(manifest)
        out = bytearray(letters)
        run = STATUS_LETTERS[RUNNING][0]
        terminal = {STATUS_LETTERS[s][0] for s in TERMINAL}
        for i in summary.running:
            if 0 <= i < len(out) and out[i] not in terminal:
                out[i] = run
        return bytes(out)

    def _letters(self, manifest: Manifest) -> bytes | None:
        """``elements.txt`` (one status letter per element), if the backend keeps one."""
        try:
            data = self.storage.get_bytes(manifest.layout.elements)
        except NotFound:
            return None
        return data if len(data) == manifest.count else None

    def read_log(self, manifest: Manifest, index: int, stream: str, offset: int) -> LogChunk:
        key = manifest.layout.log(index, stream)
        try:
            size = self.storage.stat(key).size
        except NotFound:
            return LogChunk(b"", offset)
        if offset >= size:
            return LogChunk(b"", offset)
        data = self.storage.get_bytes(key, offset, min(size, offset + LOG_READ_LIMIT))
        return LogChunk(data, offset + len(data))
