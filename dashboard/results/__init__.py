"""The results model (see :mod:`dashboard.results.model`)."""

from dashboard.results.model import Results, StateError, check_class_names

__all__ = ["Results", "StateError", "check_class_names"]
