"""A real Slurm cluster on this machine, from a temporary directory (tests, ``make cluster``).

Debian's ``slurm-wlm`` daemons are started by PID with their own ``munged`` (own key and
socket), their own slurm.conf/cgroup.conf and free ports, so nothing in ``/etc`` is read or
changed and several clusters can run side by side::

    with start(nodes=1) as cluster:
        env = cluster.env            # SLURM_CONF=...: what sbatch/squeue need
        ...

    python -m devcluster.slurm [--dir DIR] [--nodes N]   # runs until Ctrl-C

The settings that matter (see the notes on real infrastructure): scheduler delays off,
``MaxArraySize=10001`` (the default 1001 refuses a 10,000-element array), ``DefMemPerCPU`` (else
a job gets the whole node's memory and jobs run one at a time), ``kill_invalid_depend`` under
``DependencyParameters`` (optional: Explorer must cope without it), cgroup v1 memory so ``--mem``
is enforced, and a ``NodeName`` with a ``NodeAddr`` (the machine's hostname is not "localhost").

Nodes may live in network namespaces (``netns`` of :class:`Node`): ``slurmd`` then runs in
that namespace, with its own hostname (a UTS namespace) and its own scratch directory bound
over ``scratch_mount`` (a mount namespace), like a separate machine that shares nothing with
the others but what is reached over the network.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PARTITION = "explorer"
START_TIMEOUT = 60.0


class ClusterError(RuntimeError):
    """The cluster could not be started (the message names the log to read)."""


@dataclasses.dataclass
class Node:
    """One slurmd. ``addr`` is where slurmctld reaches it; ``netns`` runs it in that network
    namespace (with a hostname of its own and ``scratch`` bound over ``scratch_mount``)."""

    name: str
    addr: str = "127.0.0.1"
    netns: str | None = None
    scratch: Path | None = None
    scratch_mount: str | None = None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def available() -> bool:
    """True when the Slurm and munge daemons are installed and can run here (as root:
    slurmd manages the jobs' cgroups)."""
    daemons = all(shutil.which(b) for b in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol"))
    return daemons and os.geteuid() == 0


@dataclasses.dataclass
class SlurmCluster:
    """A running cluster; stop it with :meth:`stop` (or use it as a context manager)."""

    root: Path
    nodes: list[Node]
    ctld_port: int
    partition: str = PARTITION
    procs: dict[str, subprocess.Popen[bytes]] = dataclasses.field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point Slurm's client commands at this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        """Run a Slurm client command against this cluster; its stdout."""
        proc = subprocess.run(
            list(args), env={**os.environ, **self.env}, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise ClusterError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def node_states(self) -> dict[str, str]:
        out = self.run("sinfo", "-h", "-N", "-o", "%N %t", check=False)
        states: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2:
                states[parts[0]] = parts[1]
        return states

    def wait_idle(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until every node is idle (or mixed/allocated: up and taking jobs)."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise ClusterError(f"{name} exited with {proc.returncode}; see {self.root / 'log'}")
            states = self.node_states()
            if states and all(states.get(n.name, "").rstrip("*") in ("idle", "mix", "alloc") for n in self.nodes):
                return
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        raise ClusterError(
            f"Slurm nodes not idle after {timeout:.0f} s ({self.node_states()}); see {self.root / 'log'}"
        )

    def stop(self) -> None:
        """Cancel every job and wait for them to end, then stop the daemons by PID (slurmd
        first, munged last); a job step daemon of this cluster left behind is killed too."""
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            with contextlib.suppress(Exception):
                self.run("scancel", "--user", str(os.getuid()), check=False, timeout=10)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and self.run("squeue", "-h", check=False, timeout=10).strip():
                    time.sleep(0.2)
        order = [k for k in self.procs if k.startswith("slurmd-")] + ["slurmctld", "slurmdbd", "mariadbd", "munged"]
        for name in order:
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()
        for pid in self._step_daemons():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _step_daemons(self) -> list[int]:
        """slurmstepd processes of THIS cluster (they keep its slurmd log open)."""
        found = []
        logs = str(self.root / "log") + "/"
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if not (entry / "cmdline").read_bytes().startswith(b"slurmstepd"):
                    continue
                if any(os.readlink(fd).startswith(logs) for fd in (entry / "fd").iterdir()):
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def __enter__(self) -> SlurmCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _slurm_conf(
    root: Path,
    nodes: list[Node],
    *,
    ctld_addr: str,
    ctld_port: int,
    slurmd_port: int,
    cpus: int,
    memory_mb: int,
    max_array_size: int,
    kill_invalid_depend: bool,
    cgroup: bool,
    dbd_port: int | None = None,
    min_job_age: int = 300,
) -> str:
    hostname = socket.gethostname().split(".")[0]
    lines = [
        "ClusterName=explorer",
        f"SlurmctldHost={hostname}({ctld_addr})",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root / 'munge' / 'munge.socket'}",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}/%n",
        f"SlurmctldPidFile={root / 'run'}/slurmctld.pid",
        f"SlurmdPidFile={root / 'run'}/slurmd-%n.pid",
        f"SlurmctldLogFile={root / 'log'}/slurmctld.log",
        f"SlurmdLogFile={root / 'log'}/slurmd-%n.log",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        "SchedulerType=sched/backfill",
        "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        f"MaxArraySize={max_array_size}",
        "MaxJobCount=100000",
        "DefMemPerCPU=500",
        f"MinJobAge={min_job_age}",
        "ReturnToService=2",
        "SlurmdParameters=config_overrides",
        "MpiDefault=none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={root / 'log'}/jobcomp.txt",
        "KillWait=5",
        "InactiveLimit=0",
        "PlugStackConfig=/dev/null",
    ]
    if dbd_port is not None:  # sacct: slurmdbd (+ MariaDB) keeps every job's final state
        lines += [
            "AccountingStorageType=accounting_storage/slurmdbd",
            "AccountingStorageHost=127.0.0.1",
            f"AccountingStoragePort={dbd_port}",
            f"AccountingStoragePass={root / 'munge' / 'munge.socket'}",
        ]
    else:
        lines.append("AccountingStorageType=accounting_storage/none")
    if kill_invalid_depend:
        lines.append("DependencyParameters=kill_invalid_depend")
    if cgroup:
        lines += ["ProctrackType=proctrack/cgroup", "TaskPlugin=task/cgroup"]
    else:
        lines += ["ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none"]
    for node in nodes:
        lines.append(
            f"NodeName={node.name} NodeAddr={node.addr} NodeHostname={node.name} CPUs={cpus} "
            f"RealMemory={memory_mb} State=UNKNOWN"
        )
    names = ",".join(n.name for n in nodes)
    lines.append(f"PartitionName={PARTITION} Nodes={names} Default=YES MaxTime=INFINITE State=UP")
    return "\n".join(lines) + "\n"


def _same_host_ports(nodes: list[Node], conf: str) -> str:
    """Nodes sharing this machine's network need a slurmd port each."""
    out = []
    for line in conf.splitlines():
        if line.startswith("NodeName="):
            name = line.split()[0].split("=", 1)[1]
            node = next(n for n in nodes if n.name == name)
            if not node.netns:
                line += f" Port={free_port()}"
        out.append(line)
    return "\n".join(out) + "\n"


def start(
    root: str | os.PathLike[str] | None = None,
    *,
    nodes: int | list[Node] = 1,
    cpus: int = 32,
    memory_mb: int = 64000,
    max_array_size: int = 10001,
    kill_invalid_depend: bool = True,
    cgroup: bool = True,
    ctld_addr: str = "127.0.0.1",
    accounting: bool = False,
    min_job_age: int = 300,
) -> SlurmCluster:
    """Start munged, slurmctld and one slurmd per node from ``root`` (a new temp directory by
    default) and wait until every node is idle. ``cpus``/``memory_mb`` are what each node
    offers (``config_overrides``: more than the machine has, so many small elements run at
    once; the cgroup still enforces each job's ``--mem``). ``accounting`` adds MariaDB and
    slurmdbd (so ``sacct`` works); ``min_job_age`` is how long slurmctld (and so squeue)
    remembers a job that ended."""
    if not available():
        raise ClusterError("Slurm is not installed: apt-get install -y slurm-wlm munge")
    base = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="explorer-slurm-"))
    base = base.resolve()
    node_list = [Node(f"n{i + 1}") for i in range(nodes)] if isinstance(nodes, int) else list(nodes)
    for sub in ("etc", "state", "spool", "run", "log", "munge"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(base / "munge", 0o700)
    key = base / "munge" / "munge.key"
    if not key.exists():
        key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    ctld_port = free_port()
    dbd_port = free_port() if accounting else None
    conf = _slurm_conf(
        base,
        node_list,
        ctld_addr=ctld_addr,
        ctld_port=ctld_port,
        slurmd_port=free_port(),
        cpus=cpus,
        memory_mb=memory_mb,
        max_array_size=max_array_size,
        kill_invalid_depend=kill_invalid_depend,
        cgroup=cgroup,
        dbd_port=dbd_port,
        min_job_age=min_job_age,
    )
    (base / "etc" / "slurm.conf").write_text(_same_host_ports(node_list, conf))
    (base / "etc" / "cgroup.conf").write_text(
        "CgroupPlugin=cgroup/v1\nCgroupAutomount=yes\nConstrainCores=no\nConstrainRAMSpace=yes\n"
        "ConstrainSwapSpace=yes\nAllowedSwapSpace=0\n"
    )
    cluster = SlurmCluster(root=base, nodes=node_list, ctld_port=ctld_port)
    env = {**os.environ, "SLURM_CONF": str(cluster.conf)}
    log = base / "log"
    try:
        sock = base / "munge" / "munge.socket"
        cluster.procs["munged"] = _spawn(
            [
                "munged",
                "-F",
                "--force",
                f"--key-file={key}",
                f"--socket={sock}",
                f"--pid-file={base / 'run' / 'munged.pid'}",
                f"--log-file={log / 'munged.log'}",
                f"--seed-file={base / 'munge' / 'munged.seed'}",
            ],
            env,
            log / "munged.out",
        )
        _wait(lambda: sock.exists(), "munged's socket", cluster)
        if dbd_port is not None:
            _start_accounting(cluster, env, dbd_port)
        cluster.procs["slurmctld"] = _spawn(["slurmctld", "-D", "-i", "-f", str(cluster.conf)], env, log / "ctld.out")
        _wait(lambda: _answers(ctld_addr, ctld_port), "slurmctld to listen", cluster)
        for node in node_list:
            cluster.procs[f"slurmd-{node.name}"] = _spawn(
                _slurmd_command(node, cluster.conf), env, log / f"{node.name}.out"
            )
        cluster.wait_idle()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _start_accounting(cluster: SlurmCluster, env: dict[str, str], dbd_port: int) -> None:
    """MariaDB (its own data directory, socket and port on 127.0.0.1) and slurmdbd."""
    if not (shutil.which("mariadbd") and shutil.which("mariadb-install-db") and shutil.which("slurmdbd")):
        raise ClusterError("Accounting needs MariaDB and slurmdbd: apt-get install -y mariadb-server slurmdbd")
    base, log = cluster.root, cluster.root / "log"
    data, db_sock, db_port = base / "mariadb", base / "run" / "mariadb.sock", free_port()
    if not (data / "mysql").exists():
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root", "--skip-test-db"],
            check=True,
            capture_output=True,
        )
    cluster.procs["mariadbd"] = _spawn(
        [
            "mariadbd",
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={db_sock}",
            f"--port={db_port}",
            "--bind-address=127.0.0.1",
            "--user=root",
            f"--pid-file={base / 'run' / 'mariadb.pid'}",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=64M",
        ],
        env,
        log / "mariadb.out",
    )
    _wait(lambda: _answers("127.0.0.1", db_port), "MariaDB to listen", cluster)
    password = os.urandom(12).hex()
    sql = (
        f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}';"
        f"ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}';"
        "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
    )
    subprocess.run(["mariadb", "--no-defaults", f"--socket={db_sock}", "-u", "root", "-e", sql], check=True)
    dbd_conf = base / "etc" / "slurmdbd.conf"
    dbd_conf.write_text(
        "\n".join(
            [
                "AuthType=auth/munge",
                f"AuthInfo=socket={base / 'munge' / 'munge.socket'}",
                "DbdAddr=127.0.0.1",
                "DbdHost=localhost",
                f"DbdPort={dbd_port}",
                "SlurmUser=root",
                f"PidFile={base / 'run' / 'slurmdbd.pid'}",
                f"LogFile={log / 'slurmdbd.log'}",
                "StorageType=accounting_storage/mysql",
                "StorageHost=127.0.0.1",
                f"StoragePort={db_port}",
                "StorageUser=slurm",
                f"StoragePass={password}",
                "StorageLoc=slurm_acct_db",
            ]
        )
        + "\n"
    )
    os.chmod(dbd_conf, 0o600)
    # slurmdbd reads the slurmdbd.conf beside $SLURM_CONF
    cluster.procs["slurmdbd"] = _spawn(["slurmdbd", "-D"], env, log / "slurmdbd.out")
    _wait(lambda: _answers("127.0.0.1", dbd_port), "slurmdbd to listen", cluster)


def _slurmd_command(node: Node, conf: Path) -> list[str]:
    cmd = ["slurmd", "-D", "-N", node.name, "-f", str(conf)]
    if not node.netns:
        return cmd
    # a machine of its own: network (netns), hostname (uts) and node-local scratch (mount)
    script = f"hostname {node.name}"
    if node.scratch is not None and node.scratch_mount:
        script += f" && mkdir -p {node.scratch_mount} && mount --bind {node.scratch} {node.scratch_mount}"
    script += " && exec " + " ".join(cmd)
    # nsenter, not `ip netns exec`: that remounts /sys, and slurmd needs the cgroup file systems
    return [
        "nsenter",
        f"--net=/run/netns/{node.netns}",
        "unshare",
        "--uts",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
    ]


def _spawn(cmd: list[str], env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    with open(out, "ab") as fh:
        return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _wait(predicate, what: str, cluster: SlurmCluster, timeout: float = START_TIMEOUT) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if predicate():
            return
        for name, proc in cluster.procs.items():
            if proc.poll() is not None:
                raise ClusterError(f"{name} exited with {proc.returncode}; see {cluster.root / 'log'}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.3)
    raise ClusterError(f"timed out waiting for {what}; see {cluster.root / 'log'}")


@contextlib.contextmanager
def running(**kwargs) -> Iterator[SlurmCluster]:  # noqa: ANN003 - the arguments of start()
    cluster = start(**kwargs)
    try:
        yield cluster
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster.slurm", description="Run a Slurm cluster here.")
    parser.add_argument("--dir", default=None, help="state directory (default: a new temp directory)")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--env-file", default=None, help="write SLURM_CONF=... to this file once the cluster is up")
    args = parser.parse_args(argv)
    cluster = start(args.dir, nodes=args.nodes)
    print(f"Slurm is up: {len(cluster.nodes)} node(s), partition {cluster.partition!r}.", flush=True)
    print(f"  export SLURM_CONF={cluster.conf}", flush=True)
    if args.env_file:
        Path(args.env_file).write_text(f"SLURM_CONF={cluster.conf}\n")
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stop and all(p.poll() is None for p in cluster.procs.values()):
            time.sleep(0.5)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
