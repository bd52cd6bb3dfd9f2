"""What changed between two runs: the tests against scipy's exact ones, the MOVER interval
against Newcombe's, and the claims on seeded runs (a re-run of the same model is called
changed at most 5% of the time; a planted improvement is called)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom, binomtest, fisher_exact

from dashboard.errors import DashboardError
from dashboard.metrics.change import (
    Change,
    RunChange,
    compare_levels_and_gaps,
    fisher_exact_p,
    mover_interval,
    mover_p_value,
    share_changes,
    shares_sentence,
    what_changed,
)
from dashboard.metrics.compare import mcnemar_from_counts
from dashboard.metrics.gaps import decompose_gaps
from dashboard.metrics.intervals import newcombe_interval

SIMS = 300


def within_5_percent(claims: int, runs: int = SIMS) -> bool:
    """At most 5% within Monte-Carlo error: not above Binomial(runs, 0.05)'s 99th percentile."""
    return claims <= binom.ppf(0.99, runs, 0.05)


# -- the tests against their oracles ----------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.integers(0, 60), st.integers(0, 60), st.integers(1, 60), st.integers(1, 60))
def test_fisher_matches_scipy(a: int, b: int, na: int, nb: int) -> None:
    a, b = min(a, na), min(b, nb)
    expected = fisher_exact([[a, na - a], [b, nb - b]]).pvalue
    assert fisher_exact_p(a, na, b, nb) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("a, na, b, nb", [(850, 10_000, 610, 10_000), (5, 200_000, 9, 150_000),
                                          (3000, 20_000, 3000, 20_000)])
def test_fisher_matches_scipy_on_large_counts(a: int, na: int, b: int, nb: int) -> None:
    expected = fisher_exact([[a, na - a], [b, nb - b]]).pvalue
    assert fisher_exact_p(a, na, b, nb) == pytest.approx(expected, rel=1e-7, abs=1e-300)


def test_fisher_refuses_what_is_not_a_count() -> None:
    with pytest.raises(DashboardError, match="counts"):
        fisher_exact_p(2.5, 10, 1, 10)
    with pytest.raises(DashboardError, match="more errors than examples"):
        fisher_exact_p(11, 10, 1, 10)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 80), st.integers(0, 80))
def test_the_paired_test_is_the_exact_binomial_on_discordant_pairs(b: int, c: int) -> None:
    """McNemar exact = two-sided binomial test of the discordant pairs at 1/2 (scipy)."""
    p = mcnemar_from_counts(b, c).p_value
    expected = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5).pvalue
    assert p == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 500), st.integers(1, 500), st.floats(0, 1), st.floats(0, 1))
def test_mover_of_two_rates_is_newcombe(n1: int, n2: int, f1: float, f2: float) -> None:
    p1, p2 = round(f1 * n1) / n1, round(f2 * n2) / n2
    lo, hi = mover_interval([(1, p1, n1), (-1, p2, n2)])
    assert (lo, hi) == pytest.approx(newcombe_interval(p1, n1, p2, n2), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 400), st.floats(0, 1)), min_size=4, max_size=4))
def test_a_gap_change_p_value_agrees_with_its_interval(parts: list) -> None:
    terms = [(s, round(f * n) / n, n) for s, (n, f) in zip((1, -1, -1, 1), parts, strict=True)]
    lo, hi = mover_interval(terms)
    p = mover_p_value(terms)
    d = sum(s * p for s, p, _ in terms)
    assert lo <= d + 1e-12 and d - 1e-12 <= hi
    if not (abs(lo) < 1e-9 or abs(hi) < 1e-9):  # on the boundary either answer is right
        assert (p < 0.05) == (not lo <= 0 <= hi)


def test_paired_counts_must_give_the_change_in_errors() -> None:
    with pytest.raises(DashboardError, match="paired counts"):
        compare_levels_and_gaps({"dev": (100, 1000)}, {"dev": (80, 1000)},
                                paired={"dev": (30, 5)})


def test_avoidable_bias_shares_the_train_test_when_the_human_level_is_the_same() -> None:
    before = {"train": (50, 1000), "dev": (120, 1000)}
    after = {"train": (20, 1000), "dev": (118, 1000)}
    steps = decompose_gaps(0.01, 0.05, None, 0.12).steps
    change = compare_levels_and_gaps(before, after, steps_before=steps, steps_after=steps,
                                     human_before=0.01, human_after=0.01)
    bias, train = change.get("gap", "avoidable_bias"), change.get("level", "train")
    assert bias.p_value == train.p_value and bias.significant
    assert bias.before == pytest.approx(0.04) and bias.after == pytest.approx(0.01)
    # one hypothesis: the family is train, dev and the merged variance, not four
    assert "over 3 comparisons" in change.sentence


# -- the claims on seeded runs ----------------------------------------------------------------
SPLITS = {"train": 1000, "train_dev": 500, "dev": 1000, "test": 500}


def _run_pair(rng: np.random.Generator, rates_a: dict[str, float], rates_b: dict[str, float],
              paired: bool) -> RunChange:
    """Two runs of a model: every example has a difficulty, each run adds its own noise;
    paired runs see the same examples (McNemar), others new ones (Fisher)."""
    before, after, pairs = {}, {}, {}
    for split, n in SPLITS.items():
        hard = rng.normal(size=n)
        wrong_a = hard + rng.normal(size=n) > _cut(rates_a[split])
        other = hard if paired else rng.normal(size=n)
        wrong_b = other + rng.normal(size=n) > _cut(rates_b[split])
        before[split] = (int(wrong_a.sum()), n)
        after[split] = (int(wrong_b.sum()), n)
        if paired:
            pairs[split] = (int((wrong_a & ~wrong_b).sum()), int((~wrong_a & wrong_b).sum()))
    steps = decompose_gaps(0.0, *(before[s][0] / n for s, n in SPLITS.items())).steps
    return compare_levels_and_gaps(before, after, paired=pairs, steps_before=steps,
                                   steps_after=steps)


def _cut(rate: float) -> float:
    """The threshold on difficulty + noise (variance 2) that errs at ``rate``."""
    from scipy.stats import norm

    return float(norm.isf(rate, scale=math.sqrt(2)))


RATES = {"train": 0.03, "train_dev": 0.06, "dev": 0.10, "test": 0.10}


@pytest.mark.parametrize("paired", [True, False])
def test_a_rerun_of_the_same_model_is_not_called_changed(paired: bool) -> None:
    """Same true error in every split, independent noise: "X changed" is said (anything
    significant in the comparison) in at most 5% of re-runs; a planted dev improvement
    (10% -> 5%) is called."""
    rng = np.random.default_rng(25 + paired)
    null = sum(bool(_run_pair(rng, RATES, RATES, paired).significant) for _ in range(SIMS))
    better = {**RATES, "dev": 0.05}
    found = 0
    for _ in range(100):
        change = _run_pair(rng, RATES, better, paired)
        dev = change.get("level", "dev")
        found += dev.significant and dev.direction == "fell"
    print(f"paired={paired}: a change called in {null}/{SIMS} re-runs; dev 10% -> 5% called "
          f"in {found}/100")
    assert within_5_percent(null)
    assert found >= 80


def test_a_category_share_change_is_called_only_when_it_changed() -> None:
    """Two categories at the same share in both runs: a change called in at most 5% of
    reviewed samples (Holm over the categories); 60% -> 20% of 40 reviewed errors is."""
    rng = np.random.default_rng(61)

    def shares(q_before: dict[str, float], q_after: dict[str, float], n: int = 40):
        before = {c: (int(rng.binomial(n, q)), n) for c, q in q_before.items()}
        after = {c: (int(rng.binomial(n, q)), n) for c, q in q_after.items()}
        return share_changes(before, after)
    same = {"blurry": 0.5, "dog": 0.2}
    null = sum(any(c.significant for c in shares(same, same)) for _ in range(SIMS))
    found = sum(next(c for c in shares({"blurry": 0.6, "dog": 0.2}, {"blurry": 0.2, "dog": 0.2})
                     if c.key == "blurry").significant for _ in range(100))
    print(f"share change called on {null}/{SIMS} null samples; 60% -> 20% on {found}/100")
    assert within_5_percent(null)
    assert found >= 80


# -- the words --------------------------------------------------------------------------------
def _change(kind: str, key: str, label: str, before: float, after: float, p: float) -> Change:
    return Change(kind=kind, key=key, label=label, before=before, after=after, p_raw=p,
                  p_value=p, significant=p < 0.05, test="t")


def test_what_changed_names_the_changes_and_what_held() -> None:
    change = RunChange("run3", "run5", (
        _change("level", "train", "train error", 0.02, 0.021, 0.9),
        _change("level", "dev", "dev error", 0.085, 0.061, 0.003),
        _change("gap", "data_mismatch", "data mismatch", 0.03, 0.006, 0.01),
        _change("gap", "variance", "variance", 0.04, 0.035, 0.6)))
    assert what_changed(change) == (
        "From run3 to run5, dev error fell from 8.5% to 6.1% and data mismatch fell from "
        "+3.0 pp to +0.6 pp; train error and variance did not change significantly (Holm, 5% "
        "over 4 comparisons).")
    quiet = RunChange("a", "b", (_change("level", "dev", "dev error", 0.1, 0.09, 0.4),))
    assert what_changed(quiet) == ("From a to b, nothing changed significantly: dev error held "
                                   "(Holm, 5% over 1 comparison).")
    rose = RunChange("a", "b", (_change("level", "test", "test error", 0.05, 0.08, 0.01),))
    assert "test error rose from 5.0% to 8.0%" in what_changed(rose)
    assert "nothing could be compared" in what_changed(RunChange("a", "b", ()))


def test_the_shares_sentence_reads_as_the_issue_says() -> None:
    shares = (_change("share", "blurry", "blurry", 0.61, 0.22, 0.001),
              _change("share", "dog", "dog", 0.20, 0.25, 0.7))
    error = _change("level", "dev", "dev error", 0.085, 0.061, 0.003)
    assert shares_sentence(shares, before="run 3", after="run 5", error=error) == (
        "blurry: 61% of reviewed errors at run 3 → 22% at run 5 (a significant fall); dog: "
        "20% → 25% (no significant change); dev error 8.5% → 6.1%.")
    assert "No review category" in shares_sentence((), before="a", after="b")
