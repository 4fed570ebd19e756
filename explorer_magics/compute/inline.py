"""``inline``: analyses run by ``Analysis.run_local()``, in the submitting process itself.

Nothing is submitted anywhere: :meth:`InlineCompute.run_here` runs the live work function on
each element in order (the notebook's own shell for ``!`` lines, output shown as printed) and
records outcomes like any backend, so status, logs and outputs read back the same way.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from typing import Any

from .. import records
from ..definitions import GlobalConfig, InputShared
from ..errors import InvalidAnalysis
from ..records import FAILED, SUCCEEDED, ElementStatus, LogChunk, Manifest, StatusSummary
from ..runner import execute, load_label
from ..session import Session, as_default
from .base import Dependency
from .stored import StoredCompute


class InlineCompute(StoredCompute):
    """The record of a ``run_local()`` run: it already ran, in the submitting process."""

    name = "inline"

    def submit(
        self,
        manifest: Manifest,
        dependencies: Sequence[Dependency] = (),
        indices: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        raise InvalidAnalysis("Inline analyses run through Analysis.run_local(), not submit().")

    def run_here(
        self,
        manifest: Manifest,
        function: Any,
        inputs: list[Any],
        input_shared: InputShared | None,
        global_config: GlobalConfig | None,
        indices: Iterable[int],
        session: Session | None = None,
    ) -> None:
        """Run elements ``indices`` of a written record now, in order, in this process
        (``session``: the analysis's, where ``ac.dependency(name)`` looks).

        The first failing element's exception is raised after it is recorded; the elements
        after it are recorded FAILED (not run), and the summary is written either way.
        """
        with as_default(session):  # the work function's File(...) means the analysis's session
            storage = self.storage
            layout = manifest.layout
            todo = list(indices)
            counts: dict[str, int] = {SUCCEEDED: 0, FAILED: 0}
            try:
                while todo:
                    i = todo.pop(0)
                    job_index = i if manifest.size is not None else None
                    try:
                        result = self._run_one(
                            manifest, job_index, function, inputs[i], input_shared, global_config, session
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

    def _run_one(
        self,
        manifest: Manifest,
        job_index: int | None,
        function: Any,
        input_value: Any,
        input_shared: InputShared | None,
        global_config: GlobalConfig | None,
        session: Session | None = None,
    ) -> ElementStatus:
        index = job_index or 0
        workdir = tempfile.mkdtemp(prefix=f"explorer-{manifest.id[:17]}-{index}-")
        try:
            return execute(
                self.storage,
                manifest,
                index,
                function,
                input_value,
                input_shared,
                global_config,
                workdir,
                reraise=True,
                label=load_label(self.storage, manifest, index),  # observe: Analysis(label=...) applies here too
                session=session,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def terminate(self, manifest: Manifest, index: int | None = None) -> None:
        """Nothing to stop: inline runs finish before run_local() returns."""

    def read_log(self, manifest: Manifest, index: int, stream: str, offset: int) -> LogChunk:
        if offset == 0 and stream == "stdout":
            note = b"(run_local() printed this element's output in the cell that ran it)\n"
            return LogChunk(note, len(note))
        return LogChunk(b"", offset)
