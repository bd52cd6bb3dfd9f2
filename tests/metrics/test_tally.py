"""The tally end to end: DOMAIN.md section 2 through Results (and the store), and the sample.

The golden numbers come from tests/data/course_examples.json ("tally", "ceiling",
"mislabelled"); they exercise dashboard/metrics/tally.py through ``Results.tally`` and
``Results.label_noise`` on frames with exact error counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard import Results
from dashboard.annotations import ReviewSession
from dashboard.metrics.sampling import (
    arrange_rows,
    rank_keys,
    review_order,
    review_sample,
    sample_by_rank,
    sample_review_rows,
)
from dashboard.metrics.tally import MISLABELLED

N = 1000


def _frame(n_wrong: int, *, n: int = N, model: str = "A",
           tags: Mapping[str, Sequence[int]] | None = None, reviewed: int = 0) -> pd.DataFrame:
    """``n`` dev rows, the first ``n_wrong`` misclassified at threshold 0.5.

    ``tags`` maps a category to the row positions ticked; the first ``reviewed`` rows carry
    tags (False where not ticked), the others none.
    """
    label = np.tile([1, 0], n // 2)
    right = np.where(label == 1, 0.9, 0.1)
    score = np.where(np.arange(n) < n_wrong, 1 - right, right)
    df = pd.DataFrame({"id": [f"x{i:04d}" for i in range(n)], "split": "dev", "model": model,
                       "label": label, "score": score})
    for category, rows in (tags or {}).items():
        col = pd.Series(pd.NA, index=df.index, dtype="boolean")
        col.iloc[:reviewed] = False
        col.iloc[list(rows)] = True
        df[category] = col
    return df


def _counted(counts: Mapping[str, int], reviewed: int) -> dict[str, list[int]]:
    """Row positions for each category's count, spread so categories overlap."""
    return {c: [(i * 7 + j * 13) % reviewed for i in range(k)]
            for j, (c, k) in enumerate(counts.items())}


def test_domain_table_through_results(course: dict) -> None:
    case = course["tally"]
    reviewed = case["reviewed"]
    n_wrong = round(case["dev_error"] * N)
    tags = _counted(case["counts"], reviewed)
    assert all(len(set(rows)) == k for rows, k in zip(tags.values(), case["counts"].values(),
                                                      strict=True))
    r = Results.from_frame(_frame(n_wrong, tags=tags, reviewed=reviewed),
                           categories=list(case["counts"]))
    table = r.tally("dev")
    assert table.attrs["reviewed"] == reviewed
    assert table.attrs["split_error"] == pytest.approx(case["dev_error"])
    for category, k in case["counts"].items():
        assert table.loc[category, "count"] == k
        assert table.loc[category, "share"] == pytest.approx(case["share"][category])
        assert table.loc[category, "ceiling_error"] == pytest.approx(
            case["ceiling_error"][category])
    # categories are not exclusive: the shares need not sum to 100%
    assert table.loc[list(case["counts"]), "share"].sum() > 1


def test_domain_table_ticked_through_the_store(course: dict, tmp_path: Path) -> None:
    """The same table reached by ticking boxes one by one through a ReviewSession."""
    case = course["tally"]
    reviewed = case["reviewed"]
    r = Results.from_frame(_frame(round(case["dev_error"] * N)))
    session = ReviewSession(r, tmp_path / "s.sqlite", author="test")
    keys = [f"x{i:04d}" for i in range(reviewed)]
    for category in case["counts"]:
        session.add_category(category)
    for key in keys:
        session.set_reviewed(key, True)
    for category, rows in _counted(case["counts"], reviewed).items():
        for i in rows:
            session.set_tag(keys[i], category, True)
    fresh = Results.from_frame(_frame(round(case["dev_error"] * N)))
    ReviewSession(fresh, tmp_path / "s.sqlite")  # a reload sees the same tally
    for results in (r, fresh):
        table = results.tally("dev")
        assert table.attrs["reviewed"] == reviewed
        for category in case["counts"]:
            assert table.loc[category, "share"] == pytest.approx(case["share"][category])
            assert table.loc[category, "ceiling_error"] == pytest.approx(
                case["ceiling_error"][category])


@pytest.mark.parametrize("index", [0, 1])
def test_ceiling_through_results(course: dict, index: int) -> None:
    case = course["ceiling"][index]
    reviewed = case["reviewed"]
    tags = {"dog": list(range(case["count"]))}
    r = Results.from_frame(_frame(round(case["dev_error"] * N), tags=tags, reviewed=reviewed),
                           categories=["dog"])
    table = r.tally("dev")
    assert table.loc["dog", "ceiling_error"] == pytest.approx(case["best_error"])
    assert table.loc["dog", "max_improvement"] == pytest.approx(
        case["dev_error"] - case["best_error"])


def test_mislabelled_not_the_priority(course: dict) -> None:
    case = course["mislabelled"][0]
    reviewed = 100
    k = round(case["mislabelled_share"] * reviewed)
    r = Results.from_frame(_frame(round(case["dev_error"] * N),
                                  tags={MISLABELLED: list(range(k))}, reviewed=reviewed),
                           categories=[MISLABELLED])
    noise = r.label_noise("dev")
    for field in ("dev_error", "due_to_labels", "other_causes", "share_of_errors"):
        assert getattr(noise, field) == pytest.approx(case[field]), field
    assert noise.worth_fixing is case["worth_fixing"]
    assert "not the priority" in noise.verdict
    assert r.tally("dev").attrs["label_noise"] == noise


def test_mislabelled_worth_fixing_and_blocks_the_choice(course: dict) -> None:
    case = course["mislabelled"][1]
    compare = case["compare"]
    # 10x the usual size: "worth fixing" must hold for the share's whole 95% interval, and
    # 6 mislabelled of 19 reviewed (31%, 95%: 15-54%) cannot show that; 60 of 190 can
    N = 10_000  # noqa: N806
    n_a, n_b = round(compare["A"] * N), round(compare["B"] * N)
    mislabelled = round(case["due_to_labels"] * N)  # 60 examples of the N
    # B (the better model) is wrong on its first n_b rows, all reviewed, 6 mislabelled
    tags = {MISLABELLED: list(range(mislabelled))}
    frame = pd.concat([_frame(n_a, n=N, model="A", tags=tags, reviewed=n_b),
                       _frame(n_b, n=N, model="B", tags=tags, reviewed=n_b)])
    r = Results.from_frame(frame, categories=[MISLABELLED])
    r.model = "B"
    noise = r.label_noise("dev")
    assert noise.dev_error == pytest.approx(compare["B"])
    assert noise.due_to_labels == pytest.approx(case["due_to_labels"])
    assert noise.share_of_errors == pytest.approx(mislabelled / n_b)
    assert noise.worth_fixing is True and "worth fixing" in noise.verdict
    warning = r.label_noise_warning("dev")
    assert warning is not None and "cannot choose" in warning
    # the DOMAIN.md wording of the same case: dev error 2%, 0.6% due to labels
    single = Results.from_frame(_frame(round(case["dev_error"] * N), n=N,
                                       tags=tags, reviewed=round(case["dev_error"] * N)),
                                categories=[MISLABELLED])
    noise2 = single.label_noise("dev")
    for field in ("dev_error", "due_to_labels", "other_causes", "share_of_errors"):
        assert getattr(noise2, field) == pytest.approx(case[field]), field
    assert noise2.worth_fixing is case["worth_fixing"]


def test_label_verdict_waits_for_enough_reviews() -> None:
    """6 mislabelled of 19 reviewed is 31%, but its 95% interval (15-54%) straddles the 20%
    line: the verdict says to review more instead of "worth fixing" (and never "not the
    priority" with nothing reviewed)."""
    r = Results.from_frame(_frame(19, tags={MISLABELLED: list(range(6))}, reviewed=19),
                           categories=[MISLABELLED])
    noise = r.label_noise("dev")
    assert noise.share_of_errors == pytest.approx(6 / 19)
    assert not noise.decided and noise.worth_fixing is False
    assert "review more" in noise.verdict and "worth fixing." not in noise.verdict
    assert noise.share_low == pytest.approx(0.1536, abs=1e-3)
    none = Results.from_frame(_frame(19)).label_noise("dev")
    assert none.reviewed == 0 and "not the priority" not in none.verdict
    assert "No misclassified example has been reviewed" in none.verdict


def test_no_label_warning_when_models_differ_more() -> None:
    tags = {MISLABELLED: [0]}
    frame = pd.concat([_frame(80, model="A", tags=tags, reviewed=19),
                       _frame(19, model="B", tags=tags, reviewed=19)])
    r = Results.from_frame(frame, categories=[MISLABELLED])
    assert r.label_noise_warning("dev") is None


def test_tally_counts_only_rows_misclassified_now() -> None:
    """A reviewed row that the threshold makes correct leaves the tally (and its share)."""
    tags = {"dog": [0, 1]}
    r = Results.from_frame(_frame(10, tags=tags, reviewed=10), categories=["dog"])
    assert r.tally("dev").loc["dog", "share"] == pytest.approx(0.2)
    r.threshold = 0.95  # every positive is now predicted negative: misclassified set changes
    table = r.tally("dev")
    wrong = set(r.review_rows("dev")["key"].astype(str))
    assert table.attrs["reviewed"] == len(wrong & {f"x{i:04d}" for i in range(10)})


# -- the review sample ---------------------------------------------------------------------------
KEYS = [f"k{i:03d}" for i in range(300)]


def test_sample_is_reproducible_and_order_free() -> None:
    a = review_sample(KEYS, 100, seed=3)
    b = review_sample(list(reversed(KEYS)), 100, seed=3)
    assert list(a) == list(b) and len(set(a)) == 100
    assert list(review_sample(KEYS, 100, seed=4)) != list(a)
    assert list(review_order(KEYS, 3)[:100]) == list(a)


def test_sample_includes_reviewed_first_and_can_exceed_size() -> None:
    reviewed = KEYS[:120]
    sample = review_sample(KEYS, 100, seed=0, reviewed=reviewed)
    assert set(sample) == set(reviewed)  # all prior work, even past the size
    sample = review_sample(KEYS, 100, seed=0, reviewed=KEYS[:10] + ["not-a-candidate"])
    assert set(KEYS[:10]) <= set(sample) and len(sample) == 100
    assert len(review_sample(KEYS[:7], 100)) == 7
    assert len(review_sample([], 100)) == 0
    with pytest.raises(ValueError):
        review_sample(KEYS, -1)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 150), st.data())
def test_reviewing_inside_the_sample_keeps_the_sample(seed: int, size: int,
                                                      data: st.DataObject) -> None:
    """Ticking rows of the sample and reloading shows the same rows in the same order."""
    prior = data.draw(st.lists(st.sampled_from(KEYS), max_size=30, unique=True))
    first = review_sample(KEYS, size, seed, prior)
    ticked = data.draw(st.lists(st.sampled_from(list(first)), unique=True))
    again = review_sample(KEYS, size, seed, [*prior, *ticked])
    assert list(again) == list(first)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 120), st.data())
def test_a_threshold_move_keeps_the_examples_still_misclassified_in_the_sample(
        seed: int, size: int, data: st.DataObject) -> None:
    """The order of a subset of keys is the whole order restricted to it: after a move that
    removes some misclassified examples (a subset), every sampled example still
    misclassified stays sampled, in the same relative order."""
    before = data.draw(st.lists(st.sampled_from(KEYS), min_size=1, unique=True))
    after = data.draw(st.lists(st.sampled_from(before), unique=True))
    whole = list(review_order(before, seed))
    assert list(review_order(after, seed)) == [k for k in whole if k in set(after)]
    kept = [k for k in review_sample(before, size, seed) if k in set(after)]
    assert list(review_sample(after, size, seed))[:len(kept)] == kept


def test_sample_review_rows_marks_correct_rows_after_errors() -> None:
    keys = np.array(KEYS, dtype=object)
    correct = np.arange(300) % 3 != 0  # 100 wrong
    pos = sample_review_rows(keys, correct, size=40, seed=1)
    assert len(pos) == 40 and not correct[pos].any()
    both = sample_review_rows(keys, correct, size=40, seed=1, include_correct=True)
    assert list(both[:40]) == list(pos)
    assert correct[both[40:]].all() and len(both) == 80


def test_arrange_rows_filters_and_sorts() -> None:
    keys = np.array(["c", "a", "b", "d"], dtype=object)
    tags = pd.DataFrame({"dog": [True, False], "blurry": [False, True]},
                        index=pd.Index(["a", "b"]), dtype="boolean")
    scores = np.array([0.3, np.nan, 0.9, 0.1])
    assert list(arrange_rows(keys, tags)) == [0, 1, 2, 3]
    assert list(arrange_rows(keys, tags, filter_by="reviewed")) == [1, 2]
    assert list(arrange_rows(keys, tags, filter_by="unreviewed")) == [0, 3]
    assert list(arrange_rows(keys, tags, filter_by="ticked", category="dog")) == [1]
    assert list(arrange_rows(keys, tags, filter_by="not ticked", category="dog")) == [0, 2, 3]
    assert list(arrange_rows(keys, tags, sort_by="id")) == [1, 2, 0, 3]
    assert list(arrange_rows(keys, tags, sort_by="score", scores=scores)) == [3, 0, 2, 1]
    assert list(arrange_rows(keys, tags, sort_by="score", scores=scores,
                             descending=True)) == [2, 0, 3, 1]
    assert list(arrange_rows(keys, tags, sort_by="category", category="blurry")) == [2, 0, 1, 3]
    with pytest.raises(ValueError, match="category"):
        arrange_rows(keys, tags, filter_by="ticked")
    with pytest.raises(ValueError, match="unknown filter"):
        arrange_rows(keys, tags, filter_by="nope")


def test_fix_first_names_a_category_only_when_it_stands_apart() -> None:
    from dashboard.metrics.tally import fix_first, tally_table

    apart = pd.DataFrame({"blurry": [True] * 30 + [False] * 34,
                          "dog": [True] * 5 + [False] * 59})
    answer = fix_first(tally_table(apart, 0.085), 0.085, errors=64)
    assert answer.decided and answer.category == "blurry" and answer.leading == "blurry"
    assert answer.sentence.startswith("Fix blurry first: dev error could fall from 8.5% to at "
                                      "most 4.5% (95%: ")
    assert "from 64 of 64 errors reviewed" in answer.sentence
    close = pd.DataFrame({"blurry": [True] * 16 + [False] * 14,
                          "great cat": [True] * 12 + [False] * 18})
    wait = fix_first(tally_table(close, 0.1), 0.1, errors=500)
    assert not wait.decided and wait.category is None
    assert wait.leading == "blurry"  # leading so far: the grid highlights it as provisional
    assert wait.sentence.startswith("Not yet: blurry") and "more reviewed errors" in wait.sentence
    assert wait.more_needed is not None and wait.more_needed > 0
    # reviewing that many more at the same shares does separate them
    from dashboard.metrics.intervals import wilson_interval
    n = 30 + wait.more_needed
    lo_top = wilson_interval(16 / 30 * n, n)[0]
    hi_second = wilson_interval(12 / 30 * n, n)[1]
    assert lo_top > hi_second
    assert not fix_first(tally_table(close.iloc[:0], 0.1), 0.1).decided
    assert fix_first(tally_table(close.iloc[:0], 0.1), 0.1).leading is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([f"k{i}" for i in range(40)]), min_size=0, max_size=120),
       st.integers(0, 2**16), st.integers(0, 30), st.booleans())
def test_sample_review_rows_points_at_each_picked_keys_first_row(
        keys: list[str], seed: int, size: int, include_correct: bool) -> None:
    """Positions equal the first row of each picked key, in the picked order (keys may
    repeat across rows; the oracle is a plain dict of first positions)."""
    rng = np.random.default_rng(seed)
    k = np.array(keys, dtype=object)
    correct = rng.random(k.size) < 0.5
    pos = sample_review_rows(k, correct, size=size, seed=seed, include_correct=include_correct)
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    picked = [review_sample(k[~correct], size, seed)]
    if include_correct:
        picked.append(review_sample(k[correct], size, seed))
    expected = [first[key] for key in np.concatenate(picked)] if picked else []
    assert pos.tolist() == expected


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 60), st.booleans(), st.data())
def test_sampling_by_rank_equals_sampling_by_keys(seed: int, size: int, include_correct: bool,
                                                  data: st.DataObject) -> None:
    """The grid's per-split ranks give the rows and order the key-sorting sample gives."""
    n = data.draw(st.integers(0, 120))
    keys = np.array(data.draw(st.permutations(KEYS))[:n], dtype=object)
    correct = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    reviewed = data.draw(st.lists(st.sampled_from(KEYS), max_size=40, unique=True))
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    want = sample_review_rows(keys[keep], correct[keep], size=size, seed=seed,
                              reviewed=reviewed, include_correct=include_correct)
    got = sample_by_rank(rank_keys(keys, seed), correct, np.isin(keys, reviewed), size=size,
                         include_correct=include_correct, keep=keep)
    assert list(keys[got]) == list(keys[keep][want])
