"""The value objects an analysis is made of: JobDefinition, InputShared, GlobalConfig.

Plain, picklable data with no I/O: the SDK, the runner and every backend share them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from typing import Any

from .errors import ExplorerError, InvalidAnalysis

__all__ = ["GlobalConfig", "InputShared", "JobDefinition", "parse_duration"]


def _is_number(value: Any, *, whole: bool = False) -> bool:
    """A finite real number (a whole one with ``whole``): not a bool, a string, NaN or infinity
    (JSON, and so every manifest, has no NaN or Infinity)."""
    kinds = (int,) if whole else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)


#: kinds of failure a JobDefinition may retry (see explorer_magics.rerun.failure_kind)
RETRY_KINDS = ("oom", "timeout", "node", "error")


@dataclasses.dataclass(frozen=True)
class JobDefinition:
    """Resources of each element: ``JobDefinition(cpu=2, memory_mb=4000)`` by default.

    ``memory_mb`` is enforced (an element that allocates more FAILS with an out-of-memory
    reason), and so is ``timeout_seconds`` (the element FAILS with a timeout reason).
    ``image`` is the container image on cluster backends; ``gpu`` is passed to cluster backends.

    Retries that learn: ``retries=N`` more attempts for a failure of a kind in ``retry_on``
    (``"oom"``: with ``memory_mb`` x ``memory_growth``, at most ``max_memory_mb``;
    ``"timeout"``: with ``timeout_seconds`` x ``timeout_growth``; ``"node"``: the machine or
    supervisor was lost, as is; ``"error"``: an exception in the work function, as is).
    """

    cpu: float = 2
    memory_mb: int = 4000
    timeout_seconds: float | None = None
    image: str | None = None
    gpu: int = 0
    retries: int = 0
    retry_on: tuple[str, ...] = ("oom", "timeout", "node")
    memory_growth: float = 2.0
    timeout_growth: float = 2.0
    max_memory_mb: int | None = None

    def __post_init__(self) -> None:
        if not _is_number(self.cpu) or self.cpu <= 0:
            raise InvalidAnalysis(f"JobDefinition(cpu=...) must be a positive, finite number, not {self.cpu!r}.")
        if not _is_number(self.memory_mb, whole=True) or self.memory_mb < 16:
            raise InvalidAnalysis(f"JobDefinition(memory_mb=...) must be a whole number >= 16, not {self.memory_mb!r}.")
        if self.timeout_seconds is not None and (not _is_number(self.timeout_seconds) or self.timeout_seconds <= 0):
            raise InvalidAnalysis(
                f"JobDefinition(timeout_seconds=...) must be positive seconds, not {self.timeout_seconds!r} "
                "(a finite number; None for no limit)."
            )
        if not _is_number(self.gpu, whole=True) or not _is_number(self.retries, whole=True):
            raise InvalidAnalysis("JobDefinition gpu and retries must be whole numbers.")
        if self.gpu < 0 or self.retries < 0:
            raise InvalidAnalysis("JobDefinition gpu and retries cannot be negative.")
        self._check_retries()

    def _check_retries(self) -> None:
        kinds = (self.retry_on,) if isinstance(self.retry_on, str) else self.retry_on
        if not isinstance(kinds, (list, tuple)) or any(k not in RETRY_KINDS for k in kinds):
            raise InvalidAnalysis(
                f"JobDefinition(retry_on=...) takes some of {', '.join(map(repr, RETRY_KINDS))}, not {self.retry_on!r}."
            )
        object.__setattr__(self, "retry_on", tuple(kinds))
        if self.retries > 20:
            raise InvalidAnalysis(f"JobDefinition(retries=...) is at most 20, not {self.retries}.")
        for name in ("memory_growth", "timeout_growth"):
            value = getattr(self, name)
            if not _is_number(value) or not 1 <= value <= 16:
                raise InvalidAnalysis(f"JobDefinition({name}=...) must be a number from 1 to 16, not {value!r}.")
        if self.max_memory_mb is not None and (
            not _is_number(self.max_memory_mb, whole=True) or self.max_memory_mb < self.memory_mb
        ):
            raise InvalidAnalysis(
                f"JobDefinition(max_memory_mb=...) must be a whole number >= memory_mb={self.memory_mb}, "
                f"not {self.max_memory_mb!r}."
            )

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
#: the longest duration accepted: 100 years back is before any analysis, and still a date
MAX_DURATION = 100 * 365 * 86400


def parse_duration(value: str | float | int | dt.timedelta) -> float:
    """Seconds in ``"30s"``, ``"10m"``, ``"1h"``, ``"2d"``, ``"2w"`` (or a number/timedelta),
    at most 100 years."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ExplorerError(f"{value!r} is not a duration; write e.g. '30s', '10m', '1h', '2d' or '2w'.")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_DURATION:
        raise ExplorerError(
            f"{value!r} is not a usable duration: give between 0 and 100 years, e.g. '30s', '10m', '2d' or '5200w'."
        )
    return seconds
