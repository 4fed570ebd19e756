"""pytest plugin: ONE real Slurm cluster for the session (devcluster/slurm.py), and a test's
``compute = "slurm"`` on it.

Fixtures:

* ``slurm_cluster`` (session): munged, slurmctld and one slurmd from a temp directory,
  stopped by PID at the end; ``sbatch``/``squeue``/``sacct``/``scontrol``/``scancel`` are
  counted by wrappers first on PATH (:func:`calls`).
* ``slurm``: this test's Explorer uses ``compute = "slurm"`` on it, with storage in a directory
  the node reaches (on one machine, as NFS would be) and its own node scratch directory.

Registered in tests/conftest.py through ``pytest_plugins``; used by tests/test_slurm*.py and
the contract suite (tests/contract/).
"""

from __future__ import annotations

import os
import stat

import pytest

from devcluster import slurm as devcluster
from explorer_magics import session
from explorer_magics.compute.slurm import scheduler


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """One real Slurm (munged, slurmctld, one slurmd) for the session; stopped by PID at the end.

    Without ``kill_invalid_depend`` (Slurm's default): jobs whose dependency failed would stay
    pending forever unless Explorer sees to them."""
    if not devcluster.available():
        pytest.skip("slurm-wlm/munge are not installed (`make test` apt-installs them)")
    root = tmp_path_factory.mktemp("slurm")
    cluster = devcluster.start(root / "cluster", kill_invalid_depend=False)
    bin_dir = root / "bin"
    bin_dir.mkdir()
    counts = root / "counts"
    counts.mkdir()
    for command in ("sbatch", "squeue", "sacct", "scontrol", "scancel"):
        real = f"/usr/bin/{command}"
        wrapper = bin_dir / command
        wrapper.write_text(f'#!/bin/sh\necho x >> "{counts / command}"\nexec {real} "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    old = {k: os.environ.get(k) for k in ("SLURM_CONF", "PATH")}
    os.environ["SLURM_CONF"] = str(cluster.conf)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    cluster.counts = counts  # type: ignore[attr-defined]
    cluster.bin = bin_dir  # type: ignore[attr-defined]
    try:
        yield cluster
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        cluster.stop()


def calls(cluster, command: str) -> int:
    """How many times ``command`` ran against the session's cluster so far."""
    path = cluster.counts / command
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture
def slurm(slurm_cluster, explorer_env, monkeypatch, tmp_path):
    """compute=slurm with storage in a directory the node reaches."""
    storage = tmp_path / "shared-storage"
    storage.mkdir()
    monkeypatch.setenv("EXPLORER_COMPUTE", "slurm")
    monkeypatch.setenv("EXPLORER_STORAGE", str(storage))
    monkeypatch.setenv("EXPLORER_SLURM_SCRATCH_DIR", str(tmp_path / "node-scratch"))
    scheduler.forget_limits()
    session.reset()
    yield slurm_cluster
    session.reset()
