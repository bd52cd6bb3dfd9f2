"""Multi-task results and learning curves through the widgets, driven by their traits."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import Dashboard, Results
from dashboard.demo import CURVE_NAME, DEFAULT_DIR, MULTITASK_NAME


@pytest.fixture()
def drive() -> Results:
    return Results.from_file(DEFAULT_DIR / MULTITASK_NAME, human_level=0.01)


def test_task_picker_moves_every_view(drive: Results, tmp_path: Path) -> None:
    d = Dashboard(drive, store=tmp_path / "s.sqlite")
    assert d.task_picker.options == drive.tasks and d.task_picker.value == "pedestrian"
    assert "task <b>pedestrian</b>" in d.header.value
    before = (d.waterfall.report.dev, d.explorer.point.f1)
    d.task_picker.value = "car"  # as a user picks it
    assert drive.task == "car"
    assert "task <b>car</b>" in d.header.value
    car_dev = drive.error_rates().loc["dev", "error"]
    assert d.waterfall.report.dev == pytest.approx(car_dev) != before[0]
    assert d.explorer.point == drive.operating_point("dev")
    assert d.explorer.point.f1 != before[1]
    # each task keeps its threshold: the explorer follows the switch back
    drive.threshold = 0.3
    d.task_picker.value = "pedestrian"
    assert drive.threshold == 0.5 and d.explorer.point.threshold == 0.5
    d.task_picker.value = "car"
    assert drive.threshold == 0.3 and d.explorer.point.threshold == 0.3
    d.show_view("Error analysis")
    assert d.tally_grid._n_wrong_total == int(drive.error_rates().loc["dev", "errors"])


def test_learning_curve_tab_follows_the_threshold_when_shown(tmp_path: Path) -> None:
    r = Results.from_file(DEFAULT_DIR / CURVE_NAME, human_level=0.005)
    d = Dashboard(r, store=tmp_path / "s.sqlite")
    assert d.view_names[-1] == "Learning curve" and d.learning is not None
    assert "likely to help" in d.learning.verdict.value
    names = [tr["name"] for tr in d.learning.figure.figure["data"]]
    assert names == ["train error", "dev error", "human level"]
    dev = d.learning.figure.figure["data"][1]["y"]
    assert dev == pytest.approx(list(r.learning_curve()["dev"]))
    r.threshold = 0.7  # hidden tab: nothing redrawn yet
    assert d.learning.figure.figure["data"][1]["y"] == pytest.approx(dev)
    d.show_view("Learning curve")
    assert d.learning.figure.figure["data"][1]["y"] == pytest.approx(
        list(r.learning_curve()["dev"]))


def test_single_task_results_have_no_task_picker(tmp_path: Path) -> None:
    r = Results.from_file(DEFAULT_DIR / "cat_results.parquet")
    d = Dashboard(r, store=tmp_path / "s.sqlite")
    assert d.task_picker is None and d.learning is None
    assert d.view_names == ("Gap waterfall", "Error analysis", "Threshold & models")


def test_all_tasks_tab_lists_every_task_and_switches(drive: Results, tmp_path: Path) -> None:
    d = Dashboard(drive, store=tmp_path / "s.sqlite")
    assert "All tasks" in d.view_names and d.overview is not None
    d.show_view("All tasks")
    table = drive.task_overview()
    text = d.overview.table.value
    assert text.index("traffic_light") < text.index("stop_sign")  # where the work is first
    assert "mean over tasks" in text
    assert f"({table.loc['car', 'dev_n']:,})" in text  # rows per split side by side
    [button] = [b for b in d.overview.buttons.children if b.description == "Show car"]
    button.click()
    assert drive.task == "car" and d.task_picker.value == "car"


def test_all_tasks_tab_draws_small_multiples_of_the_overview(drive: Results,
                                                             tmp_path: Path) -> None:
    """One panel per task (the most work first), each bar an error of the overview table."""
    from dashboard.figures.spec import alt_text

    d = Dashboard(drive, store=tmp_path / "s.sqlite")
    assert d.overview is not None
    d.show_view("All tasks")
    table = drive.task_overview()
    spec = d.overview.figure.figure
    assert [t["name"] for t in spec["data"]] == list(table.index)
    for trace, (_task, row) in zip(spec["data"], table.iterrows(), strict=True):
        assert trace["y"] == pytest.approx([row[s] for s in ("train", "train_dev", "dev",
                                                             "test")])
    assert "traffic_light (variance, data mismatch): train: " in alt_text(spec)
    # the current task's panel title is bold, and follows a switch
    assert any(a["text"].startswith("<b>pedestrian</b>") for a in spec["layout"]["annotations"])
    drive.task = "car"
    spec = d.overview.figure.figure
    assert any(a["text"].startswith("<b>car</b>") for a in spec["layout"]["annotations"])
