"""Separate "machines" on this one: network namespaces joined to this host by veth pairs.

Host ``k`` (1-based) is the namespace ``<prefix>-k`` with address ``10.201.k.2``; its veth
peer on this machine has ``10.201.k.1``. A namespace's default route goes to this machine, so
every namespace reaches every ``10.201.*.1`` address (and so any server bound to one of them),
and traffic never leaves the machine: nothing is forwarded or NATed, the addresses exist only
on the veths made here, and deleting a namespace deletes its veth pair::

    with hosts(2) as machines:
        machines[0].addr      # "10.201.1.2": where the first machine is reached
        machines[0].gateway   # "10.201.1.1": where it reaches this machine

Needs root and iproute2 (``ip``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
from collections.abc import Iterator

SUBNET = "10.201"


@dataclasses.dataclass(frozen=True)
class Host:
    name: str  # the network namespace
    addr: str  # its address on its veth
    gateway: str  # this machine's address on the other end


def available() -> bool:
    """True when namespaces can be made here (root, iproute2, unshare)."""
    return os.geteuid() == 0 and bool(shutil.which("ip")) and bool(shutil.which("unshare"))


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _in_use(prefix: str) -> bool:
    out = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True, check=False).stdout
    return f" {prefix}." in out


@contextlib.contextmanager
def hosts(count: int, *, prefix: str | None = None) -> Iterator[list[Host]]:
    """``count`` namespaces, each a machine of its own; removed on exit."""
    tag = prefix or f"ex{os.getpid() % 100000}"
    made: list[Host] = []
    try:
        for k in range(1, count + 1):
            net = f"{SUBNET}.{k}"
            if _in_use(net):
                raise RuntimeError(f"{net}.0/24 is already in use on this machine; remove it or pick other addresses")
            ns = f"{tag}-{k}"
            outside, inside = f"{tag}h{k}"[:15], f"{tag}n{k}"[:15]
            _ip("netns", "add", ns)
            made.append(Host(ns, f"{net}.2", f"{net}.1"))
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", ns)
            _ip("addr", "add", f"{net}.1/24", "dev", outside)
            _ip("link", "set", outside, "up")
            _ip("-n", ns, "addr", "add", f"{net}.2/24", "dev", inside)
            _ip("-n", ns, "link", "set", inside, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "default", "via", f"{net}.1")
        yield made
    finally:
        for host in made:
            subprocess.run(["ip", "netns", "delete", host.name], capture_output=True, check=False)
