"""The learning curve as data: error per split against the training-set size, with intervals.

Lines for train, train_dev and dev error (95% Wilson bands as error bars) against the number
of training examples on a log axis, and the human-level reference as a dashed line. The
verdict on more data comes from the results model (``Results.learning_curve``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dashboard.figures.format import pct
from dashboard.figures.spec import esc, num, nums
from dashboard.figures.theme import COLORS, layout
from dashboard.results import Results

__all__ = ["learning_spec", "learning_spec_from_table"]

_NAMES = {"train": "train error", "train_dev": "train-dev error", "dev": "dev error",
          "test": "test error"}


def learning_spec(results: Results, *, height: int | None = None) -> dict[str, Any]:
    """Error against training-set size for the current model (and task)."""
    return learning_spec_from_table(results.learning_curve(), height=height)


def learning_spec_from_table(table: pd.DataFrame, *, height: int | None = None
                             ) -> dict[str, Any]:
    """The learning-curve spec from a ``Results.learning_curve`` table."""
    sizes = nums(table.index.to_numpy(dtype=float))
    data: list[dict[str, Any]] = []
    for split in ("train", "train_dev", "dev", "test"):
        if split not in table.columns:
            continue
        err = table[split]
        lo = (err - table[f"{split}_low"]).clip(lower=0)
        hi = (table[f"{split}_high"] - err).clip(lower=0)
        hover = [f"{esc(_NAMES[split])} at {size:,.0f} examples: {pct(e)} "
                 f"(95% {pct(a)}–{pct(b)})" for size, e, a, b in
                 zip(table.index, err, table[f"{split}_low"], table[f"{split}_high"],
                     strict=True)]
        data.append({"type": "scatter", "mode": "lines+markers", "name": _NAMES[split],
                     "x": sizes, "y": nums(err), "line": {"color": COLORS[split], "width": 2.5},
                     "marker": {"color": COLORS[split], "size": 7},
                     "error_y": {"type": "data", "array": nums(hi), "arrayminus": nums(lo),
                                 "symmetric": False, "color": COLORS[split], "thickness": 1},
                     "hovertext": hover, "hovertemplate": "%{hovertext}<extra></extra>"})
    human = table.attrs.get("human")
    if human is not None and table.attrs.get("human_given", True) and len(sizes):
        data.append({"type": "scatter", "mode": "lines", "name": "human level",
                     "x": [sizes[0], sizes[-1]], "y": [num(human), num(human)],
                     "line": {"color": COLORS["human"], "dash": "dash", "width": 1.5},
                     "hovertemplate": f"human level {pct(human)}<extra></extra>"})
    lay = layout(
        height=height or 380,
        title={"text": "Error against the training-set size", "x": 0, "xanchor": "left",
               "font": {"size": 13}},
        margin={"l": 64, "r": 24, "t": 72, "b": 56},
        legend={"y": 1.0, "yanchor": "bottom"},
        xaxis={"type": "log", "title": {"text": "training examples"},
               "tickvals": sizes, "ticktext": [f"{v:,.0f}" for v in sizes if v is not None]},
        yaxis={"title": {"text": "error"}, "tickformat": ".0%", "rangemode": "tozero"},
    )
    return {"data": data, "layout": lay}
