"""The threshold explorer as data: metric and precision–recall curves, marks, confusion matrix.

A threshold move changes only the *marks* (:func:`curves_marks`: the threshold line, the
markers on the curves, the current point on the PR curve) and the 2×2 confusion matrix
(:func:`confusion_spec`); the curves (:func:`curves_spec`) change with the split, model,
positive class, weighting or beta. :func:`apply_marks` merges marks into a spec, exactly as
the figure widget's view does in the browser.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from dashboard.figures.format import pct
from dashboard.figures.spec import esc, num, nums
from dashboard.figures.theme import COLORS, layout
from dashboard.metrics.curve import BestThreshold, OperatingPoint
from dashboard.metrics.isof1 import confusion_rates, curve_series, iso_fbeta_lines
from dashboard.results import Results

__all__ = ["CURVE_TRACES", "MARKED", "apply_marks", "confusion_spec", "curves_marks",
           "curves_spec"]

#: the traces of :func:`curves_spec`, always in this order
CURVE_TRACES = ("precision", "recall", "f1", "fbeta", "queue_rate", "o_precision", "o_recall",
                "o_f1", "best_line", "threshold_line", "markers", "iso", "iso_labels", "pr",
                "o_pr", "best_point", "pr_point")
#: the traces a threshold move (or a new best threshold) changes: the marks
MARKED = ("best_line", "threshold_line", "markers", "best_point", "pr_point")
_HOVER = "threshold %{x:.4g}<br>%{fullData.name} %{y:.1%}<extra></extra>"
_TOP = 1.02


def _line(name: str, color: str, *, dash: str = "solid", width: float = 2.0, xaxis: str = "x",
          **kw: Any) -> dict[str, Any]:
    trace = {"type": "scatter", "name": name, "mode": "lines", "x": [], "y": [],
             "line": {"color": color, "dash": dash, "width": width},
             "xaxis": xaxis, "yaxis": "y" if xaxis == "x" else "y2"}
    trace.update(kw)
    return trace


def _fmt_beta(beta: float) -> str:
    return "F1" if beta == 1.0 else f"F{beta:g}"


def curves_spec(results: Results, split: str = "dev", *, overlay: str = "", beta: float = 1.0,
                max_points: int = 2000, height: int = 430) -> dict[str, Any]:
    """Metrics against the threshold and the PR plane with iso-F1 contours, without marks.

    Curves are decimated to at most ``max_points`` points; the marks (:func:`curves_marks`)
    carry the exact numbers at the threshold.
    """
    r = results
    curve = r.curve(split)
    s = curve_series(curve, curve.decimate(max_points), beta)
    split_color = COLORS.get(split, COLORS["dev"])
    fb = _fmt_beta(beta)
    t = {
        "precision": _line("precision", COLORS["precision"], hovertemplate=_HOVER),
        "recall": _line("recall", COLORS["recall"], hovertemplate=_HOVER),
        "f1": _line("F1", COLORS["f1"], width=2.5, hovertemplate=_HOVER),
        "fbeta": _line(fb, COLORS["fbeta"], hovertemplate=_HOVER, visible=beta != 1.0),
        "queue_rate": _line("queue rate", COLORS["queue_rate"], dash="dot",
                            hovertemplate=_HOVER),
        "o_precision": _line(f"precision · {esc(overlay)}", COLORS["precision"], dash="dash",
                             width=1.3, hovertemplate=_HOVER, legendgroup="overlay",
                             showlegend=False, visible=False),
        "o_recall": _line(f"recall · {esc(overlay)}", COLORS["recall"], dash="dash",
                          width=1.3, hovertemplate=_HOVER, legendgroup="overlay",
                          showlegend=False, visible=False),
        "o_f1": _line(f"F1 · {esc(overlay)} (dashed)", COLORS["f1"], dash="dash", width=1.3,
                      hovertemplate=_HOVER, legendgroup="overlay", visible=False),
        "best_line": _line("best under constraints", COLORS["negative_gap"], dash="dot",
                           width=1.5, hoverinfo="skip"),
        "threshold_line": _line("threshold", COLORS["threshold"], width=2.5,
                                hoverinfo="skip"),
        "markers": {"type": "scatter", "name": "at the threshold", "mode": "markers",
                    "x": [], "y": [], "showlegend": False, "hoverinfo": "skip",
                    "marker": {"size": 9, "color": [],
                               "line": {"width": 1.5, "color": COLORS["marker_edge"]}},
                    "xaxis": "x", "yaxis": "y"},
        "iso": _line("iso-F1 contours", COLORS["muted"], dash="dot", width=1,
                     hoverinfo="skip", xaxis="x2"),
        "iso_labels": {"type": "scatter", "name": "iso-F1 labels", "mode": "text", "x": [],
                       "y": [], "text": [], "textposition": "middle left",
                       "textfont": {"size": 10, "color": COLORS["muted"]},
                       "showlegend": False, "hoverinfo": "skip", "xaxis": "x2",
                       "yaxis": "y2"},
        "pr": _line(f"PR curve · {esc(split)}", split_color, width=2.5, xaxis="x2",
                    hovertemplate="recall %{x:.1%}<br>precision %{y:.1%}"
                                  "<br>threshold %{customdata:.4g}<extra></extra>"),
        "o_pr": _line(f"PR curve · {esc(overlay)}", COLORS.get(overlay, COLORS["muted"]),
                      dash="dash", width=1.5, xaxis="x2", visible=False,
                      hovertemplate="recall %{x:.1%}<br>precision %{y:.1%}<extra></extra>"),
        "best_point": {"type": "scatter", "name": "best", "mode": "markers", "x": [],
                       "y": [], "showlegend": False, "hoverinfo": "skip", "xaxis": "x2",
                       "yaxis": "y2",
                       "marker": {"symbol": "star", "size": 15, "color": COLORS["negative_gap"],
                                  "line": {"width": 1, "color": COLORS["marker_edge"]}}},
        "pr_point": {"type": "scatter", "name": "current", "mode": "markers", "x": [], "y": [],
                     "showlegend": False, "hoverinfo": "skip", "xaxis": "x2", "yaxis": "y2",
                     "marker": {"size": 13, "symbol": "diamond", "color": COLORS["threshold"],
                                "line": {"width": 2, "color": COLORS["text"]}}},
    }
    thresholds = nums(s.thresholds)
    for name in ("precision", "recall", "f1", "fbeta", "queue_rate"):
        t[name].update(x=thresholds, y=nums(getattr(s, name)))
    t["pr"].update(x=nums(s.recall), y=nums(s.precision), customdata=thresholds)
    if overlay and overlay != split:
        oc = r.curve(overlay)
        o = curve_series(oc, oc.decimate(max_points), beta)
        ot = nums(o.thresholds)
        for name in ("precision", "recall", "f1"):
            t[f"o_{name}"].update(x=ot, y=nums(getattr(o, name)), visible=True)
        t["o_pr"].update(x=nums(o.recall), y=nums(o.precision), visible=True)
    iso = iso_fbeta_lines()
    t["iso"].update(x=nums(iso.recall), y=nums(iso.precision))
    t["iso_labels"].update(x=nums(iso.label_recall), y=nums(iso.label_precision),
                           text=list(iso.labels))

    lo, hi = r.score_range
    pad = 0.01 * (hi - lo or 1.0)
    grid = {"gridcolor": COLORS["grid"], "zerolinecolor": COLORS["grid"]}
    title_font = {"size": 13}
    lay = layout(
        height=height, margin={"l": 56, "r": 16, "t": 100, "b": 48},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.16, "xanchor": "left", "x": 0,
                "font": {"size": 12}},
        hovermode="closest",
        xaxis={"domain": [0.0, 0.5], "anchor": "y", "title": {"text": "threshold"},
               "range": [num(lo - pad), num(hi + pad)], **grid},
        yaxis={"domain": [0.0, 1.0], "anchor": "x", "range": [0, _TOP], "tickformat": ".0%",
               **grid},
        # no "0%" under the origin: it collided with the precision axis' "0%"
        xaxis2={"domain": [0.64, 1.0], "anchor": "y2", "title": {"text": "recall"},
                "range": [0, _TOP], "tickformat": ".0%", "tickvals": [0.25, 0.5, 0.75, 1.0],
                **grid},
        yaxis2={"domain": [0.0, 1.0], "anchor": "x2", "title": {"text": "precision"},
                "range": [0, _TOP], "tickformat": ".0%", **grid},
        annotations=[
            {"text": "Metrics against the threshold", "x": 0.25, "y": 1.0, "xref": "paper",
             "yref": "paper", "xanchor": "center", "yanchor": "bottom", "showarrow": False,
             "font": title_font},
            {"text": "Precision–recall curve", "x": 0.82, "y": 1.0,
             "xref": "paper", "yref": "paper", "xanchor": "center", "yanchor": "bottom",
             "showarrow": False, "font": title_font},
        ],
    )
    return {"data": [t[name] for name in CURVE_TRACES], "layout": lay}


def curves_marks(point: OperatingPoint | None, best: BestThreshold | None = None, *,
                 beta: float = 1.0) -> dict[str, Any]:
    """What a threshold move changes in :func:`curves_spec`: ``{"traces": {index: props}}``."""
    marks: dict[str, dict[str, Any]] = {}

    def put(name: str, **props: Any) -> None:
        marks[str(CURVE_TRACES.index(name))] = props

    if point is None:
        for name in ("threshold_line", "markers", "pr_point"):
            put(name, x=[], y=[])
    else:
        thr = num(point.threshold)
        names = ["precision", "recall", "f1", "queue_rate"] + (["fbeta"] if beta != 1.0
                                                                else [])
        values = [point.precision, point.recall, point.f1, point.queue_rate]
        if beta != 1.0:
            values.append(point.fbeta)
        put("threshold_line", x=[thr, thr], y=[0.0, _TOP])
        put("markers", x=[thr] * len(values), y=nums(values),
            marker={"size": 9, "color": [COLORS[n] for n in names],
                    "line": {"width": 1.5, "color": COLORS["marker_edge"]}})
        put("pr_point", x=[num(point.recall)], y=[num(point.precision)])
    if best is None:
        put("best_line", x=[], y=[])
        put("best_point", x=[], y=[])
    else:
        put("best_line", x=[num(best.threshold)] * 2, y=[0.0, _TOP])
        put("best_point", x=[num(best.recall)], y=[num(best.precision)])
    return {"traces": marks}


def apply_marks(spec: dict[str, Any], marks: dict[str, Any] | None) -> dict[str, Any]:
    """``spec`` with each marked trace's properties replaced (a new dict; ``spec`` is kept)."""
    if not marks or not marks.get("traces"):
        return spec
    data = list(spec.get("data", []))
    for index, props in marks["traces"].items():
        i = int(index)
        if 0 <= i < len(data):
            data[i] = {**data[i], **copy.deepcopy(props)}
    return {**spec, "data": data}


def _count(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def confusion_spec(point: OperatingPoint | None, classes: tuple[str, str], *,
                   title: str = "Confusion matrix at the threshold",
                   height: int = 360) -> dict[str, Any]:
    """The 2×2 confusion matrix: rows Actual, columns Predicted, cells count and row rate.

    ``classes`` is ``(negative, positive)``; the names are escaped for plotly's HTML subset.
    """
    neg, pos = (esc(c) for c in classes)
    labels = (("TN", "FP"), ("FN", "TP"))
    if point is None:
        z: list[list[float | None]] = [[None, None], [None, None]]
        text = [["", ""], ["", ""]]
        custom = [[0.0, 0.0], [0.0, 0.0]]
    else:
        cm = confusion_rates(point.tp, point.fp, point.fn, point.tn)
        z = [nums(row) for row in cm.row_rates]
        custom = [nums(row) for row in cm.counts]
        text = [[f"{labels[i][j]} <b>{_count(cm.counts[i, j])}</b><br>"
                 f"{pct(cm.row_rates[i, j])} of row" for j in range(2)] for i in range(2)]
    heat = {"type": "heatmap", "name": "confusion matrix", "x": [neg, pos], "y": [neg, pos],
            "z": z, "text": text, "customdata": custom, "texttemplate": "%{text}",
            "textfont": {"size": 13, "color": COLORS["cell_text"]}, "zmin": 0, "zmax": 1,
            "showscale": False, "xgap": 3, "ygap": 3,
            "colorscale": [[0, COLORS["cell_low"]], [1, COLORS["cell_high"]]],
            "hovertemplate": "actual %{y}, predicted %{x}: %{customdata:,}<extra></extra>"}
    lay = layout(
        height=height, showlegend=False, margin={"l": 90, "r": 16, "t": 40, "b": 64},
        title={"text": esc(title) if title else "", "x": 0, "xanchor": "left",
               "font": {"size": 13}},
        xaxis={"type": "category", "title": {"text": "Predicted"}, "side": "bottom",
               "showgrid": False, "fixedrange": True},
        yaxis={"type": "category", "title": {"text": "Actual"}, "autorange": "reversed",
               "showgrid": False, "fixedrange": True},
    )
    return {"data": [heat], "layout": lay}
