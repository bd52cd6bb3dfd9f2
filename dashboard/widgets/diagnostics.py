"""Views of issue 24: mismatch drivers under the waterfall; ROC, reliability diagram and dev-set
resolution under the threshold explorer.

Each view holds figure widgets and text only; every number comes from the results model and
every spec from :mod:`dashboard.figures.diagnostics`. A threshold move changes only the ROC's
marked point (a mark, not a new spec) and the mismatch costs.
"""

from __future__ import annotations

import html
import math
from typing import Any

import ipywidgets as widgets
import traitlets as t

from dashboard.errors import DashboardError
from dashboard.figures.diagnostics import (
    calibration_spec,
    mismatch_note,
    mismatch_spec,
    resolution_text,
    roc_marks,
    roc_spec,
)
from dashboard.results import Results
from dashboard.widgets.figure import PlotlyFigure
from dashboard.widgets.following import FollowingView

__all__ = ["CurveDiagnostics", "MismatchView"]


def _alert(exc: BaseException) -> str:
    return f"<div role='alert' style='font-size:13px'>⚠ {html.escape(str(exc))}</div>"


class MismatchView(FollowingView):
    """Which metadata columns differ between train and dev, and what the shift costs."""

    def __init__(self, results: Results, **kwargs: Any) -> None:
        super().__init__(results, **kwargs)
        self.add_class("mldash-mismatch")
        self.title = widgets.HTML("<h4 style='margin:10px 0 2px 0'>Mismatch drivers: how "
                                  "train differs from dev</h4>")
        self.figure = PlotlyFigure(layout=widgets.Layout(width="100%"))
        self.figure.add_class("mldash-mismatch-figure")
        self.note = widgets.HTML()
        self.status = widgets.HTML()
        self.children = (self.title, self.figure, self.note, self.status)
        self._first_draw()

    def refresh(self) -> None:
        """Draw the current model's drivers; hide the view when the results cannot say."""
        try:
            spec = mismatch_spec(self.results)
        except DashboardError as exc:
            self.status.value = _alert(exc)
            return
        self.layout.display = None if spec is not None else "none"
        if spec is not None:
            self.figure.show(spec)
            self.note.value = (f"<p style='font-size:12px;opacity:0.85;max-width:760px'>"
                               f"{html.escape(mismatch_note(self.results))}</p>")
        self.status.value = ""
        self._stale = False


class CurveDiagnostics(FollowingView):
    """The ROC curve (current threshold marked) and the reliability diagram of the explorer's
    split, and the dev set's resolution beside the model comparison, with a box to type the
    error difference one wants to see."""

    split = t.Unicode("dev", help="the split drawn (linked to the explorer's)")
    difference = t.Float(0.5, help="error difference to detect, in percentage points")

    def __init__(self, results: Results, *, split: str | None = None,
                 explorer: Any = None, **kwargs: Any) -> None:
        super().__init__(results, **kwargs)
        self.add_class("mldash-diagnostics")
        self.explorer = explorer
        splits = results.splits
        self.split = split or ("dev" if "dev" in splits else splits[0])
        self.roc_figure = PlotlyFigure(layout=widgets.Layout(flex="1 1 380px", min_width="0"))
        self.roc_figure.add_class("mldash-roc")
        self.calibration_figure = PlotlyFigure(layout=widgets.Layout(flex="1 1 380px",
                                                                     min_width="0"))
        self.calibration_figure.add_class("mldash-calibration")
        self.figures = widgets.HBox([self.roc_figure, self.calibration_figure],
                                    layout=widgets.Layout(flex_flow="row wrap", width="100%"))
        self.difference_box = widgets.BoundedFloatText(
            value=self.difference, min=0.01, max=100.0, step=0.1,
            description="difference to see (pp)", style={"description_width": "initial"},
            layout=widgets.Layout(width="240px"))
        self.difference_box.add_class("mldash-resolution-input")
        t.link((self.difference_box, "value"), (self, "difference"))
        self.resolution = widgets.HTML()
        self.resolution.add_class("mldash-resolution")
        self.resolution_row = widgets.VBox([self.resolution, self.difference_box])
        self.status = widgets.HTML()
        self.children = (self.figures, self.resolution_row, self.status)
        # the curves also depend on the positive class (one-vs-rest when multiclass)
        results.observe(self._on_results_change, names=["positive_class"])
        if explorer is not None:
            t.dlink((explorer, "split"), (self, "split"))
            explorer.observe(self._on_explorer_change, names=["optimize", "constraints",
                                                              "beta"])
        self._first_draw()

    # -- drawing ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw both figures and the resolution sentence."""
        r, errors = self.results, []
        self._draw(self.roc_figure, lambda: roc_spec(r, self.split), errors)
        self._mark()  # the marks override the spec's point: keep them current
        self._draw(self.calibration_figure, lambda: calibration_spec(r, self.split), errors,
                   skip=r.scale(r.model) != "probability")
        self._write_resolution()
        self.status.value = "".join(errors)
        self._stale = False

    def _draw(self, figure: PlotlyFigure, build: Any, errors: list[str], *,
              skip: bool = False) -> None:
        if not self.results.has_scores or skip:
            figure.layout.display = "none"
            return
        try:
            figure.show(build())
        except DashboardError as exc:
            figure.layout.display = "none"
            errors.append(_alert(exc))
            return
        figure.layout.display = None

    def _write_resolution(self) -> None:
        r = self.results
        models = thresholds = None
        explorer = self.explorer
        mc = getattr(explorer, "mcnemar", None)
        table = getattr(explorer, "comparison", None)
        if mc is not None and table is not None:
            a, b, _ = mc
            models = (a, b)
            if r.has_scores:
                thresholds = (float(table.loc[a, "threshold"]), float(table.loc[b, "threshold"]))
        diff = self.difference / 100 if math.isfinite(self.difference) else None
        text = resolution_text(r, self.split, models=models, thresholds=thresholds,
                               difference=diff)
        self.resolution_row.layout.display = None if text else "none"
        value = (f"<p style='max-width:760px;line-height:1.5;margin:6px 0'>"
                 f"<b>Dev-set resolution.</b> {html.escape(text)}</p>") if text else ""
        if self.resolution.value != value:
            self.resolution.value = value

    # -- observers ------------------------------------------------------------------------------
    def _on_results_change(self, change: dict) -> None:
        if change.get("name") == "threshold" and self.active and not self._stale:
            self._mark()  # a threshold move: the ROC's point, and the resolution at it
            self._write_resolution()
            return
        super()._on_results_change(change)

    def _mark(self) -> None:
        if self.results.has_scores and self.roc_figure.layout.display != "none":
            try:
                self.roc_figure.mark(roc_marks(self.results, self.split))
            except DashboardError as exc:
                self.status.value = _alert(exc)

    @t.observe("split")
    def _on_split_change(self, change: dict) -> None:
        if getattr(self, "status", None) is not None:
            self.refresh()

    @t.observe("difference")
    def _on_difference_change(self, change: dict) -> None:
        if getattr(self, "status", None) is not None:
            self._write_resolution()

    def _on_explorer_change(self, change: dict) -> None:
        if self.active:
            self._write_resolution()
        else:
            self._stale = True

    def close(self) -> None:
        self.results.unobserve(self._on_results_change, names=["positive_class"])
        if self.explorer is not None:
            self.explorer.unobserve(self._on_explorer_change,
                                    names=["optimize", "constraints", "beta"])
        super().close()
