"""Dev-set resolution: the smallest paired error difference a dev set can detect, and the dev size
a difference needs (DOMAIN.md sections 4 and 5).

Two models judged on the same n examples differ only where they disagree: a share ``psi`` of
the examples (the discordance rate), split into A-wrong-only and B-wrong-only. Their error
difference is ``delta = p(A wrong only) - p(B wrong only)``. The product tests it with the exact
two-sided McNemar test (:func:`~dashboard.metrics.compare.mcnemar_from_counts`), so the power
here is that test's exact power: the number of disagreements D is Binomial(n, psi), and given
D the A-wrong-only count is Binomial(D, (psi + delta) / (2 psi)); the test rejects when the
smaller count is at most the exact binomial critical value for D. The sample size uses
Connor's (1987) normal formula, n = (z_a sqrt(psi) + z_b sqrt(psi - delta^2))^2 / delta^2,
then steps up until the exact power is reached.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from dashboard.errors import DashboardError
from dashboard.metrics.distributions import (
    binom_cdf,
    binom_lower_critical,
    binom_pmf,
    binom_sf,
    norm_isf,
    norm_ppf,
)

__all__ = ["Resolution", "connor_size", "detectable_difference", "mcnemar_power",
           "needed_size", "resolution_of"]


def _check(discordance: float, difference: float) -> tuple[float, float]:
    psi, delta = float(discordance), abs(float(difference))
    if not 0 <= psi <= 1 or math.isnan(psi):
        raise DashboardError(f"the share of examples the models disagree on must be in [0, 1], "
                             f"got {discordance}")
    if delta > psi + 1e-12:
        raise DashboardError(f"an error difference of {delta:.3g} needs the models to disagree "
                             f"on at least that share of examples (they disagree on {psi:.3g})")
    return psi, min(delta, psi)


def mcnemar_power(n: int, discordance: float, difference: float, alpha: float = 0.05) -> float:
    """Exact power of the two-sided exact McNemar test at level ``alpha`` on ``n`` paired
    examples, when the models disagree on a share ``discordance`` and their errors differ by
    ``difference``."""
    n = int(n)
    psi, delta = _check(discordance, difference)
    if n <= 0 or psi == 0:
        return 0.0
    d, weight, k = _power_terms(n, psi, float(alpha))
    q = (psi + delta) / (2 * psi)
    reject = np.where(k >= 0, binom_cdf(k, d, q) + binom_sf(d - k - 1, d, q), 0.0)
    return float(np.clip(np.sum(weight * reject), 0.0, 1.0))


@functools.lru_cache(maxsize=64)
def _power_terms(n: int, psi: float, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The parts of :func:`mcnemar_power` that do not depend on the difference: the likely
    discordant counts D, their probabilities and each one's rejection bound. Kept, so a
    search over differences (:func:`detectable_difference`) computes them once."""
    mean, sd = n * psi, math.sqrt(n * psi * (1 - psi))
    lo, hi = max(0, int(mean - 12 * sd - 2)), min(n, int(math.ceil(mean + 12 * sd + 2)))
    d = np.arange(lo, hi + 1)
    weight = binom_pmf(d, n, psi)
    # the largest k with P(X <= k) < alpha / 2 for X ~ Bin(D, 1/2): reject iff min <= k
    k = binom_lower_critical(alpha / 2, d)
    for a in (d, weight, k):
        a.setflags(write=False)
    return d, weight, k


def detectable_difference(n: int, discordance: float, power: float = 0.8,
                          alpha: float = 0.05) -> float:
    """The smallest error difference detected with probability ``power`` (NaN when even models
    that differ on every disagreement are not)."""
    psi, _ = _check(discordance, 0.0)
    if n <= 0 or psi == 0 or mcnemar_power(n, psi, psi, alpha) < power:
        return math.nan
    lo, hi = 0.0, psi
    for _ in range(50):  # power grows with the difference at fixed n and discordance
        mid = 0.5 * (lo + hi)
        if mcnemar_power(n, psi, mid, alpha) >= power:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-4 * psi:
            break
    return hi


def connor_size(difference: float, discordance: float, power: float = 0.8,
                alpha: float = 0.05) -> float:
    """Connor's normal-approximation sample size for McNemar's test (not rounded)."""
    psi, delta = _check(discordance, difference)
    if delta == 0:
        return math.inf
    za, zb = norm_isf(alpha / 2), norm_ppf(power)
    return (za * math.sqrt(psi) + zb * math.sqrt(max(psi - delta * delta, 0.0))) ** 2 / delta ** 2


def needed_size(difference: float, discordance: float, power: float = 0.8,
                alpha: float = 0.05) -> int | None:
    """About how many paired examples detect ``difference`` with probability ``power``: Connor's
    size, stepped up by 1% until the exact power is reached (``None`` for no difference)."""
    start = connor_size(difference, discordance, power, alpha)
    if not math.isfinite(start):
        return None
    n = max(1, math.ceil(start))
    for _ in range(200):
        if mcnemar_power(n, discordance, difference, alpha) >= power:
            return n
        n = max(n + 1, math.ceil(n * 1.01))
    return n


@dataclass(frozen=True)
class Resolution:
    """What a dev set of ``n`` paired examples can tell apart between two models."""

    model_a: str
    model_b: str
    n: int
    discordance: float
    detectable: float
    power: float = 0.8
    alpha: float = 0.05
    difference: float | None = None
    needed: int | None = None
    power_at_difference: float | None = None

    @property
    def sentence(self) -> str:
        """'This dev set can tell apart differences of >= 1.2 pp; to see 0.5 pp you would need
        about 41,000 examples.'"""
        if math.isnan(self.detectable):
            head = (f"These {self.n:,} paired examples cannot detect any difference between "
                    f"{self.model_a} and {self.model_b} (they disagree on "
                    f"{self.discordance:.1%} of them)")
        else:
            head = (f"This dev set ({self.n:,} examples, the models disagree on "
                    f"{self.discordance:.1%}) can tell apart error differences of "
                    f"≥ {self.detectable * 100:.2g} pp ({self.power:.0%} power, "
                    f"{self.alpha:.0%} level, McNemar)")
        if self.difference is None:
            return head + "."
        if self.needed is None:
            return head + "; a difference of 0 cannot be detected."
        return (head + f"; to see {abs(self.difference) * 100:.2g} pp you would need about "
                f"{_about(self.needed)} examples.")


def _about(n: int) -> str:
    """A size to two significant figures: 32,026 -> '32,000'."""
    if n < 100:
        return f"{n:,}"
    digits = len(str(n)) - 2
    return f"{round(n, -digits):,}"


def resolution_of(model_a: str, model_b: str, n: int, discordant: int,
                  difference: float | None = None, power: float = 0.8,
                  alpha: float = 0.05) -> Resolution:
    """The resolution of a dev set where two models disagree on ``discordant`` of ``n``
    examples; with ``difference``, the size needed to see it (at the same discordance, or the
    difference itself if larger)."""
    if n <= 0:
        raise DashboardError("the models share no examples: no resolution to measure")
    psi = discordant / n
    detectable = detectable_difference(n, psi, power, alpha)
    needed = at = None
    if difference is not None:
        delta = abs(float(difference))
        psi_for = max(psi, delta)
        needed = needed_size(delta, psi_for, power, alpha) if delta > 0 else None
        at = mcnemar_power(n, psi_for, delta, alpha)
    return Resolution(model_a, model_b, int(n), psi, detectable, power, alpha,
                      None if difference is None else float(difference), needed, at)
