"""The diagnostics figures (mismatch drivers, ROC, reliability) against the Results numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dashboard import Results
from dashboard.figures.diagnostics import (
    ROC_TRACES,
    calibration_spec,
    mismatch_spec,
    resolution_text,
    roc_marks,
    roc_spec,
)


@pytest.fixture(scope="module")
def demo(demo_path: Path) -> Results:
    return Results.from_file(demo_path)


def test_roc_spec_draws_the_table_and_marks_the_threshold(demo: Results) -> None:
    spec = roc_spec(demo, "dev")
    json.dumps(spec, allow_nan=False)
    table = demo.roc("dev")
    roc = spec["data"][ROC_TRACES.index("roc")]
    assert roc["x"][0] == 0.0 and roc["y"][-1] == 1.0 and len(roc["x"]) == len(table)
    assert f"AUC {table.attrs['auc']:.3f}" in spec["layout"]["title"]["text"]
    point = demo.operating_point("dev")
    marks = roc_marks(demo, "dev")["traces"][str(ROC_TRACES.index("point"))]
    assert marks["y"] == [pytest.approx(point.recall)]
    assert marks["x"] == [pytest.approx(point.fp / (point.fp + point.tn))]
    demo.threshold = 0.8
    try:
        moved = roc_marks(demo, "dev")["traces"][str(ROC_TRACES.index("point"))]
        assert moved["y"][0] < marks["y"][0]  # a higher threshold: lower recall
    finally:
        demo.threshold = 0.5


def test_calibration_spec_shows_every_bin_and_its_interval(demo: Results) -> None:
    spec = calibration_spec(demo, "dev")
    json.dumps(spec, allow_nan=False)
    table = demo.calibration("dev")
    bars, _, points = spec["data"]
    assert bars["y"] == table["rows"].tolist()  # empty bins drawn as zero-height bars
    filled = table[table["n"] > 0]
    np.testing.assert_allclose(points["y"], filled["positive_rate"])
    np.testing.assert_allclose(np.array(points["y"]) + np.array(points["error_y"]["array"]),
                               filled["rate_high"])
    assert f"ECE {table.attrs['ece']:.3f}" in spec["layout"]["title"]["text"]


def test_mismatch_spec_ranks_the_demo_columns(demo: Results) -> None:
    spec = mismatch_spec(demo)
    json.dumps(spec, allow_nan=False)
    table = demo.mismatch_drivers()
    bars = spec["data"][0]
    assert bars["y"][::-1] == table["column"].tolist()  # best explanation on top
    notes = spec["layout"]["annotations"]
    assert [n["y"] for n in notes] == bars["y"] and "night" in notes[-1]["text"]
    assert mismatch_spec(Results.from_predictions([0, 1, 1], [0.2, 0.6, 0.9])) is None


def test_resolution_text_needs_two_models(demo: Results) -> None:
    text = resolution_text(demo, difference=0.005)
    assert "can tell apart error differences of ≥" in text and "about" in text
    assert resolution_text(Results.from_predictions([0, 1, 1], [0.2, 0.6, 0.9])) == ""
