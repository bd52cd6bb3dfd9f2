"""ThresholdExplorer: choose a decision threshold, and a model, under explicit constraints.

Fit, draw, update: the curves of a split are read once per (split, model, class, weighting,
beta) from the cached :meth:`Results.curve` and drawn decimated to at most ``max_points``
points (``dashboard.figures.explorer.curves_spec``); a threshold move is a binary search into
that curve and new *marks* for the curves figure (a line, a few markers: ``curves_marks``)
and a new 2×2 confusion-matrix spec, never new curves and never a pass over the rows.
"""

from __future__ import annotations

import contextlib
import functools
import html
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import ipywidgets as widgets
import pandas as pd
import traitlets as t

from dashboard.figures.explorer import CURVE_TRACES, confusion_spec, curves_marks, curves_spec
from dashboard.metrics.compare import McNemar, split_constraints, unmet_constraints
from dashboard.metrics.curve import BestThreshold, OperatingPoint, ThresholdCurve
from dashboard.metrics.isof1 import ConfusionRates, confusion_rates
from dashboard.results import Results
from dashboard.widgets.figure import PlotlyFigure
from dashboard.widgets.following import ShownOnly
from dashboard.widgets.format import pct
from dashboard.widgets.kernel_state import LockedBoundedFloatText, LockedFloatSlider
from dashboard.widgets.theme import FONT, MODEL_COLORS, css_color, layout

__all__ = ["ThresholdExplorer"]

#: metrics one can optimise (all maximised)
OBJECTIVES = {"f1": "F1", "fbeta": "F-beta", "accuracy": "accuracy", "precision": "precision",
              "recall": "recall", "specificity": "specificity"}
#: curve metrics one can constrain
CONSTRAINT_METRICS = {"recall": "recall", "precision": "precision", "f1": "F1",
                      "fbeta": "F-beta", "accuracy": "accuracy", "error": "error",
                      "specificity": "specificity", "queue_rate": "queue rate"}
OPERATORS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}
MAX_CONSTRAINTS = 4
MAX_POINTS = 2000

_F = TypeVar("_F", bound=Callable[..., Any])


def _guarded(method: _F) -> _F:
    """Run a callback; if it fails, show the error in the widget instead of the kernel log."""
    @functools.wraps(method)
    def wrapper(self: ThresholdExplorer, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - shown to the user, kept for tests
            self._show_error(exc)
            return None
    return wrapper  # type: ignore[return-value]


def _num(x: float) -> str:
    """A count: integers with separators, weighted counts with one decimal."""
    if not math.isfinite(x):
        return "–"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _thr(x: float) -> str:
    return f"{x:.4g}"


def _describe(constraints: Mapping[str, tuple[str, float]]) -> str:
    names = {**CONSTRAINT_METRICS}
    return ", ".join(f"{names.get(m, m)} {OPERATORS.get(op, op)} {bound:g}"
                     for m, (op, bound) in constraints.items())


#: sent once with the title; tables then carry only class names, so the headline that a
#: slider move rewrites stays small on the wire
_STYLE = (
    "<style>"
    f".mldash-xt{{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums;"
    f"font-family:{FONT}}}"
    ".mldash-xt th,.mldash-xt td{padding:3px 10px;text-align:right;"
    "border-bottom:1px solid rgba(128,128,128,0.25)}"
    ".mldash-xt th{border-bottom-color:rgba(128,128,128,0.6);font-weight:600}"
    ".mldash-xt td:first-child,.mldash-xt th:first-child{text-align:left}"
    ".mldash-xt tr.cur td{font-weight:600}.mldash-xt tr.out td{opacity:0.55}"
    ".mldash-xcap{padding:2px 0 4px;font-weight:600}"
    "</style>"
)


def _table(header: list[str], rows: list[list[str]], *, row_classes: list[str] | None = None,
           caption: str = "") -> str:
    """An HTML table styled by :data:`_STYLE`; cells must already be escaped."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes and row_classes[i] else ""
        cells = "".join(f"<td>{c}</td>" for c in row)
        body.append(f"<tr class='{cls}'>{cells}</tr>" if cls else f"<tr>{cells}</tr>")
    cap = f"<div class='mldash-xcap'>{caption}</div>" if caption else ""
    return f"{cap}<table class='mldash-xt'><tr>{head}</tr>{''.join(body)}</table>"


class ThresholdExplorer(ShownOnly, widgets.VBox):
    """Choose a decision threshold and a model: curves, the PR plane, the confusion matrix and
    "optimise X subject to Y ≥ a, Z ≤ b" over a shared :class:`~dashboard.Results`.

    Parameters
    ----------
    results : Results
        The shared results model. The slider is bound two-way to ``results.threshold``; the
        model and positive-class pickers to ``results.model`` and ``results.positive_class``.
    split : str, optional
        Split whose curve is shown (default ``"dev"``, else the first present).
    overlay : str, optional
        Another split whose curve is drawn dashed on top (``""`` for none).
    optimize : str
        Metric to maximise, one of :data:`OBJECTIVES`.
    constraints : mapping, optional
        ``{metric: (operator, bound)}`` on curve metrics (``"recall": (">=", 0.9)``) or on
        per-model metadata (``"running_time_ms": ("<=", 100)``).
    beta : float
        Beta of the F-beta curve and objective.
    metadata : mapping, optional
        Per-model facts for satisficing constraints; defaults to ``results.metadata``.
    max_points : int
        Most points drawn per curve; the numbers at the current threshold stay exact.

    Results holding hard predictions only have no threshold to choose: the explorer then
    compares models on accuracy under the metadata constraints.
    """

    split = t.Unicode("dev", help="split whose curve is shown")
    overlay = t.Unicode("", help="another split drawn dashed, or '' for none")
    optimize = t.Unicode("f1", help="the metric to maximise")
    constraints = t.Dict(help="{metric: (operator, bound)} on curve metrics or model metadata")
    beta = t.Float(1.0, help="beta of F-beta")

    def __init__(self, results: Results, *, split: str | None = None, overlay: str = "",
                 optimize: str = "f1",
                 constraints: Mapping[str, tuple[str, float]] | None = None,
                 beta: float = 1.0, metadata: Mapping[str, Mapping[str, float]] | None = None,
                 max_points: int = MAX_POINTS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("mldash-explorer")
        self.results = results
        self.metadata: dict[str, dict[str, float]] = {
            str(k): dict(v) for k, v in (results.metadata if metadata is None
                                         else metadata).items()}
        self.max_points = int(max_points)
        self.has_curves = bool(results.has_scores)
        self.multiclass = results.schema.kind == "multiclass_proba"
        # state read by tests and by the headline; set by the refresh steps
        self.curve: ThresholdCurve | None = None
        self.overlay_curve: ThresholdCurve | None = None
        self.point: OperatingPoint | None = None
        self.overlay_point: OperatingPoint | None = None
        self.confusion: ConfusionRates | None = None
        self.best: BestThreshold | None = None
        self.comparison: pd.DataFrame | None = None
        self.mcnemar: tuple[str, str, McNemar] | None = None
        self.resolution: float | None = None
        self.last_error: str | None = None
        self.drawn_points = 0
        self._ready = False
        self._syncing = False
        self._writing_rows = False
        self._compare_cache: dict[tuple, tuple] = {}

        splits = results.splits
        self.split = split or ("dev" if "dev" in splits else splits[0])
        self.overlay = overlay
        self.optimize = optimize if self.has_curves else "accuracy"
        self.beta = float(beta)
        self.constraints = self._normalized(constraints or {})

        self._build_controls()
        self._build_figure()
        self._build_panels()
        self.children = self._layout_children()

        for name in ("threshold", "model", "task", "positive_class", "weighted"):
            results.observe(getattr(self, f"_on_{name}_change"), names=[name])
        self._ready = True
        self._stale = not self.active
        if self.active:
            self._refresh_all()

    # -- building (once) ------------------------------------------------------------------------
    def _build_controls(self) -> None:
        r = self.results
        def box(width: str, shown: bool = True) -> widgets.Layout:
            return widgets.Layout(width=width, display=None if shown else "none")

        self._split_picker = widgets.Dropdown(options=list(r.splits), value=self.split,
                                              description="split", layout=box("170px"))
        self._overlay_picker = widgets.Dropdown(
            options=[("none", "")] + [(s, s) for s in r.splits], value=self.overlay,
            description="overlay", layout=box("190px"))
        self._model_picker = widgets.Dropdown(options=list(r.models), value=r.model,
                                              description="model",  # none for a lone model
                                              layout=box("190px", len(r.models) > 1))
        self._class_picker = widgets.Dropdown(
            options=[(r.class_name(c), c) for c in r.classes], value=r.positive_class,
            description="positive class", layout=box("230px", self.multiclass))
        self._weighted_box = widgets.Checkbox(
            value=bool(r.weighted), description="weighted", indent=False,
            layout=widgets.Layout(width="auto",
                                  display=None if r.schema.has_weight else "none"))
        self._beta_box = LockedBoundedFloatText(value=self.beta, min=0.05, max=20.0, step=0.5,
                                                  description="F-beta β",
                                                  layout=widgets.Layout(width="150px"))
        for w in (self._split_picker, self._overlay_picker, self._model_picker,
                  self._class_picker, self._beta_box):
            w.style.description_width = "initial"
        t.link((self._split_picker, "value"), (self, "split"))
        t.link((self._overlay_picker, "value"), (self, "overlay"))
        t.link((self._beta_box, "value"), (self, "beta"))
        self._model_picker.observe(self._on_model_picker_value_change, names="value")
        self._class_picker.observe(self._on_class_picker_value_change, names="value")
        self._weighted_box.observe(self._on_weighted_box_value_change, names="value")

        lo, hi = r.score_range
        step = 0.001 if r.schema.probabilities else _nice_step((hi - lo) / 1000)
        value = min(max(r.threshold, lo), hi)
        # a move is a binary search and a marker: cheap enough to follow the drag
        self._slider = LockedFloatSlider(
            value=value, min=lo, max=hi, step=step, description="threshold",
            continuous_update=True, readout=True,
            readout_format=".3f" if r.schema.probabilities else ".4g",
            layout=widgets.Layout(width="460px",
                                  display=None if self.has_curves else "none"))
        self._slider.style.description_width = "initial"
        self._slider.observe(self._on_slider_value_change, names="value")
        self._jump = widgets.Button(description="Jump to best", icon="crosshairs",
                                    tooltip="set the threshold to the best one under the "
                                            "constraints", disabled=True,
                                    layout=widgets.Layout(
                                        width="auto",
                                        display=None if self.has_curves else "none"))
        self._jump.on_click(self._on_jump_click)

        # objective and constraints
        objectives = OBJECTIVES if self.has_curves else {"accuracy": "accuracy"}
        self._objective = widgets.Dropdown(options=[(v, k) for k, v in objectives.items()],
                                           value=self.optimize, description="optimise",
                                           layout=box("200px"))
        self._objective.style.description_width = "initial"
        t.link((self._objective, "value"), (self, "optimize"))
        meta_keys = sorted({k for row in self.metadata.values() for k in row})
        metric_options = ([(v, k) for k, v in CONSTRAINT_METRICS.items()]
                          if self.has_curves else [])
        metric_options += [(k, k) for k in meta_keys]
        self._constraint_rows: list[tuple[widgets.HBox, widgets.Dropdown, widgets.Dropdown,
                                          widgets.FloatText]] = []
        for _ in range(MAX_CONSTRAINTS):
            metric = widgets.Dropdown(options=metric_options or [("—", "")],
                                      layout=widgets.Layout(width="170px"))
            op = widgets.Dropdown(options=[(v, k) for k, v in OPERATORS.items()],
                                  layout=widgets.Layout(width="60px"))
            bound = widgets.FloatText(value=0.9, layout=widgets.Layout(width="90px"))
            remove = widgets.Button(description="✕", tooltip="remove this constraint",
                                    layout=widgets.Layout(width="36px"))
            row = widgets.HBox([widgets.HTML("subject to"), metric, op, bound, remove],
                               layout=widgets.Layout(display="none", align_items="center"))
            for w in (metric, op, bound):
                w.observe(self._on_constraint_edit, names="value")
            remove.on_click(functools.partial(self._on_remove_click, len(self._constraint_rows)))
            self._constraint_rows.append((row, metric, op, bound))
        self._add = widgets.Button(description="add constraint", icon="plus",
                                   layout=widgets.Layout(width="auto"),
                                   disabled=not metric_options)
        self._add.on_click(self._on_add_click)
        self._write_rows(self.constraints)

    def _build_figure(self) -> None:
        """Two figure widgets: the curves (with per-move marks) and the confusion matrix."""
        self.figure = PlotlyFigure(layout=widgets.Layout(
            flex="3 1 560px", min_width="0", display=None if self.has_curves else "none"))
        self.confusion_figure = PlotlyFigure(layout=widgets.Layout(
            flex="1 1 300px", min_width="0", display=None if self.has_curves else "none"))
        self.figure.add_class("mldash-curves")
        self.confusion_figure.add_class("mldash-confusion")

    @property
    def traces(self) -> dict[str, dict[str, Any]]:
        """The drawn traces by role (:data:`CURVE_TRACES`, plus ``"confusion"``), plain dicts."""
        data = self.figure.figure.get("data", [])
        out = dict(zip(CURVE_TRACES, data, strict=False))
        confusion = self.confusion_figure.figure.get("data", [])
        if confusion:
            out["confusion"] = confusion[0]
        return out

    def _build_panels(self) -> None:
        self._title = widgets.HTML(f"{_STYLE}<h3 style='margin:4px 0'>Threshold explorer · "
                                   f"{html.escape(self.results.name)}</h3>")
        self._headline = widgets.HTML()
        self._best_html = widgets.HTML()
        self._compare_html = widgets.HTML()
        self._use_chosen = widgets.Button(description="Show chosen model", icon="check",
                                          tooltip="select the chosen model at its best "
                                                  "threshold",
                                          layout=widgets.Layout(width="auto"), disabled=True)
        self._use_chosen.on_click(self._on_use_chosen_click)
        self._classes_html = widgets.HTML(layout=widgets.Layout(
            display=None if self.results.schema.multiclass else "none"))
        self._status = widgets.HTML()
        self._status.add_class("mldash-status")

    def _layout_children(self) -> tuple[widgets.Widget, ...]:
        controls = widgets.HBox([self._split_picker, self._overlay_picker, self._model_picker,
                                 self._class_picker, self._weighted_box, self._beta_box],
                                layout=widgets.Layout(flex_flow="row wrap",
                                                      align_items="center"))
        slider_row = widgets.HBox([self._slider, self._jump],
                                  layout=widgets.Layout(align_items="center"))
        objective = widgets.VBox(
            [widgets.HBox([self._objective, self._add],
                          layout=widgets.Layout(align_items="center")),
             *[row for row, *_ in self._constraint_rows], self._best_html])
        objective.add_class("mldash-secondary")
        for w in (self._split_picker, self._overlay_picker, self._weighted_box, self._beta_box):
            w.add_class("mldash-secondary")
        compare = widgets.VBox([self._compare_html, self._use_chosen],
                               layout=widgets.Layout(margin="0 0 0 24px",
                                                     align_items="flex-start"))
        figures = widgets.HBox([self.figure, self.confusion_figure],
                               layout=widgets.Layout(flex_flow="row wrap", width="100%",
                                                     align_items="flex-start"))
        return (self._title, controls, slider_row, self._headline, figures,
                widgets.HBox([objective, compare],
                             layout=widgets.Layout(flex_flow="row wrap",
                                                   align_items="flex-start")),
                self._classes_html, self._status)

    # -- refresh steps ----------------------------------------------------------------------------
    def _refresh_all(self) -> None:
        self._refresh_curves()
        self._refresh_best()
        self._refresh_compare()
        self._refresh_classes()

    @_guarded
    def _refresh_curves(self) -> None:
        """Draw the split's (and the overlay's) curves: once per split/model/class/beta."""
        if not self.has_curves:
            self._clear_error()
            self._refresh_point()
            return
        r = self.results
        try:
            self.curve = r.curve(self.split)
        except Exception:
            self.curve = self.overlay_curve = None
            self._clear_curves()
            self._refresh_point()
            raise
        self.overlay_curve = None
        overlay_error = None
        if self.overlay and self.overlay != self.split:
            try:
                self.overlay_curve = r.curve(self.overlay)
            except Exception as exc:  # the main curve still shows
                overlay_error = exc
        self.figure.show(curves_spec(r, self.split,
                                     overlay=self.overlay if self.overlay_curve else "",
                                     beta=self.beta, max_points=self.max_points))
        self.drawn_points = len(self.traces["f1"]["x"])
        if overlay_error is not None:
            self._show_error(overlay_error)
        else:
            self._clear_error()
        self._refresh_point()

    def _clear_curves(self) -> None:
        self.figure.show({"data": [], "layout": layout(height=120, annotations=[
            {"text": "No curve to draw for this split (see the message above).",
             "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}],
            xaxis={"visible": False}, yaxis={"visible": False})})
        self.confusion_figure.show(confusion_spec(None, self._class_names()))

    def _refresh_point(self) -> None:
        """The cheap path of a threshold move: binary searches, then one batched update."""
        if self.curve is None:  # hard predictions, or a split without a curve (see status)
            self.point = self.overlay_point = self.confusion = None
            self._headline.value = "" if self.has_curves else self._prediction_headline()
            self._mark()
            return
        thr = self.results.threshold
        beta = self.beta
        pt = self.curve.at(thr, beta)
        self.point = pt
        self.overlay_point = (self.overlay_curve.at(thr, beta)
                              if self.overlay_curve is not None else None)
        self.confusion = confusion_rates(pt.tp, pt.fp, pt.fn, pt.tn)
        # only what marks the threshold moves: a 2-point line, a few markers, 4 cells
        self._mark()
        self.confusion_figure.show(confusion_spec(pt, self._class_names()))
        headline = self._headline_html()
        if self._headline.value != headline:
            self._headline.value = headline

    @_guarded
    def _refresh_best(self) -> None:
        """The best threshold of the current model under the objective and constraints."""
        r = self.results
        curve_c, meta_c = split_constraints(self.constraints, self.metadata)
        self.best = None
        if self.has_curves and self.curve is not None:
            self.best = r.best_threshold(self.split, self.optimize, curve_c, beta=self.beta)
        unmet = unmet_constraints(self.metadata.get(r.model, {}), meta_c)
        self._mark()
        self._jump.disabled = self.best is None
        self._best_html.value = self._best_text(curve_c, meta_c, unmet)

    def _mark(self) -> None:
        """Send the marks: the current operating point and the best threshold."""
        if self.has_curves:
            self.figure.mark(curves_marks(self.point, self.best, beta=self.beta))

    @_guarded
    def _refresh_compare(self) -> None:
        """Each model's best operating point, the chosen one, McNemar and the resolution."""
        r = self.results
        key = (r.task, self.split, self.optimize, tuple(sorted(self.constraints.items())),
               self.beta, str(r.positive_class), bool(r.weighted))  # each task its own table
        if key not in self._compare_cache:
            table = r.compare_models(self.split, self.optimize, self.constraints,
                                     metadata=self.metadata, beta=self.beta)
            self._compare_cache[key] = (table, table.attrs.get("mcnemar"),
                                        table.attrs.get("resolution"))
        self.comparison, self.mcnemar, self.resolution = self._compare_cache[key]
        chosen = self.comparison.attrs.get("chosen")
        self._use_chosen.disabled = chosen is None
        self._compare_html.value = self._compare_text()

    @_guarded
    def _refresh_classes(self) -> None:
        """Per-class and macro/micro F1 of the argmax predictions (multiclass only)."""
        r = self.results
        if not r.schema.multiclass:
            return
        cf = r.class_f1(self.split)
        rows, styles = [], []
        for i, c in enumerate(cf.classes):
            rows.append([html.escape(r.class_name(c)), pct(cf.precision[i]), pct(cf.recall[i]),
                         pct(cf.f1[i]), f"{cf.support[i]:,}"])
            styles.append("cur" if str(c) == str(r.positive_class) else "")
        caption = (f"All classes, argmax prediction on {html.escape(self.split)}: "
                   f"macro F1 <b>{pct(cf.macro_f1)}</b> · micro F1 <b>{pct(cf.micro_f1)}</b>")
        self._classes_html.value = _table(["class", "precision", "recall", "F1", "support"],
                                          rows, row_classes=styles, caption=caption)

    # -- text -------------------------------------------------------------------------------------
    def _class_names(self) -> tuple[str, str]:
        return self.results.confusion_classes()

    def _headline_html(self) -> str:
        pt = self.point
        assert pt is not None
        beta = self.beta
        header = ["split", "threshold", "precision", "recall", "F1"]
        if beta != 1.0:
            header.append(f"F{beta:g}")
        header += ["accuracy", "queue rate", "flagged"]
        rows = []
        for split, p in ((self.split, pt), (self.overlay, self.overlay_point)):
            if p is None:
                continue
            row = [f"<b>{html.escape(split)}</b>", _thr(p.threshold), pct(p.precision),
                   pct(p.recall), f"<b>{pct(p.f1)}</b>"]
            if beta != 1.0:
                row.append(pct(p.fbeta))
            row += [pct(p.accuracy), pct(p.queue_rate), f"{_num(p.tp + p.fp)} of {_num(p.n)}"]
            rows.append(row)
        neg, pos = self._class_names()
        what = (f"class {html.escape(pos)} vs rest" if self.multiclass
                else f"positive class {html.escape(pos)}")
        weighted = " · weighted" if self.results.weighted else ""
        shown = self.results.model_shown
        caption = ((f"Model {html.escape(shown)} · " if shown else "") + f"{what}{weighted} · "
                   "predicted positive iff score ≥ threshold")
        return _table(header, rows, caption=caption)

    def _prediction_headline(self) -> str:
        return ("<p>These results hold hard predictions only: there is no threshold to choose, "
                "but models can still be compared below.</p>")

    def _best_text(self, curve_c: Mapping[str, tuple[str, float]],
                   meta_c: Mapping[str, tuple[str, float]], unmet: tuple[str, ...]) -> str:
        r = self.results
        goal = OBJECTIVES.get(self.optimize, self.optimize)
        if self.optimize == "fbeta":
            goal = f"F{self.beta:g}"
        cons = _describe(self.constraints)
        subject = f" subject to {html.escape(cons)}" if cons else ""
        model = f"model {html.escape(r.model_shown)}" if r.model_shown else "the model"
        parts = [f"<b>Maximise {html.escape(goal)}</b>{subject} on "
                 f"{html.escape(self.split)}."]
        if self.has_curves:
            b = self.best
            if b is None:
                parts.append(f"No threshold of {model} meets "
                             f"{html.escape(_describe(curve_c))}.")
            else:
                parts.append(
                    f"{model[0].upper()}{model[1:]}: best threshold <b>{_thr(b.threshold)}</b> → "
                    f"{html.escape(goal)} <b>{pct(b.value)}</b> (precision "
                    f"{pct(b.precision)}, recall {pct(b.recall)}, queue rate "
                    f"{pct(b.queue_rate)}); {b.feasible:,} of {b.candidates:,} thresholds meet "
                    "the constraints.")
        if unmet:
            facts = ", ".join(f"{html.escape(k)} = {self.metadata.get(r.model, {}).get(k, '?')}"
                              for k in unmet)
            parts.append(f"<span style='color:{css_color('avoidable_bias')}'>"
                         f"{model[0].upper()}{model[1:]} fails "
                         f"{html.escape(_describe({k: meta_c[k] for k in unmet}))} "
                         f"({facts}).</span>")
        return "<div style='max-width:520px;line-height:1.5'>" + " ".join(parts) + "</div>"

    def _compare_text(self) -> str:
        table = self.comparison
        assert table is not None
        r = self.results
        chosen = table.attrs.get("chosen")
        _, meta_c = split_constraints(self.constraints, self.metadata)
        meta_cols = [c for c in sorted({k for row in self.metadata.values() for k in row})
                     if c in table.columns]
        goal = f"F{self.beta:g}" if self.optimize == "fbeta" else OBJECTIVES.get(
            self.optimize, self.optimize)
        # hard predictions have one operating point each, ranked by the objective too
        metric_cols = ["precision", "recall", "f1", "accuracy"]
        if self.optimize not in metric_cols:  # F-beta, specificity: the objective's own column
            metric_cols.insert(0, "value")
        shown = {"value": goal, "f1": "F1"}
        header = ["model", *map(html.escape, meta_cols)]
        if self.has_curves:
            header.append("threshold")
        for c in metric_cols:
            label = html.escape(shown.get(c, c))
            is_goal = c == "value" or c == self.optimize
            header.append(f"<u title='maximised'>{label}</u>" if is_goal else label)
        header.append("meets")
        rows, styles = [], []
        for m in table.index:
            row_t = table.loc[m]
            feasible = bool(row_t.get("feasible", False))
            unmet = unmet_constraints(self.metadata.get(m, {}), meta_c)
            ok = feasible and not unmet
            mark = " ✓ chosen" if m == chosen else ""
            color = MODEL_COLORS[list(r.models).index(m) % len(MODEL_COLORS)]
            label = html.escape(str(m)) if r.model_shown else "the model"
            name = (f"<span style='color:{color}'>●</span> <b>{label}</b>"
                    f"<span style='color:{css_color('negative_gap')}'>{mark}</span>")
            cells = [name]
            for c in meta_cols:
                v = row_t.get(c)
                cells.append("–" if v is None or pd.isna(v) else html.escape(f"{v:g}"))
            if self.has_curves:
                cells.append(_thr(row_t["threshold"]) if feasible else "–")
            for c in metric_cols:
                cells.append(pct(float(row_t[c])) if feasible else "–")
            why = ("no threshold meets the constraints" if not feasible
                   else "fails " + ", ".join(unmet) if unmet else "yes")
            cells.append(html.escape(why))
            rows.append(cells)
            styles.append(" ".join(c for c in ("cur" if m == r.model else "",
                                               "" if ok else "out") if c))
        cons = _describe(self.constraints)
        caption = (f"Models on {html.escape(self.split)}: maximise {html.escape(goal)}"
                   + (f" subject to {html.escape(cons)}" if cons else ""))
        out = [_table(header, rows, row_classes=styles, caption=caption)]
        if chosen is None:
            out.append("<p>No model meets every constraint.</p>")
        out.append(self._significance_text())
        return "<div>" + "".join(out) + "</div>"

    def _significance_text(self) -> str:
        split = html.escape(self.split)
        res = self.resolution
        res_text = (f"This {split} set's resolution is <b>±{pct(res, 2)}</b> of error: the "
                    "smallest difference between two models it can detect (95%)."
                    if res is not None and math.isfinite(res) else "")
        if self.mcnemar is None:
            return f"<p style='max-width:560px'>{res_text}</p>"
        a, b, mc = self.mcnemar
        table = self.comparison
        assert table is not None
        diff = abs(float(table.loc[a, "error"]) - float(table.loc[b, "error"]))
        verdict = ("<b style='color:{}'>significant</b>".format(css_color("negative_gap"))
                   if mc.significant() else "<b>not significant</b>")
        below = (" The error difference is below the resolution: the dev set cannot tell them "
                 "apart." if res is not None and diff < res else "")
        return ("<p style='max-width:560px;line-height:1.5'>"
                f"Top two, {html.escape(a)} vs {html.escape(b)}, each at its best threshold on "
                f"the same {split} examples: {html.escape(a)} alone wrong on "
                f"{mc.only_a_wrong:,}, {html.escape(b)} alone wrong on {mc.only_b_wrong:,}; "
                f"exact McNemar p = {mc.p_value:.3g}, {verdict} at 5%. Error difference "
                f"{pct(diff, 2)}. {res_text}{below}</p>")

    # -- errors -----------------------------------------------------------------------------------
    def _show_error(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._status.value = (f"<div role='alert' style='color:{css_color('avoidable_bias')};"
                              f"padding:4px 0'>⚠ {html.escape(str(exc))}</div>")

    def _clear_error(self) -> None:
        if self._status.value:
            self._status.value = ""
        self.last_error = None

    # -- constraint rows <-> the constraints trait ----------------------------------------------
    def _normalized(self, constraints: Mapping[str, Any]) -> dict[str, tuple[str, float]]:
        out = {}
        for metric, spec in constraints.items():
            op, bound = spec
            if op not in OPERATORS:
                raise ValueError(f"constraint on {metric!r}: operator {op!r} is not one of "
                                 f"{', '.join(OPERATORS)}")
            out[str(metric)] = (str(op), float(bound))
        return out

    def _write_rows(self, constraints: Mapping[str, tuple[str, float]]) -> None:
        self._writing_rows = True
        try:
            items = list(constraints.items())
            for i, (row, metric, op, bound) in enumerate(self._constraint_rows):
                if i < len(items):
                    name, (o, b) = items[i]
                    options = [v for _, v in metric.options]
                    if name not in options:
                        metric.options = [*metric.options, (name, name)]
                    metric.value, op.value, bound.value = name, o, b
                    row.layout.display = None
                else:
                    row.layout.display = "none"
        finally:
            self._writing_rows = False
        self._add.disabled = len(constraints) >= MAX_CONSTRAINTS

    def _read_rows(self) -> dict[str, tuple[str, float]]:
        out: dict[str, tuple[str, float]] = {}
        for row, metric, op, bound in self._constraint_rows:
            if row.layout.display != "none" and metric.value:
                out[metric.value] = (op.value, float(bound.value))
        return out

    def _on_constraint_edit(self, change: dict) -> None:
        if self._writing_rows:
            return
        new = self._read_rows()
        if new != self.constraints:
            self.constraints = new

    def _on_add_click(self, _button: widgets.Button) -> None:
        used = set(self.constraints)
        for row, metric, op, bound in self._constraint_rows:
            if row.layout.display == "none":
                free = [v for _, v in metric.options if v and v not in used]
                if not free:
                    return
                self._writing_rows = True
                try:
                    metric.value = free[0]
                    op.value = ">="
                    bound.value = 0.9 if free[0] in CONSTRAINT_METRICS else 0.0
                    row.layout.display = None
                finally:
                    self._writing_rows = False
                self._on_constraint_edit({})
                return

    def _on_remove_click(self, index: int, _button: widgets.Button) -> None:
        row = self._constraint_rows[index][0]
        row.layout.display = "none"
        self.constraints = self._read_rows()

    # -- observers: the explorer's own traits ---------------------------------------------------
    @t.validate("split", "overlay")
    def _valid_split(self, proposal: t.Bunch) -> str:
        value = str(proposal.value)
        allowed = self.results.splits if proposal.trait.name == "split" else (
            "", *self.results.splits)
        if value not in allowed:
            raise t.TraitError(f"unknown split {value!r}; the results hold "
                               f"{', '.join(map(repr, self.results.splits))}")
        return value

    @t.validate("optimize")
    def _valid_optimize(self, proposal: t.Bunch) -> str:
        allowed = OBJECTIVES if self.results.has_scores else {"accuracy": "accuracy"}
        if proposal.value not in allowed:
            raise t.TraitError(f"cannot optimise {proposal.value!r}; choose one of "
                               f"{', '.join(allowed)}")
        return proposal.value

    @t.validate("beta")
    def _valid_beta(self, proposal: t.Bunch) -> float:
        value = float(proposal.value)
        if not (math.isfinite(value) and value > 0):
            raise t.TraitError(f"beta must be a positive number, got {value}")
        return value

    @t.validate("constraints")
    def _valid_constraints(self, proposal: t.Bunch) -> dict:
        return self._normalized(proposal.value)

    @t.observe("constraints")
    def _on_constraints_change(self, change: dict) -> None:
        if not self._ready:
            return
        if self._read_rows() != change["new"]:
            self._write_rows(change["new"])
        self._refresh_best()
        self._refresh_compare()

    @t.observe("optimize")
    def _on_optimize_change(self, change: dict) -> None:
        if self._ready:
            self._refresh_best()
            self._refresh_compare()

    @t.observe("split")
    def _on_split_change(self, change: dict) -> None:
        if self._ready:
            self._refresh_all()

    @t.observe("overlay")
    def _on_overlay_change(self, change: dict) -> None:
        if self._ready:
            self._refresh_curves()

    @t.observe("beta")
    def _on_beta_change(self, change: dict) -> None:
        if self._ready:
            self._refresh_curves()
            self._refresh_best()
            self._refresh_compare()

    # -- following while shown -------------------------------------------------------------------
    def _hidden(self) -> bool:
        """Whether a change of the shared state waits for the explorer to be shown (``active``,
        :class:`ShownOnly`); it is then marked stale."""
        if self.active:
            return False
        self._stale = True
        return True

    @_guarded
    def refresh(self) -> None:
        """Shown after changes made while hidden: the controls and every panel, once."""
        r = self.results
        self._stale = False
        if self._model_picker.value != r.model:
            self._model_picker.value = r.model
        if r.positive_class in self._class_picker.options and \
                self._class_picker.value != r.positive_class:
            self._class_picker.value = r.positive_class
        if self._weighted_box.value != r.weighted:
            self._weighted_box.value = r.weighted
        self._sync_slider(float(r.threshold))
        self._refresh_all()

    # -- observers: the shared results model ------------------------------------------------------
    @_guarded
    def _on_threshold_change(self, change: dict) -> None:
        if self._hidden():
            return
        self._sync_slider(float(change["new"]))
        self._refresh_point()

    def _sync_slider(self, thr: float) -> None:
        """Put the slider at the shared threshold (widening its range to reach it)."""
        if self._slider.value != thr:
            self._syncing = True
            try:
                with self._slider.hold_sync():
                    if thr < self._slider.min:
                        self._slider.min = thr
                    if thr > self._slider.max:
                        self._slider.max = thr
                    self._slider.value = thr
            finally:
                self._syncing = False

    def _on_model_change(self, change: dict) -> None:
        if self._hidden():
            return
        if self._model_picker.value != change["new"]:
            self._model_picker.value = change["new"]
        self._refresh_curves()
        self._refresh_best()
        self._refresh_compare()
        self._refresh_classes()

    def _on_task_change(self, change: dict) -> None:
        """Another task of multi-task results: its own curves and operating point."""
        if self._hidden():
            return
        self._refresh_all()

    def _on_positive_class_change(self, change: dict) -> None:
        if self._hidden():
            return
        if self._class_picker.value != change["new"]:
            self._class_picker.value = change["new"]
        self._refresh_all()

    def _on_weighted_change(self, change: dict) -> None:
        if self._hidden():
            return
        if self._weighted_box.value != change["new"]:
            self._weighted_box.value = change["new"]
        self._refresh_all()

    # -- observers: the explorer's own controls ----------------------------------------------------
    @_guarded
    def _on_slider_value_change(self, change: dict) -> None:
        if self._syncing:
            return
        # the browser sends a step with binary float noise (0.5740000000000001): drop the
        # noise so the threshold is the one the page shows (a deliberate value is kept)
        value = float(change["new"])
        step = float(self._slider.step) or 1e-3
        snapped = round(value, max(0, -math.floor(math.log10(step)) + 1))
        if abs(snapped - value) <= 1e-12 * abs(value):
            value = snapped
        if value != self.results.threshold:
            self.results.threshold = value

    @_guarded
    def _on_model_picker_value_change(self, change: dict) -> None:
        if change["new"] != self.results.model:
            self.results.model = change["new"]

    @_guarded
    def _on_class_picker_value_change(self, change: dict) -> None:
        if str(change["new"]) != str(self.results.positive_class):
            self.results.positive_class = change["new"]

    @_guarded
    def _on_weighted_box_value_change(self, change: dict) -> None:
        if bool(change["new"]) != self.results.weighted:
            self.results.weighted = bool(change["new"])

    @_guarded
    def _on_jump_click(self, _button: widgets.Button | None = None) -> None:
        """Set the shared threshold to the best one under the constraints."""
        if self.best is not None:
            self.results.threshold = float(self.best.threshold)

    def jump_to_best(self) -> None:
        """Set ``results.threshold`` to the best threshold under the objective and constraints."""
        self._on_jump_click()

    @_guarded
    def _on_use_chosen_click(self, _button: widgets.Button | None = None) -> None:
        """Select the chosen model and move the threshold to its best operating point."""
        table = self.comparison
        chosen = None if table is None else table.attrs.get("chosen")
        if chosen is None:
            return
        with self.results.hold_trait_notifications():
            self.results.model = chosen
            thr = table.loc[chosen].get("threshold") if self.has_curves else None
            if thr is not None and math.isfinite(float(thr)):
                self.results.threshold = float(thr)

    def show_chosen(self) -> None:
        """Select the comparison's chosen model at its best threshold."""
        self._on_use_chosen_click()

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        for name in ("threshold", "model", "task", "positive_class", "weighted"):
            with contextlib.suppress(ValueError):
                self.results.unobserve(getattr(self, f"_on_{name}_change"), names=[name])
        super().close()


def _nice_step(raw: float) -> float:
    """A round slider step near ``raw`` (1, 2 or 5 times a power of ten)."""
    if not raw > 0 or not math.isfinite(raw):
        return 0.001
    exp = math.floor(math.log10(raw))
    base = raw / 10 ** exp
    nice = 1 if base < 1.5 else 2 if base < 3.5 else 5 if base < 7.5 else 10
    return nice * 10 ** exp
