"""A plotly FigureWidget that late-connecting views draw correctly, shared by every component.

This is the cause of the "stale figure" hazard in BROWSER_TESTING.md: plotly refreshes the
state a new view reads only when the figure itself is displayed, so a figure inside a
container, updated after it was built, reached Voilà pages in its construction-time state.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import plotly.graph_objects as go
import traitlets as t
from plotly.serializers import custom_serializers

__all__ = ["LiveFigure"]


class LiveFigure(go.FigureWidget):
    """A FigureWidget whose full state is the figure as it is now.

    ``FigureWidget`` sends later edits as restyle messages and refreshes its synced
    ``_widget_data``/``_widget_layout`` only when displayed on its own. A view created later
    (the figure inside a box, a page that connects after the notebook ran, as under Voilà)
    asks the kernel for the state and would get the figure as it was built: stale traces.
    Serving the current data and layout here closes that gap without sending anything more.

    The browser reports every restyle back as ``_js2py_*`` messages (``traceDeltas`` is
    ~18 kB for this figure); ipywidgets 8 would echo each one back to the browser. They are
    messages, not state another view needs, so they are not echoed.
    """

    _js2py_traceDeltas = t.Dict(allow_none=True).tag(sync=True, echo_update=False,
                                                      **custom_serializers)
    _js2py_layoutDelta = t.Dict(allow_none=True).tag(sync=True, echo_update=False,
                                                      **custom_serializers)
    _js2py_restyle = t.Dict(allow_none=True).tag(sync=True, echo_update=False,
                                                  **custom_serializers)
    _js2py_relayout = t.Dict(allow_none=True).tag(sync=True, echo_update=False,
                                                   **custom_serializers)
    _js2py_update = t.Dict(allow_none=True).tag(sync=True, echo_update=False,
                                                 **custom_serializers)
    _js2py_pointsCallback = t.Dict(allow_none=True).tag(sync=True, echo_update=False,
                                                         **custom_serializers)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # plotly.js re-fits the figure to its container whenever the window resizes
        self._config = {**self._config, "responsive": True, "displaylogo": False}

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict:
        keys = ({key} if isinstance(key, str) else set(key)) if key is not None else None
        if hasattr(self, "_data") and hasattr(self, "_layout_obj"):
            if keys is None or "_widget_data" in keys:
                self._trait_values["_widget_data"] = deepcopy(self._data)
            if keys is None or "_widget_layout" in keys:
                self._trait_values["_widget_layout"] = deepcopy(self._layout_obj._props)
        return super().get_state(key, drop_defaults)
