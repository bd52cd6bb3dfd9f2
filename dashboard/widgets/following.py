"""A view that follows the shared results model, redrawing only while it is shown."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets as t

from dashboard.results import Results

__all__ = ["FollowingView"]

#: the shared state a derived view (learning curve, task overview) depends on
FOLLOWS = ("threshold", "model", "task", "weighted", "human_reference")


class FollowingView(widgets.VBox):
    """Redraws (:meth:`refresh`) on every change of :data:`FOLLOWS` while ``active``; hidden,
    a change only marks it stale and it redraws when shown again."""

    active = t.Bool(True, help="shown: redraw on every change; hidden: redraw when shown")

    def __init__(self, results: Results, **kwargs: Any) -> None:
        active = bool(kwargs.pop("active", True))  # set once the view can follow
        super().__init__(**kwargs)
        self.results = results
        self._stale = False
        self.active = active
        for name in FOLLOWS:
            results.observe(self._on_results_change, names=[name])

    def refresh(self) -> None:
        """Draw the view from the current state; subclasses implement it."""
        raise NotImplementedError

    def _first_draw(self) -> None:
        """Draw at construction when shown; built hidden, wait until shown."""
        if self.active:
            self.refresh()
        else:
            self._stale = True

    def _on_results_change(self, change: dict) -> None:
        if self.active:
            self.refresh()
        else:
            self._stale = True

    @t.observe("active")
    def _on_active_change(self, change: dict) -> None:
        if change["new"] and self._stale:
            self.refresh()

    def close(self) -> None:
        for name in FOLLOWS:
            self.results.unobserve(self._on_results_change, names=[name])
        super().close()
