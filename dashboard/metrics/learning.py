"""What a learning curve says about more training data, only as far as its intervals show it.

"More training data is likely to help" is a claim about a trend (DOMAIN.md section 5): the
variance gap (held-out − train error) must fall between the first and the last training-set
size by more than noise, and the last gap must still be above zero. The fall's interval is
built from the two gaps' Newcombe intervals by the MOVER method (Zou and Donner 2008), the
same construction Newcombe's interval makes from two Wilson intervals, so it stays honest at
0 errors. When the fall is within noise the verdict says so, and how many examples per split
would show a fall of the size seen.
"""

from __future__ import annotations

import math

import pandas as pd

from dashboard.metrics.intervals import newcombe_interval, wilson_interval

__all__ = ["gap_change_interval", "learning_verdict"]


def gap_change_interval(first: pd.Series, last: pd.Series, held: str
                        ) -> tuple[float, float, float]:
    """(fall, low, high): how much the variance gap fell from ``first`` to ``last`` (rows of a
    learning-curve table with ``train``, ``<held>`` and their ``_n``), with a 95% interval."""
    g1 = first[held] - first["train"]
    g2 = last[held] - last["train"]
    l1, u1 = newcombe_interval(first[held], first[f"{held}_n"], first["train"],
                               first["train_n"])
    l2, u2 = newcombe_interval(last[held], last[f"{held}_n"], last["train"], last["train_n"])
    fall = g1 - g2
    return (fall, fall - math.hypot(g1 - l1, u2 - g2), fall + math.hypot(u1 - g1, g2 - l2))


def learning_verdict(table: pd.DataFrame, human: float, human_given: bool = True) -> str:
    """What a learning curve says about more data, only as far as its intervals show it."""
    held = "train_dev" if "train_dev" in table.columns else "dev"
    if "train" not in table.columns or held not in table.columns or len(table) < 2:
        return ("A learning curve needs train and held-out (train_dev or dev) errors at two "
                "or more training-set sizes.")
    rows = table.dropna(subset=["train", held])
    if len(rows) < 2:
        return "Too few sizes with both train and held-out errors to read the curve."
    first, last = rows.iloc[0], rows.iloc[-1]
    g_first, g_last = first[held] - first["train"], last[held] - last["train"]
    lo_last, _ = newcombe_interval(last[held], last[f"{held}_n"], last["train"], last["train_n"])
    fall, fall_lo, fall_hi = gap_change_interval(first, last, held)
    sizes = f"{rows.index[0]:,.0f} to {rows.index[-1]:,.0f} examples"
    if lo_last > 0 and fall_lo > 0:
        return (f"The variance gap ({held} − train) shrinks as the training set grows, from "
                f"{g_first * 100:+.1f} pp to {g_last * 100:+.1f} pp over {sizes} (a fall of "
                f"{fall * 100:.1f} pp, 95%: {fall_lo * 100:.1f} to {fall_hi * 100:.1f} pp), and "
                "is still clearly above zero: more training data is likely to help.")
    prev = rows.iloc[-2]
    flat_lo, flat_hi = newcombe_interval(last["train"], last["train_n"], prev["train"],
                                         prev["train_n"])
    above_human = wilson_interval(last["train"] * last["train_n"], last["train_n"])[0] > human
    if human_given and above_human and flat_lo <= 0 <= flat_hi:
        return (f"Train error is already above human level ({last['train']:.1%} vs "
                f"{human:.1%}) and flat over the last sizes: more data alone is unlikely to "
                "help; reduce avoidable bias first (a bigger model, longer training).")
    if lo_last <= 0:
        return (f"The variance gap at {rows.index[-1]:,.0f} examples is within noise "
                f"({g_last * 100:+.1f} pp): more data would mostly not close a gap the data "
                "cannot show; look at bias and data mismatch.")
    if fall <= 0:
        return (f"The variance gap is {g_last * 100:+.1f} pp at {rows.index[-1]:,.0f} examples "
                f"and has not shrunk with size ({g_first * 100:+.1f} pp at "
                f"{rows.index[0]:,.0f}): the curves cannot yet say whether more data would help.")
    # a fall seen but within noise: the interval narrows as 1/sqrt(n) in every split
    factor = ((fall - fall_lo) / fall) ** 2
    now = int(round(min(first[f"{held}_n"], last[f"{held}_n"])))
    return (f"The variance gap fell from {g_first * 100:+.1f} pp to {g_last * 100:+.1f} pp over "
            f"{sizes}, but the fall is within noise (95%: {fall_lo * 100:.1f} to "
            f"{fall_hi * 100:.1f} pp): the curve cannot tell yet whether more data helps. To "
            f"show a fall of {fall * 100:.1f} pp, about {factor:.1f}× as many examples in each "
            f"split (about {math.ceil(factor * now):,} {held} examples per size, now {now:,}).")
