"""Multi-task results: one row per example and task (long), or label_<task>/score_<task> columns
(wide); an empty label leaves that row out of that task only, never counted as an error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score

from dashboard import DashboardError, Results

TASKS = ("pedestrian", "car", "stop_sign", "traffic_light")


def _multilabel(seed: int = 0, n: int = 3000, hide: float = 0.2) -> tuple[pd.DataFrame, dict]:
    """scikit-learn's multi-label data, a one-vs-rest logistic regression, labels hidden at
    random; returns the wide table and each task's labelled (y, proba) per split."""
    from sklearn.datasets import make_multilabel_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    X, Y = make_multilabel_classification(n_samples=n, n_features=20, n_classes=len(TASKS),
                                          n_labels=2, random_state=seed)
    split = np.where(np.arange(n) < n * 0.6, "train", "dev")
    clf = OneVsRestClassifier(LogisticRegression(max_iter=1000)).fit(X[split == "train"],
                                                                     Y[split == "train"])
    proba = clf.predict_proba(X)
    rng = np.random.default_rng(seed)
    hidden = rng.random(Y.shape) < hide
    df = pd.DataFrame({"id": np.arange(n), "split": split})
    truth = {}
    for j, task in enumerate(TASKS):
        labels = pd.array(Y[:, j], dtype="Int64")
        labels[hidden[:, j]] = pd.NA
        df[f"label_{task}"] = labels
        df[f"score_{task}"] = proba[:, j]
        for s in ("train", "dev"):
            keep = (split == s) & ~hidden[:, j]
            truth[(task, s)] = (Y[keep, j], proba[keep, j])
    return df, truth


def test_wide_multilabel_table_through_the_readme_entry_points(tmp_path: Path) -> None:
    df, truth = _multilabel()
    path = tmp_path / "multitask.csv"
    df.to_csv(path, index=False)
    for r in (Results.from_frame(df, human_level=0.01), Results.from_file(path)):
        assert r.tasks == TASKS
        for task in TASKS:
            r.task = task
            for split in ("train", "dev"):
                y, p = truth[(task, split)]
                expected = 1 - accuracy_score(y, (p >= 0.5).astype(int))
                assert r.error_rates().loc[split, "error"] == pytest.approx(expected)
                assert r.error_rates().loc[split, "n"] == len(y)
            assert r.schema.unlabelled[task] == int(df[f"label_{task}"].isna().sum())


def test_each_task_keeps_its_threshold_and_every_view_follows() -> None:
    df, truth = _multilabel(seed=1)
    r = Results.from_frame(df)
    seen = []
    r.observe(lambda change: seen.append(change["new"]), names="threshold")
    r.task = "car"
    r.threshold = 0.3
    r.task = "pedestrian"
    assert r.threshold == 0.5
    r.task = "car"
    assert r.threshold == 0.3 and seen[-1] == 0.3
    y, p = truth[("car", "dev")]
    assert r.error_rates().loc["dev", "error"] == pytest.approx(np.mean((p >= 0.3) != y))
    assert r.task_threshold("pedestrian") == 0.5
    with pytest.raises(DashboardError, match="unknown task"):
        r.task = "bicycle"


def test_task_overview_sorted_by_where_the_work_is() -> None:
    df, truth = _multilabel(seed=2)
    r = Results.from_frame(df, human_level=0.0)
    table = r.task_overview()
    assert set(table.index) == set(TASKS)
    assert list(table["work"]) == sorted(table["work"], reverse=True)
    for task in TASKS:
        y, p = truth[(task, "dev")]
        assert table.loc[task, "dev"] == pytest.approx(np.mean((p >= 0.5) != y))
        assert table.loc[task, "dev_n"] == len(y)
        assert 0.7 < table.loc[task, "labelled_share"] < 0.9
    assert table.attrs["mean"]["dev"] == pytest.approx(table["dev"].mean())


def test_long_table_with_a_task_column() -> None:
    rows = []
    for task, err in (("a", 0.1), ("b", 0.3)):
        for i in range(100):
            wrong = i < err * 100
            rows.append({"id": i, "split": "dev", "task": task, "label": i % 2,
                         "score": (0.2 if i % 2 else 0.8) if wrong else (0.8 if i % 2 else 0.2)})
    rows.append({"id": 100, "split": "dev", "task": "a", "label": None, "score": 0.5})
    r = Results.from_frame(pd.DataFrame(rows))
    assert r.tasks == ("a", "b") and r.schema.unlabelled == {"a": 1}
    assert r.error_rates().loc["dev", "error"] == pytest.approx(0.1)
    r.task = "b"
    assert r.error_rates().loc["dev", "error"] == pytest.approx(0.3)


@settings(max_examples=80, deadline=None)
@given(st.integers(5, 60), st.integers(2, 3), st.integers(0, 10_000))
def test_a_missing_label_never_counts_as_an_error(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"id": np.arange(n), "split": "dev"})
    for j in range(k):
        y = rng.integers(0, 2, n).astype(float)
        y[:2] = [0, 1]
        hidden = rng.random(n) < 0.4
        hidden[:2] = False
        y[hidden] = np.nan
        df[f"label_t{j}"] = y
        df[f"score_t{j}"] = rng.random(n)
    r = Results.from_frame(df)
    for j in range(k):
        r.task = f"t{j}"
        keep = df[f"label_t{j}"].notna().to_numpy()
        y = df[f"label_t{j}"].to_numpy()[keep]
        s = df[f"score_t{j}"].to_numpy()[keep]
        assert r.error_rates().loc["dev", "n"] == keep.sum()
        assert r.error_rates().loc["dev", "errors"] == pytest.approx(np.sum((s >= 0.5) != y))
        assert set(r.review_rows("dev")["id"]) == set(
            df["id"].astype(str).to_numpy()[keep][(s >= 0.5) != y])


def test_wide_task_without_an_output_is_refused() -> None:
    df = pd.DataFrame({"split": "dev", "label_car": [0, 1], "score_car": [0.1, 0.9],
                       "label_bus": [1, 0]})
    with pytest.raises(DashboardError, match="task 'bus' has a label column but no score_bus"):
        Results.from_frame(df)
