"""Issue 14 in the notebook widget: the heatmap PNG, the histograms with the request line, cost
and the failure digest of a finished 2,000-element array, and opening a group's element."""

from __future__ import annotations

import struct
import zlib

from explorer_magics import session, widgets
from explorer_magics.analysis import Analysis
from explorer_magics.job_manager import JobManager
from explorer_magics.observe import pictures, views

from .observe_array import first_failed_with_log, write_array


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
    # the largest cause is chosen at first, with its first element
    groups = views.failures(an)
    assert g.groups.value == 0 and g.group_element.value == groups[0]["indices"][0]
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


def _glance(size: int, name: str):
    manifest = write_array(session.storage(), session.settings().user, size=size, name=name)
    view = widgets.AnalysisView(JobManager().get_analysis(manifest.id), autostart=False)
    view.refresh()
    view.refresh_glance()
    return view, view.glance


def test_the_heatmap_is_clickable_out_of_the_box():
    from importlib.metadata import requires

    from ipyevents import Event

    # installed with the package (it ships its JupyterLab 4 extension prebuilt: no build step)
    assert any(r.startswith("ipyevents") for r in requires("explorer-jupyterlab") or [])
    view, g = _glance(300, "clickable")
    # ipyevents is a dependency: the heatmap always reports its clicks, in the image's own pixels
    assert isinstance(g._events, Event) and g._events.source is g.heatmap
    assert g._events.watched_events == ["click"]
    assert g.heatmap.layout.cursor == "pointer"


def test_a_click_message_opens_the_element_under_it(monkeypatch):
    view, g = _glance(2000, "clicks")
    opened: list[int] = []
    monkeypatch.setattr(view, "show_logs", lambda i=None, attempt=None: opened.append(i))
    lay = g.layout
    target = 1234
    x, y = (target % lay["cols"]) * lay["cell"], (target // lay["cols"]) * lay["cell"]
    # what ipyevents sends from the browser for a click on that pixel of the image
    g._events._handle_mouse_msg(None, {"event": "click", "dataX": x + 0.5, "dataY": y + 0.5}, [])
    assert opened == [target] and view.element.value == target
    # outside every cell (the white margin after the last row): nothing opens
    g._events._handle_mouse_msg(None, {"event": "click", "dataX": lay["width"] + 3, "dataY": 0}, [])
    assert opened == [target]


def test_the_pixel_of_a_click_maps_to_its_element():
    from explorer_magics.observe.widget import GlanceBox

    box = GlanceBox.__new__(GlanceBox)
    box.statuses = ["SUCCEEDED"] * 1000
    box.statuses[999] = "FAILED"
    box.layout = pictures.layout(1000, 400, 100)
    lay = box.layout
    cell, cols = lay["cell"], lay["cols"]
    assert lay["per_cell"] == 1 and cell > 1
    for i in (0, 1, cols - 1, cols, 999):  # every corner of a cell opens it
        x, y = (i % cols) * cell, (i // cols) * cell
        for dx, dy in ((0, 0), (cell - 0.01, 0), (0, cell - 0.01), (cell - 0.01, cell - 0.01)):
            assert box.element_at_event({"dataX": x + dx, "dataY": y + dy}) == i
    # the image's own pixels come first; the widget's CSS pixels only when they are missing
    assert box.element_at_event({"dataX": cell * 2, "dataY": 0, "relativeX": 0, "relativeY": 0}) == 2
    assert box.element_at_event({"relativeX": cell * 3, "relativeY": 0}) == 3
    for bad in ({}, {"dataX": "x", "dataY": 1}, {"dataX": -1, "dataY": 0}, {"dataX": float("nan"), "dataY": 0}):
        assert box.element_at_event(bad) is None
    assert box.element_at_event({"dataX": 0, "dataY": lay["height"] + 1}) is None
    # a cell past the last element (a partly filled last row) opens nothing
    last_row = (lay["cells"] - 1) // cols
    if lay["cells"] % cols:
        assert box.element_at_event({"dataX": (cols - 1) * cell, "dataY": last_row * cell}) is None


def test_with_more_elements_than_pixels_a_click_opens_the_cells_most_urgent_element():
    statuses = ["SUCCEEDED"] * 10_000
    statuses[7] = "RUNNING"
    statuses[8] = "FAILED"
    lay = pictures.layout(10_000, 40, 25)  # 1,000 pixels: 10 elements a cell
    assert lay["per_cell"] == 10 and lay["cell"] == 1
    assert pictures.element_at(statuses, lay, 0, 0) == 8  # FAILED before RUNNING before SUCCEEDED
    assert pictures.element_at(statuses, lay, 1, 0) == 10


def test_the_log_opened_from_the_heatmap_says_which_element_it_is():
    view, g = _glance(200, "header")
    storage = session.storage()
    failed = first_failed_with_log(storage, view.analysis.manifest)
    header = view._element_header(failed)
    assert f"HG{failed:05d}" in header and "jp-Explorer-badge" in header and "data-status='FAILED'" in header
    assert "exit code 1" in header
    assert "peak " in header and "started " in header
