"""Notebook views of an analysis: a live status widget with a log pane; plain text elsewhere.

``Analysis.run()`` inside a Jupyter kernel displays an :class:`AnalysisView`: name, id, overall
status, one progress bar per status for arrays, elapsed time, a terminate button and the logs
of a chosen element. A daemon thread refreshes it (ipywidgets state set from a thread reaches
the frontend in ipykernel), so the kernel stays free for other cells. Each refresh is ONE
``analysis.status()`` call, whatever the array size; elements are listed only when a person
asks (or once, when the analysis ended with failures, to put them first). The thread stops
when the analysis ends or the view is closed.

Outside a notebook nothing is displayed: ``.run()`` prints the analysis id, ``.logs()`` prints.
"""

from __future__ import annotations

import html
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from .errors import ExplorerError
from .records import FAILED, RUNNABLE, RUNNING, SUCCEEDED, TERMINAL, format_counts, status_order
from .shell import in_notebook

__all__ = ["AnalysisView", "follow_log", "in_notebook", "show", "show_if_notebook"]

#: statuses with a progress bar (other statuses with a count are listed beside the bars)
BAR_STATUSES = (SUCCEEDED, RUNNING, RUNNABLE, FAILED)
#: most log characters kept in the widget's log pane (the full log: ``analysis.logs(i)``)
MAX_LOG_CHARS = 64_000
#: elements offered in the element chooser
MAX_CHOICES = 100
#: seconds between redraws of the heatmap/histograms/digest while an array runs
GLANCE_SECONDS = 10.0
#: The status colours are the sidebar's: the CSS classes ``jp-Explorer-status-<STATUS>`` of the
#: Explorer labextension (ui/style/index.css) set ``--jp-explorer-status`` from the JupyterLab
#: theme, for the sidebar and this widget alike. These theme colours stand in only where the
#: extension's stylesheet is absent (a notebook frontend other than JupyterLab).
_FALLBACK_COLOR = {
    SUCCEEDED: "var(--jp-success-color1, #388e3c)",
    FAILED: "var(--jp-error-color1, #d32f2f)",
    RUNNING: "var(--jp-brand-color1, #1976d2)",
}
_ERROR_STYLE = "color:var(--jp-error-color1, #d32f2f)"
_CONFIRM_SECONDS = 5.0


def show_if_notebook(analysis: Any) -> AnalysisView | None:
    """Display the live widget for ``analysis`` when running in a notebook (else nothing)."""
    if not in_notebook():
        return None
    return show(analysis)


def show(analysis: Any) -> AnalysisView:
    """Display a live :class:`AnalysisView` of a submitted analysis and return it."""
    from IPython.display import display

    view = AnalysisView(analysis)
    display(view)
    return view


def follow_log(
    analysis: Any, index: int, *, stop: threading.Event | None = None, max_delay: float = 1.0
) -> Iterator[tuple[str, str]]:
    """Yield ``(stream, text)`` of element ``index``'s log as it is written, until the
    element has ended and its log is read to the end (or ``stop`` is set).

    ``stream`` is ``"stdout"`` or ``"stderr"``; text is decoded incrementally, so a
    character split across two reads comes out whole.
    """
    return analysis.follow_logs(index, live=True, stop=stop, max_delay=max_delay)


def _widgets() -> Any:
    import ipywidgets

    return ipywidgets


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600:02d}h"


def _since(seconds: float) -> str:
    """How long ago, as the sidebar says it: "12 s", "5 min", "3 h", "2 d"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _status_class(status: str) -> str:
    """The CSS class that gives a status its colour (the sidebar's, from the theme)."""
    return f"jp-Explorer-status-{status}"


class _Ticker:
    """One daemon thread that keeps the "submitted 5 min ago" of finished views current.

    A view whose analysis had ended before it was shown has nothing left to poll, but its
    age keeps growing: the ticker rewrites that text (no storage call) every second while it
    counts seconds, every 30 s after, until the view is closed.
    """

    def __init__(self) -> None:
        self._views: weakref.WeakSet[AnalysisView] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, view: AnalysisView) -> None:
        with self._lock:
            self._views.add(view)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="explorer-ticker", daemon=True)
                self._thread.start()
        self._wake.set()

    def discard(self, view: AnalysisView) -> None:
        with self._lock:
            self._views.discard(view)

    def __contains__(self, view: object) -> bool:
        with self._lock:
            return view in self._views

    def tick(self, now: float | None = None) -> float:
        """Update every view's text; return the seconds until the next update is due."""
        now = time.time() if now is None else now
        with self._lock:
            views = list(self._views)
        delay = 30.0
        for view in views:
            age = view._tick(now)
            if age < 60:
                delay = 1.0
        return delay

    def _loop(self) -> None:
        while True:
            delay = self.tick()
            with self._lock:
                if not self._views:
                    self._thread = None
                    return
            self._wake.wait(delay)
            self._wake.clear()


_TICKER = _Ticker()


def _refresh_delay(age: float) -> float:
    """Seconds between refreshes: quick at first, slower for long runs (each costs one call)."""
    if age < 10:
        return 0.5
    if age < 60:
        return 1.0
    if age < 600:
        return 2.0
    return 5.0


class AnalysisView(_widgets().VBox):  # type: ignore[misc]  # ipywidgets is imported only here
    """A live view of one submitted analysis (see the module docstring).

    ``autostart=False`` leaves refreshing to explicit :meth:`refresh` calls.
    """

    def __init__(self, analysis: Any, *, autostart: bool = True) -> None:
        w = _widgets()
        self.analysis = analysis
        manifest = analysis.manifest  # raises if never submitted
        self._created = manifest.created
        self._size = manifest.size
        self._status: dict[str, Any] | None = None
        self._ended_after: float | None = None  # elapsed when we saw it end
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log_stop = threading.Event()
        self._log_thread: threading.Thread | None = None
        self._log_lock = threading.Lock()
        self._armed_until = 0.0
        self.refreshes = 0  # how many status calls this view has made

        self.title = w.HTML(
            f"<b>{html.escape(manifest.name)}</b> &nbsp;<code style='font-size:85%'>{html.escape(manifest.id)}</code>"
        )
        self.badge = w.HTML(self._badge("…"))
        self.elapsed = w.Label("")
        self.bars: dict[str, Any] = {}
        self.counts: dict[str, Any] = {}
        rows = []
        if self._size is not None:
            for status in BAR_STATUSES:
                bar = w.IntProgress(
                    value=0,
                    min=0,
                    max=self._size,
                    description=status,
                    style={"description_width": "90px"},
                    layout=w.Layout(width="420px"),
                )
                bar.add_class("jp-Explorer-widget-bar")
                bar.add_class(_status_class(status))
                label = w.Label(f"0 / {self._size}")
                self.bars[status] = bar
                self.counts[status] = label
                rows.append(w.HBox([bar, label]))
        self.other = w.Label("")
        # observe (issue 14): heatmap, histograms, cost and failure digest of an array
        self.glance = None
        self._glance_due = 0.0
        if self._size is not None:
            from .observe.widget import GlanceBox

            self.glance = GlanceBox(analysis, self.open_element)
        self.message = w.HTML("")
        self.terminate_button = w.Button(
            description="Terminate", icon="stop", button_style="warning", tooltip="Stop every element (click twice)"
        )
        self.terminate_button.on_click(lambda _b: self.terminate())
        self.element = w.Dropdown(
            options=[(str(i), i) for i in range(min(manifest.count, MAX_CHOICES))],
            value=0,
            description="element",
            style={"description_width": "60px"},
            layout=w.Layout(width="300px", display="" if self._size is not None else "none"),
        )
        self.list_button = w.Button(
            description="Failed first",
            icon="refresh",
            tooltip="List elements with their status, failed first",
            layout=w.Layout(display="" if self._size is not None else "none"),
        )
        self.list_button.on_click(lambda _b: self.list_elements())
        self.logs_button = w.Button(description="Show logs", icon="file-text-o")
        self.logs_button.on_click(lambda _b: self.show_logs(self.element.value, attempt=self.attempt.value))
        self._rerun_init(w)
        self.log_pane = w.HTML("")
        header = w.HBox([self.title, self.badge, self.elapsed], layout=w.Layout(align_items="center", grid_gap="12px"))
        buttons = w.HBox(
            [self.terminate_button, self.rerun_button, self.element, self.attempt, self.list_button, self.logs_button]
        )
        glance = [self.glance.box] if self.glance is not None else []
        super().__init__([header, *rows, self.other, *glance, buttons, self.message, self.log_pane])
        if autostart:
            self.start()

    # -- text -------------------------------------------------------------------------------
    @staticmethod
    def _badge(status: str) -> str:
        color = _FALLBACK_COLOR.get(status, "var(--jp-layout-color4, #757575)")
        return (
            f"<span class='jp-Explorer-badge {_status_class(status)}' data-status='{html.escape(status)}' "
            f"style='background:var(--jp-explorer-status, {color});color:var(--jp-explorer-badge-text, white);"
            f"border-radius:3px;padding:1px 6px;font-size:85%;font-weight:bold'>{html.escape(status)}</span>"
        )

    @property
    def status(self) -> dict[str, Any] | None:
        """The status dict of the last refresh (``None`` before the first)."""
        return self._status

    def __repr__(self) -> str:
        manifest = self.analysis.manifest
        text = f"Analysis {manifest.name} ({manifest.id})"
        if self._status is None:
            return text
        text += f": {self._status['status']}"
        summary = self._status.get("summary")
        if summary:
            text += f" ({format_counts(summary)} of {self._size})"
        return text

    # -- refreshing ---------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self._status is not None and self._status["status"] in TERMINAL

    @property
    def refreshing(self) -> bool:
        """True while the background refresh is running."""
        return self._thread is not None and self._thread.is_alive()

    def refresh(self) -> dict[str, Any]:
        """Read the status (one ``analysis.status()`` call) and update the view."""
        was_finished = self.finished
        status = self.analysis.status()
        self.refreshes += 1
        previous = self._status
        self._status = status
        state = status["status"]
        self.badge.value = self._badge(state)
        counts = status.get("summary") or {}
        for name, bar in self.bars.items():
            bar.value = counts.get(name, 0)
            self.counts[name].value = f"{counts.get(name, 0)} / {self._size}"
        others = [f"{k} {counts[k]}" for k in sorted(counts, key=status_order) if k not in self.bars and counts[k]]
        self.other.value = " · ".join(others)
        age = time.time() - self._created
        if state in TERMINAL and not was_finished:
            if previous is not None:
                self._ended_after = age
            self.terminate_button.disabled = True
            self.terminate_button.description = "Terminate"
            self._offer_rerun(status)
            reason = status.get("reason")
            if reason:
                self.message.value = f"<span style='{_ERROR_STYLE}'>{html.escape(reason)}</span>"
        if state in TERMINAL:
            if self._ended_after is not None:
                self.elapsed.value = f"took {_ago(self._ended_after)}"
            else:
                # ended before this view saw it run: only its age changes from now on
                self._tick(time.time())
                _TICKER.add(self)
        else:
            self.elapsed.value = f"elapsed {_ago(age)}"
        return status

    def _tick(self, now: float) -> float:
        """Rewrite "submitted ... ago" for ``now``; return the analysis' age in seconds."""
        age = now - self._created
        self.elapsed.value = f"submitted {_since(age)} ago"
        return age

    def start(self) -> None:
        """Refresh in a background thread until the analysis ends or the view is closed."""
        if self.refreshing:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"explorer-widget-{self.analysis.id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop refreshing (and following a log)."""
        self._stop.set()
        self._log_stop.set()

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                status = self.refresh()
            except Exception as exc:  # noqa: BLE001 - a view must not die on a flaky backend
                failures += 1
                self.message.value = (
                    f"<span style='{_ERROR_STYLE}'>status unavailable ({html.escape(type(exc).__name__)}: "
                    f"{html.escape(str(exc))}); retrying</span>"
                )
                delay = min(30.0, 2.0**failures)
            else:
                if failures:
                    self.message.value = ""
                failures = 0
                if status["status"] in TERMINAL:
                    self._after_end(status)
                    return
                if time.monotonic() >= self._glance_due:
                    self.refresh_glance()
                delay = _refresh_delay(time.time() - self._created)
            self._stop.wait(delay)

    def refresh_glance(self) -> None:
        """observe: redraw the heatmap, histograms and digest (every GLANCE_SECONDS while it
        runs: they read every element's record; once more at the end, from the record's cache)."""
        if self.glance is None:
            return
        # it reads every element's record: less often for large arrays (10,000: every 110 s)
        self._glance_due = time.monotonic() + max(GLANCE_SECONDS, (self._size or 0) / 100)
        try:
            self.glance.refresh()
        except Exception as exc:  # noqa: BLE001 - a view must not die on a flaky backend
            self.glance.digest.value = (
                f"<span style='{_ERROR_STYLE}'>pictures unavailable ({html.escape(type(exc).__name__)}: "
                f"{html.escape(str(exc))})</span>"
            )

    def open_element(self, index: int) -> None:
        """Choose element ``index`` and follow its log (a heatmap click, a digest pick)."""
        options = list(self.element.options)
        if index not in [v for _, v in options]:
            self.element.options = [*options, (str(index), index)]
        self.element.value = index
        self.show_logs(index)

    def _after_end(self, status: dict[str, Any]) -> None:
        """Once the analysis ended with failures, put failed elements first in the chooser."""
        self.refresh_glance()
        if self._size is not None and (status.get("summary") or {}).get(FAILED):
            try:
                self.list_elements()
            except Exception:  # noqa: BLE001 - the chooser keeps its plain indices
                pass

    # -- actions --------------------------------------------------------------------------------
    def list_elements(self) -> None:
        """Fill the element chooser with element statuses, failed first (one listing call)."""
        elements = self.analysis.elements(limit=MAX_CHOICES)
        options = []
        for el in elements:
            label = f"{el.index} · {el.status}" + (" · cached" if el.cached else "")
            if el.input_label:  # observe: the sample name
                label = f"{el.index} · {el.input_label} · {el.status}" + (" · cached" if el.cached else "")
            if el.reason:
                label += f" · {el.reason[:50]}"
            options.append((label, el.index))
        if not options:
            return
        current = self.element.value
        self.element.options = options
        failed = [el.index for el in elements if el.status == FAILED]
        indices = [i for _, i in options]
        self.element.value = failed[0] if failed else (current if current in indices else indices[0])

    def terminate(self) -> None:
        """First call arms the button, a second within a few seconds stops every element."""
        if self.finished:
            return
        now = time.monotonic()
        if now > self._armed_until:
            self._armed_until = now + _CONFIRM_SECONDS
            self.terminate_button.description = "Confirm terminate"
            self.terminate_button.button_style = "danger"
            return
        self._armed_until = 0.0
        self.terminate_button.description = "Terminate"
        self.terminate_button.button_style = "warning"
        try:
            self.analysis.terminate_all()
        except ExplorerError as exc:
            self.message.value = f"<span style='{_ERROR_STYLE}'>{html.escape(str(exc))}</span>"
            return
        self.terminate_button.disabled = True
        self.message.value = "Terminate requested; elements still running stop within moments."

    def show_logs(self, index: int | None = None, attempt: int | None = None) -> None:
        """Follow element ``index``'s log into the log pane (replacing the one shown);
        ``attempt``: an earlier attempt's log (the latest by default)."""
        index = 0 if index is None else int(index)
        if attempt is not None:
            self._show_attempt_log(index, attempt)
            return
        self._log_stop.set()
        if self._log_thread is not None:
            self._log_thread.join(timeout=5)
        self._log_stop = threading.Event()
        self.log_pane.value = self._pre(index, "", following=True)
        self._log_thread = threading.Thread(
            target=self._follow,
            args=(index, self._log_stop),
            name=f"explorer-log-{self.analysis.id}-{index}",
            daemon=True,
        )
        self._log_thread.start()

    def _pre(self, index: int, body: str, *, following: bool) -> str:
        state = "following…" if following else "end of log"
        header = getattr(self, "_log_headers", {}).get(index, "")
        return (
            f"<div style='font-size:85%;color:var(--jp-ui-font-color2, #616161)'>element {index} · {state}</div>"
            + header
            + "<pre style='max-height:320px;overflow:auto;margin:2px 0;padding:4px;"
            f"background:var(--jp-layout-color2, #f5f5f5)'>{body}</pre>"
        )

    def _element_header(self, index: int) -> str:
        """observe: what the log is of (label, status, exit code or signal, start, duration, peak
        memory), as the sidebar's log tab shows it; one read of the element's record."""
        from .observe.format import duration, mb
        from .observe.views import element

        el = element(self.analysis, index)
        status = "CANCELLED" if el.cancelled else el.status
        facts = [html.escape(el.input_label)] if el.input_label else []
        facts.append(self._badge(status))
        if el.signal:
            facts.append(f"killed by {html.escape(el.signal)}")
        elif el.exit_code is not None:
            facts.append(f"exit code {el.exit_code}")
        if el.started is not None:
            facts.append("started " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(el.started)))
        if el.duration_s is not None:
            facts.append(duration(el.duration_s))
        elif el.started is not None:
            facts.append(f"running {duration(max(0.0, time.time() - el.started))}")
        if el.peak_rss_mb is not None:
            facts.append(f"peak {mb(el.peak_rss_mb)}")
        reason = f"<br><span style='{_ERROR_STYLE}'>{html.escape(el.reason)}</span>" if el.reason else ""
        return (
            f"<div class='jp-Explorer-widget-log-header' data-index='{index}' style='font-size:85%'>"
            f"{' · '.join(facts)}{reason}</div>"
        )

    def _follow(self, index: int, stop: threading.Event) -> None:
        try:
            header = self._element_header(index)
        except Exception:  # noqa: BLE001 - the log is shown without its header
            header = ""
        self._log_headers = {index: header}
        parts: list[str] = []
        size = 0
        last_push = 0.0
        cut = False
        try:
            for stream, text in follow_log(self.analysis, index, stop=stop):
                piece = html.escape(text.replace("\r\n", "\n"))
                if stream == "stderr":
                    piece = f"<span style='{_ERROR_STYLE}'>{piece}</span>"
                parts.append(piece)
                size += len(piece)
                while size > MAX_LOG_CHARS and len(parts) > 1:
                    size -= len(parts.pop(0))
                    cut = True
                if time.monotonic() - last_push > 0.2:
                    last_push = time.monotonic()
                    self._push_log(index, parts, cut, stop, following=True)
        except Exception as exc:  # noqa: BLE001 - shown in the pane
            parts.append(
                f"<span style='{_ERROR_STYLE}'>[{html.escape(type(exc).__name__)}: {html.escape(str(exc))}]</span>"
            )
        self._push_log(index, parts, cut, stop, following=False)

    def _push_log(self, index: int, parts: list[str], cut: bool, stop: threading.Event, *, following: bool) -> None:
        if stop.is_set() and following:
            return
        head = f"[earlier lines cut; .logs({index}) prints them all]\n" if cut else ""
        with self._log_lock:
            if stop is self._log_stop:
                self.log_pane.value = self._pre(index, head + "".join(parts), following=following)

    def close(self) -> None:
        self.stop()
        _TICKER.discard(self)
        super().close()

    # -- rerun failed, attempts (issue 13) ------------------------------------------------------
    def _rerun_init(self, w: Any) -> None:
        self._rerun_armed_until = 0.0
        self._failed_count = 0
        self.rerun_button = w.Button(
            description="Rerun failed",
            icon="repeat",
            tooltip="Run the FAILED elements again (click twice); the others keep their outputs",
            layout=w.Layout(display="none"),
        )
        self.rerun_button.on_click(lambda _b: self.rerun_failed())
        self.attempt = w.Dropdown(
            options=[("latest attempt", None)],
            value=None,
            description="attempt",
            style={"description_width": "55px"},
            layout=w.Layout(width="190px"),
        )
        self.element.observe(lambda _change: self._load_attempts(), names="value")

    def _offer_rerun(self, status: dict[str, Any]) -> None:
        """Once finished with failures: show "Rerun N failed"."""
        failed = (status.get("summary") or {}).get(FAILED, 0)
        if self._size is None:
            failed = 1 if status["status"] == FAILED else 0
        self._failed_count = failed
        self.rerun_button.layout.display = "" if failed else "none"
        self.rerun_button.disabled = not failed
        self.rerun_button.description = f"Rerun {failed} failed"
        self.rerun_button.button_style = ""

    def rerun_failed(self) -> None:
        """First call asks to confirm (with the count), a second within a few seconds reruns."""
        if not self._failed_count:
            return
        now = time.monotonic()
        if now > self._rerun_armed_until:
            self._rerun_armed_until = now + _CONFIRM_SECONDS
            self.rerun_button.description = f"Confirm: rerun {self._failed_count} failed"
            self.rerun_button.button_style = "warning"
            return
        self._rerun_armed_until = 0.0
        try:
            from .rerun import rerun_elements

            done = rerun_elements(self.analysis, failed=True, quiet=True)
        except ExplorerError as exc:
            self.message.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
            self.rerun_button.description = f"Rerun {self._failed_count} failed"
            self.rerun_button.button_style = ""
            return
        self.message.value = f"Rerunning {len(done)} failed element(s); the others keep their outputs."
        self.rerun_button.layout.display = "none"
        self.terminate_button.disabled = False
        self._status = None  # not finished any more: refresh until it ends again
        self._ended_after = None
        self.start()

    def _load_attempts(self) -> None:
        """Offer the chosen element's attempts (only when it has more than one)."""
        try:
            from .rerun import attempts

            index = int(self.element.value or 0)
            el = self.analysis._compute().element_status(self.analysis.manifest, index)
            found = attempts(self.analysis, index, el)
        except Exception:  # noqa: BLE001 - the chooser keeps "latest"
            return
        options: list[tuple[str, int | None]] = [("latest attempt", None)]
        options += [(f"{a['attempt']} · {a['status']}", a["attempt"]) for a in found[:-1]]
        self.attempt.options = options
        self.attempt.value = None

    def _show_attempt_log(self, index: int, attempt: int) -> None:
        self._log_stop.set()
        from .rerun import read_attempt_log

        parts: list[str] = []
        offset = {"stdout": 0, "stderr": 0}
        try:
            for stream in ("stdout", "stderr"):
                while True:
                    got = read_attempt_log(self.analysis, index, attempt, stream, offset[stream])
                    if got is None:  # the latest attempt: follow it as usual
                        self.show_logs(index)
                        return
                    if not got.data:
                        break
                    offset[stream] = got.next_offset
                    piece = html.escape(got.data.decode("utf-8", errors="replace"))
                    parts.append(f"<span style='color:#c62828'>{piece}</span>" if stream == "stderr" else piece)
                    if sum(len(p) for p in parts) > MAX_LOG_CHARS:
                        break
        except ExplorerError as exc:
            parts.append(f"<span style='color:#c62828'>[{html.escape(str(exc))}]</span>")
        self.log_pane.value = self._pre(index, "".join(parts), following=False).replace(
            f"element {index} ·", f"element {index} · attempt {attempt} ·", 1
        )
