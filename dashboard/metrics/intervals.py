"""Uncertainty of error rates: every rate is an estimate from a finite sample."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dashboard.errors import DashboardError

__all__ = ["Z95", "effective_n", "gap_interval", "newcombe_interval", "resolution",
           "wilson_interval"]

#: two-sided 95% normal quantile
Z95 = 1.959963984540054


def wilson_interval(errors: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``errors / n``; (nan, nan) when ``n == 0``.

    Unlike the normal approximation it stays inside [0, 1] and behaves at 0 or n errors,
    which is exactly where a good model's train error lives: there the bound is exactly 0
    (or 1), not a rounding residue. ``errors`` may be fractional (a weighted count).
    """
    errors, n = float(errors), float(n)
    if n == 0:
        return (math.nan, math.nan)
    if math.isnan(errors) or math.isnan(n) or n < 0:
        raise DashboardError(f"wilson_interval needs a count and a size >= 0, got "
                             f"errors={errors}, n={n}")
    tol = 1e-9 * n
    if errors < -tol or errors > n + tol:
        raise DashboardError(f"wilson_interval: {errors:g} errors out of {n:g} is not a "
                             "proportion (need 0 <= errors <= n)")
    errors = min(max(errors, 0.0), n)
    p = errors / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p) / n + z2 / (4 * n * n), 0.0)) / denom
    lo = 0.0 if errors == 0 else max(0.0, centre - half)
    hi = 1.0 if errors == n else min(1.0, centre + half)
    return (lo, hi)


def effective_n(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2, for intervals on weighted rates."""
    w = np.asarray(weights, dtype=np.float64)
    s2 = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / s2 if s2 > 0 else 0.0


def newcombe_interval(p_high: float, n_high: float | None, p_low: float,
                      n_low: float | None, z: float = Z95) -> tuple[float, float]:
    """95% interval of ``p_high - p_low`` for two independent rates (Newcombe's score method).

    Built from the two Wilson intervals (Newcombe 1998, method 10), so it stays honest at 0 or
    n errors where p(1-p)/n has zero width: 0 of 20 train errors against a 5% human level is
    not a significant -5 pp bias. A side whose ``n`` is ``None`` (human level, given rather than
    measured) counts as exact. Matches statsmodels' ``confint_proportions_2indep(method=
    "newcomb")``.
    """
    bounds = []
    for p, n in ((p_high, n_high), (p_low, n_low)):
        if math.isnan(p):
            return (math.nan, math.nan)
        if n is None:
            bounds.append((p, p))
        elif n <= 0:
            return (math.nan, math.nan)
        else:
            bounds.append(wilson_interval(p * n, n, z))
    (l1, u1), (l2, u2) = bounds
    d = p_high - p_low
    return (d - math.sqrt((p_high - l1) ** 2 + (u2 - p_low) ** 2),
            d + math.sqrt((u1 - p_high) ** 2 + (p_low - l2) ** 2))


#: the gap interval the product uses everywhere (flags and whiskers)
gap_interval = newcombe_interval


def gap_p_value(p_high: float, n_high: float | None, p_low: float, n_low: float | None
                ) -> float:
    """Two-sided p-value of a gap that matches :func:`gap_interval`: the level at which its
    Newcombe interval just touches zero (found by bisection on z), so "the 95% interval
    excludes zero" and "p < 0.05" always agree."""
    return interval_p_value(lambda z: newcombe_interval(p_high, n_high, p_low, n_low, z))


def interval_p_value(interval: Callable[[float], tuple[float, float]]) -> float:
    """Two-sided p-value of an interval family ``interval(z)``: the level at which it just
    touches zero, so "the 95% interval excludes zero" and "p < 0.05" agree. NaN when the 95%
    interval is undefined.

    The crossing is unique (the width grows with z); it is bracketed in [0, 40] and found by
    the Illinois variant of regula falsi on the bound's distance past zero, kept bracketed,
    to within 4e-11 in z: about ten evaluations where bisection needs forty (a threshold move
    computes one per gap)."""
    def past_zero(z: float) -> float:  # > 0 exactly when the interval excludes zero
        lo, hi = interval(z)
        return max(lo, -hi)
    if any(math.isnan(v) for v in interval(Z95)):
        return math.nan
    a, b = 1e-9, 40.0
    ga = past_zero(a)
    if not ga > 0:
        return 1.0
    gb = past_zero(b)
    if gb > 0:
        return 0.0
    kept = 0  # which end the last step kept: -1 the lower, 1 the upper
    for _ in range(200):
        if b - a < 4e-11:
            break
        z = (a * gb - b * ga) / (gb - ga)
        if not a < z < b:  # no progress from the secant: halve instead
            z = 0.5 * (a + b)
        gz = past_zero(z)
        if gz > 0:
            a, ga = z, gz
            if kept == 1:
                gb *= 0.5  # the upper end kept twice: halve its value (Illinois)
            kept = 1
        else:
            b, gb = z, gz
            if kept == -1:
                ga *= 0.5
            kept = -1
    return math.erfc(a / math.sqrt(2.0))


def resolution(error: float, n: float, z: float = Z95) -> float:
    """The smallest difference between two models' error rates that a dev set of ``n`` can see.

    Two independent error estimates near ``error`` differ by less than this about 95% of the
    time by chance alone: a dev set of 100 cannot tell 2.1% from 1.9%.
    """
    if n <= 0:
        return math.nan
    p = min(max(error, 1.0 / n), 1 - 1.0 / n) if n > 1 else 0.5
    return z * math.sqrt(2 * p * (1 - p) / n)
