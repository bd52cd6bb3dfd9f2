"""Labels counted per distinct score, highest first: the sufficient statistics of a threshold curve.

Unweighted, this costs about one sort of the scores, without an argsort (numpy's sort is several
times faster than gathering rows through an argsort):

- scores rounded to a few decimals are counted on their grid with ``np.bincount``: no sort;
- otherwise each row becomes one packed key, the score's bits shifted left by one with the label
  in the freed lowest bit, and one in-place sort of the keys puts the labels in score order; a
  pass over the sorted keys, a block at a time, then counts them (or, when a sample shows few
  distinct keys, a binary search per distinct key does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dashboard.errors import DashboardError

__all__ = ["cumulative_counts"]

Counts = tuple[np.ndarray, np.ndarray, np.ndarray]


def cumulative_counts(y_true: np.ndarray, y_score: np.ndarray, pos_label: object = 1) -> Counts:
    """Per distinct score, highest first: the score and how many positives and how many
    negatives score at least that much (a curve's ``thresholds, tps, fps``).

    The counts are int32 below 2**31 rows (float64 beyond, as ``ThresholdCurve.from_counts``
    stores them); the scores float64 (float32 scores are exact in it). Raises on NaN or inf.
    """
    is_pos, y_score = labels_and_scores(y_true, y_score, pos_label)
    if y_score.size == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty.copy(), empty.copy()
    seen = _sample(y_score)
    few = seen is not None  # the sample shows many ties
    if few:
        grid = _grid_counts(is_pos, y_score, seen)
        if grid is not None:
            return grid
    packed = _sort_keys(y_score, is_pos)
    if packed is None:  # finite scores too spread out to pack (see _signed_code)
        return _counts_by_two_sorts(is_pos, y_score.astype(np.float64, copy=False))
    keys, code = packed
    if few:
        runs = _sampled_runs(keys)
        if runs is not None:
            return _counts_from_runs(*runs, code)
    return _scan(keys, code)


_SAMPLE = 1 << 16  # at most this many evenly spaced scores show how many are distinct
_SPACING = 64  # and they are at least this far apart


def _sample(y_score: np.ndarray) -> np.ndarray | None:
    """The distinct scores among at most :data:`_SAMPLE` evenly spaced ones, if they are at
    most a quarter of the sample: many ties; else None (and below 4 * :data:`_SAMPLE` rows,
    where a sort is quick anyway)."""
    if y_score.size < 4 * _SAMPLE:
        return None
    sample = y_score[::max(_SPACING, y_score.size // _SAMPLE)]
    seen = np.unique(sample)
    return seen if seen.size * 4 <= sample.size else None


def labels_and_scores(y_true: np.ndarray, y_score: np.ndarray, pos_label: object
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Labels as a contiguous boolean "is positive"; scores as contiguous float32 (kept: half
    the bytes to sort; float16 widened to it) or float64 (anything else), of the same length."""
    y_score = np.asarray(y_score).ravel()
    if y_score.dtype not in (np.float32, np.float64):
        y_score = y_score.astype(np.float32 if y_score.dtype == np.float16 else np.float64)
    y_true = np.asarray(y_true).ravel()
    if y_true.dtype == bool and isinstance(pos_label, bool | np.bool_) and pos_label:
        is_pos = y_true
    else:
        is_pos = np.asarray(y_true == pos_label)
    if y_score.shape != is_pos.shape:
        raise DashboardError(f"y_true has {is_pos.size} rows but y_score has {y_score.size}")
    return np.ascontiguousarray(is_pos, dtype=bool), np.ascontiguousarray(y_score)


def weighted_counts(is_pos: np.ndarray, y_score: np.ndarray, sample_weight: np.ndarray
                    ) -> Counts:
    """Per distinct score (decreasing): the positives' and the negatives' total weight."""
    y_score = y_score.astype(np.float64, copy=False)
    if y_score.size == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty.copy(), empty.copy()
    check_finite(y_score)
    w = np.asarray(sample_weight, dtype=np.float64).ravel()
    order = np.argsort(y_score)  # ties are merged below, so stability does not matter
    s, nw = y_score[order], w[order]
    pw = np.where(is_pos[order], nw, 0.0)
    nw -= pw
    starts = run_starts(s)
    return (s[starts][::-1].copy(), np.add.reduceat(pw, starts)[::-1].copy(),
            np.add.reduceat(nw, starts)[::-1].copy())


def check_finite(y_score: np.ndarray) -> None:
    if not np.isfinite(y_score).all():
        raise DashboardError("scores must be finite numbers (no NaN or inf)")


def run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Indices where a run of equal values starts in a sorted array."""
    change = np.empty(sorted_values.size, dtype=bool)
    change[:1] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=change[1:])
    return np.flatnonzero(change)


def runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how many times each occurs (as float64)."""
    if sorted_values.size == 0:
        return sorted_values, np.empty(0, dtype=np.float64)
    starts = run_starts(sorted_values)
    counts = np.diff(np.append(starts, sorted_values.size)).astype(np.float64)
    return sorted_values[starts], counts


def compact_counts(cumulative: np.ndarray) -> np.ndarray:
    """Whole counts below 2**31 as int32 (half of float64: 40 MB less per 10M distinct
    scores); weighted, fractional or larger sums stay float64. Exact either way."""
    if cumulative.size == 0 or cumulative[-1] >= 2**31 or cumulative[0] < 0:
        return cumulative
    as_int = cumulative.astype(np.int32)
    return as_int if np.array_equal(as_int, cumulative) else cumulative


def _count_dtype(cumulative: np.ndarray, rows: int) -> np.ndarray:
    """Cumulative whole counts of ``rows`` rows as :func:`compact_counts` stores them."""
    return cumulative.astype(np.int32 if rows < 2**31 else np.float64)


def _counts_by_two_sorts(is_pos: np.ndarray, y_score: np.ndarray) -> Counts:
    """Cumulative counts from two plain sorts (all scores, positives' scores) and a binary
    search: the path for scores :func:`_sort_keys` cannot pack, and a second opinion in tests."""
    check_finite(y_score)
    scores, total = runs(np.sort(y_score))
    pos_scores, pos_counts = runs(np.sort(y_score[is_pos]))
    pos = np.zeros(scores.size, dtype=np.float64)
    pos[np.searchsorted(scores, pos_scores)] = pos_counts
    neg = total - pos
    return (scores[::-1].copy(), compact_counts(np.cumsum(pos[::-1])),
            compact_counts(np.cumsum(neg[::-1])))


# -- scores on a decimal grid -------------------------------------------------------------------

_GRID_POINTS = 1 << 14  # most grid points between the lowest and the highest score
_GRID_BLOCK = 1 << 16


def _grid_counts(is_pos: np.ndarray, y_score: np.ndarray, seen: np.ndarray) -> Counts | None:
    """Cumulative counts without a sort when every score is a whole number of ``10**-p``
    (rounded to ``p <= 6`` decimals) over a short range, as the distinct scores ``seen`` in a
    sample suggest: each row's grid point ``rint(score * 10**p)`` is checked to give the score
    back exactly, and counted with ``np.bincount``. None when the scores are not so."""
    n = y_score.size
    if not np.isfinite(seen).all():
        return None
    biggest = max(-float(seen[0]), float(seen[-1]))  # seen is sorted
    for p in range(7):
        scale = 10.0 ** p
        if biggest * scale >= 2**52:  # grid points too far out to count, at this p or above
            return None  # (and huge scores would overflow the multiply below)
        points = np.rint(seen.astype(np.float64) * scale)
        if np.array_equal(_grid_values(points, scale, y_score.dtype), seen):
            break
    else:
        return None
    lo, hi = int(points[0]), int(points[-1])
    if hi - lo >= _GRID_POINTS or max(-lo, hi) >= 2**52:
        return None
    counts = np.zeros(2 * (hi - lo + 1), dtype=np.int64)  # negatives, positives per point
    lab = is_pos.view(np.uint8)
    size = min(n, _GRID_BLOCK)
    t, back = np.empty(size), np.empty(size, dtype=y_score.dtype)
    same, code = np.empty(size, dtype=bool), np.empty(size, dtype=np.int64)
    for a in range(0, n, _GRID_BLOCK):
        s = y_score[a:a + _GRID_BLOCK]
        m = s.size
        with np.errstate(over="ignore"):  # a huge row off the sample's grid becomes inf,
            np.multiply(s, scale, out=t[:m], dtype=np.float64)  # which fails the check below
        np.rint(t[:m], out=t[:m])
        np.divide(t[:m], scale, out=back[:m], casting="same_kind")
        np.equal(back[:m], s, out=same[:m])
        if not same[:m].all():  # a score off the grid, or NaN
            return None
        low, high = float(t[:m].min()), float(t[:m].max())
        if low < lo or high > hi:  # beyond the sample's range: widen, while still short
            if not (math.isfinite(low) and math.isfinite(high)):
                return None
            new_lo, new_hi = min(lo, int(low)), max(hi, int(high))
            if new_hi - new_lo >= _GRID_POINTS:
                return None
            counts = np.concatenate([np.zeros(2 * (lo - new_lo), dtype=np.int64), counts,
                                     np.zeros(2 * (new_hi - hi), dtype=np.int64)])
            lo, hi = new_lo, new_hi
        c = code[:m]
        np.copyto(c, t[:m], casting="unsafe")
        np.subtract(c, lo, out=c)
        np.left_shift(c, 1, out=c)
        np.bitwise_or(c, lab[a:a + m], out=c)
        counts += np.bincount(c, minlength=counts.size)
    neg, pos = counts[0::2][::-1], counts[1::2][::-1]  # highest score first
    present = np.flatnonzero(neg + pos)
    return (_grid_values((hi - present).astype(np.float64), scale, y_score.dtype),
            _count_dtype(np.cumsum(pos[present]), n), _count_dtype(np.cumsum(neg[present]), n))


def _grid_values(points: np.ndarray, scale: float, dtype: np.dtype) -> np.ndarray:
    """The scores at these grid points, in the scores' float type, as float64."""
    return (points / scale).astype(dtype).astype(np.float64)


# -- packed sort keys ---------------------------------------------------------------------------
# A finite score >= +0.0, its bits read as an unsigned integer, sorts like the score, and its
# sign bit is 0: shifted left by one it still fits, and the freed lowest bit takes the label.
# Subtracted from an odd ``top``, ascending keys are descending scores (counts come out in a
# curve's order) and a key's lowest bit says "negative". With ``top`` the largest finite
# float64's bits, scores below 1.5 make keys that are themselves positive float64s in the same
# order, and numpy sorts float64 a little faster than uint64; otherwise ``top`` is all ones.
# Scores of both signs first become signed magnitudes (which sort like the scores) shifted up by
# the largest negative magnitude; when that span is too wide (magnitudes from tiny to huge on
# both sides of zero), the smallest nonzero magnitude, less one, is taken off every nonzero one.

_BLOCK = 1 << 15  # rows per block: a block's temporaries stay in the CPU cache
_WIDTHS = {32: (np.uint32, np.int32, np.float32, 0x7F800000),
           64: (np.uint64, np.int64, np.float64, 0x7FF0000000000000)}
_FLOAT_TOP = 0x7FEFFFFFFFFFFFFF  # the largest finite float64's bits
_TINY = np.array([5e-324])  # the smallest subnormal float64


@dataclass(frozen=True)
class _KeyCode:
    """How :func:`_sort_keys` packed a score: ``key = top - ((u << 1) | is_pos)``, ``u`` the
    score's bits, or if ``signed`` its magnitude (less ``base - 1`` when nonzero), signed, plus
    ``shift``. Keys sort as float64 when ``top`` is :data:`_FLOAT_TOP`."""

    width: int
    top: int
    signed: bool = False
    base: int = 1
    shift: int = 0


def _float_keys() -> bool:
    """Whether float64 keys sort like their bits: not when subnormals are read as zero (a
    library built with fast-math can switch that on for the whole process)."""
    return bool((_TINY > 0)[0])


def _sort_keys(y_score: np.ndarray, is_pos: np.ndarray) -> tuple[np.ndarray, _KeyCode] | None:
    """Packed keys, sorted, and how to decode them; None if they do not fit (see
    :func:`_signed_code`). Raises on NaN or infinite scores."""
    width = 32 if y_score.dtype == np.float32 else 64
    utype, _, _, inf_bits = _WIDTHS[width]
    as_float = width == 64 and _float_keys()
    code = _KeyCode(width, _FLOAT_TOP if as_float else (1 << width) - 1)
    keys = np.empty(y_score.size, dtype=utype)
    if not _fill_keys(keys, y_score, is_pos, code, (code.top >> 1) if as_float else inf_bits - 1):
        code = _signed_code(y_score, width, as_float)
        if code is None:
            return None
        _fill_keys(keys, y_score, is_pos, code)
    (keys.view(np.float64) if code.top == _FLOAT_TOP else keys).sort()
    return keys, code


def _fill_keys(keys: np.ndarray, y_score: np.ndarray, is_pos: np.ndarray, code: _KeyCode,
               limit: int | None = None) -> bool:
    """Write the packed keys, a block at a time; False as soon as a score's bits exceed
    ``limit`` (a negative score, -0.0, NaN or inf beyond any limit)."""
    utype, itype, _, _ = _WIDTHS[code.width]
    bits, lab = y_score.view(utype), is_pos.view(np.uint8)
    sign_bit = 1 << (code.width - 1)
    for a in range(0, y_score.size, _BLOCK):
        b = bits[a:a + _BLOCK]
        k = keys[a:a + _BLOCK]
        if limit is not None and b.max() > limit:
            return False
        if code.signed:
            u = k.view(itype)
            np.bitwise_and(b, sign_bit - 1, out=k)
            if code.base > 1:
                np.subtract(u, code.base - 1, out=u, where=u > 0)
            sign = np.right_shift(b.view(itype), code.width - 1)  # 0, or -1 if negative
            np.bitwise_xor(u, sign, out=u)
            np.subtract(u, sign, out=u)  # the signed magnitude: it sorts like the score
            np.add(u, code.shift, out=u)
            np.left_shift(k, 1, out=k)
        else:
            np.left_shift(b, 1, out=k)
        np.bitwise_or(k, lab[a:a + _BLOCK], out=k)
        np.subtract(code.top, k, out=k)
    return True


def _signed_code(y_score: np.ndarray, width: int, as_float: bool) -> _KeyCode | None:
    """The packing of finite scores of any sign: the shift (the largest negative magnitude)
    and, if the span does not fit in ``width - 1`` bits, the base (the smallest nonzero
    magnitude); None if it still does not fit. Raises on NaN or infinite scores."""
    utype, itype, _, inf_bits = _WIDTHS[width]
    sign_bit = 1 << (width - 1)
    top_neg, top_pos, negative = 0, 0, False
    ubits, sbits = y_score.view(utype), y_score.view(itype)
    for a in range(0, y_score.size, _BLOCK):
        most = int(ubits[a:a + _BLOCK].max())  # a negative score's bits are the largest
        if most >= sign_bit:
            top_neg, negative = max(top_neg, most - sign_bit), True
        top_pos = max(top_pos, int(sbits[a:a + _BLOCK].max()))  # a negative is below any +
    if max(top_neg, top_pos) >= inf_bits:
        raise DashboardError("scores must be finite numbers (no NaN or inf)")
    base = 1
    if top_neg + top_pos >= sign_bit:
        base = sign_bit
        for a in range(0, y_score.size, _BLOCK):
            mag = ubits[a:a + _BLOCK] & (sign_bit - 1)
            np.subtract(mag, 1, out=mag)  # zero wraps around to the largest: ignored by min
            base = min(base, int(mag.min()) + 1)
        top_neg, top_pos = (max(t - base + 1, 0) for t in (top_neg, top_pos))
        if top_neg + top_pos >= sign_bit:
            return None
    as_float = as_float and top_neg + top_pos <= _FLOAT_TOP >> 1
    return _KeyCode(width, _FLOAT_TOP if as_float else (1 << width) - 1, negative or base > 1,
                    base, top_neg)


def _decode(keys: np.ndarray, code: _KeyCode, out: np.ndarray | None = None) -> np.ndarray:
    """The scores packed in ``keys``, in their own float type: a view of ``out`` (same
    unsigned type as the keys, may be ``keys`` itself) or of a new array."""
    _, itype, ftype, _ = _WIDTHS[code.width]
    out = np.empty_like(keys) if out is None else out
    np.subtract(code.top, keys, out=out)
    np.right_shift(out, 1, out=out)
    if code.signed:
        s = out.view(itype)
        np.subtract(s, code.shift, out=s)
        sign = np.right_shift(s, code.width - 1)
        np.bitwise_xor(s, sign, out=s)
        np.subtract(s, sign, out=s)
        if code.base > 1:
            np.add(s, code.base - 1, out=s, where=s > 0)
        np.bitwise_and(sign, np.array(-(1 << (code.width - 1)), dtype=itype), out=sign)
        np.bitwise_or(s, sign, out=s)
    return out.view(ftype)


def _sampled_runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Distinct keys of a sorted array and their counts, by a binary search for each key an
    evenly spaced sample finds (and a scan of the few rows between them), when the sample shows
    few distinct keys (many ties); None otherwise, and then every key is scanned."""
    n = keys.size
    if n < 4 * _SAMPLE:
        return None
    seen = np.append(keys[::n // _SAMPLE], keys[-1])
    starts = run_starts(seen)
    if starts.size * 4 > seen.size:
        return None
    distinct = seen[starts]
    lo = np.searchsorted(keys, distinct, side="left")
    hi = np.searchsorted(keys, distinct, side="right")  # lo[0] == 0 and hi[-1] == n
    gaps = np.flatnonzero(hi[:-1] < lo[1:])  # rows no sample fell on, after distinct[gaps]
    if gaps.size > 1024 or int((lo[gaps + 1] - hi[gaps]).sum()) > n // 16:
        return None
    parts, counts = [distinct], [hi - lo]
    for g in gaps:
        rows = keys[hi[g]:lo[g + 1]]
        first = run_starts(rows)
        parts.append(rows[first])
        counts.append(np.diff(first, append=rows.size))
    if gaps.size == 0:
        return distinct, counts[0]
    distinct, count = np.concatenate(parts), np.concatenate(counts)
    order = np.argsort(distinct)
    return distinct[order], count[order]


def _counts_from_runs(distinct: np.ndarray, counts: np.ndarray, code: _KeyCode) -> Counts:
    """Scores and cumulative counts from each distinct key's count (a score has one or two
    keys: its negatives' and its positives')."""
    negative = (distinct & 1).astype(bool)  # a key's lowest bit: 1 for a negative
    scores = _decode(distinct, code).astype(np.float64)
    starts = run_starts(scores)
    neg = np.add.reduceat(np.where(negative, counts, 0), starts)
    pos = np.add.reduceat(np.where(negative, 0, counts), starts)
    rows = int(counts.sum())
    return (np.ascontiguousarray(scores[starts]), _count_dtype(np.cumsum(pos), rows),
            _count_dtype(np.cumsum(neg), rows))


def _scan(keys: np.ndarray, code: _KeyCode) -> Counts:
    """Scores and cumulative counts from sorted packed keys, one block at a time.

    A score's run ends where the next key differs in more than the label bit; the negatives so
    far are a running sum of the keys' lowest bits, the positives the rank less those. In a
    block without ties, 64-bit keys are decoded in place: their memory becomes the thresholds.
    """
    n = keys.size
    ctype = np.int32 if n < 2**31 else np.int64
    utype = _WIDTHS[code.width][0]
    in_place = code.width == 64
    scores = keys.view(np.float64) if in_place else np.empty(n, dtype=np.float64)
    tps, fps = np.empty(n, dtype=ctype), np.empty(n, dtype=ctype)
    size = min(n, _BLOCK)
    ranks = np.arange(1, size + 1, dtype=ctype)
    diff, ends = np.empty(size, dtype=utype), np.empty(size, dtype=bool)
    neg, pos, bits = np.empty(size, ctype), np.empty(size, ctype), np.empty(size, utype)
    bufs = np.empty(size, dtype=np.uint8), np.empty(size, dtype=ctype)
    w = carry = 0  # rows written; negatives so far
    for a in range(0, n, _BLOCK):
        k = keys[a:a + _BLOCK]
        m = k.size
        nxt = keys[a + 1:a + 1 + m]
        inner = nxt.size  # m, or m - 1 in the last block: its last key ends a run
        np.bitwise_xor(k[:inner], nxt, out=diff[:inner])
        if inner == 0 or diff[:inner].min() > 1:  # no ties in this block
            _running_count(k, fps[w:w + m], carry, *bufs)
            carry = int(fps[w + m - 1])
            np.subtract(ranks[:m], fps[w:w + m], out=tps[w:w + m])
            np.add(tps[w:w + m], a, out=tps[w:w + m])
            if in_place and w == a:
                _decode(k, code, out=k)
            else:
                scores[w:w + m] = _decode(k, code, out=bits[:m])
            w += m
            continue
        np.greater(diff[:inner], 1, out=ends[:inner])
        ends[inner:m] = True
        _running_count(k, neg[:m], carry, *bufs)
        carry = int(neg[m - 1])
        idx = np.flatnonzero(ends[:m])
        j = idx.size
        np.take(neg[:m], idx, out=fps[w:w + j])
        np.subtract(ranks[:m], neg[:m], out=pos[:m])  # positives so far, less a
        np.take(pos[:m], idx, out=tps[w:w + j])
        np.add(tps[w:w + j], a, out=tps[w:w + j])
        values = _decode(k, code, out=k if in_place else bits[:m])  # k is read: overwrite it
        scores[w:w + j] = values[idx]
        w += j
    if w < n // 2:  # many ties: do not keep the unused rows alive
        scores, tps, fps = scores[:w].copy(), tps[:w].copy(), fps[:w].copy()
    else:
        scores, tps, fps = scores[:w], tps[:w], fps[:w]
    if ctype == np.int64:
        tps, fps = tps.astype(np.float64), fps.astype(np.float64)
    return scores, tps, fps


_BYTES = np.uint64(0x0101010101010101)


def _running_count(keys: np.ndarray, out: np.ndarray, carry: int, bits: np.ndarray,
                   ints: np.ndarray) -> None:
    """``out = carry + cumsum(keys & 1)``, about a fifth faster than ``np.cumsum``'s loop: eight
    bits (one a byte) in a uint64 times 0x0101010101010101 gives their running sums in its
    bytes, and a cumsum over the words gives each word's offset."""
    m = keys.size
    bit = bits[:m]
    np.bitwise_and(keys, 1, out=bit, casting="unsafe")
    if m % 8 or not np.little_endian:
        np.cumsum(bit, out=out, dtype=out.dtype)
        np.add(out, carry, out=out)
        return
    words = bit.view(np.uint64)
    np.multiply(words, _BYTES, out=words)
    totals = (words >> np.uint64(56)).astype(out.dtype)  # each word's total: its top byte
    before = np.cumsum(totals, dtype=out.dtype)
    np.subtract(before, totals, out=before)
    np.add(before, carry, out=before)
    np.copyto(ints[:m], bit)
    np.add(ints[:m], np.repeat(before, 8), out=out)
