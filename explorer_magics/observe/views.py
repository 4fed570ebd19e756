"""What ``Analysis.failures()``, ``usage()``, ``estimate()``, ``status(i)`` and the server's
routes compute, over one analysis (kept here so analysis.py stays a thin face).

A finished analysis's digest and usage are computed once and kept in its record
(``failures.json``); the cache is keyed by the summary (status, counts, update time) and the
price table, so an analysis that changes again (a rerun) or a new price is computed afresh.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from .. import records
from ..errors import ExplorerError, NotFound
from ..records import FAILED, ElementStatus
from ..rerun import resources_of as rerun_resources
from . import usage as usage_mod
from .digest import failure_digest
from .labels import unpack_labels

if TYPE_CHECKING:
    from ..analysis import Analysis

CACHE_VERSION = 2  # 2: usage counts earlier attempts
HISTOGRAM_BINS = 30


def labels(an: Analysis) -> list[str] | None:
    """Every element's ``input_label`` from the record (read once per Analysis object)."""
    cached = getattr(an, "_observe_labels", None)
    if cached is not None:
        return cached or None
    try:
        found = unpack_labels(an.session.storage.get_bytes(an.manifest.layout.labels))
    except NotFound:
        found = []
    an._observe_labels = found  # type: ignore[attr-defined]
    return found or None


def labelled(an: Analysis, elements: list[ElementStatus]) -> list[ElementStatus]:
    """``elements`` with ``input_label`` filled from the record where the element has none
    (not started yet, or killed before it could write its own)."""
    if all(el.input_label is not None for el in elements):
        return elements
    names = labels(an)
    if not names:
        return elements
    return [
        dataclasses.replace(el, input_label=names[el.index])
        if el.input_label is None and 0 <= el.index < len(names)
        else el
        for el in elements
    ]


def element(an: Analysis, index: int) -> ElementStatus:
    return labelled(an, [an._compute().element_status(an.manifest, index)])[0]


def record_dict(el: ElementStatus, *, drop_empty: bool = False) -> dict[str, Any]:
    """The element record as a face shows it (see :meth:`ElementStatus.to_dict`)."""
    out = el.to_dict()
    if drop_empty:
        out.pop("index")
        out = {k: v for k, v in out.items() if v is not None and v is not False}
    return out


def all_elements(an: Analysis, status: str | None = None) -> list[ElementStatus]:
    """Every element's record (only those with ``status``), index order."""
    manifest = an.manifest
    found = an._compute().list_elements(manifest, status=status, offset=0, limit=manifest.count)
    return sorted(labelled(an, found), key=lambda el: el.index)


def _cache_key(summary: records.StatusSummary, price: dict[str, Any]) -> dict[str, Any]:
    return {
        "v": CACHE_VERSION,
        "status": summary.status,
        "counts": dict(sorted(summary.counts.items())),
        "updated": summary.updated,
        "prices": [price["vcpu_hour"], price["gb_hour"]],
    }


def _observed(an: Analysis) -> dict[str, Any]:
    """``{"failures", "cancelled", "usage"}`` of the analysis: from the record's cache when it
    is finished and the cache is current, else computed (and cached once finished)."""
    manifest = an.manifest
    storage = an.session.storage
    summary = an._compute().summary(manifest)
    price = usage_mod.prices(manifest.compute, an.session.settings)
    key = _cache_key(summary, price)
    if summary.finished:
        try:
            cached = json.loads(storage.get_bytes(manifest.layout.failures))
            if cached.get("key") == key:
                return cached
        except (NotFound, ValueError, KeyError, AttributeError):
            pass
    elements = all_elements(an)
    result = {
        "key": key,
        "finished": summary.finished,
        "failures": failure_digest(elements),
        "cancelled": [el.index for el in elements if el.cancelled],
        "usage": usage(an, elements, finished=summary.finished),
    }
    if summary.finished:
        try:  # best effort: another user's analysis is read-only to us
            storage.put_bytes(manifest.layout.failures, json.dumps(result).encode())
        except ExplorerError:
            pass
    return result


def failures(an: Analysis) -> list[dict[str, Any]]:
    """The failure digest (see :func:`explorer_magics.observe.digest.failure_digest`)."""
    summary = an._compute().summary(an.manifest)
    if not summary.counts.get(FAILED):
        return []
    if not summary.finished:  # still changing: only the failed ones are read, nothing is kept
        return failure_digest(all_elements(an, status=FAILED))
    return list(_observed(an)["failures"])


def observed(an: Analysis) -> dict[str, Any]:
    """Digest, cancelled indices and usage in one (what the server's routes share)."""
    return _observed(an)


def histogram(values: list[float], bins: int = HISTOGRAM_BINS, *, upto: float | None = None) -> dict[str, Any]:
    """``{"edges": [...bins+1], "counts": [...bins]}`` of ``values`` from 0 to their max
    (or ``upto`` when larger, so a request line fits on the axis)."""
    top = max([*values, upto or 0.0, 0.0])
    if top <= 0:
        top = 1.0
    width = top / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v / width)))] += 1
    return {"edges": [round(i * width, 4) for i in range(bins + 1)], "counts": counts}


def usage(an: Analysis, elements: list[ElementStatus] | None = None, *, finished: bool = False) -> dict[str, Any]:
    """``an.usage()``: resources and cost (see :mod:`explorer_magics.observe.usage`), with the
    runtime and peak-memory histograms the pictures draw (``finished``: the analysis has, so
    the attempts a backend keeps itself are asked for too)."""
    if elements is None:
        summary = an._compute().summary(an.manifest)
        if summary.finished:
            return dict(_observed(an)["usage"])
        elements = all_elements(an)
    attempts, default, own = paid_attempts(an, finished=finished)
    out = usage_mod.usage(
        an.manifest,
        elements,
        attempts=attempts,
        resources=own,
        default_resources=default,
        settings=an.session.settings,
    )
    done = [el for el in elements if el.duration_s is not None]
    _, memory_mb = usage_mod.requested(an.manifest)
    out["histograms"] = {
        "runtime_s": histogram([el.duration_s or 0.0 for el in done]),
        "peak_rss_mb": {
            **histogram([el.peak_rss_mb for el in done if el.peak_rss_mb is not None], upto=memory_mb * 1.05),
            "request": memory_mb,
        },
    }
    return out


def paid_attempts(
    an: Analysis, *, finished: bool = False
) -> tuple[list[tuple[int, records.Attempt]], tuple[float, int], dict[int, tuple[float, int]]]:
    """What the cost needs besides the elements' records: every earlier attempt of every
    element (one listing of the record's ``attempts/`` folder, whoever archived them: a rerun,
    the SDK's or the local cluster's retries), the resources the elements not rerun ran with
    (a rerun with another job definition changes the manifest's), and the resources of the
    current attempt of each element that was rerun or retried (``reruns.json``, and
    ``resources.json`` of the elements with earlier attempts: a retry's grown memory). Once
    the analysis has ``finished``, also the attempts a backend made itself and keeps itself
    (AWS Batch's ``retryStrategy``: ``in_job_attempts``), with the resources of the job
    definition."""
    from concurrent.futures import ThreadPoolExecutor

    storage = an.session.storage
    manifest = an.manifest
    layout = manifest.layout
    attempts = records.all_archived_attempts(storage, layout)
    try:
        history = list(json.loads(storage.get_bytes(records.reruns_key(layout))))
    except (NotFound, ValueError):
        history = []
    first = (history[0].get("original_job_definition") if history else None) or manifest.job_definition
    default = usage_mod.resources_of(first)
    own: dict[int, tuple[float, int]] = {}
    for entry in history:
        jd = entry.get("job_definition") or {}
        for i in entry.get("indices") or ():
            own[int(i)] = usage_mod.resources_of(jd)
    in_job = getattr(an._compute(), "in_job_attempts", None) if finished else None
    if in_job is not None:
        resources = rerun_resources(manifest.job_definition)
        extra = [(i, records.Attempt(attempt=-1, resources=resources, **fields)) for i, fields in in_job(manifest)]
        attempts = sorted([*attempts, *extra], key=lambda pair: pair[0])
    # resources.json is written by retries only (the local supervisor's, the SDK's): without
    # retries in the job definition there is none to read
    retries = any(jd.get("retries") for jd in (manifest.job_definition, first))
    retried = sorted({i for i, _ in attempts}) if retries else []

    def stored(i: int) -> dict[str, Any] | None:
        try:
            return dict(json.loads(storage.get_bytes(records.resources_key(layout, i))))
        except (NotFound, ValueError, TypeError):
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        for i, found in zip(retried, pool.map(stored, retried), strict=True):
            if found is not None:
                own[i] = usage_mod.resources_of(found)
    return attempts, default, own


def estimate(an: Analysis, *, compute: str | None = None, size: int | None = None) -> dict[str, Any]:
    """``an.estimate()``: a forecast for the whole array from the elements measured so far."""
    settings = an.session.settings
    target: str = compute or getattr(an, "_compute_name", None) or settings.compute
    measured = all_elements(an, status=records.SUCCEEDED)
    n = size if size is not None else (an.size if an.size is not None else 1)
    slots = None
    if target == "local":  # the local cluster runs max_parallel elements at once
        slots = getattr(getattr(an.session.compute("local"), "config", None), "slots", None)
    return usage_mod.estimate(an.manifest, measured, size=n, compute=target, max_parallel=slots, settings=settings)


def letters(an: Analysis) -> dict[str, Any]:
    """The heatmap's data: ``{"size", "letters", "cancelled", "legend"}``; ``letters`` has one
    character per element (``records.STATUS_LETTERS``)."""
    manifest = an.manifest
    compute = an._compute()
    data = compute.element_letters(manifest)
    summary = compute.summary(manifest)
    cancelled: list[int] = []
    if summary.finished and summary.counts.get(FAILED):
        cancelled = list(_observed(an)["cancelled"])
    return {
        "size": manifest.count,
        "letters": data.decode("ascii", errors="replace"),
        "cancelled": cancelled,
        "legend": {letter.decode(): status for status, letter in records.STATUS_LETTERS.items()},
    }
