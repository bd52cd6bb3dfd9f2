"""How numbers read in every view: rates in percent, differences in percentage points.

Formatting only: these helpers never compute a metric, they print one.
"""

from __future__ import annotations

import math

__all__ = ["MINUS", "count", "pct", "pp"]

#: the typographic minus sign, so negative gaps read as numbers and not as dashes
MINUS = "\u2212"


def pct(rate: float | None, digits: int = 1) -> str:
    """A rate in percent with ``digits`` decimals: ``0.08 -> "8.0%"``; ``None``/NaN -> ``"—"``."""
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return "—"
    text = f"{rate * 100:.{digits}f}%"
    return text.replace("-", MINUS)


def pp(diff: float | None, digits: int = 1, *, sign: bool = True) -> str:
    """A difference of rates in percentage points: ``0.07 -> "+7.0 pp"``, ``-0.04 -> "−4.0 pp"``.

    A non-zero difference too small for ``digits`` decimals gets one more decimal, so a real gap
    never prints as ``+0.0 pp``.
    """
    if diff is None or (isinstance(diff, float) and math.isnan(diff)):
        return "—"
    value = diff * 100
    if abs(value) < 1e-9:  # a zero gap, up to floating-point noise: no sign
        return f"{0:.{digits}f} pp"
    if abs(round(value, digits)) == 0:
        digits += 1
    text = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    return text.replace("-", MINUS) + " pp"


def count(n: float) -> str:
    """A count of examples with thousands separators: ``2500 -> "2,500"``."""
    return f"{round(n):,}"
