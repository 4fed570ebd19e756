"""What a person clicks for reruns, in real Chromium against a launched JupyterLab (the
fixtures of tests/browser_lab.py): "Rerun failed" with its confirmation, the attempts of an
element in its log tab, and resumed elements marked cached."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from explorer_magics.analysis import Analysis, AnalysisContext

from .browser_lab import *  # noqa: F403 - the lab, browser and page fixtures
from .browser_lab import open_explorer, shot

pytestmark = pytest.mark.browser


def fails_until_fixed(ac: AnalysisContext):
    import pathlib

    n, marker = ac.input
    print(f"sample {n}")
    if n == 1 and not pathlib.Path(marker).exists():
        raise RuntimeError(f"bad region in sample {n}")
    ac.output.n = n


def test_rerun_failed_asks_with_the_count_then_the_log_tab_switches_attempts(page, lab, tmp_path):  # noqa: F811
    marker = tmp_path / "fixed"
    an = Analysis(fails_until_fixed, input=[(n, str(marker)) for n in range(3)], name="coverage").run()
    assert an.wait_done(timeout=120)["summary"] == {"SUCCEEDED": 2, "FAILED": 1}

    open_explorer(page)
    page.locator(f'.jp-Explorer-analysis[data-id="{an.id}"]').click()
    button = page.locator('[data-action="rerun-failed"]')
    expect(button).to_be_visible()
    button.click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Rerun the 1 FAILED element of coverage?")
    shot(page, "rerun-01-confirm")
    marker.write_text("fixed")
    dialog.locator(".jp-mod-accept").click()
    expect(page.locator(".jp-Explorer-detail")).to_contain_text("Rerunning 1 element")
    expect(page.locator('.jp-Explorer-element[data-status="SUCCEEDED"]')).to_have_count(3, timeout=90_000)
    expect(button).to_have_count(0)  # nothing failed any more
    assert an.status()["summary"] == {"SUCCEEDED": 3}

    page.locator('.jp-Explorer-element[data-index="1"]').click()
    switch = page.locator(".jp-Explorer-attempt-switch")
    expect(switch.locator("option")).to_have_count(2)
    page.locator('.jp-Explorer-stream[aria-selected="false"]').click()  # stderr
    switch.select_option("0")
    expect(page.locator(".jp-Explorer-log-text")).to_contain_text("RuntimeError: bad region in sample 1")
    shot(page, "rerun-02-earlier-attempt-log")
    switch.select_option("1")
    expect(page.locator(".jp-Explorer-log-text")).not_to_contain_text("RuntimeError")


def test_resumed_elements_are_marked_cached(page, lab, tmp_path):  # noqa: F811
    marker = tmp_path / "fixed"
    marker.write_text("fixed")
    first = Analysis(fails_until_fixed, input=[(n, str(marker)) for n in range(2)], name="again").run()
    first.wait_done(timeout=120)
    again = Analysis(fails_until_fixed, input=[(n, str(marker)) for n in range(3)], name="again", resume=True).run()
    again.wait_done(timeout=120)

    open_explorer(page)
    page.locator(f'.jp-Explorer-analysis[data-id="{again.id}"]').click()
    expect(page.locator(".jp-Explorer-cached")).to_have_count(2, timeout=30_000)
    expect(page.locator('.jp-Explorer-element[data-index="2"] .jp-Explorer-cached')).to_have_count(0)
    shot(page, "rerun-03-cached")
