"""Which examples a reviewer sees, and in what order: the error-analysis sample.

Pure functions of example keys (and of tags and scores for sorting and filtering). The sample
orders the keys by a seeded hash of their text, so the same (keys, size, seed) gives the same
rows after a reload, whatever order the file listed them in, and a threshold move keeps the
examples still misclassified in their places.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "FILTERS",
    "SORTS",
    "arrange_rows",
    "eyeball_mask",
    "review_order",
    "review_sample",
    "rank_keys",
    "sample_by_rank",
    "sample_review_rows",
]

#: row filters the grid offers; the last two need a category
FILTERS = ("all", "reviewed", "unreviewed", "ticked", "not ticked")
#: row orders the grid offers; "category" (ticked first) needs a category
SORTS = ("sample", "score", "id", "category", "suspect")


def review_order(keys: Sequence[str] | np.ndarray, seed: int = 0) -> np.ndarray:
    """The distinct keys in a seeded random order that does not depend on the input order.

    Each key's place is a seeded 64-bit hash of its text (``pandas.util.hash_array``), so the
    order of a subset is the whole order restricted to it: when a threshold move adds or
    removes misclassified examples, the others keep their places and a sample of the first
    ones changes only where it must. One hash per key and a sort of integers, not of texts.
    """
    k = _texts(keys)
    distinct = pd.unique(k) if k.size else k
    if distinct.size == 0:
        return np.asarray(distinct, dtype=object)
    rank = pd.util.hash_array(distinct, hash_key=f"mldash-ord{int(seed) % 10**6:06d}")
    order = np.argsort(rank, kind="stable")
    if np.any(rank[order][1:] == rank[order][:-1]):  # a 64-bit collision: the texts decide
        order = np.lexsort((np.argsort(np.argsort(distinct.astype(str), kind="stable")), rank))
    return np.asarray(distinct[order], dtype=object)


def _texts(keys: Sequence[str] | np.ndarray) -> np.ndarray:
    """Keys as an object array of str (converted only when they are not already text)."""
    k = np.asarray(keys, dtype=object)
    if k.size and pd.api.types.infer_dtype(k, skipna=False) != "string":
        k = k.astype(str).astype(object)
    return k


def review_sample(keys: Sequence[str] | np.ndarray, size: int = 100, seed: int = 0,
                  reviewed: Collection[str] = ()) -> np.ndarray:
    """A reproducible review sample of ``keys``, already-reviewed keys included first.

    Every reviewed key among ``keys`` is in the sample (so prior work is always shown, even
    when there are more reviewed keys than ``size``); the remaining places go to the first
    unreviewed keys of :func:`review_order`. The result keeps the seeded order, so reviewing a
    row of the sample (which moves it from unreviewed to reviewed) leaves the sample and its
    order unchanged after a reload.

    Parameters
    ----------
    keys : sequence of str
        Candidate example keys (e.g. the misclassified dev examples).
    size : int
        Wanted sample size; the sample is smaller when there are fewer keys.
    seed : int
        Seed of the permutation.
    reviewed : collection of str
        Keys already reviewed (tags in the file or the store).

    Returns
    -------
    numpy.ndarray
        The sampled keys (object array of str), in the seeded order.
    """
    if size < 0:
        raise ValueError(f"sample size must be >= 0, got {size}")
    order = review_order(keys, seed)
    if order.size == 0:
        return order
    done = pd.Index(order, dtype=object).isin(_texts(list(reviewed)))
    free = max(int(size) - int(done.sum()), 0)
    take = done | ((np.cumsum(~done) <= free) & ~done)
    return order[take]


def sample_review_rows(keys: Sequence[str] | np.ndarray, correct: Sequence[bool] | np.ndarray,
                       *, size: int = 100, seed: int = 0, reviewed: Collection[str] = (),
                       include_correct: bool = False) -> np.ndarray:
    """Positions into ``keys`` of the review sample: misclassified rows, then correct ones.

    The misclassified rows are :func:`review_sample` of the keys whose ``correct`` is False.
    With ``include_correct``, a second sample of the same size and seed is drawn from the
    correctly classified rows and appended, so a reviewer can look for label errors the model
    got "right" too.
    """
    k = _texts(keys)
    ok = np.asarray(correct, dtype=bool)
    if k.shape != ok.shape:
        raise ValueError("keys and correct must have the same length")
    chosen = [review_sample(k[~ok], size, seed, reviewed)]
    if include_correct:
        chosen.append(review_sample(k[ok], size, seed, reviewed))
    picked = np.concatenate(chosen) if chosen else np.empty(0, dtype=object)
    # each picked key's first position: a hash of the few picked keys looked up by every
    # key, not a hash of every key (1.5M at 10M rows) for the few picked
    # (a key may be picked twice: wrong on one row, right on another)
    distinct, inverse = np.unique(picked.astype(str), return_inverse=True)  # the few picked
    which = pd.Index(distinct).get_indexer(k)
    rows = np.flatnonzero(which >= 0)
    found, first = np.unique(which[rows], return_index=True)
    row_of = np.empty(distinct.size, dtype=np.int64)
    row_of[found] = rows[first]
    return row_of[inverse.ravel()]


def rank_keys(keys: Sequence[str] | np.ndarray, seed: int = 0) -> np.ndarray:
    """Each key's place in :func:`review_order` (its seeded 64-bit hash), for
    :func:`sample_by_rank`: computed once per split, so a threshold move handles no text."""
    return pd.util.hash_array(_texts(keys), hash_key=f"mldash-ord{int(seed) % 10**6:06d}")


def sample_by_rank(rank: np.ndarray, correct: np.ndarray, reviewed: np.ndarray, *,
                   size: int = 100, include_correct: bool = False,
                   keep: np.ndarray | None = None) -> np.ndarray:
    """:func:`sample_review_rows` from each row's :func:`rank_keys` (rows with distinct keys
    and ranks): the same rows in the same order, by integer work only.

    ``reviewed`` marks the rows whose key was reviewed; ``keep`` (the eyeball part) the rows
    that may be sampled at all. Per part (misclassified, then correct when asked): every
    reviewed row, then the ``size`` minus that many unreviewed rows of smallest rank, all in
    rank order.
    """
    if size < 0:
        raise ValueError(f"sample size must be >= 0, got {size}")
    rank = np.asarray(rank, dtype=np.uint64)
    ok = np.asarray(correct, dtype=bool)
    done = np.asarray(reviewed, dtype=bool)
    allowed = np.ones(ok.size, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    parts = []
    for part in ([~ok & allowed, ok & allowed] if include_correct else [~ok & allowed]):
        rows = np.flatnonzero(part)
        prior, free_rows = rows[done[rows]], rows[~done[rows]]
        free = max(int(size) - prior.size, 0)
        if free == 0:
            free_rows = free_rows[:0]
        elif free < free_rows.size:
            free_rows = free_rows[np.argpartition(rank[free_rows], free - 1)[:free]]
        chosen = np.concatenate([prior, free_rows])
        parts.append(chosen[np.argsort(rank[chosen], kind="stable")])
    return np.concatenate(parts).astype(np.int64)


def arrange_rows(keys: Sequence[str] | np.ndarray, tags: pd.DataFrame, *,
                 filter_by: str = "all", sort_by: str = "sample", category: str | None = None,
                 scores: Sequence[float] | np.ndarray | None = None,
                 descending: bool = False,
                 suspicion: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """Positions of the rows to show, filtered and sorted; ties keep the sample order.

    Parameters
    ----------
    keys : sequence of str
        The sample's keys, in sample order.
    tags : DataFrame
        Review tags indexed by key (one nullable-boolean column per category); a key absent
        or with every value missing is unreviewed.
    filter_by : {"all", "reviewed", "unreviewed", "ticked", "not ticked"}
        "ticked" / "not ticked" keep the rows where ``category`` is / is not ticked.
    sort_by : {"sample", "score", "id", "category", "suspect"}
        "category" puts the rows with ``category`` ticked first; "suspect" the suspected label
        errors first, most suspect first (``suspicion``: the given label's probability for
        suspects, NaN for the others).
    category : str, optional
        The category for the "ticked", "not ticked" filters and the "category" sort.
    scores : sequence of float, optional
        Per-row scores, needed for ``sort_by="score"``.
    descending : bool
        Reverse the sort (not the tie order).

    Returns
    -------
    numpy.ndarray
        Integer positions into ``keys``.
    """
    if filter_by not in FILTERS:
        raise ValueError(f"unknown filter {filter_by!r}; choose one of {', '.join(FILTERS)}")
    if sort_by not in SORTS:
        raise ValueError(f"unknown sort {sort_by!r}; choose one of {', '.join(SORTS)}")
    k = np.asarray(keys, dtype=object).astype(str)
    needs_category = filter_by in ("ticked", "not ticked") or sort_by == "category"
    if needs_category and (category is None or category not in tags.columns):
        raise ValueError(f"filter {filter_by!r} / sort {sort_by!r} needs a known category, "
                         f"got {category!r}")
    aligned = tags.reindex(pd.Index(k))
    reviewed = aligned.notna().any(axis=1).to_numpy(dtype=bool)
    ticked = (aligned[category].fillna(False).to_numpy(dtype=bool) if category is not None
              and category in tags.columns else np.zeros(k.size, dtype=bool))
    keep = {
        "all": np.ones(k.size, dtype=bool),
        "reviewed": reviewed,
        "unreviewed": ~reviewed,
        "ticked": ticked,
        "not ticked": ~ticked,
    }[filter_by]
    pos = np.flatnonzero(keep)
    if sort_by == "sample":
        return pos[::-1] if descending else pos
    if sort_by == "suspect":
        if suspicion is None:
            raise ValueError("sorting by suspicion needs the suspects' scores")
        sort_key = np.asarray(suspicion, dtype=np.float64)[pos]
        sort_key = np.where(np.isnan(sort_key), np.inf, -sort_key if descending else sort_key)
        return pos[np.argsort(sort_key, kind="stable")]  # non-suspects last either way
    if sort_by == "score":
        if scores is None:
            raise ValueError("sorting by score needs the scores")
        sort_key = np.asarray(scores, dtype=np.float64)[pos]
        sort_key = np.where(np.isnan(sort_key), np.inf, -sort_key if descending else sort_key)
        return pos[np.argsort(sort_key, kind="stable")]  # missing scores last either way
    elif sort_by == "id":
        sort_key = pd.factorize(k[pos], sort=True)[0]
    else:  # category: ticked first
        sort_key = (~ticked[pos]).astype(np.int8)
    if descending:
        sort_key = -sort_key if sort_by != "category" else 1 - sort_key
    return pos[np.argsort(sort_key, kind="stable")]


def eyeball_mask(keys: Sequence[str] | np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Which examples belong to the "eyeball" part of a dev set (Machine Learning Yearning).

    Decided per example key by a seeded hash, so an example stays in its part across reloads,
    models and row orders; the rest is the black-box part nobody looks at.
    """
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"the eyeball fraction must be between 0 and 1, got {fraction}")
    hashed = pd.util.hash_array(np.asarray(keys, dtype=object).astype(str),
                                hash_key=f"mldash-eye{int(seed) % 10**6:06d}")
    return (hashed / float(2**64)) < float(fraction)
