"""A view that follows the shared results model, redrawing only while it is shown."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets as t

from dashboard.results import Results

__all__ = ["FollowingView", "ShownOnly"]

#: the shared state a derived view (learning curve, task overview) depends on
FOLLOWS = ("threshold", "model", "task", "weighted", "human_reference")


class ShownOnly(t.HasTraits):
    """Follows the shared state while shown (``active``); hidden, a change only marks it stale
    and it redraws (:meth:`refresh`) when shown again."""

    active = t.Bool(True, help="shown: redraw on every change; hidden: redraw when shown")
    _stale = False

    def refresh(self) -> None:
        """Draw the view from the current state; subclasses implement it."""
        raise NotImplementedError

    def _follow(self) -> None:
        """A change of the shared state: redraw now if shown, else when shown again."""
        if self.active:
            self.refresh()
        else:
            self._stale = True

    @t.observe("active")
    def _on_active_change(self, change: dict) -> None:
        if change["new"] and self._stale:
            self.refresh()


class FollowingView(ShownOnly, widgets.VBox):
    """Redraws (:meth:`refresh`) on every change of :data:`FOLLOWS` while ``active``; hidden,
    a change only marks it stale and it redraws when shown again."""

    def __init__(self, results: Results, **kwargs: Any) -> None:
        active = bool(kwargs.pop("active", True))  # set once the view can follow
        super().__init__(**kwargs)
        self.results = results
        self._stale = False
        self.active = active
        for name in FOLLOWS:
            results.observe(self._on_results_change, names=[name])

    def _first_draw(self) -> None:
        """Draw at construction when shown; built hidden, wait until shown."""
        self._follow()

    def _on_results_change(self, change: dict) -> None:
        self._follow()

    def close(self) -> None:
        for name in FOLLOWS:
            self.results.unobserve(self._on_results_change, names=[name])
        super().close()
