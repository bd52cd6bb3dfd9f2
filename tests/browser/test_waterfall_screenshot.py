"""GapWaterfall in a real page: Voilà serves a notebook that shows it on the demo data.

A threshold slider in the same notebook stands in for the threshold explorer: moving it sets
``results.threshold`` and the waterfall's bars, labels and headline must follow in the page
(not only in Python: see BROWSER_TESTING.md on stale plotly figures).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from dashboard import Results
from dashboard.metrics.gaps import GAP_LABELS
from dashboard.widgets.format import pct, pp

if TYPE_CHECKING:
    from conftest import StartServer, VoilaServer

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "dashboard" / "data" / "demo"
FIGURE_TIMEOUT_MS = 90_000
BAR = ".mldash-waterfall .js-plotly-plot .bars .point path"
TEXT = ".mldash-waterfall .js-plotly-plot .textpoint text"
HEADLINE = ".mldash-waterfall-headline [data-role=headline]"
SLIDER_HANDLE = ".waterfall-test-threshold .noUi-handle"
READOUT = ".waterfall-test-threshold .widget-readout"

CELL = """\
import json
from pathlib import Path
import ipywidgets as widgets
from IPython.display import display
from dashboard import Results
from dashboard.widgets.waterfall import GapWaterfall

demo = Path({demo!r})
meta = json.loads((demo / "demo.json").read_text())
results = Results.from_file(demo / meta["results"], human_level=meta["human_level"],
                            metadata=meta["models"])
slider = widgets.FloatSlider(value=0.5, min=0.05, max=0.95, step=0.05,
                             description="threshold", continuous_update=False)
slider.add_class("waterfall-test-threshold")
slider.observe(lambda c: setattr(results, "threshold", c["new"]), names="value")
display(widgets.VBox([slider, GapWaterfall(results)]))
"""


def demo_results() -> Results:
    meta = json.loads((DEMO / "demo.json").read_text())
    return Results.from_file(DEMO / meta["results"], human_level=meta["human_level"],
                             metadata=meta["models"])


@pytest.fixture(scope="module")
def server(module_voila_server: StartServer,
           tmp_path_factory: pytest.TempPathFactory) -> VoilaServer:
    if not (DEMO / "demo.json").exists():
        pytest.skip("no demo data")
    nb = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "waterfall",
                   "metadata": {}, "outputs": [],
                   "source": CELL.format(demo=str(DEMO)).splitlines(keepends=True)}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}, "title": "Gap waterfall"},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path = tmp_path_factory.mktemp("waterfall_nb") / "waterfall.ipynb"
    path.write_text(json.dumps(nb))
    return module_voila_server(notebook=path)


def svg_texts(page: Page) -> list[str]:
    return [t or "" for t in page.locator(TEXT).all_text_contents()]


def expected_labels(results: Results) -> tuple[str, list[str]]:
    """The headline's focus names and the level/gap labels the page should show."""
    report = results.gaps()
    errors = results.error_rates()["error"]
    labels = [pct(v) for v in errors] + [pp(v) for v in report.gaps().values() if v is not None]
    return " and ".join(GAP_LABELS[g] for g in report.focus), labels


def test_waterfall_renders_and_follows_the_threshold(server, page_guard, screenshot) -> None:
    page = page_guard.page
    page.set_viewport_size({"width": 1100, "height": 1300})
    page.goto(server.url(), wait_until="commit")
    page.locator(BAR).first.wait_for(state="visible", timeout=FIGURE_TIMEOUT_MS)

    results = demo_results()
    focus, labels = expected_labels(results)
    headline = page.locator(HEADLINE)
    expect(headline).to_contain_text("Focus on")
    for name in focus.split(" and "):
        expect(headline).to_contain_text(name)
    for label in labels:
        expect(page.locator(TEXT, has_text=label).first).to_be_attached()
    # tactics and the general-formulation table are in the page too
    expect(page.locator(".mldash-waterfall-tactics")).to_contain_text("try")
    expect(page.locator(".mldash-waterfall-formulation")).to_contain_text("General formulation")
    # 5 level bars and 4 gap steps for the demo (human + 4 splits)
    expect(page.locator(BAR)).to_have_count(9)
    screenshot(page, "waterfall")

    # move the threshold "from elsewhere": bars, labels and headline follow in the page
    before_d = [page.locator(BAR).nth(i).get_attribute("d") for i in range(9)]
    before_text = svg_texts(page)
    handle = page.locator(SLIDER_HANDLE)
    handle.focus()
    for _ in range(4):
        handle.press("ArrowLeft")
    expect(page.locator(READOUT)).to_have_text("0.30")
    results.threshold = 0.3
    focus, labels = expected_labels(results)
    for label in labels:
        expect(page.locator(TEXT, has_text=label).first).to_be_attached()
    for name in focus.split(" and "):
        expect(headline).to_contain_text(name)
    assert svg_texts(page) != before_text
    after_d = [page.locator(BAR).nth(i).get_attribute("d") for i in range(9)]
    assert after_d != before_d  # the geometry moved, not only the text
    expect(page.locator(".js-plotly-plot .gtitle")).to_contain_text("threshold 0.3")
    screenshot(page, "waterfall-threshold-0.30")

    # side by side: the second model's bars appear beside the first
    page.get_by_role("button", name="Side by side").click()
    expect(page.locator(BAR)).to_have_count(18)
    screenshot(page, "waterfall-side-by-side")
