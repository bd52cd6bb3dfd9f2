"""Threshold curves from sufficient statistics: count once per distinct score, derive the rest.

A curve is built from one table of (distinct score, positive weight, negative weight). That
table is all a backend must produce (a SQL ``GROUP BY score`` gives it), so precision, recall,
F-beta and the confusion matrix at any threshold are cheap arithmetic on cumulative sums, and
an operating point at an arbitrary threshold is a binary search. A row is predicted positive
iff ``score >= threshold`` (scikit-learn's convention).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.errors import DashboardError
from dashboard.metrics.counting import (
    compact_counts,
    cumulative_counts,
    labels_and_scores,
    run_starts,
    weighted_counts,
)

_FLOAT64 = np.dtype(np.float64)

__all__ = [
    "METRICS",
    "BestThreshold",
    "OperatingPoint",
    "ThresholdCurve",
    "best_threshold",
    "cast_threshold",
    "cumulative_counts",
    "flag",
    "point_from_counts",
    "point_from_predictions",
    "score_counts",
    "score_dtype",
    "unmet",
]

#: metrics that :func:`best_threshold` can optimise or constrain
METRICS = ("f1", "fbeta", "precision", "recall", "accuracy", "specificity", "queue_rate",
           "error", "tp", "fp", "fn", "tn")

_OPS = {
    ">=": np.greater_equal,
    ">": np.greater,
    "<=": np.less_equal,
    "<": np.less,
    "==": np.equal,
}


def score_dtype(scores: np.ndarray) -> np.dtype:
    """The float type thresholds are compared in: the scores' own (float16/32), else float64.

    NumPy compares a float32 array with a Python float in float32 (NEP 50), and so does a
    user's ``scores >= 0.7``; comparing in float64 instead would call a float32 score 0.7
    negative at a typed threshold 0.7.
    """
    dtype = np.asarray(scores).dtype
    return dtype if dtype in (np.float16, np.float32) else np.dtype(np.float64)


def cast_threshold(threshold: float, dtype: np.dtype = _FLOAT64) -> float:
    """A threshold rounded to the scores' float type, as NumPy compares them (as a float64)."""
    value = float(threshold)
    if math.isnan(value):
        raise DashboardError("threshold is NaN; give a number")
    if dtype == np.float64:
        return value
    with np.errstate(over="ignore"):
        return float(np.asarray(value, dtype=np.float64).astype(dtype))


def flag(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Rows predicted positive, ``scores >= threshold``, compared in the scores' own dtype."""
    scores = np.asarray(scores)
    if scores.dtype.kind != "f":
        return scores >= cast_threshold(threshold)
    return scores >= scores.dtype.type(cast_threshold(threshold, score_dtype(scores)))


def _check_beta(beta: float) -> float:
    beta = float(beta)
    if not beta > 0 or math.isinf(beta):
        raise DashboardError(f"beta must be a positive finite number, got {beta}")
    return beta


def score_counts(y_true: np.ndarray, y_score: np.ndarray, sample_weight: np.ndarray | None = None,
                 pos_label: object = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sufficient statistics of a binary scoring: per distinct score, positive and negative weight.

    Returns ``(scores, pos, neg)`` as float64 with ``scores`` strictly decreasing. Unweighted it
    costs about one sort of the scores (see :mod:`dashboard.metrics.counting`).
    """
    if sample_weight is not None:
        return weighted_counts(*labels_and_scores(y_true, y_score, pos_label), sample_weight)
    scores, tps, fps = cumulative_counts(y_true, y_score, pos_label)
    return (scores, np.diff(tps, prepend=0).astype(np.float64),
            np.diff(fps, prepend=0).astype(np.float64))


def _share_of_rows(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    """num / den for a share of all rows (accuracy, queue rate): NaN, undefined, when the rows
    weigh nothing, never an error of 1.0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _safe_div(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    """num / den with 0 where den == 0 (scikit-learn's ``zero_division=0``)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _fbeta(tp: np.ndarray | float, fp: np.ndarray | float, fn: np.ndarray | float,
           beta: float) -> np.ndarray:
    """F-beta from the counts, (1+b²)tp / ((1+b²)tp + b²fn + fp): exact ties stay ties.

    Computing it from rounded precision and recall makes equal F1 values differ in the last
    bit, and then the documented tie rule (highest threshold) picks the wrong threshold.
    """
    b2 = _check_beta(beta) ** 2
    if b2 == 1.0:
        return _safe_div(2.0 * np.asarray(tp, dtype=np.float64),
                         2.0 * np.asarray(tp, dtype=np.float64) + fn + fp)
    return _safe_div((1 + b2) * np.asarray(tp, dtype=np.float64),
                     (1 + b2) * np.asarray(tp, dtype=np.float64) + b2 * fn + fp)


@dataclass(frozen=True)
class OperatingPoint:
    """The confusion matrix and its rates at one threshold (weighted counts when weighted)."""

    threshold: float
    tp: float
    fp: float
    fn: float
    tn: float
    precision: float
    recall: float
    f1: float
    fbeta: float
    beta: float
    accuracy: float
    specificity: float
    queue_rate: float

    @property
    def error(self) -> float:
        """Share of rows misclassified: 1 - accuracy."""
        return 1.0 - self.accuracy

    @property
    def n(self) -> float:
        return self.tp + self.fp + self.fn + self.tn

    def get(self, metric: str) -> float:
        """The value of a metric by name (one of :data:`METRICS`)."""
        if metric not in METRICS:
            raise DashboardError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        return float(getattr(self, metric))


@dataclass(frozen=True, eq=False)
class ThresholdCurve:
    """Cumulative confusion counts at every distinct score, highest score first.

    Row ``i`` is the operating point at ``threshold = thresholds[i]``: every row whose score is
    at least ``thresholds[i]`` is predicted positive. Build with :meth:`from_predictions` or
    :meth:`from_counts`; the arrays are read-only.
    """

    thresholds: np.ndarray
    tps: np.ndarray
    fps: np.ndarray
    positives: float
    negatives: float
    dtype: np.dtype = _FLOAT64

    @classmethod
    def from_counts(cls, scores: np.ndarray, pos: np.ndarray, neg: np.ndarray, *,
                    dtype: np.dtype | None = None) -> ThresholdCurve:
        """Build from per-distinct-score counts (any order; equal scores are merged).

        ``dtype`` is the scores' own float type (float16/32/64): a threshold is rounded to it
        before comparing, as NumPy does. By default it is the dtype of ``scores``.
        """
        dtype = score_dtype(scores) if dtype is None else np.dtype(dtype)
        scores = np.asarray(scores, dtype=np.float64)
        pos = np.asarray(pos, dtype=np.float64)
        neg = np.asarray(neg, dtype=np.float64)
        if scores.size > 1 and not np.all(scores[1:] < scores[:-1]):
            order = np.argsort(scores)[::-1]  # any order, duplicates allowed: merge them
            s, p, n = scores[order], pos[order], neg[order]
            starts = run_starts(s)
            s, p, n = s[starts], np.add.reduceat(p, starts), np.add.reduceat(n, starts)
        else:
            s, p, n = scores.copy(), pos, neg
        tps, fps = np.cumsum(p), np.cumsum(n)
        return cls._frozen(s, compact_counts(tps), compact_counts(fps), dtype)

    @classmethod
    def _frozen(cls, thresholds: np.ndarray, tps: np.ndarray, fps: np.ndarray,
                dtype: np.dtype) -> ThresholdCurve:
        """The curve over these arrays (decreasing thresholds, cumulative counts), read-only."""
        for a in (thresholds, tps, fps):
            a.setflags(write=False)
        return cls(thresholds, tps, fps, float(tps[-1]) if tps.size else 0.0,
                   float(fps[-1]) if fps.size else 0.0, dtype)

    @classmethod
    def from_predictions(cls, y_true: np.ndarray, y_score: np.ndarray, *,
                         sample_weight: np.ndarray | None = None,
                         pos_label: object = 1) -> ThresholdCurve:
        """Build from labels and scores, like ``sklearn.metrics.precision_recall_curve``.

        Unweighted it costs about one sort of the scores (see :func:`cumulative_counts`).
        """
        dtype = score_dtype(y_score)
        if sample_weight is None:
            scores, tps, fps = cumulative_counts(y_true, y_score, pos_label)
            if scores.size:
                return cls._frozen(scores, tps, fps, dtype)
        return cls.from_counts(*score_counts(y_true, y_score, sample_weight, pos_label),
                               dtype=dtype)

    # -- arrays over the distinct thresholds -------------------------------------------------
    def __len__(self) -> int:
        return int(self.thresholds.size)

    @property
    def fns(self) -> np.ndarray:
        return self.positives - self.tps

    @property
    def tns(self) -> np.ndarray:
        return self.negatives - self.fps

    @property
    def precision(self) -> np.ndarray:
        return _safe_div(self.tps, self.tps + self.fps)

    @property
    def recall(self) -> np.ndarray:
        return _safe_div(self.tps, self.positives)

    @property
    def f1(self) -> np.ndarray:
        return self.fbeta(1.0)

    def fbeta(self, beta: float = 1.0) -> np.ndarray:
        """F-beta at every threshold: recall weighted beta times as much as precision."""
        return _fbeta(self.tps, self.fps, self.fns, beta)

    @property
    def accuracy(self) -> np.ndarray:
        return _share_of_rows(self.tps + self.tns, self.positives + self.negatives)

    @property
    def queue_rate(self) -> np.ndarray:
        """Share of rows predicted positive."""
        return _share_of_rows(self.tps + self.fps, self.positives + self.negatives)

    def metric(self, name: str, beta: float = 1.0) -> np.ndarray:
        """One metric at every threshold, by name (one of :data:`METRICS`)."""
        arrays = {
            "f1": lambda: self.f1,
            "fbeta": lambda: self.fbeta(beta),
            "precision": lambda: self.precision,
            "recall": lambda: self.recall,
            "accuracy": lambda: self.accuracy,
            "error": lambda: 1.0 - self.accuracy,
            "specificity": lambda: _safe_div(self.tns, self.negatives),
            "queue_rate": lambda: self.queue_rate,
            "tp": lambda: self.tps.astype(np.float64),
            "fp": lambda: self.fps.astype(np.float64),
            "fn": lambda: self.fns,
            "tn": lambda: self.tns,
        }
        if name not in arrays:
            raise DashboardError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
        return arrays[name]()

    def to_frame(self, beta: float = 1.0) -> pd.DataFrame:
        """The whole curve as a table, one row per distinct threshold (highest first)."""
        return pd.DataFrame({
            "threshold": self.thresholds,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "fbeta": self.fbeta(beta),
            "queue_rate": self.queue_rate,
            "tp": self.tps, "fp": self.fps, "fn": self.fns, "tn": self.tns,
        })

    # -- one operating point -----------------------------------------------------------------
    def index_at(self, threshold: float) -> int:
        """How many distinct scores are >= threshold (0 means nothing is predicted positive).

        A binary search on the reversed *view* of the decreasing thresholds: no copy, so a
        slider move costs O(log n) whatever the split's size.
        """
        ascending = self.thresholds[::-1]
        value = cast_threshold(threshold, self.dtype)
        return int(ascending.size - np.searchsorted(ascending, value, side="left"))

    def at(self, threshold: float, beta: float = 1.0) -> OperatingPoint:
        """The operating point at any threshold, by binary search: O(log n).

        The threshold is compared in the scores' own dtype (see :func:`score_dtype`).
        """
        k = self.index_at(threshold)
        tp = float(self.tps[k - 1]) if k else 0.0
        fp = float(self.fps[k - 1]) if k else 0.0
        return _point(float(threshold), tp, fp, self.positives, self.negatives, beta)

    def point(self, index: int, beta: float = 1.0) -> OperatingPoint:
        """The operating point at the ``index``-th distinct threshold."""
        return _point(float(self.thresholds[index]), float(self.tps[index]),
                      float(self.fps[index]), self.positives, self.negatives, beta)

    def decimate(self, max_points: int = 2000) -> np.ndarray:
        """Indices of at most ``max_points`` rows for drawing: evenly spaced, ends kept."""
        n = len(self)
        if n <= max_points:
            return np.arange(n)
        return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def _point(threshold: float, tp: float, fp: float, positives: float, negatives: float,
           beta: float) -> OperatingPoint:
    fn, tn = positives - tp, negatives - fp
    total = positives + negatives
    precision = float(_safe_div(tp, tp + fp))
    recall = float(_safe_div(tp, positives))
    return OperatingPoint(
        threshold=threshold, tp=tp, fp=fp, fn=fn, tn=tn,
        precision=precision, recall=recall,
        f1=float(_fbeta(tp, fp, fn, 1.0)),
        fbeta=float(_fbeta(tp, fp, fn, beta)), beta=float(beta),
        accuracy=float(_share_of_rows(tp + tn, total)),
        specificity=float(_safe_div(tn, negatives)),
        queue_rate=float(_share_of_rows(tp + fp, total)),
    )


Constraint = tuple[str, float]


def _parse_constraints(
    constraints: Mapping[str, Constraint] | None,
) -> list[tuple[str, str, float]]:
    out = []
    for metric, spec in (constraints or {}).items():
        if metric not in METRICS:
            raise DashboardError(f"unknown constraint metric {metric!r}; "
                             f"choose one of {', '.join(METRICS)}")
        try:
            op, bound = spec
        except (TypeError, ValueError):
            raise DashboardError(f"constraint on {metric!r} must be (operator, bound), "
                             f"e.g. ('>=', 0.9); got {spec!r}") from None
        if op not in _OPS:
            raise DashboardError(f"constraint on {metric!r}: operator {op!r} is not one of "
                             f"{', '.join(_OPS)}")
        try:
            value = float(bound)
        except (TypeError, ValueError):
            raise DashboardError(f"constraint on {metric!r}: bound {bound!r} is not a number"
                                 ) from None
        if math.isnan(value):
            raise DashboardError(f"constraint on {metric!r}: the bound is NaN; give a number")
        out.append((metric, op, value))
    return out


def _meets(values: np.ndarray | float, op: str, bound: float) -> np.ndarray:
    """``values op bound`` with a relative tolerance, so 0.9 as a bound matches 9/10 computed."""
    values = np.asarray(values, dtype=np.float64)
    tol = 1e-12 * max(1.0, abs(bound))
    if op in (">=", ">"):
        return _OPS[op](values + (tol if op == ">=" else -tol), bound)
    if op in ("<=", "<"):
        return _OPS[op](values - (tol if op == "<=" else -tol), bound)
    return np.abs(values - bound) <= tol


def unmet(point: OperatingPoint | Mapping[str, float],
          constraints: Mapping[str, Constraint] | None) -> tuple[str, ...]:
    """Names of the metric constraints one operating point fails (same rule as
    :func:`best_threshold`); a point given as a mapping may override metrics (e.g. a
    multiclass accuracy)."""
    failed = []
    for metric, op, bound in _parse_constraints(constraints):
        value = (point[metric] if isinstance(point, Mapping) else point.get(metric))
        if value is None or not bool(_meets(float(value), op, bound)):
            failed.append(metric)
    return tuple(failed)


def point_from_predictions(y_true: np.ndarray, y_pred: np.ndarray, *,
                           sample_weight: np.ndarray | None = None,
                           beta: float = 1.0) -> OperatingPoint:
    """The operating point of hard binary predictions (booleans: is positive), like
    ``sklearn.metrics.confusion_matrix``; its threshold is NaN."""
    t = np.asarray(y_true, dtype=bool)
    pr = np.asarray(y_pred, dtype=bool)
    w = np.ones(t.size) if sample_weight is None else np.asarray(sample_weight, np.float64)
    tp, fp = float(w[t & pr].sum()), float(w[~t & pr].sum())
    return _point(math.nan, tp, fp, float(w[t].sum()), float(w[~t].sum()), _check_beta(beta))


def point_from_counts(tp: float, fp: float, positives: float, negatives: float, *,
                      beta: float = 1.0) -> OperatingPoint:
    """The operating point of hard predictions from their confusion counts (threshold NaN)."""
    return _point(math.nan, float(tp), float(fp), float(positives), float(negatives),
                  _check_beta(beta))


@dataclass(frozen=True)
class BestThreshold(OperatingPoint):
    """The best operating point under constraints, with what was optimised and how many
    distinct thresholds met the constraints."""

    optimize: str = "f1"
    value: float = float("nan")
    feasible: int = 0
    candidates: int = 0
    constraints: tuple[tuple[str, str, float], ...] = ()


def best_threshold(curve: ThresholdCurve, optimize: str = "f1",
                   constraints: Mapping[str, Constraint] | None = None, *,
                   beta: float = 1.0, maximize: bool | None = None) -> BestThreshold | None:
    """The threshold that maximises ``optimize`` among those meeting every constraint.

    The candidates are every distinct score and one threshold above the highest score (flag
    nothing), so "best accuracy" is never worse than the trivial classifier; the lowest score
    already flags everything. Constraints map a metric to ``(operator, bound)``, e.g.
    ``{"recall": (">=", 0.9)}``. Ties go to the highest threshold (fewest rows flagged).
    Metrics named ``error``, ``fp`` and ``fn`` are minimised unless ``maximize`` says
    otherwise. Returns ``None`` when no threshold meets the constraints.
    """
    if optimize not in METRICS:
        raise DashboardError(f"unknown metric {optimize!r}; choose one of {', '.join(METRICS)}")
    beta = _check_beta(beta)
    parsed = _parse_constraints(constraints)
    if len(curve) == 0:
        return None
    curve = _with_nothing_flagged(curve)
    if maximize is None:
        maximize = optimize not in ("error", "fp", "fn")
    ok = np.ones(len(curve), dtype=bool)
    for metric, op, bound in parsed:
        ok &= _meets(curve.metric(metric, beta), op, bound)
    feasible = int(ok.sum())
    if feasible == 0:
        return None
    values = curve.metric(optimize, beta)
    masked = np.where(ok, values if maximize else -values, -np.inf)
    i = int(np.argmax(masked))  # first maximum = highest threshold among ties
    point = curve.point(i, beta)
    return BestThreshold(**vars(point), optimize=optimize, value=float(values[i]),
                         feasible=feasible, candidates=len(curve), constraints=tuple(parsed))


def above(score: float, dtype: np.dtype = _FLOAT64) -> float:
    """The smallest threshold, in the scores' dtype, above ``score``: it flags nothing."""
    t = np.dtype(dtype).type
    return float(np.nextafter(t(score), t(np.inf)))


def _with_nothing_flagged(curve: ThresholdCurve) -> ThresholdCurve:
    """The curve with a first row for a threshold above every score (nothing flagged)."""
    zero = np.zeros(1)
    return ThresholdCurve(np.concatenate([[above(curve.thresholds[0], curve.dtype)],
                                          curve.thresholds]),
                          np.concatenate([zero, curve.tps]), np.concatenate([zero, curve.fps]),
                          curve.positives, curve.negatives, curve.dtype)
