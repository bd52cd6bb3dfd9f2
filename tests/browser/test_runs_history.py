"""A project's runs served as a user serves them: the page opens on the latest run, and the
History tab, one click away, draws every run's levels and gaps and says what changed.

``python -m dashboard serve RUNS --port N --no-browser`` runs as a subprocess on three seeded
runs (tests/runs_data.py), from a temporary folder or logged to an MLflow file store
(``serve mlflow:cats --tracking-uri URI``); the sentence the page must show is computed here
with the same :class:`~dashboard.runs.Runs` model and compared as text.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Locator, Page, expect

from dashboard import Runs
from dashboard.serve import find_free_port
from tests.runs_data import mlflow_store, write_runs

if TYPE_CHECKING:
    from conftest import PageGuard

REPO = Path(__file__).resolve().parents[2]
PAGE_TIMEOUT_MS = 120_000
HISTORY = ".mldash-history"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHBOARD_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def _served(source: list[str], cwd: Path, env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """``python -m dashboard serve SOURCE --port N --no-browser`` as a user runs it: the page's
    URL and what the command printed up to it; SIGINT at the end, as Ctrl-C."""
    port = find_free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "serve", *source, "--port", str(port),
         "--no-browser"], cwd=str(cwd), env=env, text=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True).start()
    try:
        url = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            found = re.search(r"^Dashboard of 3 runs at (\S+)$", "".join(lines), re.MULTILINE)
            if found:
                url = found.group(1)
                break
            time.sleep(0.1)
        out = "".join(lines)
        assert url, out
        yield url, out
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def _open_the_history(page: Page, url: str, runs: Runs) -> Locator:
    """The latest run's page first (its waterfall, its name in the title), then the History
    tab with the sentence ``runs`` says about the last two runs; returns the figure."""
    page.set_viewport_size({"width": 1280, "height": 1300})
    page.goto(url, wait_until="commit")
    # the latest run's dashboard first: its waterfall, its name in the title
    # (its first bar, the human level, is 0 without one: drawn with no height)
    page.locator(".widget-tab .mldash-waterfall .js-plotly-plot .bars .point path").nth(2) \
        .wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
    expect(page.locator(".mldash-header .mldash-title")).to_contain_text(
        "run3 (the latest of 3 runs)")
    tab = page.locator(".lm-TabBar-tab", has_text="History")
    tab.click()
    expect(tab).to_have_class(re.compile(r"\blm-mod-current\b"))
    expect(page.locator(f"{HISTORY} .mldash-history-sentence")).to_have_text(
        runs.what_changed("run2", "run3"), timeout=PAGE_TIMEOUT_MS)
    figure = page.locator(f"{HISTORY} .js-plotly-plot").first
    # one line per split and gap (4 + 4), each through 3 runs, and the ringed changes
    expect(figure.locator(".scatterlayer .trace")).not_to_have_count(0)
    points = figure.locator(".scatterlayer .trace .points path")
    assert points.count() >= 3 * 8
    assert int(runs.history()["significant"].sum()) >= 1
    for label in ("dev error", "data mismatch", "threshold"):
        expect(figure.locator(".legendtext", has_text=re.compile(f"^{label}$")).first) \
            .to_be_attached()
    # the run axis under the last panel names the runs, oldest first
    expect(figure.locator(".xaxislayer-above .x3tick text")).to_have_text(
        ["run1", "run2", "run3"])
    page.wait_for_timeout(500)  # the figure re-fits to its tab's width
    return figure


def test_serve_a_folder_of_runs_and_open_the_history(tmp_path: Path, page_guard: PageGuard,
                                                    screenshot: Callable[..., Path]) -> None:
    folder = tmp_path / "runs"
    write_runs(folder)
    with _served([str(folder)], tmp_path, _env()) as (url, out):
        assert "Loaded 3 runs from" in out and "the page opens on run3" in out
        page = page_guard.page
        runs = Runs.from_folder(folder)
        _open_the_history(page, url, runs)
        shot = screenshot(page, "history", full_page=True)
        assert shot.stat().st_size > 20_000
        # the picker: another pair of runs, another sentence
        page.locator(f"{HISTORY} select").first.select_option("run1")
        expect(page.locator(f"{HISTORY} .mldash-history-sentence")).to_have_text(
            runs.what_changed("run1", "run3"), timeout=PAGE_TIMEOUT_MS)


def test_serve_an_mlflow_experiment_and_open_the_history(
        tmp_path: Path, page_guard: PageGuard, screenshot: Callable[..., Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve mlflow:cats --tracking-uri URI``: the same three runs logged to an MLflow file
    store open on run3, and the History tab says what the store's runs say (the server is
    not told that MLflow 3 wants ``MLFLOW_ALLOW_FILE_STORE`` for a file store)."""
    folder = tmp_path / "runs"
    uri = mlflow_store(tmp_path, write_runs(folder, order=False), monkeypatch)
    env = {k: v for k, v in _env().items() if k != "MLFLOW_ALLOW_FILE_STORE"}
    with _served(["mlflow:cats", "--tracking-uri", uri], tmp_path, env) as (url, out):
        assert "Loaded 3 runs from mlflow:cats (run1, run2, run3)" in out, out
        assert "the page opens on run3" in out
        page = page_guard.page
        runs = Runs.from_mlflow("cats", tracking_uri=uri)
        figure = _open_the_history(page, url, runs)
        # the lines the browser drew carry the store's numbers: each level's error per run
        lines = figure.evaluate("el => Object.fromEntries(el.data.filter(t => t.mode === "
                               "'lines+markers' && t.yaxis === 'y').map(t => [t.name, t.y]))")
        levels = runs.history().query("kind == 'level'")
        assert lines == {label: part["error"].tolist()
                         for label, part in levels.groupby("label", sort=False)}
        shot = screenshot(page, "history", full_page=True)
        assert shot.stat().st_size > 20_000
