"""The learning-curve view: train and held-out error against the training-set size.

It holds a verdict line and one figure widget; every number comes from
``Results.learning_curve`` and the spec from :mod:`dashboard.figures.learning`. While its
tab is hidden (``active`` False) a change only marks it stale, so a threshold move never pays
for a view nobody sees.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from dashboard.errors import DashboardError
from dashboard.figures.learning import learning_spec_from_table
from dashboard.results import Results
from dashboard.widgets.figure import PlotlyFigure
from dashboard.widgets.following import FollowingView

__all__ = ["LearningCurveView"]


class LearningCurveView(FollowingView):
    """Error per split against the training-set size, with a verdict on more data."""

    def __init__(self, results: Results, **kwargs: Any) -> None:
        super().__init__(results, **kwargs)
        self.add_class("mldash-learning")
        self.verdict = widgets.HTML()
        self.verdict.add_class("mldash-learning-verdict")
        self.figure = PlotlyFigure(layout=widgets.Layout(width="100%"))
        self.status = widgets.HTML()
        self.children = (self.verdict, self.figure, self.status)
        self.refresh()

    def refresh(self) -> None:
        """Draw the current model's (and task's) learning curve and verdict."""
        try:
            table = self.results.learning_curve()
        except DashboardError as exc:
            self.status.value = f"<div role='alert'>{html.escape(str(exc))}</div>"
            return
        self.verdict.value = (f"<p style='font-size:15px;font-weight:600;margin:4px 0'>"
                              f"{html.escape(table.attrs['verdict'])}</p>")
        self.figure.show(learning_spec_from_table(table))
        self.status.value = ""
        self._stale = False
