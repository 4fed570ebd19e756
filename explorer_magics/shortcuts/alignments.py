"""Shortcuts over alignments (BAM/CRAM): read depth at a locus, filtered copies."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..analysis import Analysis, AnalysisContext, InputShared, JobDefinition
from ..errors import InvalidAnalysis
from ..models import File
from ..session import Session
from ._common import (
    FileLike,
    ShortcutAnalysis,
    ToolFailed,
    as_list,
    basename,
    default_job,
    describe,
    element_values,
    find_index,
    for_cluster,
    localize,
    output_location,
    readable,
    require,
    run_tool,
    scratch,
    shared,
    to_file,
    unique_labels,
    upload_to,
)

__all__ = ["depth_at", "filter_alignments"]

_LOCUS = re.compile(r"^([^\s:]+):([0-9][0-9,]*)(?:-([0-9][0-9,]*))?$")
_REGION = re.compile(r"^[^\s:]+(?::[0-9][0-9,]*(?:-[0-9][0-9,]*)?)?$")

Indexed = tuple[File, str] | None


def _kind(f: File, what: str) -> str:
    name = basename(f).lower()
    if name.endswith(".cram"):
        return "cram"
    if name.endswith(".bam"):
        return "bam"
    raise InvalidAnalysis(
        f"{what}: {describe(f)} is neither a .bam nor a .cram; give BAM or CRAM files "
        "(samtools view -b converts a SAM). Nothing was submitted."
    )


def _alignments(
    alignments: Sequence[FileLike] | FileLike,
    *,
    need_index: bool,
    reference: FileLike | None,
    what: str,
    session: Session | None = None,
) -> tuple[list[File], list[str], list[Indexed], tuple[File, Indexed] | None]:
    """Files, their kinds and indexes, and the reference; every check done before submitting."""
    files = [
        to_file(a, f"{what}: alignments[{i}]", session=session)
        for i, a in enumerate(as_list(alignments, f"{what}: alignments"))
    ]
    kinds = [_kind(f, what) for f in files]
    require(files, what)
    indexes: list[Indexed] = []
    for f, kind in zip(files, kinds, strict=True):
        suffixes = (".crai",) if kind == "cram" else (".bai", ".csi")
        found = find_index(f, suffixes) if need_index else None
        if need_index and found is None:
            tool = "samtools index"
            raise InvalidAnalysis(
                f"{what}: {describe(f)} has no index ({' or '.join(basename(f) + s for s in suffixes)} beside it), "
                f"which reading a region needs. Index it with `{tool} {basename(f)}` and put the index next to it "
                "(same folder, same name + the suffix). Nothing was submitted."
            )
        indexes.append(found)
    ref: tuple[File, Indexed] | None = None
    if reference is not None:
        rf = to_file(reference, f"{what}: reference", session=session)
        require([rf], f"{what}: reference")
        ref = (for_cluster(rf), _cluster_index(find_index(rf, (".fai",))))
    elif "cram" in kinds:
        first = files[kinds.index("cram")]
        raise InvalidAnalysis(
            f"{what}: {describe(first)} is a CRAM, which is decoded against the reference FASTA it was written "
            "with; pass reference=<that FASTA>. Nothing was submitted."
        )
    files = [for_cluster(f) for f in files]
    indexes = [_cluster_index(ix) for ix in indexes]
    return files, kinds, indexes, ref


def _cluster_index(found: Indexed) -> Indexed:
    return None if found is None else (for_cluster(found[0]), found[1])


def _reference_args(ref: tuple[File, Indexed] | None, into: Path) -> list[str]:
    if ref is None:
        return []
    return ["--reference", str(localize(ref[0], ref[1], into))]


# -- depth_at -------------------------------------------------------------------------------------
def _depth_element(ac: AnalysisContext) -> None:
    label, aln, index = ac.input
    sh = shared(ac)
    with scratch() as tmp:
        path = readable(aln, index, tmp)  # one locus: only its blocks are read, not the whole file
        args = ["samtools", "depth", "-a", "-Q", "0", "-q", "0", "-r", sh.region, *_reference_args(sh.reference, tmp)]
        out = run_tool([*args, path], what="samtools depth")
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines:
        contig = sh.region.split(":", 1)[0]
        raise ToolFailed(
            f"samtools depth printed nothing for {sh.region} in {label}: is {contig} a contig of this file "
            "(samtools view -H shows its @SQ lines)?"
        )
    depth = int(lines[0].split("\t")[2])
    print(f"{label}\t{sh.region}\t{depth}")
    ac.output.value(key="label", value=label)
    ac.output.value(key="depth", value=depth)


def _collect_depths(an: Analysis) -> dict[str, int]:
    return dict(element_values(an, ("label", "depth")))


def _locus(region: str) -> str:
    m = _LOCUS.match(region.strip()) if isinstance(region, str) else None
    if not m or (m.group(3) is not None and m.group(3).replace(",", "") != m.group(2).replace(",", "")):
        raise InvalidAnalysis(
            f"depth_at: region must be one position such as 'chr2:135851076' (or 'chr2:135851076-135851076'), "
            f"not {region!r}. Nothing was submitted."
        )
    pos = int(m.group(2).replace(",", ""))
    if pos < 1:
        raise InvalidAnalysis(f"depth_at: positions start at 1, not {pos}. Nothing was submitted.")
    return f"{m.group(1)}:{pos}-{pos}"


def depth_at(
    alignments: Sequence[FileLike] | FileLike,
    region: str,
    reference: FileLike | None = None,
    labels: Sequence[str] | None = None,
    *,
    job_definition: JobDefinition | None = None,
    session: Session | None = None,
) -> ShortcutAnalysis:
    """Read depth at one locus in each CRAM/BAM: one element per alignment.

    ``region`` is one position (``"chr2:135851076"``). Each alignment needs its index beside it
    (``.bai``/``.csi``, ``.crai``); CRAMs need ``reference`` (the FASTA they were written with).
    Depth is ``samtools depth -a -Q 0 -q 0``: reads flagged unmapped, secondary, QC-fail or
    duplicate are not counted. ``.result()`` gives ``{label: depth}`` (labels default to the
    file names without extension).
    """
    locus = _locus(region)
    files, _kinds, indexes, ref = _alignments(
        alignments, need_index=True, reference=reference, what="depth_at", session=session
    )
    names = unique_labels(files, labels, "depth_at")
    return ShortcutAnalysis(
        session=session,
        collect=_collect_depths,
        function=_depth_element,
        input=[(label, f, ix) for label, f, ix in zip(names, files, indexes, strict=True)],
        input_shared=InputShared(region=locus, reference=ref),
        job_definition=default_job(job_definition),
        name="depth_at",
    )


# -- filter_alignments ----------------------------------------------------------------------------
def _filter_element(ac: AnalysisContext) -> None:
    label, aln, index, kind = ac.input
    sh = shared(ac)
    with scratch() as tmp:
        path = readable(aln, index, tmp) if sh.region else str(localize(aln, index, tmp))
        out = tmp / f"{label}.{kind}"
        args: list[Any] = ["samtools", "view", "-h", "-q", sh.min_mapq, "-f", sh.include_flags]
        args += ["-F", sh.exclude_flags, "-O", kind.upper(), "-o", out, *_reference_args(sh.reference, tmp), path]
        if sh.region:
            args.append(sh.region)
        run_tool([str(a) for a in args], what="samtools view")
        run_tool(["samtools", "index", out], what="samtools index")
        suffix = ".crai" if kind == "cram" else ".bai"
        records = int(run_tool(["samtools", "view", "-c", out], what="samtools view -c").strip())
        uri = sh.output + out.name
        upload_to(Path(str(out) + suffix), uri + suffix)  # the index first: a file that is there is usable
        upload_to(out, uri)
    print(f"{label}: {records} records -> {uri}")
    ac.output.value(key="label", value=label)
    ac.output.value(key="uri", value=uri)
    ac.output.value(key="records", value=records)


def _collect_filtered(an: Analysis) -> dict[str, File]:
    return {label: File(path_e=uri, session=an.session) for label, uri in element_values(an, ("label", "uri"))}


def _flags(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise InvalidAnalysis(f"filter_alignments: {name} must be a SAM flag bitmask (0..0xFFFF), not {value!r}.")
    return value


def filter_alignments(
    alignments: Sequence[FileLike] | FileLike,
    output: str,
    region: str | None = None,
    min_mapq: int = 0,
    include_flags: int = 0,
    exclude_flags: int = 0xF04,
    reference: FileLike | None = None,
    *,
    labels: Sequence[str] | None = None,
    job_definition: JobDefinition | None = None,
    session: Session | None = None,
) -> ShortcutAnalysis:
    """A filtered, indexed copy of each BAM/CRAM in the EOS folder ``output``: one element per input.

    Keeps records with MAPQ >= ``min_mapq``, all ``include_flags`` set and none of
    ``exclude_flags`` (default 0xF04: unmapped, secondary, QC-fail, duplicate, supplementary),
    inside ``region`` if given (which needs the inputs' indexes), exactly as ``samtools view
    -q -f -F``. A BAM stays a BAM (``.bai``), a CRAM a CRAM (``.crai``; needs ``reference``).
    ``.result()`` gives ``{label: File}``.
    """
    folder = output_location(output, folder=True, what="filter_alignments: output", session=session)
    if region is not None and (not isinstance(region, str) or not _REGION.match(region.strip())):
        raise InvalidAnalysis(
            f"filter_alignments: region must look like 'chr1' or 'chr1:1000-2000', not {region!r}. "
            "Nothing was submitted."
        )
    if isinstance(min_mapq, bool) or not isinstance(min_mapq, int) or not 0 <= min_mapq <= 255:
        raise InvalidAnalysis(f"filter_alignments: min_mapq must be a whole number 0..255, not {min_mapq!r}.")
    files, kinds, indexes, ref = _alignments(
        alignments, need_index=region is not None, reference=reference, what="filter_alignments", session=session
    )
    names = unique_labels(files, labels, "filter_alignments")
    return ShortcutAnalysis(
        session=session,
        collect=_collect_filtered,
        function=_filter_element,
        input=[(n, f, ix, k) for n, f, ix, k in zip(names, files, indexes, kinds, strict=True)],
        input_shared=InputShared(
            output=folder,
            region=region.strip().replace(",", "") if region else None,
            min_mapq=min_mapq,
            include_flags=_flags(include_flags, "include_flags"),
            exclude_flags=_flags(exclude_flags, "exclude_flags"),
            reference=ref,
        ),
        job_definition=default_job(job_definition),
        name="filter_alignments",
    )
