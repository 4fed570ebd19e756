"""The compute backends the contract suite runs against, one fixture each.

A backend joins by adding ONE fixture here: decorate a function that yields a
:class:`Backend` with ``@backend("name")``; every test in this folder then runs against it.
``Backend.cannot`` names the checks its test fixture (not the backend) cannot exercise, each
with why — e.g. moto's Batch runs no container, so it cannot time one out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from explorer_magics import aws, session
from explorer_magics.analysis import Analysis

_REGISTRY: dict[str, Callable[[pytest.FixtureRequest], Iterator[Backend]]] = {}


@dataclasses.dataclass
class Backend:
    """What the suite needs from one compute backend's test set-up."""

    name: str
    #: make the submitted elements of ``an`` run (``indices``: only those); a no-op where the
    #: backend runs them itself
    play: Callable[[Analysis, list[int] | None], None]
    #: a context manager counting the backend's own calls while it is open (a Counter)
    count_calls: Callable[[], contextlib.AbstractContextManager[dict[str, int]]]
    #: a context manager in which elements that raise make the backend report them FAILED
    failing: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext
    #: check -> why this set-up cannot exercise it
    cannot: dict[str, str] = dataclasses.field(default_factory=dict)

    def finish(self, an: Analysis, indices: list[int] | None = None, timeout: float = 120) -> dict[str, Any]:
        """Play the elements, wait until the analysis has finished, return its status."""
        self.play(an, indices)
        return an.wait_done(timeout=timeout)

    def require(self, check: str) -> None:
        if check in self.cannot:
            pytest.skip(f"{self.name}: {self.cannot[check]}")


def backend(name: str):  # noqa: ANN201 - a decorator
    """Register a fixture function (taking ``request``, yielding a Backend) under ``name``."""

    def register(fn: Callable[[pytest.FixtureRequest], Iterator[Backend]]) -> Callable[..., Any]:
        _REGISTRY[name] = fn
        return fn

    return register


@backend("local")
def _local(request: pytest.FixtureRequest) -> Iterator[Backend]:
    from explorer_magics.compute.local import client

    def count_calls() -> contextlib.AbstractContextManager[dict[str, int]]:
        """Every request to the supervisor, by op."""
        return counting(client, "request", lambda state, message, **_: f"supervisor.{message.get('op')}")

    yield Backend(name="local", play=lambda an, indices: None, count_calls=count_calls)


@backend("batch")
def _batch(request: pytest.FixtureRequest) -> Iterator[Backend]:
    played = request.getfixturevalue("played")  # tests/batch_played.py: moto + played containers
    monkeypatch = request.getfixturevalue("monkeypatch")

    @contextlib.contextmanager
    def count_calls() -> Iterator[dict[str, int]]:
        """Every AWS call (Batch, Logs and S3 alike)."""
        aws.reset_call_counts()
        counts: dict[str, int] = {}
        yield counts
        counts.update(aws.call_counts())

    expect_failures = []

    @contextlib.contextmanager
    def failing() -> Iterator[None]:
        monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")  # moto's Batch: the container exits 1
        expect_failures.append(True)
        try:
            yield
        finally:
            expect_failures.pop()
            monkeypatch.delenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", raising=False)

    def play(an: Analysis, indices: list[int] | None) -> None:
        codes = played.run(an, indices=_positions(an, indices))
        if not expect_failures:  # moto says SUCCEEDED whatever the container did: its exit code tells
            assert set(codes.values()) <= {0}, codes

    no_container = "moto's Batch runs no container (jobs end as soon as they are submitted), so"
    yield Backend(
        name="batch",
        play=play,
        count_calls=count_calls,
        failing=failing,
        cannot={
            "running": f"{no_container} nothing is ever RUNNING to follow, terminate or wait behind",
            "timeout": f"{no_container} nothing runs long enough to time out (AWS Batch enforces attemptDuration)",
            "memory": f"{no_container} no container memory limit applies (AWS Batch enforces it)",
            "partial_failure": "moto's Batch ends every child of an array the same way (test_batch_recorded covers "
            "partial failure)",
        },
    )


@backend("slurm")
def _slurm(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """A real Slurm (tests/slurm_cluster.py: one node, cgroup memory limits), storage in a
    directory the node reaches; every Slurm command Explorer runs is counted."""
    request.getfixturevalue("slurm")
    from explorer_magics.compute.slurm import scheduler

    def count_calls() -> contextlib.AbstractContextManager[dict[str, int]]:
        """Every Slurm command, by name (``sbatch``, ``squeue``, ...)."""
        return counting(scheduler, "run", lambda args, **_: args[0])

    yield Backend(name="slurm", play=lambda an, indices: None, count_calls=count_calls)


@contextlib.contextmanager
def counting(owner: Any, attr: str, name_of: Callable[..., str]) -> Iterator[dict[str, int]]:
    """Count the calls of ``owner.<attr>`` while the block runs, by ``name_of(*args, **kwargs)``."""
    counts: dict[str, int] = {}
    original = getattr(owner, attr)

    def counted(*args: Any, **kwargs: Any) -> Any:
        name = name_of(*args, **kwargs)
        counts[name] = counts.get(name, 0) + 1
        return original(*args, **kwargs)

    setattr(owner, attr, counted)
    try:
        yield counts
    finally:
        setattr(owner, attr, original)


def flaky_array(reason: str) -> tuple[Analysis, Path]:
    """A submitted array of 3 whose element 1 raises ``RuntimeError(reason)`` until the marker
    file returned exists (the others succeed, output value ``ok`` = their index)."""
    marker = session.settings().home / "fixed"

    def flaky(ac):  # noqa: ANN001, ANN202 - a work function
        import os

        if ac.job_index == 1 and not os.path.exists(ac.input):
            raise RuntimeError(reason)
        ac.output.value(key="ok", value=ac.job_index)

    return Analysis(function=flaky, input=[str(marker)] * 3).run(), marker


def _positions(an: Analysis, indices: list[int] | None) -> list[int] | None:
    """The Batch children that run ``indices`` of the analysis's current job."""
    chosen = an.manifest.backend.get("indices")
    if chosen is None:
        return indices
    wanted = chosen if indices is None else indices
    return [chosen.index(i) for i in wanted]


@pytest.fixture(params=sorted(_REGISTRY), ids=str)
def compute_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """Each registered backend in turn, configured as the session's compute backend."""
    name = request.param
    if name == "batch":
        request.applymarker(pytest.mark.aws)
    if name == "slurm":
        request.applymarker(pytest.mark.slurm)
    gen = _REGISTRY[name](request)
    made = next(gen)
    monkeypatch.setenv("EXPLORER_COMPUTE", made.name)
    session.reset()
    assert session.compute().name == made.name
    try:
        yield made
    finally:
        with contextlib.suppress(StopIteration):
            next(gen)
        os.environ.pop("MOTO_SIMPLE_BATCH_FAIL_AFTER", None)
