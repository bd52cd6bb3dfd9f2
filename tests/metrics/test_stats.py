"""Intervals, McNemar and multiclass F1 against scipy and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from dashboard.metrics import mcnemar_exact, multiclass_f1, resolution, wilson_interval
from dashboard.metrics.gaps import decompose_gaps


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5000), st.data())
def test_wilson_equals_scipy(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    ref = binomtest(k, n).proportion_ci(0.95, method="wilson")
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(ref.low, abs=1e-9)
    assert hi == pytest.approx(ref.high, abs=1e-9)


def test_dev_set_of_100_cannot_tell_2_1_from_1_9_percent() -> None:
    assert resolution(0.02, 100) > 0.021 - 0.019
    assert resolution(0.02, 1_000_000) < 0.002


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 60), st.integers(0, 60), st.integers(0, 50))
def test_mcnemar_equals_binomial_test(b: int, c: int, both: int) -> None:
    a_correct = np.r_[np.zeros(b, bool), np.ones(c, bool), np.ones(both, bool)]
    b_correct = np.r_[np.ones(b, bool), np.zeros(c, bool), np.ones(both, bool)]
    result = mcnemar_exact(a_correct, b_correct)
    assert (result.only_a_wrong, result.only_b_wrong) == (b, c)
    expected = 1.0 if b + c == 0 else binomtest(min(b, c), b + c, 0.5).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_textbook_value() -> None:
    # 1 vs 9 discordant pairs: p = 2·(1 + 9)/2^10 = 0.021484375
    a = np.r_[np.zeros(1, bool), np.ones(9, bool)]
    result = mcnemar_exact(a, ~a)
    assert result.p_value == pytest.approx(0.021484375, rel=1e-12)
    assert result.significant()


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 5), st.data())
def test_multiclass_f1_equals_sklearn(k: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 80))
    y = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    p = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    got = multiclass_f1(y, p, tuple(range(k)))
    labels = list(range(k))
    pr, rc, f1, _ = precision_recall_fscore_support(y, p, labels=labels, zero_division=0)
    np.testing.assert_allclose(got.precision, pr)
    np.testing.assert_allclose(got.recall, rc)
    np.testing.assert_allclose(got.f1, f1)
    assert got.macro_f1 == pytest.approx(f1_score(y, p, labels=labels, average="macro",
                                                  zero_division=0))
    assert got.micro_f1 == pytest.approx(f1_score(y, p, labels=labels, average="micro",
                                                  zero_division=0))


def test_gap_significance_with_small_dev_set() -> None:
    small = decompose_gaps(0.0, 0.01, 0.015, 0.02, n={"train": 100, "train_dev": 100,
                                                      "dev": 100})
    assert small.significant["data_mismatch"] is False
    big = decompose_gaps(0.0, 0.01, 0.015, 0.10, n={"train": 10**5, "train_dev": 10**5,
                                                    "dev": 10**5})
    assert big.significant["data_mismatch"] is True
    lo, hi = big.intervals["data_mismatch"]
    assert lo < 0.085 < hi
