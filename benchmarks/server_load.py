"""Load test of the server extension: many status pollers and log followers while a 1 GB upload
streams through the server.

    .venv/bin/python benchmarks/server_load.py [--upload-mb 1024] [--pollers 20] [--followers 5]
                                               [--rounds 3] [--poll-every 1.0] [--follow-every 0.5]
                                               [--storage local|s3] [--s3 seaweedfs|moto] [--pin]

Bounded and loopback only: starts its own Jupyter server (a child process on 127.0.0.1, a fresh
temporary Explorer home, the token chosen here), fills it with 200 finished analyses and one
running 4-element array whose elements print a line every 50 ms, then, all at once:

* ``--pollers`` clients each poll the analyses list route (``GET analyses``) and the running
  analysis (``GET analyses/{id}``) every ``--poll-every`` seconds (the sidebar polls every 2-3 s);
* ``--followers`` clients follow an element's log with the offset cursor, reading every
  ``--follow-every`` seconds (the sidebar's default);
* one client, in its own process as a browser would be, uploads ``--upload-mb`` MiB (generated
  on the fly, never written to disk) with ``PUT eos/content``, ``--rounds`` times in a row.

Clients start at random moments within their interval (independent users, not one burst).
Latencies are recorded only for requests made while an upload streams. Then everything stops and
the script prints a markdown table: p50 / p99 / max latency of the list, status and log routes,
the upload's throughput, and the server's resident memory (before, peak, growth; sampled from
/proc every 50 ms). ``--storage s3`` runs the same against S3 on SeaweedFS (``--s3 seaweedfs``, the
default: a real object store, devcluster/seaweedfs.py) or played by moto's server mode (in
a child process, keeping objects in memory). Everything started here (the server, the local
cluster, moto) is stopped by its process id; a watchdog ends the run after ``--timeout`` seconds
whatever happens.

Targets (issue 5): list route p99 < 200 ms, server memory growth < 100 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

MiB = 1024 * 1024
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def _stop(pid: int, *, group: bool = False) -> None:
    """SIGTERM the process we started (its group, if it has its own), then SIGKILL if needed."""
    kill = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError, PermissionError):
        kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return
        except (ProcessLookupError, FileNotFoundError):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        kill(pid, signal.SIGKILL)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# -- set-up -----------------------------------------------------------------------------------
def seed(home: Path, env: dict[str, str], finished: int, seconds: float) -> str:
    """Write ``finished`` finished analysis records and submit one running array to the local
    cluster (in a child process with the benchmark's environment). Returns the running id."""
    code = f"""
import datetime as dt, time
from explorer_magics import records, session
from explorer_magics.analysis import Analysis
from explorer_magics.records import Manifest, StatusSummary

s, storage = session.settings(), session.storage()
now = dt.datetime.now(dt.timezone.utc)
for i in range({finished}):
    created = now - dt.timedelta(minutes=i + 1)
    m = Manifest(id=records.new_analysis_id(f"done{{i}}", now=created), name=f"done{{i}}", user=s.user,
                 created=created.timestamp(), size=100, compute="inline", storage=storage.url)
    summary = StatusSummary("SUCCEEDED", {{"SUCCEEDED": 100}}, 100, updated=time.time())
    storage.put_bytes(m.layout.summary, summary.to_json())
    storage.put_bytes(m.layout.manifest, m.to_json())

def talk(ac):
    import time
    for n in range({int(seconds / 0.05)}):
        print(f"element {{ac.job_index}} line {{n}} " + "x" * 60, flush=True)
        time.sleep(0.05)

an = Analysis(function=talk, input=list(range(4)), name="talker").run()
an.wait_running_or_done(timeout=60)
"""
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    if done.returncode != 0:
        sys.exit(f"seeding failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1].split("Analysis ID: ", 1)[1]


def start_server(
    env: dict[str, str], port: int, token: str, root: Path, log: Path, cpus: set[int] | None
) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.jpserver_extensions={'server_ext': True}",
            "--ServerApp.log_level=WARN",
            *(["--allow-root"] if os.getuid() == 0 else []),
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )


async def wait_ready(client: httpx.AsyncClient, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("the Jupyter server exited during start-up; see its log above")
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("health")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    sys.exit("the Jupyter server did not answer within a minute")


# -- the load ---------------------------------------------------------------------------------
async def poller(
    client: httpx.AsyncClient,
    running: str,
    every: float,
    stop: asyncio.Event,
    lat: dict[str, list[float]],
    errors: list[str],
    uploading: asyncio.Event,
) -> None:
    await asyncio.sleep(random.uniform(0, every))  # independent clients: each starts at its own moment
    while not stop.is_set():
        for name, route in (("list", "analyses"), ("status", f"analyses/{running}")):
            t0 = time.perf_counter()
            timed = uploading.is_set()
            try:
                r = await client.get(route)
                if r.status_code != 200:
                    errors.append(f"{route}: {r.status_code}")
            except httpx.HTTPError as exc:
                errors.append(f"{route}: {exc!r}")
                continue
            if timed:
                lat[name].append(time.perf_counter() - t0)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


async def follower(
    client: httpx.AsyncClient,
    running: str,
    index: int,
    every: float,
    stop: asyncio.Event,
    lat: dict[str, list[float]],
    got: list[int],
    errors: list[str],
    uploading: asyncio.Event,
) -> None:
    offset = 0
    await asyncio.sleep(random.uniform(0, every))
    while not stop.is_set():
        t0 = time.perf_counter()
        timed = uploading.is_set()
        try:
            r = await client.get(
                f"analyses/{running}/elements/{index}/log", params={"stream": "stdout", "offset": offset}
            )
        except httpx.HTTPError as exc:
            errors.append(f"log: {exc!r}")
            continue
        if timed:
            lat["log"].append(time.perf_counter() - t0)
        if r.status_code != 200:
            errors.append(f"log: {r.status_code}")
        else:
            body = r.json()
            got.append(body["next_offset"] - offset)
            offset = body["next_offset"]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


UPLOADER = """
import json, sys, time, httpx
base, token, size_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
block = (bytes(range(256)) * 4096)[:1024 * 1024]  # 1 MiB, generated, sent size_mb times

def body():
    for _ in range(size_mb):
        yield block

t0 = time.perf_counter()
with httpx.Client(base_url=base, headers={"Authorization": "token " + token}, timeout=600) as client:
    r = client.put("eos/content", params={"uri": "e://users/me/load/big.bin"}, content=body(),
                   headers={"Content-Length": str(size_mb * 1024 * 1024), "Content-Type": "application/octet-stream"})
print(json.dumps([r.status_code, time.perf_counter() - t0, r.json() if r.status_code < 500 else {"message": r.text}]))
"""


async def upload(base: str, token: str, size_mb: int) -> tuple[int, float, dict]:
    """The upload, from its own process (as a browser tab would be), so that generating and
    sending 1 GB does not delay the pollers' own event loop and skew their timings."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", UPLOADER, base, token, str(size_mb), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        return 0, 0.0, {"message": f"the uploader failed ({proc.returncode})"}
    code, seconds, entry = json.loads(out)
    return code, seconds, entry


async def sample_memory(pid: int, stop: asyncio.Event, samples: list[int]) -> None:
    while not stop.is_set():
        samples.append(_rss_bytes(pid))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.05)


async def main_async(args: argparse.Namespace, base: str, token: str, proc: subprocess.Popen, running: str) -> dict:
    limits = httpx.Limits(
        max_connections=args.pollers + args.followers + 8, max_keepalive_connections=args.pollers + args.followers + 8
    )
    headers = {"Authorization": f"token {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:
        await wait_ready(client, proc)
        # warm up: every route once, so the baseline includes imports, caches and thread pools
        for route in ("whoami", "analyses", f"analyses/{running}", f"analyses/{running}/elements"):
            (await client.get(route)).raise_for_status()
        await client.put("eos/content", params={"uri": "e://users/me/load/warm.bin"}, content=b"x" * (4 * MiB))
        await asyncio.sleep(1.0)
        baseline = max(_rss_bytes(proc.pid) for _ in range(3))
        stop = asyncio.Event()
        lat: dict[str, list[float]] = {"list": [], "status": [], "log": []}
        errors: list[str] = []
        got: list[int] = []
        memory: list[int] = []
        tasks = [asyncio.create_task(sample_memory(proc.pid, stop, memory))]
        uploading = asyncio.Event()
        tasks += [
            asyncio.create_task(poller(client, running, args.poll_every, stop, lat, errors, uploading))
            for _ in range(args.pollers)
        ]
        tasks += [
            asyncio.create_task(follower(client, running, i % 4, args.follow_every, stop, lat, got, errors, uploading))
            for i in range(args.followers)
        ]
        await asyncio.sleep(2.0)  # every client polling before the upload starts
        uploads = []
        for _ in range(args.rounds):
            uploading.set()  # latencies are recorded from here: requests made while the upload streams
            uploads.append(await upload(base, token, args.upload_mb))
            uploading.clear()
            if uploads[-1][0] != 201:
                break
            await asyncio.sleep(0.5)
        code = max(u[0] for u in uploads) if any(u[0] != 201 for u in uploads) else 201
        seconds = statistics.median(u[1] for u in uploads)
        entry = uploads[-1][2]
        stop.set()
        await asyncio.gather(*tasks)
        await client.delete(f"analyses/{running}/elements")  # stop the talking elements
    return {
        "baseline": baseline,
        "peak": max(memory) if memory else 0,
        "lat": lat,
        "errors": errors,
        "upload": (code, seconds, entry),
        "log_bytes": sum(got),
    }


def report(args: argparse.Namespace, result: dict) -> str:
    lat = result["lat"]
    code, seconds, entry = result["upload"]
    mb = args.upload_mb * MiB / 1e6

    def ms(values: list[float], *qs: float) -> str:
        return " / ".join(f"{percentile(values, q) * 1000:.1f}" for q in qs) + " ms"

    growth = (result["peak"] - result["baseline"]) / 1e6
    memory = f"{result['baseline'] / 1e6:.0f} / {result['peak'] / 1e6:.0f} / {growth:+.0f} MB"
    rows = [
        ("measure", "value", "target"),
        ("---", "---", "---"),
        (
            f"list route (`GET analyses`, {len(lat['list'])} requests) p50 / p99 / max",
            ms(lat["list"], 0.5, 0.99, 1.0),
            "p99 < 200 ms",
        ),
        (
            f"status route (`GET analyses/{{id}}`, {len(lat['status'])} requests) p50 / p99",
            ms(lat["status"], 0.5, 0.99),
            "",
        ),
        (
            f"log route ({len(lat['log'])} requests, {result['log_bytes'] / 1e3:.0f} kB followed) p50 / p99",
            ms(lat["log"], 0.5, 0.99),
            "",
        ),
        (
            f"upload of {args.upload_mb} MiB (`PUT eos/content`, {args.storage} storage), {args.rounds} times",
            f"HTTP {code}, median {seconds:.1f} s, {mb / max(seconds, 1e-9):.0f} MB/s",
            "",
        ),
        ("server memory: before / peak / growth", memory, "growth < 100 MB"),
        ("errors", str(len(result["errors"])), "0"),
    ]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upload-mb", type=int, default=1024, help="MiB to upload (default 1024 = 1 GiB)")
    parser.add_argument("--rounds", type=int, default=3, help="uploads, one after the other (more samples)")
    parser.add_argument("--pollers", type=int, default=20)
    parser.add_argument("--followers", type=int, default=5)
    parser.add_argument(
        "--poll-every",
        type=float,
        default=1.0,
        help="seconds between two polls of one status poller (the sidebar: 2-3 s)",
    )
    parser.add_argument(
        "--follow-every",
        type=float,
        default=0.5,
        help="seconds between two reads of one log follower (the sidebar: 0.5 s)",
    )
    parser.add_argument("--finished", type=int, default=200, help="finished analyses in the listing")
    parser.add_argument("--storage", choices=("local", "s3"), default="local")
    parser.add_argument(
        "--s3",
        choices=("seaweedfs", "moto"),
        default="seaweedfs",
        help="the S3 server of --storage s3: SeaweedFS (a real object store, the default) or moto (a mock)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="the whole run stops after this many seconds")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="give the server CPU 0 to itself and every client (and the local cluster, moto) the "
        "others, as if the browsers were on other machines (default: everything shares every CPU)",
    )
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus: set[int] | None = None
    if args.pin and len(cpus) >= 2:
        server_cpus = {cpus[0]}
        os.sched_setaffinity(0, set(cpus[1:]))  # this process and everything it starts, but the server

    signal.signal(
        signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError(f"the run took over {args.timeout:.0f} s"))
    )
    signal.alarm(int(args.timeout))
    work = Path(tempfile.mkdtemp(prefix="explorer-server-load-"))
    home = work / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPLORER_")}
    env.update(
        EXPLORER_HOME=str(home),
        EXPLORER_USER="bench",
        EXPLORER_CONFIG=str(work / "no-config.toml"),
        EXPLORER_LOCAL_IDLE_SECONDS="30",
        JUPYTER_CONFIG_DIR=str(work / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(work / "runtime"),
        JUPYTER_DATA_DIR=str(work / "data"),
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    moto: subprocess.Popen | None = None
    seaweed = None
    server: subprocess.Popen | None = None
    try:
        if args.storage == "s3" and args.s3 == "seaweedfs":
            sys.path.insert(0, str(REPO))
            from devcluster import seaweedfs

            seaweed = seaweedfs.start(work / "seaweedfs", buckets=("bench",))
            env.update(seaweed.env())
            env.pop("AWS_SESSION_TOKEN", None)
            env.update(
                AWS_CONFIG_FILE=str(work / "aws-config"),
                AWS_SHARED_CREDENTIALS_FILE=str(work / "aws-credentials"),
                EXPLORER_STORAGE="s3://bench/eos",
            )
            env.pop("AWS_PROFILE", None)
        elif args.storage == "s3":
            moto_port = _free_port()
            moto = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from moto.server import ThreadedMotoServer as S; import time\n"
                    f"S(ip_address='127.0.0.1', port={moto_port}, verbose=False).start(); time.sleep(1e9)",
                ],
                # moto keeps objects in memory, not in temporary files on the disk this machine's
                # logs and local storage share (real S3 does not write to the server's disk)
                env={**env, "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(4 * 1024**3)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            endpoint = f"http://127.0.0.1:{moto_port}"
            env.update(
                AWS_ACCESS_KEY_ID="bench",
                AWS_SECRET_ACCESS_KEY="bench",
                AWS_DEFAULT_REGION="us-east-1",
                AWS_CONFIG_FILE=str(work / "aws-config"),
                AWS_SHARED_CREDENTIALS_FILE=str(work / "aws-credentials"),
                EXPLORER_STORAGE="s3://bench/eos",
                EXPLORER_S3_ENDPOINT_URL=endpoint,
            )
            env.pop("AWS_PROFILE", None)
            code = (
                "import boto3, time\nfor _ in range(100):\n try:\n"
                f"  boto3.client('s3', endpoint_url='{endpoint}').create_bucket(Bucket='bench'); break\n"
                " except Exception: time.sleep(0.1)\n"
            )
            subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
        print(f"seeding {args.finished} finished analyses and one running array ...", file=sys.stderr)
        running = seed(home, env, args.finished, args.timeout)
        port, token = _free_port(), secrets.token_hex(16)
        root = work / "root"
        root.mkdir()
        log = work / "server.log"
        server = start_server(env, port, token, root, log, server_cpus)
        base = f"http://127.0.0.1:{port}/explorer/api/"
        started = dt.datetime.now()
        print(
            f"server pid {server.pid} on 127.0.0.1:{port}; {args.pollers} pollers, "
            f"{args.followers} log followers, {args.upload_mb} MiB upload ...",
            file=sys.stderr,
        )
        result = asyncio.run(main_async(args, base, token, server, running))
        print(f"done in {(dt.datetime.now() - started).total_seconds():.0f} s", file=sys.stderr)
        if result["errors"]:
            print("errors: " + "; ".join(sorted(set(result["errors"]))[:10]), file=sys.stderr)
        if result["upload"][0] != 201:
            print(f"upload failed: {result['upload']}\n--- server log ---\n{log.read_text()[-4000:]}", file=sys.stderr)
        placement = (
            f"server pinned to CPU {min(server_cpus)}, clients on the other {len(cpus) - 1}"
            if server_cpus
            else "server and clients sharing every CPU"
        )
        print(
            f"\nExplorer server extension under load ({len(cpus)} CPUs, {placement}; "
            f"loopback; {args.storage} storage{' on ' + args.s3 if args.storage == 's3' else ''})\n"
        )
        print(report(args, result))
        return 0 if result["upload"][0] == 201 and not result["errors"] else 1
    finally:
        signal.alarm(0)
        if server is not None:
            _stop(server.pid, group=True)
        lock = home / "cluster" / "supervisor.lock"
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int(lock.read_text().strip() or 0)
            if pid:
                _stop(pid)
        if moto is not None:
            _stop(moto.pid, group=True)
        if seaweed is not None:
            seaweed.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
