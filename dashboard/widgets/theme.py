"""Colours and fonts of every view, light and dark: the palette of :mod:`dashboard.figures.theme`.

The widgets' HTML (headlines, tables, chips) uses the same colours as the figures, so one
meaning has one colour everywhere; the WCAG contrast of each is checked in
``tests/figures/test_theme.py``.
"""

from dashboard.figures.theme import (
    BACKGROUND,
    COLORS,
    DARK,
    FONT,
    MODEL_COLORS,
    TEXT,
    contrast,
    dark_color,
    layout,
    presentation,
    themed,
)

__all__ = ["BACKGROUND", "COLORS", "DARK", "FONT", "MODEL_COLORS", "TEXT", "contrast",
           "dark_color", "layout", "presentation", "themed"]
