"""The error-analysis tally as data: each category's share of the reviewed errors.

Bars are shares of the reviewed misclassified examples with their Wilson 95% interval
(categories are not exclusive, so shares need not sum to 100%); each bar's label gives the
ceiling: the split's error if that category were fixed completely, E·(1 − s).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dashboard.figures.format import pct
from dashboard.figures.spec import esc, num
from dashboard.figures.theme import COLORS, layout
from dashboard.results import Results

__all__ = ["tally_spec", "tally_spec_from_table"]


def tally_spec(results: Results, split: str = "dev", *, height: int | None = None
               ) -> dict[str, Any]:
    """Share of the reviewed misclassified ``split`` examples per category, with ceilings."""
    return tally_spec_from_table(results.tally(split), split=split, height=height)


def tally_spec_from_table(table: pd.DataFrame, *, split: str = "dev",
                          height: int | None = None) -> dict[str, Any]:
    """The tally spec from a ``Results.tally`` table (its ``attrs`` give reviewed and error)."""
    reviewed = int(table.attrs.get("reviewed", 0))
    error = table.attrs.get("split_error")
    cats = [str(c) for c in table.index]
    shares, lo_err, hi_err, text, hover = [], [], [], [], []
    for cat in cats:
        row = table.loc[cat]
        share = num(row["share"]) if reviewed else None
        shares.append(share)
        if share is None:
            lo_err.append(None)
            hi_err.append(None)
            text.append("")
            hover.append("")
            continue
        # the share's 95% interval as the metric layer computed it (weighted when weighted)
        lo, hi = float(row["share_low"]), float(row["share_high"])
        lo_err.append(num(share - lo))
        hi_err.append(num(hi - share))
        text.append(f"{pct(share, 0)} · ceiling {pct(row['ceiling_error'], 2)}")
        hover.append(f"<b>{esc(cat)}</b>: {int(row['count'])} of {reviewed} reviewed "
                     f"({pct(share, 0)}, 95% {pct(lo, 0)}–{pct(hi, 0)})<br>"
                     f"{esc(split)} error {pct(error, 2)} → at best {pct(row['ceiling_error'], 2)}"
                     " if fixed completely")
    ends = [None if s is None or h is None else num(s + h) for s, h in zip(shares, hi_err,
                                                                            strict=True)]
    bars = {"type": "bar", "orientation": "h", "name": "share of reviewed errors",
            "y": [esc(c) for c in cats], "x": shares,
            "marker": {"color": "rgba(180,83,9,0.35)",
                       "line": {"color": COLORS["dev"], "width": 1.5}},
            "error_x": {"type": "data", "array": hi_err, "arrayminus": lo_err,
                        "symmetric": False, "color": COLORS["muted"], "thickness": 1.2},
            "hovertext": hover, "hovertemplate": "%{hovertext}<extra></extra>"}
    # the labels start past each interval's upper end, so no whisker runs through them
    labels = {"type": "scatter", "mode": "text", "orientation": "h", "showlegend": False,
              "name": "share and ceiling", "y": [esc(c) for c in cats], "x": ends,
              "text": text, "textposition": "middle right", "cliponaxis": False,
              "textfont": {"size": 12, "color": COLORS["text"]}, "hoverinfo": "skip"}
    title = (f"Share of the {reviewed} reviewed misclassified {esc(split)} examples"
             f" (error now {pct(error, 2)})" if reviewed else
             f"No misclassified {esc(split)} example reviewed yet")
    lay = layout(
        height=height or max(220, 60 + 34 * len(cats)), showlegend=False,
        margin={"l": 160, "r": 150, "t": 40, "b": 48},
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 13}},
        xaxis={"range": [0, 1], "tickformat": ".0%", "title": {"text": "share of reviewed errors"},
               "gridcolor": COLORS["grid"], "fixedrange": True},
        yaxis={"type": "category", "autorange": "reversed", "fixedrange": True,
               "automargin": True},
    )
    return {"data": [bars, labels], "layout": lay}
