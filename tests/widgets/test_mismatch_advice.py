"""The waterfall's advice names the top mismatch driver only when the mismatch gap is significant
and the top column is a driver."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from dashboard import Results
from dashboard.widgets.waterfall import GapWaterfall


def _results(seed: int, *, night_in_dev: float, dev_extra: float = 0.0,
             n: int = 3000) -> Results:
    """Hard predictions; error 14% at night and 4% by day (plus ``dev_extra`` on dev)."""
    rng = np.random.default_rng(seed)
    parts = []
    for split, size in (("train", 2 * n), ("train_dev", n), ("dev", n)):
        night = rng.random(size) < (night_in_dev if split == "dev" else 0.15)
        rate = np.where(night, 0.14, 0.04) + (
            dev_extra if split == "dev" else 0.0)
        wrong = rng.random(size) < rate
        label = rng.integers(0, 2, size)
        parts.append(pd.DataFrame({
            "id": [f"{split}{i}" for i in range(size)], "split": split, "label": label,
            "prediction": np.where(wrong, 1 - label, label), "night": night,
            "device": rng.choice(["ios", "android"], size)}))
    return Results.from_frame(pd.concat(parts, ignore_index=True), score=None,
                              prediction="prediction", model=None, human_level=0.05)


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_a_significant_mismatch_gap_names_its_top_driver() -> None:
    r = _results(1, night_in_dev=0.45)
    w = GapWaterfall(r)
    assert "data_mismatch" in w.report.focus
    tactics = _text(w.tactics.value)
    assert "Top mismatch driver: night = True" in tactics
    assert "of train" in tactics and "error there" in tactics
    assert "mismatch-driver" in w.tactics.value


def test_no_driver_is_named_when_the_metadata_did_not_move() -> None:
    """The mismatch gap is real (dev is uniformly harder) but no column explains it."""
    r = _results(2, night_in_dev=0.15, dev_extra=0.05)
    w = GapWaterfall(r)
    assert "data_mismatch" in w.report.focus
    assert "mismatch driver" not in _text(w.tactics.value + w.notes.value)
