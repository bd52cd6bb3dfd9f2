"""Multiclass summaries: macro and micro F1 from the predicted and true class codes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ClassF1", "f1_from_confusion", "multiclass_f1"]


@dataclass(frozen=True)
class ClassF1:
    """Per-class precision, recall and F1 (one-vs-rest), with their macro and micro averages."""

    classes: tuple[object, ...]
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]
    macro_f1: float
    micro_f1: float


def multiclass_f1(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[object, ...]) -> ClassF1:
    """Per-class and averaged F1 for integer class codes ``0..len(classes)-1``.

    Matches ``sklearn.metrics.f1_score(average="macro"|"micro", labels=range(k),
    zero_division=0)``: micro F1 over all classes equals accuracy.
    """
    k = len(classes)
    yt = np.asarray(y_true, dtype=np.int64)
    yp = np.asarray(y_pred, dtype=np.int64)
    return f1_from_confusion(np.bincount(yt * k + yp, minlength=k * k).reshape(k, k), classes)


def f1_from_confusion(cm: np.ndarray, classes: tuple[object, ...]) -> ClassF1:
    """:func:`multiclass_f1` from a k × k count matrix (rows: true class, columns: predicted),
    for aggregates computed elsewhere."""
    k = len(classes)
    cm = np.asarray(cm).reshape(k, k)
    tp = np.diag(cm).astype(np.float64)
    pred_pos = cm.sum(axis=0).astype(np.float64)
    actual = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, pred_pos, out=np.zeros(k), where=pred_pos > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    total_tp, total = tp.sum(), float(cm.sum())
    micro = total_tp / total if total else 0.0
    return ClassF1(classes=tuple(classes), precision=tuple(precision.tolist()),
                   recall=tuple(recall.tolist()), f1=tuple(f1.tolist()),
                   support=tuple(int(a) for a in actual), macro_f1=float(f1.mean()),
                   micro_f1=float(micro))
