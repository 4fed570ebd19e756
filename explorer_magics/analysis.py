"""Analysis, AnalysisContext, JobDefinition, InputShared, GlobalConfig.

An :class:`Analysis` wraps a *work function* ``f(ac: AnalysisContext)`` and its input. A list
input is an array job (one element per item, at most 10,000); anything else is one job.
``.run()`` sends it to the configured compute backend (``local`` by default), ``.run_local()``
runs it right here in this process.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from . import eos, records, session
from .compute.base import LOG_READ_LIMIT
from .errors import ExplorerError, InvalidAnalysis, InvalidPath, NotFound
from .models import File, Output
from .records import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    ElementStatus,
    Manifest,
    StatusSummary,
)
from .serialize import dumps_function, dumps_value

__all__ = [
    "Analysis",
    "AnalysisContext",
    "GlobalConfig",
    "InputShared",
    "JobDefinition",
]


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
    ) -> None:
        self.input = input
        self.input_shared = input_shared
        self.global_context = global_context
        self.job_definition = job_definition
        self.job_index = job_index
        self.output = output
        self.analysis_id = analysis_id
        self._dependencies = {d["name"]: d["id"] for d in dependencies}

    def dependency(self, name: str) -> Analysis:
        """The dependency called ``name`` (its function name unless given ``name=``)."""
        if name not in self._dependencies:
            have = ", ".join(repr(n) for n in self._dependencies) or "none"
            raise NotFound(f"This analysis has no dependency named {name!r}; its dependencies are: {have}.")
        from .job_manager import JobManager

        return JobManager().get_analysis(job_id=self._dependencies[name])

    def __repr__(self) -> str:
        return f"AnalysisContext(job_index={self.job_index!r}, input={self.input!r})"


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


class Analysis:
    """A work function with its input, resources and dependencies; see the module docstring."""

    def __init__(
        self,
        function: Callable[..., Any] | None = None,
        *,
        input: Any = None,  # noqa: A002 - the reference's name
        input_shared: InputShared | None = None,
        global_config: GlobalConfig | None = None,
        job_definition: JobDefinition | None = None,
        pip_packages: list[str] | None = None,
        depends_on: list[Analysis] | None = None,
        name: str | None = None,
        compute: str | None = None,
        label: Callable[[Any], Any] | None = None,
    ) -> None:
        if input_shared is not None and not isinstance(input_shared, InputShared):
            raise InvalidAnalysis("input_shared must be an InputShared(...) object.")
        if global_config is not None and not isinstance(global_config, GlobalConfig):
            raise InvalidAnalysis("global_config must be a GlobalConfig(...) object.")
        if job_definition is not None and not isinstance(job_definition, JobDefinition):
            raise InvalidAnalysis("job_definition must be a JobDefinition(...) object.")
        for dep in depends_on or ():
            if not isinstance(dep, Analysis):
                raise InvalidAnalysis(f"depends_on takes Analysis objects, not {type(dep).__name__}.")
        if pip_packages is not None and (
            isinstance(pip_packages, str) or not all(isinstance(p, str) and p.strip() for p in pip_packages)
        ):
            raise InvalidAnalysis("pip_packages must be a list of requirement strings, e.g. ['pendulum==3.0'].")
        self.function = function
        self.input = input
        self.input_shared = input_shared
        self.global_config = global_config
        self.job_definition = job_definition or JobDefinition()
        self.pip_packages = list(pip_packages or [])
        self.depends_on = list(depends_on or [])
        self._name = name
        self._compute_name = compute
        self._manifest: Manifest | None = None
        if label is not None and not callable(label):
            raise InvalidAnalysis("label must be a function of one element's input, e.g. label=lambda x: x[0].")
        self.label = label  # observe: the element label rule (default: explorer_magics.observe.labels)

    # -- identity -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The analysis name: ``name=`` if given, else the work function's name."""
        if self._name:
            return self._name
        if self._manifest is not None:
            return self._manifest.name
        fn_name = getattr(self.function, "__name__", None) or "analysis"
        return "lambda" if fn_name == "<lambda>" else fn_name

    @property
    def id(self) -> str | None:
        """The analysis id once submitted (``None`` before)."""
        return self._manifest.id if self._manifest else None

    @property
    def size(self) -> int | None:
        """The array size, or ``None`` for a single job."""
        if self._manifest is not None:
            return self._manifest.size
        return len(self.input) if isinstance(self.input, list) else None

    @property
    def manifest(self) -> Manifest:
        """The submitted record (raises if this analysis was never run)."""
        if self._manifest is None:
            raise InvalidAnalysis(
                f"Analysis {self.name!r} has not been submitted yet; call .run() (or .run_local()) first."
            )
        return self._manifest

    @classmethod
    def _from_manifest(cls, manifest: Manifest) -> Analysis:
        an = cls(name=manifest.name, job_definition=JobDefinition.from_dict(manifest.job_definition))
        an.pip_packages = list(manifest.pip_packages)
        an._manifest = manifest
        return an

    def __repr__(self) -> str:
        return f"Analysis(name={self.name!r}, id={self.id!r}, size={self.size!r})"

    # -- submission ---------------------------------------------------------------------
    def _graph(self) -> list[Analysis]:
        """Dependencies first, each once; a cycle is refused with its path."""
        order: list[Analysis] = []
        state: dict[int, str] = {}

        def visit(node: Analysis, path: list[Analysis]) -> None:
            mark = state.get(id(node))
            if mark == "done":
                return
            if mark == "active":
                cycle = " -> ".join(a.name for a in path[path.index(node) :] + [node])
                raise InvalidAnalysis(f"Dependencies must form a DAG, but they loop: {cycle}. Nothing was submitted.")
            state[id(node)] = "active"
            if node is self or node.id is None:
                for dep in node.depends_on:
                    visit(dep, path + [node])
            state[id(node)] = "done"
            order.append(node)

        visit(self, [])
        return order

    def _prepare(self, compute_name: str) -> dict[str, Any]:
        """Everything to write, built and checked before anything is written."""
        if self.function is None:
            raise InvalidAnalysis(f"Analysis {self.name!r} has no function; pass function=<your work function>.")
        names = [d.name for d in self.depends_on]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidAnalysis(
                f"Analysis {self.name!r} has several dependencies named {dupes[0]!r}; give them distinct name=... "
                "so ac.dependency(name) can tell them apart."
            )
        user = session.settings().user
        _check_eos_uris(self.input, user, "input")
        for bag, what in ((self.input_shared, "input_shared"), (self.global_config, "global_config")):
            if bag is not None:
                _check_eos_uris(bag.to_dict(), user, what)
        if isinstance(self.input, list):
            records.check_size(len(self.input))
            items = [dumps_value(v, what=f"Input element {i} ({type(v).__name__})") for i, v in enumerate(self.input)]
        else:
            items = [dumps_value(self.input, what=f"The input ({type(self.input).__name__})")]
        blob, index = records.pack_inputs(items)
        from .observe.labels import make_labels, pack_labels

        labels = make_labels(self.input if isinstance(self.input, list) else [self.input], self.label)
        return {
            "labels": pack_labels(labels),  # observe
            "function": dumps_function(self.function),
            "shared": dumps_value((self.input_shared, self.global_config), what="input_shared/global_config"),
            "blob": blob,
            "index": index,
            "size": len(self.input) if isinstance(self.input, list) else None,
            "compute": compute_name,
        }

    def _write_record(self, prepared: dict[str, Any]) -> Manifest:
        settings = session.settings()
        storage = session.storage()
        manifest = Manifest(
            id=records.new_analysis_id(self.name),
            name=self.name,
            user=settings.user,
            created=time.time(),
            size=prepared["size"],
            compute=prepared["compute"],
            storage=storage.url,
            depends_on=tuple({"id": d.manifest.id, "name": d.name} for d in self.depends_on),
            job_definition=self.job_definition.to_dict(),
            pip_packages=tuple(self.pip_packages),
        )
        layout = manifest.layout
        storage.put_bytes(layout.function, prepared["function"])
        storage.put_bytes(layout.shared, prepared["shared"])
        storage.put_bytes(layout.inputs_blob, prepared["blob"])
        storage.put_bytes(layout.inputs_index, prepared["index"])
        storage.put_bytes(layout.labels, prepared["labels"])  # observe
        status = records.PENDING if self.depends_on else records.RUNNABLE
        storage.put_bytes(
            layout.summary,
            StatusSummary(
                status=status, counts={status: manifest.count}, size=manifest.size, updated=time.time()
            ).to_json(),
        )
        storage.put_bytes(layout.manifest, manifest.to_json())
        return manifest

    def run(self) -> Analysis:
        """Submit this analysis (and every dependency not yet submitted, each once).

        Prints ``Analysis ID: <id>`` and returns self. Everything is checked first: on a
        refusal (unpicklable input, too many elements, a cycle) nothing is submitted.
        """
        order = self._graph()
        pending = [a for a in order if a is self or a.id is None]
        prepared = {id(a): a._prepare(a._compute_name or session.settings().compute) for a in pending}
        for node in pending:  # every backend may refuse before a byte is written
            session.compute(prepared[id(node)]["compute"]).preflight(node.job_definition.to_dict())
        for node in pending:
            compute = session.compute(prepared[id(node)]["compute"])
            manifest = node._write_record(prepared[id(node)])
            deps = [d.manifest for d in node.depends_on]
            backend = compute.submit(manifest, deps)
            if backend:
                manifest = dataclasses.replace(manifest, backend=backend)
                session.storage().put_bytes(manifest.layout.manifest, manifest.to_json())
            node._manifest = manifest
            print(f"Analysis ID: {manifest.id}")
        from . import shell

        if shell.in_notebook():  # ipywidgets is imported only where it can be shown
            from . import widgets

            widgets.show(self)
        return self

    def run_local(self, index: int | None = None) -> Analysis:
        """Run here, in this process, now: every element in order (or only ``index``).

        Output appears as it is printed; ``!`` lines use this notebook's shell. Outputs are
        stored like a cluster run's, so ``get_output()`` works afterwards. The first failing
        element's exception is raised after it is recorded.
        """
        from .runner import run_element_inline

        count = self.size if self.size is not None else 1
        if index is not None and (not isinstance(index, int) or not 0 <= index < count):
            # refused before anything is written or run
            raise NotFound(f"No element {index!r}: this analysis has {count} element(s).")
        for dep in self.depends_on:
            if dep.id is None:
                dep.run_local()
        prepared = self._prepare("inline")
        manifest = self._write_record(prepared)
        self._manifest = manifest
        indices = range(manifest.count) if index is None else [index]
        inputs = self.input if isinstance(self.input, list) else [self.input]
        from .observe.labels import unpack_labels

        labels = unpack_labels(prepared["labels"])  # observe
        storage = session.storage()
        layout = manifest.layout
        todo = list(indices)
        counts: dict[str, int] = {SUCCEEDED: 0, FAILED: 0}
        print(f"Analysis ID: {manifest.id} (running here)")
        try:
            while todo:
                i = todo.pop(0)
                job_index = i if manifest.size is not None else None
                try:
                    result = run_element_inline(
                        storage,
                        manifest,
                        job_index,
                        self.function,
                        inputs[i],
                        self.input_shared,
                        self.global_config,
                        label=labels[i],
                    )
                except BaseException:
                    counts[FAILED] += 1
                    raise
                counts[result.status] += 1
        finally:
            reason = None
            for i in todo:  # not run: an earlier element failed
                reason = "not run: run_local() stopped at the first failing element"
                records.write_element_status(
                    storage, layout, ElementStatus(i, FAILED, reason=reason, stopped=time.time())
                )
                counts[FAILED] += 1
            counts = {k: v for k, v in counts.items() if v}
            total = sum(counts.values())
            storage.put_bytes(
                layout.summary,
                StatusSummary(
                    status=records.overall_status(counts, total),
                    counts=counts,
                    size=manifest.size,
                    reason=reason,
                    updated=time.time(),
                ).to_json(),
            )
        return self

    # -- watching -----------------------------------------------------------------------
    def _compute(self):  # noqa: ANN202
        return session.compute(self.manifest.compute)

    def _index(self, i: int | None) -> int:
        count = self.manifest.count
        if i is None:
            return 0  # a single job's only element, or an array's first
        if not isinstance(i, int) or not 0 <= i < count:
            raise NotFound(f"No element {i!r}: {self.name} has elements 0..{count - 1}.")
        return i

    def status(self, i: int | None = None) -> dict[str, Any]:
        """``{'status': 'SUCCEEDED'}``; an array adds ``size`` and ``summary`` (count per
        status); ``reason`` is there when FAILED. ``status(i)`` is element ``i``'s record: its
        status and reason plus, where known, ``input_label``, ``started``, ``ended``,
        ``duration_s``, ``exit_code``, ``signal``, ``peak_rss_mb``, ``cpu_s``, ``host``,
        ``outputs`` and ``cancelled`` (see the README's "Element records")."""
        if i is not None:
            from .observe import views

            return views.record_dict(views.element(self, self._index(i)), drop_empty=True)
        summary = self._compute().summary(self.manifest)
        out = {"status": summary.status}
        if self.manifest.size is not None:
            out["size"] = self.manifest.size
            out["summary"] = {k: v for k, v in summary.counts.items() if v}
        if summary.reason:
            out["reason"] = summary.reason
        return out

    def elements(self, *, status: str | None = None, offset: int = 0, limit: int = 100) -> list[ElementStatus]:
        """Element records (FAILED first), optionally only those with ``status``."""
        from .observe import views

        found = self._compute().list_elements(self.manifest, status=status, offset=offset, limit=limit)
        return views.labelled(self, found)

    # -- observe (issue 14): the array at a glance ------------------------------------------
    def failures(self) -> list[dict[str, Any]]:
        """FAILED elements grouped by cause, largest group first: ``[{"reason": <the reason
        with numbers, paths, sample names and ids masked>, "count", "indices", "example",
        "example_index"}, ...]``. Kept in the record once the analysis has finished."""
        from .observe import views

        return views.failures(self)

    def usage(self) -> dict[str, Any]:
        """CPU, wall time, vCPU- and GB-hours requested vs used, peak memory and runtime
        percentiles, a right-sizing hint, and the cost in USD so far (see the README's
        "Resources and cost" for how each number is computed)."""
        from .observe import views

        return views.usage(self)

    def estimate(self, *, compute: str | None = None, size: int | None = None) -> dict[str, Any]:
        """A forecast (CPU, memory, time, USD) for the whole array on ``compute`` (default:
        this analysis's, else the configured one) from the elements measured so far, e.g.
        after ``an.run_local(index=0)``."""
        from .observe import views

        return views.estimate(self, compute=compute, size=size)

    def logs(self, i: int | None = None, live: bool = False, since: str | float | None = None) -> None:
        """Print element ``i``'s stdout (and stderr, to stderr).

        ``live=True`` follows the log until the element ends. ``since="10m"`` leaves out
        logs of an element that ended longer ago than that.
        """
        index = self._index(i)
        compute = self._compute()
        if since is not None:
            cutoff = time.time() - parse_duration(since)
            el = compute.element_status(self.manifest, index)
            if el.stopped is not None and el.stopped < cutoff:
                ago = _ago(el.stopped)
                print(
                    f"(element {index} ended {ago} ago, before since={since!r}; pass since=None for its whole log)",
                    file=sys.stderr,
                )
                return
        targets = {"stdout": sys.stdout, "stderr": sys.stderr}
        for stream, text in self.follow_logs(index, live=live):
            targets[stream].write(text)
            targets[stream].flush()

    def follow_logs(
        self, i: int | None = None, *, live: bool = True, stop: threading.Event | None = None, max_delay: float = 1.0
    ) -> Iterator[tuple[str, str]]:
        """Yield ``(stream, text)`` of element ``i``'s log as it is written.

        With ``live=True`` it follows until the element has ended and its log is read to the
        end (or ``stop`` is set); with ``live=False`` it yields what is there now. Text is
        decoded incrementally, so a character split across two reads comes out whole.
        """
        index = self._index(i)
        compute = self._compute()
        offsets = {"stdout": 0, "stderr": 0}
        decoders = {s: codecs.getincrementaldecoder("utf-8")(errors="replace") for s in offsets}
        stop = stop or threading.Event()
        delay = 0.1
        while not stop.is_set():
            finished = not live or compute.element_status(self.manifest, index).finished
            got = more = False
            for stream in offsets:
                chunk = compute.read_log(self.manifest, index, stream, offsets[stream])
                offsets[stream] = chunk.next_offset
                text = decoders[stream].decode(chunk.data, final=finished and not chunk.data)
                got = got or bool(chunk.data)
                more = more or len(chunk.data) >= LOG_READ_LIMIT  # reads are bounded: read on
                if text:
                    yield stream, text
            # the end: a finished element's log read to its end; without live, what is there now
            if finished and (not got or (not live and not more)):
                for stream, decoder in decoders.items():
                    rest = decoder.decode(b"", final=True)
                    if rest:
                        yield stream, rest
                return
            if got:
                delay = 0.1
            else:
                stop.wait(delay)
                delay = min(delay * 1.5, max_delay)

    def get_output(self, i: int | None = None) -> Output:
        """The outputs of element ``i`` (``.file(key)``, ``.value(key)``); it must have SUCCEEDED."""
        index = self._index(i)
        el = self._compute().element_status(self.manifest, index)
        if el.status != SUCCEEDED:
            detail = f": {el.reason}" if el.reason else ""
            raise NotFound(
                f"Element {index} of {self.name} is {el.status}{detail}; outputs exist only for "
                "SUCCEEDED elements. Check .status() and .logs()."
            )
        keys = el.outputs or {"files": [], "values": []}
        return Output(
            storage=session.storage(),
            layout=self.manifest.layout,
            index=index,
            files=keys["files"],
            values=keys["values"],
        )

    def _wait(self, done: Callable[[str], bool], timeout: float | None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while True:
            status = self.status()
            if done(status["status"]):
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name} is still {status['status']} after {timeout} s.")
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def wait_running_or_done(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the analysis is RUNNING or finished; returns its status."""
        return self._wait(lambda s: s == RUNNING or s in TERMINAL, timeout)

    def wait_done(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the analysis has finished (SUCCEEDED or FAILED); returns its status."""
        return self._wait(lambda s: s in TERMINAL, timeout)

    def terminate(self, i: int | None = None) -> None:
        """Stop element ``i`` (or the whole job when it is not an array); it becomes FAILED and
        its dependents fail."""
        if i is None:
            self._compute().terminate(self.manifest, None)
        else:
            self._compute().terminate(self.manifest, self._index(i))

    def terminate_all(self) -> None:
        """Stop every element of the analysis."""
        self._compute().terminate(self.manifest, None)


def _check_eos_uris(value: Any, user: str, where: str, depth: int = 0) -> None:
    """Refuse ``e://`` strings that name no EOS location, before anything is written."""
    if isinstance(value, str):
        if value.startswith(eos.SCHEME):
            try:
                eos.parse_uri(value, user=user)
            except InvalidPath as exc:
                raise InvalidAnalysis(f"{where}: {exc} Nothing was submitted.") from None
    elif depth < 3 and isinstance(value, (list, tuple, set)):
        for item in value:
            _check_eos_uris(item, user, where, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for item in value.values():
            _check_eos_uris(item, user, where, depth + 1)


def _ago(ts: float) -> str:
    seconds = max(0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
