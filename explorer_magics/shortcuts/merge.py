"""merge_vcfs: many VCF/BCFs into one multi-sample VCF, as a tree of ``bcftools merge``.

The tree keeps every ``bcftools merge`` under ``batch_size`` open files (and the process's
open-file limit): level 1 merges the inputs in groups of ``batch_size``, each next level merges
the previous level's results in groups of ``batch_size``, until one file per region is left;
a last step concatenates the regions. With indexed inputs every level is scattered by region
(each chromosome holding records, or ``regions=``), so regions merge in parallel. Every level
is one array analysis depending on the one before: the DAG runs with one ``.run()``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .. import records
from ..analysis import Analysis, AnalysisContext, InputShared, JobDefinition
from ..errors import InvalidAnalysis
from ..models import File
from ..session import Session
from ._common import (
    VCF_INDEXES,
    FileLike,
    ShortcutAnalysis,
    as_list,
    basename,
    default_job,
    describe,
    find_index,
    for_cluster,
    header_contigs,
    header_samples,
    indexed_names,
    localize,
    output_location,
    parallel,
    readable,
    require,
    run_tool,
    scratch,
    shared,
    to_file,
    upload_to,
    vcf_header_text,
)

__all__ = ["merge_vcfs"]

_REGION = re.compile(r"^[^\s:,]+(?::[0-9]+(?:-[0-9]+)?)?$")
MERGED = "merged.bcf"


def _vcf_kind(f: File, what: str) -> str:
    name = basename(f).lower()
    for ext in (".vcf.gz", ".vcf.bgz", ".bcf", ".vcf"):
        if name.endswith(ext):
            return ext
    raise InvalidAnalysis(
        f"{what}: {describe(f)} is not a .vcf, .vcf.gz or .bcf file; give VCF/BCF files. Nothing was submitted."
    )


def _merge_args(paths: Sequence[Path | str], region: str | None, indexed: bool, out: Path, tmp: Path) -> list[str]:
    if len(paths) == 1:
        args = ["bcftools", "view", "-Ob", "-o", str(out)]
        if region:
            args += ["-r", region, "--regions-overlap", "pos"]
        return args + [str(paths[0])]
    listing = tmp / "inputs.list"
    listing.write_text("".join(f"{p}\n" for p in paths))
    args = ["bcftools", "merge", "-Ob", "-o", str(out), "-l", str(listing)]
    if region:
        args += ["-r", region, "--regions-overlap", "pos"]
    if not indexed:
        args.append("--no-index")
    return args


def _keep_merged(ac: AnalysisContext, out: Path) -> None:
    """Index the merged BCF (written at its output path) and hand both back as outputs."""
    run_tool(["bcftools", "index", "-f", str(out)], what="bcftools index")
    ac.output.file(path_local=str(out) + ".csi", key=MERGED + ".csi")


def _merge_leaf(ac: AnalysisContext) -> None:
    """Level 1: merge a group of the user's inputs (in one region)."""
    region, group = ac.input
    out = ac.output.file(MERGED).as_local()
    indexed = all(ix is not None for _, ix in group)
    with scratch() as tmp:
        # one region of each input: read in place (or through a presigned URL), not downloaded
        paths = [readable(f, ix, tmp) if region else str(localize(f, ix, tmp)) for f, ix in group]
        run_tool(_merge_args(paths, region, indexed, out, tmp), what="bcftools merge")
    _keep_merged(ac, out)
    print(f"merged {len(paths)} file(s){' in ' + region if region else ''}")


def _previous(ac: AnalysisContext, indices: Sequence[int], tmp: Path) -> list[Path]:
    dep = ac.dependency(shared(ac).previous)
    paths = []
    for i in indices:
        out = dep.get_output(i)
        local = tmp / f"in-{i}.bcf"
        out.file(MERGED).download(path_local=str(local))
        out.file(MERGED + ".csi").download(path_local=str(local) + ".csi")
        paths.append(local)
    return paths


def _merge_node(ac: AnalysisContext) -> None:
    """Level 2 and up: merge a group of the previous level's results (one region)."""
    region, indices = ac.input
    out = ac.output.file(MERGED).as_local()
    with scratch() as tmp:
        paths = _previous(ac, indices, tmp)
        run_tool(_merge_args(paths, None, True, out, tmp), what="bcftools merge")
    _keep_merged(ac, out)
    print(f"merged {len(paths)} intermediate file(s){' in ' + region if region else ''}")


def _concat(ac: AnalysisContext) -> None:
    """The last step: the regions, in order, into the output VCF (bgzipped, indexed)."""
    indices = ac.input["parts"]  # a dict: a list input would make an array
    output = shared(ac).output
    bcf = output.endswith(".bcf")
    fmt = "-Ob" if bcf else "-Oz"
    suffix = ".csi" if bcf else ".tbi"
    with scratch() as tmp:
        paths = _previous(ac, indices, tmp)
        out = tmp / ("out.bcf" if bcf else "out.vcf.gz")
        if len(paths) == 1:
            run_tool(["bcftools", "view", fmt, "-o", str(out), str(paths[0])], what="bcftools view")
        else:
            run_tool(["bcftools", "concat", fmt, "-o", str(out), *map(str, paths)], what="bcftools concat")
        run_tool(["bcftools", "index", "-f", "--csi" if bcf else "--tbi", str(out)], what="bcftools index")
        upload_to(Path(str(out) + suffix), output + suffix)
        upload_to(out, output)
    ac.output.value(key="output", value=output)
    print(f"wrote {output} (+{suffix})")


def _collect_output(an: Analysis) -> File:
    return File(path_e=an.get_output().value("output"), session=an.session)


def merge_vcfs(
    vcfs: Sequence[FileLike],
    output: str,
    regions: Sequence[str] | None = None,
    batch_size: int = 200,
    *,
    job_definition: JobDefinition | None = None,
    session: Session | None = None,
) -> ShortcutAnalysis:
    """Merge VCF/BCFs (single- or multi-sample) into one bgzipped, indexed VCF at ``output``.

    ``output`` is an e:// file URI ending in ``.vcf.gz`` (``.tbi`` index) or ``.bcf`` (``.csi``).
    Samples appear in input order; a site missing from an input is ``./.`` for its samples;
    records at one position are joined as ``bcftools merge`` does by default. Inputs with
    ``.tbi``/``.csi`` indexes are merged per region (``regions=``, default: every chromosome
    holding records), unindexed ones in one stream (``--no-index``: same chromosome order
    needed). Returns the last analysis of the DAG; ``.run()`` runs all of it and ``.result()``
    gives the output ``File``.
    """
    items = as_list(vcfs, "merge_vcfs: vcfs")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise InvalidAnalysis(f"merge_vcfs: batch_size must be a whole number >= 2, not {batch_size!r}.")
    target = output_location(output, folder=False, what="merge_vcfs: output", session=session)
    if not target.endswith((".vcf.gz", ".bcf")):
        raise InvalidAnalysis(
            f"merge_vcfs: output {output!r} must end in .vcf.gz (bgzipped VCF) or .bcf. Nothing was submitted."
        )
    files = [to_file(v, f"merge_vcfs: vcfs[{i}]", session=session) for i, v in enumerate(items)]
    if len(files) < 2:
        raise InvalidAnalysis("merge_vcfs: give at least two VCFs to merge. Nothing was submitted.")
    kinds = [_vcf_kind(f, "merge_vcfs") for f in files]
    require(files, "merge_vcfs")
    # the sample sets: bcftools merge needs every sample name once
    owner: dict[str, int] = {}
    headers = parallel(vcf_header_text, files)
    for i, (f, header) in enumerate(zip(files, headers, strict=True)):
        samples = header_samples(header)
        if not samples:
            raise InvalidAnalysis(
                f"merge_vcfs: {describe(f)} has no samples (a sites-only VCF); merging is for genotypes. "
                "Leave it out, or use bcftools annotate to add its sites' information. Nothing was submitted."
            )
        for s in samples:
            if s in owner:
                raise InvalidAnalysis(
                    f"merge_vcfs: sample {s!r} is in both {describe(files[owner[s]])} and {describe(f)}; a merged "
                    "VCF holds each sample once. Rename one (bcftools reheader --samples) or leave one file out. "
                    "Nothing was submitted."
                )
            owner[s] = i
    indexes = parallel(
        lambda fk: find_index(fk[0], VCF_INDEXES) if fk[1] != ".vcf" else None, list(zip(files, kinds, strict=True))
    )
    indexed = all(ix is not None for ix in indexes)
    scatter: list[str | None]
    if regions is not None:
        regions = [regions] if isinstance(regions, str) else list(regions)
        bad = [r for r in regions if not isinstance(r, str) or not _REGION.match(r)]
        if not regions or bad:
            raise InvalidAnalysis(
                f"merge_vcfs: regions must be a list like ['chr1', 'chr2:1-5000000'], not {regions!r}. "
                "Nothing was submitted."
            )
        if not indexed:
            first = files[indexes.index(None)]
            raise InvalidAnalysis(
                f"merge_vcfs: regions= needs every input indexed, and {describe(first)} has no .tbi/.csi beside it "
                f"(a plain .vcf cannot be). Index it (bgzip + bcftools index), or leave out regions=. "
                "Nothing was submitted."
            )
        _refuse_overlaps(regions)
        scatter = list(regions)
    elif indexed:
        scatter = list(_contigs_with_records(files, indexes, headers))
    else:
        scatter = [None]
    groups = [list(range(k, min(k + batch_size, len(files)))) for k in range(0, len(files), batch_size)]
    if len(groups) * len(scatter) > records.MAX_ARRAY_SIZE:
        raise InvalidAnalysis(
            f"merge_vcfs: {len(groups)} groups x {len(scatter)} regions is more than "
            f"{records.MAX_ARRAY_SIZE} elements; raise batch_size or pass fewer regions=. Nothing was submitted."
        )
    cluster = [
        (for_cluster(f), None if ix is None else (for_cluster(ix[0]), ix[1]))
        for f, ix in zip(files, indexes, strict=True)
    ]
    job = default_job(job_definition)
    leaf_inputs = [(region, [cluster[i] for i in group]) for region in scatter for group in groups]
    level = 1
    current: Analysis = Analysis(
        function=_merge_leaf, input=leaf_inputs, job_definition=job, name=f"merge_vcfs_level{level}"
    )
    # per region, the indices of the current level's elements that hold it
    holding = {r: [ri * len(groups) + g for g in range(len(groups))] for ri, r in enumerate(scatter)}
    while any(len(v) > 1 for v in holding.values()):
        level += 1
        node_inputs: list[tuple[str | None, list[int]]] = []
        nxt: dict[str | None, list[int]] = {}
        for region in scatter:
            idx = holding[region]
            for k in range(0, len(idx), batch_size):
                nxt.setdefault(region, []).append(len(node_inputs))
                node_inputs.append((region, idx[k : k + batch_size]))
        current = Analysis(
            function=_merge_node,
            input=node_inputs,
            input_shared=InputShared(previous=current.name),
            job_definition=job,
            depends_on=[current],
            name=f"merge_vcfs_level{level}",
        )
        holding = nxt
    return ShortcutAnalysis(
        session=session,
        collect=_collect_output,
        function=_concat,
        input={"parts": [holding[r][0] for r in scatter]},
        input_shared=InputShared(previous=current.name, output=target),
        job_definition=job,
        depends_on=[current],
        name="merge_vcfs",
    )


def _contigs_with_records(
    files: Sequence[File], indexes: Sequence[tuple[File, str] | None], headers: Sequence[str]
) -> list[str | None]:
    """Chromosomes to scatter over: those the inputs' indexes say hold records, in the order of
    the headers' contig lines; every header contig when an index cannot be read."""
    order: list[str] = []
    for h in headers:
        for c in header_contigs(h):
            if c not in order:
                order.append(c)
    found = parallel(
        lambda pair: indexed_names(pair[0][0], pair[1]) if pair[0] is not None else None,
        list(zip(indexes, headers, strict=True)),
    )
    if any(names is None for names in found):
        return list(order) or [None]
    seen = {n for names in found for n in names}
    ordered = [c for c in order if c in seen] + sorted(seen - set(order))
    return list(ordered) or [None]


def _refuse_overlaps(regions: Sequence[str], what: str = "merge_vcfs") -> None:
    """Regions are concatenated: one that overlaps another would give its records twice."""
    spans: dict[str, list[tuple[int, int, str]]] = {}
    for r in regions:
        chrom, _, rest = r.partition(":")
        start, _, end = rest.partition("-")
        lo = int(start) if start else 1
        hi = int(end) if end else (lo if start else 2**62)
        spans.setdefault(chrom, []).append((lo, hi, r))
    for chrom_spans in spans.values():
        chrom_spans.sort()
        for (_, hi, a), (lo, _, b) in zip(chrom_spans, chrom_spans[1:], strict=False):
            if lo <= hi:
                raise InvalidAnalysis(
                    f"{what}: regions {a!r} and {b!r} overlap, so records in both would be written twice; "
                    "give regions that do not overlap. Nothing was submitted."
                )
