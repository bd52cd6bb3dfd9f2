"""Claims the data cannot support are not made (DOMAIN.md: "say it only when the data shows it").

Gap intervals are Newcombe's (checked against statsmodels), the focus is chosen among
significant gaps only, negative-gap verdicts need significance, shares of the tally carry
their interval, and headlines never print "nan".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from dashboard import DashboardError, Results
from dashboard.metrics import decompose_gaps, tally_table, wilson_interval
from dashboard.metrics.intervals import newcombe_interval


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400), st.data())
def test_newcombe_matches_statsmodels(n1: int, n2: int, data: st.DataObject) -> None:
    k1 = data.draw(st.integers(0, n1))
    k2 = data.draw(st.integers(0, n2))
    lo, hi = newcombe_interval(k1 / n1, n1, k2 / n2, n2)
    ref = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    assert lo == pytest.approx(float(ref[0]), abs=1e-9)
    assert hi == pytest.approx(float(ref[1]), abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2000), st.data())
def test_wilson_matches_statsmodels_and_is_exact_at_the_ends(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    lo, hi = wilson_interval(k, n)
    ref = proportion_confint(k, n, method="wilson")
    assert lo == pytest.approx(float(ref[0]), abs=1e-12)
    assert hi == pytest.approx(float(ref[1]), abs=1e-12)
    if k == 0:
        assert lo == 0.0
    if k == n:
        assert hi == 1.0


def test_zero_train_errors_are_not_a_significant_negative_bias() -> None:
    """0 of 20 train errors against a 5% human level: p(1-p)/n has zero width there."""
    report = decompose_gaps(0.05, 0.0, None, 0.10, n={"train": 20, "dev": 200})
    lo, hi = report.intervals["avoidable_bias"]
    assert lo < 0 < hi
    assert report.significant["avoidable_bias"] is False
    assert not any("below human level" in note for note in report.notes)


def test_focus_only_among_significant_gaps() -> None:
    """Real sizes: none of the gaps is significant, so no focus is named."""
    report = decompose_gaps(0.015, 0.02, 0.04, 0.05, n={"train": 300, "train_dev": 120,
                                                        "dev": 149})
    assert report.focus == ()
    assert "cannot yet tell" in report.headline
    assert "train_dev split (120 examples)" in report.headline
    assert "Focus on" not in report.headline
    big = decompose_gaps(0.015, 0.02, 0.04, 0.05, n={"train": 30000, "train_dev": 30000,
                                                     "dev": 30000})
    assert big.focus == ("variance",)


def test_no_easier_dev_claim_from_a_tiny_negative_gap() -> None:
    report = decompose_gaps(0.01, 0.05, 0.1002, 0.1, n={"train": 5000, "train_dev": 5000,
                                                        "dev": 5000})
    assert report.data_mismatch == pytest.approx(-0.0002)
    assert not any("easier" in note for note in report.notes)
    exact = decompose_gaps(0.04, 0.07, 0.1, 0.06)  # golden case 7: sizes taken as exact
    assert any("easier" in note for note in exact.notes)


def test_headlines_for_dev_only_zero_weight_and_no_human_level() -> None:
    only_dev = decompose_gaps(0.0, None, None, 0.1, n={"dev": 100})
    assert "at human level" not in only_dev.headline
    assert "No gap can be measured" in only_dev.headline
    nan_train = decompose_gaps(0.0, math.nan, None, 0.1, n={"train": 0.0, "dev": 100})
    assert "nan" not in nan_train.diagnosis.lower()
    assert any("zero total weight" in note for note in nan_train.notes)
    r = Results.from_frame(pd.DataFrame({
        "split": ["train"] * 50 + ["dev"] * 50, "label": np.tile([0, 1], 50),
        "score": np.tile([0.3, 0.4], 50)}))
    gaps = r.gaps()
    assert "at most" in gaps.headline and "no human level given" in gaps.headline
    assert any("upper bound" in note for note in gaps.notes)


def test_all_zero_weights_say_so_instead_of_nan() -> None:
    df = pd.DataFrame({"split": ["train"] * 4 + ["dev"] * 4, "label": [0, 1] * 4,
                       "score": [0.2, 0.4] * 4, "weight": [0.0] * 4 + [1.0] * 4})
    r = Results.from_frame(df, human_level=0.01)
    r.weighted = True
    report = r.gaps()
    assert "nan" not in report.diagnosis.lower()
    assert "at human level" not in report.diagnosis


def test_tally_shares_carry_their_interval_and_ceiling_range() -> None:
    """19 of 30 reviewed: share 63%, 95% about 45-78%, ceiling range from it."""
    tags = pd.DataFrame({"blurry": [True] * 19 + [False] * 11})
    t = tally_table(tags, 0.10)
    row = t.loc["blurry"]
    assert row["share"] == pytest.approx(19 / 30)
    assert (row["share_low"], row["share_high"]) == pytest.approx(
        tuple(map(float, proportion_confint(19, 30, method="wilson"))), abs=1e-12)
    assert int(row["share_low"] * 100) == 45 and int(row["share_high"] * 100) == 78
    assert row["ceiling_low"] == pytest.approx(0.10 * (1 - row["share_high"]))
    assert row["ceiling_high"] == pytest.approx(0.10 * (1 - row["share_low"]))


@pytest.mark.parametrize("call, match", [
    (lambda: wilson_interval(5, 3), "not a proportion"),
    (lambda: wilson_interval(math.nan, 3), "needs a count"),
    (lambda: decompose_gaps(0.02, 0.1, human_given=True) and
     Results.from_predictions([0, 1], [0.2, 0.8], human_level={"a": None}), "must be a number"),
    (lambda: Results.from_predictions([0, 1], [0.2, 0.8], human_level=True), "must be a number"),
    (lambda: Results.from_predictions([0, 1], [0.2, 0.8], human_level=[0.1]), "must be a number"),
    (lambda: Results.from_predictions([0, 1], [0.2, 0.8], human_level=5), "did you mean"),
])
def test_bad_statistics_input_is_one_clear_error(call, match: str) -> None:
    with pytest.raises(DashboardError, match=match):
        call()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400), st.data())
def test_gap_p_value_agrees_with_the_interval(n1: int, n2: int, data: st.DataObject) -> None:
    """p < 5% exactly when the 95% interval excludes zero, and p is monotone in the level."""
    from dashboard.metrics.intervals import gap_p_value

    k1 = data.draw(st.integers(0, n1))
    k2 = data.draw(st.integers(0, n2))
    p = gap_p_value(k1 / n1, n1, k2 / n2, n2)
    lo, hi = newcombe_interval(k1 / n1, n1, k2 / n2, n2)
    if abs(p - 0.05) > 1e-6:
        assert (p < 0.05) == (not lo <= 0 <= hi)
    lo99, hi99 = newcombe_interval(k1 / n1, n1, k2 / n2, n2, z=2.5758293035489)
    if abs(p - 0.01) > 1e-6:
        assert (p < 0.01) == (not lo99 <= 0 <= hi99)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.integers(1, 100_000)), st.integers(1, 100_000), st.data())
def test_the_gap_p_value_is_where_the_interval_touches_zero(n1: int | None, n2: int,
                                                          data: st.DataObject) -> None:
    """The regula-falsi root equals plain bisection on "the interval excludes zero" (the
    level where it touches zero), a side given rather than measured (n None) included."""
    from dashboard.metrics.intervals import gap_p_value

    p1 = data.draw(st.integers(0, n1)) / n1 if n1 else data.draw(st.floats(0, 0.3))
    p2 = data.draw(st.integers(0, n2)) / n2

    def excludes(z: float) -> bool:
        lo, hi = newcombe_interval(p1, n1, p2, n2, z)
        return not lo <= 0 <= hi
    if not excludes(1e-9):
        want = 1.0
    elif excludes(40.0):
        want = 0.0
    else:
        a, b = 1e-9, 40.0
        for _ in range(60):
            mid = (a + b) / 2
            a, b = (mid, b) if excludes(mid) else (a, mid)
        want = math.erfc(a / math.sqrt(2))
    assert gap_p_value(p1, n1, p2, n2) == pytest.approx(want, rel=1e-7, abs=1e-300)


def test_a_gap_significant_alone_but_not_among_four_says_so() -> None:
    """Holm over the gaps: a gap whose own interval excludes zero can stay unnamed, and the
    bar's note says why instead of claiming the interval includes zero."""
    report = decompose_gaps(0.05, 0.05, 0.05, 0.068, 0.068,
                            n={"train": 2000, "train_dev": 2000, "dev": 2000, "test": 2000})
    lo, hi = report.intervals["data_mismatch"]
    assert lo > 0 and report.p_values["data_mismatch"] >= 0.05
    assert not report.significant["data_mismatch"] and report.focus == ()
