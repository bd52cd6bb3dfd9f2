"""The gap waterfall: the walk from human level to test error, and what to do about it.

``GapWaterfall(results)`` draws each split's error as a bar (with its 95% interval) and each gap
between consecutive splits (avoidable bias, variance, data mismatch, dev overfitting) as a
floating step, names the focus gap(s) in a headline and lists the tactics for each. It observes
the shared :class:`~dashboard.results.Results` (threshold, model, human reference, weighting) and
hands a new spec (``dashboard.figures.waterfall``) to its figure widget; every number comes from
``Results.error_rates`` / ``Results.gaps`` or from :mod:`dashboard.metrics`.
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import ipywidgets as widgets

from dashboard.figures.diagnostics import mismatch_advice
from dashboard.figures.waterfall import (
    TRACE_NAMES,
    Walk,
    spec_from_walks,
    walk,
    with_headline,
)
from dashboard.metrics.formulation import (
    COLUMNS,
    ROWS,
    Formulation,
    general_formulation,
    split_references,
)
from dashboard.metrics.gaps import GapReport
from dashboard.results import Results
from dashboard.widgets import theme
from dashboard.widgets.figure import PlotlyFigure
from dashboard.widgets.following import ShownOnly
from dashboard.widgets.format import pct, pp

__all__ = ["GapWaterfall", "TRACE_NAMES"]

class GapWaterfall(ShownOnly, widgets.VBox):
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
        self._stale = False
        self._views: tuple[Walk, Walk | None] | None = None

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
        self.reference_picker.add_class("mldash-secondary")
        self.weighted_toggle.add_class("mldash-secondary")

        self.headline = widgets.HTML()
        self.headline.add_class("mldash-waterfall-headline")
        self.height = height
        self.figure = PlotlyFigure()
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
        results.observe(self._on_task_change, names="task")
        results.observe(self._on_human_reference_change, names="human_reference")
        results.observe(self._on_weighted_change, names="weighted")
        self.refresh()

    # -- public --------------------------------------------------------------------------------
    @property
    def report(self) -> GapReport:
        """The gap report drawn now (current model)."""
        if self._views is None or self._stale:
            self.refresh()
        assert self._views is not None
        return self._views[0].report

    @property
    def compare_model(self) -> str | None:
        """The second model drawn in side-by-side mode, or ``None`` when the mode is off."""
        if self.compare_toggle.value and self.compare_picker.value:
            return self.compare_picker.value
        return None

    def trace(self, name: str) -> dict[str, Any]:
        """The figure's trace called ``name`` (one of :data:`TRACE_NAMES`), a plain dict."""
        if name not in TRACE_NAMES:
            raise KeyError(name)
        return self.figure.trace(name)

    def static_figure(self) -> dict[str, Any]:
        """A standalone copy of the spec with the headline in its title, for images and reports.

        The widget's own figure keeps only the context in its title; the headline and tactics
        live in the HTML above and below it.
        """
        return with_headline(self.figure.base_spec, self.report)

    def refresh(self) -> None:
        """Redraw from the results model; a failure shows in the widget's status line."""
        self._stale = False
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
                              (self._on_task_change, "task"),
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
        self._follow()

    def _on_task_change(self, change: dict) -> None:
        """Another task of multi-task results: its own splits, errors and gaps."""
        self._follow()

    def _on_model_change(self, change: dict) -> None:
        with self._sync():
            self._set(self.model_picker, "value", change["new"])
            options = self._compare_options()
            if list(self.compare_picker.options) != options:
                keep = self.compare_picker.value
                self.compare_picker.options = options
                self.compare_picker.value = keep if keep in options else self._default_compare()
        self._follow()

    def _on_human_reference_change(self, change: dict) -> None:
        with self._sync():
            self._set(self.reference_picker, "value", change["new"])
        self._follow()

    def _on_weighted_change(self, change: dict) -> None:
        with self._sync():
            self._set(self.weighted_toggle, "value", change["new"])
        self._follow()

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

    # -- drawing -------------------------------------------------------------------------------
    def _draw(self) -> None:
        r = self.results
        main = walk(r, r.model)
        other = walk(r, self.compare_model) if self.compare_model else None
        self._views = (main, other)
        self.figure.show(spec_from_walks(r, main, other, height=self.height))
        self._write_text(main, other)

    # -- text ----------------------------------------------------------------------------------
    def _write_text(self, main: Walk, other: Walk | None) -> None:
        report = main.report
        color = theme.css_color  # the palette, mapped to its dark colours on a dark page
        # headline: the focus gap(s) by DOMAIN.md's rule, as GapReport.headline words it
        if report.focus:
            chips = [f"<span style='color:{color(g)};font-weight:700'>"
                     f"{html.escape(report.label(g))} ({html.escape(report.size_text(g))})</span>"
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

        # tactics for each focus gap; a significant mismatch gap names its top driver
        mismatch = main.step("data_mismatch")
        driver = mismatch_advice(self.results, main.model,
                                 significant=bool(mismatch and mismatch.significant),
                                 gap=mismatch.value if mismatch else None)
        blocks = []
        for g in report.focus:
            items = "".join(f"<li>{html.escape(t)}</li>" for t in report.tactics.get(g, ()))
            if g == "data_mismatch" and driver:
                items = f"<li data-role='mismatch-driver'>{html.escape(driver)}</li>" + items
            blocks.append(
                f"<div style='flex:1 1 240px;border-left:4px solid {color(g)};"
                f"padding:2px 12px;margin:4px 0'><div style='font-weight:700;color:{color(g)}'>"
                f"To reduce {html.escape(report.label(g))} ({pp(getattr(report, g))}), try</div>"
                f"<ul style='margin:4px 0 0 0;padding-left:18px'>{items}</ul></div>")
        tactics = ("<div style='display:flex;flex-wrap:wrap;gap:12px'>" + "".join(blocks)
                   + "</div>") if blocks else ""
        self._set(self.tactics, "value", tactics)

        # notes: negative gaps in words, missing splits, gaps indistinguishable from zero
        notes = list(report.notes)
        notes += [s.note for s in main.steps if s.kind == "gap" and not s.significant]
        if driver and "data_mismatch" not in report.focus:
            notes.append(driver)
        self._set(self.notes, "value",
                  "<ul style='margin:4px 0;padding-left:18px;font-size:13px'>"
                  + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
                  if notes else "")

        # the general formulation, when the data fills it
        self._set(self.formulation, "value", self._formulation_html(main))

    def _formulation(self, view: Walk) -> Formulation:
        r = self.results
        train_ref, dev_ref = split_references(r.human_level.references, r.human_reference)
        err = view.errors["error"].to_dict()
        return general_formulation(
            human_train=train_ref[1] if train_ref else None,
            human_dev=dev_ref[1] if dev_ref else None,
            train=err.get("train"), train_dev=err.get("train_dev"), dev=err.get("dev"),
            human_train_name=train_ref[0] if train_ref else None,
            human_dev_name=dev_ref[0] if dev_ref else None)

    def _formulation_html(self, view: Walk) -> str:
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
