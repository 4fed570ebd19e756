"""What a work function sees: :class:`AnalysisContext` (``ac``) and its ``ac.output``.

Built by the runner for each element. Opening a dependency (``ac.dependency(name)``) is handed
in by whoever builds the context, so this module knows nothing of how analyses are found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import records
from .definitions import GlobalConfig, InputShared, JobDefinition
from .errors import InvalidAnalysis, NotFound
from .models import File

if TYPE_CHECKING:
    from .analysis import Analysis

__all__ = ["AnalysisContext", "OutputCollector"]


class OutputCollector:
    """``ac.output``: files and values an element hands back.

    ``ac.output.file("key")`` gives a File with a fresh local path to write;
    ``ac.output.file(path_local="x.json", key="key")`` collects an existing file;
    ``ac.output.value(key="k", value=v)`` or ``ac.output.k = v`` stores a value.
    """

    def __init__(self, workdir: str | Path) -> None:
        object.__setattr__(self, "_workdir", Path(workdir))
        object.__setattr__(self, "_files", {})
        object.__setattr__(self, "_values", {})

    def file(self, key: str | None = None, *, path_local: str | Path | None = None) -> File:
        if key is None:
            raise InvalidAnalysis(
                "ac.output.file needs a key: ac.output.file('name') or ac.output.file(path_local=..., key='name')."
            )
        records.validate_output_key(key)
        records.check_output_keys([*self._files, key])  # refused before anything is made for it
        if path_local is None:
            path = self._workdir / "outputs" / key
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            path = Path(path_local).expanduser().resolve()
        self._files[key] = path
        return File(path_local=str(path))

    def value(self, key: str, value: Any) -> None:
        records.validate_output_key(key)
        self._values[key] = value

    def __setattr__(self, name: str, value: Any) -> None:
        self.value(name, value)

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(f"No output value {name!r} has been set.")

    @property
    def files(self) -> dict[str, Path]:
        return dict(self._files)

    @property
    def values(self) -> dict[str, Any]:
        return dict(self._values)


class AnalysisContext:
    """What a work function receives: its input, shared input, config and output."""

    def __init__(
        self,
        *,
        input: Any,  # noqa: A002 - the reference's name
        input_shared: InputShared | None,
        global_context: GlobalConfig | None,
        job_definition: JobDefinition,
        job_index: int | None,
        output: OutputCollector,
        analysis_id: str | None = None,
        dependencies: Iterable[dict[str, str]] = (),
        open_dependency: Callable[[str], Any] | None = None,
    ) -> None:
        self.input = input
        self.input_shared = input_shared
        self.global_context = global_context
        self.job_definition = job_definition
        self.job_index = job_index
        self.output = output
        self.analysis_id = analysis_id
        self._dependencies = {d["name"]: d["id"] for d in dependencies}
        self._open_dependency = open_dependency

    def dependency(self, name: str) -> Analysis:
        """The dependency called ``name`` (its function name unless given ``name=``)."""
        if name not in self._dependencies:
            have = ", ".join(repr(n) for n in self._dependencies) or "none"
            raise NotFound(f"This analysis has no dependency named {name!r}; its dependencies are: {have}.")
        if self._open_dependency is None:
            raise NotFound("This context cannot open dependencies (it was built without open_dependency).")
        return self._open_dependency(self._dependencies[name])

    def __repr__(self) -> str:
        return f"AnalysisContext(job_index={self.job_index!r}, input={self.input!r})"
