"""Pure helpers behind the threshold explorer: iso-F contours, confusion rates, display series.

Everything the explorer draws or prints is computed here (or in :mod:`dashboard.metrics.curve`)
from arrays, so the widget only moves numbers into traces. Nothing here touches the rows of a
split on a threshold move: series are read from a curve's cumulative counts at a few indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dashboard.metrics.curve import ThresholdCurve

__all__ = [
    "ISO_LEVELS",
    "ConfusionRates",
    "CurveSeries",
    "IsoLines",
    "confusion_rates",
    "curve_series",
    "iso_fbeta_curve",
    "iso_fbeta_lines",
]

#: F levels drawn as contours on the precision-recall plane
ISO_LEVELS = (0.2, 0.4, 0.6, 0.8, 0.9)


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den == 0 (scikit-learn's ``zero_division=0``)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


# -- iso-F contours ------------------------------------------------------------------------------
def iso_fbeta_curve(level: float, beta: float = 1.0,
                    n_points: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision of the points where F-beta equals ``level``.

    From ``1/F = (1/P + beta²/R) / (1 + beta²)``: ``P = F·R / ((1 + beta²)·R − beta²·F)``,
    defined for recall from ``beta²·F / (1 + beta² − F)`` (where precision is 1) to 1.
    Returns ``(recall, precision)``, recall increasing.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"an iso-F level must be in (0, 1), got {level}")
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    b2 = beta * beta
    r_min = b2 * level / (1.0 + b2 - level)
    # denser near r_min, where precision falls fastest
    u = np.linspace(0.0, 1.0, n_points)
    recall = r_min + (1.0 - r_min) * u * u
    precision = level * recall / ((1.0 + b2) * recall - b2 * level)
    precision[0] = 1.0  # exact at the end point, free of rounding
    return recall, np.minimum(precision, 1.0)


@dataclass(frozen=True)
class IsoLines:
    """Several iso-F contours in one pair of arrays (NaN between contours: one trace).

    ``label_recall``/``label_precision`` place each contour's label where it crosses the
    diagonal (precision = recall = level).
    """

    recall: np.ndarray
    precision: np.ndarray
    levels: tuple[float, ...]
    label_recall: np.ndarray
    label_precision: np.ndarray
    labels: tuple[str, ...]


def iso_fbeta_lines(levels: tuple[float, ...] = ISO_LEVELS, beta: float = 1.0,
                    n_points: int = 100) -> IsoLines:
    """All contours of :data:`ISO_LEVELS` (or ``levels``) joined with NaN gaps, and labels."""
    xs, ys, lx, ly, names = [], [], [], [], []
    name = "F1" if beta == 1.0 else f"F{beta:g}"
    for level in levels:
        r, p = iso_fbeta_curve(level, beta, n_points)
        xs += [r, [np.nan]]
        ys += [p, [np.nan]]
        # label where precision equals recall: there F-beta equals both, for any beta,
        # and a good model's curve (up in the top-right corner) stays clear of the label
        lx.append(float(level))
        ly.append(float(level))
        names.append(f"{name}={level:g}")
    return IsoLines(recall=np.concatenate(xs), precision=np.concatenate(ys),
                    levels=tuple(levels), label_recall=np.asarray(lx),
                    label_precision=np.asarray(ly), labels=tuple(names))


# -- the confusion matrix and its rates -----------------------------------------------------------
@dataclass(frozen=True)
class ConfusionRates:
    """A 2×2 confusion matrix (rows actual negative/positive, columns predicted negative/positive,
    as ``sklearn.metrics.confusion_matrix``) with its rates.

    ``row_rates`` normalises each row (``[[TNR, FPR], [FNR, TPR]]``, sklearn's
    ``normalize="true"``); ``share`` divides by the total (``normalize="all"``).
    """

    counts: np.ndarray
    row_rates: np.ndarray
    share: np.ndarray

    @property
    def total(self) -> float:
        return float(self.counts.sum())


def confusion_rates(tp: float, fp: float, fn: float, tn: float) -> ConfusionRates:
    """The confusion matrix of one operating point, with row-normalised rates and shares."""
    counts = np.array([[tn, fp], [fn, tp]], dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    total = counts.sum()
    return ConfusionRates(counts=counts, row_rates=_div(counts, rows),
                          share=_div(counts, np.full_like(counts, total)))


# -- decimated series for drawing -----------------------------------------------------------------
@dataclass(frozen=True)
class CurveSeries:
    """Metrics at some of a curve's distinct thresholds (the decimated points that get drawn)."""

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    fbeta: np.ndarray
    queue_rate: np.ndarray
    accuracy: np.ndarray
    beta: float

    def __len__(self) -> int:
        return int(self.thresholds.size)


def curve_series(curve: ThresholdCurve, indices: np.ndarray | None = None,
                 beta: float = 1.0) -> CurveSeries:
    """Precision, recall, F1, F-beta, queue rate and accuracy at ``indices`` of a curve.

    Reads the cumulative counts at the given indices only (``curve.decimate(2000)`` keeps a
    plot of ten million distinct scores at two thousand points), so its cost does not grow
    with the split.
    """
    idx = np.arange(len(curve)) if indices is None else np.asarray(indices, dtype=np.int64)
    tp = np.asarray(curve.tps, dtype=np.float64)[idx]
    fp = np.asarray(curve.fps, dtype=np.float64)[idx]
    pos, neg = curve.positives, curve.negatives
    total = pos + neg
    precision = _div(tp, tp + fp)
    recall = _div(tp, np.full_like(tp, pos))
    b2 = beta * beta
    f1 = _div(2 * precision * recall, precision + recall)
    fbeta = _div((1 + b2) * precision * recall, b2 * precision + recall)
    tn = neg - fp
    return CurveSeries(thresholds=np.asarray(curve.thresholds)[idx], precision=precision,
                       recall=recall, f1=f1, fbeta=fbeta,
                       queue_rate=_div(tp + fp, np.full_like(tp, total)),
                       accuracy=_div(tp + tn, np.full_like(tp, total)), beta=float(beta))
