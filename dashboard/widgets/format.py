"""How numbers read in every view; the helpers live in :mod:`dashboard.figures.format`."""

from dashboard.figures.format import MINUS, count, pct, pp

__all__ = ["MINUS", "count", "pct", "pp"]
