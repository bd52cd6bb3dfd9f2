"""Diagnose a machine-learning project from its evaluation results.

The public names: :class:`Results` (the shared model), :class:`Runs` (a project's runs),
the three components
:class:`GapWaterfall`, :class:`TallyGrid` and :class:`ThresholdExplorer`, the composed
:class:`Dashboard`, and the :class:`AnnotationStore` that keeps review tags safe.
"""

from dashboard.errors import DashboardError
from dashboard.results import Results

__all__ = ["DashboardError", "Results"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """Import the widget layer lazily, so ``import dashboard`` stays light for scripts."""
    lazy = {
        "GapWaterfall": "dashboard.widgets.waterfall",
        "TallyGrid": "dashboard.widgets.tally_grid",
        "ThresholdExplorer": "dashboard.widgets.explorer",
        "Dashboard": "dashboard.widgets.dashboard",
        "AnnotationStore": "dashboard.annotations",
        "Runs": "dashboard.runs",
    }
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(lazy[name]), name)
    raise AttributeError(f"module 'dashboard' has no attribute {name!r}")
