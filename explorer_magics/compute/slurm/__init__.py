"""``slurm`` compute: every element runs as a task of ``sbatch --array`` jobs on an HPC cluster.

See :mod:`.backend` (submission, status, termination), :mod:`.node` (what a task runs on a
node), :mod:`.scheduler` (the Slurm commands, one shared squeue per poll) and :mod:`.settings`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SlurmCompute"]


def __getattr__(name: str) -> Any:
    # lazily: a node running an element imports .node only, not the submitting side
    if name == "SlurmCompute":
        from .backend import SlurmCompute

        return SlurmCompute
    raise AttributeError(name)
