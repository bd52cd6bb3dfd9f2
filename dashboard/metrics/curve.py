"""Threshold curves from sufficient statistics: count once per distinct score, derive the rest.

A curve is built from one table of (distinct score, positive weight, negative weight). That
table is all a backend must produce (a SQL ``GROUP BY score`` gives it), so precision, recall,
F-beta and the confusion matrix at any threshold are cheap arithmetic on cumulative sums, and
an operating point at an arbitrary threshold is a binary search. A row is predicted positive
iff ``score >= threshold`` (scikit-learn's convention).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "METRICS",
    "BestThreshold",
    "OperatingPoint",
    "ThresholdCurve",
    "best_threshold",
    "score_counts",
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


def score_counts(y_true: np.ndarray, y_score: np.ndarray, sample_weight: np.ndarray | None = None,
                 pos_label: object = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sufficient statistics of a binary scoring: per distinct score, positive and negative weight.

    Returns ``(scores, pos, neg)`` with ``scores`` strictly decreasing. Unweighted, it costs two
    plain sorts (all scores, positives' scores) and no argsort: numpy's sort is several times
    faster than gathering rows through an argsort.
    """
    y_score = np.asarray(y_score, dtype=np.float64).ravel()
    is_pos = np.asarray(y_true).ravel() == pos_label
    if y_score.shape != is_pos.shape:
        raise ValueError(f"y_true has {is_pos.size} rows but y_score has {y_score.size}")
    if y_score.size == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty.copy(), empty.copy()
    if not np.isfinite(y_score).all():
        raise ValueError("scores must be finite numbers (no NaN or inf)")
    if sample_weight is None:
        scores, total = _runs(np.sort(y_score))
        pos_scores, pos_counts = _runs(np.sort(y_score[is_pos]))
        pos = np.zeros(scores.size, dtype=np.float64)
        pos[np.searchsorted(scores, pos_scores)] = pos_counts
        neg = total - pos
        return scores[::-1].copy(), pos[::-1].copy(), neg[::-1].copy()
    w = np.asarray(sample_weight, dtype=np.float64).ravel()
    order = np.argsort(y_score)  # ties are merged below, so stability does not matter
    s = y_score[order]
    pw = np.where(is_pos[order], w[order], 0.0)
    nw = w[order] - pw
    starts = _run_starts(s)
    return (s[starts][::-1].copy(), np.add.reduceat(pw, starts)[::-1].copy(),
            np.add.reduceat(nw, starts)[::-1].copy())


def _run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Indices where a run of equal values starts in a sorted array."""
    change = np.empty(sorted_values.size, dtype=bool)
    change[:1] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=change[1:])
    return np.flatnonzero(change)


def _runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how many times each occurs (as float64)."""
    if sorted_values.size == 0:
        return sorted_values, np.empty(0, dtype=np.float64)
    starts = _run_starts(sorted_values)
    counts = np.diff(np.append(starts, sorted_values.size)).astype(np.float64)
    return sorted_values[starts], counts


def _safe_div(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    """num / den with 0 where den == 0 (scikit-learn's ``zero_division=0``)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _fbeta(precision: np.ndarray, recall: np.ndarray, beta: float) -> np.ndarray:
    b2 = beta * beta
    return _safe_div((1 + b2) * precision * recall, b2 * precision + recall)


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
            raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
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

    @classmethod
    def from_counts(cls, scores: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> ThresholdCurve:
        """Build from per-distinct-score counts (any order; equal scores are merged)."""
        scores = np.asarray(scores, dtype=np.float64)
        pos = np.asarray(pos, dtype=np.float64)
        neg = np.asarray(neg, dtype=np.float64)
        if scores.size > 1 and not np.all(scores[1:] < scores[:-1]):
            order = np.argsort(scores)[::-1]  # any order, duplicates allowed: merge them
            s, p, n = scores[order], pos[order], neg[order]
            starts = _run_starts(s)
            s, p, n = s[starts], np.add.reduceat(p, starts), np.add.reduceat(n, starts)
        else:
            s, p, n = scores.copy(), pos, neg
        tps, fps = np.cumsum(p), np.cumsum(n)
        for a in (s, tps, fps):
            a.setflags(write=False)
        return cls(s, tps, fps, float(tps[-1]) if tps.size else 0.0,
                   float(fps[-1]) if fps.size else 0.0)

    @classmethod
    def from_predictions(cls, y_true: np.ndarray, y_score: np.ndarray, *,
                         sample_weight: np.ndarray | None = None,
                         pos_label: object = 1) -> ThresholdCurve:
        """Build from labels and scores, like ``sklearn.metrics.precision_recall_curve``."""
        return cls.from_counts(*score_counts(y_true, y_score, sample_weight, pos_label))

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
        return _fbeta(self.precision, self.recall, beta)

    @property
    def accuracy(self) -> np.ndarray:
        return _safe_div(self.tps + self.tns, self.positives + self.negatives)

    @property
    def queue_rate(self) -> np.ndarray:
        """Share of rows predicted positive."""
        return _safe_div(self.tps + self.fps, self.positives + self.negatives)

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
            raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
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
        return int(ascending.size - np.searchsorted(ascending, float(threshold), side="left"))

    def at(self, threshold: float, beta: float = 1.0) -> OperatingPoint:
        """The operating point at any threshold, by binary search: O(log n)."""
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
        f1=float(_fbeta(np.float64(precision), np.float64(recall), 1.0)),
        fbeta=float(_fbeta(np.float64(precision), np.float64(recall), beta)), beta=float(beta),
        accuracy=float(_safe_div(tp + tn, total)),
        specificity=float(_safe_div(tn, negatives)),
        queue_rate=float(_safe_div(tp + fp, total)),
    )


Constraint = tuple[str, float]


def _parse_constraints(
    constraints: Mapping[str, Constraint] | None,
) -> list[tuple[str, str, float]]:
    out = []
    for metric, spec in (constraints or {}).items():
        if metric not in METRICS:
            raise ValueError(f"unknown constraint metric {metric!r}; "
                             f"choose one of {', '.join(METRICS)}")
        try:
            op, bound = spec
        except (TypeError, ValueError):
            raise ValueError(f"constraint on {metric!r} must be (operator, bound), "
                             f"e.g. ('>=', 0.9); got {spec!r}") from None
        if op not in _OPS:
            raise ValueError(f"constraint on {metric!r}: operator {op!r} is not one of "
                             f"{', '.join(_OPS)}")
        out.append((metric, op, float(bound)))
    return out


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
    """The distinct threshold that maximises ``optimize`` among those meeting every constraint.

    Constraints map a metric to ``(operator, bound)``, e.g. ``{"recall": (">=", 0.9)}``.
    Ties go to the highest threshold (fewest rows flagged). Metrics named ``error``, ``fp`` and
    ``fn`` are minimised unless ``maximize`` says otherwise. Returns ``None`` when no threshold
    meets the constraints.
    """
    if optimize not in METRICS:
        raise ValueError(f"unknown metric {optimize!r}; choose one of {', '.join(METRICS)}")
    parsed = _parse_constraints(constraints)
    if len(curve) == 0:
        return None
    if maximize is None:
        maximize = optimize not in ("error", "fp", "fn")
    ok = np.ones(len(curve), dtype=bool)
    for metric, op, bound in parsed:
        # compare with a relative tolerance so 0.9 written as a bound matches 9/10 computed
        values = curve.metric(metric, beta)
        tol = 1e-12 * max(1.0, abs(bound))
        if op in (">=", ">"):
            ok &= _OPS[op](values + (tol if op == ">=" else -tol), bound)
        elif op in ("<=", "<"):
            ok &= _OPS[op](values - (tol if op == "<=" else -tol), bound)
        else:
            ok &= np.abs(values - bound) <= tol
    feasible = int(ok.sum())
    if feasible == 0:
        return None
    values = curve.metric(optimize, beta)
    masked = np.where(ok, values if maximize else -values, -np.inf)
    i = int(np.argmax(masked))  # first maximum = highest threshold among ties
    point = curve.point(i, beta)
    return BestThreshold(**vars(point), optimize=optimize, value=float(values[i]),
                         feasible=feasible, candidates=len(curve), constraints=tuple(parsed))
