"""The live analysis widget: what it shows, that it refreshes on its own at O(1) cost and
stops, its buttons, its log pane, and that a real kernel displays it without blocking."""

from __future__ import annotations

import queue
import time

import pytest

from explorer_magics import session, widgets
from explorer_magics.analysis import Analysis, AnalysisContext
from explorer_magics.records import FAILED, RUNNING, SUCCEEDED

from .helpers import run_python, wait_for


def wait_for_flag(ac: AnalysisContext):
    """Prints, waits for the flag file named by the input, prints again (and to stderr)."""
    import pathlib
    import sys
    import time

    flag = pathlib.Path(ac.input["flag"])
    print("started", flush=True)
    while not flag.exists():
        time.sleep(0.02)
    print("oops", file=sys.stderr, flush=True)
    print("finished", flush=True)
    if ac.input.get("fail"):
        raise ValueError("asked to fail")


def invert(ac: AnalysisContext):
    ac.output.value("inverse", 1 / ac.input)


def test_the_view_shows_name_id_status_bars_and_stops_refreshing_when_done():
    an = Analysis(function=invert, input=[1, 0, 4]).run()
    view = widgets.AnalysisView(an)
    wait_for(lambda: not view.refreshing, timeout=60, what="the view to stop refreshing")
    assert view.finished and view.status["status"] == FAILED
    assert an.name in view.title.value and an.id in view.title.value
    assert ">FAILED</span>" in view.badge.value
    assert {s: bar.value for s, bar in view.bars.items()} == {SUCCEEDED: 2, RUNNING: 0, "RUNNABLE": 0, FAILED: 1}
    assert view.counts[SUCCEEDED].value == "2 / 3"
    assert view.elapsed.value.startswith(("took ", "submitted "))
    assert view.terminate_button.disabled
    # ended with a failure: the element chooser lists failed elements first, one selected
    # (the input 0 is its label)
    assert view.element.options[0] == ("1 · 0 · FAILED · ZeroDivisionError: division by zero", 1)
    assert view.element.value == 1
    assert repr(view) == f"Analysis invert ({an.id}): FAILED (SUCCEEDED 2, FAILED 1 of 3)"
    refreshes = view.refreshes
    view.start()  # restarting a finished view refreshes once more and stops again
    wait_for(lambda: not view.refreshing, what="the restarted view to stop")
    assert view.refreshes == refreshes + 1


def test_a_finished_analysis_shown_later_keeps_saying_how_long_ago_it_was_submitted():
    an = Analysis(function=invert, input=[1, 2]).run()
    an.wait_done(timeout=60)
    view = widgets.AnalysisView(an, autostart=False)
    view.refresh()
    assert view.finished
    created = an.manifest.created
    assert view.elapsed.value.endswith(" s ago")
    assert view in widgets._TICKER  # nothing to poll, but its age still changes
    widgets._TICKER.tick(now=created + 125)
    assert view.elapsed.value == "submitted 2 min ago"
    widgets._TICKER.tick(now=created + 3 * 3600 + 5)
    assert view.elapsed.value == "submitted 3 h ago"
    view.close()
    assert view not in widgets._TICKER
    widgets._TICKER.tick(now=created + 2 * 86400)
    assert view.elapsed.value == "submitted 3 h ago"  # a closed view is left alone


def test_the_status_colours_are_the_sidebars_theme_classes():
    an = Analysis(function=invert, input=[1, 0]).run()
    an.wait_done(timeout=60)
    view = widgets.AnalysisView(an, autostart=False)
    view.refresh()
    assert "jp-Explorer-status-FAILED" in view.badge.value
    assert "var(--jp-explorer-status," in view.badge.value
    for status, bar in view.bars.items():
        assert f"jp-Explorer-status-{status}" in bar._dom_classes
        assert bar.bar_style == ""  # no colour of ipywidgets' own
    view.close()


def test_the_view_refreshes_by_itself_while_the_caller_does_other_things(tmp_path):
    flag = tmp_path / "go"
    an = Analysis(function=wait_for_flag, input=[{"flag": str(flag)}, {"flag": str(flag)}]).run()
    view = widgets.AnalysisView(an)
    wait_for(lambda: view.bars[RUNNING].value == 2, timeout=60, what="both elements RUNNING in the view")
    assert ">RUNNING</span>" in view.badge.value and view.elapsed.value.startswith("elapsed ")
    assert view.refreshing and not view.terminate_button.disabled
    flag.touch()
    wait_for(lambda: view.bars[SUCCEEDED].value == 2, timeout=60, what="SUCCEEDED 2 in the view")
    wait_for(lambda: not view.refreshing, what="the view to stop refreshing")
    assert view.elapsed.value.startswith("took ")


def test_a_refresh_costs_the_same_few_storage_reads_whatever_the_array_size(tmp_path, monkeypatch):
    gate = Analysis(function=wait_for_flag, input={"flag": str(tmp_path / "never")}).run()
    small = Analysis(function=invert, input=[1, 2], depends_on=[gate]).run()
    large = Analysis(function=invert, input=list(range(1, 501)), depends_on=[gate]).run()
    storage = session.storage()
    compute = small._compute()
    calls: list[str] = []
    for name in ("get_bytes", "open_read", "stat", "exists", "list_page"):
        original = getattr(storage, name)
        monkeypatch.setattr(storage, name, lambda *a, _o=original, _n=name, **k: calls.append(_n) or _o(*a, **k))
    for name in ("element_status", "list_elements", "read_log"):
        original = getattr(compute, name)
        monkeypatch.setattr(compute, name, lambda *a, _o=original, _n=name, **k: calls.append(_n) or _o(*a, **k))

    def cost(an: Analysis) -> list[str]:
        view = widgets.AnalysisView(an, autostart=False)
        calls.clear()
        for _ in range(3):
            view.refresh()
        assert view.bars["RUNNABLE"].max == an.size
        return list(calls)

    small_cost, large_cost = cost(small), cost(large)
    assert small_cost == large_cost
    assert len(small_cost) <= 3 * 2  # at most two reads per refresh, no element listing
    gate.terminate()
    wait_for(lambda: large.status()["status"] == FAILED, timeout=60, what="dependents to fail")


def test_terminate_asks_for_a_second_click_then_stops_every_element(tmp_path):
    an = Analysis(function=wait_for_flag, input=[{"flag": str(tmp_path / "never")}] * 2).run()
    view = widgets.AnalysisView(an)
    wait_for(lambda: view.bars[RUNNING].value == 2, timeout=60, what="both elements RUNNING")
    view.terminate_button.click()
    assert view.terminate_button.description == "Confirm terminate"
    assert an.status()["status"] == RUNNING
    view.terminate_button.click()
    wait_for(lambda: view.bars[FAILED].value == 2, timeout=60, what="both elements FAILED in the view")
    assert view.terminate_button.disabled
    assert an.status()["status"] == FAILED


def test_show_logs_streams_an_elements_log_into_the_pane_as_it_is_written(tmp_path):
    flag = tmp_path / "go"
    an = Analysis(function=wait_for_flag, input=[{"flag": str(flag)}, {"flag": str(flag)}]).run()
    view = widgets.AnalysisView(an)
    view.element.value = 1
    view.logs_button.click()
    wait_for(lambda: "started" in view.log_pane.value, timeout=60, what="the first line in the pane")
    assert "element 1 · following" in view.log_pane.value and "finished" not in view.log_pane.value
    assert an.status(1)["status"] == RUNNING  # it streamed while the element was running
    flag.touch()
    wait_for(lambda: "end of log" in view.log_pane.value, timeout=60, what="the log to end")
    pane = view.log_pane.value
    assert "finished" in pane
    assert f"<span style='{widgets._ERROR_STYLE}'>oops\n</span>" in pane  # stderr: the theme's error colour
    view.close()


def test_follow_log_yields_text_until_the_element_has_ended(tmp_path):
    flag = tmp_path / "go"
    an = Analysis(function=wait_for_flag, input={"flag": str(flag)}).run()
    chunks = widgets.follow_log(an, 0)
    stream, text = next(chunks)
    assert (stream, text) == ("stdout", "started\n")
    flag.touch()
    rest = list(chunks)
    assert "".join(t for s, t in rest if s == "stdout") == "finished\n"
    assert "".join(t for s, t in rest if s == "stderr") == "oops\n"
    assert an.status()["status"] == SUCCEEDED


def test_outside_a_notebook_run_prints_the_id_and_displays_nothing(capsys):
    assert not widgets.in_notebook()
    an = Analysis(function=invert, input=[2]).run()
    assert capsys.readouterr().out == f"Analysis ID: {an.id}\n"
    assert widgets.show_if_notebook(an) is None
    an.wait_done(timeout=60)


def test_a_script_that_runs_an_analysis_does_not_import_ipywidgets():
    # (a fresh process: this test process imported ipywidgets already)
    result = run_python("""
        import sys
        from explorer_magics.analysis import Analysis
        Analysis(function=lambda ac: None, input=None).run().wait_done(timeout=60)
        print("ipywidgets" in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"


# -- in a real kernel ----------------------------------------------------------------------------

VIEW_MIME = "application/vnd.jupyter.widget-view+json"


class Kernel:
    """A real ipykernel; every iopub message is kept, whatever request it is attributed to."""

    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        self.km, self.kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
        self.messages: list[dict] = []

    def execute(self, code: str, timeout: float = 60) -> list[dict]:
        """Run ``code``; return its iopub messages once the kernel is idle again."""
        msg_id = self.kc.execute(code)
        mine: list[dict] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._next(deadline)
            if msg["parent_header"].get("msg_id") == msg_id:
                mine.append(msg)
                if msg["msg_type"] == "error":
                    raise AssertionError("\n".join(msg["content"]["traceback"]))
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    return mine
        raise AssertionError(f"the kernel did not finish {code!r} within {timeout}s")

    def _next(self, deadline: float) -> dict:
        try:
            msg = self.kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError("no message from the kernel in time") from None
        self.messages.append(msg)
        return msg

    def wait_for_message(self, predicate, timeout: float = 60) -> dict:
        for msg in self.messages:
            if predicate(msg):
                return msg
        deadline = time.monotonic() + timeout
        while True:
            msg = self._next(deadline)
            if predicate(msg):
                return msg

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture
def kernel():
    k = Kernel()
    yield k
    k.close()


def _comm_state(msg: dict) -> dict:
    if msg["msg_type"] not in ("comm_open", "comm_msg"):
        return {}
    return msg["content"].get("data", {}).get("state", {}) or {}


def test_in_a_kernel_run_displays_a_live_widget_and_the_kernel_stays_free(kernel, tmp_path):
    flag = tmp_path / "go"
    out = kernel.execute(
        "from explorer_magics.analysis import Analysis\n"
        "def work(ac):\n"
        "    import pathlib, time\n"
        f"    while not pathlib.Path({str(flag)!r}).exists():\n"
        "        time.sleep(0.02)\n"
        "an = Analysis(function=work, input=[1, 2]).run()\n"
    )
    shown = [m for m in out if m["msg_type"] == "display_data" and VIEW_MIME in m["content"]["data"]]
    assert len(shown) == 1
    assert shown[0]["content"]["data"]["text/plain"].startswith("Analysis work (")
    bars = {}
    for status in (SUCCEEDED, RUNNING):
        opened = kernel.wait_for_message(
            lambda m, s=status: m["msg_type"] == "comm_open" and _comm_state(m).get("description") == s
        )
        bars[status] = opened["content"]["comm_id"]
    # the widget refreshes by itself while the elements run...
    kernel.wait_for_message(
        lambda m: (
            m["msg_type"] == "comm_msg"
            and m["content"]["comm_id"] == bars[RUNNING]
            and _comm_state(m).get("value") == 2
        )
    )
    # ...and the kernel answers other cells meanwhile
    reply = kernel.execute("an.status()['status']")
    result = [m for m in reply if m["msg_type"] == "execute_result"]
    assert result[0]["content"]["data"]["text/plain"] == "'RUNNING'"
    kernel.execute(f"import pathlib; pathlib.Path({str(flag)!r}).touch()")
    kernel.wait_for_message(
        lambda m: (
            m["msg_type"] == "comm_msg"
            and m["content"]["comm_id"] == bars[SUCCEEDED]
            and _comm_state(m).get("value") == 2
        )
    )
    kernel.wait_for_message(lambda m: ">SUCCEEDED</span>" in str(_comm_state(m).get("value", "")))
    threads = kernel.execute(
        "import threading, time\n"
        "for _ in range(200):\n"
        "    alive = [t for t in threading.enumerate() if t.name.startswith('explorer-widget')]\n"
        "    if not alive:\n"
        "        break\n"
        "    time.sleep(0.05)\n"
        "print('widget threads:', len(alive))\n"
    )
    assert [m["content"]["text"] for m in threads if m["msg_type"] == "stream"] == ["widget threads: 0\n"]


def test_in_a_kernel_live_logs_stream_into_the_cell_output_as_lines_arrive(kernel, tmp_path):
    flag = tmp_path / "go"
    kernel.execute(
        "from explorer_magics.analysis import Analysis\n"
        "def work(ac):\n"
        "    import pathlib, time\n"
        "    print('first line', flush=True)\n"
        f"    while not pathlib.Path({str(flag)!r}).exists():\n"
        "        time.sleep(0.02)\n"
        "    print('last line', flush=True)\n"
        "an = Analysis(function=work, input='x').run()\n"
    )
    msg_id = kernel.kc.execute("an.logs(live=True)")

    def printed(text: str):
        return lambda m: (
            m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream" and text in m["content"]["text"]
        )

    kernel.wait_for_message(printed("first line"))  # shown while the cell is still running
    assert not any(printed("last line")(m) for m in kernel.messages)
    flag.touch()
    kernel.wait_for_message(printed("last line"))
    kernel.wait_for_message(
        lambda m: m["parent_header"].get("msg_id") == msg_id and m["content"].get("execution_state") == "idle"
    )
