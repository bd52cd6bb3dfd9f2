"""Learning curves from results the team already has: one row per example and training-set
size; the views show the largest size, the curve every size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

from dashboard import DashboardError, Results


def _runs(sizes=(50, 200, 800), seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """A logistic regression trained on growing subsets; train and dev predictions of each."""
    X, y = make_classification(n_samples=6000, n_features=40, n_informative=8,
                               random_state=seed, flip_y=0.02)
    Xtr, ytr, Xd, yd = X[:4000], y[:4000], X[4000:], y[4000:]
    frames, truth = [], {}
    for n in sizes:
        clf = LogisticRegression(C=10.0, max_iter=2000).fit(Xtr[:n], ytr[:n])
        for split, (Xs, ys) in {"train": (Xtr[:n], ytr[:n]), "dev": (Xd, yd)}.items():
            p = clf.predict_proba(Xs)[:, 1]
            frames.append(pd.DataFrame({"id": np.arange(len(ys)), "split": split,
                                        "train_size": n, "label": ys, "score": p}))
            truth[(n, split)] = 1 - accuracy_score(ys, (p >= 0.5).astype(int))
    return pd.concat(frames, ignore_index=True), truth


def test_learning_curve_errors_equal_scikit_learn_per_size() -> None:
    df, truth = _runs()
    r = Results.from_frame(df, human_level=0.01)
    lc = r.learning_curve()
    assert list(lc.index) == [50, 200, 800] == list(r.train_sizes)
    for (n, split), err in truth.items():
        assert lc.loc[n, split] == pytest.approx(err)
        assert lc.loc[n, f"{split}_low"] <= err <= lc.loc[n, f"{split}_high"]
    # the views show the largest training set
    assert r.error_rates().loc["dev", "error"] == pytest.approx(truth[(800, "dev")])
    assert r.split_sizes()["train"] == 800
    assert "more training data is likely to help" in lc.attrs["verdict"]
    # trained on 3,200 the gap has closed: the curve no longer says more data helps
    converged = Results.from_frame(_runs(sizes=(800, 3200))[0], human_level=0.01)
    assert "unlikely to help" in converged.learning_curve().attrs["verdict"]


def test_flat_train_error_above_human_level_says_more_data_will_not_help() -> None:
    rng = np.random.default_rng(1)
    frames = []
    for n in (1000, 4000, 16000):
        for split, err in (("train", 0.15), ("dev", 0.16)):
            m = 4000
            y = rng.integers(0, 2, m)
            wrong = np.arange(m) < round(err * m)
            s = np.where(wrong ^ (y == 1), 0.9, 0.1)
            frames.append(pd.DataFrame({"id": np.arange(m), "split": split, "train_size": n,
                                        "label": y, "score": s}))
    lc = Results.from_frame(pd.concat(frames), human_level=0.02).learning_curve()
    assert "unlikely to help" in lc.attrs["verdict"]


def test_threshold_moves_the_curve_and_bad_sizes_are_refused() -> None:
    df, _ = _runs(sizes=(100, 400))
    r = Results.from_frame(df)
    before = r.learning_curve().loc[400, "dev"]
    r.threshold = 0.9
    after = r.learning_curve().loc[400, "dev"]
    sub = df[(df["train_size"] == 400) & (df["split"] == "dev")]
    assert after == pytest.approx(np.mean((sub["score"] >= 0.9) != sub["label"]))
    assert after != before
    with pytest.raises(DashboardError, match="train_size"):
        Results.from_frame(df.drop(columns="train_size").drop_duplicates(["id", "split"])
                           ).learning_curve()
    bad = df.copy()
    bad.loc[5, "train_size"] = -3
    with pytest.raises(DashboardError, match="not a positive count"):
        Results.from_frame(bad)
