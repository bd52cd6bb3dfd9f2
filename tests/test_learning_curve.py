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


def _curve_table(rng: np.random.Generator, sizes: tuple[int, ...], n: int,
                 train: list[float], held: list[float]) -> pd.DataFrame:
    """A learning-curve table as ``Results.learning_curve`` makes it: errors drawn from
    ``n`` examples per split at each size, with true rates ``train`` and ``held``."""
    rows = []
    for z, e_train, e_held in zip(sizes, train, held, strict=True):
        rows.append({"train_size": z, "train": rng.binomial(n, e_train) / n, "train_n": n,
                     "dev": rng.binomial(n, e_held) / n, "dev_n": n})
    return pd.DataFrame(rows).set_index("train_size")


@pytest.mark.parametrize("n, train", [(500, 0.05), (2000, 0.05), (2000, 0.15), (8000, 0.02)])
def test_a_flat_variance_gap_is_not_called_shrinking(n: int, train: float) -> None:
    """Seeded null: a constant 5 pp gap at three sizes; "more training data is likely to help"
    in at most 5% of 300 datasets within Monte-Carlo error (comparing the two gaps as points
    said it in about half); a gap that truly falls from 15 to 5 pp is still called."""
    from scipy.stats import binom

    from dashboard.metrics.learning import learning_verdict

    rng = np.random.default_rng(n + int(train * 100))
    runs, sizes = 300, (1000, 4000, 16000)
    claims = sum("likely to help" in learning_verdict(
        _curve_table(rng, sizes, n, [train] * 3, [train + 0.05] * 3), 0.0, False)
        for _ in range(runs))
    found = sum("likely to help" in learning_verdict(
        _curve_table(rng, sizes, n, [train] * 3, [train + 0.15, train + 0.09, train + 0.05]),
        0.0, False) for _ in range(100))
    print(f"n={n} per split, train {train:.0%}: 'likely to help' on {claims}/{runs} flat "
          f"curves; on {found}/100 falling ones")
    assert claims <= binom.ppf(0.99, runs, 0.05)
    if n >= 2000:
        assert found >= 80


def test_a_fall_within_noise_says_the_curve_cannot_tell_and_how_many_would() -> None:
    from dashboard.metrics.learning import learning_verdict

    table = pd.DataFrame({"train": [0.050, 0.050], "train_n": [1000, 1000],
                          "dev": [0.100, 0.099], "dev_n": [1000, 1000]},
                         index=pd.Index([1000, 4000], name="train_size"))
    verdict = learning_verdict(table, 0.0, False)
    assert "likely to help" not in verdict
    assert "cannot tell yet" in verdict and "examples per size" in verdict
    # the number it names: at that size the fall's interval just excludes zero
    wanted = int(verdict.split("about ")[2].split(" ")[0].replace(",", ""))
    bigger = table.assign(train_n=wanted, dev_n=wanted)
    assert "likely to help" in learning_verdict(bigger, 0.0, False)


def _two_tasks(rng: np.random.Generator) -> pd.DataFrame:
    """Two tasks at two training sizes: 'easy' errs 3% on dev, 'hard' 39%."""
    frames = []
    for task, dev_error in (("easy", 0.03), ("hard", 0.39)):
        for z in (100, 1000):
            for split, err in (("train", 0.01), ("dev", dev_error)):
                m = 1000
                y = rng.integers(0, 2, m)
                wrong = rng.random(m) < err
                frames.append(pd.DataFrame({
                    "id": [f"{split}{i}" for i in range(m)], "split": split, "task": task,
                    "train_size": z, "label": y,
                    "score": np.where(wrong ^ (y == 1), 0.9, 0.1)}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_each_task_has_its_own_learning_curve(tmp_path, engine: str) -> None:
    """The curve follows the task picker (both tasks showed the pooled 0.208 before)."""
    df = _two_tasks(np.random.default_rng(5))
    df.to_parquet(tmp_path / "r.parquet")
    r = (Results.from_file(tmp_path / "r.parquet") if engine == "memory" else
         Results.from_dataset(tmp_path / "r.parquet", engine="duckdb"))
    seen = {}
    for task in ("easy", "hard"):
        r.task = task
        lc = r.learning_curve()
        mine = df[(df["task"] == task) & (df["split"] == "dev") & (df["train_size"] == 1000)]
        truth = np.mean((mine["score"] >= 0.5) != (mine["label"] == 1))
        assert lc.loc[1000, "dev"] == pytest.approx(truth)
        assert lc.loc[1000, "dev"] == pytest.approx(r.error_rates().loc["dev", "error"])
        seen[task] = lc.loc[1000, "dev"]
    assert seen["easy"] < 0.06 < 0.3 < seen["hard"]
