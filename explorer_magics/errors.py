"""The one exception family of Explorer.

Every error the SDK raises on purpose is an :class:`ExplorerError`. Messages say what went
wrong *and* what to do next, so the faces (magics, CLI, server) can show them as they are.
"""

from __future__ import annotations

import errno


class ExplorerError(Exception):
    """Base class of every error Explorer raises on purpose."""


class NotFound(ExplorerError, LookupError):
    """A thing that was asked for does not exist (analysis, element, output key, object)."""


class AccessDenied(ExplorerError, PermissionError):
    """The current user may not do this to this location (EOS access rules)."""


class InvalidAnalysis(ExplorerError, ValueError):
    """An analysis (or its input) cannot be submitted as given; nothing was submitted."""


class InvalidPath(ExplorerError, ValueError):
    """A URI or key is malformed or tries to escape its namespace."""


class AlreadyFinished(ExplorerError):
    """The thing asked to change has already finished (terminating an element that had
    SUCCEEDED, say): nothing was done, and the message says what state it is in."""

    @classmethod
    def element(cls, index: int, status: str) -> AlreadyFinished:
        """``element 8 had already SUCCEEDED; there was nothing to terminate.``"""
        return cls(f"element {index} had already {status}; there was nothing to terminate.")


class BackendError(ExplorerError):
    """A storage or compute backend failed (network, service, missing tool)."""


class Unsupported(BackendError):
    """The configured backend cannot do this at all (e.g. shareable URLs on a local folder):
    a matter of configuration, not a failure; the message says what to use instead."""


class AnalysisFailed(ExplorerError):
    """``Analysis.result()`` of an analysis that FAILED: the message names the failed elements
    (of it or of the dependency that failed it) and their reasons."""


def is_no_space(exc: BaseException | None) -> bool:
    """True for a write that failed because the disk (or a quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def no_space_reason(exc: OSError | None = None, where: str | None = None, then: str = "run the element again") -> str:
    """``no space left on device: <what could not be written>; free space there and <then>``."""
    target = where or (exc.filename if exc is not None and exc.filename else None)
    what = f"could not write {target}" if target else "a write by the element failed"
    return f"no space left on device: {what}; free space there and {then}"
