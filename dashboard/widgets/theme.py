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

__all__ = ["BACKGROUND", "COLORS", "DARK", "FONT", "MODEL_COLORS", "PALETTE_CSS", "TEXT",
           "contrast", "css_color", "dark_color", "layout", "presentation", "themed"]


def css_color(name: str) -> str:
    """The palette colour ``name`` for inline HTML styles: a CSS variable that
    :data:`PALETTE_CSS` maps to its dark counterpart on a dark page, the light colour otherwise
    (so the widgets' text keeps its WCAG contrast in both themes)."""
    return f"var(--mldash-c-{name}, {COLORS[name]})"


#: the dark page's values of :func:`css_color`'s variables (JupyterLab's and the served page's
#: ``data-jp-theme-light="false"``)
PALETTE_CSS = ("body[data-jp-theme-light=\"false\"] { " + " ".join(
    f"--mldash-c-{name}: {DARK[value]};" for name, value in COLORS.items() if value in DARK)
    + " }")
