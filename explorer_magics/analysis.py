"""Analysis, AnalysisContext, JobDefinition, InputShared, GlobalConfig.

An :class:`Analysis` wraps a *work function* ``f(ac: AnalysisContext)`` and its input. A list
input is an array job (one element per item, at most 10,000); anything else is one job.
``.run()`` sends it to the configured compute backend (``local`` by default), ``.run_local()``
runs it right here in this process.

``session=`` names whose settings, storage and compute backends it uses (a
:class:`~explorer_magics.session.Session`; default: the process's, ``session.current()``);
the analysis keeps that session, and so do the Analyses and Files it gives back.

This module is the handle a user holds; the value objects live in :mod:`.definitions`, what a
work function sees in :mod:`.context`, and writing records in :mod:`.submission`.
"""

from __future__ import annotations

import codecs
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from . import submission
from .compute.base import LOG_READ_LIMIT, Compute
from .context import AnalysisContext
from .definitions import GlobalConfig, InputShared, JobDefinition, parse_duration
from .errors import AlreadyFinished, AnalysisFailed, InvalidAnalysis, NotFound
from .models import Output
from .records import FAILED, RUNNING, SUCCEEDED, TERMINAL, ElementStatus, Manifest
from .session import Session, or_default

if TYPE_CHECKING:
    from .compute.inline import InlineCompute

__all__ = [
    "Analysis",
    "AnalysisContext",
    "GlobalConfig",
    "InputShared",
    "JobDefinition",
    "parse_duration",
]


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
        resume: bool = False,
        session: Session | None = None,
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
        #: reuse earlier SUCCEEDED results of identical elements (see :mod:`explorer_magics.resume`)
        self.resume = bool(resume)
        #: the settings, storage and compute backends it is submitted to and read from (default:
        #: the process's, :func:`explorer_magics.session.current`)
        self.session: Session = or_default(session)

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
    def _from_manifest(cls, manifest: Manifest, session: Session | None = None) -> Analysis:
        an = cls(name=manifest.name, job_definition=JobDefinition.from_dict(manifest.job_definition), session=session)
        an.pip_packages = list(manifest.pip_packages)
        an._manifest = manifest
        return an

    def __repr__(self) -> str:
        return f"Analysis(name={self.name!r}, id={self.id!r}, size={self.size!r})"

    # -- submission ---------------------------------------------------------------------
    def _prepare(self, compute_name: str) -> dict[str, Any]:
        """Everything to write, built and checked before anything is written."""
        return submission.prepare(self, compute_name)

    def _write_record(self, prepared: dict[str, Any]) -> Manifest:
        return submission.write_record(self, prepared)

    def run(self) -> Analysis:
        """Submit this analysis (and every dependency not yet submitted, each once).

        Prints ``Analysis ID: <id>`` and returns self. Everything is checked first: on a
        refusal (unpicklable input, too many elements, a cycle) nothing is submitted.
        """
        submission.submit(self)
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
        from .resume import keys_of

        keys_of(self, manifest)  # recorded like any analysis's, for a later resume=True
        indices = range(manifest.count) if index is None else [index]
        inputs = self.input if isinstance(self.input, list) else [self.input]
        print(f"Analysis ID: {manifest.id} (running here)")
        inline = cast("InlineCompute", self.session.compute("inline"))
        inline.run_here(
            manifest, self.function, inputs, self.input_shared, self.global_config, indices, session=self.session
        )
        return self

    # -- watching -----------------------------------------------------------------------
    def _compute(self) -> Compute:
        return self.session.compute(self.manifest.compute)

    def _index(self, i: int | None) -> int:
        count = self.manifest.count
        if i is None:
            return 0  # a single job's only element, or an array's first
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < count:
            raise NotFound(f"No element {i!r}: {self.name} has elements 0..{count - 1}.")
        return int(i)

    def status(self, i: int | None = None) -> dict[str, Any]:
        """``{'status': 'SUCCEEDED'}``; an array adds ``size`` and ``summary`` (count per
        status); ``reason`` is there when FAILED. ``status(i)`` is element ``i``'s record: its
        status and reason plus, where known, ``input_label``, ``started``, ``ended``,
        ``duration_s``, ``exit_code``, ``signal``, ``peak_rss_mb``, ``cpu_s``, ``host``,
        ``outputs`` and ``cancelled`` (see the README's "Element records"); ``cached`` (the
        earlier element it reused) when resumed, and ``status(i)["attempts"]`` (read when asked
        for) lists its attempts, 0 first, each with status, reason, start, end and resources."""
        if i is not None:
            from .observe import views
            from .rerun import ElementStatusDict

            el = views.element(self, self._index(i))
            out: dict[str, Any] = views.record_dict(el, drop_empty=True)
            return ElementStatusDict(out, analysis=self, element=el)
        summary = self._compute().summary(self.manifest)
        if summary.finished and summary.counts.get(FAILED) and self.manifest.job_definition.get("retries"):
            from .rerun import retry_due  # retries that need more memory or time than a backend can give

            while summary.finished and summary.counts.get(FAILED) and retry_due(self):
                summary = self._compute().summary(self.manifest)  # (each round is one more attempt)
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

    def logs(
        self, i: int | None = None, live: bool = False, since: str | float | None = None, attempt: int | None = None
    ) -> None:
        """Print element ``i``'s stdout (and stderr, to stderr).

        ``live=True`` follows the log until the element ends. ``since="10m"`` leaves out
        logs of an element that ended longer ago than that. ``attempt=k`` prints attempt
        ``k``'s log (see ``status(i)["attempts"]``; the latest by default).
        """
        index = self._index(i)
        if attempt is not None:
            from .rerun import print_attempt_log

            if print_attempt_log(self, index, attempt):
                return
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
        layout, source_index = self.manifest.layout, index
        if el.cached:  # resumed: the outputs are the earlier element's
            from .resume import resolve_outputs

            layout, source_index, keys = resolve_outputs(self.session.storage, self.manifest.user, el.cached)
        return Output(
            session=self.session,
            layout=layout,
            index=source_index,
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

    def result(self, timeout: float | None = None) -> Any:
        """Wait until the analysis has finished (``timeout`` seconds at most) and return its result.

        An analysis made by a shortcut (``explorer_magics.shortcuts``) returns the shortcut's
        answer (``depth_at``: ``{label: depth}``, ``merge_vcfs``: the output ``File``, ...). Any
        other analysis returns its outputs: a dict of values and files (``File``) for a single
        job, a list of such dicts, one per element, for an array. A FAILED analysis raises
        :class:`~explorer_magics.errors.AnalysisFailed` with the reasons of its failed elements
        (or those of the dependency that failed it).
        """
        status = self.wait_done(timeout)
        if status["status"] != SUCCEEDED:
            raise AnalysisFailed(_failure_text(self))
        return self._result()

    def _result(self) -> Any:
        """The result of a SUCCEEDED analysis; subclasses give their own shape."""

        def outputs(i: int) -> dict[str, Any]:
            out = self.get_output(i)
            keys = out.keys()
            return {**{k: out.value(k) for k in keys["values"]}, **{k: out.file(k) for k in keys["files"]}}

        if self.manifest.size is None:
            return outputs(0)
        return [outputs(i) for i in range(self.manifest.size)]

    def terminate(self, i: int | None = None) -> None:
        """Stop element ``i`` (or the whole job when it is not an array); it becomes FAILED and
        its dependents fail. An element that has already finished raises
        :class:`~explorer_magics.errors.AlreadyFinished` ("element 8 had already SUCCEEDED")."""
        if i is None:
            self._compute().terminate(self.manifest, None)
            return
        index = self._index(i)
        compute = self._compute()
        el = compute.element_status(self.manifest, index)
        if el.finished:
            raise AlreadyFinished.element(index, el.status)
        compute.terminate(self.manifest, index)  # (a backend that sees it finish meanwhile raises too)

    def terminate_all(self) -> None:
        """Stop every element of the analysis."""
        self._compute().terminate(self.manifest, None)

    # -- rerun and resume (see explorer_magics.rerun and explorer_magics.resume) ------------------
    def rerun(
        self,
        failed: bool = True,
        function: Callable[..., Any] | None = None,
        job_definition: JobDefinition | None = None,
        indices: list[int] | None = None,
    ) -> Analysis:
        """Submit again, in place, the FAILED elements (or exactly ``indices``), optionally with
        a new work function or job definition; returns self.

        The analysis keeps its id and the other elements their status and outputs. Each rerun
        element's current attempt is kept (``status(i)["attempts"]``, ``logs(i, attempt=k)``).
        A dependency that FAILED has its failed elements rerun first. Refused, with nothing
        changed, for an index out of range, an element still running or a function that
        cannot be pickled.
        """
        from .rerun import rerun_elements

        rerun_elements(self, failed=failed, function=function, job_definition=job_definition, indices=indices)
        if self.id is not None:
            from . import shell

            if shell.in_notebook():
                from . import widgets

                widgets.show(self)
        return self

    def explain(self, i: int | None = None) -> Any:
        """Why element ``i`` ran (``"no earlier result"``, or which part of its resume key changed
        since which earlier analysis), or which earlier element it reused."""
        from .resume import explain

        index = self._index(i)
        el = self._compute().element_status(self.manifest, index)
        return explain(self.session.storage, self.manifest, index, el)


def _failure_text(an: Analysis, depth: int = 0) -> str:
    """What failed in ``an``: up to 3 failed elements with reasons, and, when a dependency
    failed it, what failed in that dependency."""
    failed = an.elements(status=FAILED, limit=3)
    lines = [f"{an.name} ({an.id}) FAILED:"]
    for el in failed:
        lines.append(f"  element {el.index}: {el.reason or 'no reason recorded'}")
    more = (an.status().get("summary") or {}).get(FAILED, 0) - len(failed)
    if more > 0:
        lines.append(f"  ... and {more} more (an.elements(status='FAILED'))")
    if depth < 5:
        for dep in an.depends_on:
            if dep.id is not None and dep.status()["status"] == FAILED:
                lines.append(_failure_text(dep, depth + 1))
                break
    return "\n".join(lines)


def _ago(ts: float) -> str:
    seconds = max(0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
