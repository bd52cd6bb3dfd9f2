"""The history of a project's runs as data: levels, gaps, threshold and F1 over runs.

Three panels sharing the run axis (oldest run on the left): each split's error with its
Wilson 95% interval; each gap with its Newcombe interval; the threshold each run is judged
at, its dev F1 there, and the best-F1 dev threshold. A level or gap that changed
significantly from the previous run (paired McNemar or Fisher, Holm over the comparison;
:meth:`dashboard.runs.Runs.history`) is ringed and labelled. Every number comes from the
history table.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dashboard.figures.format import pct, pp
from dashboard.figures.spec import esc, nums
from dashboard.figures.theme import COLORS, layout
from dashboard.metrics.gaps import GAP_NAMES
from dashboard.runs import Runs

__all__ = ["history_spec", "history_spec_from_table"]

_SPLITS = ("train", "train_dev", "dev", "test")
#: the panels' vertical domains: levels, gaps, threshold and F1
_DOMAINS = {"y": [0.66, 1.0], "y2": [0.33, 0.59], "y3": [0.0, 0.21]}


def history_spec(runs: Runs, *, height: int | None = None) -> dict[str, Any]:
    """The history figure of ``runs`` (every run is read)."""
    return history_spec_from_table(runs.history(), height=height)


def _marks(part: pd.DataFrame, color: str, name: str, show: Any, axis: str,
           legend: bool) -> list[dict[str, Any]]:
    """One level's or gap's line over runs with its interval, and a ring on each run where
    it changed significantly from the previous run."""
    err = part["error"].astype(float)
    lo = (err - part["error_low"].astype(float)).clip(lower=0)
    hi = (part["error_high"].astype(float) - err).clip(lower=0)
    runs = [str(r) for r in part["run"]]
    text = [f"{show(e)} (95% {show(a)} to {show(b)})" + _change_words(row)
            for e, a, b, (_, row) in zip(err, part["error_low"], part["error_high"],
                                         part.iterrows(), strict=True)]
    hover = [f"{esc(name)}, {esc(r)}: {esc(t)}" for r, t in zip(runs, text, strict=True)]
    line = {"type": "scatter", "mode": "lines+markers", "name": name, "x": runs,
            "y": nums(err), "yaxis": axis, "xaxis": axis.replace("y", "x"),
            "line": {"color": color, "width": 2.5}, "marker": {"color": color, "size": 7},
            "error_y": {"type": "data", "array": nums(hi), "arrayminus": nums(lo),
                        "symmetric": False, "color": color, "thickness": 1},
            "text": [esc(t) for t in text], "meta": {"alt": name},
            "hovertext": hover, "hovertemplate": "%{hovertext}<extra></extra>",
            "legendgroup": name, "showlegend": legend}
    out = [line]
    sig = part[part["significant"].astype(bool)]
    if len(sig):
        out.append({"type": "scatter", "mode": "markers", "name": f"{name}: changed",
                    "x": [str(r) for r in sig["run"]], "y": nums(sig["error"]),
                    "yaxis": axis, "xaxis": axis.replace("y", "x"),
                    "marker": {"symbol": "circle-open", "size": 17, "color": color,
                               "line": {"width": 2.5, "color": color}},
                    # words for screen readers and hover; the ring alone is drawn
                    "text": ["changed from the previous run" for _ in range(len(sig))],
                    "hovertemplate": f"{esc(name)}: a significant change from the previous "
                                     "run<extra></extra>",
                    "legendgroup": name, "showlegend": False})
    return out


def _change_words(row: pd.Series) -> str:
    p = row.get("p_value")
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    verdict = "changed" if bool(row.get("significant")) else "no significant change"
    return f"; from the previous run: {verdict} (p = {float(p):.2g}, {row.get('test')})"


def history_spec_from_table(history: pd.DataFrame, *, height: int | None = None
                            ) -> dict[str, Any]:
    """The history spec from a :meth:`Runs.history` table."""
    data: list[dict[str, Any]] = []
    levels = history[history["kind"] == "level"]
    gaps = history[history["kind"] == "gap"]
    for split in _SPLITS:
        part = levels[levels["split"] == split]
        if len(part):
            data += _marks(part, COLORS[split], str(part["label"].iloc[-1]), pct, "y", True)
    for gap in GAP_NAMES:
        part = gaps[gaps["split"] == gap]
        if len(part):
            data += _marks(part, COLORS[gap], str(part["label"].iloc[-1]), pp, "y2", True)
    per_run = history.drop_duplicates("run").sort_values("order")
    runs = [str(r) for r in per_run["run"]]
    lower = per_run[["threshold", "f1", "best_threshold"]].astype(float).stack()
    unit = bool(len(lower)) and bool(((lower >= 0) & (lower <= 1)).all())
    for column, name, color, dash in (("threshold", "threshold", COLORS["threshold"], None),
                                      ("f1", "dev F1 at the threshold", COLORS["f1"], None),
                                      ("best_threshold", "best-F1 dev threshold",
                                       COLORS["best_threshold"], "dot")):
        values = per_run[column].astype(float)
        if values.notna().any():
            text = [f"{v:.3g}" if not math.isnan(v) else "—" for v in values]
            data.append({"type": "scatter", "mode": "lines+markers", "name": name,
                         "x": runs, "y": nums(values), "yaxis": "y3", "xaxis": "x3",
                         "line": {"color": color, "width": 2, **({"dash": dash} if dash
                                                                  else {})},
                         "marker": {"color": color, "size": 6}, "text": text,
                         "meta": {"alt": name},
                         "hovertemplate": f"{esc(name)}, %{{x}}: %{{text}}<extra></extra>"})
    axis = {"type": "category", "categoryorder": "array", "categoryarray": runs,
            "gridcolor": COLORS["grid"]}
    lay = layout(
        height=height or 620,
        title={"text": f"History of {len(runs)} runs: error, gaps, threshold and F1 (95% "
                       "intervals; ringed: changed from the previous run)",
               "x": 0, "xanchor": "left", "font": {"size": 13}},
        margin={"l": 64, "r": 24, "t": 48, "b": 120},
        legend={"y": -0.1, "yanchor": "top"},
        xaxis={**axis, "anchor": "y", "showticklabels": False},
        xaxis2={**axis, "anchor": "y2", "matches": "x", "showticklabels": False},
        xaxis3={**axis, "anchor": "y3", "matches": "x"},
        yaxis={"domain": _DOMAINS["y"], "title": {"text": "error"}, "tickformat": ".0%",
               "rangemode": "tozero", "gridcolor": COLORS["grid"]},
        yaxis2={"domain": _DOMAINS["y2"], "title": {"text": "gap"}, "tickformat": "+.0%",
                "zeroline": True, "zerolinecolor": COLORS["muted"],
                "gridcolor": COLORS["grid"]},
        yaxis3={"domain": _DOMAINS["y3"], "title": {"text": "threshold, F1"},
                # probabilities and F1 on [0, 1]; margins (a threshold of -2) as they fall
                **({"range": [0, 1.05]} if unit else {}), "gridcolor": COLORS["grid"]},
    )
    return {"data": data, "layout": lay}
