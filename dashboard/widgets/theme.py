"""Colours, fonts and the plotly template shared by every component (light and dark)."""

from __future__ import annotations

import plotly.graph_objects as go

#: one colour per meaning, used in every view, readable on light and dark backgrounds
COLORS = {
    "human": "#6b7280",
    "train": "#2563eb",
    "train_dev": "#7c3aed",
    "dev": "#d97706",
    "test": "#059669",
    "avoidable_bias": "#dc2626",
    "variance": "#9333ea",
    "data_mismatch": "#ea580c",
    "dev_overfitting": "#0891b2",
    "negative_gap": "#16a34a",
    "precision": "#2563eb",
    "recall": "#dc2626",
    "f1": "#111827",
    "fbeta": "#7c3aed",
    "queue_rate": "#6b7280",
    "threshold": "#f59e0b",
    "grid": "rgba(128,128,128,0.25)",
    "muted": "#9ca3af",
}
MODEL_COLORS = ("#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2")
FONT = "Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def layout(**overrides: object) -> go.Layout:
    """A transparent layout whose text colour follows the page (JupyterLab light/dark, Voilà)."""
    base = dict(
        font=dict(family=FONT, size=13, color="#6b7280"),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        margin=dict(l=56, r=24, t=48, b=48),
        xaxis=dict(gridcolor=COLORS["grid"], zerolinecolor=COLORS["grid"]),
        yaxis=dict(gridcolor=COLORS["grid"], zerolinecolor=COLORS["grid"]),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        hoverlabel=dict(font_family=FONT),
    )
    base.update(overrides)
    return go.Layout(**base)
