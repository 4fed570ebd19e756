"""``[slurm]`` settings: the config file's section, or ``EXPLORER_SLURM_<KEY>`` variables.

::

    compute = "slurm"
    storage = "/shared/explorer"          # a directory every node mounts, or s3://...
    [slurm]
    partition = "short"
    account = "lab-smith"
    qos = "normal"
    sbatch_options = "--constraint=avx2 --nice=10"
    python = "/shared/envs/explorer/bin/python"   # default: this interpreter's path
    scratch_dir = "/tmp"                  # node-local: pip package sets, spooled logs
    shared_paths = "/shared:/home"        # directories every node mounts
    throttle = 50                         # at most this many elements of an analysis at once
    aftercorr = true                      # element i of B starts when element i of A succeeded
"""

from __future__ import annotations

import ast
import dataclasses
import os
import shlex
import sys

from ...config import BackendSettings, setting
from ...errors import ExplorerError


@dataclasses.dataclass(frozen=True)
class SlurmSettings(BackendSettings):
    """``[slurm]``: where and how Slurm runs elements."""

    section = "slurm"

    partition: str | None = setting(doc="the partition (default: the cluster's default partition)")
    account: str | None = setting(doc="the account to charge (sbatch --account)")
    qos: str | None = setting(doc="the quality of service (sbatch --qos)")
    sbatch_options: str | None = setting(doc="more sbatch options, as on a command line")
    python: str | None = setting(doc="the Python the nodes run (default: this interpreter's path)")
    scratch_dir: str = setting("/tmp", doc="a node-local directory (pip package sets, spooled logs)")
    shared_paths: str | None = setting(doc="directories every node mounts, ':'-separated")
    throttle: int | None = setting(doc="at most this many elements of one analysis at once")
    aftercorr: bool = setting(False, doc="element i of B starts when element i of A succeeded (equal sizes)")

    def validate(self) -> None:
        if self.throttle is not None and self.throttle < 1:
            raise ExplorerError(f"[slurm] throttle must be at least 1, not {self.throttle}.")
        try:
            shlex.split(self.sbatch_options or "")
        except ValueError as exc:
            raise ExplorerError(f"[slurm] sbatch_options cannot be read as a command line: {exc}.") from None

    @property
    def options(self) -> tuple[str, ...]:
        """``sbatch_options`` as separate options."""
        return tuple(shlex.split(self.sbatch_options or ""))

    @property
    def node_python(self) -> str:
        return self.python or sys.executable

    @property
    def shared(self) -> tuple[str, ...] | None:
        """``shared_paths`` as absolute paths (None: not said)."""
        raw = self.shared_paths
        if raw is None:
            return None
        text = raw.strip()
        parts = ast.literal_eval(text) if text.startswith("[") else text.split(os.pathsep)  # (a TOML list too)
        return tuple(os.path.abspath(os.path.expanduser(str(p))) for p in parts if str(p).strip())
