"""Explorer Shortcuts next to the plain tools, on synthetic data made here.

    .venv/bin/python benchmarks/shortcuts.py [--inputs 1000] [--sites 10000] [--batch-size 200]
                                             [--samples 200] [--concordance-sites 10000]

merge_vcfs: ``--inputs`` single-sample VCFs (bgzipped, tabix-indexed) of ``--sites`` sites
each over two chromosomes, merged
  explorer        merge_vcfs on the local cluster (a tree of bcftools merge in batches of
                  --batch-size, scattered by chromosome, then concatenated), from the call
                  (which reads every header) to .result()
  one merge       a single ``bcftools merge`` of every input (when the open-file limit allows)
  loop            the same batches merged one after another in this process, then the
                  intermediates merged: what a script without a cluster does
genotype_concordance: a truth VCF of ``--samples`` samples x ``--concordance-sites`` sites and a
query with ~2% of genotypes changed
  explorer        genotype_concordance on the local cluster, one element per sample, and with
                  samples_per_element (8 elements)
  gtcheck         ``bcftools gtcheck -u GT,GT -e 0`` over the same sample pairs

Every output is checked: the three merges give the same genotypes, and the discordant counts of
genotype_concordance equal gtcheck's. Runs in a fresh EXPLORER_HOME (its own local cluster) and
prints a markdown table; the machine is shared, so read the ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONTIGS = ("chr1", "chr2")


def sh(*args: object) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout


def header(samples: list[str]) -> str:
    lines = ["##fileformat=VCFv4.2", *(f"##contig=<ID={c},length=100000000>" for c in CONTIGS)]
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]))
    return "\n".join(lines) + "\n"


def site_prefixes(n: int, rng: random.Random) -> list[str]:
    out = []
    for i in range(n):
        chrom = CONTIGS[0] if i < n // 2 else CONTIGS[1]
        pos = 1000 + 37 * (i if i < n // 2 else i - n // 2)
        ref, alt = rng.sample("ACGT", 2)
        out.append(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t.\tGT\t")
    return out


def bgzip_index_all(paths: list[Path]) -> None:
    """bgzip + tabix every file, two at a time."""
    script = 'bgzip -f "$1" && tabix -f -p vcf "$1.gz"'
    subprocess.run(
        ["xargs", "-0", "-P", "2", "-n", "1", "bash", "-c", script, "bash"],
        input="\0".join(map(str, paths)).encode(),
        check=True,
    )


def make_cohort(folder: Path, n: int, sites: int) -> list[Path]:
    rng = random.Random(1)
    prefixes = site_prefixes(sites, rng)
    gts = ["0/0", "0/1", "1/1", "0/0", "0/1", "./."]
    plain = []
    for i in range(n):
        path = folder / f"s{i:05d}.vcf"
        calls = rng.choices(gts, k=sites)
        with open(path, "w") as fh:
            fh.write(header([f"S{i:05d}"]))
            fh.write("".join(f"{p}{g}\n" for p, g in zip(prefixes, calls, strict=True)))
        plain.append(path)
    bgzip_index_all(plain)
    return [Path(f"{p}.gz") for p in plain]


def genotypes_digest(path: Path) -> str:
    proc = subprocess.Popen(
        ["bcftools", "query", "-f", "%CHROM %POS %REF %ALT [%GT ]\\n", str(path)], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    digest = hashlib.sha256()
    for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
        digest.update(chunk)
    proc.wait()
    return digest.hexdigest()


def merge_files(paths: list[Path], out: Path, *, fmt: str = "-Ob") -> None:
    listing = out.with_suffix(".list")
    listing.write_text("".join(f"{p}\n" for p in paths))
    sh("bcftools", "merge", fmt, "-o", out, "-l", listing)
    sh("bcftools", "index", "-f", out)


def bench_merge(folder: Path, vcfs: list[Path], batch_size: int) -> list[tuple[str, float | None, str]]:
    from explorer_magics.shortcuts import merge_vcfs

    rows: list[tuple[str, float | None, str]] = []
    t0 = time.perf_counter()
    final = merge_vcfs(vcfs, "e://users/me/bench/merged.vcf.gz", batch_size=batch_size)
    t_define = time.perf_counter() - t0
    out = final.run().result()
    elapsed = time.perf_counter() - t0
    explorer_digest = genotypes_digest(out.as_local())
    levels = []
    node = final
    while node.depends_on:
        node = node.depends_on[0]
        levels.append(f"{node.size}")
    shape = " -> ".join(reversed(levels)) + " -> 1"
    rows.append(
        ("explorer merge_vcfs (local cluster)", elapsed, f"elements per level {shape}; define {t_define:.1f} s")
    )

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * len(vcfs) + 64
    if soft < need and hard >= need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        soft = need
    if soft >= need:
        t0 = time.perf_counter()
        one = folder / "one.vcf.gz"
        merge_files(vcfs, one, fmt="-Oz")
        rows.append(("one bcftools merge of all", time.perf_counter() - t0, _same(one, explorer_digest)))
    else:
        rows.append(("one bcftools merge of all", None, f"open-file limit {soft} < {need}"))

    t0 = time.perf_counter()
    parts = []
    for k in range(0, len(vcfs), batch_size):
        part = folder / f"loop-{k}.bcf"
        merge_files(vcfs[k : k + batch_size], part)
        parts.append(part)
    loop = folder / "loop.vcf.gz"
    merge_files(parts, loop, fmt="-Oz")
    rows.append(("loop: the same batches one after another", time.perf_counter() - t0, _same(loop, explorer_digest)))
    return rows


def _same(path: Path, digest: str) -> str:
    return "same genotypes as explorer" if genotypes_digest(path) == digest else "GENOTYPES DIFFER"


def bench_concordance(folder: Path, samples: int, sites: int) -> list[tuple[str, float | None, str]]:
    from explorer_magics.shortcuts import genotype_concordance

    rng = random.Random(2)
    prefixes = site_prefixes(sites, rng)
    names = [f"P{i:04d}" for i in range(samples)]
    gts = ["0/0", "0/1", "1/1"]
    truth_path, query_path = folder / "truth.vcf", folder / "query.vcf"
    with open(truth_path, "w") as t, open(query_path, "w") as q:
        t.write(header(names))
        q.write(header(names))
        for p in prefixes:
            calls = rng.choices(gts, k=samples)
            changed = [rng.choice(gts) if rng.random() < 0.02 else g for g in calls]
            t.write(p + "\t".join(calls) + "\n")
            q.write(p + "\t".join(changed) + "\n")
    bgzip_index_all([truth_path, query_path])
    truth, query = Path(f"{truth_path}.gz"), Path(f"{query_path}.gz")

    t0 = time.perf_counter()
    result = genotype_concordance(truth, query).run().result()
    elapsed = time.perf_counter() - t0
    rows_out = result if isinstance(result, list) else result.to_dict("records")
    ours = {r["sample"]: r["sites_compared"] - r["concordant"] for r in rows_out}

    pairs = folder / "pairs.tsv"
    pairs.write_text("".join(f"{n}\t{n}\n" for n in names))
    t0 = time.perf_counter()
    out = sh("bcftools", "gtcheck", "-u", "GT,GT", "-e", "0", "--no-HWE-prob", "-P", pairs, "-g", truth, query)
    gt_elapsed = time.perf_counter() - t0
    theirs = {}
    for line in out.splitlines():
        f = line.split("\t")
        if f[0] == "DC":
            theirs[f[1]] = int(float(f[3]))
    agree = sum(ours.get(n) == theirs.get(n) for n in names)

    per = max(1, samples // 8)
    t0 = time.perf_counter()
    grouped = genotype_concordance(truth, query, samples_per_element=per).run().result()
    g_elapsed = time.perf_counter() - t0
    g_rows = grouped if isinstance(grouped, list) else grouped.to_dict("records")
    same = g_rows == rows_out
    return [
        ("explorer genotype_concordance (local cluster)", elapsed, f"{samples} elements, one per sample"),
        (
            f"explorer, samples_per_element={per}",
            g_elapsed,
            f"{-(-samples // per)} elements; {'same rows' if same else 'ROWS DIFFER'}",
        ),
        ("bcftools gtcheck -u GT,GT -e 0 (same pairs)", gt_elapsed, f"discordant counts equal for {agree}/{samples}"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--concordance-sites", type=int, default=10_000)
    args = parser.parse_args(argv)
    for tool in ("bcftools", "bgzip", "tabix"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install bcftools tabix)", file=sys.stderr)
            return 1
    work = Path(tempfile.mkdtemp(prefix="bench-shortcuts-"))
    os.environ["EXPLORER_HOME"] = str(work / "home")
    os.environ.setdefault("EXPLORER_USER", "bench")
    from explorer_magics import session

    session.reset()
    try:
        t0 = time.perf_counter()
        vcfs = make_cohort(work, args.inputs, args.sites)
        print(f"made {args.inputs} VCFs x {args.sites} sites in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        merge_rows = bench_merge(work, vcfs, args.batch_size)
        conc_rows = bench_concordance(work, args.samples, args.concordance_sites)
    finally:
        lock = work / "home" / "cluster" / "supervisor.lock"
        if lock.exists() and lock.read_text().strip():
            try:
                os.kill(int(lock.read_text().strip()), 15)
            except (ProcessLookupError, ValueError):
                pass
        shutil.rmtree(work, ignore_errors=True)
    cpus = os.cpu_count()
    print(f"\nmerge_vcfs: {args.inputs:,} single-sample VCFs x {args.sites:,} sites, ", end="")
    print(f"batch_size {args.batch_size}, {cpus} CPUs\n")
    _table(merge_rows)
    print(f"\ngenotype_concordance: {args.samples} samples x {args.concordance_sites:,} sites\n")
    _table(conc_rows)
    return 0


def _table(rows: list[tuple[str, float | None, str]]) -> None:
    base = rows[0][1]
    print("| run | time (s) | vs explorer | note |")
    print("|---|---:|---:|---|")
    for name, secs, note in rows:
        ratio = f"{secs / base:.2f}x" if secs is not None and base else "-"
        print(f"| {name} | {secs:.1f} | {ratio} | {note} |" if secs is not None else f"| {name} | - | - | {note} |")


if __name__ == "__main__":
    sys.exit(main())
