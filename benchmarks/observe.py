"""Issue 14's benchmark: the array-at-a-glance routes and the sidebar's heatmap at 10,000 elements.

    .venv/bin/python benchmarks/observe.py [--size 10000] [--attempts 1000] [--requests 200] [--draws 10]
                                           [--timeout 600]

Bounded and loopback only. Writes a finished 10,000-element analysis record into a fresh
temporary Explorer home on local storage (tests/observe_array.py: 3 failure causes, 10 cancelled
elements, measured runtimes and memory; --attempts of its elements have an earlier, failed attempt
archived as a rerun or retry leaves it, which the cost counts), starts its own `jupyter-lab` on 127.0.0.1 with a
random token (stopped by its process id; a watchdog ends the run after --timeout seconds), then:

* ``GET analyses/{id}/failures``, ``GET analyses/{id}/statuses`` (the heatmap's data) and
  ``GET analyses/{id}/usage``, each --requests times in a row after one first (cold) request,
  which is reported apart: it reads every element's record and every earlier attempt once
  and keeps the digest and the usage in the analysis's record;
* in Chromium (/usr/bin/chromium, through Playwright), opens the analysis in the sidebar
  --draws times (back to the list and in again) and reads how long drawing the 10,000-cell
  heatmap took (the canvas's ``data-draw-ms``: performance.now() around computing the pixels
  and putImageData) and how long from the click to the painted heatmap (the three requests,
  React's render and the draw).

Prints a markdown table. Targets (issue 14): the routes p99 < 100 ms on local storage, the
heatmap's render < 100 ms in Chromium.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def archive_earlier_attempts(storage, manifest, n: int) -> None:  # noqa: ANN001
    """Give elements 0..n-1 an earlier attempt that FAILED 10 minutes before their current one,
    archived the way a rerun or a retry archives it."""
    import dataclasses

    from explorer_magics import records

    layout = manifest.layout
    for i in range(n):
        el = records.ElementStatus.from_json(storage.get_bytes(layout.status(i)))
        start = (el.started or el.stopped or time.time()) - 700
        earlier = dataclasses.replace(el, status="FAILED", reason="flaky", started=start, stopped=start + 600)
        records.write_element_status(storage, layout, earlier)
        records.archive_attempt(storage, layout, i, earlier, {"cpu": 2, "memory_mb": 4000})
        records.write_element_status(storage, layout, el)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--attempts", type=int, default=1000, help="elements with an earlier, failed attempt")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="explorer-bench-observe-"))
    home = work / "home"
    os.environ.update(
        {"EXPLORER_HOME": str(home), "EXPLORER_USER": "alice", "EXPLORER_CONFIG": str(work / "none.toml")}
    )
    for name in [
        n
        for n in os.environ
        if n.startswith("EXPLORER_") and n not in ("EXPLORER_HOME", "EXPLORER_USER", "EXPLORER_CONFIG")
    ]:
        del os.environ[name]

    from explorer_magics import session
    from tests.browser_lab import CHROMIUM, Lab
    from tests.observe_array import write_array

    t0 = time.perf_counter()
    manifest = write_array(session.storage(), "alice", size=args.size, name="bench")
    archive_earlier_attempts(session.storage(), manifest, min(args.attempts, args.size))
    print(f"wrote a {args.size:,}-element record in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    lab = Lab(home, work / "lab")
    watchdog = threading.Timer(args.timeout, lambda: (lab.stop(), os._exit(3)))
    watchdog.daemon = True
    watchdog.start()
    rows: list[tuple[str, str]] = []
    try:

        def get(route: str) -> float:
            req = urllib.request.Request(
                f"{lab.url}/explorer/api/analyses/{manifest.id}/{route}",
                headers={"Authorization": f"token {lab.token}"},
            )
            start = time.perf_counter()
            with urllib.request.urlopen(req, timeout=60) as r:
                r.read()
            return (time.perf_counter() - start) * 1000

        for route in ("failures", "statuses", "usage"):
            cold = get(route)
            times = [get(route) for _ in range(args.requests)]
            rows.append(
                (
                    f"`GET analyses/{{id}}/{route}` ({args.size:,} elements, {args.attempts:,} earlier attempts, "
                    "local storage)",
                    f"p50 {percentile(times, 50):.1f} ms · p99 {percentile(times, 99):.1f} ms · "
                    f"max {max(times):.1f} ms (first request {cold:.0f} ms)",
                )
            )

        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{lab.url}/lab/workspaces/bench?reset&token={lab.token}")
            page.wait_for_selector("#jupyterlab-splash", state="detached")
            page.click('li[data-id="explorer-sidebar"]')
            page.locator(".jp-Explorer-name-filter").fill("bench")
            page.locator(f'.jp-Explorer-analysis[data-id="{manifest.id}"]').click()
            canvas = page.locator(".jp-Explorer-heatmap-canvas")
            canvas.wait_for()
            draws = [float(canvas.get_attribute("data-draw-ms") or "nan")]
            cells = canvas.get_attribute("data-cells")
            opens: list[float] = []
            for _ in range(args.draws):
                # back to the list, then open the analysis again: three requests, React render, draw
                page.locator(".jp-Explorer-back").click()
                row = page.locator(f'.jp-Explorer-analysis[data-id="{manifest.id}"]')
                row.wait_for()
                took = page.evaluate(
                    """(id) => new Promise(resolve => {
                        const t0 = performance.now();
                        const done = () => {
                            const c = document.querySelector('.jp-Explorer-heatmap-canvas');
                            if (c && c.dataset.drawMs) { resolve([performance.now() - t0, Number(c.dataset.drawMs)]); }
                            else { requestAnimationFrame(done); }
                        };
                        document.querySelector(`.jp-Explorer-analysis[data-id="${id}"]`).click();
                        requestAnimationFrame(done);
                    })""",
                    manifest.id,
                )
                opens.append(took[0])
                draws.append(took[1])
            browser.close()
        rows.append(
            (
                f"Sidebar heatmap draw in Chromium ({cells} cells, one canvas)",
                f"p50 {percentile(draws, 50):.1f} ms · max {max(draws):.1f} ms ({len(draws)} draws)",
            )
        )
        rows.append(
            (
                "Sidebar: open the analysis until the heatmap is painted (3 requests + render + draw)",
                f"p50 {percentile(opens, 50):.0f} ms · max {max(opens):.0f} ms ({len(opens)} opens)",
            )
        )
    finally:
        lab.stop()
        watchdog.cancel()
    print("| what | measured |\n|---|---|")
    for what, value in rows:
        print(f"| {what} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
