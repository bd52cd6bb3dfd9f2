"""Every golden case of DOMAIN.md, read from tests/data/course_examples.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import Results
from dashboard.metrics import (
    HumanLevel,
    ceiling_error,
    choose,
    decompose_gaps,
    label_noise,
    label_noise_blocks_choice,
    tally_table,
)
from dashboard.metrics.curve import _point

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "course_examples.json"
# the project's own copy of DOMAIN.md's golden cases: a missing file fails, never skips
CASES = json.loads(SCENARIOS.read_text())


@pytest.mark.parametrize("case", CASES["gaps"], ids=[c["name"] for c in CASES["gaps"]])
def test_gap_decomposition(case: dict) -> None:
    report = decompose_gaps(case["human"], case["train"], case.get("train_dev"), case["dev"])
    for gap, value in case["expect"].items():
        assert getattr(report, gap) == pytest.approx(value, abs=1e-12), gap
    assert list(report.focus) == case["focus"]
    assert set(report.tactics) == set(case["focus"])
    if "train_dev" not in case:
        assert report.data_mismatch is None
        assert any("cannot be separated" in n for n in report.notes)
    for gap, value in case["expect"].items():
        if value < 0:  # negative gaps are kept and explained, never clipped
            label = gap.replace("_", " ").capitalize()
            assert any(n.startswith(f"{label} is negative") and "easier" in n
                       for n in report.notes)


@pytest.mark.parametrize("case", CASES["gaps"], ids=[c["name"] for c in CASES["gaps"]])
def test_gap_cases_through_results(case: dict) -> None:
    """The same cases end to end: exact error counts in a frame, through the model."""
    n = 20_000  # "splits large enough for every gap to be significant" (DOMAIN.md)
    frames = []
    for split in ("train", "train_dev", "dev"):
        if split not in case:
            continue
        wrong = round(case[split] * n)
        label = np.ones(n, dtype=int)
        score = np.where(np.arange(n) < wrong, 0.1, 0.9)
        label[n // 2:] = 0  # keep both classes: flip the scores of negatives
        score[n // 2:] = 1 - score[n // 2:]
        frames.append(pd.DataFrame({"id": [f"{split}-{i}" for i in range(n)], "split": split,
                                    "label": label, "score": score}))
    r = Results.from_frame(pd.concat(frames), human_level=case["human"])
    report = r.gaps()
    for gap, value in case["expect"].items():
        assert getattr(report, gap) == pytest.approx(value, abs=1e-12), gap
    assert list(report.focus) == case["focus"]


def test_human_references_bayes_proxy() -> None:
    refs = CASES["human_references"]
    hl = HumanLevel.coerce(refs["references"])
    assert hl.bayes_proxy == refs["bayes_proxy"]
    assert hl.bayes_name == "team of experienced doctors"
    assert set(hl.names) == set(refs["references"])  # the others are kept to be shown


def test_tally_table_matches_domain() -> None:
    t = CASES["tally"]
    rows = t["reviewed"]
    tags = pd.DataFrame({cat: [i < count for i in range(rows)]
                         for cat, count in t["counts"].items()}).astype("boolean")
    table = tally_table(tags, t["dev_error"])
    for cat in t["counts"]:
        assert table.loc[cat, "count"] == t["counts"][cat]
        assert table.loc[cat, "share"] == pytest.approx(t["share"][cat])
        assert table.loc[cat, "ceiling_error"] == pytest.approx(t["ceiling_error"][cat])


@pytest.mark.parametrize("case", CASES.get("ceiling", []))
def test_ceiling(case: dict) -> None:
    share = case["count"] / case["reviewed"]
    assert ceiling_error(case["dev_error"], share) == pytest.approx(case["best_error"])


@pytest.mark.parametrize("case", CASES.get("mislabelled", []))
def test_mislabelled(case: dict) -> None:
    share = case.get("mislabelled_share", case["due_to_labels"] / case["dev_error"])
    noise = label_noise(case["dev_error"], share)
    assert noise.due_to_labels == pytest.approx(case["due_to_labels"])
    assert noise.other_causes == pytest.approx(case["other_causes"])
    assert noise.share_of_errors == pytest.approx(case["share_of_errors"])
    assert noise.worth_fixing is case["worth_fixing"]
    if "compare" in case:
        warning = label_noise_blocks_choice(case["compare"]["A"], case["compare"]["B"],
                                            noise.due_to_labels)
        assert warning is not None and "cannot choose" in warning
    else:
        assert label_noise_blocks_choice(0.10, 0.08, noise.due_to_labels) is None


@pytest.mark.parametrize("case", CASES.get("f1", []))
def test_f1(case: dict) -> None:
    # an operating point with the case's precision and recall: tp = R·P_all, fp from precision
    positives = 10_000.0
    tp = case["recall"] * positives
    fp = tp / case["precision"] - tp
    point = _point(0.5, tp, fp, positives, 50_000.0, 1.0)
    assert point.f1 == pytest.approx(case["f1"], abs=5e-5)


def test_f1_chooses_a() -> None:
    f1 = CASES["f1"]
    best = max(f1, key=lambda c: 2 * c["precision"] * c["recall"] /
               (c["precision"] + c["recall"]))
    assert best["model"] == "A"


def test_satisficing_picks_b() -> None:
    s = CASES["satisficing"]
    constraints = {k: tuple(v) for k, v in s["constraints"].items()}
    i = choose(s["models"], s["optimize"], constraints)
    assert s["models"][i]["model"] == s["choose"]
