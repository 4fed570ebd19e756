"""Explorer Shortcuts: the genomics tasks every team writes again, as ready-made analyses.

Each shortcut is a plain call that returns an :class:`~explorer_magics.analysis.Analysis`,
defined but not yet run; ``.run()`` (or ``.run_local()``) runs it like any other analysis (it
shows in the sidebar and the widget under the shortcut's name), and ``.result()`` waits for it
and returns its answer::

    from explorer_magics.shortcuts import depth_at
    depths = depth_at(crams, "chr2:135851076", reference=ref).run().result()   # {label: depth}

Inputs are ``File`` objects, ``e://``/``s3://`` URIs or local paths; outputs go to EOS. Every
input is checked before anything is submitted (a missing file, a missing index, a VCF without
the samples asked for, samples that cannot be merged), and a tool that fails inside an element
makes that element FAILED with the tail of the tool's stderr as its reason. The tools are
samtools, bcftools and tabix/bgzip (Debian packages ``samtools bcftools tabix``; the job image
has them). Each takes ``session=`` (a :class:`~explorer_magics.session.Session`; default the
process's) for its inputs given as URIs or paths, its output location and the analysis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..analysis import Analysis
from ..errors import InvalidAnalysis
from ._common import ShortcutAnalysis, ToolFailed
from .alignments import _collect_depths, _collect_filtered, _depth_element, _filter_element, depth_at, filter_alignments
from .annotate import _annotate_whole, annotate_vcf
from .concordance import (
    _collect_rows,
    _collect_stats,
    _concordance_element,
    _stats_element,
    genotype_concordance,
    vcf_stats,
)
from .merge import _collect_output, _concat, merge_vcfs

#: the last step of each shortcut -> how its result is collected
_COLLECTORS: dict[Callable[..., Any], Callable[[Analysis], Any]] = {
    _depth_element: _collect_depths,
    _filter_element: _collect_filtered,
    _concat: _collect_output,
    _annotate_whole: _collect_output,
    _concordance_element: _collect_rows,
    _stats_element: _collect_stats,
}


def reopen(analysis: Analysis | str) -> ShortcutAnalysis:
    """The shortcut analysis ``analysis`` (an id, or an Analysis found with ``JobManager``) again,
    so ``.result()`` gives the shortcut's answer in a new kernel:
    ``reopen("2026-12-01T101500_depth_at_...").result()``."""
    from ..job_manager import JobManager
    from ..serialize import loads

    an = JobManager().get_analysis(job_id=analysis) if isinstance(analysis, str) else analysis
    function, _globals = loads(an.session.storage.get_bytes(an.manifest.layout.function))
    collect = _COLLECTORS.get(function)
    if collect is None:
        raise InvalidAnalysis(
            f"{an.name} ({an.id}) was not made by a shortcut; its .result() gives its outputs as they are."
        )
    out = ShortcutAnalysis(collect=collect, name=an.name, job_definition=an.job_definition, session=an.session)
    out.pip_packages = list(an.pip_packages)
    out._manifest = an.manifest
    return out


__all__ = [
    "ShortcutAnalysis",
    "ToolFailed",
    "annotate_vcf",
    "depth_at",
    "filter_alignments",
    "genotype_concordance",
    "merge_vcfs",
    "reopen",
    "vcf_stats",
]
