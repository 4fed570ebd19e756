"""``explorer slurm check``: is this cluster usable for Explorer, end to end?

Three checks, each with what to do when it fails: slurmctld answers; the partition exists
(the configured one, else the cluster's default); and a node can run one tiny element, which
proves the python on the nodes has Explorer installed and reaches the storage.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...errors import ExplorerError
from . import scheduler
from .settings import SlurmSettings

if TYPE_CHECKING:
    from ...session import Session


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _probe(ac):  # noqa: ANN001, ANN202 - the work function of the tiny element
    import socket as _socket

    ac.output.value(key="host", value=_socket.gethostname())


def run_checks(*, timeout: float = 300.0, session: Session | None = None) -> Iterator[Check]:
    """Yield each check's outcome as it is known (stop after the first failure), for
    ``session``'s settings and storage (default: the process's)."""
    from ...session import or_default

    ctx = or_default(session)
    cfg = ctx.settings.of(SlurmSettings)
    try:
        out = scheduler.run(["scontrol", "ping"])
    except ExplorerError as exc:
        yield Check("slurmctld", False, f"{exc} Is SLURM_CONF (or /etc/slurm/slurm.conf) this cluster's?")
        return
    if "UP" not in out:
        yield Check("slurmctld", False, f"scontrol ping says: {out.strip()}")
        return
    yield Check("slurmctld", True, out.strip().splitlines()[0])
    partitions = scheduler.run(["sinfo", "--noheader", "--format=%P %a"]).split()
    names = [p.rstrip("*") for p in partitions[::2]]
    default = next((p.rstrip("*") for p in partitions[::2] if p.endswith("*")), None)
    wanted = cfg.partition or default
    if wanted is None or wanted not in names:
        hint = f"; there are: {', '.join(names)}" if names else ""
        yield Check("partition", False, f"partition {wanted!r} not found{hint}. Set [slurm] partition.")
        return
    yield Check("partition", True, f"{wanted}" + (" (the cluster's default)" if not cfg.partition else ""))
    from ...analysis import Analysis, JobDefinition

    try:
        an = Analysis(
            function=_probe,
            input=None,
            name="explorer-slurm-check",
            compute="slurm",
            session=ctx,
            job_definition=JobDefinition(cpu=1, memory_mb=500, timeout_seconds=min(timeout, 600)),
        ).run()
        status = an.wait_done(timeout=timeout)
    except ExplorerError as exc:
        yield Check("storage from a node", False, str(exc))
        return
    if status["status"] != "SUCCEEDED":
        reason = an.status(0).get("reason") or status.get("reason") or status["status"]
        yield Check("storage from a node", False, f"the tiny element {an.id} ended {status['status']}: {reason}")
        return
    host = an.get_output().value("host")
    where = ctx.storage.url
    yield Check(
        "storage from a node", True, f"node {host} ran {an.id} and wrote to {where} (asked from {socket.gethostname()})"
    )
