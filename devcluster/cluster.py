"""``make cluster``: a one-node Slurm, SeaweedFS and a JupyterLab that uses both, on this machine.

    python -m devcluster.cluster [--port 8888] [--dir .cluster] [--root-dir examples]

Starts Slurm (:mod:`devcluster.slurm`) and SeaweedFS (:mod:`devcluster.seaweedfs`, bucket
``explorer``), then JupyterLab with ``compute = "slurm"`` and ``storage = "s3://explorer/eos"``
in its environment (so every kernel submits to the cluster), and stops all three, by PID, when
JupyterLab exits or on Ctrl-C. The cluster's settings are also written to ``DIR/env`` for a
terminal: ``set -a; . .cluster/env; set +a`` then ``sbatch``/``squeue``/``explorer slurm check``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from . import seaweedfs
from . import slurm as slurm_launcher

BUCKET = "explorer"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--dir", default=".cluster", help="state of the cluster and the S3 server")
    parser.add_argument("--root-dir", default="examples", help="JupyterLab's root directory")
    args = parser.parse_args(argv)
    state = Path(args.dir).resolve()
    if (state / "slurm").exists():  # a previous run's daemons are gone; their state is not needed
        shutil.rmtree(state / "slurm")
    state.mkdir(parents=True, exist_ok=True)
    cluster = slurm_launcher.start(state / "slurm")
    try:
        s3 = seaweedfs.start(state / "seaweedfs", buckets=(BUCKET,))
    except BaseException:
        cluster.stop()
        raise
    env = {
        **cluster.env,
        **s3.env(),
        "EXPLORER_COMPUTE": "slurm",
        "EXPLORER_STORAGE": f"s3://{BUCKET}/eos",
        "EXPLORER_SLURM_SCRATCH_DIR": str(state / "node-scratch"),
    }
    (state / "env").write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))
    os.chmod(state / "env", 0o600)
    print(
        f"Slurm: 1 node, partition {cluster.partition!r}; SeaweedFS: {s3.endpoint} (bucket {BUCKET!r}).\n"
        f"For a terminal: set -a; . {state / 'env'}; set +a",
        flush=True,
    )
    lab = [str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", "--ip=127.0.0.1", f"--port={args.port}"]
    lab.append(f"--ServerApp.root_dir={Path(args.root_dir).resolve()}")
    if os.geteuid() == 0:
        lab.append("--allow-root")
    proc = subprocess.Popen(lab, env={**os.environ, **env}, start_new_session=True)  # Ctrl-C comes to us

    def forward(signum: int, frame: object) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        cluster.stop()
        s3.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
