"""Issue 14 in real Chromium: a finished 10,000-element analysis at a glance — the status heatmap
(one canvas, every cell painted, a click opens that element), the runtime and peak-memory
histograms with the request line, the failure digest, element rows with their record, and a
failed element's log tab opening on stderr under its header. Runs in tests/browser_lab.py's lab."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from explorer_magics import session

from .browser_lab import *  # noqa: F403 - the lab, browser and page fixtures
from .browser_lab import open_explorer, shot, show_widget
from .helpers import REPO
from .observe_array import first_failed_with_log, write_array

pytestmark = pytest.mark.browser


def _open(page, manifest) -> None:  # noqa: F811
    open_explorer(page)
    page.locator(".jp-Explorer-name-filter").fill(manifest.name)
    page.locator(f'.jp-Explorer-analysis[data-id="{manifest.id}"]').click()
    expect(page.locator(f'.jp-Explorer-glance[data-id="{manifest.id}"]')).to_be_visible()
    page.set_default_timeout(30_000)


def test_a_10000_element_array_at_a_glance(page, lab):  # noqa: F811
    storage = session.storage()
    manifest = write_array(storage, "alice", size=10_000, name="glance")
    failed = first_failed_with_log(storage, manifest)
    _open(page, manifest)

    canvas = page.locator(".jp-Explorer-heatmap-canvas")
    # the first look reads all 10,000 records (then it is kept in the analysis's record)
    expect(canvas).to_have_attribute("data-cells", "10000", timeout=60_000)
    # room for the whole section: the Files section folded away
    page.locator("#explorer-sidebar .lm-AccordionPanel-title", has_text="Files").click()
    expect(page.locator('.jp-Explorer-legend-item[data-status="CANCELLED"]')).to_have_text("CANCELLED 10")
    # every cell painted: count opaque cells in the canvas itself
    painted = canvas.evaluate(
        """(c) => {
            const ctx = c.getContext('2d');
            const { data } = ctx.getImageData(0, 0, c.width, c.height);
            const cell = Number(c.dataset.cell), cols = Number(c.dataset.cols), n = Number(c.dataset.cells);
            let painted = 0;
            for (let i = 0; i < n; i++) {
                const x = (i % cols) * cell, y = Math.floor(i / cols) * cell;
                if (data[(y * c.width + x) * 4 + 3] === 255) painted++;
            }
            return painted;
        }"""
    )
    assert painted == 10_000

    runtime = page.locator(".jp-Explorer-histogram").nth(0)
    memory = page.locator(".jp-Explorer-histogram").nth(1)
    expect(runtime).to_have_attribute("data-total", "9990")  # the 10 cancelled never ran
    expect(memory.locator("canvas")).to_have_attribute("data-request", "4000")
    expect(page.locator(".jp-Explorer-digest-title")).to_have_text("Failures: 4 causes")
    groups = page.locator(".jp-Explorer-digest-group")
    expect(groups.first.locator(".jp-Explorer-digest-reason")).to_have_text(
        "FileNotFoundError: [Errno <n>] No such file or directory: '<path>'"
    )
    shot(page, "observe-glance")

    # element rows show the record: label, time, peak memory; the full reason on hover
    row = page.locator(f'.jp-Explorer-element[data-index="{failed}"]')
    expect(row.locator(".jp-Explorer-element-label")).to_have_text(f"HG{failed:05d}")
    expect(row.locator(".jp-Explorer-element-memory")).not_to_have_text("")
    # the row fits the sidebar: sample name, duration and peak memory whole, not cut at its edge
    edge = page.locator("#explorer-sidebar").bounding_box()
    for part in (".jp-Explorer-element-label", ".jp-Explorer-element-time", ".jp-Explorer-element-memory"):
        box = row.locator(part).bounding_box()
        assert box["x"] + box["width"] <= edge["x"] + edge["width"], (part, box, edge)
        assert row.locator(part).evaluate("n => n.scrollWidth <= n.clientWidth")
    assert "FileNotFoundError" in (row.get_attribute("title") or "") or "samtools" in (row.get_attribute("title") or "")

    # a click on the failed element's cell opens its log, on stderr (its stdout is empty)
    box = canvas.bounding_box()
    cell, cols = int(canvas.get_attribute("data-cell")), int(canvas.get_attribute("data-cols"))
    page.mouse.click(box["x"] + (failed % cols) * cell + cell / 2, box["y"] + (failed // cols) * cell + cell / 2)
    header = page.locator(".jp-Explorer-log-header")
    expect(header).to_be_visible()
    expect(header.locator(".jp-Explorer-log-label")).to_have_text(f"HG{failed:05d}")
    expect(header).to_have_attribute("data-status", "FAILED")
    expect(page.locator('.jp-Explorer-stream[data-stream="stderr"]')).to_have_attribute("aria-selected", "true")
    expect(page.locator(".jp-Explorer-log-text")).to_contain_text("Traceback")
    shot(page, "observe-log")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":  # the README's picture
        page.screenshot(path=str(REPO / "docs" / "observe-sidebar.png"))


def test_a_cancelled_element_is_shown_apart_from_failed(page, lab):  # noqa: F811
    manifest = write_array(session.storage(), "alice", size=50, name="cancelled")
    _open(page, manifest)
    row = page.locator('.jp-Explorer-element[data-index="45"]')
    expect(row).to_have_attribute("data-display-status", "CANCELLED")
    expect(row.locator(".jp-Explorer-badge")).to_have_text("CANCELLED")


def test_a_click_on_the_notebook_widgets_heatmap_opens_that_elements_log(page, lab):  # noqa: F811
    from explorer_magics.observe import pictures
    from explorer_magics.observe.widget import HEATMAP_HEIGHT, HEATMAP_WIDTH

    storage = session.storage()
    manifest = write_array(storage, "alice", size=10_000, name="widgetclick")
    failed = first_failed_with_log(storage, manifest)
    output = show_widget(page, lab, "glance.ipynb", manifest.id)
    lay = pictures.layout(10_000, HEATMAP_WIDTH, HEATMAP_HEIGHT)
    heatmap = output.locator("img.widget-image")
    # drawn once the 10,000 records are read (the first look; then kept in the record)
    expect(heatmap).to_have_attribute("width", str(lay["width"]), timeout=90_000)
    expect(output.locator(".widget-html", has_text="Failures: 4 causes")).to_be_visible(timeout=90_000)
    # the digest's chooser starts on the largest cause and its first element
    cause = output.locator(".widget-dropdown", has_text="cause").locator("select")
    expect(cause).to_have_value(re.compile(r"^318× FileNotFoundError"))
    heatmap.scroll_into_view_if_needed()
    assert heatmap.evaluate("img => img.complete && img.naturalWidth") == lay["width"]
    shot(page, "observe-widget")

    box = heatmap.bounding_box()
    scale = box["width"] / lay["width"]  # the notebook may show it narrower than drawn
    cell, cols = lay["cell"], lay["cols"]
    x = box["x"] + ((failed % cols) * cell + cell / 2) * scale
    y = box["y"] + ((failed // cols) * cell + cell / 2) * scale
    page.mouse.click(x, y)

    header = output.locator(".jp-Explorer-widget-log-header")
    expect(header).to_have_attribute("data-index", str(failed))
    expect(header).to_contain_text(f"HG{failed:05d}")
    expect(header.locator(".jp-Explorer-badge")).to_have_text("FAILED")
    expect(output.locator("pre", has_text="Traceback")).to_be_visible()
    header.scroll_into_view_if_needed()
    shot(page, "observe-widget-log")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":  # the README's picture: the whole widget in view
        page.set_viewport_size({"width": 1400, "height": 1700})
        output.first.scroll_into_view_if_needed()
        output.first.screenshot(path=str(REPO / "docs" / "observe-widget.png"))
