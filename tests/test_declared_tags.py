"""Review ticks in a results file are declared; True/False metadata (night, outdoor) is not a
review: the tally said "Fix night first ... from 94 of 94 errors reviewed" with nothing
reviewed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import DashboardError, Results
from dashboard.app import load_results
from dashboard.cli import build_parser, loader_columns, with_sidecar_names
from dashboard.metrics.tally import MISLABELLED


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    night = rng.random(n) < 0.3
    wrong = rng.random(n) < np.where(night, 0.5, 0.05)  # errors concentrate at night
    score = np.where(wrong ^ (label == 1), 0.8, 0.2)
    blurry = pd.array([pd.NA] * n, dtype="boolean")
    reviewed = np.flatnonzero(wrong)[:10]
    blurry[reviewed] = np.arange(10) % 2 == 0
    return pd.DataFrame({"id": np.arange(n), "split": "dev", "label": label, "score": score,
                         "night": night, "outdoor": rng.choice(["yes", "no"], n),
                         "flag": rng.choice(["Y", "N"], n), "tag:blurry": blurry})


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_boolean_metadata_is_metadata_and_tag_columns_are_tags(tmp_path: Path,
                                                              engine: str) -> None:
    _frame().to_parquet(tmp_path / "r.parquet")
    r = (Results.from_file(tmp_path / "r.parquet") if engine == "memory" else
         Results.from_dataset(tmp_path / "r.parquet", engine="duckdb"))
    assert r.categories == ("blurry", MISLABELLED)
    assert {"night", "outdoor", "flag"} <= set(r.metadata_columns)
    tally = r.tally()
    assert int(tally.loc["blurry", "reviewed"]) == 10  # only the 10 rows someone reviewed
    assert int(tally.loc["blurry", "count"]) == 5
    top = r.suggest_slices(max_order=1)
    assert top.iloc[0]["slice"] == "night = True" and top.iloc[0]["significant"]


def test_nothing_declared_means_nothing_reviewed(tmp_path: Path) -> None:
    frame = _frame().drop(columns="tag:blurry")
    r = Results.from_frame(frame)
    assert r.categories == (MISLABELLED,)
    assert int(r.tally()["reviewed"].max()) == 0


def test_tags_declared_by_option_sidecar_or_api(tmp_path: Path) -> None:
    frame = _frame().rename(columns={"tag:blurry": "blurry"})
    path = tmp_path / "r.parquet"
    frame.to_parquet(path)
    assert Results.from_file(path).categories == (MISLABELLED,)  # undeclared: metadata
    assert "blurry" in Results.from_file(path).metadata_columns
    assert Results.from_file(path, categories=["blurry"]).categories == ("blurry", MISLABELLED)
    args = build_parser().parse_args(["report", str(path), "--tag-cols", "blurry"])
    assert loader_columns(args)["categories"] == ["blurry"]
    (tmp_path / "r.json").write_text(json.dumps({"tags": ["blurry"]}))
    assert load_results(path).categories == ("blurry", MISLABELLED)
    assert with_sidecar_names({}, {"tags": ["blurry"]})["categories"] == ["blurry"]
    (tmp_path / "r.json").write_text(json.dumps({"tags": "blurry"}))
    with pytest.raises(DashboardError) as exc:
        load_results(path)
    assert "tags must be a list" in str(exc.value) and "r.json" in str(exc.value)


def test_a_declared_tag_that_is_not_true_false_is_named() -> None:
    frame = _frame().assign(**{"tag:size": lambda f: np.where(f.index == 7, "big", None)})
    with pytest.raises(DashboardError) as exc:
        Results.from_frame(frame)
    text = str(exc.value)
    assert "tag:size" in text and "'big'" in text and "\n" not in text
