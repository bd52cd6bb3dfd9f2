"""Diagnostics beside the waterfall and the explorer, as data: mismatch drivers, the reliability
diagram, the ROC curve and the dev set's resolution.

Every number comes from the results model (``Results.mismatch_drivers``, ``calibration``,
``roc``, ``dev_resolution``); these functions only lay them out as JSON-safe plotly specs and
sentences.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dashboard.errors import DashboardError
from dashboard.figures.format import pct
from dashboard.figures.spec import esc, num, nums
from dashboard.figures.theme import COLORS, layout
from dashboard.metrics.mismatch import driver_sentence
from dashboard.results import Results

__all__ = ["ROC_TRACES", "calibration_spec", "mismatch_advice", "mismatch_drivers_or_none",
           "mismatch_note", "mismatch_spec", "p_text", "resolution_text", "roc_marks", "roc_spec"]


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


def p_text(p: float) -> str:
    """'= 0.012', or '< 1e-300' where the test's tail underflows to 0 (never 'p = 0')."""
    return f"= {p:.2g}" if p >= 1e-300 else "< 1e-300"


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
             f"p {p_text(p)} (Holm over {table.attrs.get('tried', len(table))} columns)<br>"
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
            "hovertext": hover, "hoverinfo": "text", "showlegend": False,
            # the words a screen reader gets (alt_text): each column's shift and what moved;
            # not drawn on the bar, where the annotations above say it
            "text": [f"shift {pct(v)}; {label}" for v, label in zip(shift, labels, strict=True)],
            "textposition": "none"}
    # the level that moved (and, for a driver, its cost) written above each bar
    notes = [{"x": 0, "y": y, "xref": "x", "yref": "y", "text": text, "showarrow": False,
              "xanchor": "left", "yanchor": "bottom", "yshift": 13, "font": {"size": 12}}
             for y, text in zip(names, labels, strict=True)]
    top = max(1e-9, float(rows["shift_high"].max()))
    attrs = table.attrs
    title = (f"Shift per metadata column, {esc(attrs.get('source', 'train'))} → "
             f"{esc(attrs.get('target', 'dev'))}")
    lay = layout(
        height=max(height, 110 + 64 * len(rows)),
        margin={"l": 110, "r": 24, "t": 56, "b": 48},
        title={"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left"},
        xaxis={"title": {"text": "share of rows that would change level (total variation)"},
               "range": [0, num(min(1.0, top) * 1.04)], "tickformat": ".0%"},
        yaxis={"automargin": True},
        annotations=notes, bargap=0.55)
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
            f"{a.get('tried')} columns tried; filled bars are beyond noise, green ones are "
            f"drivers: their error also differs between levels in {held}. Whiskers: bootstrap "
            "95% intervals of the shift.")


# -- ROC and reliability diagram (explorer tab) ------------------------------------------------
#: the traces of :func:`roc_spec`, in order; a threshold move changes only ``point``
ROC_TRACES = ("chance", "roc", "point")


def roc_spec(results: Results, split: str = "dev", *, max_points: int = 2000,
             height: int = 400) -> dict[str, Any]:
    """The ROC curve of a split with the chance diagonal, its AUC in the title and the current
    threshold's operating point marked (see :func:`roc_marks`)."""
    table = results.roc(split)
    keep = _decimate(len(table), max_points)
    part = table.iloc[keep]
    color = COLORS.get(split, COLORS["dev"])
    traces = {
        "chance": {"type": "scatter", "mode": "lines", "name": "chance (AUC 0.5)",
                   "x": [0.0, 1.0], "y": [0.0, 1.0], "hoverinfo": "skip",
                   "line": {"color": COLORS["muted"], "dash": "dot", "width": 1}},
        "roc": {"type": "scatter", "mode": "lines", "name": f"ROC · {esc(split)}",
                "x": nums(part["fpr"]), "y": nums(part["tpr"]),
                "customdata": nums(part["threshold"]),
                "line": {"color": color, "width": 2.5, "shape": "linear"},
                "hovertemplate": "false-positive rate %{x:.1%}<br>recall %{y:.1%}"
                                 "<br>threshold %{customdata:.4g}<extra></extra>"},
        "point": {"type": "scatter", "mode": "markers", "name": "current threshold",
                  "x": [], "y": [], "hoverinfo": "skip",
                  "marker": {"size": 13, "symbol": "diamond", "color": COLORS["threshold"],
                             "line": {"width": 2, "color": COLORS["text"]}}},
    }
    spec = {"data": [traces[name] for name in ROC_TRACES], "layout": layout(
        height=height, margin={"l": 56, "r": 16, "t": 56, "b": 104},
        title={"text": f"ROC curve · {esc(split)} · AUC {table.attrs['auc']:.3f}",
               "font": {"size": 14}, "x": 0, "xanchor": "left"},
        xaxis={"title": {"text": "false-positive rate"}, "range": [0, 1.02],
               "tickformat": ".0%", "constrain": "domain"},
        yaxis={"title": {"text": "true-positive rate (recall)"}, "range": [0, 1.02],
               "tickformat": ".0%", "scaleanchor": "x"},
        legend={"orientation": "h", "y": -0.32, "x": 0, "yanchor": "top"},
        hovermode="closest")}
    return _with_marks(spec, roc_marks(results, split))


def roc_marks(results: Results, split: str = "dev") -> dict[str, Any]:
    """What a threshold move changes in :func:`roc_spec`: the marked operating point."""
    attrs = results.roc(split).attrs
    x, y = num(attrs.get("point_fpr")), num(attrs.get("point_tpr"))
    point = {"x": [x], "y": [y]} if x is not None and y is not None else {"x": [], "y": []}
    point["name"] = f"threshold {attrs.get('threshold', float('nan')):.3g}"
    return {"traces": {str(ROC_TRACES.index("point")): point}}


def calibration_spec(results: Results, split: str = "dev", bins: int = 10, *,
                     height: int = 400) -> dict[str, Any]:
    """The reliability diagram: positive rate against mean score per equal-width bin with its
    Wilson interval, the diagonal of perfect calibration, the examples per bin as bars, and the
    ECE and Brier score in the title."""
    table = results.calibration(split, bins)
    filled = table[table["n"] > 0]
    rate = filled["positive_rate"].to_numpy(dtype=float)
    centres = ((table["bin_low"] + table["bin_high"]) / 2).to_numpy(dtype=float)
    hover = [f"scores {lo:.2f}–{hi:.2f}<br>mean score {m:.3f}<br>positive rate {pct(r)} "
             f"(95% {pct(a)}–{pct(b)})<br>{int(k):,} examples"
             for lo, hi, m, r, a, b, k in zip(filled["bin_low"], filled["bin_high"],
                                              filled["mean_score"], filled["positive_rate"],
                                              filled["rate_low"], filled["rate_high"],
                                              filled["rows"], strict=True)]
    data = [
        {"type": "bar", "name": "examples per bin", "x": nums(centres),
         "y": nums(table["rows"]), "yaxis": "y2", "width": 1.0 / bins * 0.9,
         "marker": {"color": COLORS["grid"]}, "hovertemplate": "%{y:,} examples<extra></extra>"},
        {"type": "scatter", "mode": "lines", "name": "perfectly calibrated", "x": [0.0, 1.0],
         "y": [0.0, 1.0], "hoverinfo": "skip",
         "line": {"color": COLORS["muted"], "dash": "dot", "width": 1}},
        {"type": "scatter", "mode": "lines+markers", "name": f"positive rate · {esc(split)}",
         "x": nums(filled["mean_score"]), "y": nums(rate),
         "error_y": {"type": "data", "symmetric": False,
                     "array": nums(filled["rate_high"].to_numpy(dtype=float) - rate),
                     "arrayminus": nums(rate - filled["rate_low"].to_numpy(dtype=float)),
                     "color": COLORS.get(split, COLORS["dev"]), "thickness": 1.2},
         "line": {"color": COLORS.get(split, COLORS["dev"]), "width": 2},
         "marker": {"size": 7}, "hovertext": hover, "hoverinfo": "text"},
    ]
    a = table.attrs
    title = (f"Reliability · {esc(split)} · ECE {a['ece']:.3f} · Brier {a['brier']:.3f}"
             + (" (weighted)" if results.weighted else ""))
    return {"data": data, "layout": layout(
        height=height, margin={"l": 56, "r": 56, "t": 56, "b": 104},
        title={"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left"},
        xaxis={"title": {"text": f"mean score in the bin ({bins} equal-width bins)"},
               "range": [0, 1.0], "tickformat": ".1f"},
        yaxis={"title": {"text": "share positive"}, "range": [0, 1.02], "tickformat": ".0%"},
        yaxis2={"overlaying": "y", "side": "right", "showgrid": False,
                "title": {"text": "examples"}, "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.32, "x": 0, "yanchor": "top"},
        bargap=0.1, hovermode="closest")}


def resolution_text(results: Results, split: str = "dev", *, models: tuple[str, str] | None
                    = None, thresholds: tuple[float, float] | None = None,
                    difference: float | None = None) -> str:
    """The resolution sentence beside the model comparison, or ``""`` with a single model."""
    if len(results.models) < 2:
        return ""
    a, b = models if models is not None else (results.model, None)
    try:
        res = results.dev_resolution(a, b, split, difference=difference,
                                     thresholds=thresholds)
    except DashboardError:
        return ""
    return res.sentence


def _decimate(n: int, max_points: int) -> list[int]:
    if n <= max_points:
        return list(range(n))
    step = (n - 1) / (max_points - 1)
    return sorted({round(i * step) for i in range(max_points)})


def _with_marks(spec: dict[str, Any], marks: dict[str, Any]) -> dict[str, Any]:
    data = list(spec["data"])
    for index, props in marks["traces"].items():
        data[int(index)] = {**data[int(index)], **props}
    return {**spec, "data": data}
