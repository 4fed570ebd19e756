"""``local`` compute: a small cluster on this machine (the embedded default).

``client`` is the backend the SDK talks to (:class:`LocalCompute`); ``supervisor`` is the
long-lived process that runs every element; ``launcher`` is a run's fork server, a child of
the supervisor; ``libc`` is the little process glue (prctl, a raw fork) they share.
"""

from .client import LocalCompute

__all__ = ["LocalCompute"]
