"""Explorer Shortcuts with the real tools (samtools, bcftools, tabix/bgzip) on data the tests make.

Every result is checked against a computation of the test's own: read depths and filtered
record counts from the SAM records it wrote (and ``samtools view -c`` with the same filter), the
merged VCF genotype by genotype against the inputs, concordance and per-sample statistics counted
in plain Python from the VCF text. The shortcuts run on the local cluster, and the same
shortcuts run on AWS Batch played on moto (the played containers of tests/batch_played.py).
"""

from __future__ import annotations

import gzip
import random
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from explorer_magics.analysis import Analysis
from explorer_magics.errors import AnalysisFailed, InvalidAnalysis, NotFound
from explorer_magics.job_manager import JobManager
from explorer_magics.models import File
from explorer_magics.shortcuts import (
    annotate_vcf,
    depth_at,
    filter_alignments,
    genotype_concordance,
    merge_vcfs,
    vcf_stats,
)

from .helpers import REPO

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("samtools", "bcftools", "tabix", "bgzip")),
    reason="samtools, bcftools and tabix are needed (`make test` apt-installs them)",
)

READ = 50
CONTIGS = {"chr1": 3000, "chr2": 2000}
EXCLUDED_BY_DEPTH = 0x4 | 0x100 | 0x200 | 0x400  # samtools depth's default filter


def sh(*args: Any, **kwargs: Any) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kwargs).stdout


# -- alignments the tests write ------------------------------------------------------------------
def write_reference(folder: Path) -> Path:
    rng = random.Random(1)
    fa = folder / "ref.fa"
    with open(fa, "w") as fh:
        for name, length in CONTIGS.items():
            seq = "".join(rng.choice("ACGT") for _ in range(length))
            fh.write(f">{name}\n" + "\n".join(seq[i : i + 60] for i in range(0, length, 60)) + "\n")
    sh("samtools", "faidx", fa)
    return fa


def reference_seq(fa: Path) -> dict[str, str]:
    seqs: dict[str, list[str]] = {}
    name = ""
    for line in fa.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:]
            seqs[name] = []
        else:
            seqs[name].append(line)
    return {k: "".join(v) for k, v in seqs.items()}


def write_alignment(folder: Path, name: str, fa: Path, seed: int, n: int = 400) -> tuple[Path, list[tuple]]:
    """A sorted, indexed BAM of ``n`` reads; returns it and its records (rname, pos, flag, mapq)."""
    rng = random.Random(seed)
    ref = reference_seq(fa)
    records = []
    lines = ["@HD\tVN:1.6\tSO:unsorted"] + [f"@SQ\tSN:{c}\tLN:{n_}" for c, n_ in CONTIGS.items()]
    for i in range(n):
        chrom = rng.choice(list(CONTIGS))
        pos = rng.randint(1, CONTIGS[chrom] - READ)
        flag = rng.choice([0, 16, 0, 16, 0x400, 0x100, 0x200, 0x800, 1 | 2 | 64, 1 | 2 | 128])
        mapq = rng.choice([0, 5, 20, 30, 60, 60])
        seq = ref[chrom][pos - 1 : pos - 1 + READ]
        records.append((chrom, pos, flag, mapq))
        mate = "=\t1\t0" if flag & 1 else "*\t0\t0"
        lines.append(f"r{i}\t{flag}\t{chrom}\t{pos}\t{mapq}\t{READ}M\t{mate}\t{seq}\t{'I' * READ}")
    sam = folder / f"{name}.sam"
    sam.write_text("\n".join(lines) + "\n")
    bam = folder / f"{name}.bam"
    sh("samtools", "sort", "-o", bam, sam)
    sh("samtools", "index", bam)
    return bam, records


def covering(records: Sequence[tuple], chrom: str, pos: int, exclude: int = EXCLUDED_BY_DEPTH) -> int:
    return sum(1 for c, p, flag, _ in records if c == chrom and p <= pos < p + READ and not flag & exclude)


@pytest.fixture(scope="module")
def alignments(tmp_path_factory):
    folder = tmp_path_factory.mktemp("alignments")
    fa = write_reference(folder)
    bams = [write_alignment(folder, f"S{i}", fa, seed=i) for i in range(4)]
    cram = folder / "S0c.cram"
    sh("samtools", "view", "-C", "-T", fa, "-o", cram, bams[0][0])
    sh("samtools", "index", cram)
    return {"ref": fa, "bams": bams, "cram": cram, "folder": folder}


# -- VCFs the tests write -------------------------------------------------------------------------
def vcf_text(samples: Sequence[str], records: Sequence[tuple], *, contigs=CONTIGS, info_defs: str = "") -> str:
    """records: (chrom, pos, ref, alt, [gt per sample]) or with a 6th item, INFO."""
    head = ["##fileformat=VCFv4.2"] + [f"##contig=<ID={c},length={n}>" for c, n in contigs.items()]
    head.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    if info_defs:
        head.append(info_defs)
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"] + (
        ["FORMAT", *samples] if samples else []
    )
    head.append("\t".join(columns))
    body = []
    for rec in sorted(records, key=lambda r: (list(contigs).index(r[0]), r[1])):
        chrom, pos, ref, alt, gts = rec[:5]
        info = rec[5] if len(rec) > 5 else "."
        fmt = ["GT", *gts] if samples else []
        body.append("\t".join([chrom, str(pos), ".", ref, alt, ".", "PASS", info, *fmt]))
    return "\n".join(head + body) + "\n"


def bgzip_index(paths: Sequence[Path]) -> list[Path]:
    """bgzip + tabix every plain VCF in ``paths`` (one shell for all of them)."""
    script = 'for f in "$@"; do bgzip -f "$f" && tabix -f -p vcf "$f.gz" || exit 1; done'
    subprocess.run(["bash", "-c", script, "bash", *map(str, paths)], check=True)
    return [Path(str(p) + ".gz") for p in paths]


def read_vcf(path: Path) -> tuple[list[str], list[list[str]]]:
    """(samples, data rows split on tabs) of a VCF, plain or bgzipped, in Python."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    samples: list[str] = []
    rows = []
    with opener(path, "rt") as fh:
        for line in fh:
            if line.startswith("##"):
                continue
            fields = line.rstrip("\n").split("\t")
            if line.startswith("#CHROM"):
                samples = fields[9:]
            else:
                rows.append(fields)
    return samples, rows


def alleles_of(row: list[str], gt: str) -> tuple[str, ...] | None:
    """A genotype as sorted allele strings (None when missing), from a VCF row."""
    alleles = [row[3], *row[4].split(",")]
    idx = gt.split(":")[0].replace("|", "/").split("/")
    if any(i == "." for i in idx):
        return None
    return tuple(sorted(alleles[int(i)] for i in idx))


def genotypes_by_site(path: Path) -> dict[tuple[str, int], dict[str, tuple[str, ...] | None]]:
    samples, rows = read_vcf(path)
    out: dict[tuple[str, int], dict[str, tuple[str, ...] | None]] = {}
    for row in rows:
        site = out.setdefault((row[0], int(row[1])), {})
        for s, gt in zip(samples, row[9:], strict=True):
            got = alleles_of(row, gt)
            if got is not None or s not in site:
                site[s] = got
    return out


def rows_of(result: Any) -> list[dict]:
    return result if isinstance(result, list) else result.to_dict("records")


def nothing_submitted() -> bool:
    return JobManager().list_jobs(since="1d") == []


# -- depth_at -------------------------------------------------------------------------------------
def test_depth_at_gives_each_alignments_depth_at_the_locus_as_samtools_counts_it(alignments):
    (b0, r0), (b1, r1), (b2, r2), (b3, r3) = alignments["bams"]
    # the locus with the most reads over it in the first BAM, so depths are not all zero
    pos = max(range(1, 2900), key=lambda p: covering(r0, "chr1", p))
    # inputs as a local path, a File, an e:// URI (uploaded with its index) and a CRAM
    File(path_local=str(b2), path_e="e://users/me/bams/S2.bam").upload()
    File(path_local=str(b2) + ".bai", path_e="e://users/me/bams/S2.bam.bai").upload()
    an = depth_at(
        [str(b0), File(path_local=str(b1)), "e://users/me/bams/S2.bam", alignments["cram"]],
        f"chr1:{pos:,}",
        reference=str(alignments["ref"]),
    )
    assert isinstance(an, Analysis) and an.id is None  # defined, not yet run
    depths = an.run().result(timeout=120)
    assert depths == {
        "S0": covering(r0, "chr1", pos),
        "S1": covering(r1, "chr1", pos),
        "S2": covering(r2, "chr1", pos),
        "S0c": covering(r0, "chr1", pos),
    }
    assert depths["S0"] > 3
    assert an.name == "depth_at" and an.size == 4


def test_depth_at_runs_here_with_run_local_and_takes_labels(alignments):
    (b0, r0), (b1, r1), *_ = alignments["bams"]
    depths = depth_at([b0, b1], "chr2:700", labels=["first", "second"]).run_local().result()
    assert depths == {"first": covering(r0, "chr2", 700), "second": covering(r1, "chr2", 700)}


# -- filter_alignments ----------------------------------------------------------------------------
def test_filter_alignments_writes_filtered_indexed_copies_that_samtools_counts_alike(alignments):
    bams = [b for b, _ in alignments["bams"][:3]]
    region = "chr1:500-2500"
    an = filter_alignments(bams, "e://users/me/filtered/", region=region, min_mapq=20, exclude_flags=0x400 | 0x4)
    result = an.run().result(timeout=120)
    assert sorted(result) == ["S0", "S1", "S2"]
    for (bam, recs), label in zip(alignments["bams"][:3], ["S0", "S1", "S2"], strict=False):
        out = result[label]
        assert out.path_e == f"e://users/me/filtered/{label}.bam"
        local = out.as_local()
        File(path_e=f"e://users/me/filtered/{label}.bam.bai").download(path_local=str(local) + ".bai")
        got = int(sh("samtools", "view", "-c", local))
        expected = int(sh("samtools", "view", "-c", "-q", "20", "-F", str(0x404), bam, region))
        # by hand: reads overlapping the region, MAPQ >= 20, neither duplicate nor unmapped
        by_hand = sum(
            1
            for c, p, flag, q in recs
            if c == "chr1" and p <= 2500 and p + READ - 1 >= 500 and q >= 20 and not flag & 0x404
        )
        assert got == expected == by_hand > 0
        assert int(sh("samtools", "view", "-c", local, "chr2")) == 0  # indexed: a region query works
    assert [an.get_output(i).value("records") for i in range(3)] == [
        int(sh("samtools", "view", "-c", result[k].as_local())) for k in ("S0", "S1", "S2")
    ]


def test_filter_alignments_without_region_keeps_a_cram_a_cram(alignments):
    result = (
        filter_alignments(
            [alignments["cram"]], "e://users/me/f2", include_flags=0x10, exclude_flags=0, reference=alignments["ref"]
        )
        .run()
        .result(timeout=120)
    )
    out = result["S0c"].as_local()
    assert out.name == "S0c.cram"
    recs = alignments["bams"][0][1]
    assert int(sh("samtools", "view", "-c", "-T", alignments["ref"], out)) == sum(1 for r in recs if r[2] & 0x10)
    assert File(path_e="e://users/me/f2/S0c.cram.crai").as_local().stat().st_size > 0


# -- merge_vcfs -----------------------------------------------------------------------------------
SITES = [("chr1", p, "C", ("T", "G")) for p in range(100, 1100, 50)] + [
    ("chr2", p, "A", ("G", "C")) for p in range(100, 600, 50)
]
INDELS = [("chr1", 1333, "CA", ("C",)), ("chr2", 777, "G", ("GTT",))]


def random_cohort(folder: Path, n: int, seed: int) -> list[Path]:
    """``n`` single-sample VCFs: random sites of SITES/INDELS, a random ALT each (so merging makes
    multi-allelic records), some multi-allelic records (1/2), missing and phased genotypes."""
    rng = random.Random(seed)
    paths = []
    for i in range(n):
        recs = []
        for chrom, pos, ref, alts in SITES + INDELS:
            if rng.random() < 0.5:
                continue
            if len(alts) == 2 and rng.random() < 0.1:
                recs.append((chrom, pos, ref, ",".join(alts), [rng.choice(["1/2", "0/2", "2|1"])]))
            else:
                alt = rng.choice(alts)
                recs.append((chrom, pos, ref, alt, [rng.choice(["0/0", "0/1", "1/1", "./.", "0|1", "1|0", "."])]))
        path = folder / f"s{i:04d}.vcf"
        path.write_text(vcf_text([f"SAMPLE{i:04d}"], recs))
        paths.append(path)
    return paths


def assert_merged_genotypes_equal_inputs(merged: Path, inputs: Sequence[Path]) -> None:
    samples, _ = read_vcf(merged)
    expected_samples = [s for p in inputs for s in read_vcf(p)[0]]
    assert samples == expected_samples  # every sample once, in input order
    got = genotypes_by_site(merged)
    want: dict[tuple[str, int], dict[str, tuple[str, ...] | None]] = {}
    for p in inputs:
        for site, gts in genotypes_by_site(p).items():
            want.setdefault(site, {}).update(gts)
    assert set(got) == set(want)  # every site of every input, no other
    for site, by_sample in got.items():
        for s in samples:
            assert by_sample.get(s) == want[site].get(s), (site, s)  # absent from an input: missing


def test_merge_vcfs_of_500_inputs_is_a_tree_of_merges_scattered_by_chromosome(tmp_path):
    plain = random_cohort(tmp_path, 500, seed=7)
    vcfs = bgzip_index(plain)
    final = merge_vcfs(vcfs, "e://users/me/cohort/merged.vcf.gz", batch_size=100)
    # the DAG: 5 groups x 2 chromosomes, then 2 (one per chromosome), then the concatenation
    level2 = final.depends_on[0]
    level1 = level2.depends_on[0]
    assert (level1.name, level1.size) == ("merge_vcfs_level1", 10)
    assert (level2.name, level2.size) == ("merge_vcfs_level2", 2)
    assert final.name == "merge_vcfs" and level1.depends_on == []
    out = final.run().result(timeout=240)  # one run() submits all three
    assert all(a.status()["status"] == "SUCCEEDED" for a in (level1, level2, final))
    assert out.path_e == "e://users/me/cohort/merged.vcf.gz"
    merged = out.as_local()
    File(path_e="e://users/me/cohort/merged.vcf.gz.tbi").download(path_local=str(merged) + ".tbi")
    assert sh("tabix", "-l", merged).split() == ["chr1", "chr2"]
    assert_merged_genotypes_equal_inputs(merged, vcfs)
    # multi-allelic records were made and kept
    assert any("," in row[4] for row in read_vcf(merged)[1])


def test_merge_vcfs_runs_here_with_run_local_and_leaves_nothing_in_the_current_folder(tmp_path, monkeypatch):
    inputs = tmp_path / "in"
    inputs.mkdir()
    plain = random_cohort(inputs, 5, seed=9)
    here = tmp_path / "notebook-folder"
    here.mkdir()
    monkeypatch.chdir(here)
    out = merge_vcfs(plain, "e://users/me/local.vcf.gz", batch_size=2).run_local().result()
    assert_merged_genotypes_equal_inputs(out.as_local(), plain)
    assert list(here.iterdir()) == []


def test_merge_vcfs_of_unindexed_vcfs_merges_in_one_stream(tmp_path):
    plain = random_cohort(tmp_path, 7, seed=3)
    final = merge_vcfs(plain, "e://users/me/m.bcf", batch_size=3)
    assert final.depends_on[0].depends_on[0].size == 3  # 3 groups, no scatter
    out = final.run().result(timeout=120)
    local = out.as_local()
    text = tmp_path / "m.vcf"
    text.write_text(sh("bcftools", "view", local))
    assert_merged_genotypes_equal_inputs(text, plain)


def test_merge_vcfs_scatters_over_the_regions_asked_for(tmp_path):
    plain = random_cohort(tmp_path, 5, seed=11)
    vcfs = bgzip_index(plain)
    final = merge_vcfs(vcfs, "e://users/me/r.vcf.gz", regions=["chr1:1-600", "chr1:601-3000", "chr2"], batch_size=4)
    assert final.depends_on[0].depends_on[0].size == 6  # 2 groups x 3 regions
    out = final.run().result(timeout=120).as_local()
    assert_merged_genotypes_equal_inputs(out, vcfs)


def test_merge_vcfs_of_bcfs_with_csi_indexes_scatters_over_the_chromosomes_holding_records(tmp_path):
    plain = random_cohort(tmp_path, 4, seed=5)
    bcfs = []
    for p in plain:  # a header contig without records (chr3) is not a region of its own
        p.write_text(p.read_text().replace("##contig=<ID=chr2", "##contig=<ID=chr3,length=500>\n##contig=<ID=chr2"))
        bcf = p.with_suffix(".bcf")
        sh("bcftools", "view", "-Ob", "-o", bcf, p)
        sh("bcftools", "index", bcf)  # a .csi
        bcfs.append(bcf)
    final = merge_vcfs(bcfs, "e://users/me/bcf.vcf.gz", batch_size=2)
    level1 = final.depends_on[0].depends_on[0]
    assert level1.size == 4  # 2 groups x chr1, chr2
    assert [region for region, _ in level1.input[::2]] == ["chr1", "chr2"]
    assert_merged_genotypes_equal_inputs(final.run().result(timeout=120).as_local(), plain)


# -- annotate_vcf ---------------------------------------------------------------------------------
def test_annotate_vcf_from_a_tsv_and_from_a_vcf_per_region(tmp_path):
    rng = random.Random(5)
    recs = [(c, p, r, a[0], [rng.choice(["0/1", "1/1"])]) for c, p, r, a in SITES]
    (target,) = bgzip_index([_write(tmp_path / "t.vcf", vcf_text(["X"], recs))])
    scores = {(c, p): round(rng.random(), 3) for c, p, _, _ in SITES[::2]}
    tsv = tmp_path / "scores.tsv"
    tsv.write_text(
        "".join(f"{c}\t{p}\t{s}\n" for (c, p), s in sorted(scores.items(), key=lambda x: (x[0][0], x[0][1])))
    )
    sh("bgzip", "-f", tsv)
    sh("tabix", "-s1", "-b2", "-e2", f"{tsv}.gz")
    header = '##INFO=<ID=SCORE,Number=1,Type=Float,Description="test score">'
    out = annotate_vcf(
        target, f"{tsv}.gz", ["CHROM", "POS", "INFO/SCORE"], "e://users/me/ann/a.vcf.gz", header_lines=[header]
    )
    assert out.depends_on == []  # a small VCF: one element
    got = {(r[0], int(r[1])): r[7] for r in read_vcf(out.run().result(timeout=120).as_local())[1]}
    assert got == {(c, p): (f"SCORE={scores[(c, p)]:g}" if (c, p) in scores else ".") for c, p, _, _ in SITES}

    # from an annotation VCF, one element per region, then concatenated
    af = {(c, p): rng.randint(1, 99) for c, p, _, _ in SITES}
    ann_recs = [(c, p, r, a[0], [], f"AF=0.{af[(c, p)]:02d}") for c, p, r, a in SITES]
    info = '##INFO=<ID=AF,Number=A,Type=Float,Description="allele frequency">'
    (ann,) = bgzip_index([_write(tmp_path / "ann.vcf", vcf_text([], ann_recs, info_defs=info))])
    an = annotate_vcf(target, ann, "INFO/AF", "e://users/me/ann/b.vcf.gz", regions=["chr1", "chr2"])
    assert an.depends_on[0].size == 2
    rows = read_vcf(an.run().result(timeout=120).as_local())[1]
    assert {(r[0], int(r[1])): float(r[7].split("=")[1]) for r in rows} == {k: v / 100 for k, v in af.items()}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- genotype_concordance -------------------------------------------------------------------------
def concordance_by_hand(truth: Path, query: Path, sample: str) -> dict:
    """The concordance row, counted from the VCF text the plain way."""

    def load(path: Path) -> dict:
        samples, rows = read_vcf(path)
        col = 9 + samples.index(sample)
        out = {}
        for row in rows:
            if "," in row[4]:
                continue
            gt = row[col].replace("|", "/")
            if "." in gt:
                continue
            out.setdefault(
                (row[0], row[1], row[3], row[4]), {"0/0": "hom_ref", "0/1": "het", "1/0": "het"}.get(gt, "hom_alt")
            )
        return out

    t, q = load(truth), load(query)
    table = {a: {b: 0 for b in ("hom_ref", "het", "hom_alt")} for a in ("hom_ref", "het", "hom_alt")}
    for key in t.keys() & q.keys():
        table[t[key]][q[key]] += 1
    compared = sum(sum(r.values()) for r in table.values())
    same = sum(table[c][c] for c in table)
    nonref = compared - table["hom_ref"]["hom_ref"]
    return {
        "sample": sample,
        "sites_compared": compared,
        "concordant": same,
        "concordance": same / compared if compared else None,
        "nonref_sites": nonref,
        "nonref_concordance": (same - table["hom_ref"]["hom_ref"]) / nonref if nonref else None,
        "table": table,
    }


def test_genotype_concordance_matches_a_count_in_plain_python(tmp_path):
    rng = random.Random(13)
    samples = ["A", "B", "C", "D"]
    gts = ["0/0", "0/1", "1/0", "0|1", "1|0", "1/1", "1|1", "./.", ".", "./1"]
    truth_recs, query_recs = [], []
    for chrom, pos, ref, alts in SITES:
        multi = rng.random() < 0.15
        alt = ",".join(alts) if multi else alts[0]
        pick = (lambda: rng.choice(gts + ["1/2"])) if multi else (lambda: rng.choice(gts))
        if rng.random() < 0.9:
            truth_recs.append((chrom, pos, ref, alt, [pick() for _ in samples]))
        if rng.random() < 0.9:
            # sometimes a different ALT in the query: not the same site
            qalt = alts[1] if not multi and rng.random() < 0.1 else alt
            query_recs.append((chrom, pos, ref, qalt, [pick() for _ in samples[:3]] + [pick()]))
    truth = _write(tmp_path / "truth.vcf", vcf_text(samples, truth_recs))
    # the query has the samples in another order, one more sample, and is bgzipped
    qsamples = ["C", "A", "B", "D", "E"]
    reordered = [(c, p, r, a, [g[samples.index(s)] for s in qsamples[:4]] + ["0/1"]) for c, p, r, a, g in query_recs]
    (query,) = bgzip_index([_write(tmp_path / "query.vcf", vcf_text(qsamples, reordered))])
    result = genotype_concordance(truth, query).run().result(timeout=120)
    rows = rows_of(result)
    assert [r["sample"] for r in rows] == samples  # the shared samples, in the truth's order
    for row in rows:
        assert row == concordance_by_hand(truth, query, row["sample"])
    assert any(r["sites_compared"] < len(SITES) for r in rows)  # missing and multi-allelic were left out
    assert sum(r["table"]["het"]["het"] for r in rows) > 0

    only = rows_of(genotype_concordance(truth, query, samples=["B"]).run().result(timeout=60))
    assert [r["sample"] for r in only] == ["B"]
    # samples asked in another order than the files', several per element: the same rows
    grouped = genotype_concordance(truth, query, samples=["D", "B", "A"], samples_per_element=2)
    assert grouped.size == 2
    by_sample = {r["sample"]: r for r in rows}
    assert rows_of(grouped.run().result(timeout=60)) == [by_sample[s] for s in ("D", "B", "A")]


# -- vcf_stats ------------------------------------------------------------------------------------
def stats_by_hand(path: Path) -> list[dict]:
    """Per-sample counts from the VCF text: genotype classes of SNPs and of indels apart."""
    transitions = {frozenset("AG"), frozenset("CT")}
    samples, rows = read_vcf(path)
    out = []
    for k, s in enumerate(samples):
        c = dict.fromkeys(("snps", "indels", "transitions", "transversions", "hom_ref", "het", "hom_alt"), 0)
        c.update(indel_het=0, indel_hom_alt=0, missing=0)
        for row in rows:
            gt = row[9 + k].replace("|", "/").split("/")
            snp = all(len(a) == 1 for a in [row[3], *row[4].split(",")])
            if "." in gt:
                c["missing"] += 1
                continue
            alts = [a for a in gt if a != "0"]
            if not alts:
                c["hom_ref"] += 1  # bcftools counts ref-hom genotypes at every site
                continue
            kind = "het" if len(set(gt)) > 1 else "hom_alt"
            alt = row[4].split(",")[int(alts[0]) - 1]
            if snp:
                c[kind] += 1
                c["snps"] += 1
                c["transitions" if frozenset(row[3] + alt) in transitions else "transversions"] += 1
            else:
                c["indel_" + kind] += 1
                c["indels"] += 1
        out.append({"sample": s, **c})
    return out


def test_vcf_stats_counts_per_sample_as_the_vcf_text_says(tmp_path):
    rng = random.Random(17)
    genotypes = ["0/0", "0/1", "1/1", "./.", "1|0"]
    recs = [(c, p, r, rng.choice(a), [rng.choice(genotypes) for _ in range(3)]) for c, p, r, a in SITES]
    recs += [(c, p, r, a[0], [rng.choice(["0/1", "1/1", "0/0"]) for _ in range(3)]) for c, p, r, a in INDELS]
    one = _write(tmp_path / "one.vcf", vcf_text(["P", "Q", "R"], recs))
    (two,) = bgzip_index([_write(tmp_path / "two.vcf", vcf_text(["P", "Q", "R"], recs[::2]))])
    rows = rows_of(vcf_stats([one, two]).run().result(timeout=120))
    assert [(r["input"], r["sample"]) for r in rows] == [(x, s) for x in ("one", "two") for s in "PQR"]
    for label, path in (("one", one), ("two", two)):
        assert sum(w["transversions"] for w in stats_by_hand(path)) > 0
        for want in stats_by_hand(path):
            got = next(r for r in rows if r["input"] == label and r["sample"] == want["sample"])
            assert {k: got[k] for k in want} == want
            assert got["ts_tv"] == (want["transitions"] / want["transversions"] if want["transversions"] else None)
            assert got["het_hom_ratio"] == (want["het"] / want["hom_alt"] if want["hom_alt"] else None)


# -- bad input is refused before anything is submitted -------------------------------------------
def _vcfs(tmp_path: Path) -> dict[str, Path]:
    a = _write(tmp_path / "a.vcf", vcf_text(["A", "B"], [("chr1", 100, "C", "T", ["0/1", "1/1"])]))
    b = _write(tmp_path / "b.vcf", vcf_text(["B", "C"], [("chr1", 100, "C", "T", ["0/1", "0/0"])]))
    sites = _write(tmp_path / "sites.vcf", vcf_text([], [("chr1", 100, "C", "T", [])]))
    c = _write(tmp_path / "c.vcf", vcf_text(["C2"], [("chr1", 100, "C", "T", ["0/1"])]))
    copies = [_write(tmp_path / f"i{p.name}", p.read_text()) for p in (a, c)]
    return {"a": a, "b": b, "c": c, "sites": sites, "indexed": bgzip_index(copies)}


def test_bad_input_is_refused_with_what_to_do_and_nothing_is_submitted(alignments, tmp_path):
    bam = alignments["bams"][0][0]
    unindexed = tmp_path / "noindex.bam"
    shutil.copy(bam, unindexed)
    v = _vcfs(tmp_path)
    cases = [
        # a missing file, for every shortcut
        (NotFound, "does not exist", lambda: depth_at([bam, "e://users/me/nope.bam"], "chr1:5")),
        (NotFound, "there is no file", lambda: depth_at([tmp_path / "nope.bam"], "chr1:5")),
        (NotFound, "does not exist", lambda: filter_alignments(["e://users/me/x.bam"], "e://users/me/o/")),
        (
            NotFound,
            "does not exist",
            lambda: merge_vcfs([v["a"], "e://users/me/missing.vcf.gz"], "e://users/me/m.vcf.gz"),
        ),
        (
            NotFound,
            "does not exist",
            lambda: annotate_vcf(v["a"], "e://org/ann.vcf.gz", "INFO/AF", "e://users/me/x.vcf.gz"),
        ),
        (NotFound, "does not exist", lambda: genotype_concordance(v["a"], "e://users/me/q.vcf.gz")),
        (NotFound, "does not exist", lambda: vcf_stats(["e://users/me/q.vcf.gz"])),
        # an unindexed BAM with a region
        (InvalidAnalysis, "samtools index noindex.bam", lambda: depth_at([unindexed], "chr1:100")),
        (InvalidAnalysis, "has no index", lambda: filter_alignments([unindexed], "e://users/me/o/", region="chr1")),
        # a CRAM without its reference
        (InvalidAnalysis, "pass reference=", lambda: depth_at([alignments["cram"]], "chr1:100")),
        # a VCF without the samples asked for
        (InvalidAnalysis, "has no sample 'Z'", lambda: genotype_concordance(v["a"], v["b"], samples=["B", "Z"])),
        (InvalidAnalysis, "query VCF", lambda: genotype_concordance(v["a"], v["b"], samples=["A"])),
        (InvalidAnalysis, "share no sample", lambda: genotype_concordance(v["a"], v["sites"])),
        # sample sets that cannot be merged
        (InvalidAnalysis, "sample 'B' is in both", lambda: merge_vcfs([v["a"], v["b"]], "e://users/me/m.vcf.gz")),
        (InvalidAnalysis, "sites-only", lambda: merge_vcfs([v["a"], v["sites"]], "e://users/me/m.vcf.gz")),
        (
            InvalidAnalysis,
            "needs every input indexed",
            lambda: merge_vcfs([v["a"], v["c"]], "e://users/me/m.vcf.gz", regions=["chr1"]),
        ),
        (
            InvalidAnalysis,
            "overlap",
            lambda: merge_vcfs(v["indexed"], "e://users/me/m.vcf.gz", regions=["chr1:1-500", "chr1:400-900"]),
        ),
        # outputs that are not yours to write, or not EOS
        (InvalidAnalysis, "read-only", lambda: filter_alignments([bam], "e://public/out/")),
        (InvalidAnalysis, "give an e:// URI", lambda: merge_vcfs([v["a"], v["b"]], "/tmp/m.vcf.gz")),
        (InvalidAnalysis, "must end in .vcf.gz", lambda: merge_vcfs([v["a"], v["b"]], "e://users/me/m.txt")),
        # a position that is not one
        (InvalidAnalysis, "one position", lambda: depth_at([bam], "chr1:100-200")),
        # a TSV annotation bringing a tag nobody defines
        (InvalidAnalysis, "pass header_lines=", lambda: _annotate_undefined(tmp_path, v["a"])),
    ]
    for error, words, call in cases:
        with pytest.raises(error) as info:
            call()
        assert words in str(info.value), (words, str(info.value))
    assert nothing_submitted()


def _annotate_undefined(tmp_path: Path, vcf: Path) -> Any:
    tsv = tmp_path / "x.tsv"
    tsv.write_text("chr1\t100\t0.5\n")
    sh("bgzip", "-f", tsv)
    sh("tabix", "-f", "-s1", "-b2", "-e2", f"{tsv}.gz")
    return annotate_vcf(vcf, f"{tsv}.gz", "CHROM,POS,INFO/NEWTAG", "e://users/me/x.vcf.gz")


# -- tool failures are the element's reason -------------------------------------------------------
def test_a_tool_failure_is_the_elements_reason_with_the_tools_stderr(alignments, tmp_path):
    bam = alignments["bams"][0][0]
    broken = tmp_path / "broken.bam"
    broken.write_bytes(b"this is not a BAM file at all\n" * 10)
    shutil.copy(str(bam) + ".bai", str(broken) + ".bai")
    an = depth_at([bam, broken], "chr1:100").run()
    with pytest.raises(AnalysisFailed) as info:
        an.result(timeout=120)
    reason = an.status(1)["reason"]
    assert reason.startswith("ToolFailed: samtools depth failed (exit 1): ")
    assert "broken.bam" in reason  # samtools's own words about the file
    assert reason in str(info.value) and "element 1" in str(info.value)
    assert {k: v for k, v in an.status(0).items() if k in ("status", "reason")} == {"status": "SUCCEEDED"}


def test_a_failure_deep_in_the_merge_tree_is_reported_by_result(tmp_path):
    plain = random_cohort(tmp_path, 4, seed=2)
    # a file with a good header and a broken body: the header check passes, bcftools fails
    plain[2].write_text(plain[2].read_text() + "chr1\tnot-a-position\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\n")
    final = merge_vcfs(plain, "e://users/me/bad.vcf.gz", batch_size=2).run()
    with pytest.raises(AnalysisFailed) as info:
        final.result(timeout=120)
    text = str(info.value)
    assert "merge_vcfs_level1" in text and "bcftools merge failed" in text
    assert not _eos_exists("e://users/me/bad.vcf.gz")  # nothing half-written


def _eos_exists(uri: str) -> bool:
    from explorer_magics.shortcuts._common import exists

    return exists(File(path_e=uri))


# -- the same shortcuts on AWS Batch (moto, played containers) ------------------------------------
@pytest.mark.aws
@pytest.mark.slow
def test_every_shortcut_runs_on_batch_through_played_containers(alignments, tmp_path, played):
    """``played`` (tests/batch_played.py): AWS Batch on moto, each container played by a process."""

    def run_dag(an: Analysis) -> Any:
        an.run()
        order = []
        node: Analysis | None = an
        while node is not None:
            order.append(node)
            node = node.depends_on[0] if node.depends_on else None
        for step in reversed(order):  # Batch starts a dependent when its dependencies succeeded
            assert set(played.run(step).values()) == {0}, step.elements()
        return an.result(timeout=60)

    (b0, r0), (b1, r1), *_ = alignments["bams"]
    # an alignment in another bucket (s3://, read with the user's credentials), next to a local path
    import boto3

    s3 = boto3.client("s3", endpoint_url=played.endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="other-lab")
    s3.upload_file(str(b1), "other-lab", "bams/S1.bam")
    s3.upload_file(str(b1) + ".bai", "other-lab", "bams/S1.bam.bai")
    assert run_dag(depth_at([b0, "s3://other-lab/bams/S1.bam"], "chr1:1200")) == {
        "S0": covering(r0, "chr1", 1200),
        "S1": covering(r1, "chr1", 1200),
    }
    with pytest.raises(NotFound, match="s3://other-lab/bams/nope.bam does not exist"):
        depth_at(["s3://other-lab/bams/nope.bam"], "chr1:1200")
    filtered = run_dag(filter_alignments([b0], "e://users/me/f/", region="chr2", min_mapq=30))
    assert int(sh("samtools", "view", "-c", filtered["S0"].as_local())) == int(
        sh("samtools", "view", "-c", "-q", "30", "-F", str(0xF04), b0, "chr2")
    )
    plain = random_cohort(tmp_path, 5, seed=23)
    vcfs = bgzip_index(plain)
    merged_file = run_dag(merge_vcfs(vcfs, "e://users/me/c.vcf.gz", batch_size=2))
    merged = merged_file.as_local()
    assert merged.stat().st_size > 0
    assert_merged_genotypes_equal_inputs(merged, vcfs)
    rows = rows_of(run_dag(genotype_concordance(vcfs[0], merged_file)))  # an EOS File as input
    assert [(r["sample"], r["concordance"]) for r in rows] == [("SAMPLE0000", 1.0)]
    stats = rows_of(run_dag(vcf_stats([merged])))
    assert [r["sample"] for r in stats] == [f"SAMPLE{i:04d}" for i in range(5)]
    info = '##INFO=<ID=SCORE,Number=1,Type=Float,Description="s">'
    tsv = tmp_path / "s.tsv"
    tsv.write_text("chr1\t100\t0.25\n")
    sh("bgzip", "-f", tsv)
    sh("tabix", "-s1", "-b2", "-e2", f"{tsv}.gz")
    ann = run_dag(
        annotate_vcf(
            merged_file.path_e,  # an e:// URI with its .tbi beside it
            f"{tsv}.gz",
            "CHROM,POS,INFO/SCORE",
            "e://users/me/a.vcf.gz",
            regions=["chr1", "chr2"],
            header_lines=[info],
        )
    )
    rows = {(r[0], int(r[1])): r[7] for r in read_vcf(ann.as_local())[1]}
    assert "SCORE=0.25" in rows.get(("chr1", 100), "")


# -- result() of any analysis; the tools where elements run ------------------------------------
def test_result_of_any_analysis_waits_and_gives_its_outputs_or_what_failed():
    def work(ac):
        if ac.input == 3:
            raise ValueError("three is not allowed")
        ac.output.value(key="square", value=ac.input**2)

    single = Analysis(function=lambda ac: ac.output.value(key="v", value="one"), input=None, name="single")
    with pytest.raises(InvalidAnalysis, match="has not been submitted yet"):
        single.result()
    assert single.run().result(timeout=60) == {"v": "one"}
    assert Analysis(function=work, input=[1, 2]).run().result(timeout=60) == [{"square": 1}, {"square": 4}]
    failing = Analysis(function=work, input=[1, 3], name="squares")
    after = Analysis(function=lambda ac: None, input=None, depends_on=[failing], name="after").run()
    with pytest.raises(AnalysisFailed) as info:
        after.result(timeout=60)
    # what failed the dependent, and why that dependency failed
    assert "after (" in str(info.value) and "dependency squares" in str(info.value)
    assert "element 1: ValueError: three is not allowed" in str(info.value)


def test_the_job_image_and_make_install_the_tools_the_shortcuts_run():
    dockerfile = (REPO / "Dockerfile").read_text()
    install = next(line for line in dockerfile.splitlines() if "apt-get install" in line).split()
    assert {"samtools", "bcftools", "tabix"} <= set(install)
    makefile = (REPO / "Makefile").read_text()
    for target in ("lab:", "test:"):
        rule = makefile.split("\n" + target, 1)[1].split("\n\n", 1)[0]
        assert all(f"{tool}:{tool}" in rule for tool in ("samtools", "bcftools", "tabix")), target


def test_a_signed_url_in_a_tools_stderr_is_not_repeated_in_the_reason_or_log(capfd):
    from explorer_magics.shortcuts import ToolFailed
    from explorer_magics.shortcuts._common import run_tool

    script = "echo 'cannot open https://bucket.s3.amazonaws.com/a.bam?X-Amz-Signature=SECRET1 here' >&2; exit 3"
    with pytest.raises(ToolFailed) as info:
        run_tool(["bash", "-c", script], what="samtools depth")
    assert str(info.value) == (
        "samtools depth failed (exit 3): cannot open https://bucket.s3.amazonaws.com/a.bam?<signed> here"
    )
    assert "SECRET1" not in capfd.readouterr().err


def test_a_shortcut_found_again_by_its_id_gives_its_result(alignments):
    from explorer_magics import session
    from explorer_magics.shortcuts import reopen

    (b0, r0), *_ = alignments["bams"]
    an = depth_at([b0], "chr1:900").run()
    an.wait_done(timeout=60)
    session.reset()  # as a new kernel would
    assert reopen(an.id).result(timeout=60) == {"S0": covering(r0, "chr1", 900)}
    plain = Analysis(function=lambda ac: None, input=None).run()
    with pytest.raises(InvalidAnalysis, match="was not made by a shortcut"):
        reopen(JobManager().get_analysis(plain.id))
