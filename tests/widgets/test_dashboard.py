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
    return [str(t) for t in dash.waterfall.trace("level labels")["text"]]


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
    # the grid (a hidden tab) draws its sample again when it is shown, not on every move
    assert dash.tally_grid.stale
    # (built in its hidden tab, it has not drawn a footer yet: not before the first figure)
    assert f"error now {100 * dev_error:.2f}%" != \
        dash.tally_grid.footer.get("ceiling", {}).get("lead")
    dash.show_view("Error analysis")
    assert not dash.tally_grid.stale
    # the grid's footer restates the error at the new threshold
    assert f"error now {100 * dev_error:.2f}%" == dash.tally_grid.footer["ceiling"]["lead"]
    wrong = set(r.review_rows("dev")["key"].astype(str))
    assert set(dash.tally_grid.rows()["key"]) <= wrong
    # while shown, it follows each move at once
    dash.explorer._slider.value = 0.3
    assert not dash.tally_grid.stale
    assert set(dash.tally_grid.rows()["key"]) <= set(r.review_rows("dev")["key"].astype(str))


def test_presentation_mode_enlarges_figures_and_keeps_them_live(
        demo: tuple[Results, Path]) -> None:
    r, store = demo
    dash = Dashboard(r, store=store)
    figures = dash.figures
    # waterfall, tally chart, curves, confusion matrix; mismatch, ROC, reliability
    assert len(figures) == 7
    assert dash.tally_grid.chart in figures
    assert not dash.tally_grid.chart.spec  # its tab is hidden: drawn when first shown
    dash.show_view("Error analysis")
    dash.show_view("Gap waterfall")
    normal = [f.spec["layout"]["font"]["size"] for f in figures]
    dash.present_button.value = True
    assert dash.presenting and "mldash-present" in dash._dom_classes
    assert dash.tabs.children == dash.views  # one view at a time: still the tabs
    assert [f.spec["layout"]["font"]["size"] for f in figures] > normal
    assert all(f.spec["layout"]["font"]["size"] > n for f, n in zip(figures, normal,
                                                                     strict=True))
    # a model change and a threshold move reach every figure while presenting ...
    before = [f.figure for f in figures]
    r.model = "B"
    r.threshold = 0.62
    dash.show_view("Error analysis")  # the grid's chart follows when its tab is shown
    after = [f.figure for f in figures]
    assert all(a != b for a, b in zip(after, before, strict=True))
    assert "model B" in dash.waterfall.figure.spec["layout"]["title"]["text"]
    assert dash.explorer.traces["threshold_line"]["x"] == [0.62, 0.62]
    assert figures[0].spec["layout"]["font"]["size"] > normal[0]  # still enlarged
    # ... and after it
    dash.presenting = False
    assert dash.present_button.value is False and "mldash-present" not in dash._dom_classes
    assert [f.spec["layout"]["font"]["size"] for f in figures] == normal
    r.threshold = 0.4
    assert dash.explorer.traces["threshold_line"]["x"] == [0.4, 0.4]
    assert "threshold 0.4" in dash.waterfall.figure.spec["layout"]["title"]["text"]


def test_presentation_mode_hides_secondary_controls_only(demo: tuple[Results, Path]) -> None:
    r, store = demo
    dash = Dashboard(r, store=store)
    secondary = [dash.explorer._split_picker, dash.waterfall.reference_picker,
                 dash.tally_grid._controls]
    assert all("mldash-secondary" in w._dom_classes for w in secondary)
    meeting = [dash.explorer._slider, dash.explorer._jump, dash.explorer._model_picker,
               dash.present_button]
    assert not any("mldash-secondary" in w._dom_classes for w in meeting)


def test_header_shows_errors_instead_of_dying(demo: tuple[Results, Path]) -> None:
    r, store = demo
    dash = Dashboard(r, store=store)
    r.model = "B"
    assert "model <b>B</b>" in dash.header.value
    assert dash.status.value == ""


def test_hidden_grid_is_built_when_shown_and_stale_after_moves(
        demo: tuple[Results, Path]) -> None:
    """Shown, then hidden again: a move only marks the grid stale until it is shown."""
    r, store = demo
    dash = Dashboard(r, store=store)
    dash.show_view("Error analysis")
    grid = dash.tally_grid
    dash.show_view("Gap waterfall")
    r.threshold = 0.3
    assert grid.stale and dash.tally_grid is grid
    dash.show_view("Error analysis")
    assert not grid.stale


def test_header_says_how_split_aliases_were_read(tmp_path: Path) -> None:
    import pandas as pd

    df = pd.DataFrame({"split": ["training"] * 4 + ["validation"] * 4, "label": [0, 1] * 4,
                       "score": [0.2, 0.8, 0.6, 0.4] * 2})
    dash = Dashboard(Results.from_frame(df), store=tmp_path / "s.sqlite")
    assert "split &#x27;validation&#x27; read as &#x27;dev&#x27;" in dash.header.value
    assert "split &#x27;training&#x27; read as &#x27;train&#x27;" in dash.header.value


def _shown_state(dash: Dashboard) -> dict:
    """What the explorer, its diagnostics and the waterfall show, as plain values."""
    ex, dg = dash.explorer, dash.curve_diagnostics
    return {"point": ex.point, "slider": ex._slider.value, "picker": ex._model_picker.value,
            "curves": ex.figure.spec, "marks": ex.traces["threshold_line"],
            "confusion": ex.confusion_figure.spec, "best": ex._best_html.value,
            "compare": ex._compare_html.value, "roc": dg.roc_figure.spec,
            "roc_point": dg.roc_figure.figure["data"], "resolution": dg.resolution.value,
            "waterfall": dash.waterfall.figure.spec, "mismatch": dash.mismatch.figure.spec}


def test_a_lazy_dashboard_draws_a_hidden_tab_when_shown_as_an_eager_one_does(
        demo: tuple[Results, Path], demo_path: Path, demo_meta: dict,
        tmp_path: Path) -> None:
    """The served page's Dashboard (lazy): the explorer's tab is not drawn before it is
    shown, a move with the waterfall shown leaves it alone, and once shown it is exactly what
    an eager Dashboard shows after the same changes; the same for the waterfall's tab."""
    r, store = demo
    lazy = Dashboard(r, store=store, lazy=True)
    twin = Results.from_file(demo_path, human_level=demo_meta["human_level"],
                             metadata=demo_meta["models"])
    eager = Dashboard(twin, store=tmp_path / "twin.sqlite")
    assert lazy.explorer.point is None and not lazy.explorer.figure.spec  # not drawn yet
    assert not lazy.curve_diagnostics.roc_figure.spec
    for res in (r, twin):  # changes made with the waterfall shown
        res.threshold = 0.37
        res.model = res.models[1]
        res.threshold = 0.61
    assert lazy.explorer.point is None  # still waiting
    lazy.show_view("Threshold & models")
    eager.show_view("Threshold & models")
    assert lazy.explorer.point == r.operating_point("dev")
    got, want = _shown_state(lazy), _shown_state(eager)
    # (the ROC's spec is drawn once per model and split; its point moves as a mark)
    for key in ("point", "slider", "picker", "curves", "marks", "confusion", "best", "compare",
                "roc_point", "resolution"):
        assert got[key] == want[key], key
    # now the waterfall's tab is hidden: a move there waits, then catches up when shown
    drawn = lazy.waterfall.figure.spec
    for res in (r, twin):
        res.threshold = 0.45
    assert lazy.waterfall.figure.spec is drawn
    assert lazy.explorer.point == r.operating_point("dev")  # the shown tab follows
    lazy.show_view("Gap waterfall")
    eager.show_view("Gap waterfall")
    got, want = _shown_state(lazy), _shown_state(eager)
    assert got["waterfall"] == want["waterfall"] and got["mismatch"] == want["mismatch"]
    assert "threshold 0.45" in lazy.waterfall.figure.spec["layout"]["title"]["text"]
