"""Error analysis: the category tally, the ceiling each fix could reach, and label noise."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.metrics.intervals import Z95, effective_n, wilson_interval

__all__ = [
    "MISLABELLED",
    "FixFirst",
    "fix_first",
    "LabelNoise",
    "ceiling_error",
    "label_noise",
    "label_noise_blocks_choice",
    "tally_table",
]

#: the category every review has
MISLABELLED = "incorrectly labelled"

#: labels are worth fixing when they cause at least this share of the dev errors
WORTH_FIXING_SHARE = 0.2


def ceiling_error(dev_error: float, share: float) -> float:
    """Dev error if a category with this share of the errors were fixed completely: E·(1 − s)."""
    return dev_error * (1.0 - share)


def tally_table(tags: pd.DataFrame, dev_error: float,
                weights: np.ndarray | pd.Series | None = None) -> pd.DataFrame:
    """Per category: ticked rows, share of reviewed rows, its 95% interval and the ceiling.

    ``tags`` has one row per reviewed example and one boolean column per category (missing
    values count as not ticked). Categories are not exclusive, so shares need not sum to 1.
    The share is a sample estimate: ``share_low``/``share_high`` are its Wilson 95% bounds and
    ``ceiling_low``/``ceiling_high`` the range of ``E·(1 − s)`` that follows. With
    ``weights`` (one per reviewed row, aligned with ``tags``) the share is the weighted share,
    so that it is measured the same way as a weighted ``dev_error``; its interval then uses
    Kish's effective size.
    """
    reviewed = len(tags)
    w = (np.ones(reviewed) if weights is None
         else np.asarray(weights, dtype=np.float64).reshape(-1))
    if w.size != reviewed:
        raise ValueError(f"tally_table: {w.size} weights for {reviewed} reviewed rows")
    total = float(w.sum())
    n_eff = effective_n(w) if weights is not None else float(reviewed)
    counts, shares, lows, highs = {}, {}, {}, {}
    for c in tags.columns:
        ticked = tags[c].fillna(False).to_numpy(dtype=bool)
        counts[c] = int(np.count_nonzero(ticked))
        share = float(w[ticked].sum()) / total if total > 0 else np.nan
        shares[c] = share
        lows[c], highs[c] = (wilson_interval(share * n_eff, n_eff) if total > 0
                             else (np.nan, np.nan))
    index = pd.Index(list(tags.columns), name="category")
    out = pd.DataFrame({"count": pd.Series(counts, index=index, dtype="int64")}, index=index)
    out["reviewed"] = reviewed
    out["share"] = pd.Series(shares, index=index, dtype="float64")
    out["share_low"] = pd.Series(lows, index=index, dtype="float64")
    out["share_high"] = pd.Series(highs, index=index, dtype="float64")
    out["ceiling_error"] = dev_error * (1.0 - out["share"])
    out["ceiling_low"] = dev_error * (1.0 - out["share_high"])
    out["ceiling_high"] = dev_error * (1.0 - out["share_low"])
    out["max_improvement"] = dev_error - out["ceiling_error"]
    out.attrs["weighted"] = weights is not None
    return out


@dataclass(frozen=True)
class LabelNoise:
    """How much of the dev error is due to incorrect labels, and whether fixing them matters.

    ``worth_fixing`` is the point estimate (labels cause at least 20% of the errors).
    When ``reviewed`` is known the verdict says only what the sample shows: "worth fixing"
    when even the share's lower 95% bound reaches 20%, "not the priority" when its upper
    bound stays below, otherwise that more rows must be reviewed.
    """

    dev_error: float
    mislabelled_share: float
    due_to_labels: float
    other_causes: float
    share_of_errors: float
    worth_fixing: bool
    reviewed: int | None = None
    share_low: float = float("nan")
    share_high: float = float("nan")
    worth_fixing_share: float = WORTH_FIXING_SHARE

    @property
    def decided(self) -> bool:
        """Whether the reviewed sample is enough to say worth fixing or not."""
        if self.reviewed is None:
            return True
        if self.reviewed == 0:
            return False
        return (self.share_low >= self.worth_fixing_share
                or self.share_high < self.worth_fixing_share)

    @property
    def verdict(self) -> str:
        if self.reviewed == 0:
            return ("No misclassified example has been reviewed yet: tick \"incorrectly "
                    "labelled\" while reviewing to see how much of the error labels cause.")
        pct = f"{self.share_of_errors:.0%}"
        ci = (f" (95%: {self.share_low:.0%}–{self.share_high:.0%}, from {self.reviewed} "
              "reviewed)" if self.reviewed is not None else "")
        if not self.decided:
            return (f"Incorrect labels cause about {pct} of the dev errors{ci}: too few rows "
                    "reviewed to tell whether fixing labels is worth it; review more.")
        if self.worth_fixing:
            return (f"Incorrect labels cause {pct} of the dev errors{ci} "
                    f"({self.due_to_labels:.1%} of {self.dev_error:.1%}): worth fixing. Correct "
                    "dev and test alike, and consider reviewing examples the model got right.")
        return (f"Incorrect labels cause only {pct} of the dev errors{ci} "
                f"({self.due_to_labels:.1%} of {self.dev_error:.1%}); other causes account for "
                f"{self.other_causes:.1%}: fixing labels is not the priority.")


def label_noise(dev_error: float, mislabelled_share: float,
                worth_fixing_share: float = WORTH_FIXING_SHARE, *,
                reviewed: int | None = None, share_interval: tuple[float, float] | None = None,
                ) -> LabelNoise:
    """Split dev error into the part due to incorrect labels and the part due to other causes.

    ``reviewed`` (and optionally the share's ``share_interval``, e.g. weighted) let the
    verdict say only what the reviewed sample can show.
    """
    due = dev_error * mislabelled_share
    share = due / dev_error if dev_error > 0 else 0.0
    lo, hi = (float("nan"), float("nan"))
    if reviewed:
        lo, hi = share_interval or wilson_interval(mislabelled_share * reviewed, reviewed)
    decided_worth = share >= worth_fixing_share
    if reviewed is not None and reviewed > 0 and dev_error > 0:
        decided_worth = lo >= worth_fixing_share
    return LabelNoise(dev_error=dev_error, mislabelled_share=mislabelled_share,
                      due_to_labels=due, other_causes=dev_error - due, share_of_errors=share,
                      worth_fixing=decided_worth if reviewed else share >= worth_fixing_share,
                      reviewed=reviewed, share_low=lo, share_high=hi,
                      worth_fixing_share=worth_fixing_share)


def label_noise_blocks_choice(error_a: float, error_b: float, due_to_labels: float) -> str | None:
    """A warning when two models differ by less than the error due to incorrect labels."""
    diff = abs(error_a - error_b)
    if diff < due_to_labels:
        return (f"The models differ by {diff:.1%} of dev error, less than the {due_to_labels:.1%} "
                "due to incorrect labels: the dev set cannot choose between them until the "
                "labels are fixed.")
    return None


@dataclass(frozen=True)
class FixFirst:
    """The tally's answer: which category is worth fixing first, or why it cannot say yet."""

    category: str | None
    decided: bool
    sentence: str
    more_needed: int | None = None
    #: the category with the largest share so far (named first in the sentence), decided or not
    leading: str | None = None


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}%" if rate < 0.1 else f"{rate * 100:.0f}%"


def more_reviews_needed(p1: float, p2: float, reviewed: int, z: float = Z95) -> int | None:
    """About how many more reviewed rows would separate two shares' Wilson 95% intervals, if
    the shares stayed as they are; ``None`` when the shares are equal."""
    if p1 == p2:
        return None
    hi, lo = max(p1, p2), min(p1, p2)
    spread = z * (math.sqrt(hi * (1 - hi)) + math.sqrt(lo * (1 - lo)))
    n = max(reviewed + 1, math.ceil((spread / (hi - lo)) ** 2))  # normal approximation
    while (wilson_interval(hi * n, n, z)[0] <= wilson_interval(lo * n, n, z)[1]
           and n < 10**9):
        n += max(1, n // 100)
    return max(1, n - reviewed)


def fix_first(table: pd.DataFrame, split_error: float, *, errors: int | None = None,
              split: str = "dev") -> FixFirst:
    """The sentence that answers the tally's question, "which category first?".

    Named only when the top category's share interval lies above the runner-up's; otherwise
    says that the two are not yet apart and about how many more reviews would separate them.
    ``table`` is :func:`tally_table`'s output; ``errors`` the split's misclassified rows.
    """
    reviewed = int(table["reviewed"].iloc[0]) if len(table) else 0
    of = f" of {errors:,}" if errors is not None else ""
    if errors == 0 and reviewed == 0:  # a perfect split (at this threshold): say so
        return FixFirst(None, False, f"No {split} errors at this threshold: nothing to review, "
                        "no category to fix first.")
    if reviewed == 0:
        return FixFirst(None, False, f"No {split} errors reviewed yet: tick the categories of "
                        "each sampled error to see which is worth fixing first.")
    ranked = table[table["count"] > 0].sort_values(["share", "count"], ascending=False)
    if ranked.empty:
        return FixFirst(None, False, f"No category ticked on the {reviewed}{of} {split} errors "
                        "reviewed: add the categories you see.")
    top = ranked.iloc[0]
    name = str(ranked.index[0])
    if len(ranked) > 1:
        second = ranked.iloc[1]
        if top["share_low"] <= second["share_high"]:
            more = more_reviews_needed(float(top["share"]), float(second["share"]), reviewed)
            if more is None:
                hint = "they are tied"
            elif errors is not None and reviewed + more > errors:
                hint = f"even all {errors:,} errors may not separate them"
            else:
                hint = f"about {more:,} more reviewed errors would separate them"
            return FixFirst(None, False, leading=name, more_needed=more, sentence=(
                f"Not yet: {name} ({_pct(top['share'])}, 95%: {_pct(top['share_low'])}–"
                f"{_pct(top['share_high'])}) and {ranked.index[1]} ({_pct(second['share'])}, "
                f"95%: {_pct(second['share_low'])}–{_pct(second['share_high'])}) are not yet "
                f"apart after {reviewed}{of} errors reviewed; {hint}."))
    return FixFirst(name, True, leading=name, sentence=(
        f"Fix {name} first: {split} error could fall from {_pct(split_error)} to at most "
        f"{_pct(top['ceiling_error'])} (95%: {_pct(top['ceiling_low'])}–"
        f"{_pct(top['ceiling_high'])}), from {reviewed}{of} errors reviewed."))
