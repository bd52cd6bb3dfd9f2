"""Comparing models: paired significance on the same examples, and satisficing choice."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dashboard.errors import DashboardError
from dashboard.metrics.curve import flag

__all__ = [
    "McNemar", "binary_correct", "choose", "mcnemar_exact", "mcnemar_from_counts",
    "paired_mcnemar", "satisfies",
    "split_constraints", "unmet_constraints",
]

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
        "==": operator.eq}


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test: do two models err on the same examples at different rates?"""

    only_a_wrong: int
    only_b_wrong: int
    p_value: float

    @property
    def discordant(self) -> int:
        return self.only_a_wrong + self.only_b_wrong

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha


def _binom_cdf_half(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), summed in log space (exact for any n)."""
    if k >= n:
        return 1.0
    logs = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                     for i in range(k + 1)]) - n * math.log(2.0)
    m = logs.max()
    return float(math.exp(m) * np.exp(logs - m).sum())


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """Two-sided exact McNemar test on paired per-example correctness of models A and B."""
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise DashboardError(f"paired arrays differ in length: {a.size} vs {b.size}")
    return mcnemar_from_counts(int(np.count_nonzero(~a & b)),  # A wrong, B right
                               int(np.count_nonzero(a & ~b)))


def mcnemar_from_counts(only_a: int, only_b: int) -> McNemar:
    """Exact McNemar test from the discordant counts (A wrong only, B wrong only)."""
    n = only_a + only_b
    p = 1.0 if n == 0 else min(1.0, 2.0 * _binom_cdf_half(min(only_a, only_b), n))
    return McNemar(only_a_wrong=only_a, only_b_wrong=only_b, p_value=p)


def satisfies(row: Mapping[str, float], constraints: Mapping[str, tuple[str, float]]) -> bool:
    """Whether one candidate meets every ``metric: (operator, bound)`` constraint."""
    for metric, (op, bound) in constraints.items():
        if op not in _OPS:
            raise DashboardError(f"operator {op!r} is not one of {', '.join(_OPS)}")
        if metric not in row:
            raise DashboardError(f"constraint names {metric!r}, which this candidate lacks")
        if not _OPS[op](float(row[metric]), float(bound)):
            return False
    return True


def choose(candidates: Sequence[Mapping[str, float]], optimize: str,
           constraints: Mapping[str, tuple[str, float]] | None = None, *,
           maximize: bool = True) -> int | None:
    """Index of the candidate that optimises one metric among those satisfying the others."""
    best, best_value = None, -math.inf
    for i, row in enumerate(candidates):
        if not satisfies(row, constraints or {}):
            continue
        value = float(row[optimize]) if maximize else -float(row[optimize])
        if value > best_value:
            best, best_value = i, value
    return best


# -- comparing models on the same examples ---------------------------------------------------------
def binary_correct(is_positive: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Whether each row is classified correctly when ``score >= threshold`` means positive."""
    return flag(scores, threshold) == np.asarray(is_positive, dtype=bool)


def paired_mcnemar(keys_a: np.ndarray, correct_a: np.ndarray, keys_b: np.ndarray,
                   correct_b: np.ndarray) -> McNemar:
    """Exact McNemar test of two models on the examples they share, matched by key.

    Each model may list its rows in any order; only keys present for both count.
    """
    ka, kb = np.asarray(keys_a), np.asarray(keys_b)
    common, ia, ib = np.intersect1d(ka, kb, assume_unique=False, return_indices=True)
    if common.size == 0:
        raise DashboardError("the two models share no examples")
    return mcnemar_exact(np.asarray(correct_a, dtype=bool)[ia],
                         np.asarray(correct_b, dtype=bool)[ib])


# -- constraints on curve metrics and on per-model metadata ----------------------------------------


def split_constraints(constraints: Mapping[str, tuple[str, float]],
                      metadata: Mapping[str, Mapping[str, float]],
                      ) -> tuple[dict[str, tuple[str, float]], dict[str, tuple[str, float]]]:
    """Separate constraints on curve metrics (they pick a threshold) from constraints on
    per-model metadata such as running time (they admit or exclude a whole model)."""
    meta_keys = {k for row in metadata.values() for k in row}
    curve_c = {k: v for k, v in constraints.items() if k not in meta_keys}
    meta_c = {k: v for k, v in constraints.items() if k in meta_keys}
    return curve_c, meta_c


def unmet_constraints(row: Mapping[str, float],
                      constraints: Mapping[str, tuple[str, float]]) -> tuple[str, ...]:
    """Names of the constraints one model's metadata fails (a missing value fails)."""
    failed = []
    for name, spec in constraints.items():
        value = row.get(name)
        if value is None or not np.isfinite(float(value)) or not satisfies({name: value},
                                                                            {name: spec}):
            failed.append(name)
    return tuple(failed)
