"""Write the example notebooks from the cell sources below (no outputs are saved).

    python tools/make_notebooks.py          # (re)write quickstart.ipynb, coverage.ipynb, shortcuts.ipynb
    python tools/make_notebooks.py --check  # exit 1 if a committed notebook is out of date

Edit the cells here, not in the .ipynb files, so reviews read as plain Python.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

#: where the notebooks live (and what `make lab` opens); this generator is kept out of it
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def md(text: str) -> tuple[str, str]:
    return "markdown", textwrap.dedent(text).strip()


def code(text: str) -> tuple[str, str]:
    return "code", textwrap.dedent(text).strip()


QUICKSTART = [
    md(
        """
        # Explorer quickstart

        Write a *work function* once, run it here, then fan it out over many inputs on a
        cluster, watch it, and collect its outputs and logs. This notebook uses the embedded
        defaults: a cluster on this machine and an object store (EOS) in a local directory,
        so there is nothing to set up. Run the cells from top to bottom.
        """
    ),
    code(
        """
        from explorer_magics.analysis import Analysis, AnalysisContext, JobDefinition
        from explorer_magics.job_manager import JobManager
        """
    ),
    md(
        """
        ## A work function

        A work function takes one `AnalysisContext` (`ac`): its input is `ac.input`, and it
        hands results back through `ac.output`. Lines starting with `!` run shell commands:
        `{expr}` puts a Python value in, and a literal `{`/`}`/`$` for the shell is written
        `{{`/`}}`/`$$`. `x = !cmd` captures the output lines. Names from the notebook, like
        `greeting` here, travel with the function.
        """
    ),
    code(
        """
        greeting = "Hello"

        def hello(ac: AnalysisContext):
            where = "the shell"
            !echo "{greeting} from {where}, input {ac.input}"
            two = "dos"
            second = !echo "1 {two} 3" | awk '{{print $$2}}'
            ac.output.value("second", second[0])
            ac.output.value("shout", str(ac.input).upper())
        """
    ),
    md(
        """
        ## Run it here first

        `.run_local()` runs the function in this kernel, right now, printing as it goes.
        Use it to try things out; the outputs are stored exactly like a cluster run's.
        """
    ),
    code(
        """
        trial = Analysis(function=hello, input="a test").run_local()
        trial.get_output().value("second")
        """
    ),
    md(
        """
        ## Fan out: an array job

        A list input makes an *array job*: one element per item, run in parallel. `.run()`
        submits it and returns at once with a live widget (status per element, elapsed time,
        a terminate button and the logs of any element). The kernel stays free meanwhile.
        """
    ),
    code(
        """
        an = Analysis(
            function=hello,
            input=["foo", "bar", "baz"],
            job_definition=JobDefinition(cpu=1, memory_mb=1000),
        ).run()
        """
    ),
    code(
        """
        an.wait_done()  # blocks until every element has finished
        """
    ),
    code(
        """
        [an.get_output(i).value("shout") for i in range(3)]
        """
    ),
    code(
        """
        an.logs(2)  # the log of element 2 ("baz"); an.logs(2, live=True) follows a running one
        """
    ),
    md(
        """
        ## When elements fail

        One failing element does not stop the others. `.status()` counts elements per status
        (one call, however large the array); `.elements(status="FAILED")` says why.
        """
    ),
    code(
        """
        def invert(ac: AnalysisContext):
            ac.output.value("inverse", 1 / ac.input)

        inv = Analysis(function=invert, input=[4, 2, 0, 1]).run()
        inv.wait_done()
        """
    ),
    code(
        """
        for element in inv.elements(status="FAILED"):
            print(element.index, element.reason)
        inv.logs(2)
        """
    ),
    md(
        """
        ## Files and dependencies

        `ac.output.file(key)` gives a local path to write; the file is uploaded when the
        element ends. An analysis may depend on others: `.run()` submits the dependencies first,
        and the work function reaches their outputs with `ac.dependency(name)`.
        """
    ),
    code(
        """
        def make_numbers(ac: AnalysisContext):
            path = ac.output.file("numbers.txt").as_local()
            !seq 1 {ac.input} > {path}

        def add_up(ac: AnalysisContext):
            path = ac.dependency("make_numbers").get_output().file("numbers.txt").as_local()
            with open(path) as fh:
                ac.output.total = sum(int(line) for line in fh)

        numbers = Analysis(function=make_numbers, input=10)
        total = Analysis(function=add_up, depends_on=[numbers]).run()  # submits make_numbers too
        """
    ),
    code(
        """
        total.wait_done()
        total.get_output().value("total")
        """
    ),
    md(
        """
        ## The same with `%%explorer_job`

        The cell magic turns a cell into a work function (`ac` is in scope) and submits it.
        Options take Python expressions from the notebook: `--input` (a list gives an array
        job), `--shared NAME=EXPR`, `--global NAME=EXPR`, `--depends-on VAR`; resources with
        `--cpu`, `--memory`, `--timeout`, `--image`, `--pip`; `--local` runs it here, `--wait`
        blocks and shows the outputs. The Analysis lands in the variable named by `--name`
        (or `--as`).
        """
    ),
    code(
        """
        %load_ext explorer_magics
        words = ["foo", "bar", "baz"]
        mark = "!"
        """
    ),
    code(
        """
        %%explorer_job --name shout --input words --global mark=mark --cpu 1 --memory 1000 --wait
        word = ac.input.upper() + ac.global_context.mark
        !echo "{greeting}, {word}"
        ac.output.word = word
        """
    ),
    code(
        """
        %%explorer_job --name sentence --depends-on shout --wait
        shouted = ac.dependency("shout")
        ac.output.sentence = " ".join(shouted.get_output(i).value("word") for i in range(3))
        """
    ),
    code(
        """
        sentence.get_output().value("sentence")
        """
    ),
    md(
        """
        ## Find analyses again

        Every analysis is kept: list them with `%explorer_jobs` (or `JobManager().list_jobs()`)
        and bring one back by id from any notebook.
        """
    ),
    code(
        """
        %explorer_jobs --since 1d
        """
    ),
    code(
        """
        %explorer_status {inv.id}
        """
    ),
    code(
        """
        %explorer_logs {shout.id} 1
        """
    ),
    code(
        """
        again = JobManager().get_analysis(job_id=an.id)
        again.status()
        """
    ),
]


COVERAGE = [
    md(
        """
        # Read depth at rs4988235 across many samples

        The worked example of the Explorer overview, scaled down so it runs anywhere: the
        original reads the depth of coverage at rs4988235 (a lactose-intolerance locus on
        chr2) in ~2,500 1000 Genomes CRAMs. Here the notebook makes a small synthetic data
        set itself with `samtools`: a 3 kb stand-in for chr2 around the locus and a dozen
        samples with different depths. The inputs go to EOS (the object store), one array
        job reads the depth of each sample, and a histogram ends it.
        """
    ),
    code(
        """
        import random
        import tempfile
        from pathlib import Path

        from explorer_magics.analysis import Analysis, AnalysisContext, InputShared, JobDefinition
        from explorer_magics.models import File

        !samtools --version | head -1
        """
    ),
    md(
        """
        ## A synthetic reference and samples

        The reference is one contig named `chr2`; the locus sits at `LOCUS` on it. Each sample
        gets a random number of 100 bp reads over the locus plus some reads elsewhere, written
        as SAM text, then converted to CRAM against the reference and indexed.
        """
    ),
    code(
        """
        data = Path(tempfile.mkdtemp(prefix="coverage-demo-"))
        rng = random.Random(4988235)
        CONTIG, LENGTH, LOCUS, READ = "chr2", 3000, 1500, 100
        REGION = f"{CONTIG}:{LOCUS}-{LOCUS}"

        sequence = "".join(rng.choice("ACGT") for _ in range(LENGTH))
        reference = data / "chr2-rs4988235.fa"
        lines = [sequence[i : i + 60] for i in range(0, LENGTH, 60)]
        reference.write_text(f">{CONTIG}\\n" + "\\n".join(lines) + "\\n")


        def write_sam(name: str, depth: int) -> tuple[Path, int]:
            \"\"\"A coordinate-sorted SAM file; returns it and the true depth at LOCUS.\"\"\"
            starts = [rng.randint(LOCUS - READ + 1, LOCUS) for _ in range(depth)]
            starts += [rng.randint(1, LENGTH - READ + 1) for _ in range(40)]
            rows = ["@HD\\tVN:1.6\\tSO:coordinate", f"@SQ\\tSN:{CONTIG}\\tLN:{LENGTH}"]
            for n, start in enumerate(sorted(starts)):
                bases = sequence[start - 1 : start - 1 + READ]
                rows.append(f"{name}.{n}\\t0\\t{CONTIG}\\t{start}\\t60\\t{READ}M\\t*\\t0\\t0\\t{bases}\\t{'I' * READ}")
            sam = data / f"{name}.sam"
            sam.write_text("\\n".join(rows) + "\\n")
            return sam, sum(1 for s in starts if s <= LOCUS < s + READ)


        samples = [f"SAMPLE{i:02d}" for i in range(1, 13)]
        true_depth = {}
        for name in samples:
            sam, true_depth[name] = write_sam(name, depth=rng.randint(5, 45))
            cram = data / f"{name}.cram"
            !samtools view --no-PG -C -T {reference} -o {cram} {sam}
            !samtools index {cram}
        sorted(p.name for p in data.glob("SAMPLE01*"))
        """
    ),
    md(
        """
        ## Inputs in EOS

        `File(path_local=..., path_e=...).upload()` puts a file in EOS; `e://users/me/` is
        your own space. Each element gets a sample name and the EOS path of its CRAM (the
        index is beside it); the reference is shared by all elements through `InputShared`.
        """
    ),
    code(
        """
        folder = "e://users/me/coverage-demo"
        ref_file = File(path_local=str(reference), path_e=f"{folder}/{reference.name}").upload()
        crams = []
        for name in samples:
            for suffix in (".cram", ".cram.crai"):
                File(path_local=str(data / f"{name}{suffix}"), path_e=f"{folder}/{name}{suffix}").upload()
            crams.append((name, f"{folder}/{name}.cram"))
        crams[:3]
        """
    ),
    md(
        """
        ## The work function

        It fetches the reference and its sample's CRAM (with the index beside it) and asks
        `samtools mpileup` for the depth at the locus, exactly as the original does. Note
        `{{print $$4}}`: braces and `$` meant for the shell are doubled in `!` lines.
        """
    ),
    code(
        """
        def get_depth(ac: AnalysisContext):
            sample, cram_e = ac.input
            reference_path = ac.input_shared.reference.as_local()
            cram = File(path_e=cram_e).as_local()
            File(path_e=cram_e + ".crai", path_local=f"{cram}.crai").as_local()
            lines = !samtools mpileup --reference {reference_path} --region {REGION} {cram} 2> /dev/null \\
                | awk '{{print $$4}}' | xargs
            ac.output.depth = int(lines[0]) if lines and lines[0] else 0
        """
    ),
    md(
        """
        ## Run it over every sample

        One element per sample, each with 1 CPU and 2 GB, at most 10 minutes. The widget
        below the cell follows the array while it runs.
        """
    ),
    code(
        """
        jd = JobDefinition(cpu=1, memory_mb=2000, timeout_seconds=600)
        an = Analysis(
            function=get_depth,
            input=crams,
            input_shared=InputShared(reference=File(path_e=ref_file.path_e)),
            job_definition=jd,
        ).run()
        """
    ),
    code(
        """
        an.wait_done()
        """
    ),
    md(
        """
        ## Collect the depths and plot them

        Each element stored its depth as a value; `get_output(i).value("depth")` reads it back.
        We wrote the reads ourselves, so we can check samtools' answer against the truth.
        """
    ),
    code(
        """
        outputs = [an.get_output(i).value("depth") for i in range(len(crams))]
        for (sample, _), depth in zip(crams, outputs):
            print(f"{sample}  depth {depth:3d}   (written: {true_depth[sample]})")
        assert outputs == [true_depth[s] for s in samples], "samtools disagrees with the reads we wrote"
        """
    ),
    code(
        """
        def text_histogram(values, bins=6, width=40):
            \"\"\"A histogram as text: one row per bin, a bar of '#' per count.\"\"\"
            lo, hi = min(values), max(values)
            step = max(1, -(-(hi - lo + 1) // bins))
            counts = {}
            for v in values:
                start = lo + (v - lo) // step * step
                counts[start] = counts.get(start, 0) + 1
            scale = width / max(counts.values())
            for start in range(lo, hi + 1, step):
                n = counts.get(start, 0)
                print(f"{start:4d}-{start + step - 1:<4d} {'#' * round(n * scale):<{width}} {n}")

        print(f"Coverage at rs4988235 ({REGION}) in {len(outputs)} synthetic samples")
        text_histogram(outputs)
        """
    ),
    md(
        """
        With matplotlib installed (`pip install matplotlib`), the original's figure is:

        ```python
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(dpi=150)
        ax.hist(outputs, bins=50)
        ax.set_title("Coverage at rs4988235")
        ```
        """
    ),
    md(
        """
        ## The array at a glance

        Every element's record says which sample it was (`input_label`: the first item of the
        `(sample, cram)` input), when it started and ended, its exit code, its peak memory and
        the CPU it used (children such as `samtools` included), measured by the runner itself.
        """
    ),
    code(
        """
        for el in sorted(an.elements(), key=lambda e: e.index)[:5]:
            print(f"#{el.index:<3d}{el.input_label:10s}{el.status:10s}{el.duration_s:6.2f} s"
                  f"{el.peak_rss_mb:8.0f} MB{el.cpu_s:7.2f} CPU-s  on {el.host}")
        an.status(0)
        """
    ),
    md(
        """
        ## When some inputs are wrong: the failure digest

        Real arrays fail for a few reasons at once. Here three samples point at CRAMs that were
        never uploaded and one row of the sample sheet lacks its CRAM. `failures()` groups the failed
        elements by cause — sample names, paths and numbers masked — largest group first. The
        widget under the cell draws the same: a cell per element (red failed), the runtime and
        peak-memory histograms (the memory request is the dashed line) and the digest.
        """
    ),
    code(
        """
        broken = crams + [(f"MISSING{i}", f"{folder}/MISSING{i}.cram") for i in range(1, 4)]
        broken.append(("NOCRAM",))
        an2 = Analysis(
            function=get_depth,
            input=broken,
            input_shared=InputShared(reference=File(path_e=ref_file.path_e)),
            job_definition=jd,
            name="get_depth_broken",
        ).run()
        """
    ),
    code(
        """
        an2.wait_done()
        for group in an2.failures():
            print(f"{group['count']} x {group['reason']}")
            print(f"    elements {group['indices']}, e.g. #{group['example_index']}: {group['example'][:100]}")
        """
    ),
    md(
        """
        ## Resources and cost

        `usage()` adds up what the elements used against what they asked for, with a
        right-sizing hint; the local cluster costs nothing unless you set a price (`[cost]` in
        the config file). `estimate()` forecasts a whole array from the elements measured so
        far — here, priced as if it ran on AWS Batch (m6i on-demand prices by default).
        """
    ),
    code(
        """
        usage = an.usage()
        print(f"CPU {usage['cpu_s']:.1f} s over {usage['wall_s']:.1f} s of elements; "
              f"peak memory p95 {usage['peak_rss_mb']['p95']:.0f} MB of {usage['requested']['memory_mb']} MB")
        print(usage["hint"]["memory"])
        forecast = an.estimate(compute="batch", size=2500)
        print(f"2,500 samples on AWS Batch: {forecast['vcpu_hours']:.2f} vCPU-h, "
              f"{forecast['gb_hours']:.2f} GB-h, about ${forecast['cost']['total']:.2f}")
        """
    ),
]

SHORTCUTS = [
    md(
        """
        # Explorer Shortcuts

        Off-the-shelf analyses for the genomics chores every team writes again: read depth at a
        locus, filtered alignments, merging VCFs, annotating them, genotype concordance and
        per-sample statistics. Each shortcut is a plain call that returns an `Analysis`, defined
        but not yet run: `.run()` runs it on the cluster (here, the local one) like any other
        analysis, and `.result()` waits for it and gives the answer. This notebook makes its own
        small data set with `samtools` and `bcftools`, runs every shortcut on it, and checks
        the answers against what it wrote.
        """
    ),
    code(
        """
        import random
        import tempfile
        from pathlib import Path

        from explorer_magics.models import File
        from explorer_magics.shortcuts import (
            annotate_vcf, depth_at, filter_alignments, genotype_concordance, merge_vcfs, vcf_stats,
        )

        !samtools --version | head -1
        !bcftools --version | head -1
        """
    ),
    md(
        """
        ## Alignments: a reference and twelve samples

        One 3 kb contig, `chr2`, with a locus at 1,500. Each sample has a random number of
        100 bp reads over the locus (some with a low mapping quality) and some elsewhere,
        written as SAM text, sorted into a BAM and indexed.
        """
    ),
    code(
        """
        data = Path(tempfile.mkdtemp(prefix="shortcuts-demo-"))
        rng = random.Random(15)
        CONTIG, LENGTH, LOCUS, READ = "chr2", 3000, 1500, 100
        sequence = "".join(rng.choice("ACGT") for _ in range(LENGTH))
        reference = data / "chr2.fa"
        reference.write_text(f">{CONTIG}\\n" + "\\n".join(sequence[i : i + 60] for i in range(0, LENGTH, 60)) + "\\n")

        samples = [f"SAMPLE{i:02d}" for i in range(1, 13)]
        true_depth, bams = {}, []
        for name in samples:
            starts = [rng.randint(LOCUS - READ + 1, LOCUS) for _ in range(rng.randint(5, 45))]
            starts += [rng.randint(1, LENGTH - READ + 1) for _ in range(40)]
            rows = ["@HD\\tVN:1.6\\tSO:unsorted", f"@SQ\\tSN:{CONTIG}\\tLN:{LENGTH}"]
            for n, start in enumerate(starts):
                mapq = rng.choice([60, 60, 60, 3])
                bases = sequence[start - 1 : start - 1 + READ]
                fields = [f"{name}.{n}", "0", CONTIG, start, mapq, f"{READ}M", "*", 0, 0, bases, "I" * READ]
                rows.append("\\t".join(map(str, fields)))
            true_depth[name] = sum(1 for s in starts if s <= LOCUS < s + READ)
            (data / f"{name}.sam").write_text("\\n".join(rows) + "\\n")
            bam = data / f"{name}.bam"
            !samtools sort -o {bam} {data / name}.sam 2> /dev/null && samtools index {bam}
            bams.append(bam)
        len(bams)
        """
    ),
    md(
        """
        ## `depth_at`: read depth at one locus in every alignment

        One element per BAM/CRAM (CRAMs also need `reference=`). Inputs may be local paths,
        `File`s or `e://` URIs; each needs its index beside it. `.result()` is `{label: depth}`.
        """
    ),
    code(
        """
        depths = depth_at(bams, f"{CONTIG}:{LOCUS}").run().result()
        assert depths == true_depth, "samtools disagrees with the reads we wrote"
        depths
        """
    ),
    code(
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError:  # no matplotlib here: the same histogram as text
            plt = None

        values = list(depths.values())
        print(f"Depth at {CONTIG}:{LOCUS} in {len(values)} samples")
        if plt is not None:
            fig, ax = plt.subplots(dpi=100)
            ax.hist(values, bins=10)
            ax.set_xlabel("read depth")
            ax.set_ylabel("samples")
        else:
            step = 10
            for lo in range(0, max(values) + 1, step):
                n = sum(lo <= v < lo + step for v in values)
                print(f"{lo:3d}-{lo + step - 1:<3d} {'#' * (3 * n):<36} {n}")
        """
    ),
    md(
        """
        ## `filter_alignments`: filtered, indexed copies in EOS

        `samtools view -q/-f/-F` semantics: here reads with a mapping quality of at least 20
        over the locus. The copies (and their `.bai`) land under the output folder;
        `.result()` is `{label: File}`.
        """
    ),
    code(
        """
        filtered = filter_alignments(
            bams[:3], "e://users/me/shortcuts-demo/filtered/", region=f"{CONTIG}:{LOCUS}-{LOCUS}", min_mapq=20
        ).run().result()
        for label, f in filtered.items():
            kept = !samtools view -c {f.as_local()}
            print(label, f.path_e, kept[0], "reads")
        """
    ),
    md(
        """
        ## Variant calls: one VCF per sample, merged with `merge_vcfs`

        Thirty sites on `chr2`; each sample has a genotype at most of them (some missing).
        The VCFs are bgzipped and indexed, so the merge is scattered by chromosome. With
        thousands of inputs, `merge_vcfs` builds a tree of `bcftools merge` in batches of
        `batch_size`, so no merge opens too many files: a DAG of analyses that one `.run()`
        starts. `.result()` is the merged VCF as a `File`.
        """
    ),
    code(
        """
        SITES = sorted(rng.sample(range(100, LENGTH - 100), 30))
        ALT = {pos: rng.choice([b for b in "ACGT" if b != sequence[pos - 1]]) for pos in SITES}
        header = [
            "##fileformat=VCFv4.2",
            f"##contig=<ID={CONTIG},length={LENGTH}>",
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        ]
        COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
        truth = {}
        vcfs = []
        for name in samples:
            truth[name] = {pos: rng.choice(["0/0", "0/1", "1/1", "0|1", "./."]) for pos in SITES if rng.random() < 0.9}
            lines = header + ["\\t".join(COLUMNS + [name])]
            for pos, gt in truth[name].items():
                fields = [CONTIG, str(pos), ".", sequence[pos - 1], ALT[pos], ".", "PASS", ".", "GT", gt]
                lines.append("\\t".join(fields))
            path = data / f"{name}.vcf"
            path.write_text("\\n".join(lines) + "\\n")
            !bgzip -f {path} && tabix -f -p vcf {path}.gz
            vcfs.append(Path(f"{path}.gz"))

        cohort_an = merge_vcfs(vcfs, "e://users/me/shortcuts-demo/cohort.vcf.gz", batch_size=5)
        [(a.name, a.size) for a in (cohort_an.depends_on[0].depends_on[0], cohort_an.depends_on[0], cohort_an)]
        """
    ),
    code(
        """
        cohort = cohort_an.run().result()
        !bcftools query -l {cohort.as_local()} | head -3
        !bcftools view -H {cohort.as_local()} | head -2 | cut -f 1-12
        """
    ),
    md(
        """
        ## `annotate_vcf`: add a score from a tab-delimited file

        The annotation file is bgzipped and indexed with `tabix`; a tag it brings that the VCF
        does not define needs its header line.
        """
    ),
    code(
        """
        scores = data / "scores.tsv"
        scores.write_text("".join(f"{CONTIG}\\t{pos}\\t{rng.random():.3f}\\n" for pos in SITES))
        !bgzip -f {scores} && tabix -f -s1 -b2 -e2 {scores}.gz
        annotated = annotate_vcf(
            cohort, f"{scores}.gz", ["CHROM", "POS", "INFO/SCORE"], "e://users/me/shortcuts-demo/annotated.vcf.gz",
            header_lines=['##INFO=<ID=SCORE,Number=1,Type=Float,Description="demo score">'],
        ).run().result()
        !bcftools query -f '%POS %INFO/SCORE\\n' {annotated.as_local()} | head -3
        """
    ),
    md(
        """
        ## `genotype_concordance`: a re-call against the truth

        A "re-call" of the cohort in which some genotypes are wrong; each sample is compared
        (one element per sample) over the biallelic sites both files call.
        """
    ),
    code(
        """
        recall = data / "recall.vcf"
        errors = 0
        lines = header + ["\\t".join(COLUMNS + samples)]
        for pos in SITES:
            gts = []
            for name in samples:
                gt = truth[name].get(pos, "./.")
                if gt != "./." and rng.random() < 0.1:
                    gt, errors = rng.choice([g for g in ("0/0", "0/1", "1/1") if g != gt.replace("|", "/")]), errors + 1
                gts.append(gt)
            lines.append("\\t".join([CONTIG, str(pos), ".", sequence[pos - 1], ALT[pos], ".", "PASS", ".", "GT", *gts]))
        recall.write_text("\\n".join(lines) + "\\n")

        concordance = genotype_concordance(truth=cohort, query=str(recall)).run().result()
        rows = concordance if isinstance(concordance, list) else concordance.to_dict("records")
        assert sum(r["sites_compared"] - r["concordant"] for r in rows) == errors
        for r in rows:
            print(f"{r['sample']}  {r['concordant']:2d}/{r['sites_compared']:2d}  concordance {r['concordance']:.2f}")
        """
    ),
    code(
        """
        classes = ["hom_ref", "het", "hom_alt"]
        total = {t: {q: sum(r["table"][t][q] for r in rows) for q in classes} for t in classes}
        print("truth \\\\ query " + "".join(f"{q:>9}" for q in classes))
        for t in classes:
            print(f"{t:<14}" + "".join(f"{total[t][q]:>9}" for q in classes))
        if plt is not None:
            fig, ax = plt.subplots(dpi=100)
            ax.imshow([[total[t][q] for q in classes] for t in classes], cmap="Blues")
            ax.set_xticks(range(3), classes)
            ax.set_yticks(range(3), classes)
            ax.set_xlabel("query")
            ax.set_ylabel("truth")
        """
    ),
    md(
        """
        ## `vcf_stats`: per-sample counts from `bcftools stats`

        One element per VCF; one row per file and sample.
        """
    ),
    code(
        """
        stats = vcf_stats([cohort, str(recall)], labels=["cohort", "recall"]).run().result()
        stats_rows = stats if isinstance(stats, list) else stats.to_dict("records")
        for r in stats_rows[:3]:
            print(r["input"], r["sample"], "SNPs", r["snps"], "het/hom", r["het_hom_ratio"], "missing", r["missing"])
        len(stats_rows)
        """
    ),
    md(
        """
        The results stay in EOS (`e://users/me/shortcuts-demo/`); the local demo data can go.
        """
    ),
    code(
        """
        import shutil

        shutil.rmtree(data)
        """
    ),
]


def build(cells: list[tuple[str, str]], prefix: str) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for n, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell.id = f"{prefix}-{n:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


NOTEBOOKS = {
    "quickstart.ipynb": (QUICKSTART, "quickstart"),
    "coverage.ipynb": (COVERAGE, "coverage"),
    "shortcuts.ipynb": (SHORTCUTS, "shortcuts"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a notebook differs from its cells here")
    args = parser.parse_args(argv)
    stale = []
    for filename, (cells, prefix) in NOTEBOOKS.items():
        text = nbformat.writes(build(cells, prefix)) + "\n"
        path = EXAMPLES / filename
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(filename)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python tools/make_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
