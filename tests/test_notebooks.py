"""The example notebooks run top to bottom in a real ipykernel (nbclient), each test with its
own Explorer home and so its own local cluster."""

from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from .helpers import REPO

EXAMPLES = REPO / "examples"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"


def execute(name: str, workdir) -> nbformat.NotebookNode:
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    client = NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    return nb


def outputs_of(nb: nbformat.NotebookNode, first_line: str) -> tuple[str, list[dict]]:
    """(all text the cell printed or returned, its raw outputs) of the cell starting with ``first_line``."""
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(first_line):
            text = ""
            for out in cell.outputs:
                if out.output_type == "stream":
                    text += out.text
                elif "data" in out:
                    text += out.data.get("text/plain", "") + "\n"
            return text, cell.outputs
    raise AssertionError(f"no cell starts with {first_line!r}")


def test_the_committed_notebooks_are_what_the_generator_writes_without_outputs():
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "make_notebooks.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("quickstart.ipynb", "coverage.ipynb", "shortcuts.ipynb"):
        nb = nbformat.read(EXAMPLES / name, as_version=4)
        nbformat.validate(nb)
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
def test_quickstart_runs_top_to_bottom(tmp_path):
    nb = execute("quickstart.ipynb", tmp_path)
    text, _ = outputs_of(nb, "trial = Analysis")
    assert "Hello from the shell, input a test" in text and "'dos'" in text
    text, outputs = outputs_of(nb, "an = Analysis(")
    assert "Analysis ID: " in text
    assert any(VIEW_MIME in out.get("data", {}) for out in outputs), "no live widget displayed by .run()"
    assert outputs_of(nb, "[an.get_output(i)")[0].strip() == "['FOO', 'BAR', 'BAZ']"
    assert "2 ZeroDivisionError: division by zero" in outputs_of(nb, "for element in inv.elements")[0]
    assert outputs_of(nb, "total.wait_done()")[0].strip() == "55"
    text, outputs = outputs_of(nb, "%%explorer_job --name shout")
    assert "[1] word='BAR!'" in text
    assert any(VIEW_MIME in out.get("data", {}) for out in outputs), "no live widget displayed by the magic"
    assert outputs_of(nb, "sentence.get_output()")[0].strip() == "'FOO! BAR! BAZ!'"
    jobs = outputs_of(nb, "%explorer_jobs")[0]
    assert all(name in jobs for name in ("hello", "invert", "make_numbers", "add_up", "shout", "sentence"))
    assert "[2] ZeroDivisionError" in outputs_of(nb, "%explorer_status")[0]
    assert outputs_of(nb, "%explorer_logs")[0].splitlines() == ["Hello, BAR!"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("samtools") is None, reason="samtools is not installed (`make test` apt-installs it)")
def test_coverage_runs_top_to_bottom_and_finds_the_depths_it_wrote(tmp_path):
    nb = execute("coverage.ipynb", tmp_path)
    # the notebook asserts that every depth read back equals the depth it wrote
    depths = outputs_of(nb, "outputs = [an.get_output(i)")[0].splitlines()
    assert len(depths) == 12 and all(line.startswith("SAMPLE") for line in depths)
    histogram = outputs_of(nb, "def text_histogram")[0].splitlines()
    assert histogram[0] == "Coverage at rs4988235 (chr2:1500-1500) in 12 synthetic samples"
    assert sum(int(row.split()[-1]) for row in histogram[1:]) == 12
    # the array at a glance: sample names, durations, memory; the digest; usage and a forecast
    records = outputs_of(nb, "for el in sorted(an.elements()")[0]
    assert "#0  SAMPLE01" in records and " MB" in records and "'input_label': 'SAMPLE01'" in records
    digest = outputs_of(nb, "an2.wait_done()")[0].splitlines()
    assert digest[0].startswith("3 x ") and "elements [12, 13, 14]" in digest[1]
    assert digest[2].startswith("1 x ") and "elements [15]" in digest[3]
    usage = outputs_of(nb, "usage = an.usage()")[0]
    assert "peak memory p95" in usage and "2,500 samples on AWS Batch" in usage


@pytest.mark.slow
@pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("samtools", "bcftools", "tabix")),
    reason="samtools, bcftools and tabix are needed (`make test` apt-installs them)",
)
def test_shortcuts_runs_every_shortcut_top_to_bottom(tmp_path):
    nb = execute("shortcuts.ipynb", tmp_path)  # the notebook asserts depths and concordance itself
    text, outputs = outputs_of(nb, "depths = depth_at(")
    assert "'SAMPLE01':" in text and "Analysis ID: " in text
    assert any(VIEW_MIME in out.get("data", {}) for out in outputs), "no live widget displayed by .run()"
    histogram = outputs_of(nb, "try:\n    import matplotlib")[0].splitlines()
    assert histogram[0] == "Depth at chr2:1500 in 12 samples"
    if len(histogram) > 1:  # without matplotlib, the histogram as text
        assert sum(int(row.split()[-1]) for row in histogram[1:]) == 12
    assert outputs_of(nb, "filtered = filter_alignments(")[0].count("e://users/me/shortcuts-demo/filtered/") == 3
    assert "merge_vcfs_level1" in outputs_of(nb, "SITES = sorted(")[0]
    assert outputs_of(nb, "cohort = cohort_an.run()")[0].count("SAMPLE0") >= 3
    assert len(outputs_of(nb, "recall = data")[0].strip().splitlines()) >= 12
    table = outputs_of(nb, "classes = [")[0].splitlines()
    assert table[0].split()[-3:] == ["hom_ref", "het", "hom_alt"] and len(table) == 4
    assert outputs_of(nb, "stats = vcf_stats(")[0].strip().splitlines()[-1] == "24"
