"""The page cannot raise the kernel's limits nor make widgets of its own (issue 21, item 3).

The messages are the ones a page's websocket carries, handed to the widgets' comm handlers
as the kernel would (no browser, no kernel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboard import Results, TallyGrid
from dashboard.app import refuse_widgets_from_the_page
from dashboard.widgets.figure import PlotlyFigure
from dashboard.widgets.review_table import MAX_COMMENT, ReviewTable


def _update(widget: Any, state: dict[str, Any]) -> None:
    """A state update message from the page, as ipywidgets receives it."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": state,
                                             "buffer_paths": []}}, "buffers": []})


@pytest.fixture()
def grid(demo_path: Path, tmp_path: Path) -> TallyGrid:
    return TallyGrid(Results.from_file(demo_path), store=tmp_path / "tags.sqlite",
                     author="tester")


def test_page_cannot_raise_the_comment_limit(grid: TallyGrid) -> None:
    table = grid._table
    key = table.shown_keys[0]
    _update(table, {"max_comment": 10**9})
    assert table.max_comment == MAX_COMMENT
    long = "x" * 100_000
    assert not table.receive({"event": "edit", "key": key, "field": "comment", "value": long})
    assert grid.results.comments.get(key) != long


def test_page_cannot_add_rows_or_categories_to_edit(grid: TallyGrid) -> None:
    table = grid._table
    rows, columns = list(table.rows), list(table.columns)
    _update(table, {"rows": [*rows, {**rows[0], "key": "not-shown"}],
                    "columns": [*columns, {"kind": "tag", "category": "forged"}]})
    assert table.rows == rows and table.columns == columns
    assert not table.receive({"event": "edit", "key": "not-shown", "field": "reviewed",
                              "value": True})
    assert not table.receive({"event": "edit", "key": rows[0]["key"], "field": "tag",
                              "category": "forged", "value": True})


def test_page_cannot_rewrite_a_figure() -> None:
    figure = PlotlyFigure({"data": [{"type": "bar", "y": [1]}], "layout": {}})
    spec, marks = figure.spec, figure.marks
    _update(figure, {"spec": {"data": [], "layout": {"title": "forged"}}, "marks": {"x": 1}})
    assert figure.spec == spec and figure.marks == marks


class _Comm:
    """The kernel side of a comm the page opened."""

    def __init__(self) -> None:
        self.closed = False
        self.comm_id = "page-made"

    def close(self, *args: Any, **kwargs: Any) -> None:
        self.closed = True


@pytest.mark.parametrize("state", [
    {"_model_module": "@jupyter-widgets/controls", "_model_module_version": "2.0.0",
     "_model_name": "IntSliderModel", "_view_module": "@jupyter-widgets/controls",
     "_view_module_version": "2.0.0", "_view_name": "IntSliderView", "value": 3},
    {"bogus": True},  # a state ipywidgets cannot read (its KeyError was a traceback)
])
def test_widgets_opened_by_the_page_are_closed_unmade(state: dict[str, Any]) -> None:
    from ipywidgets import comm as widget_comm
    from ipywidgets.widgets.widget import _instances

    refuse_widgets_from_the_page()
    target = widget_comm.get_comm_manager().targets["jupyter.widget"]
    before = len(_instances)
    comm = _Comm()
    target(comm, {"content": {"data": {"state": state, "buffer_paths": []}},
                  "metadata": {"version": "2.1.0"}})
    assert comm.closed and len(_instances) == before


def test_review_table_takes_edits_by_message_only() -> None:
    assert ReviewTable.page_writable == frozenset() == PlotlyFigure.page_writable


def test_page_moves_values_not_bounds(grid: TallyGrid, demo_path: Path) -> None:
    """The sample size box, the page box, the F-beta box and the threshold slider keep their
    bounds: a page raising ``max`` then the value got only the kernel's largest value."""
    from dashboard.widgets.explorer import ThresholdExplorer

    size = grid._size_box
    _update(size, {"max": 10**12, "value": 10**12})
    assert size.max == 1_000_000 and size.value <= 1_000_000
    _update(grid._page_box, {"max": 10**6})
    assert grid._page_box.max < 10**6
    explorer = ThresholdExplorer(Results.from_file(demo_path))
    top = explorer._slider.max
    _update(explorer._slider, {"max": top + 100, "min": -100, "step": 1e-9})
    assert (explorer._slider.max, explorer._slider.min) == (top, explorer._slider.min)
    assert explorer._slider.min >= 0 and explorer._slider.step > 1e-9
    _update(explorer._slider, {"value": 0.3})  # the value stays the page's to move
    assert explorer._slider.value == 0.3
    _update(explorer._beta_box, {"max": 1e9, "value": 1e9})
    assert explorer._beta_box.max == 20.0 and explorer.beta <= 20.0
