"""The ``slurm`` backend: an analysis is ``ceil(N / MaxArraySize)`` ``sbatch --array`` jobs.

Submission is O(1) in the array size: the record is already in storage, and each job is one
``sbatch`` whose script (three lines, on stdin) runs :mod:`.node` for its task; nothing bulky is
on the command line. Resources: ``--cpus-per-task``, ``--mem``, ``--time`` (whole minutes,
rounded up with a minute to spare: the node enforces ``timeout_seconds`` exactly), ``--gres=gpu:N``,
``--signal=B:USR2@60``; ``--job-name=explorer-<analysis id>``. Dependencies are ``afterok`` on
the dependency's jobs (``aftercorr`` between arrays of equal size when ``[slurm] aftercorr``),
with ``--kill-on-invalid-dep=yes``; whether or not Slurm cancels them, elements whose
dependency failed are FAILED with ``dependency <name> (<id>) FAILED`` as soon as it is seen.

Status: the element records the node writes in storage are the truth for finished elements;
Slurm is asked only about the rest, with one shared ``squeue`` per poll for every analysis
(:mod:`.scheduler`). Slurm's states map to ours: PENDING -> PENDING (waiting for a
dependency) or RUNNABLE, CONFIGURING -> STARTING, RUNNING/COMPLETING -> RUNNING,
COMPLETED -> SUCCEEDED, FAILED/TIMEOUT/OUT_OF_MEMORY/NODE_FAIL/CANCELLED/... -> FAILED with
that reason. Elements that finished are never asked about again; a finished analysis is
never asked about at all (its summary is kept in ``summary.json``).
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import math
import os
import shlex
import shutil
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ... import records
from ...config import Settings
from ...errors import BackendError, ExplorerError, InvalidAnalysis, NotFound
from ...records import (
    FAILED,
    LETTER_STATUS,
    PENDING,
    RUNNABLE,
    RUNNING,
    STARTING,
    STATUS_LETTERS,
    STATUSES,
    SUCCEEDED,
    TERMINAL,
    ElementStatus,
    Manifest,
    StatusSummary,
)
from ...storage.base import Storage
from ..base import Dependency, dependency_failed_reason
from ..stored import StoredCompute
from . import scheduler
from .node import TERMINATED, dependency_failed_key, read_json, terminated_key
from .settings import SlurmSettings

#: seconds an element may be missing from squeue without a record before it counts as lost
#: (a shared file system may show another node's write a little late)
LOST_GRACE = 30.0
SLURM_FAILED_REASONS = {
    "TIMEOUT": "timeout: the element reached the Slurm time limit of its job (--time)",
    "OUT_OF_MEMORY": "out of memory: the element needed more than memory_mb={memory} (Slurm: OUT_OF_MEMORY); "
    "raise JobDefinition(memory_mb=...)",
    "NODE_FAIL": "the node running the element failed (Slurm: NODE_FAIL)",
    "BOOT_FAIL": "the node could not boot (Slurm: BOOT_FAIL)",
    "DEADLINE": "the job missed its deadline (Slurm: DEADLINE)",
    "PREEMPTED": "preempted by Slurm (PREEMPTED)",
    "CANCELLED": "cancelled in Slurm (scancel from outside Explorer, or by an administrator)",
    "FAILED": "the element's job failed before it recorded a result (Slurm: FAILED, reason {reason}); is the "
    "python of [slurm] python installed on the nodes, and the storage reachable from them?",
    "REVOKED": "revoked by Slurm (REVOKED)",
}
RUNNING_STATES = {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"}
DEPENDENCY_REASONS = ("DependencyNeverSatisfied", "Dependency")


def _ranges(tasks: list[int]) -> str:
    """``0-3,7,9-10``: sorted task ids as an ``--array`` list (short even for thousands)."""
    out: list[str] = []
    start = prev = tasks[0]
    for t in [*tasks[1:], None]:
        if t is not None and t == prev + 1:
            prev = t
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if t is not None:
            start = prev = t
    return ",".join(out)


def _run(manifest: Manifest) -> str:
    """What per-run state is kept under: the analysis and its first job (a rerun is new jobs)."""
    jobs = manifest.backend.get("jobs") or [{"id": ""}]
    return f"{manifest.id}:{jobs[0]['id']}"


def _job_name(manifest: Manifest) -> str:
    return f"explorer-{manifest.id}"


@dataclasses.dataclass
class _Tracker:
    """What is known of one analysis's elements (kept between polls; finished ones never change)."""

    finished: dict[int, tuple[str, str | None]] = dataclasses.field(default_factory=dict)
    missing_since: dict[int, float] = dataclasses.field(default_factory=dict)
    current: dict[int, str] = dataclasses.field(default_factory=dict)  # unfinished: status now
    taken: float = -1.0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


class SlurmCompute(StoredCompute):
    """Analyses as Slurm array jobs; see the module docstring."""

    name = "slurm"
    settings_class = SlurmSettings

    def __init__(self, settings: Settings, storage: Storage) -> None:
        super().__init__(settings, storage)
        self.slurm = settings.of(SlurmSettings)
        self._lock = threading.Lock()
        self._trackers: dict[str, _Tracker] = {}
        self._final: dict[str, StatusSummary] = {}
        self.sbatch_calls = 0

    # -- submission -----------------------------------------------------------------------------
    def preflight(self, job_definition: dict[str, Any]) -> None:
        """Refuse, before anything is written, when Slurm cannot be reached or the nodes cannot
        reach the storage."""
        if shutil.which("sbatch") is None:
            raise InvalidAnalysis(
                "compute=slurm needs Slurm's commands (sbatch, squeue, scancel) on PATH: run JupyterLab on a login "
                "node, or install the Slurm client with this cluster's slurm.conf (SLURM_CONF). No job was submitted."
            )
        try:
            scheduler.limits(self.slurm.qos)  # slurmctld answers (asked once per process)
        except BackendError as exc:
            raise InvalidAnalysis(f"Slurm does not answer: {exc} No job was submitted.") from None
        self._check_storage()

    def _check_storage(self) -> None:
        if self.storage.s3_uri("") is not None:
            return
        if self.storage.local_path("probe") is None:
            raise InvalidAnalysis(
                f"compute=slurm cannot use storage {self.storage.url}: set storage to a directory every node "
                'mounts (e.g. storage = "/shared/explorer") or to s3://bucket/prefix. No job was submitted.'
            )
        folder = os.path.abspath(self.storage.url)
        shared = self.slurm.shared
        default_local = self.settings.storage == "local"
        inside = shared is not None and any(folder == p or folder.startswith(p.rstrip("/") + "/") for p in shared)
        if (default_local and not inside) or (shared is not None and not inside):
            where = ", ".join(shared) if shared else "none is set"
            raise InvalidAnalysis(
                f"compute=slurm: the nodes cannot reach the storage {folder} (shared paths: {where}). Set "
                'storage = "/shared/explorer" (a directory every node mounts) or s3://bucket/prefix in the config '
                "file (or EXPLORER_STORAGE), or, if this directory IS mounted on every node, add it to [slurm] "
                "shared_paths (EXPLORER_SLURM_SHARED_PATHS). No job was submitted."
            )

    def _sbatch_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.settings.as_env())
        env["EXPLORER_STORAGE"] = self.storage.url
        env["EXPLORER_COMPUTE"] = self.name
        env.update(self.slurm.to_env())
        return env

    def _script(self, manifest: Manifest, offset: int) -> str:
        args = [
            self.slurm.node_python,
            "-m",
            "explorer_magics.compute.slurm.node",
            "--analysis",
            manifest.id,
            "--user",
            manifest.user,
            "--offset",
            str(offset),
            "--scratch",
            self.slurm.scratch_dir,
        ]
        return (
            "#!/bin/sh\n"
            f"# Explorer analysis {manifest.id}: one element per array task, its record in storage\n"
            f"exec {' '.join(shlex.quote(a) for a in args)}\n"
        )

    def sbatch_options(self, manifest: Manifest) -> list[str]:
        """The options every job of ``manifest`` gets (resources, name, where, signals)."""
        jd = manifest.job_definition
        cfg = self.slurm
        opts = [
            "--parsable",
            f"--job-name={_job_name(manifest)}",
            f"--cpus-per-task={max(1, math.ceil(float(jd.get('cpu') or 1)))}",
            f"--mem={int(jd.get('memory_mb') or 4000)}M",
            "--signal=B:USR2@60",
            "--output=/dev/null",
            "--error=/dev/null",
            f"--chdir={cfg.scratch_dir}",
            "--no-requeue",
            "--kill-on-invalid-dep=yes",
            "--export=ALL",
        ]
        timeout = jd.get("timeout_seconds")
        if timeout:
            # whole minutes, with one to spare: the node stops the element at timeout_seconds exactly,
            # and Slurm's USR2 (60 s before its limit) comes only after that
            opts.append(f"--time={math.ceil(float(timeout) / 60) + 1}")
        if jd.get("gpu"):
            opts.append(f"--gres=gpu:{int(jd['gpu'])}")
        for name in ("partition", "account", "qos"):
            value = getattr(cfg, name)
            if value:
                opts.append(f"--{name}={value}")
        opts.extend(cfg.options)
        return opts

    def _dependency_option(self, manifest: Manifest, dependencies: Sequence[Dependency], chunk: int) -> str | None:
        """``afterok:J1:J2`` (or ``aftercorr:J``) for chunk ``chunk`` of ``manifest``: only the
        dependencies still running (the core has failed the dependent of a FAILED one, and one
        that SUCCEEDED needs no waiting), which run on Slurm too."""
        afterok: list[str] = []
        aftercorr: list[str] = []
        for dep in dependencies:
            if not dep.waits:
                continue
            jobs = dep.details.get("jobs") if dep.backend == self.name else None
            if not jobs:
                raise InvalidAnalysis(
                    f"{manifest.name} depends on {dep.name} ({dep.id}), which runs on compute={dep.backend!r} and is "
                    f"{dep.summary.status}; Slurm can only wait for Slurm jobs. No job was submitted."
                )
            corr = (
                self.slurm.aftercorr
                and manifest.size is not None
                and dep.manifest.size == manifest.size
                and manifest.size >= 2
                and "indices" not in dep.details
                and len(jobs) > chunk
            )
            if corr:
                aftercorr.append(str(jobs[chunk]["id"]))
            else:
                afterok.extend(str(j["id"]) for j in jobs)
        parts = []
        if afterok:
            parts.append("afterok:" + ":".join(afterok))
        if aftercorr:
            parts.append("aftercorr:" + ":".join(aftercorr))
        return ",".join(parts) or None

    def submit(
        self,
        manifest: Manifest,
        dependencies: Sequence[Dependency] = (),
        indices: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        # (a submission that fails is the core's to clean up: submission.submit removes the
        # record of a new analysis; rerun.py puts a refused rerun's attempts back)
        limits = scheduler.limits(self.slurm.qos)
        chosen = None if indices is None else sorted(set(int(i) for i in indices))
        if chosen is not None and chosen == list(range(manifest.count)):
            chosen = None  # every element: the plain arrays
        count = manifest.count if chosen is None else len(chosen)
        if limits.max_submit_jobs is not None and count > limits.max_submit_jobs:
            raise InvalidAnalysis(
                f"The QOS {self.slurm.qos!r} lets one user have at most {limits.max_submit_jobs:,} jobs queued; this "
                f"analysis has {count:,} elements. Batch several items per element, or ask for another QOS."
            )
        step = limits.max_array_size  # task ids 0..MaxArraySize-1 are allowed
        opts = self.sbatch_options(manifest)
        env = self._sbatch_env()
        throttle = f"%{self.slurm.throttle}" if self.slurm.throttle else ""
        # job n runs elements offset..offset+count-1 as its tasks 0..count-1 (all of them, or the chosen ones)
        plan: list[tuple[int, int, str | None]] = []
        for offset in range(0, manifest.count, step):
            size = min(step, manifest.count - offset)
            if chosen is None:
                spec = f"0-{size - 1}" if manifest.size is not None else None
            else:
                tasks = [i - offset for i in chosen if offset <= i < offset + size]
                if not tasks:
                    continue
                spec = _ranges(tasks)
            plan.append((offset, size, spec))
        jobs: list[dict[str, Any]] = []
        try:
            for n, (offset, size, spec) in enumerate(plan):
                args = ["sbatch", *opts]
                if spec is not None:
                    args.append(f"--array={spec}{throttle}")
                dependency = self._dependency_option(manifest, dependencies, offset // step if chosen is None else n)
                if dependency:
                    args.append(f"--dependency={dependency}")
                self.sbatch_calls += 1
                out = scheduler.run(args, stdin=self._script(manifest, offset), env=env)
                job_id = out.strip().split(";", 1)[0]
                if not job_id.isdigit():
                    raise BackendError(f"sbatch answered {out.strip()!r}, not a job id.")
                jobs.append({"id": job_id, "offset": offset, "count": size})
        except ExplorerError:
            if jobs:  # no half-submitted analysis: cancel what was queued
                try:
                    scheduler.scancel(j["id"] for j in jobs)
                except ExplorerError:
                    pass
            raise
        backend: dict[str, Any] = {"jobs": jobs, "array": manifest.size is not None, "submitted": time.time()}
        if chosen is not None:
            backend["indices"] = chosen
        waited = [
            {"id": d.id, "name": d.name, "jobs": [str(j["id"]) for j in d.details.get("jobs", ())]}
            for d in dependencies
            if d.waits and d.backend == self.name
        ]
        if waited:  # which one failed, should a dependent fail: asked of Slurm, not of storage
            backend["dependencies"] = waited
        if indices is not None:  # a rerun (of some or all elements): the analysis is not finished any more
            status = PENDING if waited else RUNNABLE
            self.storage.put_bytes(
                manifest.layout.summary,
                StatusSummary(status=status, counts={}, size=manifest.size, updated=time.time()).to_json(),
            )
        return backend

    # -- status ---------------------------------------------------------------------------------
    def _tracker(self, manifest: Manifest) -> _Tracker:
        with self._lock:
            tracker = self._trackers.get(_run(manifest))
            if tracker is None:
                tracker = self._trackers[_run(manifest)] = _Tracker()
            return tracker

    def _slurm_reason(self, manifest: Manifest, index: int, state: str, reason: str, terminated: Any) -> str:
        if state == "CANCELLED":
            if reason in DEPENDENCY_REASONS or "Dependency" in reason:
                return self._dependency_reason(manifest)
            if terminated(index):
                return TERMINATED
        text = SLURM_FAILED_REASONS.get(state, f"Slurm state {state}")
        return text.format(memory=manifest.job_definition.get("memory_mb"), reason=reason or "none")

    def _terminated(self, manifest: Manifest) -> Any:
        """``terminated(index)``: whether terminate() asked for that element (the marker read once)."""
        marker: dict[str, Any] | None = None

        def terminated(index: int) -> bool:
            nonlocal marker
            if marker is None:
                marker = read_json(self.storage, terminated_key(manifest.layout)) or {}
            return bool(marker.get("all") or index in marker.get("indices", ()))

        return terminated

    def _dependency_reason(self, manifest: Manifest) -> str:
        """Which dependency failed: from the marker written when it was seen, else from Slurm's
        own view of the dependencies' jobs (never another analysis's records)."""
        marker = read_json(self.storage, dependency_failed_key(manifest.layout))
        if marker and marker.get("reason"):
            return str(marker["reason"])
        waited = manifest.backend.get("dependencies", [])
        if len(waited) == 1:
            return dependency_failed_reason(waited[0]["name"], waited[0]["id"])
        snap = scheduler.queue().snapshot()
        for dep in waited:
            for job in dep.get("jobs", ()):
                if any(r.state in scheduler.FINAL_STATES - {"COMPLETED"} for r in snap.jobs.get(str(job), ())):
                    return dependency_failed_reason(dep["name"], dep["id"])
        return "a dependency FAILED"

    def _fail_waiting(self, manifest: Manifest) -> str:
        """A dependency failed: cancel what still waits (Slurm may leave it pending forever) and
        remember why, so elements that never ran say so after Slurm forgets them."""
        reason = self._dependency_reason(manifest)
        try:
            if read_json(self.storage, dependency_failed_key(manifest.layout)) is None:
                self.storage.put_bytes(dependency_failed_key(manifest.layout), json.dumps({"reason": reason}).encode())
        except ExplorerError:
            pass
        try:
            scheduler.scancel(str(j["id"]) for j in manifest.backend.get("jobs", ()))
        except ExplorerError:
            pass
        return reason

    def _refresh(self, manifest: Manifest) -> _Tracker:
        """Bring the tracker up to date with the shared squeue (at most one call a second for
        the whole process) and, for elements Slurm no longer lists, their records."""
        tracker = self._tracker(manifest)
        # (an answer from before this run was submitted would not list it yet)
        snap = scheduler.queue().snapshot(after=float(manifest.backend.get("submitted") or 0))
        with tracker.lock:  # (the server asks from several threads)
            if snap.taken > tracker.taken:
                self._update(manifest, tracker, snap)
        return tracker

    def _update(self, manifest: Manifest, tracker: _Tracker, snap: scheduler.Snapshot) -> None:
        current: dict[int, str] = {}
        waits = bool(manifest.backend.get("dependencies"))
        terminated = self._terminated(manifest)
        waiting_on_failed_dependency = False
        for job in manifest.backend.get("jobs", ()):
            offset = int(job["offset"])
            for row in snap.jobs.get(str(job["id"]), ()):
                tasks = row.tasks if row.tasks is not None else (0,)
                for task in tasks:
                    index = offset + task
                    if index in tracker.finished or index >= manifest.count:
                        continue
                    if row.state == "PENDING":
                        if row.reason == "DependencyNeverSatisfied":
                            waiting_on_failed_dependency = True
                        # (just submitted, Slurm may not have looked at the dependency yet: reason None)
                        on_dependency = row.reason in DEPENDENCY_REASONS or (waits and row.reason in ("None", ""))
                        current[index] = PENDING if on_dependency else RUNNABLE
                    elif row.state in ("CONFIGURING",):
                        current[index] = STARTING
                    elif row.state in RUNNING_STATES:
                        current[index] = RUNNING
                    elif row.state in ("REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"):
                        current[index] = RUNNABLE
                    elif row.state == "COMPLETED":
                        tracker.finished[index] = (SUCCEEDED, None)
                    else:
                        tracker.finished[index] = (
                            FAILED,
                            self._slurm_reason(manifest, index, row.state, row.reason, terminated),
                        )
        if waiting_on_failed_dependency:
            reason = self._fail_waiting(manifest)
            for index, status in list(current.items()):
                if status in (PENDING, RUNNABLE):
                    tracker.finished[index] = (FAILED, reason)
                    del current[index]
        # elements Slurm does not list: their records say (each is read until it is final)
        unknown = [i for i in range(manifest.count) if i not in tracker.finished and i not in current]
        if unknown:
            found = self._read_records(manifest, unknown)
            now = time.monotonic()
            marker = read_json(self.storage, dependency_failed_key(manifest.layout)) or {}
            final = self._accounted(manifest, [i for i in unknown if i not in found or not found[i].finished])
            letters: bytes | None = None
            for index in unknown:
                el = found.get(index)
                if el is not None and el.status in TERMINAL:
                    tracker.finished[index] = (el.status, el.reason)
                    tracker.missing_since.pop(index, None)
                elif "indices" in manifest.backend and not self._reruns(manifest, index):
                    # not run this time, and no record: what a previous run ended with, else never run
                    if letters is None:
                        letters = self._letters(manifest) or b""
                    status = LETTER_STATUS.get(letters[index], RUNNABLE) if index < len(letters) else RUNNABLE
                    if status in TERMINAL:
                        tracker.finished[index] = (status, None)
                    else:
                        current[index] = RUNNABLE
                elif terminated(index):
                    tracker.finished[index] = (FAILED, TERMINATED)
                elif marker.get("reason"):
                    tracker.finished[index] = (FAILED, str(marker["reason"]))
                elif index in final and final[index] != "COMPLETED":
                    # sacct knows how it ended (COMPLETED without a record: the record is on its way)
                    tracker.finished[index] = (
                        FAILED,
                        self._slurm_reason(manifest, index, final[index], "", terminated),
                    )
                elif now - tracker.missing_since.setdefault(index, now) < LOST_GRACE:
                    current[index] = RUNNING if el is not None else PENDING if waits else RUNNABLE
                else:
                    tracker.finished[index] = (
                        FAILED,
                        "ended without recording a result, and Slurm no longer reports on it (node lost, or the "
                        "python of [slurm] python missing on the node?)",
                    )
        tracker.current = current
        tracker.taken = snap.taken

    def _accounted(self, manifest: Manifest, indices: list[int]) -> dict[int, str]:
        """Slurm's final state of elements squeue no longer lists, from sacct (accounting on)."""
        if not indices or not scheduler.limits(self.slurm.qos).accounting:
            return {}
        jobs = manifest.backend.get("jobs", ())
        states = scheduler.accounting().final_states([str(j["id"]) for j in jobs], manifest.created)
        out: dict[int, str] = {}
        for index in indices:
            job = next((j for j in jobs if j["offset"] <= index < j["offset"] + j["count"]), None)
            if job is None:
                continue
            key = f"{job['id']}_{index - job['offset']}" if manifest.backend.get("array") else str(job["id"])
            if key in states:
                out[index] = states[key][0]
        return out

    def _read_records(self, manifest: Manifest, indices: list[int]) -> dict[int, ElementStatus]:
        with ThreadPoolExecutor(max_workers=16) as pool:
            found = list(pool.map(lambda i: self._stored_element(manifest, i), indices))
        return {i: el for i, el in zip(indices, found, strict=True) if el is not None}

    @staticmethod
    def _reruns(manifest: Manifest, index: int) -> bool:
        """True when ``index`` is one of the elements this run (a rerun of some) runs again."""
        chosen = manifest.backend.get("indices")
        if chosen is None:
            return False
        k = bisect.bisect_left(chosen, index)
        return k < len(chosen) and chosen[k] == index

    def _stored_element(self, manifest: Manifest, index: int) -> ElementStatus | None:
        """The element's record, unless it is the previous run's record of an element that runs again."""
        el = super()._stored_element(manifest, index)
        if el is not None and el.finished and self._reruns(manifest, index):
            submitted = float(manifest.backend.get("submitted") or 0)
            if (el.stopped or 0) < submitted:
                return None
        return el

    def _finished(self, manifest: Manifest) -> StatusSummary | None:
        """The final summary of an analysis that ended (kept here, or in ``summary.json``)."""
        with self._lock:
            final = self._final.get(_run(manifest))
            watched = _run(manifest) in self._trackers
        if final is not None or watched:
            return final
        stored = super().summary(manifest)
        if not stored.finished:
            return None
        with self._lock:
            self._final[_run(manifest)] = stored
        return stored

    def _from_record(self, manifest: Manifest) -> bool:
        """True when an ended analysis is answered from storage alone (this process did not
        watch it end): ``summary.json``, ``elements.txt`` and the elements' records."""
        with self._lock:
            watched = _run(manifest) in self._trackers
        return not watched and self._finished(manifest) is not None

    def summary(self, manifest: Manifest) -> StatusSummary:
        if not manifest.backend.get("jobs"):
            return super().summary(manifest)  # being submitted, or refused: the record says
        final = self._finished(manifest)
        if final is not None:
            return final
        tracker = self._refresh(manifest)
        counts: dict[str, int] = {}
        for status, _ in tracker.finished.values():
            counts[status] = counts.get(status, 0) + 1
        for status in tracker.current.values():
            counts[status] = counts.get(status, 0) + 1
        status = records.overall_status(counts, manifest.count)
        reason = None
        if status == FAILED:
            reasons = {r for s, r in tracker.finished.values() if s == FAILED}
            if len(reasons) == 1:
                only = next(iter(reasons))
                if only == TERMINATED or (only or "").startswith(("dependency ", "a dependency")):
                    reason = only
        running = tuple(sorted(i for i, s in tracker.current.items() if s == RUNNING))
        summary = StatusSummary(
            status=status, counts=counts, size=manifest.size, reason=reason, updated=time.time(), running=running
        )
        if summary.finished:
            with self._lock:
                self._final[_run(manifest)] = summary
            letters = bytearray(STATUS_LETTERS[FAILED] * manifest.count)
            for index, (st, _) in tracker.finished.items():
                letters[index : index + 1] = STATUS_LETTERS[st]
            try:  # for processes that did not watch it end: a page of elements reads only its records
                self.storage.put_bytes(manifest.layout.elements, bytes(letters))
                self.storage.put_bytes(manifest.layout.summary, summary.to_json())
            except ExplorerError:
                pass  # (another user's analysis: read-only here)
        return summary

    def _learn(self, manifest: Manifest, element: ElementStatus) -> None:
        """A finished element's record was read: the summary agrees with it from now on (the
        shared squeue answer may be up to a poll older than the record)."""
        if not manifest.backend.get("jobs") or self._from_record(manifest):
            return
        tracker = self._tracker(manifest)
        with tracker.lock:
            if element.index not in tracker.finished:
                tracker.finished[element.index] = (element.status, element.reason)
                tracker.current.pop(element.index, None)

    def _state(self, manifest: Manifest, index: int) -> ElementStatus:
        tracker = self._refresh(manifest)
        if index in tracker.finished:
            status, reason = tracker.finished[index]
            return ElementStatus(index, status, reason=reason)
        return ElementStatus(index, tracker.current.get(index, RUNNABLE))

    def element_status(self, manifest: Manifest, index: int) -> ElementStatus:
        if not 0 <= index < manifest.count:
            raise NotFound(f"No element {index}: this analysis has {manifest.count} element(s).")
        stored = self._stored_element(manifest, index)
        if stored is not None and stored.status in TERMINAL:
            self._learn(manifest, stored)
            return stored  # the node's record is the truth for a finished element
        if not manifest.backend.get("jobs"):
            return stored or super().element_status(manifest, index)
        if self._from_record(manifest):
            letters = self._letters(manifest)  # written when the analysis ended
            status = LETTER_STATUS.get(letters[index], FAILED) if letters else FAILED
            return self._with_analysis_reason(manifest, [stored or ElementStatus(index, status)])[0]
        slurm = self._state(manifest, index)
        if slurm.status == RUNNING and stored is not None:
            return stored
        if slurm.status in TERMINAL:
            # Slurm says it ended; its record (read again: it may have just been written) has the details
            again = self._stored_element(manifest, index)
            if again is not None and again.status in TERMINAL:
                self._learn(manifest, again)
                return again
        return slurm

    def list_elements(
        self, manifest: Manifest, *, status: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[ElementStatus]:
        if status is not None and status not in STATUSES:
            raise InvalidAnalysis(f"Unknown status {status!r}; use one of {', '.join(STATUSES)}.")
        if not manifest.backend.get("jobs"):
            return super().list_elements(manifest, status=status, offset=offset, limit=limit)
        if self._from_record(manifest):
            stored = super().list_elements(manifest, status=status, offset=offset, limit=limit)
            return self._with_analysis_reason(manifest, stored)
        self.summary(manifest)
        tracker = self._refresh(manifest)
        states = {i: s for i, (s, _) in tracker.finished.items()}
        states.update(tracker.current)
        chosen = [i for i in range(manifest.count) if status is None or states.get(i, RUNNABLE) == status]
        chosen.sort(key=lambda i: (states.get(i, RUNNABLE) != FAILED, i))
        page = chosen[offset : offset + limit]
        found = self._read_records(manifest, page)
        out: list[ElementStatus] = []
        for i in page:
            el = found.get(i)
            st = states.get(i, RUNNABLE)
            if el is not None and (el.status == st or el.status in TERMINAL):
                out.append(el)
            elif i in tracker.finished:
                out.append(ElementStatus(i, st, reason=tracker.finished[i][1]))
            else:
                out.append(ElementStatus(i, st))
        return out

    def _with_analysis_reason(self, manifest: Manifest, elements: list[ElementStatus]) -> list[ElementStatus]:
        """Elements that never ran have no record: they FAILED for the analysis's reason
        (terminated, a dependency), when there is one."""
        final = self._finished(manifest)
        why = final.reason if final is not None else None
        return [
            dataclasses.replace(e, reason=why) if e.status == FAILED and e.reason is None and why else e
            for e in elements
        ]

    # -- termination ------------------------------------------------------------------------------
    def terminate(self, manifest: Manifest, index: int | None = None) -> None:
        jobs = manifest.backend.get("jobs")
        if not jobs and super().summary(manifest).finished:
            return  # never submitted (a dependency had failed): nothing runs, nothing to stop
        if not jobs:
            raise BackendError(f"{manifest.id} has no Slurm job yet (it is being submitted); try again shortly.")
        key = terminated_key(manifest.layout)
        marker = read_json(self.storage, key) or {"all": False, "indices": []}
        if index is None:
            marker["all"] = True
            targets = [str(j["id"]) for j in jobs]
        else:
            if not 0 <= index < manifest.count:
                raise NotFound(f"No element {index}: this analysis has {manifest.count} element(s).")
            marker["indices"] = sorted(set(marker.get("indices", [])) | {index})
            job = next(j for j in jobs if j["offset"] <= index < j["offset"] + j["count"])
            targets = [f"{job['id']}_{index - job['offset']}" if manifest.backend.get("array") else str(job["id"])]
        self.storage.put_bytes(key, json.dumps(marker).encode())  # first: the node reads it on SIGTERM
        scheduler.scancel(targets)
        # a task cancelled while it waited never runs (no record will come): it is FAILED now, not
        # at the next squeue answer; a running one writes its own record as it stops
        tracker = self._tracker(manifest)
        with tracker.lock:
            for i in [i for i, st in tracker.current.items() if st in (PENDING, RUNNABLE)]:
                if index is None or i == index:
                    tracker.finished.setdefault(i, (FAILED, TERMINATED))
                    del tracker.current[i]
