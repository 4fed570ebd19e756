"""The value objects an analysis is made of: JobDefinition, InputShared, GlobalConfig.

Plain, picklable data with no I/O: the SDK, the runner and every backend share them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from .errors import ExplorerError, InvalidAnalysis

__all__ = ["GlobalConfig", "InputShared", "JobDefinition", "parse_duration"]


def _is_number(value: Any, *, whole: bool = False) -> bool:
    """A real number (a whole one with ``whole``), not a bool or a string."""
    kinds = (int,) if whole else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class JobDefinition:
    """Resources of each element: ``JobDefinition(cpu=2, memory_mb=4000)`` by default.

    ``memory_mb`` is enforced (an element that allocates more FAILS with an out-of-memory
    reason), and so is ``timeout_seconds`` (the element FAILS with a timeout reason).
    ``image`` is the container image on cluster backends; ``gpu`` and ``retries`` are passed
    to cluster backends.
    """

    cpu: float = 2
    memory_mb: int = 4000
    timeout_seconds: float | None = None
    image: str | None = None
    gpu: int = 0
    retries: int = 0

    def __post_init__(self) -> None:
        if not _is_number(self.cpu) or self.cpu <= 0:
            raise InvalidAnalysis(f"JobDefinition(cpu=...) must be a positive number, not {self.cpu!r}.")
        if not _is_number(self.memory_mb, whole=True) or self.memory_mb < 16:
            raise InvalidAnalysis(f"JobDefinition(memory_mb=...) must be a whole number >= 16, not {self.memory_mb!r}.")
        if self.timeout_seconds is not None and (not _is_number(self.timeout_seconds) or self.timeout_seconds <= 0):
            raise InvalidAnalysis(
                f"JobDefinition(timeout_seconds=...) must be positive seconds, not {self.timeout_seconds!r}."
            )
        if not _is_number(self.gpu, whole=True) or not _is_number(self.retries, whole=True):
            raise InvalidAnalysis("JobDefinition gpu and retries must be whole numbers.")
        if self.gpu < 0 or self.retries < 0:
            raise InvalidAnalysis("JobDefinition gpu and retries cannot be negative.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> JobDefinition:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in fields})


class _Bag:
    """Named values reachable as attributes (``InputShared(ref=...)`` -> ``.ref``)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        have = ", ".join(sorted(self.__dict__)) or "nothing"
        raise AttributeError(f"{type(self).__name__} has no {name!r}; it holds: {have}.")

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class InputShared(_Bag):
    """Input shared by every element of an array (sent once, not once per element)."""


class GlobalConfig(_Bag):
    """Analysis-wide parameters (reference genome, model settings), ``ac.global_context``."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str | float | int | dt.timedelta) -> float:
    """Seconds in ``"30s"``, ``"10m"``, ``"1h"``, ``"2d"``, ``"2w"`` (or a number/timedelta)."""
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ExplorerError(f"{value!r} is not a duration; write e.g. '30s', '10m', '1h', '2d' or '2w'.")
    return float(m.group(1)) * _UNITS[m.group(2)]
