"""``Dashboard(results)``: the three views around a header, all bound to one Results model.

Presentation mode keeps the views where they are (in their tabs, one view at a time, the tab
bar still reachable by keyboard), enlarges the figures through their own layout
(:func:`dashboard.figures.theme.presentation`: fonts, margins, legend below the plot) and
hides the controls a meeting does not need (``.mldash-secondary``). Nothing is moved between
containers, so a model change or a threshold move reaches every figure in and after it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import traitlets as t

from dashboard.annotations import AnnotationStore
from dashboard.errors import DashboardError
from dashboard.results import Results
from dashboard.widgets.diagnostics import CurveDiagnostics, MismatchView
from dashboard.widgets.explorer import ThresholdExplorer
from dashboard.widgets.figure import PlotlyFigure
from dashboard.widgets.learning import LearningCurveView
from dashboard.widgets.tally_grid import TallyGrid
from dashboard.widgets.tasks import TaskOverview
from dashboard.widgets.theme import COLORS, DARK, FONT, PALETTE_CSS
from dashboard.widgets.waterfall import GapWaterfall

VIEWS = ("Gap waterfall", "Error analysis", "Threshold & models")
#: the fourth tab, shown when the results hold several training-set sizes
LEARNING_VIEW = "Learning curve"
#: the tab of multi-task results' overview
TASKS_VIEW = "All tasks"

#: page-level styles: the header, and presentation mode (large type, one view at a time)
STYLE = f"""
<style>
.mldash {{ font-family: {FONT}; }}
.mldash-header {{ padding: 4px 0 8px 0; border-bottom: 1px solid rgba(128,128,128,.3); }}
.mldash-title {{ font-size: 20px; font-weight: 600; margin: 0; }}
.mldash-facts {{ font-size: 13px; opacity: .8; margin: 2px 0 6px 0; }}
.mldash-diagnosis {{ font-size: 17px; font-weight: 600; color: {COLORS["dev"]}; margin: 0; }}
.mldash-present .mldash-title {{ font-size: 30px; }}
.mldash-present .mldash-facts {{ font-size: 20px; }}
.mldash-present .mldash-diagnosis {{ font-size: 34px; line-height: 1.25; }}
.mldash-present .widget-html-content {{ font-size: 18px; line-height: 1.4; }}
.mldash-present .widget-label, .mldash-present .widget-readout {{ font-size: 18px; }}
.mldash-present .mldash-secondary {{ display: none !important; }}
/* WCAG AA: the unselected tabs' labels (#6d6d6d on #eeeeee is 4.45:1) in the body colour */
.mldash .jupyter-widgets.widget-tab > .lm-TabBar .lm-TabBar-tab {{
  color: var(--jp-ui-font-color1); }}
/* the tab labels, the views' titles and their answer sentences grow with the header */
.mldash-present .widget-tab {{ --jp-widgets-horizontal-tab-height: 44px;
  --jp-widgets-horizontal-tab-width: 240px; }}
.mldash-present .jupyter-widgets.widget-tab > .lm-TabBar {{ font-size: 20px; }}
.mldash-present .mldash-tally h3 {{ font-size: 28px !important; }}
.mldash-present .mldash-answer [role=status],
.mldash-present .mldash-learning-verdict p {{ font-size: 26px !important; line-height: 1.3; }}
.mldash-present .mldash-review-table th {{ font-size: 17px; }}
body[data-jp-theme-light="false"] .mldash-diagnosis {{ color: {DARK[COLORS["dev"]]}; }}
{PALETTE_CSS}
</style>
"""


class Dashboard(widgets.VBox):
    """The waterfall, the tally grid and the threshold explorer, sharing one Results.

    Move the threshold in the explorer and the waterfall and the grid follow, because all
    three observe the same model; the header restates the shared state in words.
    """

    presenting = t.Bool(False, help="presentation mode: large type, one view at a time")

    def __init__(self, results: Results, *, store: AnnotationStore | str | None = None,
                 title: str | None = None,
                 extra_views: Sequence[tuple[str, widgets.Widget]] = (),
                 lazy: bool = False, **kwargs: Any) -> None:
        """``lazy``: a view in a hidden tab is drawn when its tab is first shown and follows
        the shared state only while shown (a move pays only for the tab in view; a tab switch
        then waits for the kernel to draw it). Off by default: a tab switch shows a current
        view at once, and a view displayed elsewhere (``display(d.explorer)``) keeps
        following."""
        self.results = results
        self._lazy = bool(lazy)
        self._title = title or results.name
        self._sizes: dict[tuple[str, str], str] = {}
        self.waterfall = GapWaterfall(results)
        # a hidden tab at first: its sample is drawn when it is first shown
        self.tally_grid = TallyGrid(results, store=store, active=False)
        self.explorer = ThresholdExplorer(results, active=not lazy)
        # mismatch drivers under the waterfall; ROC, reliability and resolution under the
        # explorer: views of their own, beside (not inside) those two in their tabs
        self.mismatch = MismatchView(results)
        self.curve_diagnostics = CurveDiagnostics(results, explorer=self.explorer,
                                                  active=not lazy)
        self.views: tuple[widgets.Widget, ...] = (
            widgets.VBox([self.waterfall, self.mismatch]), self.tally_grid,
            widgets.VBox([self.explorer, self.curve_diagnostics]))
        self.view_names: tuple[str, ...] = VIEWS
        self.learning: LearningCurveView | None = None
        self.overview: TaskOverview | None = None
        if results.tasks:  # multi-task results: where the work is, task by task
            self.overview = TaskOverview(results)
            self.overview.active = False
            self.views += (self.overview,)
            self.view_names += (TASKS_VIEW,)
        if results.train_sizes:  # results of runs on several training-set sizes
            self.learning = LearningCurveView(results)
            self.learning.active = False
            self.views += (self.learning,)
            self.view_names += (LEARNING_VIEW,)
        # views composed in by the app (the History of a project's runs), hidden at first
        self.extra_views = dict(extra_views)
        for name, view in self.extra_views.items():
            if hasattr(view, "active"):
                view.active = False
            self.views += (view,)
            self.view_names += (name,)

        self.header = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.header.add_class("mldash-header")
        self.status = widgets.HTML()
        self.present_button = widgets.ToggleButton(
            value=False, description="Present", icon="desktop",
            tooltip="Presentation mode: large type, the diagnosis first, one view at a time",
            layout=widgets.Layout(width="auto", min_width="112px", flex="0 0 auto"))
        self.present_button.observe(self._on_present_button_change, names="value")
        self.tabs = widgets.Tab(children=list(self.views))
        for i, name in enumerate(self.view_names):
            self.tabs.set_title(i, name)
        self.tabs.observe(self._on_tab_change, names="selected_index")
        top = widgets.HBox([self.header, self.present_button],
                           layout=widgets.Layout(align_items="flex-start", width="100%"))
        super().__init__([widgets.HTML(STYLE), top, self.status, self.tabs], **kwargs)
        self.add_class("mldash")
        results.observe(self._on_results_change,
                        names=["threshold", "model", "task", "human_reference", "weighted",
                               "positive_class"])
        self.task_picker: widgets.Dropdown | None = None
        if results.tasks:
            # multi-task results: every view follows the task picked here
            self.task_picker = widgets.Dropdown(options=list(results.tasks), value=results.task,
                                                description="Task",
                                                layout=widgets.Layout(width="260px"))
            widgets.link((self.task_picker, "value"), (results, "task"))
            top.children = (self.header, self.task_picker, self.present_button)
        self._render_header()
        self._on_tab_change({"new": self.tabs.selected_index})

    @property
    def figures(self) -> tuple[PlotlyFigure, ...]:
        """Every figure widget of the three views."""
        return tuple(w for v in self.views for w in _figures_in(v))

    def _on_tab_change(self, change: dict) -> None:
        # the grid's review sample follows the threshold only while it is shown
        self.tally_grid.active = change["new"] == VIEWS.index("Error analysis")
        if self._lazy:  # so do the other views (the explorer before its diagnostics)
            self.waterfall.active = self.mismatch.active = \
                change["new"] == VIEWS.index("Gap waterfall")
            self.explorer.active = self.curve_diagnostics.active = \
                change["new"] == VIEWS.index("Threshold & models")
        if self.learning is not None:
            self.learning.active = change["new"] == self.view_names.index(LEARNING_VIEW)
        if self.overview is not None:
            self.overview.active = change["new"] == self.view_names.index(TASKS_VIEW)
        for name, view in self.extra_views.items():
            if hasattr(view, "active"):
                view.active = change["new"] == self.view_names.index(name)

    # -- the header ---------------------------------------------------------------------------
    def _on_results_change(self, change: dict) -> None:
        self._render_header()

    def _render_header(self) -> None:
        r = self.results
        try:
            sizes = self._sizes.get((r.model, r.task))
            if sizes is None:  # rows per split depend on the model and task, not the threshold
                sizes = ", ".join(f"{split} {n:,}" for split, n in r.split_sizes().items())
                self._sizes[(r.model, r.task)] = sizes
            report = r.gaps()
            facts = [f"model <b>{html.escape(r.model_shown)}</b>" if r.model_shown else None,
                     f"task <b>{html.escape(r.task)}</b>" if r.tasks else None,
                     f"threshold <b>{r.threshold:.3g}</b>" if r.has_scores else None,
                     f"human level: <b>{html.escape(r.human_level_text)}</b>",
                     f"rows: {html.escape(sizes)}"]
            if r.weighted:
                facts.append("weighted error")
            # how the file was read where it differs from what it says (split aliases...)
            facts.extend(html.escape(n) for n in r.schema.notes if " read as " in n)
            # computed by an engine: a sample behind the per-row views, maybe a score grid
            facts.extend(html.escape(n) for n in r.engine_notes)
            self.header.value = (
                f'<p class="mldash-title">{html.escape(self._title)}</p>'
                f'<p class="mldash-facts">{" · ".join(f for f in facts if f)}</p>'
                f'<p class="mldash-diagnosis">{html.escape(report.headline)}</p>')
            self.status.value = ""
        except DashboardError as exc:
            self.status.value = f'<span style="color:#dc2626">{html.escape(str(exc))}</span>'

    @property
    def diagnosis(self) -> str:
        """The one-sentence diagnosis the header shows."""
        return self.results.gaps().headline

    # -- presentation mode -----------------------------------------------------------------------
    def _on_present_button_change(self, change: dict) -> None:
        if self.presenting != change["new"]:
            self.presenting = change["new"]

    @t.observe("presenting")
    def _on_presenting_change(self, change: dict) -> None:
        on = change["new"]
        if self.present_button.value != on:
            self.present_button.value = on
        if on:
            self.add_class("mldash-present")
        else:
            self.remove_class("mldash-present")
        for fig in self.figures:
            fig.presenting = on

    def show_view(self, name: str) -> None:
        """Select the tab called ``name`` (one of :attr:`view_names`)."""
        self.tabs.selected_index = self.view_names.index(name)


def _figures_in(root: widgets.Widget) -> list[PlotlyFigure]:
    found: list[PlotlyFigure] = []
    stack = [root]
    while stack:
        w = stack.pop()
        if isinstance(w, PlotlyFigure) and w not in found:
            found.append(w)
        stack.extend(getattr(w, "children", ()) or ())
    return found
