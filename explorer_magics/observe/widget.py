"""The array at a glance in the notebook widget (issue 14): under the progress bars, a
per-index status heatmap (a PNG; a click on a cell opens that element's log: ``ipyevents``
reports the click's pixel in the image),
runtime and peak-memory histograms (the memory request as a line), what it cost, and the
failure digest with a chooser that opens a group's elements."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from . import pictures, views
from .format import duration, mb, usd

HEATMAP_WIDTH = 400
HEATMAP_HEIGHT = 100


class GlanceBox:
    """The widgets (``.box``) and their refresh; ``on_open(index)`` shows an element's log."""

    def __init__(self, analysis: Any, on_open: Callable[[int], None]) -> None:
        import ipywidgets as w  # type: ignore[import-untyped]

        self.analysis = analysis
        self.on_open = on_open
        self.statuses: list[str] = []
        self.clickable = False
        self.layout: dict[str, int] | None = None
        self.heatmap = w.Image(format="png", layout=w.Layout(display="none"))
        self.legend = w.HTML("")
        self.runtime = w.HTML("")
        self.memory = w.HTML("")
        self.facts = w.HTML("")
        self.digest = w.HTML("")
        self.groups = w.Dropdown(options=[], description="cause", layout=w.Layout(width="420px", display="none"))
        self.group_element = w.Dropdown(
            options=[], description="element", layout=w.Layout(width="200px", display="none")
        )
        self.open_button = w.Button(description="Show log", icon="file-text-o", layout=w.Layout(display="none"))
        self.groups.observe(self._pick_group, names="value")
        self.open_button.on_click(self._open_chosen)
        self._attach_clicks()
        self.box = w.VBox(
            [
                self.heatmap,
                self.legend,
                w.HBox([self.runtime, self.memory]),
                self.facts,
                self.digest,
                w.HBox([self.groups, self.group_element, self.open_button]),
            ]
        )

    def _open_chosen(self, _button: Any) -> None:
        if self.group_element.value is not None:
            self.on_open(self.group_element.value)

    def _attach_clicks(self) -> None:
        try:
            from ipyevents import Event  # a dependency; missing only in a broken install
        except ImportError:
            self.heatmap.layout.cursor = "default"
            return
        # (no tooltip on the Image: JupyterLab's widget manager 5 cannot draw an Image with one)
        self.heatmap.layout.cursor = "pointer"
        self.clickable = True
        self._events = Event(source=self.heatmap, watched_events=["click"], prevent_default_action=True)
        self._events.on_dom_event(self._clicked)

    def _clicked(self, event: dict[str, Any]) -> None:
        index = self.element_at_event(event)
        if index is not None:
            self.on_open(index)

    def element_at_event(self, event: dict[str, Any]) -> int | None:
        """The element under a click that ipyevents reported: ``dataX``/``dataY`` are the pixel
        of the image itself (the same when the notebook shows it narrower than drawn); only
        ``relativeX``/``relativeY`` (the widget's CSS pixels) when the image's own are missing."""
        if self.layout is None:
            return None
        x, y = event.get("dataX"), event.get("dataY")
        if x is None or y is None:
            x, y = event.get("relativeX"), event.get("relativeY")
        try:
            px, py = float(x), float(y)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return pictures.element_at(self.statuses, self.layout, px, py)

    def refresh(self) -> None:
        """Read the statuses, usage and digest (a finished analysis's come from its record)."""
        data = views.letters(self.analysis)
        self.statuses = pictures.display_statuses(data["letters"], data["cancelled"])
        self.layout = pictures.layout(len(self.statuses), HEATMAP_WIDTH, HEATMAP_HEIGHT)
        self.heatmap.value = pictures.heatmap_png(self.statuses, self.layout)
        self.heatmap.width = self.layout["width"]
        self.heatmap.height = self.layout["height"]
        self.heatmap.layout.display = ""
        counts: dict[str, int] = {}
        for s in self.statuses:
            counts[s] = counts.get(s, 0) + 1
        self.legend.value = " ".join(
            f"<span style='white-space:nowrap;font-size:85%'><span style='display:inline-block;width:9px;height:9px;"
            f"background:rgb{pictures.COLORS[s]}'></span> {s} {counts[s]:,}</span>"
            for s in pictures.COLORS
            if counts.get(s)
        ) + (
            " <span style='font-size:85%;color:var(--jp-ui-font-color2, #616161)'>· click a cell to open its log</span>"
            if self.clickable
            else ""
        )
        u = views.usage(self.analysis)
        hist = u["histograms"]
        rt = u["runtime_s"]
        self.runtime.value = (
            f"<div style='font-size:85%'><b>Runtime</b> p50 {duration(rt['p50'])}, p95 {duration(rt['p95'])}</div>"
            + pictures.histogram_svg(hist["runtime_s"], color="#1976d2", title="runtime", unit=" s")
        )
        pk = u["peak_rss_mb"]
        self.memory.value = (
            f"<div style='font-size:85%'><b>Peak memory</b> p95 {mb(pk['p95'])} of {mb(u['requested']['memory_mb'])}"
            " (line)</div>"
            + pictures.histogram_svg(hist["peak_rss_mb"], color="#6a1b9a", title="peak memory", unit=" MB")
        )
        cost = u["cost"]
        failed = f" ({usd(cost['spent_failed'])} on failed attempts)" if cost["spent_failed"] else ""
        earlier = u.get("earlier_attempts") or {}
        if earlier.get("count"):  # reruns and retries: paid for, so in the cost
            n = earlier["count"]
            failed += f", with {n:,} earlier attempt{'s' if n != 1 else ''} of rerun or retried elements"
        self.facts.value = (
            f"<div style='font-size:85%'>CPU {u['vcpu_hours']['used']:.2f} of {u['vcpu_hours']['requested']:.2f} "
            f"vCPU-h · memory {u['gb_hours']['used']:.2f} of {u['gb_hours']['requested']:.2f} GB-h · "
            f"<span title='{html.escape(cost['source'])}'>cost {usd(cost['spent'])} so far{failed}</span><br>"
            f"{html.escape(u['hint']['memory'])}"
            + (f"<br>{html.escape(u['hint']['cpu'])}" if u["hint"]["cpu"] else "")
            + "</div>"
        )
        groups = views.failures(self.analysis)
        self.show_digest(groups)

    def show_digest(self, groups: list[dict[str, Any]]) -> None:
        if not groups:
            self.digest.value = ""
            for part in (self.groups, self.group_element, self.open_button):
                part.layout.display = "none"
            return
        n = len(groups)
        items = "".join(
            f"<li><code>{g['count']:,}×</code> <code>{html.escape(g['reason'])}</code>"
            f"<br><span style='color:#616161;font-size:85%'>e.g. #{g['example_index']}: "
            f"{html.escape(g['example'])}</span></li>"
            for g in groups[:10]
        )
        self.digest.value = (
            f"<div style='color:#c62828;font-weight:bold'>Failures: {n} cause{'s' if n != 1 else ''}</div>"
            f"<ul style='margin:2px 0;padding-left:18px'>{items}</ul>"
        )
        self._groups = groups
        chosen = self.groups.value
        self.groups.options = [(f"{g['count']:,}× {g['reason'][:80]}", i) for i, g in enumerate(groups)]
        # the largest cause chosen at first (new options leave no value chosen: empty choosers)
        self.groups.value = chosen if chosen is not None and 0 <= chosen < len(groups) else 0
        for part in (self.groups, self.group_element, self.open_button):
            part.layout.display = ""
        self._pick_group({"new": self.groups.value})

    def _pick_group(self, change: dict[str, Any]) -> None:
        i = change.get("new")
        groups = getattr(self, "_groups", [])
        if i is None or not 0 <= i < len(groups):
            return
        self.group_element.options = [(f"#{x}", x) for x in groups[i]["indices"][:200]]
        self.group_element.value = groups[i]["indices"][0]
