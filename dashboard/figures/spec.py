"""Helpers shared by the figure modules: JSON-safe values and escaped text."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["esc", "json_safe", "num", "nums"]


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
