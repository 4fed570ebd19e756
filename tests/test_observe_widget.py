"""Issue 14 in the notebook widget: the heatmap PNG, the histograms with the request line, cost
and the failure digest of a finished 2,000-element array, and opening a group's element."""

from __future__ import annotations

import struct
import zlib

from explorer_magics import session, widgets
from explorer_magics.analysis import Analysis
from explorer_magics.job_manager import JobManager
from explorer_magics.observe import pictures

from .observe_array import write_array


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + 3 * width
    rows = [raw[r * stride + 1 : (r + 1) * stride] for r in range(height)]
    assert all(raw[r * stride] == 0 for r in range(height))
    return width, height, rows


def test_the_widget_shows_heatmap_histograms_cost_and_digest_of_a_finished_array(monkeypatch):
    manifest = write_array(session.storage(), session.settings().user, size=2000, name="widget")
    an = JobManager().get_analysis(manifest.id)
    view = widgets.AnalysisView(an, autostart=False)
    view.refresh()
    view.refresh_glance()
    g = view.glance
    width, height, rows = _png_pixels(g.heatmap.value)
    lay = g.layout
    assert (width, height) == (lay["width"], lay["height"]) and lay["cells"] == 2000
    for i in (0, 1999):  # every element has its colour at its cell
        x, y = (i % lay["cols"]) * lay["cell"], (i // lay["cols"]) * lay["cell"]
        assert tuple(rows[y][3 * x : 3 * x + 3]) == pictures.COLORS[g.statuses[i]]
    assert g.statuses[-1] == "CANCELLED" and "CANCELLED 10" in g.legend.value
    assert "stroke-dasharray" in g.memory.value and "requested 4000 MB" in g.memory.value
    assert g.runtime.value.count("<rect") >= 5
    assert "cost $0.00 so far" in g.facts.value  # the local cluster costs nothing by default
    assert "Failures: 4 causes" in g.digest.value
    assert "FileNotFoundError: [Errno &lt;n&gt;] No such file or directory: &#x27;&lt;path&gt;&#x27;" in g.digest.value
    # choosing a cause offers its elements; "Show log" follows the chosen one
    opened: list[int] = []
    monkeypatch.setattr(view, "show_logs", lambda i=None: opened.append(i))
    g.groups.value = 1
    first = g.group_element.options[0][1]
    g.open_button.click()
    assert opened == [first] and view.element.value == first


def test_a_click_on_the_heatmap_picks_the_element_under_it():
    statuses = ["SUCCEEDED"] * 10_000
    statuses[9_999] = "FAILED"
    lay = pictures.layout(10_000, 50, 40)  # fewer pixels than elements: 5 a pixel
    assert lay["per_cell"] == 5
    c = 9_999 // 5
    assert pictures.element_at(statuses, lay, c % lay["cols"], c // lay["cols"]) == 9_999
    assert pictures.element_at(statuses, lay, lay["width"] + 1, 0) is None


def test_a_running_array_shows_no_digest_until_something_fails():
    an = Analysis(function=lambda ac: None, input=[1, 2, 3]).run()
    an.wait_done(timeout=60)
    view = widgets.AnalysisView(an, autostart=False)
    view.refresh_glance()
    assert view.glance.digest.value == "" and view.glance.groups.layout.display == "none"
    assert "SUCCEEDED 3" in view.glance.legend.value
