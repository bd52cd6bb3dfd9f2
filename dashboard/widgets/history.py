"""The History view: every run diagnosed, and what changed between two of them.

It holds two run pickers, the "what changed" sentence, the review categories' shares before
and after, and one figure widget; every number comes from :class:`~dashboard.runs.Runs`
and the figure from :mod:`dashboard.figures.history`. The runs other than the one the page
shows are read when the tab is first shown (``active``), so the page opens on the latest run
without waiting for the others; a change of the shown run's threshold or model redraws the
history while the tab is shown, and marks it stale otherwise.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from dashboard.errors import DashboardError
from dashboard.figures.format import pct
from dashboard.figures.history import history_spec
from dashboard.runs import Runs
from dashboard.widgets.figure import PlotlyFigure
from dashboard.widgets.following import FollowingView

__all__ = ["HistoryView"]


class HistoryView(FollowingView):
    """Levels and gaps over runs with their intervals, and what changed between two runs.

    Parameters
    ----------
    runs : Runs
        The project's runs.
    shown : str, optional
        The run the rest of the page shows (default: the latest); its threshold and model
        changes are followed.
    """

    def __init__(self, runs: Runs, *, shown: str | None = None, **kwargs: Any) -> None:
        self.runs = runs
        self.shown = shown or runs.latest
        super().__init__(runs[self.shown], **kwargs)
        self.add_class("mldash-history")
        names = list(runs.names)
        self.before = widgets.Dropdown(options=names,
                                       value=names[-2] if len(names) > 1 else names[-1],
                                       description="From", layout=widgets.Layout(width="240px"))
        self.after = widgets.Dropdown(options=names, value=names[-1], description="to",
                                      layout=widgets.Layout(width="240px"))
        for picker in (self.before, self.after):
            picker.observe(self._on_pick, names="value")
        self.sentence = widgets.HTML()
        self.sentence.add_class("mldash-history-sentence")
        self.shares = widgets.HTML()
        self.shares.add_class("mldash-history-shares")
        self.figure = PlotlyFigure(layout=widgets.Layout(width="100%"))
        self.status = widgets.HTML()
        self.intro = widgets.HTML(
            f"<p style='margin:4px 0;opacity:.8'>{len(names)} runs from "
            f"{html.escape(runs.origin)}, oldest first; this page shows "
            f"<b>{html.escape(self.shown)}</b>.</p>")
        self.children = (self.intro, widgets.HBox([self.before, self.after]), self.sentence,
                         self.shares, self.figure, self.status)
        self._drawn = False
        if self.active:
            self.refresh()
        else:
            self._stale = True

    def _on_pick(self, _change: dict) -> None:
        if self.active:
            self._render_comparison()
        else:
            self._stale = True

    def refresh(self) -> None:
        """Read every run (once), draw the history and the comparison picked."""
        self.runs.forget()  # the shown run's threshold or model may have moved
        try:
            self.figure.show(history_spec(self.runs))
            self._render_comparison()
            self.status.value = ""
            self._drawn = True
        except DashboardError as exc:
            self.status.value = (f"<div role='alert' style='color:#dc2626'>"
                                 f"{html.escape(str(exc))}</div>")
        self._stale = False

    def refresh_reviews(self) -> None:
        """Read the annotation store again (reviews saved since), then redraw if shown."""
        self.runs.refresh_reviews()
        if self.active:
            self.refresh()
        else:
            self._stale = True

    def _render_comparison(self) -> None:
        before, after = self.before.value, self.after.value
        if before == after:
            self.sentence.value = ("<p style='margin:6px 0'>Pick two different runs to see "
                                   "what changed.</p>")
            self.shares.value = ""
            return
        try:
            change = self.runs.compare(before, after)
            self.sentence.value = (f"<p style='font-size:15px;font-weight:600;margin:6px 0' "
                                   f"role='status'>{html.escape(change.sentence)}</p>")
            table = self.runs.category_shares(before, after)
        except DashboardError as exc:
            self.sentence.value = f"<div role='alert'>{html.escape(str(exc))}</div>"
            self.shares.value = ""
            return
        rows = "".join(
            f"<tr><td>{html.escape(str(r.category))}</td><td>{pct(r.before, 0)} "
            f"({r.count_before} of {r.reviewed_before})</td><td>{pct(r.after, 0)} "
            f"({r.count_after} of {r.reviewed_after})</td><td>"
            f"{'significant' if r.significant else 'no significant change'} "
            f"(p = {r.p_value:.2g})</td></tr>" for r in table.itertuples())
        grid = ("<table style='border-collapse:collapse;font-size:13px;margin:4px 0'>"
                f"<tr><th align='left'>category</th><th>share of reviewed {table.attrs['split']}"
                f" errors at {html.escape(before)}</th><th>at {html.escape(after)}</th>"
                f"<th>change (Fisher, Holm over the categories)</th></tr>{rows}</table>"
                if len(table) else "")
        self.shares.value = (f"<p style='margin:4px 0'>{html.escape(table.attrs['sentence'])}"
                             f"</p>{grid}")
