"""The gap waterfall as data: human level → train → train_dev → dev → test, with named gaps.

:func:`walk` reads one model's levels and gaps from the results model; :func:`waterfall_spec`
turns one walk (or two, side by side) into a plotly figure spec. Every number comes from
``Results.error_rates`` / ``Results.gaps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from dashboard.figures.format import count, pct, pp
from dashboard.figures.spec import esc, num
from dashboard.figures.theme import COLORS, FONT, layout
from dashboard.metrics.gaps import GAP_LABELS, GapReport
from dashboard.results import Results

__all__ = ["LEVEL_LABELS", "TRACE_NAMES", "Step", "Walk", "headline_html", "title_text", "walk",
           "waterfall_spec", "with_headline"]

#: display names of the levels of the walk
LEVEL_LABELS = {
    "human": "human level",
    "train": "train",
    "train_dev": "train-dev",
    "dev": "dev",
    "test": "test",
}

#: the traces of the spec, always in this order (hidden ones are empty)
TRACE_NAMES = (
    "connectors",
    "levels",
    "gaps",
    "level labels",
    "gap labels",
    "compare levels",
    "compare gaps",
    "compare labels",
)

#: what a negative gap means, short enough to sit under its step
NEGATIVE_SHORT = {
    "avoidable_bias": "below human level",
    "variance": "held-out is easier",
    "data_mismatch": "dev is easier",
    "dev_overfitting": "test is easier",
}

SINGLE_WIDTH = 0.62
PAIR_WIDTH = 0.36
PAIR_SHIFT = 0.2
NOT_SIGNIFICANT_PATTERN = "/"


@dataclass(frozen=True)
class Step:
    """One bar of the walk: a split's level or a gap between two levels."""

    kind: str  # "level" or "gap"
    key: str  # "human", a split, or a gap name
    base: float  # where the bar starts
    value: float  # its height (negative for a negative gap)
    lo: float | None = None  # 95% interval of a level
    hi: float | None = None
    significant: bool = True
    note: str = ""  # significance sentence, for hover and notes
    n: int | None = None

    @property
    def end(self) -> float:
        """Where the bar ends."""
        return self.base + self.value


@dataclass(frozen=True)
class Walk:
    """Everything drawn for one model: its steps, gap report and table of errors."""

    model: str
    steps: tuple[Step, ...]
    report: GapReport
    errors: pd.DataFrame

    def step(self, key: str) -> Step | None:
        """The step called ``key`` (a level or a gap), or ``None``."""
        for s in self.steps:
            if s.key == key:
                return s
        return None


def walk(results: Results, model: str | None = None) -> Walk:
    """One model's walk at the results model's threshold, reference and weighting."""
    r = results
    model = model or r.model
    errors = r.error_rates(model)
    report = r.gaps(model)
    n_col = "n_effective" if r.weighted else "n"
    levels: list[Step] = [Step("level", "human", 0.0, report.human)]
    for split in errors.index:
        row = errors.loc[split]
        levels.append(Step("level", split, 0.0, float(row["error"]),
                           lo=float(row["ci_low"]), hi=float(row["ci_high"]),
                           n=int(row["n"])))
    by_pair = {pair: gap for gap, pair in report.steps.items()}
    steps: list[Step] = [levels[0]]
    for prev, nxt in zip(levels, levels[1:], strict=False):
        gap = by_pair.get((prev.key, nxt.key))
        value = getattr(report, gap) if gap else None
        if gap and value is not None:
            significant = report.significant.get(gap, True)
            note = "" if significant else _significance_note(gap, value, report, errors,
                                                             n_col)
            steps.append(Step("gap", gap, prev.value, float(value),
                              significant=significant, note=note))
        steps.append(nxt)
    return Walk(model, tuple(steps), report, errors)


def _significance_note(gap: str, value: float, report: GapReport, errors: pd.DataFrame,
                       n_col: str) -> str:
    """``"Variance (+0.5 pp) is not significant with n = 100 dev examples: ..."``"""
    lo_split, hi_split = report.steps[gap]
    sizes = [(s, float(errors.loc[s, n_col])) for s in (lo_split, hi_split)
             if s in errors.index]
    prefix = "effective n" if n_col == "n_effective" else "n"
    what = " and ".join(f"{count(n)} {LEVEL_LABELS[s]}" for s, n in sizes) + " examples"
    label = report.label(gap)
    text = (f"{label[0].upper()}{label[1:]} ({pp(value)}) is not significant with "
            f"{prefix} = {what}")
    if gap in report.intervals:
        lo, hi = report.intervals[gap]
        if lo <= 0.0 <= hi:
            text += f": its 95% interval ({pp(lo)} to {pp(hi)}) includes zero"
        else:  # its own interval excludes zero, but not once every gap tested counts
            text += (f": its 95% interval ({pp(lo)} to {pp(hi)}) excludes zero, but not after "
                     f"adjusting for the {len(report.p_values)} gaps tested (Holm, "
                     f"p = {report.p_values.get(gap, float('nan')):.2g})")
    return text + "."


def rgba(color: str, alpha: float) -> str:
    """``"#2563eb"`` with an alpha, as ``"rgba(37,99,235,0.22)"`` (fills lighter than lines)."""
    h = color.lstrip("#")
    if len(h) != 6 or alpha >= 1.0:
        return color
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha:g})"


def short(name: str, limit: int = 12) -> str:
    """A model name short enough to sit above a half-width bar."""
    return name if len(name) <= limit else name[:limit - 1] + "…"


def title_text(results: Results, main: Walk, other: Walk | None) -> str:
    """The figure's title: what is drawn (model, threshold, reference, weighting, splits)."""
    r = results
    ctx = []
    if len(r.models) > 1:
        ctx.append(f"model {esc(main.model)}"
                   + (f" vs {esc(other.model)} (lighter)" if other else ""))
    if r.schema.kind == "binary_score":
        ctx.append(f"threshold {r.threshold:.3g}")
    ref = r.human_reference
    ctx.append(f"{esc(ref)} {pct(r.human_error)}" if ref.startswith("human level")
               else f"human level: {esc(ref)} ({pct(r.human_error)})")
    if r.schema.has_weight:
        ctx.append("weighted error" if r.weighted else "plain error")
    missing = [LEVEL_LABELS[s] for s in ("train", "train_dev", "dev", "test")
               if s not in main.errors.index]
    if missing:
        ctx.append("not in the data: " + ", ".join(missing))
    return " · ".join(ctx)


def _level_hover(results: Results, w: Walk, s: Step) -> str:
    if s.key == "human":
        return (f"<b>human level</b> ({esc(results.human_reference)}): {pct(s.value)}"
                "<br>given, not measured: the proxy for Bayes error")
    text = (f"<b>{esc(w.model)} · {LEVEL_LABELS[s.key]}</b>: {pct(s.value)} error"
            f"<br>95% interval {pct(s.lo)} – {pct(s.hi)}")
    if s.n is not None:
        text += f"<br>n = {count(s.n)} examples"
    return text


def _gap_hover(w: Walk, s: Step) -> str:
    lo, hi = w.report.steps[s.key]
    text = (f"<b>{esc(w.model)} · {GAP_LABELS[s.key]}</b>: {pp(s.value)}"
            f"<br>{LEVEL_LABELS[hi]} − {LEVEL_LABELS[lo]}")
    if s.key in w.report.intervals:
        a, b = w.report.intervals[s.key]
        text += f"<br>95% interval {pp(a)} to {pp(b)}"
    if not s.significant:
        text += "<br><i>not significant</i>"
    return text


def _bar(name: str, visible: bool = True) -> dict[str, Any]:
    return {"type": "bar", "name": name, "x": [], "y": [], "base": [], "visible": visible,
            "showlegend": False, "width": SINGLE_WIDTH, "offset": -SINGLE_WIDTH / 2,
            "marker": {"line": {"width": 2}}, "cliponaxis": False,
            "hovertemplate": "%{hovertext}<extra></extra>", "hovertext": []}


def _labels(name: str, visible: bool = True) -> dict[str, Any]:
    return {"type": "scatter", "name": name, "x": [], "y": [], "mode": "text", "text": [],
            "visible": visible, "showlegend": False, "hoverinfo": "skip", "cliponaxis": False,
            "textfont": {"family": FONT, "size": 13}}


def _fill_walk(results: Results, w: Walk, xs: dict[str, float], shift: float, width: float,
               level_tr: dict, gap_tr: dict, level_labels: dict, gap_labels: dict | None, *,
               label_model: str | None, faded: bool = False) -> None:
    """Fill one model's level bars, gap steps and their labels."""
    levels = [s for s in w.steps if s.kind == "level" and s.key in xs]
    gaps = [s for s in w.steps if s.kind == "gap" and s.key in xs]
    offset = shift - width / 2
    tag = (f"<span style='font-size:10px'>{esc(short(label_model))}</span><br>"
           if label_model else "")

    fill_alpha, line_alpha = (0.08, 0.55) if faded else (0.22, 1.0)
    level_tr.update({
        "x": [xs[s.key] for s in levels], "y": [num(s.value) for s in levels],
        "base": [0.0] * len(levels), "width": width, "offset": offset,
        "marker": {"color": [rgba(COLORS[s.key], fill_alpha) for s in levels],
                   "line": {"width": 2,
                            "color": [rgba(COLORS[s.key], line_alpha) for s in levels]}},
        "error_y": {**level_tr.get("error_y", {}),
                    "array": [None if s.hi is None else num(s.hi - s.value) for s in levels],
                    "arrayminus": [None if s.lo is None else num(s.value - s.lo)
                                   for s in levels]},
        "hovertext": [_level_hover(results, w, s) for s in levels],
    })
    gap_colors = [COLORS[s.key] if s.value >= 0 else COLORS["negative_gap"] for s in gaps]
    gap_alpha = 0.45 if faded else 1.0
    gap_tr.update({
        "x": [xs[s.key] for s in gaps], "y": [num(s.value) for s in gaps],
        "base": [num(s.base) for s in gaps], "width": width, "offset": offset,
        "marker": {"color": [rgba(c, gap_alpha) for c in gap_colors],
                   "line": {"width": 2, "color": [rgba(c, gap_alpha) for c in gap_colors]},
                   "pattern": {"shape": ["" if s.significant else NOT_SIGNIFICANT_PATTERN
                                         for s in gaps],
                               # "replace": the bar colour as the pattern's background
                               # (an array of colours in "overlay" logs plotly warnings)
                               "fillmode": "replace", "fgcolor": "#ffffff"}},
        "hovertext": [_gap_hover(w, s) for s in gaps],
    })

    lx, ly, lt, lpos, lcol = [], [], [], [], []
    for s in levels:
        lx.append(xs[s.key] + shift)
        ly.append(num(s.value if s.hi is None else max(s.hi, s.value)))
        lt.append(f"{tag}<b>{pct(s.value)}</b>")
        lpos.append("top center")
        lcol.append(COLORS[s.key])
    gx, gy, gt, gpos, gcol = [], [], [], [], []
    for s in gaps:
        negative = s.value < 0
        mark = "" if s.significant else "<br><i>n.s.</i>"
        text = f"{tag}<b>{pp(s.value)}</b>{mark}"
        if negative:
            text = f"{tag}<b>↓ {pp(s.value)}</b>{mark}<br><i>{NEGATIVE_SHORT[s.key]}</i>"
        gx.append(xs[s.key] + shift)
        gy.append(num(min(s.base, s.end) if negative else max(s.base, s.end)))
        gt.append(text)
        gpos.append("bottom center" if negative else "top center")
        gcol.append(COLORS["negative_gap"] if negative else COLORS[s.key])
    if gap_labels is None:  # one label trace for both (the compare model)
        lx, ly, lt, lpos, lcol = lx + gx, ly + gy, lt + gt, lpos + gpos, lcol + gcol
    else:
        gap_labels.update({"x": gx, "y": gy, "text": gt, "textposition": gpos})
        gap_labels["textfont"] = {**gap_labels["textfont"], "color": gcol}
    level_labels.update({"x": lx, "y": ly, "text": lt, "textposition": lpos})
    level_labels["textfont"] = {**level_labels["textfont"], "color": lcol}


def _connectors(w: Walk, xs: dict[str, float], shift: float,
                width: float) -> tuple[list[float | None], list[float | None]]:
    """Dotted lines carrying each level across to the next step (one trace, None breaks)."""
    cx: list[float | None] = []
    cy: list[float | None] = []
    steps = [s for s in w.steps if s.key in xs]
    for a, b in zip(steps, steps[1:], strict=False):
        if a.kind == "level" and b.kind == "level":
            continue  # no gap between them (a missing split): nothing to carry
        cx += [xs[a.key] + shift + width / 2, xs[b.key] + shift - width / 2, None]
        cy += [num(a.end), num(a.end), None]
    return cx, cy


def waterfall_spec(results: Results, model: str | None = None, *, compare: str | None = None,
                   height: int = 500) -> dict[str, Any]:
    """The waterfall of ``model`` (default: the current one), ``compare`` beside it if given."""
    main = walk(results, model)
    other = walk(results, compare) if compare else None
    return spec_from_walks(results, main, other, height=height)


def spec_from_walks(results: Results, main: Walk, other: Walk | None, *,
                    height: int = 500) -> dict[str, Any]:
    """The waterfall spec of walks already read (the widget reuses them for its text)."""
    pair = other is not None
    width = PAIR_WIDTH if pair else SINGLE_WIDTH
    shift = -PAIR_SHIFT if pair else 0.0
    xs = {s.key: float(i) for i, s in enumerate(main.steps)}

    levels = _bar("levels")
    levels["error_y"] = {"type": "data", "array": [], "arrayminus": [], "symmetric": False,
                         "thickness": 1.5, "width": 6, "color": COLORS["muted"]}
    compare_levels = _bar("compare levels", visible=pair)
    compare_levels["error_y"] = {"type": "data", "array": [], "arrayminus": [],
                                 "symmetric": False, "thickness": 1.5, "width": 4,
                                 "color": COLORS["muted"]}
    connectors = {"type": "scatter", "name": "connectors", "mode": "lines",
                  "showlegend": False, "hoverinfo": "skip", "visible": not pair,
                  "line": {"color": COLORS["muted"], "width": 1.2, "dash": "dot"}}
    traces = {"connectors": connectors, "levels": levels, "gaps": _bar("gaps"),
              "level labels": _labels("level labels"), "gap labels": _labels("gap labels"),
              "compare levels": compare_levels, "compare gaps": _bar("compare gaps", pair),
              "compare labels": _labels("compare labels", pair)}
    _fill_walk(results, main, xs, shift, width, traces["levels"], traces["gaps"],
               traces["level labels"], traces["gap labels"],
               label_model=main.model if pair else None)
    cx, cy = _connectors(main, xs, shift, width) if not pair else ([], [])
    connectors.update({"x": cx, "y": cy})
    if other is not None:
        _fill_walk(results, other, xs, PAIR_SHIFT, width, traces["compare levels"],
                   traces["compare gaps"], traces["compare labels"], None,
                   label_model=other.model, faded=True)

    ticks = []
    for s in main.steps:
        if s.kind == "level":
            ticks.append(f"<b>{LEVEL_LABELS[s.key]}</b>")
        else:
            label = GAP_LABELS[s.key].replace(" ", "<br>")
            if s.key == "variance" and main.report.steps.get("variance") == ("train", "dev"):
                label += "<br>+ mismatch"
            color = COLORS[s.key] if s.value >= 0 else COLORS["negative_gap"]
            ticks.append(f"<span style='color:{color}'>{label}</span>")
    tops = [max(s.base, s.end, s.hi or 0.0) for v in (main, other) if v for s in v.steps]
    top = max(tops) if tops else 0.1
    top = top if top > 0 else 0.01
    lay = layout(
        height=height, barmode="overlay", bargap=0.0, showlegend=False,
        margin={"l": 64, "r": 24, "t": 40, "b": 72},
        title={"text": title_text(results, main, other), "x": 0, "xref": "paper",
               "xanchor": "left", "y": 0.985, "yanchor": "top",
               "font": {"size": 12, "color": COLORS["human"]}},
        xaxis={"tickmode": "array", "tickvals": list(xs.values()), "ticktext": ticks,
               "showgrid": False, "zeroline": False, "range": [-0.6, len(xs) - 0.4],
               "fixedrange": True},
        yaxis={"tickformat": ".1%" if top < 0.05 else ".0%", "gridcolor": COLORS["grid"],
               "zeroline": True, "zerolinecolor": COLORS["muted"], "zerolinewidth": 1,
               "title": {"text": "error", "standoff": 8}, "rangemode": "tozero",
               "range": [0.0, num(top * 1.22)], "fixedrange": True},
        hovermode="closest",
    )
    return {"data": [traces[name] for name in TRACE_NAMES], "layout": lay}


def headline_html(report: GapReport) -> str:
    """The diagnosis in plotly's HTML subset: ``Focus on <b>variance</b> (+2.0 pp)``."""
    if not report.focus:
        return esc(report.headline)
    parts = [f"<span style='color:{COLORS[g]}'><b>{GAP_LABELS[g]}</b> "
             f"({pp(getattr(report, g))})</span>" for g in report.focus]
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Focus on {joined}"


def with_headline(spec: dict[str, Any], report: GapReport) -> dict[str, Any]:
    """A copy of a waterfall spec with the headline above its context line, for exports."""
    lay = dict(spec.get("layout", {}))
    context = (lay.get("title") or {}).get("text", "")
    lay["title"] = {"text": f"{headline_html(report)}<br><span style='font-size:12px;"
                            f"color:{COLORS['human']}'>{context}</span>",
                    "font": {"size": 19}, "y": 0.97, "x": 0, "xanchor": "left"}
    lay["margin"] = {**lay.get("margin", {}), "t": 88}
    return {**spec, "layout": lay}
