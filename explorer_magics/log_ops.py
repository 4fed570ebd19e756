"""Reading an element's log by offset cursor: what a face that follows logs (the server's log
route, a sidebar) calls repeatedly with the offset it got last time.

It applies the same ``since`` rule as :meth:`explorer_magics.analysis.Analysis.logs`: an element
that stopped longer ago than ``since`` gives no data.
"""

from __future__ import annotations

import dataclasses
import time

from .analysis import Analysis, parse_duration
from .errors import ExplorerError
from .records import PENDING, RUNNABLE, SUBMITTED, ElementStatus

#: an element in these states has not started, so it has no log yet
_NOT_STARTED = frozenset({SUBMITTED, PENDING, RUNNABLE})


@dataclasses.dataclass(frozen=True)
class LogRead:
    """Bytes of a log from the asked offset on, where to continue, and whether the element has
    finished (then nothing more will come once ``data`` is empty)."""

    data: bytes
    next_offset: int
    finished: bool
    #: True when ``since`` left the log out (the element stopped before the cutoff)
    skipped: bool = False


def element_status(analysis: Analysis, index: int | None) -> ElementStatus:
    """Element ``index``'s status, read once by a caller that reads its log several times."""
    return analysis._compute().element_status(analysis.manifest, analysis._index(index))


def read_log(
    analysis: Analysis,
    index: int | None,
    stream: str = "stdout",
    offset: int = 0,
    *,
    since: str | float | None = None,
    element: ElementStatus | None = None,
    attempt: int | None = None,
) -> LogRead:
    """``stream`` of element ``index`` from byte ``offset`` on.

    ``finished`` is taken BEFORE the bytes are read, so once a read says finished, it also
    holds everything the element wrote. An element that has not started yet (SUBMITTED,
    PENDING, RUNNABLE) has no log: the backend is not asked. ``since="10m"`` returns nothing for an element that
    stopped longer ago than that. ``element`` is the element's status if the caller has it
    already (read before this call; e.g. shared between the clients of a server). ``attempt``
    reads an earlier attempt's log (see ``status(i)["attempts"]``; the latest by default).
    """
    if not isinstance(offset, int) or offset < 0:
        raise ExplorerError(f"offset must be a whole number >= 0, not {offset!r}.")
    i = analysis._index(index)
    manifest = analysis.manifest
    manifest.layout.log(i, stream)  # refuses a stream that is not stdout/stderr
    if attempt is not None:
        from .rerun import read_attempt_log

        earlier = read_attempt_log(analysis, i, attempt, stream, offset)
        if earlier is not None:
            return LogRead(earlier.data, earlier.next_offset, True)
    compute = analysis._compute()
    if element is None:
        element = compute.element_status(manifest, i)
    elif element.index != i:
        raise ExplorerError(f"The status given is element {element.index}'s, not element {i}'s.")
    if since is not None:
        cutoff = time.time() - parse_duration(since)
        if element.stopped is not None and element.stopped < cutoff:
            return LogRead(b"", offset, True, skipped=True)
    if element.status in _NOT_STARTED:
        return LogRead(b"", offset, False)  # nothing written yet: no need to ask the backend
    chunk = compute.read_log(manifest, i, stream, offset)
    return LogRead(chunk.data, chunk.next_offset, element.finished)


__all__ = ["LogRead", "element_status", "read_log"]
