"""Mismatch drivers: quiet when train and dev are distributed alike, the planted shift found first.

Each null dataset draws every split's metadata from one distribution (a boolean, a three-level
category, a six-level one with a rare level whose expected counts are small, a continuous
column in quantile bins) with errors independent of it; each planted one moves night from 15%
of train to 45% of dev, with 14% error at night against 4% elsewhere. Both rates are printed.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

import dashboard
from dashboard import Results
from dashboard.metrics.mismatch import (
    MismatchColumn,
    driver_sentence,
    homogeneity_p_value,
    mismatch_table,
)
from dashboard.metrics.slices import bin_column

RUNS = 300
SPLITS = ("train", "train_dev", "dev")


def within_5_percent(claims: int, runs: int = RUNS) -> bool:
    from scipy.stats import binom

    return claims <= binom.ppf(0.99, runs, 0.05)


def _draw(rng: np.random.Generator, sizes: dict[str, int], planted: bool,
          costly: bool = True) -> pd.DataFrame:
    parts = []
    for split, n in sizes.items():
        night_rate = 0.45 if planted and split == "dev" else 0.15
        night = rng.random(n) < night_rate
        error_rate = (np.where(night, 0.14, 0.04) if planted and costly else
                      np.full(n, 0.08))
        parts.append(pd.DataFrame({
            "split": split, "night": night,
            "device": rng.choice(["ios", "android", "web"], n, p=[0.6, 0.3, 0.1]),
            "region": rng.choice(list("abcdef"), n, p=[0.4, 0.3, 0.15, 0.1, 0.03, 0.02]),
            "brightness": rng.normal(size=n),
            "wrong": rng.random(n) < error_rate}))
    return pd.concat(parts, ignore_index=True)


def _table(frame: pd.DataFrame) -> pd.DataFrame:
    """mismatch_table over the frame's columns, binned on all rows (as Results does)."""
    split = frame["split"].to_numpy()
    cols = []
    for name in ("night", "device", "region", "brightness"):
        col = bin_column(name, frame[name], 4)
        assert col is not None
        at = {s: split == s for s in SPLITS}
        cols.append(MismatchColumn.from_codes(
            name, col.labels, col.codes[at["train"]], col.codes[at["dev"]],
            col.codes[at["train_dev"]], frame["wrong"].to_numpy()[at["train_dev"]],
            frame["wrong"].to_numpy()[at["dev"]]))
    return mismatch_table(cols)


@pytest.mark.parametrize("sizes", [
    {"train": 300, "train_dev": 100, "dev": 100},
    {"train": 3000, "train_dev": 500, "dev": 500},
    {"train": 20000, "train_dev": 2000, "dev": 2000},
])
def test_no_shift_is_flagged_on_null_data_and_the_planted_one_is_found(sizes: dict) -> None:
    rng = np.random.default_rng(sizes["dev"])
    null = [_table(_draw(rng, sizes, planted=False)) for _ in range(RUNS)]
    flagged = sum(bool(t["significant"].any()) for t in null)
    drivers = sum(bool(t["driver"].any()) for t in null)
    planted = [_table(_draw(rng, sizes, planted=True)) for _ in range(100)]
    found = sum(t["column"].iloc[0] == "night" and bool(t["significant"].iloc[0])
                for t in planted)
    named = sum(t["column"].iloc[0] == "night" and bool(t["driver"].iloc[0]) for t in planted)
    print(f"{sizes}: a shift flagged on {flagged}/{RUNS} null datasets (a driver on "
          f"{drivers}); the planted night shift first and significant on {found}/100, "
          f"named a driver on {named}/100")
    assert within_5_percent(flagged)
    assert within_5_percent(drivers)
    assert found >= 95
    # whether the error differs is tested on train_dev alone: power grows with its size
    assert named >= {100: 10, 500: 70, 2000: 95}[sizes["train_dev"]]


def test_a_shift_that_costs_nothing_is_not_called_a_driver() -> None:
    """Night moves from 15% to 45% but the error is 8% by day and by night: the shift is found,
    "driver" (the error where it shifts differs) is said on at most 5% of datasets."""
    rng = np.random.default_rng(99)
    sizes = {"train": 3000, "train_dev": 500, "dev": 500}
    tables = [_table(_draw(rng, sizes, planted=True, costly=False)) for _ in range(RUNS)]
    drivers = sum(bool(t["driver"].any()) for t in tables)
    found = sum(t.loc[t["column"] == "night", "significant"].item() for t in tables)
    print(f"a shift without cost: night's shift found on {found}/{RUNS}, a driver named on "
          f"{drivers}/{RUNS}")
    assert within_5_percent(drivers)
    assert found >= 0.95 * RUNS


def test_the_p_value_is_pearsons_chi_square_and_small_tables_are_simulated() -> None:
    a, b = np.array([120.0, 80, 50]), np.array([40.0, 60, 50])
    expected = chi2_contingency(np.stack([a, b]), correction=False).pvalue
    assert homogeneity_p_value(a, b) == pytest.approx(expected, rel=1e-12)
    # expected counts below 5: the simulated p is near the exact (Fisher) one, not chi2's
    small_a, small_b = np.array([9.0, 1]), np.array([5.0, 5])
    from scipy.stats import fisher_exact

    exact = fisher_exact(np.stack([small_a, small_b])).pvalue
    assert homogeneity_p_value(small_a, small_b) == pytest.approx(exact, abs=0.02)
    assert homogeneity_p_value(np.array([5.0, 0]), np.array([5.0, 0])) == 1.0


def test_results_mismatch_drivers_names_the_shift_and_its_cost() -> None:
    rng = np.random.default_rng(7)
    frame = _draw(rng, {"train": 4000, "train_dev": 1000, "dev": 1000}, planted=True)
    label = rng.integers(0, 2, len(frame))
    frame = frame.assign(id=np.arange(len(frame)), label=label,
                         prediction=np.where(frame["wrong"], 1 - label, label)
                         ).drop(columns="wrong")
    r = Results.from_frame(frame, score=None, prediction="prediction", model=None)
    table = r.mismatch_drivers(source="train", target="dev")
    assert list(table.columns[:4]) == ["column", "shift", "shift_low", "shift_high"]
    top = table.iloc[0]
    assert top["column"] == "night" and top["significant"] and top["driver"]
    assert top["moved"].startswith("night = True: 1") and "of train" in top["moved"]
    assert "4" in top["moved"].split(",")[1]  # about 45% of dev
    assert top["cost"].startswith("error there 1")  # about 14% at night, in train_dev
    assert top["shift_low"] < top["shift"] < top["shift_high"]
    assert 0.02 < top["explained"] < 0.05  # +30 pp of night x 10 pp more error there
    assert len(table) == 4 and table.attrs["held"] == "train_dev"
    assert "night" in driver_sentence(table)
    levels = table.attrs["levels"]["night"]
    assert levels["target_share"].sum() == pytest.approx(1.0)



@functools.cache
def _demo() -> Results:
    return Results.from_file(Path(dashboard.__file__).parent / "data" / "demo" /
                             "cat_results.parquet")


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_errors_per_level_from_level_curves_equal_a_count_of_the_rows(data: st.DataObject
                                                                      ) -> None:
    """A threshold move counts each level's errors by a binary search into that level's
    curve; at any threshold (a score itself included) they are the rows' own count."""
    r = _demo()
    scores = r.frame["score"].to_numpy()
    r.threshold = float(data.draw(st.sampled_from([0.0, 0.5, 1.0, *scores[:50].tolist()])))
    model = data.draw(st.sampled_from(r.models))
    got = r._mismatch_columns(model, "train", "dev", "train_dev", 4)
    codes = r._source._memo[("mismatch_codes", model, None, ("train", "dev", "train_dev"), 4)]
    wrong = {s: ~r.correct(s, model) for s in ("train_dev", "dev")}
    assert got
    for col, (name, labels, src, tgt, hld, _) in zip(got, codes, strict=True):
        want = MismatchColumn.from_codes(name, labels, src, tgt, hld, wrong["train_dev"],
                                         wrong["dev"])
        assert np.array_equal(col.held_errors, want.held_errors)
        assert np.array_equal(col.target_errors, want.target_errors)
        for part in ("source", "target", "held_rows"):
            assert np.array_equal(getattr(col, part), getattr(want, part))
