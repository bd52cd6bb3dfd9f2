"""Agreement between two reviewers on a category: Cohen's κ with a 95% interval.

A category's share is only as trustworthy as its definition: when two reviewers tick it on
the same examples and agree little more than chance would (κ below about 0.6, DOMAIN.md
section 5), the category is not yet well defined. κ is computed on the examples both
reviewed. Its 95% interval maps the Wilson interval of the observed agreement ``p_o`` through
``κ = (p_o − p_e) / (1 − p_e)`` (chance agreement ``p_e`` held fixed): unlike Cohen's (1960)
``p_o(1 − p_o)/n`` form it does not shrink to a point when the reviewers agree on all of a
few examples (five agreements are not proof of a well-defined category).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dashboard.metrics.intervals import Z95, wilson_interval

__all__ = ["KAPPA_WELL_DEFINED", "Kappa", "cohen_kappa"]

#: κ below this means the category is not yet defined well enough (DOMAIN.md section 5)
KAPPA_WELL_DEFINED = 0.6


@dataclass(frozen=True)
class Kappa:
    """Cohen's κ of two raters' binary answers on ``n`` examples, with its 95% interval."""

    kappa: float
    low: float
    high: float
    n: int
    observed: float
    expected: float
    disagreements: int

    @property
    def clearly_low(self) -> bool:
        """The whole interval lies below :data:`KAPPA_WELL_DEFINED`: the category needs a
        sharper definition (said only when the doubly reviewed examples show it)."""
        return bool(self.high < KAPPA_WELL_DEFINED)


def cohen_kappa(a: np.ndarray, b: np.ndarray, z: float = Z95) -> Kappa:
    """Cohen's κ of two raters' True/False answers on the same examples (equal to
    ``sklearn.metrics.cohen_kappa_score``); NaN when there is no example, or when chance
    agreement is certain (both raters gave one answer only) and κ is undefined."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"cohen_kappa: {a.size} answers against {b.size}")
    n = int(a.size)
    disagreements = int((a != b).sum())
    if n == 0:
        return Kappa(math.nan, math.nan, math.nan, 0, math.nan, math.nan, 0)
    po = 1.0 - disagreements / n
    pa, pb = float(a.mean()), float(b.mean())
    pe = pa * pb + (1.0 - pa) * (1.0 - pb)
    if pe >= 1.0:
        return Kappa(math.nan, math.nan, math.nan, n, po, pe, disagreements)
    kappa = (po - pe) / (1.0 - pe)
    lo, hi = wilson_interval(n - disagreements, n, z)
    return Kappa(kappa, max(-1.0, (lo - pe) / (1.0 - pe)), min(1.0, (hi - pe) / (1.0 - pe)),
                 n, po, pe, disagreements)
