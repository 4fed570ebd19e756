"""``slurm`` compute: every element runs as a task of ``sbatch --array`` jobs on an HPC cluster.

See :mod:`.backend` (submission, status, termination), :mod:`.node` (what a task runs on a
node), :mod:`.scheduler` (the Slurm commands, one shared squeue per poll) and :mod:`.settings`.
"""

from .backend import SlurmCompute

__all__ = ["SlurmCompute"]
