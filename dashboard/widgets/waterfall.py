"""The gap waterfall: the walk from human level to test error, and what to do about it.

``GapWaterfall(results)`` draws each split's error as a bar (with its 95% interval) and each gap
between consecutive splits (avoidable bias, variance, data mismatch, dev overfitting) as a
floating step, names the focus gap(s) in a headline and lists the tactics for each. It observes
the shared :class:`~dashboard.results.Results` (threshold, model, human reference, weighting) and
updates the one ``FigureWidget`` in place; every number it shows comes from
``Results.error_rates`` / ``Results.gaps`` or from :mod:`dashboard.metrics`.
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.metrics.formulation import (
    COLUMNS,
    ROWS,
    Formulation,
    general_formulation,
    split_references,
)
from dashboard.metrics.gaps import GAP_LABELS, GapReport
from dashboard.results import Results
from dashboard.widgets import theme
from dashboard.widgets.figure import LiveFigure
from dashboard.widgets.format import count, pct, pp

__all__ = ["GapWaterfall", "TRACE_NAMES"]

#: display names of the levels of the walk
LEVEL_LABELS = {
    "human": "human level",
    "train": "train",
    "train_dev": "train-dev",
    "dev": "dev",
    "test": "test",
}

#: the traces, created once in this order and only updated afterwards
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

#: what a negative gap means, short enough to sit under its step (the notes say it in full)
_NEGATIVE_SHORT = {
    "avoidable_bias": "below human level",
    "variance": "held-out is easier",
    "data_mismatch": "dev is easier",
    "dev_overfitting": "test is easier",
}

_SINGLE_WIDTH = 0.62
_PAIR_WIDTH = 0.36
_PAIR_SHIFT = 0.2
_NOT_SIGNIFICANT_PATTERN = "/"


@dataclass(frozen=True)
class _Step:
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
        return self.base + self.value


@dataclass(frozen=True)
class _View:
    """Everything drawn for one model: its walk, report and table of errors."""

    model: str
    steps: tuple[_Step, ...]
    report: GapReport
    errors: pd.DataFrame

    def step(self, key: str) -> _Step | None:
        for s in self.steps:
            if s.key == key:
                return s
        return None


class GapWaterfall(widgets.VBox):
    """Where the error comes from: human level → train → train_dev → dev → test.

    Parameters
    ----------
    results : Results
        The shared results model. The component observes its ``threshold``, ``model``,
        ``human_reference`` and ``weighted`` traits and writes the last three from its pickers.
    compare : bool
        Start in side-by-side mode (the current model beside a second one).
    height : int
        Height of the figure in pixels.
    """

    def __init__(self, results: Results, *, compare: bool = False, height: int = 500) -> None:
        self.results = results
        self._syncing = False
        self._views: tuple[_View, _View | None] | None = None

        many_refs = len(results.human_level.names) > 1
        many_models = len(results.models) > 1
        self.reference_picker = widgets.Dropdown(
            options=self._reference_options(), value=results.human_reference,
            description="Human level", style={"description_width": "initial"},
            layout=widgets.Layout(width="auto", display=None if many_refs else "none"))
        self.model_picker = widgets.Dropdown(
            options=list(results.models), value=results.model, description="Model",
            layout=widgets.Layout(width="auto", display=None if many_models else "none"))
        self.compare_toggle = widgets.ToggleButton(
            value=bool(compare and many_models), description="Side by side",
            icon="columns", tooltip="Draw a second model's walk beside this one",
            layout=widgets.Layout(width="auto", display=None if many_models else "none"))
        self.compare_picker = widgets.Dropdown(
            options=self._compare_options(), value=self._default_compare(),
            description="vs", style={"description_width": "initial"},
            layout=widgets.Layout(width="auto", display="none"))
        self.weighted_toggle = widgets.ToggleButtons(
            options=[("plain error", False), ("weighted error", True)], value=results.weighted,
            tooltips=["Every example counts once", "Σ wᵢ·[ŷᵢ ≠ yᵢ] / Σ wᵢ"],
            style={"button_width": "auto"},
            layout=widgets.Layout(display=None if results.schema.has_weight else "none"))
        self.controls = widgets.HBox(
            [self.model_picker, self.compare_toggle, self.compare_picker,
             self.reference_picker, self.weighted_toggle],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        for child in self.controls.children:
            child.layout.margin = "2px 12px 2px 0"

        self.headline = widgets.HTML()
        self.headline.add_class("mldash-waterfall-headline")
        self.figure = LiveFigure(data=self._initial_traces(),
                                      layout=self._initial_layout(height))
        self.tactics = widgets.HTML()
        self.tactics.add_class("mldash-waterfall-tactics")
        self.notes = widgets.HTML()
        self.notes.add_class("mldash-waterfall-notes")
        self.formulation = widgets.HTML()
        self.formulation.add_class("mldash-waterfall-formulation")
        self.status = widgets.HTML()
        self.status.add_class("mldash-waterfall-status")
        super().__init__([self.controls, self.headline, self.figure, self.tactics, self.notes,
                          self.formulation, self.status])
        self.add_class("mldash-waterfall")

        self.reference_picker.observe(self._on_reference_picker_change, names="value")
        self.model_picker.observe(self._on_model_picker_change, names="value")
        self.weighted_toggle.observe(self._on_weighted_picker_change, names="value")
        self.compare_toggle.observe(self._on_compare_change, names="value")
        self.compare_picker.observe(self._on_compare_change, names="value")
        results.observe(self._on_threshold_change, names="threshold")
        results.observe(self._on_model_change, names="model")
        results.observe(self._on_human_reference_change, names="human_reference")
        results.observe(self._on_weighted_change, names="weighted")
        self.refresh()

    # -- public --------------------------------------------------------------------------------
    @property
    def report(self) -> GapReport:
        """The gap report drawn now (current model)."""
        if self._views is None:
            self.refresh()
        assert self._views is not None
        return self._views[0].report

    @property
    def compare_model(self) -> str | None:
        """The second model drawn in side-by-side mode, or ``None`` when the mode is off."""
        if self.compare_toggle.value and self.compare_picker.value:
            return self.compare_picker.value
        return None

    def trace(self, name: str) -> Any:
        """The figure's trace called ``name`` (one of :data:`TRACE_NAMES`)."""
        for tr in self.figure.data:
            if tr.name == name:
                return tr
        raise KeyError(name)

    def static_figure(self) -> go.Figure:
        """A standalone copy of the figure with the headline in its title, for images and reports.

        The widget's own figure keeps only the context in its title; the headline and tactics
        live in the HTML above and below it.
        """
        fig = go.Figure(self.figure)
        context = self.figure.layout.title.text or ""
        fig.update_layout(
            title=dict(text=f"{self._headline_spans(self.report)}<br><span style="
                            f"'font-size:12px;color:{theme.COLORS['human']}'>{context}</span>",
                       font=dict(size=19, color=None), y=0.97),
            margin=dict(t=88))
        return fig

    def refresh(self) -> None:
        """Redraw from the results model; a failure shows in the widget's status line."""
        try:
            self._draw()
        except Exception as exc:  # noqa: BLE001 - shown to the user, not swallowed
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self._set(self.status, "value",
                      "<div role='alert' style='padding:8px 12px;border-left:4px solid "
                      f"{theme.COLORS['avoidable_bias']}'><b>The gap waterfall could not be "
                      f"drawn.</b> {html.escape(detail)}</div>")
        else:
            self._set(self.status, "value", "")

    def close(self) -> None:
        """Stop observing the results model, then close the widget and its children."""
        for handler, name in ((self._on_threshold_change, "threshold"),
                              (self._on_model_change, "model"),
                              (self._on_human_reference_change, "human_reference"),
                              (self._on_weighted_change, "weighted")):
            with suppress(ValueError):
                self.results.unobserve(handler, names=name)
        for child in (self.controls, *self.controls.children, self.headline, self.figure,
                      self.tactics, self.notes, self.formulation, self.status):
            child.close()
        super().close()

    # -- observers of the results model --------------------------------------------------------
    def _on_threshold_change(self, change: dict) -> None:
        self.refresh()

    def _on_model_change(self, change: dict) -> None:
        with self._sync():
            self._set(self.model_picker, "value", change["new"])
            options = self._compare_options()
            if list(self.compare_picker.options) != options:
                keep = self.compare_picker.value
                self.compare_picker.options = options
                self.compare_picker.value = keep if keep in options else self._default_compare()
        self.refresh()

    def _on_human_reference_change(self, change: dict) -> None:
        with self._sync():
            self._set(self.reference_picker, "value", change["new"])
        self.refresh()

    def _on_weighted_change(self, change: dict) -> None:
        with self._sync():
            self._set(self.weighted_toggle, "value", change["new"])
        self.refresh()

    # -- observers of the pickers (write the shared state; the results observers redraw) -------
    def _on_model_picker_change(self, change: dict) -> None:
        self._write_trait("model", change["new"], self.model_picker)

    def _on_reference_picker_change(self, change: dict) -> None:
        self._write_trait("human_reference", change["new"], self.reference_picker)

    def _on_weighted_picker_change(self, change: dict) -> None:
        self._write_trait("weighted", bool(change["new"]), self.weighted_toggle)

    def _on_compare_change(self, change: dict) -> None:
        if self._syncing:
            return
        self.compare_picker.layout.display = None if self.compare_toggle.value and len(
            self.results.models) > 2 else "none"
        self.refresh()

    def _write_trait(self, name: str, value: Any, picker: widgets.Widget) -> None:
        if self._syncing or getattr(self.results, name) == value:
            return
        try:
            setattr(self.results, name, value)
        except Exception as exc:  # noqa: BLE001 - a refused value: show it, restore the picker
            with self._sync():
                picker.value = getattr(self.results, name)
            self._set(self.status, "value", f"<div role='alert'>{html.escape(str(exc))}</div>")

    @contextmanager
    def _sync(self) -> Iterator[None]:
        """Mark writes to the pickers as coming from the results model (no echo back)."""
        before, self._syncing = self._syncing, True
        try:
            yield
        finally:
            self._syncing = before

    @staticmethod
    def _set(obj: Any, name: str, value: Any) -> None:
        """Assign only when the value changes, so an update that changes nothing sends nothing."""
        if getattr(obj, name) != value:
            setattr(obj, name, value)

    # -- options of the pickers ----------------------------------------------------------------
    def _reference_options(self) -> list[tuple[str, str]]:
        hl = self.results.human_level
        return [(f"{name} ({pct(rate)}){' · Bayes proxy' if name == hl.bayes_name else ''}",
                 name) for name, rate in hl.references]

    def _compare_options(self) -> list[str]:
        return [m for m in self.results.models if m != self.results.model]

    def _default_compare(self) -> str | None:
        """The model after the current one in ``results.models`` (wrapping around)."""
        models = list(self.results.models)
        if len(models) < 2:
            return None
        return models[(models.index(self.results.model) + 1) % len(models)]

    # -- reading the results model -------------------------------------------------------------
    def _view(self, model: str) -> _View:
        """The walk of one model at the current threshold, reference and weighting."""
        r = self.results
        errors = r.error_rates(model)
        report = r.gaps(model)
        n_col = "n_effective" if r.weighted else "n"
        levels: list[_Step] = [_Step("level", "human", 0.0, report.human)]
        for split in errors.index:
            row = errors.loc[split]
            levels.append(_Step("level", split, 0.0, float(row["error"]),
                                lo=float(row["ci_low"]), hi=float(row["ci_high"]),
                                n=int(row["n"])))
        by_pair = {pair: gap for gap, pair in report.steps.items()}
        steps: list[_Step] = [levels[0]]
        for prev, nxt in zip(levels, levels[1:], strict=False):
            gap = by_pair.get((prev.key, nxt.key))
            value = getattr(report, gap) if gap else None
            if gap and value is not None:
                significant = report.significant.get(gap, True)
                note = "" if significant else self._significance_note(
                    gap, value, report, errors, n_col)
                steps.append(_Step("gap", gap, prev.value, float(value),
                                   significant=significant, note=note))
            steps.append(nxt)
        return _View(model, tuple(steps), report, errors)

    @staticmethod
    def _significance_note(gap: str, value: float, report: GapReport, errors: pd.DataFrame,
                           n_col: str) -> str:
        """``"Variance (+0.5 pp) is not significant with n = 100 dev examples: ..."``"""
        lo_split, hi_split = report.steps[gap]
        sizes = [(s, float(errors.loc[s, n_col])) for s in (lo_split, hi_split)
                 if s in errors.index]
        prefix = "effective n" if n_col == "n_effective" else "n"
        parts = [f"{count(n)} {LEVEL_LABELS[s]}" for s, n in sizes]
        what = " and ".join(parts) + " examples"
        text = (f"{GAP_LABELS[gap].capitalize()} ({pp(value)}) is not significant with "
                f"{prefix} = {what}")
        if gap in report.intervals:
            lo, hi = report.intervals[gap]
            text += f": its 95% interval ({pp(lo)} to {pp(hi)}) includes zero"
        return text + "."

    # -- drawing -------------------------------------------------------------------------------
    def _initial_traces(self) -> list[go.BaseTraceType]:
        """Every trace, empty; :meth:`_draw` fills them. Never replaced afterwards."""
        def bar(name: str, visible: bool = True) -> go.Bar:
            return go.Bar(name=name, x=[], y=[], base=[], visible=visible, showlegend=False,
                          width=_SINGLE_WIDTH, offset=-_SINGLE_WIDTH / 2,
                          marker=dict(line=dict(width=2)), cliponaxis=False,
                          hovertemplate="%{hovertext}<extra></extra>")

        def labels(name: str, visible: bool = True) -> go.Scatter:
            return go.Scatter(name=name, x=[], y=[], mode="text", text=[], visible=visible,
                              showlegend=False, hoverinfo="skip", cliponaxis=False,
                              textfont=dict(family=theme.FONT, size=13))

        levels = bar("levels")
        levels.error_y = dict(type="data", array=[], arrayminus=[], symmetric=False,
                              thickness=1.5, width=6, color=theme.COLORS["muted"])
        compare_levels = bar("compare levels", visible=False)
        compare_levels.error_y = dict(type="data", array=[], arrayminus=[], symmetric=False,
                                      thickness=1.5, width=4, color=theme.COLORS["muted"])
        return [
            go.Scatter(name="connectors", x=[], y=[], mode="lines", showlegend=False,
                       hoverinfo="skip",
                       line=dict(color=theme.COLORS["muted"], width=1.2, dash="dot")),
            levels,
            bar("gaps"),
            labels("level labels"),
            labels("gap labels"),
            compare_levels,
            bar("compare gaps", visible=False),
            labels("compare labels", visible=False),
        ]

    def _initial_layout(self, height: int) -> go.Layout:
        return theme.layout(
            height=height,
            barmode="overlay",
            bargap=0.0,
            showlegend=False,
            margin=dict(l=64, r=24, t=40, b=72),
            title=dict(text="", x=0, xref="paper", xanchor="left", y=0.985, yanchor="top",
                       font=dict(size=12, color=theme.COLORS["human"])),
            xaxis=dict(tickmode="array", tickvals=[], ticktext=[], showgrid=False,
                       zeroline=False, range=[-0.6, 8.6], fixedrange=True),
            yaxis=dict(tickformat=".0%", gridcolor=theme.COLORS["grid"], zeroline=True,
                       zerolinecolor=theme.COLORS["muted"], zerolinewidth=1,
                       title=dict(text="error", standoff=8), rangemode="tozero",
                       fixedrange=True),
            hovermode="closest",
        )

    def _draw(self) -> None:
        r = self.results
        main = self._view(r.model)
        other = self._view(self.compare_model) if self.compare_model else None
        self._views = (main, other)
        pair = other is not None
        width = _PAIR_WIDTH if pair else _SINGLE_WIDTH
        shift = -_PAIR_SHIFT if pair else 0.0
        xs = {s.key: float(i) for i, s in enumerate(main.steps)}

        traces = {name: self.trace(name) for name in TRACE_NAMES}
        with self.figure.batch_update():
            self._draw_walk(main, xs, shift, width, traces["levels"], traces["gaps"],
                            traces["level labels"], traces["gap labels"],
                            label_model=main.model if pair else None)
            con = traces["connectors"]
            cx, cy = self._connectors(main, xs, shift, width) if not pair else ([], [])
            self._set(con, "x", cx)
            self._set(con, "y", cy)
            self._set(con, "visible", not pair)
            for name in ("compare levels", "compare gaps", "compare labels"):
                self._set(traces[name], "visible", pair)
            if other is not None:
                self._draw_walk(other, xs, _PAIR_SHIFT, width, traces["compare levels"],
                                traces["compare gaps"], traces["compare labels"], None,
                                label_model=other.model, faded=True)
            self._draw_axes(main, other, xs)
        self._write_text(main, other)

    def _draw_walk(self, view: _View, xs: dict[str, float], shift: float, width: float,
                   level_tr: Any, gap_tr: Any, level_labels: Any, gap_labels: Any | None, *,
                   label_model: str | None, faded: bool = False) -> None:
        """Fill one model's level bars, gap steps and their labels."""
        colors = theme.COLORS
        levels = [s for s in view.steps if s.kind == "level" and s.key in xs]
        gaps = [s for s in view.steps if s.kind == "gap" and s.key in xs]
        offset = shift - width / 2
        tag = (f"<span style='font-size:10px'>{html.escape(_short(label_model))}</span><br>"
               if label_model else "")

        # levels: bars from 0 with their 95% interval
        upper = [np.nan if s.hi is None else s.hi - s.value for s in levels]
        lower = [np.nan if s.lo is None else s.value - s.lo for s in levels]
        fill_alpha, line_alpha = (0.08, 0.55) if faded else (0.22, 1.0)
        self._set(level_tr, "x", [xs[s.key] for s in levels])
        self._set(level_tr, "y", [s.value for s in levels])
        self._set(level_tr, "base", [0.0] * len(levels))
        self._set(level_tr, "width", width)
        self._set(level_tr, "offset", offset)
        self._set(level_tr.marker, "color", [_rgba(colors[s.key], fill_alpha) for s in levels])
        self._set(level_tr.marker.line, "color",
                  [_rgba(colors[s.key], line_alpha) for s in levels])
        self._set(level_tr.error_y, "array", upper)
        self._set(level_tr.error_y, "arrayminus", lower)
        self._set(level_tr, "hovertext", [self._level_hover(view, s) for s in levels])

        # gaps: floating steps from the previous level; hatched when not significant
        self._set(gap_tr, "x", [xs[s.key] for s in gaps])
        self._set(gap_tr, "y", [s.value for s in gaps])
        self._set(gap_tr, "base", [s.base for s in gaps])
        self._set(gap_tr, "width", width)
        self._set(gap_tr, "offset", offset)
        gap_colors = [colors[s.key] if s.value >= 0 else colors["negative_gap"] for s in gaps]
        gap_alpha = 0.45 if faded else 1.0
        self._set(gap_tr.marker, "color", [_rgba(c, gap_alpha) for c in gap_colors])
        self._set(gap_tr.marker.line, "color", [_rgba(c, gap_alpha) for c in gap_colors])
        self._set(gap_tr.marker.pattern, "shape",
                  ["" if s.significant else _NOT_SIGNIFICANT_PATTERN for s in gaps])
        self._set(gap_tr.marker.pattern, "fillmode", "overlay")
        self._set(gap_tr.marker.pattern, "fgcolor", "white")
        self._set(gap_tr, "hovertext", [self._gap_hover(view, s) for s in gaps])

        # labels: the level above its interval, the gap above (or below, if negative) its step
        lx, ly, lt, lpos, lcol = [], [], [], [], []
        for s in levels:
            lx.append(xs[s.key] + shift)
            ly.append(s.value if s.hi is None else max(s.hi, s.value))
            lt.append(f"{tag}<b>{pct(s.value)}</b>")
            lpos.append("top center")
            lcol.append(colors[s.key])
        gx, gy, gt, gpos, gcol = [], [], [], [], []
        for s in gaps:
            negative = s.value < 0
            mark = "" if s.significant else "<br><i>n.s.</i>"
            text = f"{tag}<b>{pp(s.value)}</b>{mark}"
            if negative:
                text = f"{tag}<b>↓ {pp(s.value)}</b>{mark}<br><i>{_NEGATIVE_SHORT[s.key]}</i>"
            gx.append(xs[s.key] + shift)
            gy.append(min(s.base, s.end) if negative else max(s.base, s.end))
            gt.append(text)
            gpos.append("bottom center" if negative else "top center")
            gcol.append(colors["negative_gap"] if negative else colors[s.key])
        if gap_labels is None:  # one label trace for both (the compare model)
            lx, ly, lt, lpos, lcol = lx + gx, ly + gy, lt + gt, lpos + gpos, lcol + gcol
        else:
            self._set(gap_labels, "x", gx)
            self._set(gap_labels, "y", gy)
            self._set(gap_labels, "text", gt)
            self._set(gap_labels, "textposition", gpos)
            self._set(gap_labels.textfont, "color", gcol)
        self._set(level_labels, "x", lx)
        self._set(level_labels, "y", ly)
        self._set(level_labels, "text", lt)
        self._set(level_labels, "textposition", lpos)
        self._set(level_labels.textfont, "color", lcol)

    @staticmethod
    def _connectors(view: _View, xs: dict[str, float], shift: float,
                    width: float) -> tuple[list[float | None], list[float | None]]:
        """Dotted lines carrying each level across to the next step (one trace, None breaks)."""
        cx: list[float | None] = []
        cy: list[float | None] = []
        steps = [s for s in view.steps if s.key in xs]
        for a, b in zip(steps, steps[1:], strict=False):
            if a.kind == "level" and b.kind == "level":
                continue  # no gap between them (a missing split): nothing to carry
            y = a.end
            cx += [xs[a.key] + shift + width / 2, xs[b.key] + shift - width / 2, None]
            cy += [y, y, None]
        return cx, cy

    def _draw_axes(self, main: _View, other: _View | None, xs: dict[str, float]) -> None:
        colors = theme.COLORS
        ticks = []
        for s in main.steps:
            if s.kind == "level":
                ticks.append(f"<b>{LEVEL_LABELS[s.key]}</b>")
            else:
                label = GAP_LABELS[s.key].replace(" ", "<br>")
                if s.key == "variance" and main.report.steps.get("variance") == ("train",
                                                                                  "dev"):
                    label += "<br>+ mismatch"
                color = colors[s.key] if s.value >= 0 else colors["negative_gap"]
                ticks.append(f"<span style='color:{color}'>{label}</span>")
        layout = self.figure.layout
        self._set(layout.xaxis, "tickvals", list(xs.values()))
        self._set(layout.xaxis, "ticktext", ticks)
        self._set(layout.xaxis, "range", [-0.6, len(xs) - 0.4])
        tops = [max(s.base, s.end, s.hi or 0.0) for v in (main, other) if v for s in v.steps]
        top = max(tops) if tops else 0.1
        top = top if top > 0 else 0.01
        self._set(layout.yaxis, "range", [0.0, top * 1.22])
        self._set(layout.yaxis, "tickformat", ".1%" if top < 0.05 else ".0%")
        self._set(layout.title, "text", self._title_html(main, other))

    # -- text ----------------------------------------------------------------------------------
    def _title_html(self, main: _View, other: _View | None) -> str:
        """The figure's title: what is drawn (model, threshold, reference, weighting, splits).

        The headline itself is the HTML line above the figure (:meth:`static_figure` puts it
        in the title of an exported copy).
        """
        r = self.results
        ctx = []
        if len(r.models) > 1:
            ctx.append(f"model {html.escape(main.model)}"
                       + (f" vs {html.escape(other.model)} (lighter)" if other else ""))
        if r.schema.kind == "binary_score":
            ctx.append(f"threshold {r.threshold:.3g}")
        ref = r.human_reference
        ctx.append(f"{html.escape(ref)} {pct(r.human_error)}" if ref.startswith("human level")
                   else f"human level: {html.escape(ref)} ({pct(r.human_error)})")
        if r.schema.has_weight:
            ctx.append("weighted error" if r.weighted else "plain error")
        missing = [LEVEL_LABELS[s] for s in ("train", "train_dev", "dev", "test")
                   if s not in main.errors.index]
        if missing:
            ctx.append("not in the data: " + ", ".join(missing))
        return " · ".join(ctx)

    @staticmethod
    def _headline_spans(report: GapReport) -> str:
        if not report.focus:
            return html.escape(report.headline)
        parts = [f"<span style='color:{theme.COLORS[g]}'><b>{GAP_LABELS[g]}</b> "
                 f"({pp(getattr(report, g))})</span>" for g in report.focus]
        joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"Focus on {joined}"

    def _write_text(self, main: _View, other: _View | None) -> None:
        report = main.report
        colors = theme.COLORS
        # headline: the focus gap(s) by DOMAIN.md's rule, as GapReport.headline words it
        if report.focus:
            chips = [f"<span style='color:{colors[g]};font-weight:700'>"
                     f"{html.escape(GAP_LABELS[g])} ({pp(getattr(report, g))})</span>"
                     for g in report.focus]
            joined = chips[0] if len(chips) == 1 else (", ".join(chips[:-1]) + " and "
                                                       + chips[-1])
            head = f"Focus on {joined}."
        else:
            head = html.escape(report.headline)
        sub = ""
        if other is not None:
            sub = (f"<div style='font-size:13px;opacity:0.8'>{html.escape(other.model)}: "
                   f"{html.escape(other.report.headline)}</div>")
        weak = [s.note for s in main.steps
                if s.kind == "gap" and s.key in report.focus and not s.significant]
        if weak:
            sub += ("<div style='font-size:13px'>⚠ " + " ".join(html.escape(w) for w in weak)
                    + "</div>")
        self._set(self.headline, "value",
                  f"<div style='font-size:20px;line-height:1.35;margin:4px 0'>"
                  f"<span data-role='headline'>{head}</span>{sub}</div>")

        # tactics for each focus gap
        blocks = []
        for g in report.focus:
            items = "".join(f"<li>{html.escape(t)}</li>" for t in report.tactics.get(g, ()))
            blocks.append(
                f"<div style='flex:1 1 240px;border-left:4px solid {colors[g]};"
                f"padding:2px 12px;margin:4px 0'><div style='font-weight:700;color:{colors[g]}'>"
                f"To reduce {html.escape(GAP_LABELS[g])} ({pp(getattr(report, g))}), try</div>"
                f"<ul style='margin:4px 0 0 0;padding-left:18px'>{items}</ul></div>")
        tactics = ("<div style='display:flex;flex-wrap:wrap;gap:12px'>" + "".join(blocks)
                   + "</div>") if blocks else ""
        self._set(self.tactics, "value", tactics)

        # notes: negative gaps in words, missing splits, gaps indistinguishable from zero
        notes = list(report.notes)
        notes += [s.note for s in main.steps if s.kind == "gap" and not s.significant]
        self._set(self.notes, "value",
                  "<ul style='margin:4px 0;padding-left:18px;font-size:13px'>"
                  + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
                  if notes else "")

        # the general formulation, when the data fills it
        self._set(self.formulation, "value", self._formulation_html(main))

    def _formulation(self, view: _View) -> Formulation:
        r = self.results
        train_ref, dev_ref = split_references(r.human_level.references, r.human_reference)
        err = view.errors["error"].to_dict()
        return general_formulation(
            human_train=train_ref[1] if train_ref else None,
            human_dev=dev_ref[1] if dev_ref else None,
            train=err.get("train"), train_dev=err.get("train_dev"), dev=err.get("dev"),
            human_train_name=train_ref[0] if train_ref else None,
            human_dev_name=dev_ref[0] if dev_ref else None)

    def _formulation_html(self, view: _View) -> str:
        table = self._formulation(view)
        if not table.fillable:
            return ""
        footnotes: list[str] = []
        cell_style = "padding:4px 14px;text-align:right;font-variant-numeric:tabular-nums"
        rows = []
        row_names = {"human level": "human level", "trained on": "error on examples trained on",
                     "not trained on": "error on examples not trained on"}
        for row in ROWS:
            cells = [f"<th style='text-align:left;padding:4px 14px;font-weight:600'>"
                     f"{row_names[row]}</th>"]
            for col in COLUMNS:
                value = table[(row, col)]
                if value is None:
                    reason = table.blank_reasons[(row, col)]
                    footnotes.append(reason)
                    mark = len(footnotes)
                    cells.append(f"<td style='{cell_style}' title='{html.escape(reason)}'>"
                                 f"—<sup>{mark}</sup></td>")
                else:
                    src = html.escape(table.sources.get((row, col), ""))
                    cells.append(f"<td style='{cell_style}' title='{src}'>{pct(value)}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        head = ("<tr><th></th>" + "".join(
            f"<th style='{cell_style};font-weight:600'>{c}</th>" for c in COLUMNS) + "</tr>")
        notes = "".join(f"<li>{i}. {html.escape(f)}</li>" for i, f in enumerate(footnotes, 1))
        notes += "".join(f"<li>{html.escape(n)}</li>" for n in table.notes)
        return (
            "<details open style='margin-top:6px'><summary style='cursor:pointer;"
            "font-weight:600'>General formulation</summary>"
            "<table style='border-collapse:collapse;margin:6px 0;font-size:13px'>"
            f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
            f"<ul style='list-style:none;padding-left:0;margin:0;font-size:12px;opacity:0.8'>"
            f"{notes}</ul></details>")

    # -- hover text ----------------------------------------------------------------------------
    def _level_hover(self, view: _View, s: _Step) -> str:
        r = self.results
        if s.key == "human":
            return (f"<b>human level</b> ({html.escape(r.human_reference)}): {pct(s.value)}"
                    "<br>given, not measured: the proxy for Bayes error")
        text = (f"<b>{html.escape(view.model)} · {LEVEL_LABELS[s.key]}</b>: {pct(s.value)} error"
                f"<br>95% interval {pct(s.lo)} – {pct(s.hi)}")
        if s.n is not None:
            text += f"<br>n = {count(s.n)} examples"
        return text

    @staticmethod
    def _gap_hover(view: _View, s: _Step) -> str:
        lo, hi = view.report.steps[s.key]
        text = (f"<b>{html.escape(view.model)} · {GAP_LABELS[s.key]}</b>: {pp(s.value)}"
                f"<br>{LEVEL_LABELS[hi]} − {LEVEL_LABELS[lo]}")
        if s.key in view.report.intervals:
            a, b = view.report.intervals[s.key]
            text += f"<br>95% interval {pp(a)} to {pp(b)}"
        if not s.significant:
            text += "<br><i>not significant</i>"
        return text


def _rgba(color: str, alpha: float) -> str:
    """``"#2563eb"`` with an alpha, as ``"rgba(37,99,235,0.22)"`` (fills lighter than lines)."""
    h = color.lstrip("#")
    if len(h) != 6 or alpha >= 1.0:
        return color
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha:g})"


def _short(name: str, limit: int = 12) -> str:
    """A model name short enough to sit above a half-width bar."""
    return name if len(name) <= limit else name[:limit - 1] + "…"
