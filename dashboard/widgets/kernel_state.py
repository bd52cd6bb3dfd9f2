"""Widgets whose synced state only the kernel writes.

ipywidgets applies every ``update`` message from the page to the widget's synced traits. For
a widget whose traits the kernel checks the page's requests against (the review table's
``max_comment``, its ``rows`` and ``columns``) that let a page raise its own limits: an
update raising ``max_comment``, then a 100,000-character comment, was stored (issue 21).
"""

from __future__ import annotations

from typing import Any, ClassVar

import ipywidgets as widgets


class KernelOwnedState:
    """Mixin for a widget: state updates from the page are dropped, except the traits named
    in :attr:`page_writable` (none by default); custom messages still arrive.

    Put it before the widget class in the bases, so its :meth:`set_state` runs first.
    """

    page_writable: ClassVar[frozenset[str]] = frozenset()
    """Synced traits the page may set (the others are the kernel's alone)."""

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Apply only the page-writable part of a state update from the page."""
        allowed = {k: v for k, v in sync_data.items() if k in self.page_writable}
        if allowed:
            super().set_state(allowed)  # type: ignore[misc]


class _ValueOnly(KernelOwnedState):
    page_writable: ClassVar[frozenset[str]] = frozenset({"value"})


class LockedBoundedIntText(_ValueOnly, widgets.BoundedIntText):
    """A bounded integer box whose bounds the page cannot move (only its value)."""


class LockedBoundedFloatText(_ValueOnly, widgets.BoundedFloatText):
    """A bounded number box whose bounds the page cannot move (only its value)."""


class LockedFloatSlider(_ValueOnly, widgets.FloatSlider):
    """A slider whose range and step the page cannot move (only its value)."""
