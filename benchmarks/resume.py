"""Resume: a 10,000-element array run cold, then resumed with 0%, 50% and 100% of its elements
cached, on the local cluster.

    .venv/bin/python benchmarks/resume.py [--n 10000] [--home DIR]

Each row is one ``Analysis(..., resume=...).run()``:

  cold          resume=False, nothing earlier: every element runs (waited for)
  resume 100%   resume=True, the same function and inputs: nothing runs
  resume 50%    resume=True, half the inputs new: half the elements run (waited for)
  resume 0%     resume=True with a new work function: the lookup finds nothing, every element
                is submitted (``run()`` is timed, then the analysis is terminated: its run
                would only repeat the cold row)

Columns: seconds in ``run()`` (keys, lookup, record, submit), seconds until every element is
SUCCEEDED, and the backend calls made (``Compute.submit``, and the elements it was asked to
run). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def work(ac):
    print("element", ac.job_index)
    ac.output.value(key="v", value=ac.input * 2)


def work_v2(ac):
    print("element", ac.job_index, "v2")
    ac.output.value(key="v", value=ac.input * 2)


def wait_done(an, poll: float = 0.01) -> None:
    while an.status()["status"] not in ("SUCCEEDED", "FAILED"):
        time.sleep(poll)


class Counter:
    """Counts what the compute backend is asked to do."""

    def __init__(self) -> None:
        self.submits = 0
        self.elements = 0

    def install(self) -> None:
        from explorer_magics import session

        compute = session.compute("local")
        original = type(compute).submit
        counter = self

        def counting(self, manifest, dependencies, indices=None):  # noqa: ANN001
            counter.submits += 1
            counter.elements += manifest.count if indices is None else len(indices)
            return original(self, manifest, dependencies, indices=indices)

        type(compute).submit = counting  # type: ignore[method-assign]


def row(label: str, counter: Counter, *, function, inputs: list[int], resume: bool, wait: bool = True) -> dict:  # noqa: ANN001
    from explorer_magics.analysis import Analysis

    before = (counter.submits, counter.elements)
    t0 = time.perf_counter()
    an = Analysis(function=function, input=inputs, name="bench", resume=resume).run()
    t1 = time.perf_counter()
    if wait:
        wait_done(an)
        status = an.status()
        assert status["status"] == "SUCCEEDED", status
    else:
        an.terminate_all()
        an.wait_done()
    t2 = time.perf_counter() if wait else float("nan")
    return {
        "label": label,
        "run": t1 - t0,
        "done": t2 - t0,
        "submits": counter.submits - before[0],
        "elements": counter.elements - before[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--home", default=None, help="EXPLORER_HOME (default: a fresh temporary folder)")
    args = parser.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="explorer-bench-resume-")
    os.environ["EXPLORER_HOME"] = home
    os.environ.setdefault("EXPLORER_USER", "bench")
    from explorer_magics import session

    session.reset()
    counter = Counter()
    counter.install()
    n = args.n
    rows = [
        row("cold (resume=False)", counter, function=work, inputs=list(range(n)), resume=False),
        row("resume, 100% cached", counter, function=work, inputs=list(range(n)), resume=True),
        row(
            "resume, 50% cached",
            counter,
            function=work,
            inputs=list(range(n // 2)) + list(range(2 * n, 2 * n + n - n // 2)),
            resume=True,
        ),
        row(
            "resume, 0% cached (new function)",
            counter,
            function=work_v2,
            inputs=list(range(n)),
            resume=True,
            wait=False,
        ),
    ]
    print(f"\n{n:,} elements, local cluster, EXPLORER_HOME={home}\n")
    print("| run | run() s | until all SUCCEEDED s | Compute.submit calls | elements sent to the backend |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        done = "(not waited)" if r["done"] != r["done"] else f"{r['done']:.2f}"
        print(f"| {r['label']} | {r['run']:.2f} | {done} | {r['submits']} | {r['elements']:,} |")
    from tests.conftest import stop_supervisor

    stop_supervisor(Path(home))


if __name__ == "__main__":
    main()
