"""Counting labels per distinct score: every fast path equals two plain sorts and scikit-learn.

The fast paths (decimal grid, packed keys sorted as float64 or as unsigned integers, signed and
compacted keys, counts per key by binary search, the block-wise scan) switch on at sizes far
above a hypothesis example's, so the tests shrink the sample and block sizes, and each test
checks that the path it means to test was the one taken.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import precision_recall_curve, roc_curve

from dashboard.errors import DashboardError
from dashboard.metrics import ThresholdCurve, score_counts
from dashboard.metrics import counting as C
from dashboard.metrics.curve import cumulative_counts


@contextmanager
def small_blocks(block: int = 16, sample: int = 64) -> Iterator[None]:
    """Blocks of ``block`` rows and samples of ``sample`` scores, so that small inputs span
    many blocks (runs of ties across their edges) and reach the sampled paths."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(C, "_BLOCK", block)
        mp.setattr(C, "_GRID_BLOCK", block)
        mp.setattr(C, "_SAMPLE", sample)
        mp.setattr(C, "_SPACING", 1)
        yield


def reference(is_pos: np.ndarray, scores: np.ndarray) -> tuple:
    """Thresholds and cumulative counts by brute force: np.unique and a sum per threshold."""
    s = scores.astype(np.float64)
    thresholds = np.unique(s)[::-1]
    tps = np.array([int((is_pos & (s >= t)).sum()) for t in thresholds], dtype=np.int32)
    fps = np.array([int((~is_pos & (s >= t)).sum()) for t in thresholds], dtype=np.int32)
    return thresholds, tps, fps


def assert_counts_equal(got: tuple, want: tuple) -> None:
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def labels(draw: st.DrawFn, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
    kind = draw(st.sampled_from(["mixed", "mixed", "mixed", "all positive", "all negative"]))
    if kind != "mixed":
        return np.full(n, kind == "all positive")
    if rng is not None:
        return rng.random(n) < draw(st.sampled_from([0.05, 0.5, 0.95]))
    return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))


@st.composite
def on_grid(draw: st.DrawFn) -> tuple:
    """Scores rounded to 0-6 decimals over a short range (either sign), float64 or float32."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    n = draw(st.integers(256, 2000))
    p = draw(st.integers(0, 6))
    low = draw(st.integers(-50, 50))
    s = rng.integers(low, low + draw(st.integers(0, 14)), n, endpoint=True) / 10.0 ** p
    if draw(st.booleans()):
        s = s.astype(np.float32)
    return labels(draw, n, rng), s


@st.composite
def tied(draw: st.DrawFn) -> tuple:
    """Few distinct arbitrary floats (off any decimal grid), most repeated many times."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    n = draw(st.integers(256, 2000))
    width = draw(st.sampled_from([32, 64]))
    finite = st.floats(allow_nan=False, allow_infinity=False, width=width)
    levels = np.array(draw(st.lists(finite, min_size=1, max_size=6)),
                      dtype=np.float32 if width == 32 else np.float64)
    s = levels[rng.integers(0, levels.size, n)]
    return labels(draw, n, rng), s


@st.composite
def spread(draw: st.DrawFn) -> tuple:
    """Any finite floats (both signs, -0.0, subnormals, huge), few or many ties, float64 or
    float32; some drawn from [0, 1] (probabilities: keys sorted as float64)."""
    n = draw(st.integers(1, 300))
    width = draw(st.sampled_from([32, 64]))
    if draw(st.booleans()):
        values = st.floats(0, 1, width=width)
    else:
        values = st.floats(allow_nan=False, allow_infinity=False, width=width)
    s = np.array(draw(st.lists(values, min_size=n, max_size=n)),
                 dtype=np.float32 if width == 32 else np.float64)
    return labels(draw, n), s


@settings(max_examples=150, deadline=None)
@given(on_grid())
def test_grid_counts_equal_two_sorts(data: tuple) -> None:
    y, s = data
    with small_blocks():
        seen = C._sample(s)
        assert seen is not None  # at most 15 grid points in a sample of 64
        got = C._grid_counts(y, s, seen)
        assert got is not None  # the path under test was taken
        assert_counts_equal(got, C._counts_by_two_sorts(y, s.astype(np.float64)))
        assert_counts_equal(cumulative_counts(y, s), got)
    assert_counts_equal(got, reference(y, s))


@settings(max_examples=150, deadline=None)
@given(tied())
def test_sampled_runs_equal_two_sorts(data: tuple) -> None:
    y, s = data
    want = C._counts_by_two_sorts(y, s.astype(np.float64))
    with small_blocks():
        assert_counts_equal(cumulative_counts(y, s), want)
        packed = C._sort_keys(s, y)
        if packed is None:  # magnitudes from tiny to huge on both sides of zero
            return
        keys, code = packed
        runs = C._sampled_runs(keys)
        _, count = np.unique(keys, return_counts=True)
        if count.min() >= s.size // 64:  # every key is sampled: no rows between samples
            assert runs is not None
        if runs is None:
            return
        assert_counts_equal(C._counts_from_runs(*runs, code), want)
        assert_counts_equal(C._scan(keys, code), want)


@settings(max_examples=300, deadline=None)
@given(spread(), st.booleans())
def test_scan_equals_two_sorts(data: tuple, float_keys: bool) -> None:
    """The block-wise scan over packed keys, whichever way they were packed, and the whole
    count (whatever path it takes) equal two plain sorts."""
    y, s = data
    want = C._counts_by_two_sorts(y, s.astype(np.float64))
    with small_blocks(), pytest.MonkeyPatch.context() as mp:
        if not float_keys:  # as when subnormals read as zero: keys sort as integers
            mp.setattr(C, "_float_keys", lambda: False)
        packed = C._sort_keys(s, y)
        if packed is not None:
            keys, code = packed
            assert float_keys or code.top != C._FLOAT_TOP
            assert_counts_equal(C._scan(keys, code), want)
        assert_counts_equal(cumulative_counts(y, s), want)


@settings(max_examples=100, deadline=None)
@given(spread() | tied() | on_grid())
def test_curve_equals_scikit_learn(data: tuple) -> None:
    """Thresholds, and the counts behind ROC, against scikit-learn on every path (float32
    scores compared in float64, exactly as their values)."""
    y, s = data
    with small_blocks():
        curve = ThresholdCurve.from_predictions(y, s, pos_label=True)
    assert curve.dtype == (np.float32 if s.dtype == np.float32 else np.float64)
    if 0 < y.sum() < y.size:
        _, _, thresholds = precision_recall_curve(y, s.astype(np.float64))
        np.testing.assert_array_equal(curve.thresholds[::-1], thresholds)
        fpr, tpr, roc_thresholds = roc_curve(y, s.astype(np.float64), drop_intermediate=False)
        np.testing.assert_array_equal(curve.thresholds, roc_thresholds[1:])
        np.testing.assert_allclose(curve.tps, tpr[1:] * y.sum(), rtol=1e-12)
        np.testing.assert_allclose(curve.fps, fpr[1:] * (y.size - y.sum()), rtol=1e-12)
    else:
        assert_counts_equal((curve.thresholds, curve.tps, curve.fps), reference(y, s))


@settings(max_examples=100, deadline=None)
@given(spread() | tied() | on_grid())
def test_fast_build_equals_counts_path(data: tuple) -> None:
    """from_predictions (fast) and from_counts(score_counts) give identical arrays and types."""
    y, s = data
    with small_blocks():
        fast = ThresholdCurve.from_predictions(y.astype(int), s)
        counts = ThresholdCurve.from_counts(*score_counts(y.astype(int), s), dtype=s.dtype)
    for name in ("thresholds", "tps", "fps"):
        a, b = getattr(fast, name), getattr(counts, name)
        assert a.dtype == b.dtype and not a.flags.writeable
        np.testing.assert_array_equal(a, b)
    assert (fast.positives, fast.negatives, fast.dtype) == (counts.positives, counts.negatives,
                                                            counts.dtype)


def test_each_packing_is_taken() -> None:
    """Probabilities pack as float64 keys, scores above 1.5 as integers; both signs as signed
    magnitudes (as float64 keys if their span allows), compacted when they span from tiny to
    huge; beyond that (subnormal to huge on both sides), two sorts. Each path is exact."""
    y = np.array([True, False, True, False])
    assert C._sort_keys(np.array([0.1, 0.9, 1.0, 0.0]), y)[1].top == C._FLOAT_TOP
    assert C._sort_keys(np.array([0.1, 0.9, 99.0, 0.0]), y)[1].top == 2**64 - 1
    code = C._sort_keys(np.array([-1.5, 0.5, 1.9, -0.0]), y)[1]
    assert code.signed and code.base == 1 and code.top == 2**64 - 1
    code = C._sort_keys(np.array([-1e-200, 5e-201, 1e-200, -0.0]), y)[1]
    assert code.signed and code.base == 1 and code.top == C._FLOAT_TOP
    code = C._sort_keys(np.array([-1e10, 1e-5, 1e10, 0.0]), y)[1]
    assert code.signed and code.base > 1
    assert C._sort_keys(np.array([-1e300, 1e-300, 1e300, -1e-300]), y) is None
    for s in ([0.1, 0.9, 99.0, 0.0], [-1.5, 0.5, 1.9, -0.0], [-1e-200, 5e-201, 1e-200, -0.0],
              [-1e10, 1e-5, 1e10, 0.0], [-1e300, 1e-300, 1e300, -1e-300]):
        assert_counts_equal(cumulative_counts(y, np.array(s)), reference(y, np.array(s)))


def test_grid_widens_beyond_the_sample_and_gives_up_off_the_grid() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 1000).astype(bool)
    s = np.round(rng.random(1000), 1)
    s[-1] = 7.5  # past every sampled score: the grid widens
    with small_blocks(block=64, sample=64):
        seen = C._sample(s)
        assert seen is not None and seen.max() < 7.5
        got = C._grid_counts(y, s, seen)
        assert got is not None
        assert_counts_equal(got, reference(y, s))
        s[500] = 0.125  # off the one-decimal grid: counted by sorting instead
        assert C._grid_counts(y, s, C._sample(s)) is None
        assert_counts_equal(cumulative_counts(y, s), reference(y, s))


@pytest.mark.parametrize("huge", [np.finfo(np.float64).max, 1.7976931348623157e302, 5e302,
                                  -1e305, 2.0**60])
@pytest.mark.parametrize("where", ["sampled", "between samples"])
def test_grid_probe_of_huge_scores_neither_overflows_nor_takes_the_grid(huge: float,
                                                                        where: str) -> None:
    """Huge scores mixed with scores on a fine grid (six decimals): the grid is refused
    without an overflow warning, whether a sample saw the huge score or not."""
    y = np.tile([True, False, False], 334)[:1000]
    s = np.full(1000, 0.015625)
    s[::7] = 0.03125  # six decimals, 15625 grid points apart: a grid short enough to count
    if where == "sampled":
        s[1::2] = huge  # odd rows: the sample (every 15th row) sees both
    else:
        s[501] = huge  # the sample skips it
    with small_blocks(block=64, sample=64), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        seen = C._sample(s)
        assert seen is not None and (huge in seen) == (where == "sampled")
        assert C._grid_counts(y, s, seen) is None
        assert_counts_equal(cumulative_counts(y, s), reference(y, s))


def test_sampled_runs_fill_in_keys_between_samples() -> None:
    """A rare score no sample fell on is found between its neighbours' runs."""
    y = np.tile([True, False], 500)
    s = np.repeat([0.25, 0.5, 0.75], [400, 400, 200]).astype(np.float64) + 1 / 3
    s[401] = 0.6  # one row: the sample skips it
    with small_blocks(block=64, sample=64):
        keys, code = C._sort_keys(s, y)
        runs = C._sampled_runs(keys)
        assert runs is not None
        assert_counts_equal(C._counts_from_runs(*runs, code), reference(y, s))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("base", ["grid", "probabilities", "signed", "float32"])
def test_non_finite_scores_are_refused_on_every_path(bad: float, base: str) -> None:
    rng = np.random.default_rng(0)
    s = {"grid": np.round(rng.random(500), 2), "probabilities": rng.random(500),
         "signed": rng.normal(size=500) * 1e5,
         "float32": rng.random(500).astype(np.float32)}[base]
    s[250] = bad
    y = rng.integers(0, 2, 500)
    with small_blocks(block=64, sample=64), pytest.raises(DashboardError, match="finite"):
        cumulative_counts(y, s)


def test_labels_of_any_type_and_either_positive_class() -> None:
    s = np.array([0.2, 0.7, 0.4, 0.9])
    want = cumulative_counts(np.array([0, 1, 0, 1]), s)
    for y, pos in ((np.array([False, True, False, True]), True),
                   (np.array([True, False, True, False]), False),
                   (np.array(["a", "b", "a", "b"]), "b"), (np.array([-1, 1, -1, 1]), 1),
                   ([1, 0, 1, 0], 0)):
        assert_counts_equal(cumulative_counts(y, s, pos_label=pos), want)
    with pytest.raises(DashboardError, match="rows"):
        cumulative_counts([0, 1], s)


def test_float16_and_integer_scores() -> None:
    y = np.array([0, 1, 1, 0, 1])
    for s in (np.array([0.1, 0.5, 0.5, 0.25, 1.0], dtype=np.float16), np.array([3, 1, 2, 2, 0])):
        assert_counts_equal(cumulative_counts(y, s), reference(y == 1, s))
