"""What an element used, measured by the process that runs it (every backend).

The runner starts a :class:`Meter` just before the work function and reads it just after:

* ``cpu_s``: user + system CPU seconds of the runner process and of every child process it has
  waited for (``!samtools ...`` lines, ``subprocess.run``), from ``getrusage(RUSAGE_SELF)`` and
  ``getrusage(RUSAGE_CHILDREN)``, as the difference between the two readings;
* ``peak_rss_mb``: the larger of the process's own peak resident set size since the start
  (Linux: the high-water mark is reset through ``/proc/self/clear_refs`` at the start and read
  from ``VmHWM``; elsewhere ``ru_maxrss``, i.e. since the process started) and the largest
  waited-for child's peak (``RUSAGE_CHILDREN``'s ``ru_maxrss``) when it grew during the run;
* ``host``: ``socket.gethostname()``.

When an element is killed (out of memory, a timeout, a signal) it cannot measure itself: the
process that waits for it (the local cluster's launcher, through ``wait4``) records the same
fields from the rusage the kernel returns for it (:func:`from_rusage`).
"""

from __future__ import annotations

import resource
import socket
import sys
import time
from typing import Any

#: ru_maxrss is in KiB on Linux, in bytes on macOS
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024


def _cpu(usage: resource.struct_rusage) -> float:
    return float(usage.ru_utime + usage.ru_stime)


def _reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0); True if done."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _vm_hwm_mb() -> float | None:
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def hostname() -> str:
    try:
        return socket.gethostname()
    except OSError:
        return "unknown"


class Meter:
    """CPU, peak memory and host of one element run in this process (see the module docstring)."""

    def __init__(self) -> None:
        self.started = time.time()
        self._self0 = resource.getrusage(resource.RUSAGE_SELF)
        self._children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._hwm_reset = _reset_peak()

    def read(self) -> dict[str, Any]:
        """``{"cpu_s", "peak_rss_mb", "host"}`` since the meter started."""
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = _cpu(own) - _cpu(self._self0) + _cpu(children) - _cpu(self._children0)
        peak = _vm_hwm_mb() if self._hwm_reset else None
        if peak is None:
            peak = own.ru_maxrss * _MAXRSS_UNIT / 1024 / 1024
        if children.ru_maxrss > self._children0.ru_maxrss:
            peak = max(peak, children.ru_maxrss * _MAXRSS_UNIT / 1024 / 1024)
        return {"cpu_s": round(max(0.0, cpu), 3), "peak_rss_mb": round(peak, 1), "host": hostname()}


def from_rusage(usage: Any) -> dict[str, Any]:
    """The same fields from the rusage ``os.wait4`` returned for a finished child."""
    return {
        "cpu_s": round(_cpu(usage), 3),
        "peak_rss_mb": round(usage.ru_maxrss * _MAXRSS_UNIT / 1024 / 1024, 1),
        "host": hostname(),
    }
