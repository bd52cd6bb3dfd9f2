"""Colours, fonts and the base layout of every figure, for light and dark backgrounds.

Figures are built with the light palette; :data:`DARK` maps each light colour to its dark
counterpart, applied by the view (the widget when the page is dark, the report under
``prefers-color-scheme: dark``), so one spec serves both themes. Every colour is checked
against its background by WCAG contrast in the tests: text ≥ 4.5:1, lines ≥ 3:1.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

__all__ = ["BACKGROUND", "COLORS", "DARK", "FONT", "MODEL_COLORS", "TEXT", "contrast",
           "dark_color", "layout", "presentation", "relative_luminance", "themed"]

#: the page behind the (transparent) figures: JupyterLab's --jp-layout-color0 in each theme
BACKGROUND = {"light": "#ffffff", "dark": "#111111"}

#: one colour per meaning, used in every view (light theme; :data:`DARK` maps them)
COLORS = {
    "human": "#4b5563",
    "train": "#2563eb",
    "train_dev": "#7c3aed",
    "dev": "#b45309",
    "test": "#047857",
    "avoidable_bias": "#dc2626",
    # each gap apart in hue from every split (and the threshold lines), as the History
    # figure draws them all at once: variance fuchsia (train-dev is violet), data mismatch
    # lime (dev is amber)
    "variance": "#a21caf",
    "data_mismatch": "#4d7c0f",
    "dev_overfitting": "#0e7490",
    "negative_gap": "#15803d",
    "precision": "#2563eb",
    "recall": "#dc2626",
    "f1": "#111827",
    "fbeta": "#7c3aed",
    "queue_rate": "#4b5563",
    "threshold": "#db2777",  # pink: apart in hue from every split's curve (dev's is amber)
    # grey, dotted: a reference line beside the pink threshold and the black F1 (every hue
    # left is taken by a split, a gap or the threshold)
    "best_threshold": "#6b7280",
    "grid": "rgba(128,128,128,0.25)",
    "muted": "#6b7280",
    "text": "#1f2937",
    "cell_low": "#eff6ff",
    "cell_high": "#93c5fd",
    "cell_text": "#111827",
    "marker_edge": "#ffffff",
}
MODEL_COLORS = ("#2563eb", "#b45309", "#047857", "#dc2626", "#7c3aed", "#0e7490")
TEXT = COLORS["text"]
FONT = "Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"

#: light colour -> dark-theme colour (lowercase #rrggbb keys); unlisted colours stay
DARK = {
    "#4b5563": "#9ca3af",
    "#2563eb": "#60a5fa",
    "#7c3aed": "#a78bfa",
    "#b45309": "#fbbf24",
    "#047857": "#34d399",
    "#dc2626": "#f87171",
    "#a21caf": "#e879f9",
    "#4d7c0f": "#a3e635",
    "#0e7490": "#22d3ee",
    "#15803d": "#4ade80",
    "#111827": "#f3f4f6",
    "#db2777": "#f472b6",
    "#6b7280": "#a1a1aa",
    "#1f2937": "#e5e7eb",
    "#eff6ff": "#1e293b",
    "#93c5fd": "#1d4ed8",
    "#ffffff": "#111111",
}

#: what each colour is drawn as, for the contrast test: text needs 4.5:1, a line 3:1
TEXT_COLORS = ("human", "train", "train_dev", "dev", "test", "avoidable_bias", "variance",
               "data_mismatch", "dev_overfitting", "negative_gap", "muted", "text")
LINE_COLORS = ("precision", "recall", "f1", "fbeta", "queue_rate", "threshold",
               "best_threshold")


def dark_color(color: str) -> str:
    """The dark-theme counterpart of a light palette colour (itself when unlisted)."""
    return DARK.get(color.lower(), color)


def _rgb(color: str) -> tuple[float, float, float, float]:
    c = color.strip().lower()
    if c.startswith("#"):
        h = c[1:]
        if len(h) == 3:
            h = "".join(ch * 2 for ch in h)
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 1.0
    if c.startswith("rgb"):
        parts = [p.strip() for p in c[c.index("(") + 1:c.index(")")].split(",")]
        alpha = float(parts[3]) if len(parts) == 4 else 1.0
        return float(parts[0]), float(parts[1]), float(parts[2]), alpha
    if c == "white":
        return 255, 255, 255, 1.0
    raise ValueError(f"unknown colour {color!r}")


def _over(color: str, background: str) -> tuple[float, float, float]:
    """``color`` composited over an opaque ``background`` (alpha blending)."""
    r, g, b, a = _rgb(color)
    br, bg, bb, _ = _rgb(background)
    return r * a + br * (1 - a), g * a + bg * (1 - a), b * a + bb * (1 - a)


def relative_luminance(color: str, background: str = "#ffffff") -> float:
    """WCAG 2 relative luminance of a colour (composited over ``background`` if translucent)."""
    def channel(v: float) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = _over(color, background)
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio (1–21) of ``foreground`` drawn on ``background``."""
    lf = relative_luminance(foreground, background)
    lb = relative_luminance(background)
    hi, lo = max(lf, lb), min(lf, lb)
    return (hi + 0.05) / (lo + 0.05)


def layout(**overrides: Any) -> dict[str, Any]:
    """A transparent base layout whose text follows the theme (a plain dict)."""
    base: dict[str, Any] = {
        "font": {"family": FONT, "size": 13, "color": COLORS["text"]},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 56, "r": 24, "t": 48, "b": 48},
        "xaxis": {"gridcolor": COLORS["grid"], "zerolinecolor": COLORS["grid"]},
        "yaxis": {"gridcolor": COLORS["grid"], "zerolinecolor": COLORS["grid"]},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left",
                   "x": 0},
        "hoverlabel": {"font": {"family": FONT}},
        "autosize": True,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def _scale_fonts(node: Any, factor: float) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("font", "textfont", "tickfont", "titlefont") and isinstance(value, dict):
                value["size"] = round(float(value.get("size", 13)) * factor, 1)
            _scale_fonts(value, factor)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict):
                _scale_fonts(item, factor)


def presentation(spec: dict[str, Any], factor: float = 1.45) -> dict[str, Any]:
    """The spec laid out for a meeting room: larger type, margins and height, legend below.

    plotly lays the figure out again from these numbers (CSS scaling would not), so legends
    and labels keep their room.
    """
    out = copy.deepcopy(spec)
    lay = out.setdefault("layout", {})
    lay.setdefault("font", {"size": 13})
    _scale_fonts(lay, factor)
    for trace in out.get("data", []):
        for key in ("textfont", "insidetextfont", "outsidetextfont"):
            if isinstance(trace.get(key), dict):
                trace[key]["size"] = round(float(trace[key].get("size", 13)) * factor, 1)
        if trace.get("type") == "heatmap" and "textfont" not in trace:
            trace["textfont"] = {"size": round(13 * factor, 1)}
    margin = lay.get("margin", {})
    lay["margin"] = {k: round(v * factor) for k, v in margin.items() if isinstance(v, int | float)}
    if "height" in lay:
        lay["height"] = round(lay["height"] * 1.25)
    if lay.get("showlegend", True):
        # below the plot, clear of the axis titles: the top margin goes back to the plot
        lay["legend"] = {**lay.get("legend", {}), "orientation": "h", "yanchor": "top",
                         "y": -0.3, "xanchor": "left", "x": 0}
        lay["margin"]["b"] = lay["margin"].get("b", 48) + round(60 * factor)
        lay["margin"]["t"] = round(48 * factor)
    return out


_HEX = re.compile(r"#[0-9a-fA-F]{6}\b")
_RGB = re.compile(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(,\s*[\d.]+\s*)?\)")


def _dark_text(text: str) -> str:
    def rgb(m: re.Match) -> str:
        hexa = "#{:02x}{:02x}{:02x}".format(*(int(m.group(i)) for i in (1, 2, 3)))
        mapped = DARK.get(hexa)
        if mapped is None:
            return m.group(0)
        r, g, b = (int(mapped[i:i + 2], 16) for i in (1, 3, 5))
        alpha = m.group(4)
        return f"rgba({r},{g},{b}{alpha})" if alpha else f"rgb({r},{g},{b})"
    return _RGB.sub(rgb, _HEX.sub(lambda m: DARK.get(m.group(0).lower(), m.group(0)), text))


def themed(spec: Any, theme: str = "light") -> Any:
    """The spec in ``theme``: every palette colour (also inside HTML text) mapped by :data:`DARK`.

    The figure widget's view and the report do the same in JavaScript (``THEME_JS``).
    """
    if theme != "dark":
        return spec
    if isinstance(spec, dict):
        return {k: themed(v, theme) for k, v in spec.items()}
    if isinstance(spec, list):
        return [themed(v, theme) for v in spec]
    if isinstance(spec, str):
        return _dark_text(spec)
    return spec


#: the same mapping in JavaScript, for the widget's view and the report:
#: ``mldashThemed(spec, dark)``
THEME_JS = """
function mldashThemed(spec, dark) {
  if (!dark) return spec;
  const MAP = __DARK_MAP__;
  const hex = /#[0-9a-fA-F]{6}\\b/g;
  const rgb = /rgba?\\(\\s*(\\d+)\\s*,\\s*(\\d+)\\s*,\\s*(\\d+)\\s*(,\\s*[\\d.]+\\s*)?\\)/g;
  const h2 = (n) => Number(n).toString(16).padStart(2, "0");
  const text = (s) => s.replace(hex, (m) => MAP[m.toLowerCase()] || m).replace(rgb,
    (m, r, g, b, a) => {
      const mapped = MAP["#" + h2(r) + h2(g) + h2(b)];
      if (!mapped) return m;
      const c = [1, 3, 5].map((i) => parseInt(mapped.slice(i, i + 2), 16)).join(",");
      return a ? "rgba(" + c + a + ")" : "rgb(" + c + ")";
    });
  const walk = (v) => {
    if (typeof v === "string") return text(v);
    if (Array.isArray(v)) {
      // numbers only (curves): kept as is; pairs such as [0, "#eff6ff"] are walked
      const n = v.length;
      return (n && typeof v[0] === "number" && typeof v[n - 1] === "number") ? v : v.map(walk);
    }
    if (v && typeof v === "object") {
      const out = {};
      for (const k in v) out[k] = walk(v[k]);
      return out;
    }
    return v;
  };
  return walk(spec);
}
""".replace("__DARK_MAP__", json.dumps(DARK))
