"""Helpers shared by the figure modules: JSON-safe values and escaped text."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["alt_text", "esc", "json_safe", "num", "nums"]


def esc(text: object) -> str:
    """A user string made inert for plotly's HTML subset (``<a href>`` stays text)."""
    return html.escape(str(text), quote=True)


def num(x: Any) -> float | None:
    """A float for JSON: NaN and infinities become ``None``."""
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def nums(values: Any) -> list[float | None]:
    """A list of JSON floats from any sequence or array (NaN -> ``None``)."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(arr)
    out = arr.tolist()
    if finite.all():
        return out
    return [v if ok else None for v, ok in zip(out, finite.tolist(), strict=True)]


def json_safe(obj: Any) -> Any:
    """A deep copy of ``obj`` made of dicts, lists, str, int, float (finite), bool and None."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fiub":
            return json_safe(obj.tolist())
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return num(obj)
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"not JSON-safe: {type(obj).__name__}")


_TAG = re.compile(r"<br\s*/?>|<[^>]*>", re.IGNORECASE)


def _plain(text: object) -> str:
    """Plotly's HTML subset as plain words: tags dropped, ``<br>`` a space, entities read."""
    return " ".join(html.unescape(_TAG.sub(lambda m: " " if m.group(0)[1:3].lower() == "br"
                                           else "", str(text))).split())


def _title(node: Any) -> str:
    if isinstance(node, Mapping):
        node = node.get("text", "")
    return _plain(node or "")


def alt_text(spec: Mapping[str, Any]) -> str:
    """The figure in words, for screen readers (WCAG 1.1.1): its title, each labelled mark
    ("dev: 8.5%", "blurry: 61% · ceiling 3.32%") and the lines it draws, from the spec alone."""
    lay = spec.get("layout", {}) or {}
    parts = [t for t in (_title(lay.get("title")),) if t]
    xaxis = lay.get("xaxis", {}) or {}
    ticks = dict(zip(xaxis.get("tickvals") or [], xaxis.get("ticktext") or [], strict=False))
    lines = []
    for trace in spec.get("data", []) or []:
        if trace.get("visible") is False or trace.get("showlegend") is False and not \
                trace.get("text"):
            continue
        text = trace.get("text")
        if trace.get("type") == "heatmap" and isinstance(text, list):
            cells = [_plain(c) for row in text for c in (row if isinstance(row, list) else [row])]
            parts.append("; ".join(c for c in cells if c))
            continue
        if isinstance(text, list) and any(text):
            where = trace.get("y") if trace.get("orientation") == "h" else trace.get("x")
            where = where or [None] * len(text)
            items = []
            for at, label in zip(where, text, strict=False):
                label = _plain(label)
                if not label:
                    continue
                # a category (or a tick's text) names the mark; a bare number does not
                name = _plain(ticks[at]) if at in ticks else at if isinstance(at, str) else ""
                items.append(f"{_plain(name)}: {label}" if name else label)
            if items:
                # a panel of small multiples names itself (trace meta "alt")
                meta = trace.get("meta")
                prefix = _plain(meta["alt"]) + ": " if isinstance(meta, Mapping) and \
                    meta.get("alt") else ""
                parts.append(prefix + "; ".join(items))
        elif trace.get("name") and (trace.get("x") or trace.get("y")):
            lines.append(_plain(trace["name"]))
    if lines:
        parts.append("Lines: " + ", ".join(dict.fromkeys(lines)))
    for axis in ("xaxis", "yaxis"):
        title = _title((lay.get(axis, {}) or {}).get("title"))
        if title:
            parts.append(f"{'x' if axis == 'xaxis' else 'y'} axis: {title}")
    return ". ".join(p.rstrip(".") for p in parts if p) + ("." if parts else "")
