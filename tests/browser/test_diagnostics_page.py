"""Issue 24 in the served page: mismatch drivers under the waterfall; ROC (its point follows the
slider), reliability diagram and dev-set resolution under the explorer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import expect
from test_app import (
    PAGE_TIMEOUT_MS,
    SLIDER_HANDLE,
    WATERFALL,
    copy_demo,
    open_app,
    show_tab,
    start_cli,
    stop_cli,
)

from dashboard import Results

if TYPE_CHECKING:
    from conftest import PageGuard

ROC_POINT = ("() => { const d = document.querySelector('.mldash-roc .mldash-plot');"
             " return d && d.data && d.data.length === 3 && d.data[2].y.length === 1"
             " ? d.data[2].y[0] : null; }")


def test_mismatch_roc_reliability_and_resolution_in_the_page(
        tmp_path: Path, page_guard: PageGuard, screenshot: Callable[..., Path]) -> None:
    file = copy_demo(tmp_path / "data")
    server = start_cli(file, tmp_path / "annotations.sqlite")
    results = Results.from_file(file)
    try:
        page = page_guard.page
        open_app(page, server.url)
        top = results.mismatch_drivers().iloc[0]
        expect(page.locator(f"{WATERFALL} [data-role=mismatch-driver]")).to_contain_text(
            f"Top mismatch driver: {top['moved']}", timeout=PAGE_TIMEOUT_MS)
        bars = page.locator(".mldash-mismatch .js-plotly-plot .bars .point path")
        expect(bars).to_have_count(len(results.mismatch_drivers()), timeout=PAGE_TIMEOUT_MS)
        expect(page.locator(".mldash-mismatch .js-plotly-plot .gtitle")) \
            .to_contain_text("Shift per metadata column, train → dev")
        page.locator(".mldash-mismatch").scroll_into_view_if_needed()
        screenshot(page, "mismatch-drivers", full_page=False)

        show_tab(page, "Threshold & models")
        auc = results.roc("dev").attrs["auc"]
        expect(page.locator(".mldash-roc .gtitle")).to_contain_text(
            f"AUC {auc:.3f}", timeout=PAGE_TIMEOUT_MS)
        ece = results.calibration("dev").attrs["ece"]
        expect(page.locator(".mldash-calibration .gtitle")).to_contain_text(
            f"ECE {ece:.3f}")
        page.wait_for_function(ROC_POINT, timeout=PAGE_TIMEOUT_MS)
        before = page.evaluate(ROC_POINT)
        assert abs(before - results.operating_point("dev").recall) < 1e-9
        # a slider step moves the ROC's marked point in the browser, not only in Python
        handle = page.locator(SLIDER_HANDLE)
        handle.focus()
        for _ in range(40):
            handle.press("ArrowRight")
        moved = float(handle.get_attribute("aria-valuetext") or "nan")
        results.threshold = round(moved, 4)
        expected = results.operating_point("dev").recall
        page.wait_for_function(f"() => Math.abs(({ROC_POINT})() - {expected!r}) < 1e-9",
                               timeout=PAGE_TIMEOUT_MS)
        assert page.evaluate(ROC_POINT) != before
        # the resolution beside the comparison, for a typed difference
        box = page.locator(".mldash-resolution-input input")
        box.fill("2")
        box.press("Enter")
        expect(page.locator(".mldash-resolution")).to_contain_text(
            "to see 2 pp you would need about", timeout=PAGE_TIMEOUT_MS)
        page.locator(".mldash-diagnostics").scroll_into_view_if_needed()
        screenshot(page, "roc-reliability-resolution", full_page=False)
    finally:
        stop_cli(server)
