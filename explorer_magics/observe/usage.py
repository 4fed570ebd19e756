"""Resources used by an analysis, against what it asked for, and what that cost.

Every number comes from the element records (:mod:`explorer_magics.observe.measure`); see the
README section "Resources and cost" for what each one means and leaves out.

Prices (USD) come from, first match wins: ``EXPLORER_COST_VCPU_HOUR`` /
``EXPLORER_COST_GB_HOUR``; the config file's ``[cost.<backend>]`` table (``[cost.batch]``,
``[cost.local]``, ...); its ``[cost]`` table; the defaults below. The default for ``batch`` is
the AWS on-demand EC2 list price of the m6i family in us-east-1 (m6i.xlarge, 4 vCPU + 16 GiB,
$0.192 an hour), split between vCPU and memory in the ratio AWS Fargate prices them
($0.04048 per vCPU-hour : $0.004445 per GB-hour), i.e. $0.03335 per vCPU-hour and $0.003662
per GB-hour; AWS Batch itself adds no charge. Every other backend (the local cluster, Slurm)
costs 0 unless you set a price.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ExplorerError
from ..records import FAILED, RUNNING, SUCCEEDED, Attempt, ElementStatus, Manifest

if TYPE_CHECKING:
    from ..config import Settings

#: (vcpu_hour, gb_hour) in USD when nothing is set
DEFAULT_PRICES: dict[str, tuple[float, float]] = {"batch": (0.03335, 0.003662)}
DEFAULT_PRICE_SOURCE = (
    "AWS on-demand EC2 list price, m6i family, us-east-1 (m6i.xlarge $0.192/h for 4 vCPU + 16 GiB), "
    "split between vCPU and memory in AWS Fargate's price ratio"
)
DEFAULT_CPU = 2.0
DEFAULT_MEMORY_MB = 4000
HEADROOM = 1.2  # the memory hint leaves 20% above the observed peak


def _price(value: Any, where: str) -> float:
    try:
        price = float(value)
    except (TypeError, ValueError):
        raise ExplorerError(f"{where} must be a price in USD (a number such as 0.0334), not {value!r}.") from None
    if price < 0 or not math.isfinite(price):
        raise ExplorerError(f"{where} must be a price >= 0 in USD, not {value!r}.")
    return price


def prices(compute: str, settings: Settings | None = None) -> dict[str, Any]:
    """``{"vcpu_hour", "gb_hour", "currency", "source"}`` for backend ``compute`` under
    ``settings`` (default: the process session's)."""
    if settings is None:
        from ..session import or_default

        settings = or_default(None).settings
    cfg = settings.file.get("cost") if hasattr(settings, "file") else None
    table: dict[str, Any] = cfg if isinstance(cfg, dict) else {}
    own = table.get(compute)
    out: dict[str, Any] = {}
    vcpu, gb = DEFAULT_PRICES.get(compute, (0.0, 0.0))
    source = DEFAULT_PRICE_SOURCE if compute in DEFAULT_PRICES else f"no price set for {compute!r}: counted as 0"
    for section, name in ((table, "[cost]"), (own if isinstance(own, dict) else {}, f"[cost.{compute}]")):
        if "vcpu_hour" in section or "gb_hour" in section:
            vcpu = _price(section.get("vcpu_hour", 0), f"{name} vcpu_hour")
            gb = _price(section.get("gb_hour", 0), f"{name} gb_hour")
            source = f"config file {name}"
    environ = getattr(settings, "environ", None) or os.environ
    env_vcpu, env_gb = environ.get("EXPLORER_COST_VCPU_HOUR"), environ.get("EXPLORER_COST_GB_HOUR")
    if env_vcpu or env_gb:
        vcpu = _price(env_vcpu or 0, "EXPLORER_COST_VCPU_HOUR")
        gb = _price(env_gb or 0, "EXPLORER_COST_GB_HOUR")
        source = "EXPLORER_COST_VCPU_HOUR / EXPLORER_COST_GB_HOUR"
    out.update(vcpu_hour=vcpu, gb_hour=gb, currency="USD", source=source)
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _spread(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "max": max(values) if values else None}


def requested(manifest: Manifest) -> tuple[float, int]:
    """(vCPUs, memory_mb) each element asked for."""
    return resources_of(manifest.job_definition)


def _gb(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def memory_hint(peaks: Sequence[float], memory_mb: int, oom_failures: int = 0) -> tuple[str, int | None]:
    """(a sentence, the memory_mb it suggests or None)."""
    if oom_failures:
        return (
            f"{oom_failures} element(s) ran out of memory at memory_mb={memory_mb}: raise memory_mb "
            f"(e.g. memory_mb={memory_mb * 2}) and rerun them.",
            memory_mb * 2,
        )
    if not peaks:
        return "no element has finished with a measured peak memory yet.", None
    p95 = percentile(peaks, 95) or 0.0
    p99 = percentile(peaks, 99) or 0.0
    suggest = max(100, math.ceil(p99 * HEADROOM / 100) * 100)
    fit = sum(p <= suggest for p in peaks) / len(peaks)
    if p95 > 0.9 * memory_mb:
        return (
            f"peak memory p95 {_gb(p95)} is close to the {_gb(memory_mb)} requested: raise memory_mb "
            f"(memory_mb={max(suggest, memory_mb + 500)}) so a larger input does not run out.",
            max(suggest, memory_mb + 500),
        )
    if suggest < 0.8 * memory_mb:
        return (
            f"peak memory p95 {_gb(p95)} of {_gb(memory_mb)} requested: memory_mb={suggest} would fit "
            f"{fit:.0%} of elements.",
            suggest,
        )
    return f"peak memory p95 {_gb(p95)} of {_gb(memory_mb)} requested: the request fits.", None


def _cost(vcpu_hours: float, gb_hours: float, price: dict[str, Any]) -> float:
    return round(vcpu_hours * price["vcpu_hour"] + gb_hours * price["gb_hour"], 4)


def resources_of(job_definition: dict[str, Any]) -> tuple[float, int]:
    """(vCPUs, memory_mb) of a job definition or an attempt's resources (the defaults where unset)."""
    return float(job_definition.get("cpu") or DEFAULT_CPU), int(job_definition.get("memory_mb") or DEFAULT_MEMORY_MB)


def usage(
    manifest: Manifest,
    elements: Iterable[ElementStatus],
    *,
    compute: str | None = None,
    now: float | None = None,
    attempts: Sequence[tuple[int, Attempt]] = (),
    resources: Mapping[int, tuple[float, int]] | None = None,
    default_resources: tuple[float, int] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Totals, spreads, a right-sizing hint and cost of ``elements`` (every element's record).

    ``attempts``: the earlier attempts of the elements (a rerun's, a retry's), as (element,
    attempt): they were paid for, so the totals and the cost count them (with the resources
    each had); the spreads, histograms and hints describe the elements' current attempts.
    ``resources``: (vCPUs, memory_mb) of an element's current attempt where it is not
    ``default_resources`` (by default the job definition's): a retry's grown memory, a rerun
    with another job definition."""
    now = time.time() if now is None else now
    cpu_req, mem_req = requested(manifest)
    default = default_resources or (cpu_req, mem_req)
    own = resources or {}
    price = prices(compute or manifest.compute, settings)
    finished: list[ElementStatus] = []
    running: list[ElementStatus] = []
    for el in elements:
        if el.duration_s is not None:
            finished.append(el)
        elif el.status == RUNNING and el.started is not None:
            running.append(el)
    durations = [el.duration_s or 0.0 for el in finished]
    # what was reserved by each run: (seconds, vCPUs, MB, whether it FAILED)
    ended: list[
        tuple[float, float, int, bool]
    ] = []  # finished elements and earlier attempts: measured from start to end
    for el in finished:
        cpu, mem = own.get(el.index, default)
        ended.append((el.duration_s or 0.0, cpu, mem, el.status == FAILED))
    earlier = [(i, a) for i, a in attempts if a.duration_s is not None]
    for _i, a in earlier:
        cpu, mem = resources_of(a.resources) if a.resources else default
        ended.append((a.duration_s or 0.0, cpu, mem, a.status == FAILED))
    reserved = list(ended)
    for el in running:  # so far
        cpu, mem = own.get(el.index, default)
        reserved.append((max(0.0, now - (el.started or now)), cpu, mem, False))
    earlier_wall = sum(a.duration_s or 0.0 for _, a in earlier)
    wall = sum(durations) + earlier_wall
    cpu_s = sum(el.cpu_s for el in finished if el.cpu_s is not None)
    cpu_s += sum(a.cpu_s for _, a in earlier if a.cpu_s is not None)
    peaks = [el.peak_rss_mb for el in finished if el.peak_rss_mb is not None]
    peak_wall = sum((el.duration_s or 0.0) * el.peak_rss_mb for el in finished if el.peak_rss_mb is not None)
    peak_wall += sum((a.duration_s or 0.0) * a.peak_rss_mb for _, a in earlier if a.peak_rss_mb is not None)
    oom = sum(1 for el in finished if el.status == FAILED and "memory" in (el.reason or "").lower())
    ok_peaks = [el.peak_rss_mb for el in finished if el.status == SUCCEEDED and el.peak_rss_mb is not None]
    hint, suggest = memory_hint(ok_peaks or peaks, mem_req, oom)
    vcpu_h_req = sum(t * cpu for t, cpu, _, _ in reserved) / 3600
    gb_h_req = sum(t * mem for t, _, mem, _ in reserved) / 1024 / 3600
    vcpu_h_failed = sum(t * cpu for t, cpu, _, failed in reserved if failed) / 3600
    gb_h_failed = sum(t * mem for t, _, mem, failed in reserved if failed) / 1024 / 3600
    ended_cpu_wall = sum(t * cpu for t, cpu, _, _ in ended)
    starts = [el.started for el in [*finished, *running] if el.started is not None]
    starts += [a.started for _, a in earlier if a.started is not None]
    ends = [el.stopped for el in finished if el.stopped is not None] + ([now] if running else [])
    ends += [a.stopped for _, a in earlier if a.stopped is not None]
    cpu_use = [el.cpu_s / el.duration_s for el in finished if el.cpu_s is not None and el.duration_s]
    cpu_hint = None
    busy = (cpu_s / ended_cpu_wall) if ended_cpu_wall else None
    if busy is not None and busy < 0.5 and cpu_req > 1:
        want = max(1, math.ceil((percentile(cpu_use, 95) or 0.0) * HEADROOM))
        if want < cpu_req:
            cpu_hint = f"CPU busy {busy:.0%} of cpu={cpu_req:g} requested: cpu={want} would do."
    return {
        "elements": manifest.count,
        "measured": len(finished),
        "running": len(running),
        "earlier_attempts": {
            "count": len(earlier),
            "failed": sum(1 for _, a in earlier if a.status == FAILED),
            "elements": len({i for i, _ in earlier}),
            "wall_s": round(earlier_wall, 1),
        },
        "requested": {"cpu": cpu_req, "memory_mb": mem_req},
        "cpu_s": round(cpu_s, 1),
        "wall_s": round(wall, 1),
        "elapsed_s": round(max(ends) - min(starts), 1) if starts and ends else None,
        "vcpu_hours": {"requested": round(vcpu_h_req, 4), "used": round(cpu_s / 3600, 4)},
        "gb_hours": {"requested": round(gb_h_req, 4), "used": round(peak_wall / 1024 / 3600, 4)},
        "cpu_efficiency": round(busy, 3) if busy is not None else None,
        "peak_rss_mb": _spread(peaks),
        "runtime_s": _spread(durations),
        "hint": {"memory": hint, "memory_mb": suggest, "cpu": cpu_hint},
        "cost": {
            **price,
            "spent": _cost(vcpu_h_req, gb_h_req, price),
            "spent_failed": _cost(vcpu_h_failed, gb_h_failed, price),
        },
    }


def estimate(
    manifest: Manifest,
    measured: Sequence[ElementStatus],
    *,
    size: int,
    compute: str,
    max_parallel: int | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """A forecast for ``size`` elements on ``compute`` from the elements already measured (the
    median of their runtimes, CPU and peak memory)."""
    done = [el for el in measured if el.duration_s is not None and el.status == SUCCEEDED]
    if not done:
        raise ExplorerError(
            "Nothing to estimate from: no element has succeeded with a measured run yet. "
            "Run one first, e.g. an.run_local(index=0), then call an.estimate()."
        )
    cpu_req, mem_req = requested(manifest)
    element_s = percentile([el.duration_s or 0.0 for el in done], 50) or 0.0
    cpu_s = percentile([el.cpu_s for el in done if el.cpu_s is not None], 50)
    peak = percentile([el.peak_rss_mb for el in done if el.peak_rss_mb is not None], 50)
    price = prices(compute, settings)
    vcpu_h = size * element_s * cpu_req / 3600
    gb_h = size * element_s * mem_req / 1024 / 3600
    out: dict[str, Any] = {
        "elements": size,
        "compute": compute,
        "from_elements": [el.index for el in done],
        "element_s": round(element_s, 3),
        "cpu_s": cpu_s,
        "peak_rss_mb": peak,
        "requested": {"cpu": cpu_req, "memory_mb": mem_req},
        "vcpu_hours": round(vcpu_h, 4),
        "gb_hours": round(gb_h, 4),
        "cost": {**price, "total": _cost(vcpu_h, gb_h, price)},
        "wall_s": None,
    }
    if max_parallel:
        out["wall_s"] = round(math.ceil(size / max_parallel) * element_s, 1)
        out["max_parallel"] = max_parallel
    if peak is not None:
        out["hint"] = memory_hint([el.peak_rss_mb for el in done if el.peak_rss_mb is not None], mem_req)[0]
    return out
