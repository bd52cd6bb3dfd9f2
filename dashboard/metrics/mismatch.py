"""Mismatch drivers: which metadata columns are distributed differently in training and dev data,
and what that shift costs in error.

DOMAIN.md section 5: a shift (15% night images in train, 45% in dev) is a data-mismatch driver
only if it is beyond noise, adjusted over the columns tried, and the error where it shifts
differs. Each column is a table of rows per level in the source (train) and target (dev)
splits, and of rows and errors per level in the held-out training split (train_dev) and the
target. Per column:

- ``shift``: the total-variation distance between the two level distributions (the share of
  rows that would have to change level), with a multinomial bootstrap 95% interval;
- ``p_value``: a test of homogeneity of the two distributions (Pearson's chi-square, its
  p-value by simulation under fixed margins when an expected count is below 5), Holm-adjusted
  over the columns tried; ``significant`` when below ``alpha``;
- ``error_p_value``: the same test of whether the held-out error differs between levels,
  Holm-adjusted; ``driver`` when both are significant;
- ``explained``: how much of the mismatch gap the change of mix alone predicts, the sum over
  levels of (target share - source share) x held-out error there;
- the level that moved most, in words: "night = True: 15% of train, 45% of dev; error there 14% in
  train_dev vs 16% in dev".

Rows come best first: drivers, then significant shifts, by the error they explain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dashboard.errors import DashboardError
from dashboard.metrics.distributions import chi2_sf
from dashboard.metrics.slices import holm

__all__ = ["MismatchColumn", "columns_from_groups", "driver_sentence", "homogeneity_p_value",
           "mismatch_table", "tv_distance_interval"]

#: simulated tables for a p-value when an expected count is small
SIMULATIONS = 4000
#: bootstrap draws for the shift's interval
BOOTSTRAP = 1000


@dataclass(frozen=True)
class MismatchColumn:
    """One metadata column's counts per level: rows in source and target, rows and errors in
    the held-out training split and in the target."""

    name: str
    labels: tuple[str, ...]
    source: np.ndarray
    target: np.ndarray
    held_rows: np.ndarray
    held_errors: np.ndarray
    target_errors: np.ndarray

    @classmethod
    def from_codes(cls, name: str, labels: Sequence[str], source: np.ndarray,
                   target: np.ndarray, held: np.ndarray, held_wrong: np.ndarray | None,
                   target_wrong: np.ndarray | None, *, held_errors: np.ndarray | None = None,
                   target_errors: np.ndarray | None = None) -> MismatchColumn:
        """Count level codes (0..k-1, -1 missing: not counted) of each split's rows; the
        errors per level from the rows' ``*_wrong`` masks, or given counted (``*_errors``)."""
        k = len(labels)

        def count(codes: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
            codes = np.asarray(codes, dtype=np.int64)
            keep = codes >= 0 if mask is None else (codes >= 0) & np.asarray(mask, bool)
            return np.bincount(codes[keep], minlength=k).astype(np.float64)
        held_err = np.asarray(held_errors, dtype=np.float64) if held_errors is not None \
            else count(held, held_wrong)
        target_err = np.asarray(target_errors, dtype=np.float64) if target_errors is not None \
            else count(target, target_wrong)
        return cls(name, tuple(labels), count(source), count(target), count(held), held_err,
                   target_err)


def columns_from_groups(columns: Sequence[Any], split_codes: np.ndarray, wrong: np.ndarray,
                        counts: np.ndarray, source: int, target: int, held: int
                        ) -> list[MismatchColumn]:
    """:class:`MismatchColumn` s from an engine's groups: each group's level code per column
    (``SliceColumn`` s), split code, whether it is wrong and how many rows it stands for."""
    split_codes = np.asarray(split_codes, dtype=np.int64)
    wrong = np.asarray(wrong, dtype=bool)
    counts = np.asarray(counts, dtype=np.float64)
    out = []
    for col in columns:
        k = len(col.labels)
        codes = np.asarray(col.codes, dtype=np.int64)

        def count(mask: np.ndarray, codes: np.ndarray = codes, k: int = k) -> np.ndarray:
            keep = mask & (codes >= 0)
            return np.bincount(codes[keep], weights=counts[keep], minlength=k)
        at = {c: split_codes == c for c in (source, target, held)}
        out.append(MismatchColumn(col.name, tuple(col.labels), count(at[source]),
                                  count(at[target]), count(at[held]),
                                  count(at[held] & wrong), count(at[target] & wrong)))
    return out


def _chi2(table: np.ndarray) -> np.ndarray:
    """Pearson's statistic of each 2 x k table in a stack (..., 2, k) with fixed margins."""
    rows = table.sum(axis=-1, keepdims=True)
    cols = table.sum(axis=-2, keepdims=True)
    total = table.sum(axis=(-2, -1), keepdims=True)
    expected = rows * cols / total
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (table - expected) ** 2 / expected, 0.0)
    return terms.sum(axis=(-2, -1))


def homogeneity_p_value(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """p-value that two count vectors over the same levels come from one distribution.

    Pearson's chi-square on the 2 x k table; when an expected count is below 5 the p-value is
    simulated from the table's exact null (the multivariate hypergeometric draw of ``a`` given
    both margins), as an exact test would be, rather than read from the chi-square law.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    used = (a + b) > 0
    a, b = a[used], b[used]
    if a.size < 2 or a.sum() == 0 or b.sum() == 0:
        return 1.0
    table = np.stack([a, b])
    stat = float(_chi2(table))
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    if expected.min() >= 5:
        return chi2_sf(stat, a.size - 1)
    rng = np.random.default_rng(seed)
    totals = (a + b).astype(np.int64)
    draws = rng.multivariate_hypergeometric(totals, int(a.sum()), size=SIMULATIONS)
    sims = np.stack([draws, totals - draws], axis=1).astype(np.float64)
    more = int(np.count_nonzero(_chi2(sims) >= stat * (1 - 1e-12)))
    return (1 + more) / (SIMULATIONS + 1)


def tv_distance_interval(a: np.ndarray, b: np.ndarray, seed: int = 0
                         ) -> tuple[float, float, float]:
    """Total-variation distance between two level distributions, with a 95% percentile
    interval from multinomial bootstrap draws of each side. The distance is never negative, so
    the interval sits above 0 even without a shift: read significance from the test."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na, nb = a.sum(), b.sum()
    if na == 0 or nb == 0:
        return (math.nan, math.nan, math.nan)
    pa, pb = a / na, b / nb
    tvd = 0.5 * float(np.abs(pa - pb).sum())
    rng = np.random.default_rng(seed)
    da = rng.multinomial(int(na), pa, size=BOOTSTRAP) / na
    db = rng.multinomial(int(nb), pb, size=BOOTSTRAP) / nb
    boot = 0.5 * np.abs(da - db).sum(axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return tvd, float(lo), float(hi)


def _pct(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    return f"{x:.0%}" if x == 0 or x >= 0.1 or round(x * 100) >= 1 else f"{x:.1%}"


def mismatch_table(columns: Sequence[MismatchColumn], *, source: str = "train",
                   target: str = "dev", held: str = "train_dev", alpha: float = 0.05
                   ) -> pd.DataFrame:
    """One row per column, best explanation of the mismatch gap first (see the module text).

    Columns: ``column``, ``shift``, ``shift_low``, ``shift_high``, ``p_value`` (adjusted),
    ``p_raw``, ``significant``, ``error_p_value`` (adjusted), ``driver``, ``explained``,
    ``level`` (the level that moved most), ``source_share``, ``target_share``,
    ``held_error``, ``target_error`` (error in that level), ``moved`` and ``cost`` (in
    words). ``attrs["levels"]`` holds each column's per-level table.
    """
    records, levels = [], {}
    for i, col in enumerate(columns):
        k = len(col.labels)
        for arr in (col.source, col.target, col.held_rows, col.held_errors, col.target_errors):
            if np.asarray(arr).shape != (k,):
                raise DashboardError(f"column {col.name!r}: counts per level do not match "
                                     f"its {k} levels")
        ns, nt, nh = col.source.sum(), col.target.sum(), col.held_rows.sum()
        if ns == 0 or nt == 0:
            continue
        s_share, t_share = col.source / ns, col.target / nt
        with np.errstate(divide="ignore", invalid="ignore"):
            h_err = np.where(col.held_rows > 0, col.held_errors / col.held_rows, np.nan)
            t_err = np.where(col.target > 0, col.target_errors / col.target, np.nan)
        overall_held = col.held_errors.sum() / nh if nh > 0 else math.nan
        explained = float(np.sum((t_share - s_share) * np.where(np.isfinite(h_err), h_err,
                                                                 overall_held)))
        shift, lo, hi = tv_distance_interval(col.source, col.target, seed=i)
        p_raw = homogeneity_p_value(col.source, col.target, seed=i)
        err_p = homogeneity_p_value(col.held_errors, col.held_rows - col.held_errors,
                                    seed=1000 + i) if nh > 0 else 1.0
        moved = t_share - s_share  # a tie (two levels mirror each other) goes to the one grown
        top = int(np.argmax(np.abs(moved) + 1e-9 * (moved > 0)))
        name = col.labels[top]
        records.append({
            "column": col.name, "shift": shift, "shift_low": lo, "shift_high": hi,
            "p_raw": p_raw, "error_p_raw": err_p, "explained": explained, "level": name,
            "source_share": float(s_share[top]), "target_share": float(t_share[top]),
            "held_error": float(h_err[top]), "target_error": float(t_err[top]),
            "moved": f"{name}: {_pct(s_share[top])} of {source}, {_pct(t_share[top])} of "
                     f"{target}",
            "cost": f"error there {_pct(h_err[top])} in {held} vs {_pct(t_err[top])} in "
                    f"{target}"})
        levels[col.name] = pd.DataFrame({
            "level": list(col.labels),
            "source_share": s_share, "target_share": t_share, "held_rows": col.held_rows,
            "held_error": h_err, "target_rows": col.target, "target_error": t_err})
    cols = ["column", "shift", "shift_low", "shift_high", "p_value", "p_raw", "significant",
            "error_p_value", "driver", "explained", "level", "source_share", "target_share",
            "held_error", "target_error", "moved", "cost"]
    if not records:
        table = pd.DataFrame(columns=cols)
    else:
        table = pd.DataFrame.from_records(records)
        table["p_value"] = holm(table["p_raw"].to_numpy())
        table["error_p_value"] = holm(table["error_p_raw"].to_numpy())
        table["significant"] = table["p_value"] < alpha
        table["driver"] = table["significant"] & (table["error_p_value"] < alpha)
        table = table.sort_values(["driver", "significant", "explained", "p_value"],
                                  ascending=[False, False, False, True], kind="stable")
        table = table[cols].reset_index(drop=True)
    table.attrs.update({"source": source, "target": target, "held": held, "alpha": alpha,
                        "tried": len(records), "levels": levels})
    return table


def driver_sentence(table: pd.DataFrame) -> str | None:
    """'Top mismatch driver: night = True, 15% of train and 45% of dev (error there 14% in
    train_dev vs 16% in dev).' when the first row is a driver, else ``None``."""
    if table.empty or not bool(table["driver"].iloc[0]):
        return None
    row = table.iloc[0]
    return f"Top mismatch driver: {row['moved']} ({row['cost']})."
