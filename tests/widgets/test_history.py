"""The History tab driven from Python: it reads the other runs only when shown, follows the
shown run's threshold, and says what changed between the runs picked."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import Runs
from dashboard.app import HISTORY_VIEW, RunsApp, build_runs_app
from dashboard.figures.history import history_spec
from dashboard.widgets.history import HistoryView
from tests.runs_data import write_runs


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    write_runs(tmp_path / "runs")
    return tmp_path / "runs"


def test_the_view_reads_the_runs_when_shown_and_follows_the_shown_run(folder: Path) -> None:
    runs = Runs.from_folder(folder)
    view = HistoryView(runs, active=False)
    assert [runs.is_loaded(n) for n in runs] == [False, False, True]
    assert view.figure.spec == {}
    view.active = True
    assert all(runs.is_loaded(n) for n in runs)
    assert view.figure.spec == history_spec(runs)
    assert (view.before.value, view.after.value) == ("run2", "run3")
    assert runs.what_changed("run2", "run3") in view.sentence.value
    view.before.value = "run1"
    assert runs.what_changed("run1", "run3") in view.sentence.value
    before = view.figure.spec
    runs["run3"].threshold = 0.3  # the shown run's threshold moves: the history follows
    assert view.figure.spec != before
    assert runs.history().query("run == 'run3'")["threshold"].iloc[0] == 0.3
    assert runs.what_changed("run1", "run3") in view.sentence.value
    view.after.value = "run1"
    assert "Pick two different runs" in view.sentence.value


def test_a_hidden_view_only_marks_itself_stale(folder: Path) -> None:
    runs = Runs.from_folder(folder)
    view = HistoryView(runs)
    view.active = False
    shown = view.figure.spec
    runs["run3"].threshold = 0.3
    assert view.figure.spec == shown
    view.active = True
    assert view.figure.spec != shown


def test_the_page_opens_on_the_latest_run_with_history_one_tab_away(folder: Path) -> None:
    app = build_runs_app({"folder": str(folder)})
    assert isinstance(app, RunsApp)
    assert app.results is app.runs["run3"] and app.dashboard.tabs.selected_index == 0
    assert "run3 (the latest of 3 runs)" in app.dashboard.header.value
    assert app.dashboard.view_names[-1] == HISTORY_VIEW
    assert not app.runs.is_loaded("run1")
    app.dashboard.show_view(HISTORY_VIEW)
    assert app.history.active and app.runs.is_loaded("run1")
    assert app.history.figure in app.dashboard.figures


def test_bad_runs_show_one_message(tmp_path: Path) -> None:
    app = build_runs_app({"folder": str(tmp_path)})
    assert "mldash-message" in app._dom_classes
    assert "no results files in the folder" in app.value


def test_a_preheated_page_of_runs_is_rebuilt_when_a_run_is_added(folder: Path) -> None:
    """The launcher's environment names the runs; a preheated kernel built the page, and a
    run added to the folder since makes the page read them again when it is shown."""
    import json
    import shutil

    from dashboard.app import PreheatedApp, app_from_environment
    from dashboard.serve import ENV_RUNS, dashboard_env

    env = {**dashboard_env(folder, runs={"folder": str(folder)}), "VOILA_PREHEAT": "True"}
    assert json.loads(env[ENV_RUNS]) == {"folder": str(folder)}
    page = app_from_environment(env)
    assert isinstance(page, PreheatedApp) and isinstance(page.content, RunsApp)
    page.freshen()  # nothing changed: the reviews are read again, the page kept
    assert not page.rebuilt
    shutil.copy(folder / "run1.parquet", folder / "run4.parquet")
    (folder / "run4.json").write_text(json.dumps({"run_order": 4}))
    page.freshen()
    assert page.rebuilt and page.content.runs.latest == "run4"
