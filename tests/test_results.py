"""The Results model: constructors, shared traits, caching and derived tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import traitlets
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.svm import LinearSVC

from dashboard import DashboardError, Results
from dashboard.metrics import MISLABELLED


def synthetic(n: int = 2000, seed: int = 0, models: tuple[str, ...] = ("A",)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    split = rng.choice(["train", "train_dev", "dev", "test"], n)
    y = rng.integers(0, 2, n)
    frames = []
    for k, m in enumerate(models):
        s = np.clip(y * 0.5 + rng.normal(0.25 + 0.02 * k, 0.2, n), 0, 1).round(3)
        frames.append(pd.DataFrame({"id": np.arange(n), "split": split, "label": y, "score": s,
                                    "model": m, "weight": np.where(y == 0, 2.0, 1.0)}))
    return pd.concat(frames, ignore_index=True)


def test_threshold_move_rebuilds_no_curve() -> None:
    r = Results.from_frame(synthetic())
    r.error_rates()
    r.curve("dev")
    builds = r.curve_builds
    assert builds == 4  # one per split
    for t in np.linspace(0.05, 0.95, 19):
        r.threshold = float(t)
        r.error_rates()
        r.gaps()
        r.operating_point("dev")
    assert r.curve_builds == builds
    r.weighted = True  # weighting is a different curve: built once, on demand
    r.error_rates()
    assert r.curve_builds == builds + 4


def test_error_rates_match_confusion_matrix_at_threshold() -> None:
    df = synthetic()
    r = Results.from_frame(df, threshold=0.37)
    table = r.error_rates()
    for split in r.splits:
        part = df[df["split"] == split]
        tn, fp, fn, tp = confusion_matrix(part["label"], part["score"] >= 0.37).ravel()
        assert table.loc[split, "n"] == len(part)
        assert table.loc[split, "errors"] == fp + fn
        assert table.loc[split, "error"] == pytest.approx((fp + fn) / len(part))
        assert table.loc[split, "ci_low"] < table.loc[split, "error"] < table.loc[split, "ci_high"]
    weighted = r.error_rates(weighted=True)
    dev = df[df["split"] == "dev"]
    wrong = (dev["score"] >= 0.37) != (dev["label"] == 1)
    assert weighted.loc["dev", "error"] == pytest.approx(
        dev["weight"][wrong].sum() / dev["weight"].sum())


def test_observers_fire_and_validation_guards_state() -> None:
    r = Results.from_frame(synthetic(models=("A", "B")), human_level={"person": 0.03,
                                                                      "team": 0.005})
    seen = []
    r.observe(lambda ch: seen.append((ch["name"], ch["new"])), names=["threshold", "model"])
    r.threshold = 0.3
    r.threshold = 0.3  # no change, no event
    r.model = "B"
    assert seen == [("threshold", 0.3), ("model", "B")]
    assert r.human_reference == "team" and r.human_error == 0.005
    with pytest.raises(traitlets.TraitError, match="unknown model 'C'"):
        r.model = "C"
    with pytest.raises(traitlets.TraitError, match="outside"):
        r.threshold = 1.5
    with pytest.raises(traitlets.TraitError, match="unknown human-level reference"):
        r.human_reference = "doctor"
    r.human_reference = "person"
    assert r.gaps().human == 0.03


def test_from_predictions_arrays() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    s = rng.random(500)
    r = Results.from_predictions(y, s)
    assert r.splits == ("dev",) and r.schema.notes  # says it took dev for everything
    pt = r.operating_point("dev", 0.5)
    tn, fp, fn, tp = confusion_matrix(y, s >= 0.5).ravel()
    assert (pt.tp, pt.fp, pt.fn, pt.tn) == (tp, fp, fn, tn)


def test_from_estimator_binary_and_decision_function() -> None:
    X, y = make_classification(n_samples=800, random_state=0)
    clf = LogisticRegression().fit(X[:400], y[:400])
    splits = {"train": (X[:400], y[:400]), "dev": (X[400:600], y[400:600]),
              "test": (X[600:], y[600:])}
    r = Results.from_estimator(clf, splits, human_level=0.01)
    assert r.models == ("LogisticRegression",)
    dev_err = 1 - clf.score(X[400:600], y[400:600])
    assert r.error_rates().loc["dev", "error"] == pytest.approx(dev_err)
    svc = Results.from_estimator({"svm": LinearSVC().fit(X[:400], y[:400])}, splits)
    assert svc.threshold == 0.0 and not svc.schema.probabilities


def test_multiclass_probabilities_and_one_vs_rest() -> None:
    X, y = make_classification(n_samples=900, n_classes=3, n_informative=5, random_state=1)
    clf = LogisticRegression(max_iter=500).fit(X[:500], y[:500])
    r = Results.from_estimator(clf, {"train": (X[:500], y[:500]), "dev": (X[500:], y[500:])})
    assert r.schema.kind == "multiclass_proba" and r.classes == (0, 1, 2)
    assert r.error_rates().loc["dev", "error"] == pytest.approx(1 - clf.score(X[500:], y[500:]))
    r.positive_class = 1
    proba = clf.predict_proba(X[500:])[:, 1]
    pt = r.operating_point("dev", 0.4)
    tn, fp, fn, tp = confusion_matrix(y[500:] == 1, proba >= 0.4).ravel()
    assert (pt.tp, pt.fp, pt.fn, pt.tn) == (tp, fp, fn, tn)
    f1 = r.class_f1("dev")
    assert f1.micro_f1 == pytest.approx(clf.score(X[500:], y[500:]))


def test_hard_predictions_work_without_a_curve() -> None:
    df = synthetic().assign(prediction=lambda d: (d["score"] >= 0.5).astype(int))
    r = Results.from_frame(df.drop(columns=["score"]), score=None)
    assert r.schema.kind == "prediction"
    assert r.gaps().dev is not None
    with pytest.raises(DashboardError, match="hard predictions only"):
        r.curve("dev")


def test_ids_repeating_across_splits_get_split_keys() -> None:
    df = synthetic(200)
    df["id"] = df.groupby("split").cumcount()
    r = Results.from_frame(df)
    assert r.frame["key"].str.contains("/").all()
    assert r.frame["key"].is_unique


def test_tags_from_file_and_tally_follow_threshold() -> None:
    df = synthetic(400)
    dev_wrong = df.index[(df["split"] == "dev") & ((df["score"] >= 0.5) != (df["label"] == 1))]
    tagged = dev_wrong[:10]
    df["tag:blurry"] = pd.array([pd.NA] * len(df), dtype="boolean")  # declared by its name
    df.loc[tagged, "tag:blurry"] = [True] * 4 + [False] * 6
    r = Results.from_frame(df)
    assert set(r.categories) == {"blurry", MISLABELLED}
    t = r.tally("dev")
    assert t.attrs["reviewed"] == 10
    assert t.loc["blurry", "count"] == 4 and t.loc["blurry", "share"] == pytest.approx(0.4)
    dev_error = r.error_rates().loc["dev", "error"]
    assert t.loc["blurry", "ceiling_error"] == pytest.approx(dev_error * 0.6)
    # ticking replaces the frame (observers see a new object) and the tally follows
    before = r.tags
    key = r.frame.loc[tagged[5], "key"]
    r.set_tag(key, "blurry", True)
    assert r.tags is not before and r.tally("dev").loc["blurry", "count"] == 5
    r.add_category("instagram")
    assert r.tally("dev").loc["instagram", "count"] == 0
    with pytest.raises(DashboardError, match="cannot be removed"):
        r.remove_category(MISLABELLED)


def test_demo_diagnosis(demo_path: Path, demo_meta: dict) -> None:
    r = Results.from_file(demo_path, human_level=demo_meta["human_level"],
                          metadata=demo_meta["models"])
    report = r.gaps()
    assert report.focus == ("data_mismatch",)
    assert "data mismatch" in report.headline
    tally = r.tally("dev")
    assert tally.attrs["reviewed"] == 100
    assert tally.loc["blurry", "share"] == pytest.approx(0.61)
    assert r.label_noise("dev").worth_fixing is False
    table = r.compare_models("dev", "f1", {"running_time_ms": ("<=", 100)})
    assert table.attrs["chosen"] in r.models
    a, b, test = table.attrs["mcnemar"]
    assert {a, b} == {"A", "B"} and 0 < test.p_value < 1


def test_fingerprint_depends_on_ids_not_scores() -> None:
    df = synthetic(300)
    a = Results.from_frame(df)
    b = Results.from_frame(df.assign(score=df["score"][::-1].to_numpy()))
    c = Results.from_frame(df.assign(id=df["id"] + 1000))
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_compare_models_minimises_error_and_tests_at_each_best_threshold(
        demo_path: Path, demo_meta: dict) -> None:
    r = Results.from_file(demo_path, human_level=demo_meta["human_level"],
                          metadata=demo_meta["models"])
    by_error = r.compare_models("dev", "error")
    errors = by_error["error"].to_dict()
    assert by_error.attrs["chosen"] == min(errors, key=errors.get)  # the lower error wins
    by_acc = r.compare_models("dev", "accuracy")
    assert by_acc.attrs["chosen"] == by_error.attrs["chosen"]
    # McNemar compares each model at its own best threshold, not at the shared one
    a, b, test = by_error.attrs["mcnemar"]
    ta, tb = by_error.loc[a, "threshold"], by_error.loc[b, "threshold"]
    assert test == r.mcnemar(a, b, "dev", thresholds=(ta, tb))
    r.threshold = 0.05
    assert r.compare_models("dev", "error").attrs["mcnemar"][2] == test
    # metadata constraints exclude whole models
    slow = r.compare_models("dev", "f1", {"running_time_ms": ("<=", 90)})
    assert slow.attrs["ranked"] == ["A"] and "mcnemar" not in slow.attrs
    assert slow.loc["B", "unmet"] == "running_time_ms"


@pytest.mark.parametrize("kind", ["score", "prediction", "duckdb"])
def test_a_model_without_rows_in_the_split_is_listed_not_compared(kind: str,
                                                                   tmp_path: Path) -> None:
    """Model B has no test rows: comparing on test lists it as not admissible ("no test
    rows") and compares the others, instead of failing the whole comparison."""
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"id": [f"e{i}" for i in range(200)],
                      "split": rng.choice(["dev", "test", "train"], 200),
                      "label": rng.integers(0, 2, 200), "score": rng.random(200), "model": "A"})
    b = a[a["split"] != "test"].assign(model="B", score=lambda d: rng.random(len(d)))
    both = pd.concat([a, b], ignore_index=True)
    if kind == "prediction":
        both = both.assign(prediction=(both["score"] > 0.5).astype(int)).drop(columns="score")
    if kind == "duckdb":
        both.to_parquet(tmp_path / "r.parquet")
        r = Results.from_dataset(tmp_path / "r.parquet", engine="duckdb")
    else:
        r = Results.from_frame(both)
    table = r.compare_models("test")
    assert list(table.index) == ["A", "B"]
    assert table.loc["B", "unmet"] == "no test rows" and not table.loc["B", "admissible"]
    assert table.attrs["chosen"] == "A" and table.attrs["ranked"] == ["A"]
    assert sorted(r.compare_models("dev").attrs["ranked"]) == ["A", "B"]  # both where both are
