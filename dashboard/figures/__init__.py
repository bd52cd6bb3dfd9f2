"""Figures as data: pure functions from the results model to plain plotly figure specs.

Every function here returns a JSON-safe ``dict`` (lists, not arrays; ``None``, not NaN) that
``plotly.js`` draws as is: the figure widget syncs it to every view, the HTML report embeds it,
tests compare its numbers with the :class:`~dashboard.results.Results` model. Every user
string (class, category, model names) is html-escaped, because plotly renders a subset of HTML
in text. Nothing here imports a widget library.
"""

from dashboard.figures.explorer import apply_marks, confusion_spec, curves_marks, curves_spec
from dashboard.figures.spec import json_safe
from dashboard.figures.tally import tally_spec
from dashboard.figures.waterfall import waterfall_spec

__all__ = ["apply_marks", "confusion_spec", "curves_marks", "curves_spec", "json_safe",
           "tally_spec", "waterfall_spec"]
