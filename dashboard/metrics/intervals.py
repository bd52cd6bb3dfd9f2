"""Uncertainty of error rates: every rate is an estimate from a finite sample."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Z95", "effective_n", "gap_interval", "resolution", "wilson_interval"]

#: two-sided 95% normal quantile
Z95 = 1.959963984540054


def wilson_interval(errors: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``errors / n``; (nan, nan) when ``n == 0``.

    Unlike the normal approximation it stays inside [0, 1] and behaves at 0 or n errors,
    which is exactly where a good model's train error lives.
    """
    if n <= 0:
        return (math.nan, math.nan)
    p = errors / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p) / n + z2 / (4 * n * n), 0.0)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def effective_n(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2, for intervals on weighted rates."""
    w = np.asarray(weights, dtype=np.float64)
    s2 = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / s2 if s2 > 0 else 0.0


def gap_interval(p_high: float, n_high: float | None, p_low: float, n_low: float | None,
                 z: float = Z95) -> tuple[float, float]:
    """95% interval of the difference ``p_high - p_low`` of two independent rates.

    A side whose ``n`` is ``None`` (human level, given rather than measured) counts as exact.
    """
    var = 0.0
    for p, n in ((p_high, n_high), (p_low, n_low)):
        if n is not None:
            if n <= 0:
                return (math.nan, math.nan)
            var += p * (1 - p) / n
    d = p_high - p_low
    half = z * math.sqrt(var)
    return (d - half, d + half)


def resolution(error: float, n: float, z: float = Z95) -> float:
    """The smallest difference between two models' error rates that a dev set of ``n`` can see.

    Two independent error estimates near ``error`` differ by less than this about 95% of the
    time by chance alone: a dev set of 100 cannot tell 2.1% from 1.9%.
    """
    if n <= 0:
        return math.nan
    p = min(max(error, 1.0 / n), 1 - 1.0 / n) if n > 1 else 0.5
    return z * math.sqrt(2 * p * (1 - p) / n)
