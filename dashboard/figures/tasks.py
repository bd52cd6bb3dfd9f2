"""The multi-task overview as data: small multiples, one panel per task.

Each panel draws that task's error per split (the split colours of every view) with the focus
gap in its title, on one shared error axis, so the task where the work is reads at a glance
and tasks compare by the height of their bars. Tasks come in the order of
``Results.task_overview`` (the most work first).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dashboard.figures.format import pct
from dashboard.figures.spec import esc, num
from dashboard.figures.theme import COLORS, layout
from dashboard.results import Results

__all__ = ["tasks_spec", "tasks_spec_from_table"]

_SPLITS = ("train", "train_dev", "dev", "test")
_LABELS = {"train": "train", "train_dev": "train-dev", "dev": "dev", "test": "test"}
#: panels per row
COLUMNS = 4


def tasks_spec(results: Results, *, current: str | None = None) -> dict[str, Any]:
    """Small multiples of every task's error per split, for the current model."""
    return tasks_spec_from_table(results.task_overview(),
                                 current=results.task if current is None else current)


def tasks_spec_from_table(table: pd.DataFrame, *, current: str = "") -> dict[str, Any]:
    """The small multiples from a ``Results.task_overview`` table (``current`` in bold)."""
    splits = [s for s in _SPLITS if s in table.columns]
    tasks = [str(t) for t in table.index]
    cols = max(min(len(tasks), COLUMNS), 1)
    rows = max(math.ceil(len(tasks) / cols), 1)
    gap_x, gap_y = 0.06, 0.22 / rows
    width = (1 - gap_x * (cols - 1)) / cols
    height = (1 - gap_y * (rows - 1)) / rows
    top = max([float(table[s].max()) for s in splits if table[s].notna().any()] or [0.0])
    data: list[dict[str, Any]] = []
    axes: dict[str, Any] = {}
    notes: list[dict[str, Any]] = []
    for i, task in enumerate(tasks):
        row_t = table.loc[table.index[i]]
        r, c = divmod(i, cols)
        suffix = "" if i == 0 else str(i + 1)
        x0 = c * (width + gap_x)
        y1 = 1 - r * (height + gap_y)
        axes[f"xaxis{suffix}"] = {"domain": [x0, x0 + width], "anchor": f"y{suffix}",
                                  "type": "category", "fixedrange": True,
                                  "showgrid": False, "tickfont": {"size": 11}}
        axes[f"yaxis{suffix}"] = {"domain": [y1 - height, y1], "anchor": f"x{suffix}",
                                  "range": [0, num(top * 1.25) or 1], "tickformat": ".0%",
                                  "fixedrange": True, "gridcolor": COLORS["grid"],
                                  "showticklabels": c == 0}
        errors = [num(row_t[s]) for s in splits]
        data.append({
            "type": "bar", "name": esc(task), "showlegend": False,
            "x": [_LABELS[s] for s in splits], "y": errors,
            "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
            "marker": {"color": [COLORS[s] for s in splits]},
            "text": [pct(e, 1) if e is not None else "" for e in errors],
            "textposition": "outside", "cliponaxis": False,
            "textfont": {"size": 11, "color": COLORS["text"]},
            "hovertext": [f"{esc(task)}: {_LABELS[s]} error {pct(row_t[s], 2)} "
                          f"({int(row_t[f'{s}_n']):,} rows)" for s in splits],
            "hovertemplate": "%{hovertext}<extra></extra>"})
        focus = str(row_t.get("focus") or "")
        data[-1]["meta"] = {"alt": f"{esc(task)} ({esc(focus)})" if focus else esc(task)}
        name = f"<b>{esc(task)}</b>" if task == current else esc(task)
        notes.append({"text": f"{name}<br><span style='font-size:11px'>{esc(focus)}</span>",
                      "x": x0 + width / 2, "y": y1, "xref": "paper", "yref": "paper",
                      "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                      "font": {"size": 13}})
    lay = layout(height=110 + 250 * rows, showlegend=False, bargap=0.25,
                 margin={"l": 56, "r": 16, "t": 100, "b": 40},
                 # above the panels' own titles (two lines each)
                 title={"text": "Error per split, task by task (most work first)", "x": 0,
                        "xanchor": "left", "yref": "container", "y": 0.98,
                        "yanchor": "top", "font": {"size": 13}},
                 annotations=notes, **axes)
    return {"data": data, "layout": lay}
