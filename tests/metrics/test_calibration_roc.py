"""Calibration and ROC from the curve's counts against scikit-learn: ties, weights, either class."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from dashboard import Results
from dashboard.errors import DashboardError
from dashboard.metrics import ThresholdCurve
from dashboard.metrics.calibration import calibration_table, roc_table


@st.composite
def scored(draw: st.DrawFn, weighted: bool = False) -> tuple:
    """Labels and probabilities, often on bin edges and tied (a grid of 1/levels)."""
    n = draw(st.integers(2, 60))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    if draw(st.booleans()):
        levels = draw(st.sampled_from([4, 5, 10, 20]))
        s = np.array(draw(st.lists(st.integers(0, levels), min_size=n, max_size=n))) / levels
    else:
        s = np.array(draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=n, max_size=n)))
    w = None
    if weighted:
        w = np.array(draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 10.0]), min_size=n,
                                   max_size=n)))
    return y, s, w


@settings(max_examples=200, deadline=None)
@given(scored(), st.integers(1, 15))
def test_calibration_equals_calibration_curve_and_brier(data: tuple, bins: int) -> None:
    y, s, _ = data
    table = calibration_table(ThresholdCurve.from_predictions(y, s), bins)
    assert len(table) == bins  # empty bins are kept
    filled = table[table["n"] > 0]
    prob_true, prob_pred = calibration_curve(y, s, n_bins=bins, strategy="uniform")
    np.testing.assert_allclose(filled["positive_rate"], prob_true, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(filled["mean_score"], prob_pred, rtol=1e-12, atol=1e-15)
    assert table["n"].sum() == y.size
    assert table.loc[table["n"] == 0, "positive_rate"].isna().all()
    assert table.attrs["brier"] == pytest.approx(brier_score_loss(y, s), rel=1e-12, abs=1e-15)
    counts = filled["n"].to_numpy()
    ece = np.sum(counts / y.size * np.abs(prob_pred - prob_true))
    assert table.attrs["ece"] == pytest.approx(ece, rel=1e-12, abs=1e-15)
    inside = filled.dropna()
    assert ((inside["rate_low"] <= inside["positive_rate"] + 1e-12)
            & (inside["positive_rate"] <= inside["rate_high"] + 1e-12)).all()


@settings(max_examples=100, deadline=None)
@given(scored(weighted=True))
def test_weighted_brier_equals_brier_score_loss(data: tuple) -> None:
    y, s, w = data
    table = calibration_table(ThresholdCurve.from_predictions(y, s, sample_weight=w), 10)
    assert table.attrs["brier"] == pytest.approx(brier_score_loss(y, s, sample_weight=w),
                                                 rel=1e-12, abs=1e-15)


@settings(max_examples=200, deadline=None)
@given(scored() | scored(weighted=True), st.sampled_from([0, 1]))
def test_roc_equals_roc_curve_and_auc(data: tuple, positive: int) -> None:
    """Ties, weights and either class positive (the score then scores that class)."""
    y, s, w = data
    is_pos = y == positive
    if is_pos.all() or not is_pos.any():
        table = roc_table(ThresholdCurve.from_predictions(y, s, sample_weight=w,
                                                          pos_label=positive))
        assert math.isnan(table.attrs["auc"])
        return
    table = roc_table(ThresholdCurve.from_predictions(y, s, sample_weight=w,
                                                      pos_label=positive))
    fpr, tpr, thr = roc_curve(y, s, pos_label=positive, sample_weight=w,
                              drop_intermediate=False)
    np.testing.assert_allclose(table["fpr"], fpr, rtol=1e-12)
    np.testing.assert_allclose(table["tpr"], tpr, rtol=1e-12)
    np.testing.assert_array_equal(table["threshold"], thr)
    auc = roc_auc_score(is_pos, s, sample_weight=w)
    assert table.attrs["auc"] == pytest.approx(auc, rel=1e-12, abs=1e-15)


def test_calibration_refuses_scores_outside_0_1() -> None:
    curve = ThresholdCurve.from_predictions(np.array([0, 1]), np.array([-0.5, 2.0]))
    with pytest.raises(DashboardError, match="probabilities"):
        calibration_table(curve)


def _results(weights: bool = False) -> Results:
    rng = np.random.default_rng(3)
    n = 400
    score = rng.random(n)
    label = (rng.random(n) < score ** 1.5).astype(int)
    frame = pd.DataFrame({"id": np.arange(n), "split": np.where(np.arange(n) % 2, "dev",
                                                                  "train"),
                          "label": label, "score": score})
    if weights:
        frame["weight"] = rng.choice([1.0, 3.0], n)
    return Results.from_frame(frame)


def test_results_calibration_and_roc_follow_the_model_state() -> None:
    r = _results(weights=True)
    dev = r.rows("dev")
    dev = dev.assign(label=dev["label"].to_numpy(dtype=int))
    cal = r.calibration("dev", bins=5)
    prob_true, prob_pred = calibration_curve(dev["label"], dev["score"], n_bins=5)
    np.testing.assert_allclose(cal.loc[cal["n"] > 0, "positive_rate"], prob_true, rtol=1e-12)
    assert cal.attrs["split"] == "dev" and cal.attrs["ece"] > 0.02  # score**1.5: miscalibrated
    roc = r.roc("dev")
    assert roc.attrs["auc"] == pytest.approx(roc_auc_score(dev["label"], dev["score"]))
    r.threshold = 0.3
    point = r.operating_point("dev")
    assert r.roc("dev").attrs["point_tpr"] == pytest.approx(point.recall)
    r.weighted = True
    w = dev["weight"].to_numpy()
    assert r.roc("dev").attrs["auc"] == pytest.approx(
        roc_auc_score(dev["label"], dev["score"], sample_weight=w))
    weighted = r.calibration("dev", bins=5)
    assert weighted.attrs["brier"] == pytest.approx(
        brier_score_loss(dev["label"], dev["score"], sample_weight=w))
    assert weighted["rows"].sum() == len(dev) and weighted["n"].sum() == w.sum()
