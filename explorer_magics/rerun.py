"""Rerun what failed (in place), and retries that learn.

``Analysis.rerun`` submits again only some elements of an analysis that has run: its FAILED
ones by default (terminated elements, and elements that never started because the analysis
was terminated, are FAILED too), or exactly ``indices``. The analysis keeps its id; the
elements not rerun keep their status and outputs untouched. Before an element runs again its
current attempt (status, logs, outputs) is moved to ``tasks/<i>/attempts/<k>/`` (see
:mod:`explorer_magics.records`), so ``status(i)["attempts"]`` lists every attempt.

Retries (``JobDefinition(retries=N, retry_on=(...), memory_growth=..., timeout_growth=...)``)
are attempts too: :func:`failure_kind` sorts a FAILED reason into ``oom``, ``timeout``,
``node`` or ``error`` (never retried: a terminated element, a failed dependency), and
:func:`next_resources` gives the resources of the next attempt.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import records
from .compute.base import Dependency
from .definitions import JobDefinition
from .errors import BackendError, ExplorerError, InvalidAnalysis, NotFound
from .records import FAILED, SUCCEEDED, TERMINAL, ElementStatus, LogChunk, Manifest

if TYPE_CHECKING:
    from .analysis import Analysis
    from .session import Session

#: reasons that are never retried, whatever retry_on says
_NEVER = ("terminated", "dependency ", "a dependency", "not run:", "not submitted:", "pip could not install")
#: how the backends word these failures (the start of the reason: an exception in the work
#: function is "<ExceptionType>: <message>", so its text cannot pass for one of these)
_OOM = ("out of memory", "outofmemoryerror", "killed by sigkill (out of memory")
_NODE = (
    "the local cluster supervisor stopped",
    "the local cluster supervisor was stopped",
    "the process that starts this analysis's elements stopped",
    "host ec2",
)


def failure_kind(reason: str | None) -> str | None:
    """``oom``, ``timeout``, ``node`` or ``error`` for a FAILED element's reason; None for a
    failure no retry can fix (terminated by a person, a failed dependency, a bad package)."""
    text = (reason or "").strip().lower()
    if any(text.startswith(n) for n in _NEVER):
        return None
    if text.startswith(_OOM) or (text.startswith("crashed with") and "often out of memory" in text):
        return "oom"
    if text.startswith("timeout"):
        return "timeout"
    if text.startswith(_NODE):
        return "node"
    return "error"


def next_resources(job_definition: dict[str, Any], current: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The resources of the attempt after one that failed with ``kind`` (``current``: the
    failed attempt's), or None when the job definition does not retry it."""
    retry_on = tuple(job_definition.get("retry_on") or ())
    if kind not in retry_on:
        return None
    out = dict(current)
    if kind == "oom":
        grown = int(round(int(current.get("memory_mb") or 4000) * float(job_definition.get("memory_growth") or 1.0)))
        cap = job_definition.get("max_memory_mb")
        if cap:
            if int(current.get("memory_mb") or 0) >= int(cap):
                return None  # already at the ceiling: more of the same would fail the same way
            grown = min(grown, int(cap))
        out["memory_mb"] = grown
    elif kind == "timeout" and current.get("timeout_seconds"):
        out["timeout_seconds"] = float(current["timeout_seconds"]) * float(job_definition.get("timeout_growth") or 1.0)
    return out


def resources_of(job_definition: dict[str, Any]) -> dict[str, Any]:
    """The part of a job definition that is an attempt's resources."""
    return {k: job_definition.get(k) for k in ("cpu", "memory_mb", "timeout_seconds", "gpu", "image")}


# -- rerun -------------------------------------------------------------------------------------
def parse_indices(text: str, size: int | None = None) -> list[int]:
    """``"1,5-9"`` -> [1, 5, 6, 7, 8, 9] (the magics' and the CLI's spelling of indices)."""
    out: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise InvalidAnalysis(f"{part!r} is not an index or a range; write e.g. 1,5-9.") from None
    if size is not None:
        check_indices(out, size)
    return out


def check_indices(indices: Iterable[Any], count: int) -> list[int]:
    out: list[int] = []
    for i in indices:
        if not isinstance(i, int) or isinstance(i, bool):
            raise InvalidAnalysis(f"Element indices are whole numbers, not {i!r}. Nothing was rerun.")
        if not 0 <= i < count:
            raise NotFound(f"No element {i}: this analysis has elements 0..{count - 1}. Nothing was rerun.")
        out.append(i)
    return sorted(set(out))


def _all_failed(compute: Any, manifest: Manifest) -> list[int]:
    out: list[int] = []
    offset = 0
    while True:
        page = compute.list_elements(manifest, status=FAILED, offset=offset, limit=1000)
        out.extend(e.index for e in page)
        if len(page) < 1000:
            return sorted(set(out))
        offset += len(page)


@dataclasses.dataclass(frozen=True)
class RerunPlan:
    """What a rerun will do, worked out (and refused) before anything changes."""

    indices: tuple[int, ...]
    elements: dict[int, ElementStatus]
    function: bytes | None
    job_definition: dict[str, Any] | None
    dependencies: tuple[Analysis, ...]


def plan(
    an: Analysis,
    *,
    failed: bool = True,
    function: Any = None,
    job_definition: Any = None,
    indices: Iterable[int] | None = None,
    rerun_dependencies: bool = True,
) -> RerunPlan:
    """Check everything a rerun needs; raise (with nothing changed) when it cannot be done."""
    from .serialize import dumps_function

    manifest = an.manifest
    compute = an.session.compute(manifest.compute)
    if manifest.compute == "inline":
        raise InvalidAnalysis(
            f"{an.name} ran with run_local(); run it again with .run_local(index=...) (or .run() on a cluster)."
        )
    if job_definition is not None and not isinstance(job_definition, JobDefinition):
        raise InvalidAnalysis("job_definition must be a JobDefinition(...) object. Nothing was rerun.")
    if indices is not None:
        chosen = check_indices(indices, manifest.count)
    elif failed:
        chosen = _all_failed(compute, manifest)
    else:
        raise InvalidAnalysis("Say what to rerun: rerun(failed=True) or rerun(indices=[...]).")
    fn_bytes = None
    if function is not None:
        try:
            fn_bytes = dumps_function(function)
        except InvalidAnalysis as exc:
            raise InvalidAnalysis(f"{exc} Nothing was rerun.") from None
    elements = {}
    busy = []
    for i in chosen:
        el = compute.element_status(manifest, i)
        if el.status not in TERMINAL:
            busy.append(f"{i} ({el.status})")
        elements[i] = el
    if busy:
        shown = ", ".join(busy[:10]) + (" ..." if len(busy) > 10 else "")
        raise InvalidAnalysis(
            f"Elements {shown} of {an.name} have not finished; wait for them (an.wait_done()) or stop them "
            "(an.terminate(i)) first. Nothing was rerun."
        )
    deps: list[Analysis] = []
    if chosen:
        for dep in manifest.depends_on:
            dep_an = type(an)._from_manifest(
                records.read_manifest(an.session.storage, manifest.user, dep["id"]), an.session
            )
            status = dep_an.status()["status"]
            if status == SUCCEEDED:
                continue
            if status != FAILED:
                raise InvalidAnalysis(
                    f"{an.name} depends on {dep['name']} ({dep['id']}), which is {status}; wait for it to finish. "
                    "Nothing was rerun."
                )
            if not rerun_dependencies:
                raise InvalidAnalysis(
                    f"{an.name} depends on {dep['name']} ({dep['id']}), which FAILED: rerun it first "
                    f"(JobManager().get_analysis(job_id={dep['id']!r}).rerun()). Nothing was rerun."
                )
            deps.append(dep_an)
    return RerunPlan(
        indices=tuple(chosen),
        elements=elements,
        function=fn_bytes,
        job_definition=job_definition.to_dict() if job_definition is not None else None,
        dependencies=tuple(deps),
    )


def rerun_elements(
    an: Analysis,
    *,
    failed: bool = True,
    function: Any = None,
    job_definition: Any = None,
    indices: Iterable[int] | None = None,
    quiet: bool = False,
) -> tuple[int, ...]:
    """See :meth:`explorer_magics.analysis.Analysis.rerun`; returns the indices rerun."""
    say = (lambda _msg: None) if quiet else print
    # every failed dependency is planned (and so checked) before anything changes
    the_plan = plan(an, failed=failed, function=function, job_definition=job_definition, indices=indices)
    dep_plans = [(dep, plan(dep, failed=True)) for dep in the_plan.dependencies]
    for dep, dep_plan in dep_plans:
        say(f"Rerunning {len(dep_plan.indices)} failed element(s) of dependency {dep.name} ({dep.id}) first")
        apply(dep, dep_plan)
    if not the_plan.indices:
        say(f"Nothing to rerun in {an.name} ({an.id}): no FAILED element.")
        return ()
    apply(an, the_plan)
    say(f"Rerunning {len(the_plan.indices)} element(s) of {an.name} ({an.id})")
    return the_plan.indices


def apply(an: Analysis, the_plan: RerunPlan) -> None:
    """Carry out a checked plan: archive attempts, write what changed, submit the elements.
    Should the backend refuse the submission, everything is put back as it was (the
    elements' attempts, the record's files) and the error says so."""
    storage = an.session.storage
    manifest = an.manifest
    layout = manifest.layout
    compute = an.session.compute(manifest.compute)
    now = time.time()
    undo = _Undo(storage, layout)
    try:
        function_digest = None
        if the_plan.function is not None:
            history = _read_reruns(storage, manifest)
            undo.put(layout.prefix + f"function-{len(history)}.pkl", storage.get_bytes(layout.function))
            undo.put(layout.function, the_plan.function)
            from .resume import function_digest as digest_of
            from .serialize import loads

            function_digest = digest_of(loads(the_plan.function)[0])
        history = _read_reruns(storage, manifest)
        for i in the_plan.indices:
            undo.archived(i, *archive_current(compute, storage, manifest, i, the_plan.elements[i], history))
        undo.keep(records.cached_key(layout))
        records.forget_cached(storage, layout, list(the_plan.indices))
        if the_plan.job_definition is not None:
            manifest = dataclasses.replace(manifest, job_definition=the_plan.job_definition)
        entry: dict[str, Any] = {
            "at": now,
            "indices": list(the_plan.indices),
            "job_definition": manifest.job_definition,
            "function_changed": the_plan.function is not None,
        }
        if not history:  # what every element not rerun ran with
            entry["original_job_definition"] = an.manifest.job_definition
        undo.keep(records.reruns_key(layout))
        _append_rerun(storage, manifest, entry)
        if function_digest is not None:
            undo.keep(records.keys_key(layout))
            _update_keys(storage, manifest, the_plan.indices, function_digest)
            from .resume import by_function_prefix, marker_name

            marker = json.dumps({"name": manifest.name, "count": manifest.count}).encode()
            undo.put(by_function_prefix(manifest.user, function_digest) + marker_name(manifest), marker)
        if the_plan.job_definition is not None:  # the backend reads the resources from the record
            undo.put(layout.manifest, manifest.to_json())
        backend = compute.submit(manifest, _dependency_states(an.session, manifest), list(the_plan.indices))
    except BaseException as exc:
        undo.run()
        raise _refused(exc, f"rerun {len(the_plan.indices)} element(s) of {an.name} ({an.id})") from exc
    if backend:
        manifest = dataclasses.replace(manifest, backend=_keeping_earlier(manifest, backend))
        storage.put_bytes(layout.manifest, manifest.to_json())
    an._manifest = manifest


class _Undo:
    """What a rerun changed in the analysis's record before its submission, to put back
    should the backend refuse it: objects as they were (or absent), objects it created, and
    the attempts it archived (restored as the elements' current attempts)."""

    def __init__(self, storage: Any, layout: records.Layout) -> None:
        self.storage = storage
        self.layout = layout
        self.before: dict[str, bytes | None] = {}
        self.attempts: list[tuple[int, int, bool]] = []

    def keep(self, key: str) -> None:
        """Remember ``key`` as it is now (before it is first changed)."""
        if key not in self.before:
            try:
                self.before[key] = self.storage.get_bytes(key)
            except NotFound:
                self.before[key] = None

    def put(self, key: str, data: bytes) -> None:
        self.keep(key)
        self.storage.put_bytes(key, data)

    def archived(self, index: int, number: int, logs_in_storage: bool) -> None:
        self.attempts.append((index, number, logs_in_storage))

    def run(self) -> None:
        """Put everything back; best effort: a failure here is logged, not raised over the
        backend's error (which says what went wrong in the first place)."""
        import logging

        try:
            for key, data in self.before.items():
                if data is None:
                    self.storage.delete(key)
                else:
                    self.storage.put_bytes(key, data)
            # then the attempts (an element's resources.json comes back with its attempt)
            for index, number, logs in reversed(self.attempts):
                records.restore_attempt(self.storage, self.layout, index, number, logs=logs)
            records.forget_cached_memo(self.storage, self.layout)
        except Exception:  # noqa: BLE001
            logging.getLogger(__name__).exception("could not put back %s after a refused rerun", self.layout.id)


def _refused(exc: BaseException, what: str) -> BaseException:
    """The error of a submission the backend refused, saying that nothing changed."""
    if isinstance(exc, KeyboardInterrupt | SystemExit) or not isinstance(exc, Exception):
        return exc
    text = str(exc).rstrip(".") or type(exc).__name__
    message = (
        f"Could not {what}: {text}. None of them was submitted: they keep the status, attempts, logs and "
        "outputs they had; fix the cause and try again."
    )
    if isinstance(exc, ExplorerError):
        try:
            return type(exc)(message)
        except TypeError:
            return BackendError(message)
    return BackendError(message)


def _dependency_states(ctx: Session, manifest: Manifest) -> list[Dependency]:
    """Each dependency's manifest and state, from its own backend (it may be running again)."""
    deps = []
    for d in manifest.depends_on:
        dep_manifest = records.read_manifest(ctx.storage, manifest.user, d["id"])
        deps.append(Dependency(dep_manifest, ctx.compute(dep_manifest.compute).summary(dep_manifest)))
    return deps


def _keeping_earlier(manifest: Manifest, backend: dict[str, Any]) -> dict[str, Any]:
    """The backend details of a resubmission, keeping where the earlier run's elements ran
    (Batch: the elements not submitted again find their logs under the earlier job)."""
    if not manifest.backend.get("job_id"):
        return backend
    earlier = {k: manifest.backend[k] for k in ("job_id", "array", "indices") if k in manifest.backend}
    return {**backend, "earlier": [*manifest.backend.get("earlier", []), earlier]}


def archive_current(
    compute: Any, storage: Any, manifest: Manifest, index: int, el: ElementStatus, history: list[dict[str, Any]]
) -> tuple[int, bool]:
    """Move element ``index``'s current attempt aside (its logs fetched from the backend when
    they do not live in storage); (the attempt's number, whether its logs were in storage)."""
    layout = manifest.layout
    resources = resources_for(storage, manifest, index, history)
    logs = None
    if not storage.exists(layout.log(index, "stdout")) and not storage.exists(layout.log(index, "stderr")):
        logs = {}
        for stream in ("stdout", "stderr"):
            chunks = []
            offset = 0
            while True:
                chunk = compute.read_log(manifest, index, stream, offset)
                if not chunk.data:
                    break
                chunks.append(chunk.data)
                offset = chunk.next_offset
            if chunks:
                logs[stream] = b"".join(chunks)
    return records.archive_attempt(storage, layout, index, el, resources, logs=logs), logs is None


def resources_for(
    storage: Any, manifest: Manifest, index: int, history: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The resources element ``index``'s current attempt has: a retry's own (resources.json),
    else the job definition of the last rerun that included it, else the analysis's first."""
    if history is None:
        history = _read_reruns(storage, manifest)
    default = manifest.job_definition
    if history:
        default = history[0].get("original_job_definition") or default
        for entry in reversed(history):
            if index in entry.get("indices", ()):
                default = entry.get("job_definition") or default
                break
    return records.current_resources(storage, manifest.layout, index, resources_of(default))


def _read_reruns(storage: Any, manifest: Manifest) -> list[dict[str, Any]]:
    try:
        return list(json.loads(storage.get_bytes(records.reruns_key(manifest.layout))))
    except NotFound:
        return []


def _append_rerun(storage: Any, manifest: Manifest, entry: dict[str, Any]) -> None:
    history = _read_reruns(storage, manifest)
    history.append(entry)
    storage.put_bytes(records.reruns_key(manifest.layout), json.dumps(history).encode())


def _update_keys(storage: Any, manifest: Manifest, indices: Iterable[int], function_digest: str) -> None:
    """Rerun elements are now computed by another function: their keys say so."""
    from .resume import read_keys

    keys = read_keys(storage, manifest.layout)
    if keys is None:
        return
    overrides = dict(keys.function_of)
    for i in indices:
        overrides[str(i)] = function_digest
    storage.put_bytes(records.keys_key(manifest.layout), dataclasses.replace(keys, function_of=overrides).to_json())


# -- attempts as the faces show them -----------------------------------------------------------
class ElementStatusDict(dict):  # type: ignore[type-arg]
    """``Analysis.status(i)``: the reference's ``{'status': ..., 'reason': ...}``, plus
    ``["attempts"]``, read from storage only when asked for (one listing), so a status poll
    costs what it did and compares equal to the plain dict."""

    def __init__(self, data: dict[str, Any], *, analysis: Analysis, element: ElementStatus) -> None:
        super().__init__(data)
        self._analysis = analysis
        self._element = element

    def __missing__(self, key: str) -> Any:
        if key == "attempts":
            value = attempts(self._analysis, self._element.index, self._element)
            self[key] = value
            return value
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key == "attempts":
            return self[key]
        return super().get(key, default)


def attempts(an: Analysis, index: int, current: ElementStatus) -> list[dict[str, Any]]:
    """Every attempt of element ``index``, 0 first, the current one last: those kept in
    storage (reruns, the SDK's and the local cluster's retries), then those the backend made
    itself in the element's current job (AWS Batch's retryStrategy), then the current one."""
    storage = an.session.storage
    layout = an.manifest.layout
    done = [a.to_dict() for a in records.archived_attempts(storage, layout, index)]
    resources = resources_for(storage, an.manifest, index)
    for extra in _backend_attempts(an, index):
        done.append({"attempt": len(done), **{k: v for k, v in extra.items() if v is not None}, "resources": resources})
    latest: dict[str, Any] = {"attempt": len(done), "status": current.status}
    for name in ("reason", "started", "stopped", "exit_code", "cached"):
        value = getattr(current, name)
        if value is not None:
            latest[name] = value
    latest["resources"] = resources
    return [*done, latest]


def _backend_attempts(an: Analysis, index: int) -> list[dict[str, Any]]:
    earlier = getattr(an._compute(), "earlier_attempts", None)
    return list(earlier(an.manifest, index)) if earlier is not None else []


def read_attempt_log(an: Analysis, index: int, attempt: int, stream: str, offset: int) -> LogChunk | None:
    """``stream`` of an earlier attempt of element ``index`` from ``offset`` on (at most
    ``LOG_READ_LIMIT`` bytes), or None when ``attempt`` is the current one (read it from the
    backend). An attempt that does not exist is :class:`NotFound`."""
    from .compute.base import LOG_READ_LIMIT

    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 0:
        raise InvalidAnalysis(f"attempt is a whole number >= 0 (0 = the first attempt), not {attempt!r}.")
    storage = an.session.storage
    layout = an.manifest.layout
    done = records.archived_attempts(storage, layout, index)
    numbers = [a.attempt for a in done]
    if attempt not in numbers:
        kept = numbers[-1] + 1 if numbers else 0
        extra = _backend_attempts(an, index) if attempt >= kept else []
        current = kept + len(extra)
        if attempt == current:
            return None
        if kept <= attempt < current:  # one the backend made itself: its own log stream
            name = extra[attempt - kept].get("log_stream")
            if not name or stream != "stdout":
                return LogChunk(b"", offset)
            return an._compute().read_stream(name, offset, index)  # type: ignore[attr-defined]
        raise NotFound(f"Element {index} of {an.name} has attempts 0..{current}; there is no attempt {attempt}.")
    key = records.attempt_log(layout, index, attempt, stream)
    try:
        size = storage.stat(key).size
    except NotFound:
        return LogChunk(b"", offset)
    if offset >= size:
        return LogChunk(b"", offset)
    data = storage.get_bytes(key, offset, min(size, offset + LOG_READ_LIMIT))
    return LogChunk(data, offset + len(data))


def element_info(an: Analysis, index: int) -> dict[str, Any]:
    """Element ``index`` as the server's ``GET analyses/{id}/elements/{index}`` shows it."""
    i = an._index(index)
    el = an._compute().element_status(an.manifest, i)
    info: dict[str, Any] = {
        "index": i,
        "status": el.status,
        "reason": el.reason,
        "started": el.started,
        "stopped": el.stopped,
        "exit_code": el.exit_code,
        "cached": el.cached,
        "outputs": el.outputs,
    }
    info["attempts"] = attempts(an, i, el)
    return info


def print_attempt_log(an: Analysis, index: int, attempt: int) -> bool:
    """Print an earlier attempt's stdout (stderr to stderr); False when ``attempt`` is the
    current one (the caller prints it as usual)."""
    import codecs
    import sys

    targets = {"stdout": sys.stdout, "stderr": sys.stderr}
    for stream, target in targets.items():
        offset = 0
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            chunk = read_attempt_log(an, index, attempt, stream, offset)
            if chunk is None:
                return False
            target.write(decoder.decode(chunk.data, final=not chunk.data))
            if not chunk.data:
                break
            offset = chunk.next_offset
        target.flush()
    return True


# -- retries the SDK makes -----------------------------------------------------------------------
def retry_due(an: Analysis) -> tuple[int, ...]:
    """Retries that need what a backend cannot do itself (AWS Batch cannot grow an attempt's
    memory, and does not retry a timeout): once the analysis has finished, each FAILED element
    whose failure is in ``retry_on`` and that has had fewer than 1 + ``retries`` attempts is
    submitted again, its attempt kept, with the grown resources. Elements that need the same
    resources go in one submission. Returns the elements resubmitted. Backends that retry
    themselves (``retries_itself``: the local cluster) are left alone."""
    manifest = an.manifest
    jd = manifest.job_definition
    compute = an.session.compute(manifest.compute)
    if not jd.get("retries") or getattr(compute, "retries_itself", False) or manifest.compute == "inline":
        return ()
    summary = compute.summary(manifest)
    if not summary.finished or not summary.counts.get(FAILED):
        return ()
    storage = an.session.storage
    history = _read_reruns(storage, manifest)
    groups: dict[str, tuple[dict[str, Any], list[tuple[int, ElementStatus]]]] = {}
    for i in _all_failed(compute, manifest):
        el = compute.element_status(manifest, i)
        kind = failure_kind(el.reason)
        if el.status != FAILED or kind is None:
            continue
        if len(records.archived_attempts(storage, manifest.layout, i)) >= int(jd["retries"]):
            continue
        nxt = next_resources(jd, resources_for(storage, manifest, i, history), kind)
        if nxt is None:
            continue
        groups.setdefault(json.dumps(nxt, sort_keys=True), (nxt, []))[1].append((i, el))
    done: list[int] = []
    for nxt, members in groups.values():
        indices = [i for i, _ in members]
        undo = _Undo(storage, manifest.layout)
        try:
            for i, el in members:
                undo.archived(i, *archive_current(compute, storage, manifest, i, el, history))
                undo.put(records.resources_key(manifest.layout, i), json.dumps(nxt).encode())
            undo.keep(records.reruns_key(manifest.layout))
            entry = {"at": time.time(), "indices": indices, "job_definition": {**jd, **nxt}}
            _append_rerun(storage, manifest, entry)
            grown = dataclasses.replace(manifest, job_definition={**jd, **nxt})  # this submission only
            backend = compute.submit(grown, _dependency_states(an.session, manifest), indices)
        except BaseException as exc:
            undo.run()
            raise _refused(exc, f"retry {len(indices)} element(s) of {manifest.name} ({manifest.id})") from exc
        if backend:
            manifest = dataclasses.replace(manifest, backend=_keeping_earlier(manifest, backend))
            storage.put_bytes(manifest.layout.manifest, manifest.to_json())
        done.extend(indices)
    an._manifest = manifest
    if done:
        print(f"Retrying {len(done)} element(s) of {manifest.name} with more resources (JobDefinition(retries=...))")
    return tuple(done)
