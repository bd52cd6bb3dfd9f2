"""Where the errors concentrate: slices of metadata columns, found before anyone ticks a box.

Each metadata column becomes integer codes (a categorical column's levels, a numeric column's
quantile bins); single columns and pairs of them are counted with ``bincount`` over the codes,
one pass per column or pair, so ten million rows stay interactive. A slice is reported when
its error rate is above the rest's: its rows, errors, error against the rest, share of all
errors, the ceiling if it were fixed completely (DOMAIN.md section 2), and a one-sided
two-proportion z test adjusted by Holm's method for every slice tried (anchors: the
Responsible-AI error-analysis tree and SliceLine).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from dashboard.errors import DashboardError

__all__ = ["SliceColumn", "bin_column", "find_slices", "holm", "numeric_labels",
           "quantile_from_order_stats"]

#: a categorical column with more levels than this is an identifier, not a slice
MAX_LEVELS = 64


@dataclass(frozen=True)
class SliceColumn:
    """One metadata column as integer codes (-1 where missing) and a label per code."""

    name: str
    codes: np.ndarray
    labels: tuple[str, ...]


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def bin_column(name: str, values: pd.Series | np.ndarray, bins: int = 4) -> SliceColumn | None:
    """Codes for one column: numeric by ``bins`` quantiles, else its levels.

    ``None`` for a column that cannot make slices (one level, or more than
    :data:`MAX_LEVELS` levels, as ids and free text have).
    """
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    numeric = (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))
    if numeric:
        x = series.to_numpy(dtype=np.float64)
        finite = np.isfinite(x)
        distinct = np.unique(x[finite])
        if distinct.size <= 1:
            return None
        if distinct.size > bins:
            edges = np.unique(np.quantile(x[finite], np.linspace(0, 1, bins + 1)))
            inner = edges[1:-1]
            codes = np.where(finite, np.searchsorted(inner, x, side="right"), -1)
            return SliceColumn(name, codes.astype(np.int64), numeric_labels(name, edges=edges))
        codes = np.where(finite, np.searchsorted(distinct, x), -1)
        return SliceColumn(name, codes.astype(np.int64),
                           numeric_labels(name, distinct=distinct))
    codes, uniques = pd.factorize(series, use_na_sentinel=True, sort=True)
    if len(uniques) <= 1 or len(uniques) > MAX_LEVELS:
        return None
    return SliceColumn(name, codes.astype(np.int64),
                       tuple(f"{name} = {u}" for u in pd.Index(uniques).astype(str)))


def numeric_labels(name: str, *, edges: np.ndarray | None = None,
                   distinct: np.ndarray | None = None) -> tuple[str, ...]:
    """A numeric column's slice names: its quantile bins (``edges``) or its few values."""
    if edges is None:
        return tuple(f"{name} = {_fmt(v)}" for v in np.asarray(distinct))
    bounds = [edges[0], *edges[1:-1], edges[-1]]
    return tuple(f"{name} in [{_fmt(bounds[i])}, {_fmt(bounds[i + 1])}"
                 + ("]" if i == len(bounds) - 2 else ")") for i in range(len(bounds) - 1))


def quantile_from_order_stats(n: int, q: np.ndarray,
                              order_stats: Callable[[list[int]], dict[int, float]]
                              ) -> np.ndarray:
    """``np.quantile(x, q)`` (linear) of ``n`` values known only by their order statistics.

    ``order_stats(positions)`` gives the sorted values at those 0-based positions (an engine
    fetches just those). Each quantile is NumPy's own interpolation between its two
    neighbours, so the result equals ``np.quantile`` on the whole column bit for bit.
    """
    q = np.asarray(q, dtype=np.float64)
    virtual = (n - 1) * q
    prev = np.floor(virtual)
    top = virtual >= n - 1
    wanted = sorted({int(p) for p, t in zip(prev, top, strict=True) if not t}
                    | {int(p) + 1 for p, t in zip(prev, top, strict=True) if not t}
                    | ({n - 1} if top.any() else set()))
    found = order_stats(wanted)
    out = np.empty(q.size)
    for i, (v, p, t) in enumerate(zip(virtual, prev, top, strict=True)):
        if t:
            out[i] = found[n - 1]
        else:  # NumPy's lerp of the two neighbours, by the same operations
            out[i] = np.quantile(np.array([found[int(p)], found[int(p) + 1]]), v - p)
    return out


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: family-wise error control over every test tried."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def _upper_p(z: np.ndarray) -> np.ndarray:
    """One-sided normal tail P(Z >= z)."""
    return 0.5 * np.vectorize(math.erfc, otypes=[np.float64])(z / math.sqrt(2.0))


def find_slices(wrong: np.ndarray, columns: Sequence[SliceColumn], *, max_order: int = 2,
                min_rows: int = 20, alpha: float = 0.05, limit: int = 50,
                counts: np.ndarray | None = None) -> pd.DataFrame:
    """Slices (one column, or two with ``max_order=2``) where the errors concentrate.

    ``wrong`` marks the split's misclassified rows. Columns of the result: ``slice`` (a
    readable name), ``columns``, ``rows``, ``errors``, ``error``, ``rest_error``, ``share``
    (of all errors), ``ceiling_error`` (split error if the slice were fixed), ``excess``
    (errors above what the overall rate predicts), ``p_value`` (Holm-adjusted over every slice
    of at least ``min_rows`` rows tried), ``p_raw`` and ``significant``. Only slices whose error
    is above the rest's are listed, most excess errors first; a pair is listed only when it is
    worse than both of its single columns. ``attrs["tried"]`` counts the tests.

    ``counts`` (an engine's groups) says how many identical rows each entry stands for.
    """
    wrong = np.asarray(wrong, dtype=bool)
    if max_order not in (1, 2):
        raise DashboardError(f"max_order must be 1 or 2, got {max_order}")
    weights = None if counts is None else np.asarray(counts, dtype=np.int64)
    n = wrong.size if weights is None else int(weights.sum())
    total_errors = int(wrong.sum()) if weights is None else int(weights[wrong].sum())
    records: list[dict] = []
    parent_error: dict[tuple[str, int], float] = {}

    wrong_at = np.flatnonzero(wrong)  # errors are few: count them by position

    def count(codes: np.ndarray, size: int, complete: bool) -> tuple[np.ndarray, np.ndarray]:
        if weights is not None:  # each entry stands for weights[i] rows (exact in float64)
            ok = codes >= 0
            bad = ok & wrong
            return (np.bincount(codes[ok], weights=weights[ok], minlength=size)
                    .round().astype(np.int64),
                    np.bincount(codes[bad], weights=weights[bad], minlength=size)
                    .round().astype(np.int64))
        if complete:  # no missing value: no mask, no copy of the column
            return (np.bincount(codes, minlength=size),
                    np.bincount(codes[wrong_at], minlength=size))
        ok = codes >= 0
        err_codes = codes[wrong_at]
        return (np.bincount(codes[ok], minlength=size),
                np.bincount(err_codes[err_codes >= 0], minlength=size))

    complete = {c.name: bool(c.codes.size == 0 or c.codes.min() >= 0) for c in columns}

    for col in columns:
        if col.codes.size != wrong.size:
            raise DashboardError(f"column {col.name!r} has {col.codes.size} rows, not "
                                 f"{wrong.size}")
        rows, errs = count(col.codes, len(col.labels), complete[col.name])
        for i, (r, e) in enumerate(zip(rows.tolist(), errs.tolist(), strict=True)):
            parent_error[(col.name, i)] = e / r if r else 0.0
            records.append({"slice": col.labels[i], "columns": (col.name,), "rows": r,
                            "errors": e, "parents": ()})
    if max_order == 2:
        for a, b in combinations(columns, 2):
            la, lb = len(a.labels), len(b.labels)
            if complete[a.name] and complete[b.name]:
                combined = a.codes * lb + b.codes
            else:
                both = (a.codes >= 0) & (b.codes >= 0)
                combined = np.where(both, a.codes * lb + b.codes, -1)
            rows, errs = count(combined, la * lb, complete[a.name] and complete[b.name])
            for k in np.flatnonzero(rows >= min_rows).tolist():
                i, j = divmod(k, lb)
                records.append({"slice": f"{a.labels[i]} and {b.labels[j]}",
                                "columns": (a.name, b.name), "rows": int(rows[k]),
                                "errors": int(errs[k]),
                                "parents": ((a.name, i), (b.name, j))})
    table = pd.DataFrame.from_records(
        records, columns=["slice", "columns", "rows", "errors", "parents"])
    table = table[(table["rows"] >= min_rows) & (table["rows"] < n)].reset_index(drop=True)
    p = total_errors / n if n else 0.0
    rows = table["rows"].to_numpy(dtype=np.float64)
    errs = table["errors"].to_numpy(dtype=np.float64)
    rest = n - rows
    error = errs / np.maximum(rows, 1)
    rest_error = (total_errors - errs) / np.maximum(rest, 1)
    se = np.sqrt(p * (1 - p) * (1 / np.maximum(rows, 1) + 1 / np.maximum(rest, 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (error - rest_error) / se, 0.0)
    p_raw = _upper_p(z) if len(table) else np.empty(0)
    table = table.assign(error=error, rest_error=rest_error,
                         share=errs / total_errors if total_errors else 0.0,
                         ceiling_error=(total_errors - errs) / n if n else np.nan,
                         excess=errs - rows * p, p_raw=p_raw, p_value=holm(p_raw))
    tried = len(table)
    worse = table["error"] > table["rest_error"]
    above_parents = np.array([all(e > parent_error[q] for q in parents)
                              for e, parents in zip(table["error"], table["parents"],
                                                    strict=True)], dtype=bool)
    table = table[worse.to_numpy() & above_parents]
    table = table.assign(significant=table["p_value"] < alpha)
    table = table.sort_values(["excess", "p_value"], ascending=[False, True]).head(limit)
    out = table.drop(columns=["parents"]).reset_index(drop=True)
    out.attrs.update({"tried": tried, "errors": total_errors, "rows": n, "alpha": alpha,
                      "error": p})
    return out
