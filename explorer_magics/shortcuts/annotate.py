"""annotate_vcf: ``bcftools annotate`` from an indexed VCF/BED/TSV, scattered by region."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..analysis import Analysis, AnalysisContext, InputShared, JobDefinition
from ..errors import InvalidAnalysis
from ..session import Session
from ._common import (
    VCF_INDEXES,
    FileLike,
    ShortcutAnalysis,
    basename,
    default_job,
    describe,
    find_index,
    for_cluster,
    indexed_names,
    localize,
    output_location,
    readable,
    require,
    run_tool,
    scratch,
    shared,
    size_of,
    to_file,
    upload_to,
    vcf_header_text,
)
from .merge import MERGED, _collect_output, _concat, _refuse_overlaps

__all__ = ["annotate_vcf"]

#: a VCF larger than this is annotated one chromosome per element (when it is indexed)
SCATTER_BYTES = 256 * 1024 * 1024
_REGION = re.compile(r"^[^\s:,]+(?::[0-9]+(?:-[0-9]+)?)?$")
_HEADER_ID = re.compile(r"^##(INFO|FORMAT|FILTER)=<ID=([^,>]+)")
_FIXED = {"CHROM", "POS", "FROM", "TO", "BEG", "END", "REF", "ALT", "ID", "QUAL", "FILTER", "-"}


def _annotate_args(sh: InputShared, vcf: Path | str, out: Path, fmt: str, region: str | None, tmp: Path) -> list[str]:
    ann = localize(sh.annotations[0], sh.annotations[1], tmp)
    args = ["bcftools", "annotate", "-a", str(ann), "-c", sh.columns, fmt, "-o", str(out)]
    if sh.header_lines:
        hdr = tmp / "header-lines.txt"
        hdr.write_text("".join(line + "\n" for line in sh.header_lines))
        args += ["-h", str(hdr)]
    if region:
        args += ["-r", region, "--regions-overlap", "pos"]
    return args + [str(vcf)]


def _annotate_whole(ac: AnalysisContext) -> None:
    sh = shared(ac)
    bcf = sh.output.endswith(".bcf")
    suffix = ".csi" if bcf else ".tbi"
    with scratch() as tmp:
        vcf = localize(sh.vcf[0], sh.vcf[1], tmp)
        out = tmp / ("out.bcf" if bcf else "out.vcf.gz")
        run_tool(_annotate_args(sh, vcf, out, "-Ob" if bcf else "-Oz", None, tmp), what="bcftools annotate")
        run_tool(["bcftools", "index", "-f", "--csi" if bcf else "--tbi", str(out)], what="bcftools index")
        upload_to(Path(str(out) + suffix), sh.output + suffix)
        upload_to(out, sh.output)
    ac.output.value(key="output", value=sh.output)
    print(f"wrote {sh.output} (+{suffix})")


def _annotate_region(ac: AnalysisContext) -> None:
    sh = shared(ac)
    region = ac.input
    out = ac.output.file(MERGED).as_local()
    with scratch() as tmp:
        vcf = readable(sh.vcf[0], sh.vcf[1], tmp)  # one region: read in place or through a presigned URL
        run_tool(_annotate_args(sh, vcf, out, "-Ob", region, tmp), what="bcftools annotate")
    run_tool(["bcftools", "index", "-f", str(out)], what="bcftools index")
    ac.output.file(path_local=str(out) + ".csi", key=MERGED + ".csi")
    print(f"annotated {region}")


def _tags_defined(header: str) -> set[str]:
    out = set()
    for line in header.splitlines():
        m = _HEADER_ID.match(line)
        if m:
            out.add(f"{m.group(1)}/{m.group(2)}")
    return out


def annotate_vcf(
    vcf: FileLike,
    annotations: FileLike,
    columns: Sequence[str] | str,
    output: str,
    regions: Sequence[str] | None = None,
    *,
    header_lines: Sequence[str] | None = None,
    job_definition: JobDefinition | None = None,
    session: Session | None = None,
) -> ShortcutAnalysis:
    """``bcftools annotate -a annotations -c columns`` of ``vcf`` into ``output`` (e:// URI
    ending in ``.vcf.gz`` or ``.bcf``, indexed).

    ``annotations`` is a VCF/BCF or a bgzipped tab-delimited/BED file, indexed (``.tbi`` or
    ``.csi`` beside it). ``columns`` as bcftools takes them: ``["INFO/AF"]`` from a VCF,
    ``["CHROM", "POS", "REF", "ALT", "INFO/SCORE"]`` from a TSV. A tag a TSV/BED brings that the
    VCF does not define needs its ``header_lines=["##INFO=<ID=SCORE,Number=1,Type=Float,
    Description=\"...\">"]``. With ``regions=`` each region is annotated by its own element,
    then concatenated (the output holds those regions only); an indexed VCF over 256 MiB is
    split by chromosome the same way (all of it). ``.result()`` gives the output ``File``.
    """
    target = output_location(output, folder=False, what="annotate_vcf: output", session=session)
    if not target.endswith((".vcf.gz", ".bcf")):
        raise InvalidAnalysis(f"annotate_vcf: output {output!r} must end in .vcf.gz or .bcf. Nothing was submitted.")
    cols = [c.strip() for c in columns.split(",")] if isinstance(columns, str) else [str(c).strip() for c in columns]
    if not cols or not all(cols):
        raise InvalidAnalysis(
            "annotate_vcf: columns must name the annotation file's columns, e.g. ['INFO/AF'] from a VCF or "
            "['CHROM', 'POS', 'REF', 'ALT', 'INFO/SCORE'] from a TSV. Nothing was submitted."
        )
    lines = [str(x).strip() for x in (header_lines or [])]
    if any(not x.startswith("##") for x in lines):
        raise InvalidAnalysis("annotate_vcf: header_lines are VCF header lines starting with '##'.")
    vf = to_file(vcf, "annotate_vcf: vcf", session=session)
    af = to_file(annotations, "annotate_vcf: annotations", session=session)
    require([vf, af], "annotate_vcf")
    ann_name = basename(af).lower()
    ann_is_vcf = ann_name.endswith((".vcf.gz", ".vcf.bgz", ".bcf"))
    ann_index = find_index(af, VCF_INDEXES)
    if ann_index is None:
        how = (
            f"bcftools index {basename(af)}"
            if ann_is_vcf
            else f"bgzip the file and index it: tabix -s1 -b2 -e2 {basename(af)} (BED: tabix -p bed)"
        )
        raise InvalidAnalysis(
            f"annotate_vcf: annotations {describe(af)} has no .tbi/.csi index beside it; {how}. Nothing was submitted."
        )
    vcf_header = vcf_header_text(vf)
    known = _tags_defined(vcf_header) | _tags_defined("\n".join(lines))
    wanted = {(c if "/" in c else f"INFO/{c}") for c in cols if c.lstrip("+-=^.~").upper() not in _FIXED}
    wanted = {w.lstrip("+-=^.~") for w in wanted}
    if ann_is_vcf:
        ann_tags = _tags_defined(vcf_header_text(af))
        missing = sorted(w for w in wanted if w not in ann_tags and not w.endswith("/*"))
        if missing:
            raise InvalidAnalysis(
                f"annotate_vcf: the annotation VCF {describe(af)} defines no {', '.join(missing)}; columns must "
                "name tags it has (bcftools view -h shows them). Nothing was submitted."
            )
    else:
        missing = sorted(w for w in wanted if w not in known)
        if missing:
            raise InvalidAnalysis(
                f"annotate_vcf: {', '.join(missing)} is not defined in {describe(vf)}'s header; pass header_lines="
                f"['##INFO=<ID={missing[0].split('/')[-1]},Number=1,Type=String,Description=\"...\">'] "
                "describing it. Nothing was submitted."
            )
    vcf_index = find_index(vf, VCF_INDEXES) if not basename(vf).lower().endswith(".vcf") else None
    scatter: list[str] = []
    if regions is not None:
        scatter = [regions] if isinstance(regions, str) else list(regions)
        if not scatter or any(not isinstance(r, str) or not _REGION.match(r) for r in scatter):
            raise InvalidAnalysis(
                f"annotate_vcf: regions must be a list like ['chr1', 'chr2'], not {regions!r}. Nothing was submitted."
            )
        _refuse_overlaps(scatter, "annotate_vcf")
        if vcf_index is None:
            raise InvalidAnalysis(
                f"annotate_vcf: regions= needs the VCF indexed, and {describe(vf)} has no .tbi/.csi beside it; "
                f"bgzip it and run bcftools index on it, or leave out regions=. Nothing was submitted."
            )
    elif vcf_index is not None and (size_of(vf) or 0) > SCATTER_BYTES:
        scatter = indexed_names(vcf_index[0], vcf_header) or []
    job = default_job(job_definition)
    shared = dict(
        vcf=(for_cluster(vf), None if vcf_index is None else (for_cluster(vcf_index[0]), vcf_index[1])),
        annotations=(for_cluster(af), (for_cluster(ann_index[0]), ann_index[1])),
        columns=",".join(cols),
        header_lines=lines,
        output=target,
    )
    if len(scatter) <= 1 and regions is None:
        return ShortcutAnalysis(
            session=session,
            collect=_collect_output,
            function=_annotate_whole,
            input=None,
            input_shared=InputShared(**shared),
            job_definition=job,
            name="annotate_vcf",
        )
    parts = Analysis(
        function=_annotate_region,
        input=scatter,
        input_shared=InputShared(**shared),
        job_definition=job,
        name="annotate_vcf_regions",
    )
    return ShortcutAnalysis(
        session=session,
        collect=_collect_output,
        function=_concat,
        input={"parts": list(range(len(scatter)))},
        input_shared=InputShared(previous=parts.name, output=target),
        job_definition=job,
        depends_on=[parts],
        name="annotate_vcf",
    )
