"""Slurm: Explorer's ``compute = "slurm"`` next to submitit's ``map_array`` and one ``sbatch`` per
element, on the same real cluster (one node, devcluster/slurm.py), in one run.

    .venv/bin/python benchmarks/slurm.py [--sizes 1000,10000] [--window 60] [--sbatch-limit 1000]

For each size and runner: the submit time, the ``sbatch`` calls, the scheduler queries
(``squeue``/``sacct``/``scontrol`` invocations, counted by wrappers first on PATH) from submit
until the end of the run, and end-to-end elements/s (elements finished / seconds since the
submit began). A run ends when every element finished or after ``--window`` seconds (the rest
is cancelled): on a 2-core machine 10,000 Python elements take far longer than a benchmark
should, and the throughput of a bounded window is what a user waits on.

Each runner watches its array the way its users do: Explorer with ``Analysis.status()`` (one
shared squeue per poll), submitit with ``Job.done()`` on every job (its result files, and
``sacct`` through its watcher), the sbatch loop with one ``squeue --me`` per poll. The
sbatch loop submits at most ``--sbatch-limit`` elements and its submit time is extrapolated
linearly beyond that (marked ``~``). The work: square a number, print a line.

Needs: slurm-wlm and munge (``make test`` installs them), root (the daemons run as root), and
``pip install submitit`` (not a dependency of Explorer).
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devcluster import slurm as devcluster  # noqa: E402

logging.getLogger("submitit").setLevel(logging.ERROR)  # its "sacct error" warnings: no accounting here

COMMANDS = ("sbatch", "squeue", "sacct", "scontrol", "scancel")
POLL = 1.0  # seconds between two looks at the array, for every runner


def work(x: int) -> int:
    print("element", x)
    return x * x


def explorer_work(ac: Any) -> None:
    print("element", ac.input)
    ac.output.value(key="v", value=ac.input * ac.input)


class Counter:
    """Wrappers first on PATH that count each Slurm command (a fresh directory per run)."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        self.counts = root / "counts"
        self.counts.mkdir()
        for command in COMMANDS:
            real = subprocess.run(["which", command], capture_output=True, text=True, check=True).stdout.strip()
            wrapper = self.bin / command
            wrapper.write_text(f'#!/bin/sh\necho x >> "$EXPLORER_BENCH_COUNTS/{command}"\nexec {real} "$@"\n')
            wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
        os.environ["PATH"] = f"{self.bin}{os.pathsep}{os.environ['PATH']}"

    def start(self, name: str) -> Path:
        folder = self.counts / name
        folder.mkdir()
        os.environ["EXPLORER_BENCH_COUNTS"] = str(folder)
        return folder

    @staticmethod
    def read(folder: Path) -> dict[str, int]:
        out = {}
        for command in COMMANDS:
            path = folder / command
            out[command] = len(path.read_text().splitlines()) if path.exists() else 0
        return out


def drain(cluster: devcluster.SlurmCluster) -> None:
    """Cancel everything and wait for an empty queue (between runs)."""
    cluster.run("scancel", "--user", str(os.getuid()), check=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and cluster.run("squeue", "-h", check=False).strip():
        time.sleep(0.5)


def run_explorer(n: int, window: float, tmp: Path) -> tuple[float, int, float]:
    from explorer_magics import session
    from explorer_magics.analysis import Analysis, JobDefinition

    os.environ["EXPLORER_COMPUTE"] = "slurm"
    os.environ["EXPLORER_STORAGE"] = str(tmp / f"explorer-storage-{n}")
    os.environ["EXPLORER_SLURM_SCRATCH_DIR"] = str(tmp / "scratch")
    os.environ["EXPLORER_HOME"] = str(tmp / "explorer-home")
    session.reset()
    t0 = time.perf_counter()
    an = Analysis(function=explorer_work, input=list(range(n)), job_definition=JobDefinition(cpu=1, memory_mb=300))
    an.run()
    submitted = time.perf_counter() - t0
    done = 0
    while time.perf_counter() - t0 < window:
        status = an.status()
        done = status.get("summary", {}).get("SUCCEEDED", 0) + status.get("summary", {}).get("FAILED", 0)
        if status["status"] in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(POLL)
    return submitted, done, time.perf_counter() - t0


def run_submitit(n: int, window: float, tmp: Path, partition: str) -> tuple[float, int, float]:
    import submitit

    executor = submitit.AutoExecutor(folder=tmp / f"submitit-{n}", cluster="slurm")
    executor.update_parameters(
        slurm_partition=partition,
        cpus_per_task=1,
        mem_gb=0.3,
        timeout_min=60,
        slurm_array_parallelism=n,
    )
    t0 = time.perf_counter()
    jobs = executor.map_array(work, list(range(n)))
    submitted = time.perf_counter() - t0
    done = 0
    while time.perf_counter() - t0 < window:
        done = sum(1 for j in jobs if j.done())
        if done == n:
            break
        time.sleep(POLL)
    return submitted, done, time.perf_counter() - t0


def run_sbatch_loop(n: int, window: float, limit: int) -> tuple[float, int, float, bool]:
    python = sys.executable
    t0 = time.perf_counter()
    submitted_n = min(n, limit)
    for i in range(submitted_n):
        subprocess.run(
            [
                "sbatch",
                "--parsable",
                "--output=/dev/null",
                "--cpus-per-task=1",
                "--mem=300M",
                "--job-name=bench-one",
                f"--wrap={python} -c 'print(\"element\", {i}); print({i} * {i})'",
            ],
            capture_output=True,
            check=True,
        )
    took = time.perf_counter() - t0
    extrapolated = submitted_n < n
    submitted = took * n / submitted_n
    while True:  # (at least one look: the submission alone may outlast the window)
        out = subprocess.run(["squeue", "--me", "-h", "-o", "%i"], capture_output=True, text=True, check=False).stdout
        done = submitted_n - len(out.split())
        if done == submitted_n or time.perf_counter() - t0 >= window:
            break
        time.sleep(POLL)
    return submitted, done, time.perf_counter() - t0, extrapolated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--window", type=float, default=60.0, help="seconds a run may take before it is cut short")
    parser.add_argument("--sbatch-limit", type=int, default=1000, help="most elements the sbatch loop submits")
    parser.add_argument("--runners", default="explorer,submitit,sbatch")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    runners = args.runners.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="explorer-bench-slurm-"))
    os.environ["EXPLORER_USER"] = "bench"
    os.environ["EXPLORER_CONFIG"] = str(tmp / "no-config.toml")
    counter = Counter(tmp / "counting")
    cluster = devcluster.start(tmp / "cluster")
    os.environ.update(cluster.env)
    rows = []
    try:
        for n in sizes:
            for runner in runners:
                folder = counter.start(f"{runner}-{n}")
                note = ""
                if runner == "explorer":
                    submitted, done, elapsed = run_explorer(n, args.window, tmp)
                elif runner == "submitit":
                    submitted, done, elapsed = run_submitit(n, args.window, tmp, cluster.partition)
                else:
                    submitted, done, elapsed, extrapolated = run_sbatch_loop(n, args.window, args.sbatch_limit)
                    note = "~" if extrapolated else ""
                counts = Counter.read(folder)
                drain(cluster)
                rows.append(
                    {
                        "runner": {"explorer": "Explorer", "submitit": "submitit map_array", "sbatch": "sbatch loop"}[
                            runner
                        ],
                        "n": n,
                        "submit": f"{note}{submitted:.2f}",
                        "sbatch": counts["sbatch"] if not note else f"{counts['sbatch']} (of {n:,})",
                        "queries": counts["squeue"] + counts["sacct"] + counts["scontrol"],
                        "detail": f"squeue {counts['squeue']}, sacct {counts['sacct']}, scontrol {counts['scontrol']}",
                        "done": done,
                        "elapsed": elapsed,
                        "rate": done / elapsed if elapsed else 0.0,
                    }
                )
                print(rows[-1], flush=True)
    finally:
        cluster.stop()
    print()
    print(
        f"One node (slurm-wlm 22.05, CPUs=32 configured on {os.cpu_count()} cores), window {args.window:.0f} s, "
        f"poll every {POLL:.0f} s."
    )
    print()
    print("| runner | elements | submit (s) | sbatch calls | scheduler queries | finished in window | elements/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['runner']} | {r['n']:,} | {r['submit']} | {r['sbatch']} | {r['queries']} ({r['detail']}) | "
            f"{r['done']:,} in {r['elapsed']:.0f} s | {r['rate']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
