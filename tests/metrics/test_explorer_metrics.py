"""The explorer's pure helpers against scikit-learn and scipy: iso-F contours, confusion rates,
decimated display series, paired McNemar and constraint handling."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest
from sklearn.metrics import confusion_matrix, precision_recall_curve

from dashboard.metrics import ThresholdCurve, mcnemar_exact
from dashboard.metrics.compare import (
    binary_correct,
    paired_mcnemar,
    split_constraints,
    unmet_constraints,
)
from dashboard.metrics.isof1 import (
    ISO_LEVELS,
    confusion_rates,
    curve_series,
    iso_fbeta_curve,
    iso_fbeta_lines,
)


@st.composite
def scored(draw: st.DrawFn) -> tuple:
    """Labels, scores drawn from a few levels (many ties) and optional weights."""
    n = draw(st.integers(2, 80))
    levels = draw(st.integers(1, 10))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    s = np.array(draw(st.lists(st.integers(0, levels), min_size=n, max_size=n))) / levels
    w = None
    if draw(st.booleans()):
        w = np.array(draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 10.0]), min_size=n,
                                   max_size=n)))
    return y, s, w


# -- the operating point at a threshold ----------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(scored(), st.floats(-0.5, 1.5, allow_nan=False), st.sampled_from([0.5, 1.0, 2.0]))
def test_curve_at_equals_sklearn(data: tuple, threshold: float, beta: float) -> None:
    y, s, w = data
    curve = ThresholdCurve.from_predictions(y, s, sample_weight=w)
    for thr in (threshold, *np.unique(s).tolist()):
        assert curve.index_at(thr) == int((np.unique(s) >= thr).sum())
    pt = curve.at(threshold, beta)
    ref = confusion_matrix(y, (s >= threshold).astype(int), labels=[0, 1], sample_weight=w)
    np.testing.assert_allclose([[pt.tn, pt.fp], [pt.fn, pt.tp]], ref, atol=1e-9)


def test_curve_at_does_not_copy_the_curve() -> None:
    curve = ThresholdCurve.from_predictions(np.r_[np.zeros(500_000), np.ones(500_000)],
                                            np.linspace(0, 1, 1_000_000))
    tracemalloc.start()
    curve.at(0.3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 100_000  # a binary search, not a negated copy of 8 MB


# -- iso-F contours -------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("level", [0.1, 0.2, 0.5, 0.8, 0.9, 0.99])
def test_every_point_of_an_iso_contour_has_that_f_score(level: float, beta: float) -> None:
    recall, precision = iso_fbeta_curve(level, beta, n_points=200)
    b2 = beta * beta
    f = (1 + b2) * precision * recall / (b2 * precision + recall)
    np.testing.assert_allclose(f, level, rtol=1e-12)
    assert precision[0] == 1.0 and recall[-1] == 1.0
    assert np.all(np.diff(recall) > 0) and np.all(np.diff(precision) <= 0)
    assert np.all((precision > 0) & (precision <= 1))


def test_iso_f1_end_point_is_where_precision_is_one() -> None:
    # F1 = 0.5 with P = 1 needs R = F/(2 - F) = 1/3
    recall, precision = iso_fbeta_curve(0.5)
    assert recall[0] == pytest.approx(1 / 3)
    assert precision[-1] == pytest.approx(1 / 3)  # and symmetrically at R = 1


def test_iso_lines_join_contours_with_gaps_and_label_them_on_the_diagonal() -> None:
    lines = iso_fbeta_lines(n_points=50)
    assert np.isnan(lines.recall).sum() == len(ISO_LEVELS)
    assert lines.recall.size == len(ISO_LEVELS) * 51
    assert lines.labels == tuple(f"F1={lv:g}" for lv in ISO_LEVELS)
    # on the diagonal F equals precision equals recall
    np.testing.assert_allclose(lines.label_recall, ISO_LEVELS)
    np.testing.assert_allclose(lines.label_precision, ISO_LEVELS)
    assert iso_fbeta_lines(beta=2.0).labels[0] == "F2=0.2"


def test_iso_contour_rejects_levels_outside_zero_one() -> None:
    with pytest.raises(ValueError):
        iso_fbeta_curve(1.0)
    with pytest.raises(ValueError):
        iso_fbeta_curve(0.5, beta=0)


# -- confusion matrix rates -----------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(scored(), st.floats(-0.1, 1.1, allow_nan=False))
def test_confusion_rates_equal_sklearn(data: tuple, threshold: float) -> None:
    y, s, w = data
    pred = (s >= threshold).astype(int)
    curve = ThresholdCurve.from_predictions(y, s, sample_weight=w)
    pt = curve.at(threshold)
    cm = confusion_rates(pt.tp, pt.fp, pt.fn, pt.tn)
    ref = confusion_matrix(y, pred, labels=[0, 1], sample_weight=w)
    np.testing.assert_allclose(cm.counts, ref, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(cm.share, ref / ref.sum(), rtol=1e-12, atol=1e-12)
    rows = ref.sum(axis=1, keepdims=True)
    expected = np.divide(ref, rows, out=np.zeros_like(ref, dtype=float), where=rows > 0)
    np.testing.assert_allclose(cm.row_rates, expected, rtol=1e-12, atol=1e-12)
    if (rows > 0).all():
        ref_true = confusion_matrix(y, pred, labels=[0, 1], sample_weight=w, normalize="true")
        np.testing.assert_allclose(cm.row_rates, ref_true, rtol=1e-12, atol=1e-12)
    assert cm.total == pytest.approx(ref.sum())


# -- decimated series for drawing -----------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(scored(), st.floats(0.1, 4.0))
def test_curve_series_equals_the_curve_and_sklearn(data: tuple, beta: float) -> None:
    y, s, w = data
    if not 0 < y.sum() < y.size:
        return
    curve = ThresholdCurve.from_predictions(y, s, sample_weight=w)
    series = curve_series(curve, beta=beta)
    for name in ("precision", "recall", "f1", "queue_rate", "accuracy"):
        np.testing.assert_allclose(getattr(series, name), getattr(curve, name), rtol=1e-12)
    np.testing.assert_allclose(series.fbeta, curve.fbeta(beta), rtol=1e-12)
    precision, recall, thresholds = precision_recall_curve(y, s, sample_weight=w)
    np.testing.assert_array_equal(series.thresholds[::-1], thresholds)
    np.testing.assert_allclose(series.precision[::-1], precision[:-1], rtol=1e-12)
    np.testing.assert_allclose(series.recall[::-1], recall[:-1], rtol=1e-12)


def test_decimated_series_reads_only_the_chosen_points() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200_000)
    s = rng.random(200_000)
    curve = ThresholdCurve.from_predictions(y, s)
    idx = curve.decimate(2000)
    assert len(idx) <= 2000 and idx[0] == 0 and idx[-1] == len(curve) - 1
    series = curve_series(curve, idx, beta=2.0)
    assert len(series) == len(idx)
    np.testing.assert_allclose(series.precision, curve.precision[idx], rtol=1e-12)
    np.testing.assert_allclose(series.fbeta, curve.fbeta(2.0)[idx], rtol=1e-12)
    np.testing.assert_array_equal(series.thresholds, curve.thresholds[idx])


# -- correctness and the paired test --------------------------------------------------------------
def test_binary_correct_is_prediction_equals_label() -> None:
    y = np.array([1, 1, 0, 0, 1])
    s = np.array([0.9, 0.2, 0.7, 0.1, 0.5])
    np.testing.assert_array_equal(binary_correct(y == 1, s, 0.5),
                                  [True, False, False, True, True])


@pytest.mark.parametrize(("b", "c"), [(0, 0), (0, 5), (3, 3), (7, 20), (40, 61), (120, 90),
                                      (1, 30)])
def test_paired_mcnemar_equals_scipy_binomial_test(b: int, c: int) -> None:
    both_right, both_wrong = 50, 7
    a_ok = np.r_[np.zeros(b, bool), np.ones(c, bool), np.ones(both_right, bool),
                 np.zeros(both_wrong, bool)]
    b_ok = np.r_[np.ones(b, bool), np.zeros(c, bool), np.ones(both_right, bool),
                 np.zeros(both_wrong, bool)]
    keys = np.array([f"k{i}" for i in range(a_ok.size)])
    order = np.random.default_rng(b * 100 + c).permutation(a_ok.size)  # B lists rows shuffled
    result = paired_mcnemar(keys, a_ok, keys[order], b_ok[order])
    assert (result.only_a_wrong, result.only_b_wrong) == (b, c)
    expected = 1.0 if b + c == 0 else binomtest(min(b, c), b + c, 0.5).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-9)
    assert result == mcnemar_exact(a_ok, b_ok)


@pytest.mark.parametrize(("b", "c", "p"), [
    (1, 9, 2 * (1 + 10) / 2**10),           # C(10,0) + C(10,1): 0.021484375
    (2, 10, 2 * (1 + 12 + 66) / 2**12),     # 0.03857421875
    (5, 5, 1.0),
    (0, 6, 2 / 2**6),                       # 0.03125
])
def test_mcnemar_textbook_values(b: int, c: int, p: float) -> None:
    a_ok = np.r_[np.zeros(b, bool), np.ones(c, bool)]
    result = paired_mcnemar(np.arange(b + c), a_ok, np.arange(b + c), ~a_ok)
    assert result.p_value == pytest.approx(p, rel=1e-12)


def test_paired_mcnemar_uses_only_shared_examples() -> None:
    res = paired_mcnemar(np.array(["a", "b", "c"]), np.array([True, False, True]),
                         np.array(["c", "b", "z"]), np.array([False, True, False]))
    assert (res.only_a_wrong, res.only_b_wrong) == (1, 1)
    with pytest.raises(ValueError, match="share no examples"):
        paired_mcnemar(np.array(["a"]), np.array([True]), np.array(["b"]), np.array([True]))


# -- constraints ----------------------------------------------------------------------------------
def test_constraints_split_into_curve_and_metadata() -> None:
    meta = {"A": {"running_time_ms": 80}, "B": {"running_time_ms": 95, "size_mb": 60}}
    curve_c, meta_c = split_constraints({"recall": (">=", 0.9), "running_time_ms": ("<=", 100),
                                         "size_mb": ("<", 50)}, meta)
    assert curve_c == {"recall": (">=", 0.9)}
    assert meta_c == {"running_time_ms": ("<=", 100), "size_mb": ("<", 50)}
    assert unmet_constraints(meta["A"], meta_c) == ("size_mb",)  # missing value fails
    assert unmet_constraints(meta["B"], meta_c) == ("size_mb",)
    assert unmet_constraints({"running_time_ms": 1500, "size_mb": 10}, meta_c) == (
        "running_time_ms",)
    assert unmet_constraints({"running_time_ms": float("nan"), "size_mb": 1}, meta_c) == (
        "running_time_ms",)
