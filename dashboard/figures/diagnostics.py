"""Diagnostics beside the waterfall and the explorer, as data: mismatch drivers, the reliability
diagram, the ROC curve and the dev set's resolution.

Every number comes from the results model (``Results.mismatch_drivers``, ``calibration``,
``roc``, ``dev_resolution``); these functions only lay them out as JSON-safe plotly specs and
sentences.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dashboard.errors import DashboardError
from dashboard.figures.format import pct
from dashboard.figures.spec import esc, num, nums
from dashboard.figures.theme import COLORS, layout
from dashboard.metrics.mismatch import driver_sentence
from dashboard.results import Results

__all__ = ["mismatch_advice", "mismatch_drivers_or_none", "mismatch_spec"]


def mismatch_drivers_or_none(results: Results, model: str | None = None) -> pd.DataFrame | None:
    """``results.mismatch_drivers("train", "dev")``, or ``None`` when the results cannot say
    (no train or dev split, no metadata column)."""
    try:
        table = results.mismatch_drivers("train", "dev", model=model)
    except DashboardError:
        return None
    return table if len(table) else None


def mismatch_advice(results: Results, model: str | None = None, *,
                    significant: bool = True, gap: float | None = None) -> str | None:
    """The sentence naming the top mismatch driver, said only when the data-mismatch gap is
    significant and positive and the top column is a driver (its shift and the error across
    its levels both beyond noise)."""
    if not significant or gap is None or not gap > 0:
        return None
    table = mismatch_drivers_or_none(results, model)
    return None if table is None else driver_sentence(table)


def mismatch_spec(results: Results, model: str | None = None, *, height: int = 300
                  ) -> dict[str, Any] | None:
    """Each metadata column's shift between train and dev (total-variation distance with its
    bootstrap interval), best explanation first; significant shifts filled, drivers in the
    mismatch colour. ``None`` when there is nothing to show."""
    table = mismatch_drivers_or_none(results, model)
    if table is None:
        return None
    rows = table.iloc[::-1]  # plotly draws the first category at the bottom
    names = [esc(c) for c in rows["column"]]
    colors = [COLORS["data_mismatch"] if d else COLORS["muted"] if s else COLORS["grid"]
              for d, s in zip(rows["driver"], rows["significant"], strict=True)]
    shift = rows["shift"].to_numpy(dtype=float)
    hover = [f"<b>{esc(c)}</b><br>shift {pct(s)} (95% {pct(lo)}–{pct(hi)})<br>"
             f"p = {p:.3g} (Holm over {table.attrs.get('tried', len(table))} columns)<br>"
             f"{esc(m)}<br>{esc(cost)}"
             for c, s, lo, hi, p, m, cost in zip(rows["column"], rows["shift"],
                                                 rows["shift_low"], rows["shift_high"],
                                                 rows["p_value"], rows["moved"], rows["cost"],
                                                 strict=True)]
    labels = [esc(m) + (" · " + esc(cost) if d else "")
              for m, cost, d in zip(rows["moved"], rows["cost"], rows["driver"], strict=True)]
    bars = {"type": "bar", "orientation": "h", "name": "shift", "y": names, "x": nums(shift),
            "marker": {"color": colors, "line": {"color": COLORS["data_mismatch"], "width": 1}},
            "error_x": {"type": "data", "symmetric": False,
                        "array": nums(rows["shift_high"].to_numpy(dtype=float) - shift),
                        "arrayminus": nums(shift - rows["shift_low"].to_numpy(dtype=float)),
                        "color": COLORS["text"], "thickness": 1.2},
            "text": labels, "textposition": "outside", "cliponaxis": False,
            "hovertext": hover, "hoverinfo": "text", "showlegend": False}
    top = max(1e-9, float(rows["shift_high"].max()))
    attrs = table.attrs
    title = (f"What differs between {esc(attrs.get('source', 'train'))} and "
             f"{esc(attrs.get('target', 'dev'))}: shift per metadata column")
    lay = layout(
        height=max(height, 90 + 36 * len(rows)),
        margin={"l": 110, "r": 24, "t": 56, "b": 48},
        title={"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left"},
        xaxis={"title": {"text": "share of rows that would change level (total variation)"},
               "range": [0, num(min(1.0, top * 2.6))], "tickformat": ".0%"},
        yaxis={"automargin": True},
        bargap=0.35)
    return {"data": [bars], "layout": lay}


def mismatch_note(results: Results, model: str | None = None) -> str:
    """The sentence under the mismatch figure: which test, what it controls, what is filled."""
    table = mismatch_drivers_or_none(results, model)
    if table is None:
        return ""
    a = table.attrs
    held = a.get("held", "train_dev")
    return (f"Chi-square test of each column's levels in {a.get('source')} against "
            f"{a.get('target')} (simulated when counts are small), Holm-adjusted over the "
            f"{a.get('tried')} columns tried; filled bars are beyond noise, orange ones are "
            f"drivers: their error also differs between levels in {held}. Whiskers: bootstrap "
            "95% intervals of the shift.")


def _finite(x: float) -> bool:
    return x is not None and math.isfinite(float(x))
