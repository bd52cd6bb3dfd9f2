"""The error-analysis answer, one-click slice adoption, the task picker and the learning
curve, in a real browser on the served demos (``python -m dashboard serve``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import expect
from test_app import (
    DIAGNOSIS,
    EXPLORER,
    FACTS,
    PAGE_TIMEOUT_MS,
    TALLY,
    allow_unload_errors,
    copy_demo,
    open_app,
    show_tab,
    start_cli,
    stop_cli,
    wait_for_fit,
)

from dashboard import Results
from dashboard.annotations import AnnotationStore, dataset_name
from dashboard.demo import CURVE_NAME, MULTITASK_NAME
from dashboard.widgets.explorer import _thr
from dashboard.widgets.format import pct

if TYPE_CHECKING:
    from conftest import PageGuard

ANSWER = f"{TALLY} .mldash-answer"
SUGGESTIONS = f"{TALLY} .mldash-suggestions"


def test_answer_first_and_one_click_adoption(tmp_path: Path, page_guard: PageGuard,
                                             screenshot: Callable[..., Path]) -> None:
    file = copy_demo(tmp_path / "data")
    store = tmp_path / "annotations.sqlite"
    server = start_cli(file, store)
    try:
        page = page_guard.page
        open_app(page, server.url)
        show_tab(page, "Error analysis")
        expected = Results.from_file(file).tally("dev").attrs["fix_first"].sentence
        expect(page.locator(ANSWER)).to_have_text(expected, timeout=PAGE_TIMEOUT_MS)
        # the answer is the first thing in the tab, above the controls
        answer_box = page.locator(ANSWER).bounding_box()
        controls_box = page.locator(f"{TALLY} .widget-dropdown").first.bounding_box()
        assert answer_box["y"] < controls_box["y"]
        # the summary rows are in sight with the first rows, without scrolling the page or
        # the table: sticky footer in the table's own scroll box; the leading category marked
        table = page.locator(f"{TALLY} .mldash-review-table")
        expect(table.locator("tbody tr").first).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        shares = table.locator("tfoot .mldash-tally-share")
        expect(shares.first).to_be_in_viewport()
        expect(table.locator("tfoot .mldash-tally-ceiling").first).to_be_in_viewport()
        answer = Results.from_file(file).tally("dev").attrs["fix_first"]
        cats = table.locator("thead th.mldash-col-tag").all_text_contents()
        leading = table.locator("tfoot .mldash-tally-share.mldash-leading")
        expect(leading).to_have_count(1)
        assert cats.index(answer.leading) == shares.all_text_contents().index(
            leading.text_content())
        expect(table.locator("thead th", has_text="suspected mislabel")).to_have_count(1)
        # the rows scroll under the sticky header: the last row of the page is below the fold
        # of the table's box, the footer is not
        box = table.locator(".mldash-review-scroll").bounding_box()
        assert table.locator("tfoot").bounding_box()["y"] < box["y"] + box["height"]
        assert table.locator("tbody tr").last.bounding_box()["y"] > box["y"] + box["height"]
        suggestion = page.locator(SUGGESTIONS).locator(".widget-hbox").first
        expect(suggestion).to_contain_text("lighting = night")
        screenshot(page, "analysis-answer", full_page=False)
        suggestion.get_by_role("button", name="Adopt as category").click()
        expect(page.locator(f"{TALLY} .mldash-status")).to_contain_text(
            re.compile(r"Adopted lighting = night: ticked on \d+ reviewed rows, saved"),
            timeout=PAGE_TIMEOUT_MS)
        screenshot(page, "analysis-adopted", full_page=False)
    finally:
        stop_cli(server)
    # committed to the store: the category and its ticks are there after the server stopped
    results = Results.from_file(file)
    saved = AnnotationStore(store, dataset=dataset_name(results))
    try:
        assert "lighting = night" in saved.categories()
        ticks = saved.tags()
        assert ticks["lighting = night"].fillna(False).astype(bool).sum() > 0
    finally:
        saved.close()


def test_task_picker_and_learning_curve_tab(tmp_path: Path, page_guard: PageGuard,
                                            screenshot: Callable[..., Path]) -> None:
    data = tmp_path / "data"
    copy_demo(data)
    allow_unload_errors(page_guard)  # the first server stops while its page is open
    server = start_cli(data / MULTITASK_NAME, tmp_path / "drive.sqlite", "--human-level", "1%")
    try:
        page = page_guard.page
        open_app(page, server.url)
        expect(page.locator(FACTS)).to_contain_text("task pedestrian")
        drive = Results.from_file(data / MULTITASK_NAME, human_level=0.01)
        page.locator(".mldash .widget-dropdown", has_text="Task").locator("select") \
            .select_option("traffic_light")
        expect(page.locator(FACTS)).to_contain_text("task traffic_light",
                                                    timeout=PAGE_TIMEOUT_MS)
        drive.task = "traffic_light"
        expect(page.locator(DIAGNOSIS)).to_have_text(drive.gaps().headline)
        screenshot(page, "task-picker", full_page=False)
        # on the explorer tab the headline and the "Models on dev" table follow the picker
        # (the table kept the first task's numbers)
        show_tab(page, "Threshold & models")
        for task in ("traffic_light", "pedestrian", "traffic_light"):
            page.locator(".mldash .widget-dropdown", has_text="Task").locator("select") \
                .select_option(task)
            drive.task = task
            best = drive.best_threshold("dev", "f1")
            said = f"best threshold {_thr(best.threshold)} → F1 {pct(best.f1)}"
            expect(page.locator(EXPLORER)).to_contain_text(said, timeout=PAGE_TIMEOUT_MS)
            row = page.locator(f"{EXPLORER} table.mldash-xt tr", has_text="chosen")
            expect(row).to_contain_text(_thr(best.threshold), timeout=PAGE_TIMEOUT_MS)
            expect(row).to_contain_text(pct(best.f1))
        screenshot(page, "task-explorer", full_page=False)
        # the overview: small multiples, one panel of four split bars per task
        show_tab(page, "All tasks")
        bars = page.locator(".mldash-tasks .js-plotly-plot .bars .point path")
        expect(bars).to_have_count(4 * len(drive.tasks), timeout=PAGE_TIMEOUT_MS)
        wait_for_fit(page, ".mldash-tasks")
        screenshot(page, "all-tasks", full_page=False)
        page.goto("about:blank")
    finally:
        stop_cli(server)

    server = start_cli(data / CURVE_NAME, tmp_path / "curve.sqlite", "--human-level", "0.5%")
    try:
        page = page_guard.page
        open_app(page, server.url)
        show_tab(page, "Learning curve")
        verdict = Results.from_file(data / CURVE_NAME, human_level=0.005).learning_curve() \
            .attrs["verdict"]
        expect(page.locator(".mldash-learning-verdict")).to_have_text(
            verdict, timeout=PAGE_TIMEOUT_MS)
        page.wait_for_function(
            "() => { const d = document.querySelector('.mldash-learning .mldash-plot');"
            " return d && d.data && d.data.length === 3 && d.data[0].x.length === 5; }",
            timeout=PAGE_TIMEOUT_MS)
        screenshot(page, "learning-curve", full_page=False)
    finally:
        stop_cli(server)
