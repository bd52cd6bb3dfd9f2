"""Calibration and ROC from a threshold curve's counts: nothing more than the curve is needed.

A :class:`~dashboard.metrics.curve.ThresholdCurve` holds, per distinct score, the cumulative
positive and negative weight; differencing them gives back the per-score counts, so a
reliability diagram (equal-width bins), the expected calibration error, the Brier score and the
ROC curve are arithmetic on those counts. Every engine that builds a curve (pandas, DuckDB,
Dask) therefore gives the same tables.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dashboard.errors import DashboardError
from dashboard.metrics.curve import ThresholdCurve
from dashboard.metrics.intervals import wilson_interval

__all__ = ["calibration_table", "per_score_counts", "roc_table"]


def per_score_counts(curve: ThresholdCurve) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scores, pos, neg)`` per distinct score, ascending: the curve's cumulative sums undone."""
    tps = np.asarray(curve.tps, dtype=np.float64)
    fps = np.asarray(curve.fps, dtype=np.float64)
    pos = np.diff(tps, prepend=0.0)
    neg = np.diff(fps, prepend=0.0)
    return (np.asarray(curve.thresholds, dtype=np.float64)[::-1], pos[::-1], neg[::-1])


def calibration_table(curve: ThresholdCurve, bins: int = 10,
                      rows: ThresholdCurve | None = None) -> pd.DataFrame:
    """Reliability diagram in ``bins`` equal-width bins of [0, 1], with ECE and Brier score.

    One row per bin, empty bins kept (``n`` = 0, rates NaN): ``bin_low``, ``bin_high``,
    ``mean_score``, ``positive_rate``, ``n`` (weight in the bin), ``rows`` (examples in it),
    ``rate_low``/``rate_high`` (Wilson 95% on the bin's positive rate over its examples).
    ``attrs``: ``ece`` = sum over bins of (n_b / n)·|mean score − positive rate| and ``brier``
    = mean (score − outcome)²; both weighted when ``curve`` holds weights. A score on an inner
    edge goes to the lower bin, as ``sklearn.calibration.calibration_curve(strategy=
    "uniform")`` puts it. ``rows`` is the unweighted curve of the same rows when ``curve`` is
    weighted (for the row counts the intervals use).
    """
    bins = int(bins)
    if bins < 1:
        raise DashboardError(f"bins must be a positive whole number, got {bins}")
    scores, pos, neg = per_score_counts(curve)
    if scores.size and (scores[0] < 0 or scores[-1] > 1):
        raise DashboardError("calibration needs probabilities in [0, 1]; these scores run "
                             f"from {scores[0]:g} to {scores[-1]:g}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], scores)
    total = pos + neg
    n = np.bincount(ids, weights=total, minlength=bins)
    positive = np.bincount(ids, weights=pos, minlength=bins)
    score_sum = np.bincount(ids, weights=scores * total, minlength=bins)
    if rows is None:
        count = n
    else:
        r_scores, r_pos, r_neg = per_score_counts(rows)
        count = np.bincount(np.searchsorted(edges[1:-1], r_scores), weights=r_pos + r_neg,
                            minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_score = np.where(n > 0, score_sum / np.where(n > 0, n, 1.0), np.nan)
        rate = np.where(n > 0, positive / np.where(n > 0, n, 1.0), np.nan)
    lows, highs = [], []
    for p, k in zip(rate, count, strict=True):
        lo, hi = wilson_interval(p * k, k) if k > 0 and math.isfinite(p) else (math.nan,
                                                                                  math.nan)
        lows.append(lo)
        highs.append(hi)
    table = pd.DataFrame({"bin_low": edges[:-1], "bin_high": edges[1:],
                          "mean_score": mean_score, "positive_rate": rate, "n": n,
                          "rows": count, "rate_low": lows, "rate_high": highs})
    weight = float(total.sum())
    filled = n > 0
    ece = (float(np.sum(n[filled] / weight * np.abs(mean_score[filled] - rate[filled])))
           if weight > 0 else math.nan)
    brier = (float(np.sum(pos * (1.0 - scores) ** 2 + neg * scores ** 2)) / weight
             if weight > 0 else math.nan)
    table.attrs.update({"ece": ece, "brier": brier, "bins": bins})
    return table


def roc_table(curve: ThresholdCurve) -> pd.DataFrame:
    """ROC curve at every distinct threshold, from (0, 0) at threshold +inf, with its AUC.

    Columns ``fpr``, ``tpr``, ``threshold`` (descending, as ``sklearn.metrics.roc_curve(...,
    drop_intermediate=False)``); ``attrs["auc"]`` is the trapezoidal area, which is
    ``roc_auc_score`` (ties count one half; weighted when the curve holds weights). NaN when
    the curve lacks either class.
    """
    tps = np.asarray(curve.tps, dtype=np.float64)
    fps = np.asarray(curve.fps, dtype=np.float64)
    pos, neg = float(curve.positives), float(curve.negatives)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.concatenate([[0.0], tps / pos]) if pos > 0 else np.full(tps.size + 1, np.nan)
        fpr = np.concatenate([[0.0], fps / neg]) if neg > 0 else np.full(fps.size + 1, np.nan)
    thresholds = np.concatenate([[np.inf], np.asarray(curve.thresholds, dtype=np.float64)])
    table = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})
    auc = float(np.trapezoid(tpr, fpr)) if pos > 0 and neg > 0 else math.nan
    table.attrs["auc"] = auc
    return table
