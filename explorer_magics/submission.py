"""Submitting analyses: check everything, write each record, hand it to its compute backend.

The dependency graph is walked here (dependencies first, each once, cycles refused), every
analysis is checked and serialized before the first byte is written, and every backend may
refuse (``preflight``) before anything is submitted.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from . import eos, records, resume
from .compute.base import Dependency
from .errors import BackendError, InvalidAnalysis, InvalidPath, is_no_space
from .records import Manifest, StatusSummary
from .serialize import dumps_function, dumps_value
from .storage.base import Storage

if TYPE_CHECKING:
    from .analysis import Analysis


def graph(root: Analysis) -> list[Analysis]:
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
        if node is root or node.id is None:
            for dep in node.depends_on:
                visit(dep, path + [node])
        state[id(node)] = "done"
        order.append(node)

    visit(root, [])
    return order


def prepare(an: Analysis, compute_name: str) -> dict[str, Any]:
    """Everything to write for ``an``, built and checked before anything is written."""
    if an.function is None:
        raise InvalidAnalysis(f"Analysis {an.name!r} has no function; pass function=<your work function>.")
    names = [d.name for d in an.depends_on]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidAnalysis(
            f"Analysis {an.name!r} has several dependencies named {dupes[0]!r}; give them distinct name=... "
            "so ac.dependency(name) can tell them apart."
        )
    user = an.session.user
    check_eos_uris(an.input, user, "input")
    for bag, what in ((an.input_shared, "input_shared"), (an.global_config, "global_config")):
        if bag is not None:
            check_eos_uris(bag.to_dict(), user, what)
    if isinstance(an.input, list):
        records.check_size(len(an.input))
        items = [dumps_value(v, what=f"Input element {i} ({type(v).__name__})") for i, v in enumerate(an.input)]
    else:
        items = [dumps_value(an.input, what=f"The input ({type(an.input).__name__})")]
    blob, index = records.pack_inputs(items)
    from .observe.labels import make_labels, pack_labels

    labels = make_labels(an.input if isinstance(an.input, list) else [an.input], getattr(an, "label", None))
    return {
        "labels": pack_labels(labels),  # observe: every element's input_label
        "function": dumps_function(an.function),
        "shared": dumps_value((an.input_shared, an.global_config), what="input_shared/global_config"),
        "blob": blob,
        "index": index,
        "size": len(an.input) if isinstance(an.input, list) else None,
        "compute": compute_name,
    }


def write_record(an: Analysis, prepared: dict[str, Any]) -> Manifest:
    """Write ``an``'s record (inputs, function, a first summary, the manifest last)."""
    settings = an.session.settings
    storage = an.session.storage
    manifest = Manifest(
        id=records.new_analysis_id(an.name),
        name=an.name,
        user=settings.user,
        created=time.time(),
        size=prepared["size"],
        compute=prepared["compute"],
        storage=storage.url,
        depends_on=tuple({"id": d.manifest.id, "name": d.name} for d in an.depends_on),
        job_definition=an.job_definition.to_dict(),
        pip_packages=tuple(an.pip_packages),
    )
    layout = manifest.layout
    manifest_json = manifest.to_json()  # (refuses NaN/Infinity before anything is written)
    try:
        storage.put_bytes(layout.function, prepared["function"])
        storage.put_bytes(layout.shared, prepared["shared"])
        storage.put_bytes(layout.inputs_blob, prepared["blob"])
        storage.put_bytes(layout.inputs_index, prepared["index"])
        storage.put_bytes(layout.labels, prepared["labels"])  # observe
        status = records.PENDING if an.depends_on else records.RUNNABLE
        storage.put_bytes(
            layout.summary,
            StatusSummary(
                status=status, counts={status: manifest.count}, size=manifest.size, updated=time.time()
            ).to_json(),
        )
        storage.put_bytes(layout.manifest, manifest_json)
    except BaseException as exc:
        remove_record(storage, manifest)
        clear = _no_space_error(an, exc)
        if clear is None:
            raise
        raise clear from exc
    return manifest


def remove_record(storage: Storage, manifest: Manifest) -> None:
    """Remove what was written of an analysis that could not be submitted (best effort), so
    no analysis is listed that cannot be opened or never runs."""
    layout = manifest.layout
    try:  # everything below the analysis's folder: the record, its inputs, its resume keys
        storage.delete_many([obj.key for obj in storage.iter_objects(layout.prefix)])
    except Exception:  # noqa: BLE001, S110 - best effort; the keys below may still go
        pass
    for key in (layout.manifest, layout.summary, layout.function, layout.prefix):
        try:  # the record first (what makes it listed), and the (now empty) folder
            storage.delete(key)
        except Exception:  # noqa: BLE001, S112 - best effort; the next key may still go
            continue


def _no_space_error(an: Analysis, exc: BaseException) -> BackendError | None:
    """A clear error for a submission that failed part-way for want of disk space (its record
    is removed), or None for any other failure (raised as it is)."""
    text = str(exc)
    if not is_no_space(exc) and "no space left on device" not in text.lower():
        return None
    detail = getattr(exc, "filename", None) or text
    return BackendError(
        f"Could not submit {an.name!r}: no space left on device ({detail}). Nothing was submitted; "
        "free some space (where EXPLORER_HOME and the storage live) and run it again."
    )


def submit(root: Analysis) -> None:
    """Submit ``root`` and every dependency not yet submitted, each once, dependencies first.

    Everything is checked first: on a refusal (unpicklable input, too many elements, a cycle,
    a backend that is not set up, a running dependency another backend cannot wait for)
    nothing is submitted. Prints ``Analysis ID: <id>`` for each.

    The core owns the dependency graph (see :mod:`explorer_magics.compute.base`): each
    dependency's state comes from its own backend; a FAILED one fails the dependent here,
    without submitting it; a backend is only asked to wait for its own running analyses.
    """
    order = graph(root)
    pending = [a for a in order if a is root or a.id is None]
    for node in pending:  # a dependency is read from the dependent's storage, as its user
        where = (node.session.user, node.session.settings.storage_url)
        for dep in node.depends_on:
            if (dep.session.user, dep.session.settings.storage_url) != where:
                raise InvalidAnalysis(
                    f"{node.name} depends on {dep.name}, which belongs to user {dep.session.user!r} on storage "
                    f"{dep.session.settings.storage_url}, not {where[0]!r} on {where[1]}; make both in one session "
                    "(session=...). Nothing was submitted."
                )
    prepared = {id(a): prepare(a, a._compute_name or a.session.settings.compute) for a in pending}
    for node in pending:  # every backend may refuse before a byte is written
        node.session.compute(prepared[id(node)]["compute"]).preflight(node.job_definition.to_dict())
    known: dict[str, StatusSummary] = {}  # analysis id -> state, asked once per submission

    def state(dep: Analysis) -> StatusSummary:
        if dep.manifest.id not in known:
            known[dep.manifest.id] = dep.session.compute(dep.manifest.compute).summary(dep.manifest)
        return known[dep.manifest.id]

    for node in pending:  # a running dependency must run where its dependent does
        backend = prepared[id(node)]["compute"]
        for dep in node.depends_on:
            if id(dep) in prepared:
                dep_backend, status = prepared[id(dep)]["compute"], "about to be submitted"
                if dep_backend == backend:
                    continue
            else:
                dep_backend, summary = dep.manifest.compute, state(dep)
                if summary.finished or dep_backend == backend:
                    continue
                status = summary.status
            raise InvalidAnalysis(
                f"{node.name} depends on {dep.name}, which runs on compute={dep_backend!r} and is {status}; "
                f"compute={backend!r} can only wait for its own analyses. Run both on the same backend, or wait "
                f"for {dep.name} to finish first (.wait_done()). Nothing was submitted."
            )
    for node in pending:
        compute = node.session.compute(prepared[id(node)]["compute"])
        manifest = write_record(node, prepared[id(node)])
        deps = [Dependency(d.manifest, state(d)) for d in node.depends_on]
        failed = next((d for d in deps if d.summary.status == records.FAILED), None)
        if failed is not None:
            resume.keys_of(node, manifest)  # recorded like any analysis's
            fail_unsubmitted(node.session.storage, manifest, failed.failed_reason())
            known[manifest.id] = StatusSummary(
                status=records.FAILED, counts={records.FAILED: manifest.count}, size=manifest.size
            )
        else:
            indices = resume.prepare_submission(node, manifest)  # keys recorded; reused elements written
            if indices == []:  # every element reused an earlier result: nothing to run
                known[manifest.id] = StatusSummary(
                    status=records.SUCCEEDED, counts={records.SUCCEEDED: manifest.count}, size=manifest.size
                )
                node._manifest = manifest
                print(f"Analysis ID: {manifest.id} (every element reused an earlier result)")
                continue
            known[manifest.id] = StatusSummary(
                status=records.PENDING if deps else records.RUNNABLE, counts={}, size=manifest.size
            )
            try:
                backend = compute.submit(manifest, deps, indices)
            except BaseException as exc:  # not started: its record goes, or it would wait forever
                remove_record(node.session.storage, manifest)
                clear = _no_space_error(node, exc)
                if clear is None:
                    raise
                raise clear from exc
            if backend:
                manifest = dataclasses.replace(manifest, backend=backend)
                node.session.storage.put_bytes(manifest.layout.manifest, manifest.to_json())
        node._manifest = manifest
        print(f"Analysis ID: {manifest.id}")


def fail_unsubmitted(storage: Storage, manifest: Manifest, reason: str) -> None:
    """Record every element of a never-submitted analysis as FAILED with ``reason`` (two
    writes whatever its size: the element letters and the summary)."""
    layout = manifest.layout
    storage.put_bytes(layout.elements, records.STATUS_LETTERS[records.FAILED][:1] * manifest.count)
    storage.put_bytes(
        layout.summary,
        StatusSummary(
            status=records.FAILED,
            counts={records.FAILED: manifest.count},
            size=manifest.size,
            reason=reason,
            updated=time.time(),
        ).to_json(),
    )


def check_eos_uris(value: Any, user: str, where: str, depth: int = 0) -> None:
    """Refuse ``e://`` strings that name no EOS location, before anything is written."""
    if isinstance(value, str):
        if value.startswith(eos.SCHEME):
            try:
                eos.parse_uri(value, user=user)
            except InvalidPath as exc:
                raise InvalidAnalysis(f"{where}: {exc} Nothing was submitted.") from None
    elif depth < 3 and isinstance(value, (list, tuple, set)):
        for item in value:
            check_eos_uris(item, user, where, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for item in value.values():
            check_eos_uris(item, user, where, depth + 1)
