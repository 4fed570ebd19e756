"""Settings per backend: a [section] and EXPLORER_<SECTION>_<KEY>, declared by the backend;
backends found through entry points."""

from __future__ import annotations

import dataclasses

import pytest

from explorer_magics import session
from explorer_magics.aws import S3Settings
from explorer_magics.compute.batch.backend import BatchSettings
from explorer_magics.compute.local.client import LocalSettings
from explorer_magics.config import BackendSettings, get_settings, setting
from explorer_magics.errors import ExplorerError


@dataclasses.dataclass(frozen=True)
class SlurmLike(BackendSettings):
    """What a new backend declares."""

    section = "slurm"

    partition: str | None = setting()
    max_jobs: int = setting(100)
    exclusive: bool = setting(False)

    def validate(self) -> None:
        if self.max_jobs < 1:
            raise ExplorerError(f"[slurm] max_jobs must be at least 1, not {self.max_jobs}.")


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    monkeypatch.setenv("EXPLORER_CONFIG", str(path))

    def write(text: str) -> None:
        path.write_text(text)
        session.reset()

    return write


def test_a_backend_reads_its_section_and_its_variables_win(config_file, monkeypatch):
    config_file('[slurm]\npartition = "short"\nmax_jobs = 8\n')
    assert get_settings().of(SlurmLike) == SlurmLike(partition="short", max_jobs=8, exclusive=False)
    monkeypatch.setenv("EXPLORER_SLURM_PARTITION", "long")
    monkeypatch.setenv("EXPLORER_SLURM_EXCLUSIVE", "yes")
    assert get_settings().of(SlurmLike) == SlurmLike(partition="long", max_jobs=8, exclusive=True)


def test_values_are_typed_and_checked_by_the_backend(config_file, monkeypatch):
    config_file("")
    monkeypatch.setenv("EXPLORER_SLURM_MAX_JOBS", "many")
    with pytest.raises(ExplorerError, match=r"slurm.max_jobs \(EXPLORER_SLURM_MAX_JOBS\) must be a int, not 'many'"):
        get_settings().of(SlurmLike)
    monkeypatch.setenv("EXPLORER_SLURM_MAX_JOBS", "0")
    with pytest.raises(ExplorerError, match="max_jobs must be at least 1"):
        get_settings().of(SlurmLike)


def test_an_unknown_key_in_a_section_is_refused_with_the_keys_it_takes(config_file):
    config_file('[batch]\njob_queu = "typo"\n')
    with pytest.raises(ExplorerError, match="Unknown setting 'job_queu' in the \\[batch\\] section.*job_queue, image"):
        get_settings().of(BatchSettings)


def test_older_names_still_work(config_file, monkeypatch):
    config_file("max_parallel = 3\n[s3]\nregion = 'eu-west-1'\n")
    monkeypatch.delenv("EXPLORER_MAX_PARALLEL", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    s = get_settings()
    assert s.of(LocalSettings).slots == 3  # a top-level max_parallel
    assert s.of(S3Settings).region == "eu-west-1"
    monkeypatch.setenv("EXPLORER_MAX_PARALLEL", "5")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    s = get_settings()
    assert (s.of(LocalSettings).max_parallel, s.of(S3Settings).region) == (5, "us-west-2")


def test_a_child_process_resolves_the_same_backend_settings(config_file, monkeypatch):
    config_file('[batch]\njob_queue = "q"\n[slurm]\npartition = "short"\n')
    parent = get_settings()
    parent.of(LocalSettings)
    env = {**parent.as_env(), "EXPLORER_CONFIG": "/nonexistent"}  # the child sees only the variables
    child = get_settings(environ=env)
    assert child.of(BatchSettings).job_queue == "q"
    assert child.of(SlurmLike).partition == "short"
    assert child.of(LocalSettings) == parent.of(LocalSettings)
    assert (child.user, child.storage_url, child.compute) == (parent.user, parent.storage_url, parent.compute)


def test_an_unknown_backend_names_the_installed_ones(monkeypatch):
    monkeypatch.setenv("EXPLORER_COMPUTE", "slurmx")
    session.reset()
    with pytest.raises(ExplorerError, match="Unknown compute backend 'slurmx'; installed: batch, local"):
        session.compute()
    assert {"local", "batch"} <= set(session.compute_names())
    with pytest.raises(ExplorerError, match="No storage backend for 'gs://b/p'; installed: local, s3"):
        session.storage(get_settings(storage="gs://b/p"))
