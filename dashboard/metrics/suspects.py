"""Suspected label errors by confident learning (Northcutt, Jiang and Chuang, 2021).

From the model's own out-of-sample probabilities: each class gets a threshold, the mean
probability the model gives that class on the examples labelled with it. An example is
confidently of class j when its probability of j reaches j's threshold; when it is confidently
of a class other than its given label (and the model's prediction is not the given label),
its label is suspect. This is cleanlab's ``find_label_issues(filter_by="confident_learning")``,
reimplemented without its dependencies and tested against it. Suspects are ranked by
self-confidence, the probability of the given label (lowest first).

Suspects are for a reviewer to look at first, never to relabel automatically.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dashboard.errors import DashboardError

__all__ = ["LabelSuspects", "confident_thresholds", "find_label_suspects", "suspect_rows"]

#: cleanlab's floor on a class threshold and its tolerance in comparisons
_THRESHOLD_FLOOR = 2e-6
_TOLERANCE = 1e-6


def confident_thresholds(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per class, the mean predicted probability of that class over the examples labelled
    with it (2, unreachable, for a class with no examples)."""
    k = proba.shape[1]
    counts = np.bincount(labels, minlength=k)
    thresholds = np.full(k, 2.0)
    for j in range(k):
        if counts[j]:
            thresholds[j] = float(proba[labels == j, j].mean())
    return np.maximum(thresholds, _THRESHOLD_FLOOR)


@dataclass(frozen=True)
class LabelSuspects:
    """Positions of suspect rows (most suspect first), with their given and likely class."""

    positions: np.ndarray
    given: np.ndarray
    likely: np.ndarray
    self_confidence: np.ndarray
    thresholds: np.ndarray


def suspect_rows(labels: np.ndarray, proba: np.ndarray, thresholds: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Which rows are suspects at the class ``thresholds``, and the class each is confidently
    of; rows are judged one by one, so an engine can run this on each part of a split."""
    confident = proba >= thresholds - _TOLERANCE
    n_confident = confident.sum(axis=1)
    guess = np.where(n_confident > 1, proba.argmax(axis=1), confident.argmax(axis=1))
    suspect = (n_confident > 0) & (guess != labels)
    # not a suspect when the model itself predicts the given label
    bumped = proba.copy()
    bumped[np.arange(labels.size), labels] += _TOLERANCE
    suspect &= bumped.argmax(axis=1) != labels
    return suspect, guess


def find_label_suspects(labels: np.ndarray, proba: np.ndarray) -> LabelSuspects:
    """Rows whose given label the model confidently contradicts (confident learning).

    ``labels`` are class codes ``0..k-1``; ``proba`` is ``n x k`` probabilities (rows sum to
    about 1). Returns the suspects ranked by the probability of their given label, lowest
    first.
    """
    labels = np.asarray(labels, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != labels.size:
        raise DashboardError(f"proba must be n x k with n = {labels.size}, got {proba.shape}")
    if labels.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return LabelSuspects(empty, empty, empty, np.empty(0), np.empty(0))
    if not np.isfinite(proba).all() or proba.min() < 0 or proba.max() > 1:
        raise DashboardError("label suspects need probabilities in [0, 1] (not margins)")
    thresholds = confident_thresholds(labels, proba)
    suspect, guess = suspect_rows(labels, proba, thresholds)
    positions = np.flatnonzero(suspect)
    self_conf = proba[positions, labels[positions]]
    order = np.argsort(self_conf, kind="stable")
    positions = positions[order]
    return LabelSuspects(positions=positions, given=labels[positions], likely=guess[positions],
                         self_confidence=self_conf[order], thresholds=thresholds)
