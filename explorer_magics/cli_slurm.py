"""``explorer slurm check``: thin over :mod:`explorer_magics.compute.slurm.check`."""

from __future__ import annotations

import argparse
from typing import Any


def add_slurm_parser(subparsers: Any) -> None:
    """``explorer slurm ...``"""
    parser = subparsers.add_parser("slurm", help="check that compute=slurm works on this cluster")
    sub = parser.add_subparsers(dest="slurm_command", metavar="COMMAND")
    check = sub.add_parser(
        "check",
        help="slurmctld answers, the partition exists, a node runs one tiny element against the storage",
    )
    check.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the tiny element")
    check.set_defaults(func=_check)
    parser.set_defaults(help_parser=parser)


def _check(args: argparse.Namespace) -> int:
    from .compute.slurm.check import run_checks
    from .session import Session

    ok = True
    for check in run_checks(timeout=args.timeout, session=Session()):  # the environment's settings
        print(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}", flush=True)
        ok = ok and check.ok
    return 0 if ok else 1
