"""``[slurm]`` settings: the config file's section, or ``EXPLORER_SLURM_*`` variables.

::

    compute = "slurm"
    storage = "/shared/explorer"          # a directory every node mounts, or s3://...
    [slurm]
    partition = "short"
    account = "lab-smith"
    qos = "normal"
    sbatch_options = "--constraint=avx2 --nice=10"
    python = "/shared/envs/explorer/bin/python"   # default: this interpreter's path
    scratch_dir = "/tmp"                  # node-local: pip package sets, element work dirs
    shared_paths = ["/shared", "/home"]   # directories every node mounts
    throttle = 50                         # at most this many elements of an analysis at once
    aftercorr = true                      # element i of B starts when element i of A succeeded

Variables (they win over the file): ``EXPLORER_SLURM_PARTITION``, ``EXPLORER_SLURM_ACCOUNT``,
``EXPLORER_SLURM_QOS``, ``EXPLORER_SLURM_SBATCH_OPTIONS``, ``EXPLORER_SLURM_PYTHON``,
``EXPLORER_SLURM_SCRATCH_DIR``, ``EXPLORER_SLURM_SHARED_PATHS`` (``:``-separated),
``EXPLORER_SLURM_THROTTLE``, ``EXPLORER_SLURM_AFTERCORR``.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from typing import Any

from ...config import _config_file
from ...errors import ExplorerError

_TRUE = ("1", "true", "yes", "on")


@dataclasses.dataclass(frozen=True)
class SlurmSettings:
    """Resolved ``[slurm]`` settings."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    sbatch_options: tuple[str, ...] = ()
    python: str = sys.executable
    scratch_dir: str = "/tmp"
    shared_paths: tuple[str, ...] | None = None  # None: not said (a directory storage is trusted)
    throttle: int | None = None
    aftercorr: bool = False

    def as_env(self) -> dict[str, str]:
        """Variables that make a child process (an element on a node) resolve these settings."""
        env = {"EXPLORER_SLURM_PYTHON": self.python, "EXPLORER_SLURM_SCRATCH_DIR": self.scratch_dir}
        for name in ("partition", "account", "qos"):
            value = getattr(self, name)
            if value:
                env[f"EXPLORER_SLURM_{name.upper()}"] = value
        return env


def _get(env: str, section: dict[str, Any], key: str) -> Any:
    value = os.environ.get(env)
    if value not in (None, ""):
        return value
    return section.get(key)


def load() -> SlurmSettings:
    """The ``[slurm]`` settings from the environment and the config file."""
    cfg = _config_file()
    section = cfg.get("slurm", {}) if isinstance(cfg.get("slurm"), dict) else {}
    options = _get("EXPLORER_SLURM_SBATCH_OPTIONS", section, "sbatch_options") or ()
    if isinstance(options, str):
        options = tuple(shlex.split(options))
    shared = _get("EXPLORER_SLURM_SHARED_PATHS", section, "shared_paths")
    if isinstance(shared, str):
        shared = [p for p in shared.split(os.pathsep) if p]
    throttle = _get("EXPLORER_SLURM_THROTTLE", section, "throttle")
    try:
        throttle_n = int(throttle) if throttle not in (None, "", 0, "0") else None
    except (TypeError, ValueError):
        raise ExplorerError(f"[slurm] throttle must be a whole number of elements, not {throttle!r}.") from None
    if throttle_n is not None and throttle_n < 1:
        raise ExplorerError(f"[slurm] throttle must be at least 1, not {throttle_n}.")
    aftercorr = _get("EXPLORER_SLURM_AFTERCORR", section, "aftercorr")
    return SlurmSettings(
        partition=_get("EXPLORER_SLURM_PARTITION", section, "partition") or None,
        account=_get("EXPLORER_SLURM_ACCOUNT", section, "account") or None,
        qos=_get("EXPLORER_SLURM_QOS", section, "qos") or None,
        sbatch_options=tuple(str(o) for o in options),
        python=str(_get("EXPLORER_SLURM_PYTHON", section, "python") or sys.executable),
        scratch_dir=str(_get("EXPLORER_SLURM_SCRATCH_DIR", section, "scratch_dir") or "/tmp"),
        shared_paths=tuple(os.path.abspath(os.path.expanduser(p)) for p in shared) if shared is not None else None,
        throttle=throttle_n,
        aftercorr=str(aftercorr).strip().lower() in _TRUE if aftercorr is not None else False,
    )
