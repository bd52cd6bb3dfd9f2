"""Error analysis: the category tally, the ceiling each fix could reach, and label noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "MISLABELLED",
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


def tally_table(tags: pd.DataFrame, dev_error: float) -> pd.DataFrame:
    """Per category: ticked rows, share of reviewed rows and ceiling error.

    ``tags`` has one row per reviewed example and one boolean column per category (missing
    values count as not ticked). Categories are not exclusive, so shares need not sum to 1.
    """
    reviewed = len(tags)
    counts = {c: int(np.count_nonzero(tags[c].fillna(False).to_numpy(dtype=bool)))
              for c in tags.columns}
    out = pd.DataFrame({
        "count": pd.Series(counts, dtype="int64"),
    }, index=pd.Index(list(tags.columns), name="category"))
    out["reviewed"] = reviewed
    out["share"] = out["count"] / reviewed if reviewed else np.nan
    out["ceiling_error"] = dev_error * (1.0 - out["share"])
    out["max_improvement"] = dev_error - out["ceiling_error"]
    return out


@dataclass(frozen=True)
class LabelNoise:
    """How much of the dev error is due to incorrect labels, and whether fixing them matters."""

    dev_error: float
    mislabelled_share: float
    due_to_labels: float
    other_causes: float
    share_of_errors: float
    worth_fixing: bool

    @property
    def verdict(self) -> str:
        pct = f"{self.share_of_errors:.0%}"
        if self.worth_fixing:
            return (f"Incorrect labels cause {pct} of the dev errors "
                    f"({self.due_to_labels:.1%} of {self.dev_error:.1%}): worth fixing. Correct "
                    "dev and test alike, and consider reviewing examples the model got right.")
        return (f"Incorrect labels cause only {pct} of the dev errors "
                f"({self.due_to_labels:.1%} of {self.dev_error:.1%}); other causes account for "
                f"{self.other_causes:.1%}: fixing labels is not the priority.")


def label_noise(dev_error: float, mislabelled_share: float,
                worth_fixing_share: float = WORTH_FIXING_SHARE) -> LabelNoise:
    """Split dev error into the part due to incorrect labels and the part due to other causes."""
    due = dev_error * mislabelled_share
    share = due / dev_error if dev_error > 0 else 0.0
    return LabelNoise(dev_error=dev_error, mislabelled_share=mislabelled_share,
                      due_to_labels=due, other_causes=dev_error - due, share_of_errors=share,
                      worth_fixing=share >= worth_fixing_share)


def label_noise_blocks_choice(error_a: float, error_b: float, due_to_labels: float) -> str | None:
    """A warning when two models differ by less than the error due to incorrect labels."""
    diff = abs(error_a - error_b)
    if diff < due_to_labels:
        return (f"The models differ by {diff:.1%} of dev error, less than the {due_to_labels:.1%} "
                "due to incorrect labels: the dev set cannot choose between them until the "
                "labels are fixed.")
    return None
