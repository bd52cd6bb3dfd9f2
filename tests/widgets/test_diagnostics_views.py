"""The mismatch view and the curve diagnostics, driven through the shared results model."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import Results
from dashboard.figures.diagnostics import ROC_TRACES
from dashboard.widgets.dashboard import Dashboard


@pytest.fixture()
def board(demo_path: Path) -> Dashboard:
    return Dashboard(Results.from_file(demo_path))


def test_the_waterfall_tab_shows_the_mismatch_drivers(board: Dashboard) -> None:
    assert board.mismatch in board.tabs.children[0].children
    bars = board.mismatch.figure.figure["data"][0]
    assert bars["y"][-1] == board.results.mismatch_drivers()["column"].iloc[0]
    assert "Holm-adjusted" in board.mismatch.note.value


def test_a_threshold_move_moves_only_the_roc_point(board: Dashboard) -> None:
    view = board.curve_diagnostics
    assert view in board.tabs.children[2].children
    spec_before = view.roc_figure.spec
    board.results.threshold = 0.8
    assert view.roc_figure.spec is spec_before  # no new spec: a mark
    point = view.roc_figure.figure["data"][ROC_TRACES.index("point")]
    assert point["y"] == [pytest.approx(board.results.operating_point("dev").recall)]


def test_the_split_follows_the_explorer_and_the_typed_difference(board: Dashboard) -> None:
    view = board.curve_diagnostics
    board.explorer.split = "test"
    assert view.split == "test" and "· test ·" in view.roc_figure.spec["layout"]["title"]["text"]
    view.difference_box.value = 2.0
    assert "to see 2 pp you would need about" in view.resolution.value
    a, b, _ = board.explorer.mcnemar
    assert f"{a}" in board.explorer._compare_html.value
    res = board.results.dev_resolution(a, b, "test", difference=0.02, thresholds=(
        float(board.explorer.comparison.loc[a, "threshold"]),
        float(board.explorer.comparison.loc[b, "threshold"])))
    assert f"{res.detectable * 100:.2g} pp" in view.resolution.value


def test_the_curves_follow_the_positive_class_and_hide_without_scores() -> None:
    import numpy as np
    import pandas as pd

    from dashboard.widgets.diagnostics import CurveDiagnostics

    rng = np.random.default_rng(0)
    p = rng.dirichlet([1, 1, 1], 300)
    label = np.array([rng.choice(3, p=q) for q in p])
    frame = pd.DataFrame({"id": np.arange(300), "split": "dev", "label": label,
                          "p0": p[:, 0], "p1": p[:, 1], "p2": p[:, 2]})
    r = Results.from_frame(frame, score=None, proba={0: "p0", 1: "p1", 2: "p2"})
    view = CurveDiagnostics(r)
    r.positive_class = 0
    auc = r.roc("dev").attrs["auc"]
    assert f"AUC {auc:.3f}" in view.roc_figure.spec["layout"]["title"]["text"]
    hard = Results.from_frame(pd.DataFrame({"id": range(4), "split": "dev",
                                            "label": [0, 1, 0, 1],
                                            "prediction": [0, 1, 1, 1]}),
                              score=None, prediction="prediction")
    bare = CurveDiagnostics(hard)
    assert bare.roc_figure.layout.display == "none" and bare.resolution.value == ""
