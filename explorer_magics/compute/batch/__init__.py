"""``batch`` compute: AWS Batch array jobs.

``backend`` is the backend the SDK talks to (:class:`BatchCompute`); ``provisioning`` sets up
an AWS account for it (``explorer cloud init``).
"""

from .backend import BatchCompute

__all__ = ["BatchCompute"]
