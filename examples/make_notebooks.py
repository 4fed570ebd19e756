"""Write the example notebooks from the cell sources below (no outputs are saved).

    python examples/make_notebooks.py          # (re)write quickstart.ipynb and coverage.ipynb
    python examples/make_notebooks.py --check  # exit 1 if a committed notebook is out of date

Edit the cells here, not in the .ipynb files, so reviews read as plain Python.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


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


NOTEBOOKS = {"quickstart.ipynb": (QUICKSTART, "quickstart"), "coverage.ipynb": (COVERAGE, "coverage")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a notebook differs from its cells here")
    args = parser.parse_args(argv)
    stale = []
    for filename, (cells, prefix) in NOTEBOOKS.items():
        text = nbformat.writes(build(cells, prefix)) + "\n"
        path = HERE / filename
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(filename)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python examples/make_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
