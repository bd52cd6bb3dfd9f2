"""The composed Dashboard: three views on one Results, a header, presentation mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import Dashboard, Results


@pytest.fixture()
def demo(demo_path: Path, demo_meta: dict, tmp_path: Path) -> tuple[Results, Path]:
    r = Results.from_file(demo_path, human_level=demo_meta["human_level"],
                          metadata=demo_meta["models"])
    return r, tmp_path / "store.sqlite"


def level_labels(dash: Dashboard) -> list[str]:
    return [str(t) for t in dash.waterfall.trace("level labels").text]


def test_one_model_three_views_and_a_header(demo: tuple[Results, Path]) -> None:
    r, store = demo
    dash = Dashboard(r, store=store, title="Cat <detector>")
    assert dash.waterfall.results is r and dash.explorer.results is r
    assert dash.tally_grid.results is r
    assert "Cat &lt;detector&gt;" in dash.header.value  # user text escaped
    assert "Focus on data mismatch" in dash.header.value
    assert "threshold <b>0.5</b>" in dash.header.value


def test_moving_the_explorer_slider_moves_the_waterfall_and_grid(
        demo: tuple[Results, Path]) -> None:
    r, store = demo
    dash = Dashboard(r, store=store)
    before_labels = level_labels(dash)
    dash.explorer._slider.value = 0.2
    assert r.threshold == pytest.approx(0.2)
    assert level_labels(dash) != before_labels
    dev_error = r.error_rates().loc["dev", "error"]
    assert f"{dev_error:.1%}" in " ".join(level_labels(dash))
    assert "threshold <b>0.2</b>" in dash.header.value
    # the grid's footer restates the error at the new threshold
    assert f"error now {100 * dev_error:.2f}%" in dash.tally_grid._ceiling_lead[1].value


def test_presentation_mode_shows_one_view_at_a_time(demo: tuple[Results, Path]) -> None:
    r, store = demo
    dash = Dashboard(r, store=store)
    dash.present_button.value = True
    assert dash.presenting and "mldash-present" in dash._dom_classes
    assert dash.stage.children == (dash.waterfall,) and dash.tabs.children == ()
    dash.view_picker.value = "Threshold & models"
    assert dash.stage.children == (dash.explorer,)
    dash.presenting = False
    assert dash.present_button.value is False and "mldash-present" not in dash._dom_classes
    assert dash.tabs.children == dash.views
    assert dash.tabs.selected_index == 2  # back to the view that was on stage


def test_header_shows_errors_instead_of_dying(demo: tuple[Results, Path]) -> None:
    r, store = demo
    dash = Dashboard(r, store=store)
    r.model = "B"
    assert "model <b>B</b>" in dash.header.value
    assert dash.status.value == ""
