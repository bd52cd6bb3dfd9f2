"""Every sentence the product says is a claim: on seeded data where the effect is absent it is
made no more often than its stated 5% (within Monte-Carlo error), and where the effect is
planted it is still made. Each test prints both rates. The slice and learning-curve claims
have their own in test_slices_and_suspects.py and test_learning_curve.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from dashboard import Results
from dashboard.metrics import decompose_gaps, label_noise, mcnemar_exact, tally_table
from dashboard.metrics.sampling import eyeball_mask
from dashboard.metrics.tally import fix_first

RUNS = 300


def within_5_percent(claims: int, runs: int = RUNS) -> bool:
    """At most 5% within Monte-Carlo error: not above Binomial(runs, 0.05)'s 99th percentile."""
    return claims <= binom.ppf(0.99, runs, 0.05)


@pytest.mark.parametrize("n, error", [(200, 0.2), (300, 0.05), (1000, 0.1), (5000, 0.02)])
def test_the_waterfall_names_no_gap_when_there_is_none(n: int, error: float) -> None:
    """Every split at the same true error: "Focus on ..." or a negative-gap verdict ("dev is
    easier") in at most 5% of datasets (each gap's own 95% interval gave 8-10%); Holm over
    the gaps measured is what holds it."""
    rng = np.random.default_rng(n)
    splits = ("train", "train_dev", "dev", "test")

    def report(true: dict[str, float]):
        seen = {s: rng.binomial(n, true[s]) / n for s in splits}
        return decompose_gaps(error, *(seen[s] for s in splits), n=dict.fromkeys(splits, n))

    def says_something(r) -> bool:
        return bool(r.focus) or any(w in note for note in r.notes
                                    for w in ("easier", "below human level"))
    null = sum(says_something(report(dict.fromkeys(splits, error))) for _ in range(RUNS))
    planted = {**dict.fromkeys(splits, error), "train_dev": error + 0.12, "dev": error + 0.12,
               "test": error + 0.12}
    found = sum(report(planted).focus == ("variance",) for _ in range(100))
    print(f"n={n}, error {error:.0%}: a gap named on {null}/{RUNS} null datasets; a planted "
          f"+12 pp variance named on {found}/100")
    assert within_5_percent(null)
    assert found >= (50 if n < 300 else 80)  # 200 rows at 20% error: about two in three


@pytest.mark.parametrize("reviewed", [50, 100, 300])
def test_fix_first_names_a_category_only_when_it_stands_apart(reviewed: int) -> None:
    """Two categories equally common (40%): "Fix X first" in at most 5% of reviewed
    samples; one at 60% against 15% is named."""
    rng = np.random.default_rng(reviewed)

    def answer(a: float, b: float):
        tags = pd.DataFrame({"blurry": rng.random(reviewed) < a, "dog": rng.random(reviewed) < b})
        return fix_first(tally_table(tags, 0.1), 0.1)
    null = sum(answer(0.4, 0.4).decided for _ in range(RUNS))
    found = sum(answer(0.6, 0.15).category == "blurry" for _ in range(100))
    print(f"{reviewed} reviewed: a category named first on {null}/{RUNS} null samples; "
          f"the planted one on {found}/100")
    assert within_5_percent(null)
    assert found >= 80


@pytest.mark.parametrize("reviewed", [50, 100, 400])
def test_label_verdicts_hold_at_the_boundary(reviewed: int) -> None:
    """Labels cause exactly 20% of the errors, where neither verdict is true: "worth fixing"
    (share at least 20%) and "not the priority" (below 20%) each in at most 5% of samples;
    at 45% "worth fixing" is said."""
    rng = np.random.default_rng(reviewed + 1)

    def verdict(share: float):
        ticked = rng.binomial(reviewed, share)
        return label_noise(0.1, ticked / reviewed, reviewed=reviewed)
    boundary = [verdict(0.2) for _ in range(RUNS)]
    worth = sum(v.decided and v.worth_fixing for v in boundary)
    not_priority = sum(v.decided and not v.worth_fixing for v in boundary)
    found = sum(v.decided and v.worth_fixing for v in (verdict(0.45) for _ in range(100)))
    print(f"{reviewed} reviewed, labels at the 20% boundary: 'worth fixing' on {worth}/{RUNS}, "
          f"'not the priority' on {not_priority}/{RUNS}; 'worth fixing' at 45% on {found}/100")
    assert within_5_percent(worth) and within_5_percent(not_priority)
    if reviewed >= 100:
        assert found >= 80


@pytest.mark.parametrize("n", [200, 1000])
def test_mcnemar_calls_equal_models_different_at_most_5_percent(n: int) -> None:
    rng = np.random.default_rng(n + 2)

    def significant(err_a: float, err_b: float) -> bool:
        u = rng.random(n)
        return mcnemar_exact(u >= err_a, u >= err_b).significant() if err_a == err_b else \
            mcnemar_exact(rng.random(n) >= err_a, rng.random(n) >= err_b).significant()
    null = sum(mcnemar_exact(rng.random(n) >= 0.1, rng.random(n) >= 0.1).significant()
               for _ in range(RUNS))
    found = sum(significant(0.05, 0.15) for _ in range(100))
    print(f"n={n}: 'significant' on {null}/{RUNS} pairs of equal models; 5% vs 15% on "
          f"{found}/100")
    assert within_5_percent(null)
    assert found >= 80


def test_the_eyeball_warning_is_quiet_when_both_parts_err_alike() -> None:
    """Both parts of dev at the same true error: "the team is overfitting the examples it
    looks at" in at most 5% of datasets; a planted 4% vs 10% is warned about."""
    rng = np.random.default_rng(3)
    n = 600
    eye = eyeball_mask(np.arange(n).astype(str), 0.5)
    label = rng.integers(0, 2, n)

    def warned(eye_error: float, blind_error: float) -> bool:
        wrong = rng.random(n) < np.where(eye, eye_error, blind_error)
        score = np.where(wrong ^ (label == 1), 0.8, 0.2)
        r = Results.from_frame(pd.DataFrame({"id": np.arange(n), "split": "dev",
                                             "label": label, "score": score}))
        return bool(r.eyeball_check("dev", 0.5).attrs["warning"])
    runs = 200
    null = sum(warned(0.08, 0.08) for _ in range(runs))
    found = sum(warned(0.02, 0.12) for _ in range(50))
    print(f"eyeball warning on {null}/{runs} null datasets; on {found}/50 planted")
    assert within_5_percent(null, runs)
    assert found >= 40
