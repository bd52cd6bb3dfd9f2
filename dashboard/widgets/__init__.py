"""Widgets: each takes the one Results model, observes it and renders; none computes a metric."""
