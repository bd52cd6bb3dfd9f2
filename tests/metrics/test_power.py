"""Dev-set resolution: the exact McNemar power against a simulation of the product's own test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dashboard.metrics.compare import mcnemar_from_counts
from dashboard.metrics.power import (
    connor_size,
    detectable_difference,
    mcnemar_power,
    needed_size,
    resolution_of,
)

SIMS = 1000


def simulated_power(n: int, psi: float, delta: float, rng: np.random.Generator) -> float:
    """Share of simulated paired dev sets on which the product's exact McNemar test says p < 5%."""
    probs = [(psi + delta) / 2, (psi - delta) / 2, 1 - psi]
    draws = rng.multinomial(n, probs, size=SIMS)
    return float(np.mean([mcnemar_from_counts(int(a), int(b)).p_value < 0.05
                          for a, b, _ in draws]))


@pytest.mark.parametrize(("n", "psi"), [(200, 0.2), (1000, 0.1), (5000, 0.04)])
def test_the_detectable_difference_is_detected_80_percent_of_the_time(n: int, psi: float
                                                                       ) -> None:
    rng = np.random.default_rng(n)
    delta = detectable_difference(n, psi)
    at = simulated_power(n, psi, delta, rng)
    null = simulated_power(n, psi, 0.0, rng)
    half = simulated_power(n, psi, delta / 2, rng)
    print(f"n={n}, disagree {psi:.0%}: detectable {delta * 100:.2f} pp; simulated power there "
          f"{at:.3f} (exact {mcnemar_power(n, psi, delta):.3f}), at half of it {half:.3f} "
          f"(exact {mcnemar_power(n, psi, delta / 2):.3f}), with no difference {null:.3f}")
    se = math.sqrt(0.8 * 0.2 / SIMS)
    assert abs(at - mcnemar_power(n, psi, delta)) < 3.5 * se
    assert abs(at - 0.8) < 3.5 * se + 0.01
    assert abs(half - mcnemar_power(n, psi, delta / 2)) < 3.5 * math.sqrt(0.25 / SIMS)
    assert null <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / SIMS)
    assert mcnemar_power(n, psi, 0.0) <= 0.05


def test_resolution_grows_as_one_over_root_n_and_with_disagreement() -> None:
    d1, d4 = detectable_difference(2500, 0.1), detectable_difference(10000, 0.1)
    assert d4 == pytest.approx(d1 / 2, rel=0.05)
    assert detectable_difference(2500, 0.2) > d1
    assert math.isnan(detectable_difference(10, 0.1))  # one disagreement: nothing to see


def test_needed_size_reaches_the_power_and_is_near_connors_formula() -> None:
    n = needed_size(0.005, 0.1)
    assert mcnemar_power(n, 0.1, 0.005) >= 0.8
    assert n == pytest.approx(connor_size(0.005, 0.1), rel=0.05)
    rng = np.random.default_rng(5)
    assert simulated_power(n, 0.1, 0.005, rng) == pytest.approx(0.8, abs=0.045)


def test_the_sentence_says_both_numbers() -> None:
    r = resolution_of("A", "B", 2500, 250, difference=0.005)
    assert r.sentence.startswith("This dev set (2,500 examples, the models disagree on 10.0%)")
    assert "≥ 1.8 pp" in r.sentence and "about 32,000 examples" in r.sentence
    assert r.needed == needed_size(0.005, 0.1)
    none = resolution_of("A", "B", 50, 0)
    assert "cannot detect any difference" in none.sentence


def test_results_dev_resolution_on_two_models_and_the_duckdb_engine(tmp_path) -> None:
    """The discordance comes from the models' own paired errors; the engine gives the same."""
    import pandas as pd

    from dashboard import Results

    rng = np.random.default_rng(11)
    n = 2000
    label = rng.integers(0, 2, n)
    wrong_a = rng.random(n) < 0.10
    wrong_b = np.where(rng.random(n) < 0.5, wrong_a, rng.random(n) < 0.10)
    frame = pd.concat([pd.DataFrame({"id": np.arange(n), "split": "dev", "model": m,
                                     "label": label,
                                     "prediction": np.where(w, 1 - label, label)})
                       for m, w in (("A", wrong_a), ("B", wrong_b))], ignore_index=True)
    r = Results.from_frame(frame, score=None, prediction="prediction")
    res = r.dev_resolution("A", "B", difference=0.005)
    discordant = int(np.count_nonzero(wrong_a != wrong_b))
    assert res.n == n and res.discordance == discordant / n
    assert res.detectable == detectable_difference(n, discordant / n)
    assert res.needed == needed_size(0.005, discordant / n)
    path = tmp_path / "r.parquet"
    frame.to_parquet(path)
    pytest.importorskip("duckdb")
    engine = Results.from_dataset(path, score=None, prediction="prediction")
    assert engine.dev_resolution("A", "B", difference=0.005) == res
