"""genotype_concordance (truth vs query, per sample) and vcf_stats (``bcftools stats`` per input)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..analysis import Analysis, AnalysisContext, InputShared, JobDefinition
from ..errors import InvalidAnalysis
from ..session import Session
from ._common import (
    FileLike,
    ShortcutAnalysis,
    as_list,
    default_job,
    describe,
    element_values,
    for_cluster,
    readable,
    require,
    run_tool,
    samples_in,
    scratch,
    shared,
    table,
    to_file,
    unique_labels,
)

__all__ = ["CLASSES", "compare_genotypes", "genotype_concordance", "vcf_stats"]

#: genotype classes of a biallelic site, by the number of ALT alleles
CLASSES = ("hom_ref", "het", "hom_alt")


def _genotype_class(gt: str) -> str | None:
    """``hom_ref``/``het``/``hom_alt`` of a biallelic genotype (phased or not), None if missing."""
    alleles = gt.replace("|", "/").split("/")
    if not alleles or any(a not in ("0", "1") for a in alleles):
        return None  # missing ('.', './.', half-missing) or not a 0/1 allele
    alts = sum(a == "1" for a in alleles)
    if alts == 0:
        return "hom_ref"
    return "hom_alt" if alts == len(alleles) else "het"


def _sites(query_output: str, samples: Sequence[str]) -> dict[str, dict[tuple[str, str, str, str], str]]:
    """Per sample, (CHROM, POS, REF, ALT) -> genotype class, for biallelic sites with a called
    genotype, from ``bcftools query -f '%CHROM\\t%POS\\t%REF\\t%ALT[\\t%GT]'`` output."""
    out: dict[str, dict[tuple[str, str, str, str], str]] = {s: {} for s in samples}
    width = 4 + len(samples)
    for line in query_output.splitlines():
        parts = line.split("\t")
        if len(parts) != width:
            continue
        chrom, pos, ref, alt = parts[:4]
        if "," in alt or alt in (".", "*", "<*>", "<NON_REF>"):
            continue  # multi-allelic or no ALT: not compared
        key = (chrom, pos, ref, alt)
        for sample, gt in zip(samples, parts[4:], strict=True):
            sites = out[sample]
            if key in sites:
                continue
            cls = _genotype_class(gt)
            if cls is not None:
                sites[key] = cls
    return out


def compare_genotypes(
    truth: dict[tuple[str, str, str, str], str], query: dict[tuple[str, str, str, str], str]
) -> dict[str, Any]:
    """The concordance row of two site -> class maps (sites in both)."""
    tab = {t: {q: 0 for q in CLASSES} for t in CLASSES}
    compared = concordant = nonref = nonref_ok = 0
    for key, t in truth.items():
        q = query.get(key)
        if q is None:
            continue
        compared += 1
        tab[t][q] += 1
        same = t == q
        concordant += same
        if t != "hom_ref" or q != "hom_ref":
            nonref += 1
            nonref_ok += same
    return {
        "sites_compared": compared,
        "concordant": concordant,
        "concordance": concordant / compared if compared else None,
        "nonref_sites": nonref,
        "nonref_concordance": nonref_ok / nonref if nonref else None,
        "table": tab,
    }


def _read_sites(path: Any, samples: Sequence[str]) -> dict[str, dict[tuple[str, str, str, str], str]]:
    """The samples' site classes in one file (bcftools gives the columns in the file's order)."""
    wanted = set(samples)
    in_file = [
        s for s in run_tool(["bcftools", "query", "-l", str(path)], what="bcftools query -l").split() if s in wanted
    ]
    text = run_tool(
        ["bcftools", "query", "-s", ",".join(in_file), "-f", "%CHROM\\t%POS\\t%REF\\t%ALT[\\t%GT]\\n", str(path)],
        what="bcftools query",
    )
    return _sites(text, in_file)


def _concordance_element(ac: AnalysisContext) -> None:
    samples = ac.input
    sh = shared(ac)
    with scratch() as tmp:
        # read where they lie (local storage) or streamed from a presigned URL: no copy per element
        truth = _read_sites(readable(sh.truth, None, tmp), samples)
        query = _read_sites(readable(sh.query, None, tmp), samples)
    rows = []
    for sample in samples:
        row = {"sample": sample, **compare_genotypes(truth[sample], query[sample])}
        print(f"{sample}: {row['concordant']}/{row['sites_compared']} concordant")
        rows.append(row)
    ac.output.value(key="rows", value=rows)


def _collect_rows(an: Analysis) -> Any:
    return table([row for (rows,) in element_values(an, ("rows",)) for row in rows])


def genotype_concordance(
    truth: FileLike,
    query: FileLike,
    samples: Sequence[str] | None = None,
    *,
    samples_per_element: int = 1,
    job_definition: JobDefinition | None = None,
    session: Session | None = None,
) -> ShortcutAnalysis:
    """Genotype concordance of ``query`` against ``truth``, one element per sample (or per
    ``samples_per_element`` samples: each element reads both files once, so grouping samples
    makes a large cohort much cheaper).

    Samples: those in both files, or ``samples`` (each must be in both). Compared: biallelic
    sites (one ALT) present in both with the same CHROM, POS, REF and ALT, whose genotype is
    called in both (no ``.`` allele); phasing is ignored (``0|1`` equals ``1/0``); multi-allelic
    sites are left out. ``.result()`` gives one row per sample: ``sample``, ``sites_compared``,
    ``concordant`` (same class), ``concordance``, ``nonref_sites`` (either genotype not
    hom_ref), ``nonref_concordance``, and ``table`` (``{truth_class: {query_class: n}}`` over
    ``hom_ref``/``het``/``hom_alt``): a pandas DataFrame when pandas is installed, else a list
    of dicts. A fraction with nothing to count is None.
    """
    tf = to_file(truth, "genotype_concordance: truth", session=session)
    qf = to_file(query, "genotype_concordance: query", session=session)
    require([tf, qf], "genotype_concordance")
    in_truth = samples_in(tf, "truth")
    in_query = samples_in(qf, "query")
    if samples is None:
        chosen = [s for s in in_truth if s in set(in_query)]
        if not chosen:
            raise InvalidAnalysis(
                f"genotype_concordance: {describe(tf)} and {describe(qf)} share no sample name (truth has "
                f"{_few(in_truth)}, query has {_few(in_query)}); rename (bcftools reheader --samples) or pass "
                "matching files. Nothing was submitted."
            )
    else:
        chosen = [samples] if isinstance(samples, str) else [str(s) for s in samples]
        if not chosen:
            raise InvalidAnalysis("genotype_concordance: samples is empty; leave it out to compare every shared one.")
        for name, f, have in (("truth", tf, set(in_truth)), ("query", qf, set(in_query))):
            missing = [s for s in chosen if s not in have]
            if missing:
                raise InvalidAnalysis(
                    f"genotype_concordance: the {name} VCF {describe(f)} has no sample {_few(missing)}; it has "
                    f"{_few(sorted(have))}. Pass samples that are in both files (or leave samples out). "
                    "Nothing was submitted."
                )
    if isinstance(samples_per_element, bool) or not isinstance(samples_per_element, int) or samples_per_element < 1:
        raise InvalidAnalysis(f"genotype_concordance: samples_per_element must be >= 1, not {samples_per_element!r}.")
    if any("," in s for s in chosen):
        bad = next(s for s in chosen if "," in s)
        raise InvalidAnalysis(
            f"genotype_concordance: sample name {bad!r} has a comma, which bcftools cannot select; rename it "
            "(bcftools reheader --samples). Nothing was submitted."
        )
    unique = list(dict.fromkeys(chosen))
    groups = [unique[k : k + samples_per_element] for k in range(0, len(unique), samples_per_element)]
    return ShortcutAnalysis(
        session=session,
        collect=_collect_rows,
        function=_concordance_element,
        input=groups,
        input_shared=InputShared(truth=for_cluster(tf), query=for_cluster(qf)),
        job_definition=default_job(job_definition),
        name="genotype_concordance",
    )


def _few(names: Sequence[str]) -> str:
    if not names:
        return "no samples"
    shown = ", ".join(repr(n) for n in list(names)[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


# -- vcf_stats ------------------------------------------------------------------------------------
def _per_sample(text: str) -> list[dict[str, Any]]:
    """Per-sample rows of ``bcftools stats -s -`` output (its PSC and PSI lines)."""
    rows: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        f = line.split("\t")
        if f[0] == "PSC":
            # PSC id sample nRefHom nNonRefHom nHets nTransitions nTransversions nIndels depth
            #     nSingletons nHapRef nHapAlt nMissing  (ref/het/hom: SNPs only)
            ref_hom, alt_hom, het, ts, tv, indels = (int(x) for x in f[3:9])
            rows[f[2]] = {
                "sample": f[2],
                "snps": ts + tv,
                "indels": indels,
                "transitions": ts,
                "transversions": tv,
                "ts_tv": ts / tv if tv else None,
                "hom_ref": ref_hom,
                "het": het,
                "hom_alt": alt_hom,
                "het_hom_ratio": het / alt_hom if alt_hom else None,
                "indel_het": 0,
                "indel_hom_alt": 0,
                "missing": int(f[13]) if len(f) > 13 else 0,
            }
        elif f[0] == "PSI" and f[2] in rows:
            # PSI id sample in-frame out-frame n/a ratio nInsHets nDelHets nInsAltHoms nDelAltHoms
            rows[f[2]]["indel_het"] = int(f[7]) + int(f[8])
            rows[f[2]]["indel_hom_alt"] = int(f[9]) + int(f[10])
    return list(rows.values())


def _stats_element(ac: AnalysisContext) -> None:
    label, f = ac.input
    with scratch() as tmp:
        out = run_tool(["bcftools", "stats", "-s", "-", readable(f, None, tmp)], what="bcftools stats")
    rows = [{"input": label, **row} for row in _per_sample(out)]
    print(f"{label}: {len(rows)} sample(s)")
    ac.output.value(key="rows", value=rows)


def _collect_stats(an: Analysis) -> Any:
    return table([row for (rows,) in element_values(an, ("rows",)) for row in rows])


def vcf_stats(
    vcfs: Sequence[FileLike] | FileLike,
    *,
    labels: Sequence[str] | None = None,
    job_definition: JobDefinition | None = None,
    session: Session | None = None,
) -> ShortcutAnalysis:
    """``bcftools stats`` of each VCF/BCF (one element per input), per sample.

    ``.result()`` gives one row per input and sample: ``input`` (label), ``sample``, ``snps``
    (non-reference SNP genotypes), ``indels`` (non-reference indel genotypes), ``transitions``,
    ``transversions``, ``ts_tv``, ``hom_ref``/``het``/``hom_alt`` (SNP genotypes, as bcftools
    counts them), ``het_hom_ratio`` (het / hom_alt), ``indel_het``, ``indel_hom_alt``,
    ``missing`` (genotypes not called); a pandas DataFrame when pandas is installed, else a
    list of dicts.
    """
    files = [
        to_file(v, f"vcf_stats: vcfs[{i}]", session=session) for i, v in enumerate(as_list(vcfs, "vcf_stats: vcfs"))
    ]
    require(files, "vcf_stats")
    for f in files:
        samples_in(f, "vcf")  # a header must be there
    names = unique_labels(files, labels, "vcf_stats")
    return ShortcutAnalysis(
        session=session,
        collect=_collect_stats,
        function=_stats_element,
        input=[(n, for_cluster(f)) for n, f in zip(names, files, strict=True)],
        job_definition=default_job(job_definition),
        name="vcf_stats",
    )
