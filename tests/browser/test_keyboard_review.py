"""Reviewing by keyboard alone in the served page: the reviewer's name is asked once and
remembered by the browser, then 20 examples are reviewed with j/k, 1-9 and Enter, and every
answer is in the store under that reviewer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from playwright.sync_api import expect
from test_app import PAGE_TIMEOUT_MS, TALLY, open_app, show_grid, start_cli, stop_cli

from dashboard.annotations import AnnotationStore
from dashboard.metrics.tally import MISLABELLED

if TYPE_CHECKING:
    from conftest import PageGuard


def test_twenty_examples_reviewed_by_keyboard(tmp_path: Path, page_guard: PageGuard,
                                             screenshot: Callable[..., Path]) -> None:
    rng = np.random.default_rng(3)
    n = 400
    label = rng.integers(0, 2, n)
    score = np.where(rng.random(n) < 0.25, 1 - label, label) * 0.8 + 0.1
    path = tmp_path / "kbd.parquet"
    pd.DataFrame({"id": [f"e{i}" for i in range(n)], "split": np.where(np.arange(n) < 100,
                                                                       "train", "dev"),
                  "label": label, "score": score}).to_parquet(path)
    store = tmp_path / "kbd.sqlite"
    server = start_cli(path, store, "--human-level", "2%")
    try:
        page = page_guard.page
        open_app(page, server.url)
        show_grid(page)
        ask = page.locator(f"{TALLY} .mldash-ask-reviewer input")
        expect(ask).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        ask.focus()
        page.keyboard.type("kay")
        page.keyboard.press("Enter")
        expect(page.locator(f"{TALLY} .mldash-reviewer")).to_contain_text(
            "Reviewing as kay", timeout=PAGE_TIMEOUT_MS)
        table = page.locator(f"{TALLY} .mldash-review-table")
        expect(table.locator(".mldash-key-legend")).to_contain_text("1-9 tick")
        table.focus()
        page.keyboard.press("j")  # the first row
        rows = table.locator("tbody tr")
        keys = []
        for i in range(20):
            current = table.locator("tbody tr.mldash-current")
            expect(current).to_have_count(1)
            keys.append(current.get_attribute("data-key"))
            if i % 2 == 0:
                page.keyboard.press("1")  # tick the first category
                expect(current.locator("td.mldash-tag input").first).to_be_checked()
            page.keyboard.press("Enter")  # reviewed, and the next row
            expect(rows.nth(i).locator("td.mldash-col-reviewed input")).to_be_checked(
                timeout=PAGE_TIMEOUT_MS)
        expect(page.locator(f"{TALLY} tfoot .mldash-tally-reviewed")).to_contain_text(
            "20 reviewed", timeout=PAGE_TIMEOUT_MS)
        screenshot(page, "keyboard-review", full_page=False)
        assert page.evaluate("() => localStorage.getItem('mldash-reviewer')") == "kay"
    finally:
        stop_cli(server)
    saved = AnnotationStore(store, dataset=path.name)
    mine = saved.reviews()
    mine = mine[mine["reviewer"] == "kay"].dropna(subset=["value"])
    assert sorted(set(mine["example_id"])) == sorted(keys)
    ticked = mine[(mine["category"] == MISLABELLED) & mine["value"].astype(bool)]
    assert sorted(ticked["example_id"]) == sorted(keys[0::2])
