"""Every per-row and per-split number against scikit-learn, in the configurations users have.

Label types (int, bool, float, strings, -1/1), either class as positive, score dtypes
(float16/32/64 and raw margins), weights, and model kinds (one score, 2-column probabilities,
hard predictions, fitted estimators). The reference is what a user computes on their own
arrays: ``y_pred = np.where(scores >= threshold, pos, neg)`` with NumPy's own comparison
(a float32 array is compared in float32), then scikit-learn's metrics.

The old tests missed the bugs these catch because they drew labels as 0/1 ints with 1 as
the positive class and float64 scores only: every configuration below but that one was wrong.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    precision_recall_curve,
    precision_score,
    recall_score,
)

from dashboard import DashboardError, Results

LABEL_TYPES = {
    "int": (0, 1),
    "bool": (False, True),
    "float": (0.0, 1.0),
    "str": ("dog", "cat"),
    "pm1": (-1, 1),
}
DTYPES = (np.float16, np.float32, np.float64)


@st.composite
def configurations(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(sorted(LABEL_TYPES)))
    a, b = LABEL_TYPES[kind]
    pos = draw(st.sampled_from([a, b]))
    neg = b if pos == a else a
    n = draw(st.integers(4, 60))
    is_pos = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    is_pos[:2] = [True, False]  # both classes in dev
    y = np.array([pos if p else neg for p in is_pos], dtype=object)
    if kind == "bool":
        y = y.astype(bool)
    elif kind == "float":
        y = y.astype(np.float64)
    elif kind in ("int", "pm1"):
        y = y.astype(np.int64)
    margins = draw(st.booleans())
    dtype = draw(st.sampled_from(DTYPES))
    # few distinct values: ties everywhere, and typed thresholds that hit scores exactly
    grid = [round(v, 2) for v in np.linspace(-3, 3, 13)] if margins else \
        [0.0, 0.1, 0.2, 0.3, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    scores = np.array(draw(st.lists(st.sampled_from(grid), min_size=n, max_size=n)),
                      dtype=dtype)
    threshold = draw(st.sampled_from(grid))
    weights = (np.array(draw(st.lists(st.floats(0.0, 5.0, allow_nan=False).map(
        lambda v: round(v, 1)), min_size=n, max_size=n))) if draw(st.booleans()) else None)
    if weights is not None:
        weights[:2] = 1.0  # both classes carry weight
    return {"y": y, "pos": pos, "neg": neg, "scores": scores, "threshold": threshold,
            "weights": weights, "margins": margins}


def _reference(c: dict) -> np.ndarray:
    """What a user computes: NumPy's comparison on their own array, mapped to classes."""
    return np.where(c["scores"] >= c["threshold"], c["pos"], c["neg"]).astype(c["y"].dtype)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations())
def test_every_number_matches_scikit_learn(c: dict) -> None:
    y, pos, w = c["y"], c["pos"], c["weights"]
    r = Results.from_predictions(y, c["scores"], pos_label=pos, sample_weight=w,
                                 probabilities=not c["margins"])
    r.weighted = w is not None
    r.threshold = c["threshold"]
    y_pred = _reference(c)

    # per row
    np.testing.assert_array_equal(r.predicted("dev").astype(y.dtype), y_pred)
    np.testing.assert_array_equal(r.correct("dev"), y_pred == y)
    wrong_ids = set(np.flatnonzero(y_pred != y).astype(str))
    assert set(r.review_rows("dev")["id"]) == wrong_ids
    assert (r.review_rows("dev")["predicted"].astype(y.dtype).to_numpy()
            != r.review_rows("dev")["label"].astype(y.dtype).to_numpy()).all()

    # per split
    labels = [c["neg"], pos]
    tn, fp, fn, tp = confusion_matrix(y, y_pred, labels=labels, sample_weight=w).ravel()
    pt = r.operating_point("dev")
    assert (pt.tp, pt.fp, pt.fn, pt.tn) == pytest.approx((tp, fp, fn, tn), abs=1e-9)
    kw = {"pos_label": pos, "sample_weight": w, "zero_division": 0}
    assert pt.precision == pytest.approx(precision_score(y, y_pred, **kw), abs=1e-12)
    assert pt.recall == pytest.approx(recall_score(y, y_pred, **kw), abs=1e-12)
    assert pt.f1 == pytest.approx(f1_score(y, y_pred, **kw), abs=1e-12)
    at2 = r.curve("dev").at(c["threshold"], beta=2.0)
    assert at2.fbeta == pytest.approx(fbeta_score(y, y_pred, beta=2.0, **kw), abs=1e-12)
    err = r.error_rates().loc["dev", "error"]
    total = np.sum(w) if w is not None else len(y)
    if total > 0:
        assert err == pytest.approx(1 - accuracy_score(y, y_pred, sample_weight=w), abs=1e-12)
    cf = r.class_f1("dev")
    assert cf.macro_f1 == pytest.approx(
        f1_score(y, y_pred, labels=labels, average="macro", zero_division=0), abs=1e-12)

    # the curve: scikit-learn's thresholds are the user's own score values
    precision, recall, thresholds = precision_recall_curve(y, c["scores"], pos_label=pos,
                                                           sample_weight=w)
    curve = r.curve("dev")
    for t, p_ref, r_ref in zip(thresholds, precision, recall, strict=False):
        at = curve.at(float(t))
        assert (at.precision, at.recall) == pytest.approx((p_ref, r_ref), abs=1e-12)
    if w is None:
        np.testing.assert_array_equal(np.sort(curve.thresholds),
                                      np.sort(np.unique(c["scores"]).astype(np.float64)))


@settings(max_examples=100, deadline=None)
@given(configurations(), st.sampled_from(["f1", "accuracy", "precision", "recall"]))
def test_best_threshold_reproduces_with_numpy(c: dict, optimize: str) -> None:
    """The best threshold, set on the model, gives the numbers it promised (any dtype)."""
    r = Results.from_predictions(c["y"], c["scores"], pos_label=c["pos"],
                                 probabilities=not c["margins"])
    best = r.best_threshold("dev", optimize)
    assert best is not None
    r.threshold = best.threshold
    c = {**c, "threshold": best.threshold}
    y_pred = _reference({**c, "threshold": c["scores"].dtype.type(best.threshold)})
    assert r.operating_point("dev").get(optimize) == pytest.approx(best.value)
    acc = accuracy_score(c["y"], y_pred)
    assert best.accuracy == pytest.approx(acc, abs=1e-12)
    # flagging nothing is a candidate: best accuracy is never worse than the trivial one
    if optimize == "accuracy":
        is_pos = c["y"] == c["pos"]
        assert best.value >= max(is_pos.mean(), 1 - is_pos.mean()) - 1e-12


def test_positive_class_that_is_the_smaller_label() -> None:
    """pos_label=0 with 0/1 labels: predictions, review rows, tally rows follow the score."""
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.9, 0.8, 0.2, 0.6, 0.4, 0.1])  # probability of class 0
    r = Results.from_predictions(y, s, pos_label=0)
    np.testing.assert_array_equal(r.predicted(), [0, 0, 1, 0, 1, 1])
    assert list(r.review_rows()["id"]) == ["3", "4"]
    assert r.class_f1().f1[0] == pytest.approx(f1_score(y, [0, 0, 1, 0, 1, 1], pos_label=0))
    r2 = Results.from_predictions(np.where(y == 1, 1, -1), s, pos_label=-1)
    np.testing.assert_array_equal(r2.predicted(), [-1, -1, 1, -1, 1, 1])


@pytest.mark.parametrize("y, pos", [
    (np.array([False, True, True, False]), 1),
    (np.array([0.0, 1.0, 1.0, 0.0]), 1),
    (np.array([0.0, 1.0, 1.0, 0.0]), True),
    (np.array([0, 1, 1, 0]), 1.0),
])
def test_positive_class_given_as_an_equal_value(y: np.ndarray, pos: object) -> None:
    """1, 1.0 and True are one class, as in NumPy and scikit-learn."""
    r = Results.from_predictions(y, [0.2, 0.7, 0.4, 0.1], pos_label=pos)
    assert r.operating_point().tp == 1 and r.operating_point().fn == 1
    assert r.error_rates().loc["dev", "error"] == pytest.approx(0.25)


def test_all_float_zero_labels_are_one_class_of_two() -> None:
    r = Results.from_predictions(np.zeros(4), [0.2, 0.7, 0.4, 0.1])
    assert r.classes == (0.0, 1.0)
    assert r.error_rates().loc["dev", "error"] == pytest.approx(0.25)


@pytest.mark.parametrize("pos", [0, 1])
def test_two_column_probabilities_take_the_positive_class_column(pos: int) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p1 = np.clip(np.where(y == 1, 0.8, 0.2) + rng.normal(0, 0.1, 500), 0, 1)
    proba = np.column_stack([1 - p1, p1])
    r = Results.from_predictions(y, proba, pos_label=pos)
    expected = np.where(proba[:, pos] >= 0.5, pos, 1 - pos)
    assert r.error_rates().loc["dev", "error"] == pytest.approx(1 - accuracy_score(y, expected))
    assert r.error_rates().loc["dev", "error"] < 0.2


def test_float32_score_at_a_typed_threshold() -> None:
    """A float32 score 0.7 is positive at threshold 0.7, as ``scores >= 0.7`` says."""
    s = np.array([0.7, 0.3, 0.7, 0.2], dtype=np.float32)
    y = np.array([1, 0, 0, 0])
    r = Results.from_predictions(y, s)
    r.threshold = 0.7
    assert (s >= 0.7).sum() == 2
    assert r.operating_point().tp + r.operating_point().fp == 2
    np.testing.assert_array_equal(r.predicted(), (s >= 0.7).astype(int))
    df = pd.DataFrame({"split": "dev", "label": y, "score": s})
    assert Results.from_frame(df).operating_point(threshold=0.7).tp == 1


def test_fbeta_exact_ties_go_to_the_highest_threshold() -> None:
    """F1 computed from rounded P and R differs in the last bit between equal values."""
    from dashboard.metrics import ThresholdCurve, best_threshold

    # at 0.9: tp 1, fp 3, fn 1 -> F1 = 2/6; at 0.5: tp 2, fp 8, fn 0 -> F1 = 4/12. From
    # rounded P and R: 0.3333333333333333 < 0.33333333333333337, and 0.5 would win the tie
    y = np.array([1, 0, 0, 0] + [1, 0, 0, 0, 0, 0])
    s = np.array([0.9] * 4 + [0.5] * 6)
    curve = ThresholdCurve.from_predictions(y, s)
    assert curve.f1[0] == curve.f1[1] == 1 / 3
    assert best_threshold(curve, "f1").threshold == 0.9
    assert curve.at(0.5).f1 == curve.at(0.9).f1


def test_compare_models_keeps_metric_constraints_for_hard_predictions() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    preds = {"A": np.where(rng.random(2000) < 0.95, y, 1 - y),
             "B": np.where(rng.random(2000) < 0.90, y, 1 - y)}
    df = pd.concat([pd.DataFrame({"id": np.arange(2000), "split": "dev", "model": m,
                                  "label": y, "prediction": p}) for m, p in preds.items()])
    r = Results.from_frame(df)
    table = r.compare_models("dev", "accuracy", {"recall": (">=", 0.99)})
    recall_a = recall_score(y, preds["A"])
    assert table.loc["A", "recall"] == pytest.approx(recall_a)
    assert recall_a < 0.99 and not table.loc["A", "admissible"]
    assert table.attrs["chosen"] is None
    loose = r.compare_models("dev", "accuracy", {"recall": (">=", 0.5)})
    assert loose.attrs["chosen"] == "A"


def test_weighted_tally_share_is_the_weighted_share() -> None:
    """With weighted errors, E and s are measured the same way: the ceiling uses both."""
    n = 10
    y = np.zeros(n, dtype=int)
    y[:5] = 1
    s = np.where(y == 1, 0.1, 0.9)  # every row wrong
    w = np.array([10.0, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    df = pd.DataFrame({"id": range(n), "split": "dev", "label": y, "score": s, "weight": w,
                       "dog": [True] + [False] * 9})
    r = Results.from_frame(df, categories=["dog"])
    r.weighted = True
    t = r.tally()
    assert t.loc["dog", "share"] == pytest.approx(10 / 19)
    assert t.loc["dog", "ceiling_error"] == pytest.approx(1.0 * (1 - 10 / 19))
    r.weighted = False
    assert r.tally().loc["dog", "share"] == pytest.approx(1 / 10)


def test_stray_prefixed_column_is_not_a_class() -> None:
    """``p_value`` beside ``proba_0..2`` is not a fourth class "value"."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    p = rng.dirichlet([1, 1, 1], 300)
    p[np.arange(300), y] += 1.0
    p /= p.sum(axis=1, keepdims=True)
    df = pd.DataFrame({"split": "dev", "label": y, "proba_0": p[:, 0], "proba_1": p[:, 1],
                       "proba_2": p[:, 2], "p_value": rng.random(300)})
    r = Results.from_frame(df)
    assert r.classes == (0, 1, 2)
    assert r.error_rates().loc["dev", "error"] == pytest.approx(
        1 - accuracy_score(y, p.argmax(axis=1)))
    assert any("p_value" in note for note in r.schema.notes)
    df["proba_0"] = df["proba_0"] * 0.5  # no longer sums to 1: ambiguous, refused by name
    with pytest.raises(DashboardError, match="p_value"):
        Results.from_frame(df)


def test_scikit_learn_column_names_are_recognised() -> None:
    df = pd.DataFrame({"split": "dev", "y_true": [0, 1, 1, 0], "y_score": [0.2, 0.7, 0.4, 0.1]})
    r = Results.from_frame(df)
    assert r.error_rates().loc["dev", "error"] == pytest.approx(0.25)
    assert any("y_true" in note for note in r.schema.notes)
    df = pd.DataFrame({"split": "dev", "y_true": [0, 1, 1, 0], "y_pred": [0, 1, 0, 0]})
    assert Results.from_frame(df).error_rates().loc["dev", "error"] == pytest.approx(0.25)


# -- fitted estimators: each model's default operating point is its own predict() ----------------
def _data(seed: int = 0, n: int = 600):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=8, n_informative=4, random_state=seed,
                               flip_y=0.05)
    return X, y


@pytest.mark.parametrize("pos_label", [None, 0, 1])
def test_mixed_estimators_each_at_their_own_predict(pos_label: int | None) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    X, y = _data()
    Xtr, ytr, Xd, yd = X[:400], y[:400], X[400:], y[400:]
    models = {"lr": LogisticRegression().fit(Xtr, ytr), "svm": LinearSVC().fit(Xtr, ytr),
              "tree": DecisionTreeClassifier(max_depth=3, random_state=0).fit(Xtr, ytr)}
    r = Results.from_estimator(models, {"train": (Xtr, ytr), "dev": (Xd, yd)},
                               pos_label=pos_label)
    assert r.scale("lr") == "probability" and r.scale("svm") == "margin"
    for name, est in models.items():
        for split, (Xs, ys) in {"train": (Xtr, ytr), "dev": (Xd, yd)}.items():
            expected = 1 - accuracy_score(ys, est.predict(Xs))
            assert r.error_rates(name).loc[split, "error"] == pytest.approx(expected), name
            np.testing.assert_array_equal(r.predicted(split, name), est.predict(Xs))
    r.model = "svm"  # a margin threshold is not a probability threshold
    assert r.threshold == 0.0 and r.threshold_of("lr") == 0.5
    r.threshold = 0.3
    r.model = "lr"
    assert r.threshold == 0.5 and r.threshold_of("svm") == 0.3
    table = r.compare_models("dev", "accuracy")
    assert table.attrs["chosen"] in models


def test_multiclass_estimators_argmax_is_predict() -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    X, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    models = {"lr": LogisticRegression(max_iter=500).fit(X[:100], y[:100]),
              "svm": LinearSVC().fit(X[:100], y[:100])}
    r = Results.from_estimator(models, {"train": (X[:100], y[:100]), "dev": (X[100:], y[100:])})
    for name, est in models.items():
        np.testing.assert_array_equal(r.predicted("dev", name), est.predict(X[100:]))


@pytest.mark.parametrize("pos", [0, 1])
def test_mcnemar_direction_follows_each_models_own_errors(pos: int) -> None:
    """Only-A-wrong counts the examples A gets wrong and B right, whichever class is positive."""
    from statsmodels.stats.contingency_tables import mcnemar

    rng = np.random.default_rng(3)
    n = 400
    y = rng.integers(0, 2, n)
    p_pos = {m: np.clip(np.where(y == pos, 0.7, 0.3) + rng.normal(0, sd, n), 0, 1)
             for m, sd in (("A", 0.3), ("B", 0.15))}
    df = pd.concat([pd.DataFrame({"id": np.arange(n), "split": "dev", "model": m, "label": y,
                                  "score": s}) for m, s in p_pos.items()])
    r = Results.from_frame(df, pos_label=pos)
    right = {m: np.where(s >= 0.5, pos, 1 - pos) == y for m, s in p_pos.items()}
    test = r.mcnemar("A", "B")
    assert test.only_a_wrong == int(np.sum(~right["A"] & right["B"]))
    assert test.only_b_wrong == int(np.sum(right["A"] & ~right["B"]))
    assert test.only_a_wrong > test.only_b_wrong  # A is the noisier model
    table = [[np.sum(right["A"] & right["B"]), np.sum(right["A"] & ~right["B"])],
             [np.sum(~right["A"] & right["B"]), np.sum(~right["A"] & ~right["B"])]]
    assert test.p_value == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-9)


def test_estimators_mixing_scores_and_bare_predict_are_refused_clearly() -> None:
    from sklearn.linear_model import LogisticRegression

    class Rule:
        """A fitted rule with predict() only."""

        classes_ = np.array([0, 1])

        def predict(self, X: np.ndarray) -> np.ndarray:
            return (X[:, 0] > 0).astype(int)

    X, y = _data(n=200)
    models = {"lr": LogisticRegression().fit(X, y), "rule": Rule()}
    with pytest.raises(DashboardError, match="only predict"):
        Results.from_estimator(models, {"dev": (X, y)})
    alone = Results.from_estimator(Rule(), {"dev": (X, y)})
    np.testing.assert_array_equal(alone.predicted("dev"), Rule().predict(X))
