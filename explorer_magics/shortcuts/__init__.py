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
has them).
"""

from ._common import ShortcutAnalysis, ToolFailed
from .alignments import depth_at, filter_alignments
from .annotate import annotate_vcf
from .concordance import genotype_concordance, vcf_stats
from .merge import merge_vcfs

__all__ = [
    "ShortcutAnalysis",
    "ToolFailed",
    "annotate_vcf",
    "depth_at",
    "filter_alignments",
    "genotype_concordance",
    "merge_vcfs",
    "vcf_stats",
]
