"""The threshold curve against scikit-learn as the oracle: ties, weights and tiny splits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    precision_recall_curve,
    precision_score,
    recall_score,
)

from dashboard.metrics import ThresholdCurve, best_threshold, score_counts


@st.composite
def scored(draw: st.DrawFn, weighted: bool = False, min_size: int = 2) -> tuple:
    """Random labels and scores drawn from a few distinct values (many ties)."""
    n = draw(st.integers(min_size, 60))
    levels = draw(st.integers(1, 8))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    s = np.array(draw(st.lists(st.integers(0, levels), min_size=n, max_size=n))) / levels
    w = None
    if weighted:
        w = np.array(draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 10.0]), min_size=n,
                                   max_size=n)))
    return y, s, w


def both_classes(y: np.ndarray) -> bool:
    return 0 < y.sum() < y.size


@settings(max_examples=200, deadline=None)
@given(scored(weighted=False) | scored(weighted=True))
def test_curve_equals_precision_recall_curve(data: tuple) -> None:
    y, s, w = data
    if not both_classes(y):
        return
    curve = ThresholdCurve.from_predictions(y, s, sample_weight=w)
    precision, recall, thresholds = precision_recall_curve(y, s, sample_weight=w)
    # scikit-learn lists thresholds ascending and appends the (P=1, R=0) end point
    np.testing.assert_array_equal(curve.thresholds[::-1], thresholds)
    np.testing.assert_allclose(curve.precision[::-1], precision[:-1], rtol=1e-12)
    np.testing.assert_allclose(curve.recall[::-1], recall[:-1], rtol=1e-12)


@settings(max_examples=200, deadline=None)
@given(scored(weighted=False, min_size=1) | scored(weighted=True, min_size=1),
       st.floats(-0.1, 1.1, allow_nan=False))
def test_operating_point_equals_confusion_matrix(data: tuple, threshold: float) -> None:
    y, s, w = data
    curve = ThresholdCurve.from_predictions(y, s, sample_weight=w)
    pred = (s >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1], sample_weight=w).ravel()
    point = curve.at(threshold, beta=2.0)
    assert (point.tp, point.fp, point.fn, point.tn) == pytest.approx((tp, fp, fn, tn))
    kw = {"sample_weight": w, "zero_division": 0}
    assert point.precision == pytest.approx(precision_score(y, pred, **kw))
    assert point.recall == pytest.approx(recall_score(y, pred, **kw))
    assert point.f1 == pytest.approx(f1_score(y, pred, **kw))
    assert point.fbeta == pytest.approx(fbeta_score(y, pred, beta=2.0, **kw))
    assert point.accuracy == pytest.approx(accuracy_score(y, pred, sample_weight=w))


@settings(max_examples=200, deadline=None)
@given(scored(weighted=False) | scored(weighted=True),
       st.sampled_from(["f1", "precision", "recall", "accuracy"]),
       st.sampled_from([None, ("recall", ">=", 0.9), ("precision", ">=", 0.6),
                        ("queue_rate", "<=", 0.5)]))
def test_best_threshold_is_the_true_argmax(data: tuple, optimize: str, constraint) -> None:
    y, s, w = data
    curve = ThresholdCurve.from_predictions(y, s, sample_weight=w)
    constraints = {constraint[0]: constraint[1:]} if constraint else None
    best = best_threshold(curve, optimize, constraints)
    # brute force with scikit-learn at every distinct score, and above the highest one
    # (nothing flagged: the trivial classifier is a candidate too)
    feasible = []
    for t in [*np.unique(s), np.nextafter(np.max(s), np.inf)]:
        pred = (s >= t).astype(int)
        kw = {"sample_weight": w, "zero_division": 0}
        values = {
            "f1": f1_score(y, pred, **kw), "precision": precision_score(y, pred, **kw),
            "recall": recall_score(y, pred, **kw),
            "accuracy": accuracy_score(y, pred, sample_weight=w),
            "queue_rate": np.average(pred, weights=w),
        }
        if constraint is not None:
            metric, op, bound = constraint
            ok = values[metric] >= bound - 1e-12 if op == ">=" else values[metric] <= bound + 1e-12
            if not ok:
                continue
        feasible.append((values[optimize], t))
    if not feasible:
        assert best is None
        return
    top = max(v for v, _ in feasible)
    assert best is not None
    assert best.value == pytest.approx(top, abs=1e-12)
    # ties go to the highest threshold
    assert best.threshold == max(t for v, t in feasible if abs(v - top) <= 1e-12)


def test_all_tied_scores_give_one_threshold() -> None:
    curve = ThresholdCurve.from_predictions([0, 1, 1, 0], [0.5, 0.5, 0.5, 0.5])
    assert len(curve) == 1
    assert curve.at(0.5).tp == 2 and curve.at(0.5).fp == 2
    assert curve.at(0.50001).tp == 0  # just above every score: nothing flagged


def test_score_counts_are_sufficient_statistics() -> None:
    """A backend that groups by score can feed from_counts and get the same curve."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 1000)
    s = rng.integers(0, 20, 1000) / 20
    scores, pos, neg = score_counts(y, s)
    assert np.all(np.diff(scores) < 0)
    assert pos.sum() == y.sum() and neg.sum() == (1 - y).sum()
    shuffled = rng.permutation(len(scores))
    a = ThresholdCurve.from_counts(scores[shuffled], pos[shuffled], neg[shuffled])
    b = ThresholdCurve.from_predictions(y, s)
    np.testing.assert_array_equal(a.tps, b.tps)
    np.testing.assert_array_equal(a.fps, b.fps)
    # partial counts from two shards merge to the same curve
    half = len(s) // 2
    parts = [score_counts(y[:half], s[:half]), score_counts(y[half:], s[half:])]
    merged = ThresholdCurve.from_counts(*(np.concatenate(p) for p in zip(*parts, strict=True)))
    np.testing.assert_array_equal(merged.tps, b.tps)


def test_decimate_keeps_ends_and_bound() -> None:
    curve = ThresholdCurve.from_predictions(np.arange(10_000) % 2, np.linspace(0, 1, 10_000))
    idx = curve.decimate(2000)
    assert len(idx) <= 2000 and idx[0] == 0 and idx[-1] == len(curve) - 1


def test_unknown_metric_and_bad_constraint_are_clear() -> None:
    curve = ThresholdCurve.from_predictions([0, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        best_threshold(curve, "auc")
    with pytest.raises(ValueError, match="operator '=>'"):
        best_threshold(curve, "f1", {"recall": ("=>", 0.9)})
