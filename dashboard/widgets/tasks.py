"""The overview across tasks of multi-task results: where the work is, task by task.

Small multiples first (``dashboard.figures.tasks``: each task's error per split, one panel per
task, the most work first), then one row per task (from ``Results.task_overview``): the share
of entries labelled, rows and
error per split side by side (the course's conditions for multi-task learning to pay off are
similar amounts of data per task), the focus gap, and a button that shows that task in every
view. Hidden (``active`` False), it only marks itself stale.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from dashboard.errors import DashboardError
from dashboard.figures.tasks import tasks_spec_from_table
from dashboard.io import SPLITS
from dashboard.results import Results
from dashboard.widgets.figure import PlotlyFigure
from dashboard.widgets.following import FollowingView
from dashboard.widgets.format import count, pct

__all__ = ["TaskOverview"]


class TaskOverview(FollowingView):
    """Every task's errors and focus, as small multiples and a table, the most work first."""

    def __init__(self, results: Results, **kwargs: Any) -> None:
        super().__init__(results, **kwargs)
        self.add_class("mldash-tasks")
        self.figure = PlotlyFigure(layout=widgets.Layout(width="100%"))
        self.table = widgets.HTML()
        self.buttons = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.status = widgets.HTML()
        self.children = (self.figure, self.buttons, self.table, self.status)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the table for the current model (each task at its own threshold)."""
        try:
            table = self.results.task_overview()
        except DashboardError as exc:
            self.status.value = f"<div role='alert'>{html.escape(str(exc))}</div>"
            return
        self.figure.show(tasks_spec_from_table(table, current=self.results.task))
        splits = [s for s in SPLITS if s in table.columns]
        head = "".join(f"<th>{html.escape(s)}</th>" for s in
                       ["task", "labelled", *[f"{s} (rows)" for s in splits], "focus"])
        rows = []
        for task, row in table.iterrows():
            current = " style='font-weight:600'" if task == self.results.task else ""
            cells = [html.escape(str(task)), pct(row["labelled_share"], 0),
                     *[f"{pct(row[s], 1)} ({count(row[f'{s}_n'])})" for s in splits],
                     html.escape(str(row["focus"]))]
            rows.append(f"<tr{current}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        mean = table.attrs["mean"]
        rows.append("<tr><td><i>mean over tasks</i></td><td></td>"
                    + "".join(f"<td>{pct(mean[s], 1)}</td>" for s in splits) + "<td></td></tr>")
        self.table.value = (
            "<p style='margin:4px 0'>Every task, where the work is first (the largest focus "
            "gap). Each task keeps its own threshold; unlabelled entries are left out of their "
            "task only.</p><table class='mldash-task-table' style='border-collapse:collapse'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
        buttons = []
        for task in table.index:
            button = widgets.Button(description=f"Show {task}", disabled=task == self.results.task,
                                    layout=widgets.Layout(width="auto"))
            button.on_click(lambda _b, name=str(task): setattr(self.results, "task", name))
            buttons.append(button)
        self.buttons.children = buttons
        self.status.value = ""
        self._stale = False
