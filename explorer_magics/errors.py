"""The one exception family of Explorer.

Every error the SDK raises on purpose is an :class:`ExplorerError`. Messages say what went
wrong *and* what to do next, so the faces (magics, CLI, server) can show them as they are.
"""

from __future__ import annotations


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


class BackendError(ExplorerError):
    """A storage or compute backend failed (network, service, missing tool)."""


class Unsupported(BackendError):
    """The configured backend cannot do this at all (e.g. shareable URLs on a local folder):
    a matter of configuration, not a failure; the message says what to use instead."""


class AnalysisFailed(ExplorerError):
    """``Analysis.result()`` of an analysis that FAILED: the message names the failed elements
    (of it or of the dependency that failed it) and their reasons."""
