"""Where the errors concentrate: slices of metadata columns, found before anyone ticks a box.

Each metadata column becomes integer codes (a categorical column's levels, a numeric column's
quantile bins); single columns and pairs of them are counted with ``bincount`` over the codes,
one pass per column or pair, so ten million rows stay interactive. A slice is reported when
its error rate is above the rest's: its rows, errors, error against the rest, share of all
errors, the ceiling if it were fixed completely (DOMAIN.md section 2), and an exact one-sided
hypergeometric (Fisher) test of the slice against the rest, adjusted by Holm's method over
every slice tried, so the table controls the family-wise error rate (DOMAIN.md section 5: a
normal approximation overstates significance on small counts). Anchors: the Responsible-AI
error-analysis tree and SliceLine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from dashboard.errors import DashboardError

__all__ = ["SliceColumn", "SliceGroups", "bin_column", "find_slices", "holm", "numeric_labels",
           "quantile_from_order_stats", "slice_p_values",
           "slice_test_note"]

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


def slice_test_note(table: pd.DataFrame) -> str:
    """The sentence under a slice table: which test, over how many slices, what it controls."""
    attrs = table.attrs
    return (f"Exact one-sided test of each slice against the rest (hypergeometric), "
            f"Holm-adjusted over the {attrs.get('tried', 0)} slices tried: at most a "
            f"{attrs.get('alpha', 0.05):.0%} chance of calling any slice significant when the "
            f"errors do not depend on the metadata"
            + (" (rows counted as examples; error, share and ceiling weighted)."
               if attrs.get("weighted") else "."))


def slice_p_values(errors: np.ndarray, rows: np.ndarray, total_errors: int,
                   total_rows: int) -> np.ndarray:
    """Exact one-sided p of each slice: P(X >= errors) for X ~ Hypergeom(total_rows,
    total_errors, rows), the chance that a random set of ``rows`` rows holds that many errors.

    Conditional on the split's error count, this is Fisher's exact test of the slice against
    the rest: honest at 3 errors in 20 rows, where the pooled z test is 29x too small.
    """
    from scipy.stats import hypergeom  # imported when slices are first asked for

    errors = np.asarray(errors, dtype=np.int64)
    if errors.size == 0:
        return np.empty(0)
    p = hypergeom.sf(errors - 1, int(total_rows), int(total_errors),
                     np.asarray(rows, dtype=np.int64))
    return np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)


def find_slices(wrong: np.ndarray, columns: Sequence[SliceColumn], *, max_order: int = 2,
                min_rows: int = 20, alpha: float = 0.05, limit: int = 50,
                counts: np.ndarray | None = None,
                weights: np.ndarray | None = None) -> pd.DataFrame:
    """Slices (one column, or two with ``max_order=2``) where the errors concentrate.

    ``wrong`` marks the split's misclassified rows. Columns of the result: ``slice`` (a
    readable name), ``columns``, ``rows``, ``errors``, ``error``, ``rest_error``, ``share``
    (of all errors), ``ceiling_error`` (split error if the slice were fixed), ``excess``
    (errors above what the overall rate predicts), ``p_value`` (the exact one-sided test of
    :func:`slice_p_values`, Holm-adjusted over every slice of at least ``min_rows`` rows tried),
    ``p_raw`` and ``significant``. Only slices whose error is above the rest's are listed, most
    excess errors first; a pair is listed only when it is worse than both of its single
    columns. ``attrs["tried"]`` counts the tests, :func:`slice_test_note` says which test it is.

    ``counts`` (an engine's groups) says how many identical rows each entry stands for.
    ``weights`` (per entry: the rows' summed weight) makes ``error``, ``rest_error``,
    ``share`` and ``ceiling_error`` weighted, as the view's dev error is; the test stays on
    the counts of examples (``rows``, ``errors``), which is where its exactness comes from.
    """
    wrong = np.asarray(wrong, dtype=bool)
    if max_order not in (1, 2):
        raise DashboardError(f"max_order must be 1 or 2, got {max_order}")
    multiplicity = None if counts is None else np.asarray(counts, dtype=np.int64)
    mass = None if weights is None else np.asarray(weights, dtype=np.float64)
    n = wrong.size if multiplicity is None else int(multiplicity.sum())
    total_errors = int(wrong.sum()) if multiplicity is None else int(multiplicity[wrong].sum())
    w_total = n if mass is None else float(mass.sum())
    w_errors = total_errors if mass is None else float(mass[wrong].sum())
    records: list[dict] = []
    parent_error: dict[tuple[str, int], float] = {}

    wrong_at = np.flatnonzero(wrong)  # errors are few: count them by position

    def count(codes: np.ndarray, size: int, complete: bool) -> tuple[np.ndarray, ...]:
        """Rows and errors per code, then their weight (the same counts when unweighted)."""
        ok = None if complete else codes >= 0
        bad = wrong if ok is None else ok & wrong
        if multiplicity is not None:  # each entry stands for counts[i] rows (exact in float64)
            sel = slice(None) if ok is None else ok
            rows = np.bincount(codes[sel], weights=multiplicity[sel], minlength=size)
            errs = np.bincount(codes[bad], weights=multiplicity[bad], minlength=size)
            rows, errs = rows.round().astype(np.int64), errs.round().astype(np.int64)
        elif complete:  # no missing value: no mask, no copy of the column
            rows = np.bincount(codes, minlength=size)
            errs = np.bincount(codes[wrong_at], minlength=size)
        else:
            err_codes = codes[wrong_at]
            rows = np.bincount(codes[ok], minlength=size)
            errs = np.bincount(err_codes[err_codes >= 0], minlength=size)
        if mass is None:
            return rows, errs, rows, errs
        sel = slice(None) if ok is None else ok
        return (rows, errs, np.bincount(codes[sel], weights=mass[sel], minlength=size),
                np.bincount(codes[bad], weights=mass[bad], minlength=size))

    complete = {c.name: bool(c.codes.size == 0 or c.codes.min() >= 0) for c in columns}

    for col in columns:
        if col.codes.size != wrong.size:
            raise DashboardError(f"column {col.name!r} has {col.codes.size} rows, not "
                                 f"{wrong.size}")
        rows, errs, w_rows, w_errs = count(col.codes, len(col.labels), complete[col.name])
        for i in range(len(col.labels)):
            wr, we = float(w_rows[i]), float(w_errs[i])
            parent_error[(col.name, i)] = we / wr if wr > 0 else 0.0
            records.append({"slice": col.labels[i], "columns": (col.name,), "rows": int(rows[i]),
                            "errors": int(errs[i]), "w_rows": wr, "w_errors": we,
                            "parents": ()})
    if max_order == 2:
        for a, b in combinations(columns, 2):
            la, lb = len(a.labels), len(b.labels)
            if complete[a.name] and complete[b.name]:
                combined = a.codes * lb + b.codes
            else:
                both = (a.codes >= 0) & (b.codes >= 0)
                combined = np.where(both, a.codes * lb + b.codes, -1)
            rows, errs, w_rows, w_errs = count(combined, la * lb,
                                               complete[a.name] and complete[b.name])
            for k in np.flatnonzero(rows >= min_rows).tolist():
                i, j = divmod(k, lb)
                records.append({"slice": f"{a.labels[i]} and {b.labels[j]}",
                                "columns": (a.name, b.name), "rows": int(rows[k]),
                                "errors": int(errs[k]), "w_rows": float(w_rows[k]),
                                "w_errors": float(w_errs[k]),
                                "parents": ((a.name, i), (b.name, j))})
    table = pd.DataFrame.from_records(
        records, columns=["slice", "columns", "rows", "errors", "w_rows", "w_errors", "parents"])
    table = table[(table["rows"] >= min_rows) & (table["rows"] < n)].reset_index(drop=True)
    p = w_errors / w_total if w_total > 0 else 0.0
    errs = table["errors"].to_numpy(dtype=np.int64)
    w_rows = table["w_rows"].to_numpy(dtype=np.float64)
    w_errs = table["w_errors"].to_numpy(dtype=np.float64)
    w_rest = w_total - w_rows
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.where(w_rows > 0, w_errs / w_rows, 0.0)
        rest_error = np.where(w_rest > 0, (w_errors - w_errs) / w_rest, 0.0)
    p_raw = slice_p_values(errs, table["rows"].to_numpy(), total_errors, n)
    table = table.assign(error=error, rest_error=rest_error,
                         share=w_errs / w_errors if w_errors > 0 else 0.0,
                         ceiling_error=(w_errors - w_errs) / w_total if w_total > 0 else np.nan,
                         excess=w_errs - w_rows * p, p_raw=p_raw, p_value=holm(p_raw))
    tried = len(table)
    worse = table["error"] > table["rest_error"]
    above_parents = np.array([all(e > parent_error[q] for q in parents)
                              for e, parents in zip(table["error"], table["parents"],
                                                    strict=True)], dtype=bool)
    table = table[worse.to_numpy() & above_parents]
    table = table.assign(significant=table["p_value"] < alpha)
    table = table.sort_values(["excess", "p_value"], ascending=[False, True]).head(limit)
    out = table.drop(columns=["parents", "w_rows", "w_errors"]).reset_index(drop=True)
    out.attrs.update({"tried": tried, "errors": total_errors, "rows": n, "alpha": alpha,
                      "error": p, "weighted": mass is not None})
    return out


#: at most this many groups (level combinations x label) for :class:`SliceGroups`
GROUP_LIMIT = 4096


@dataclass(frozen=True)
class SliceGroups:
    """A split's rows grouped by every slice column's level and the label, each group's
    scores sorted: :func:`find_slices` at any threshold from a binary search per group
    instead of a pass over the rows (a threshold move with the grid shown).

    ``columns`` hold one code per group; group ``g``'s scores are
    ``scores[bounds[g]:bounds[g + 1]]`` (sorted) with their cumulative weights.
    """

    columns: tuple[SliceColumn, ...]
    positive: np.ndarray
    bounds: np.ndarray
    scores: np.ndarray
    cum_weight: np.ndarray | None

    @classmethod
    def build(cls, columns: Sequence[SliceColumn], is_positive: np.ndarray,
              scores: np.ndarray, weights: np.ndarray | None = None,
              limit: int = GROUP_LIMIT) -> SliceGroups | None:
        """Group the rows; None when there would be more than ``limit`` groups."""
        is_pos = np.asarray(is_positive, dtype=bool)
        key = is_pos.astype(np.int64)
        radix = 2
        for col in columns:
            size = len(col.labels) + 1  # -1 (missing) is a level too
            if radix * size > limit * 64:
                return None
            key = key + radix * (np.asarray(col.codes, dtype=np.int64) + 1)
            radix *= size
        distinct, group = np.unique(key, return_inverse=True)
        if distinct.size > limit:
            return None
        order = np.lexsort((scores, group))
        counts = np.bincount(group, minlength=distinct.size)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        cols, rest = [], distinct.copy()
        rest //= 2
        for col in columns:
            size = len(col.labels) + 1
            cols.append(SliceColumn(col.name, (rest % size - 1).astype(np.int64), col.labels))
            rest //= size
        cum = None
        if weights is not None:
            cum = np.concatenate([[0.0], np.cumsum(np.asarray(weights, np.float64)[order])])
        return cls(tuple(cols), (distinct % 2).astype(bool), bounds,
                   np.asarray(scores)[order], cum)

    def at(self, threshold: float) -> tuple[np.ndarray, SliceColumn, ...]:
        """Per group, at ``threshold`` (``score >= threshold`` is positive, compared in the
        scores' dtype as :func:`~dashboard.metrics.curve.flag` does): the counts of wrong
        and right rows and their weights."""
        from dashboard.metrics.curve import cast_threshold, score_dtype

        s = self.scores
        t = s.dtype.type(cast_threshold(threshold, score_dtype(s))) if s.dtype.kind == "f" \
            else cast_threshold(threshold)
        g = self.bounds.size - 1
        below = np.empty(g, dtype=np.int64)
        for i in range(g):  # rows of group i scored under the threshold
            lo, hi = int(self.bounds[i]), int(self.bounds[i + 1])
            below[i] = lo + int(np.searchsorted(s[lo:hi], t, side="left"))
        size = np.diff(self.bounds)
        flagged = self.bounds[1:] - below
        wrong = np.where(self.positive, size - flagged, flagged)
        if self.cum_weight is None:
            return wrong, size - wrong, wrong.astype(np.float64), (size - wrong).astype(float)
        total = self.cum_weight[self.bounds[1:]] - self.cum_weight[self.bounds[:-1]]
        w_below = self.cum_weight[below] - self.cum_weight[self.bounds[:-1]]
        w_wrong = np.where(self.positive, w_below, total - w_below)
        return wrong, size - wrong, w_wrong, total - w_wrong

    def find(self, threshold: float, weighted: bool = False, **options: object
             ) -> pd.DataFrame:
        """:func:`find_slices` of the rows at ``threshold``, from the groups."""
        wrong, right, w_wrong, w_right = self.at(threshold)
        cols = [SliceColumn(c.name, np.concatenate([c.codes, c.codes]), c.labels)
                for c in self.columns]
        is_wrong = np.concatenate([np.ones(wrong.size, bool), np.zeros(right.size, bool)])
        return find_slices(is_wrong, cols, counts=np.concatenate([wrong, right]),
                           weights=np.concatenate([w_wrong, w_right]) if weighted else None,
                           **options)  # type: ignore[arg-type]
