"""ThresholdExplorer driven from Python through the shared Results model (no browser).

The numbers it shows at any slider position are checked against scikit-learn, the constrained
optimum against brute force, the satisficing choice against DOMAIN.md's A/B/C example, McNemar
against scipy, and one-vs-rest multiclass against scikit-learn's per-class scores.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)

from dashboard import Results
from dashboard.figures.explorer import CURVE_TRACES
from dashboard.widgets.explorer import MAX_POINTS, ThresholdExplorer
from dashboard.widgets.format import pct as _pct

MOVING = {"threshold_line", "markers", "pr_point", "best_line", "best_point"}


def _scored(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None) -> Results:
    return Results.from_predictions(y, s, sample_weight=w)


def _two_models(n: int = 400, seed: int = 0, splits: tuple[str, ...] = ("dev",),
                metadata: dict | None = None) -> Results:
    rng = np.random.default_rng(seed)
    frames = []
    for split in splits:
        y = rng.integers(0, 2, n)
        for model, noise in (("A", 0.35), ("B", 0.45)):
            s = np.clip(0.5 * y + 0.25 + rng.normal(0, noise, n), 0, 1).round(3)
            frames.append(pd.DataFrame({"id": np.arange(n).astype(str), "split": split,
                                        "model": model, "label": y, "score": s}))
    return Results.from_frame(pd.concat(frames, ignore_index=True), metadata=metadata)


# -- the numbers at any slider position -----------------------------------------------------------
@st.composite
def scored_data(draw: st.DrawFn) -> tuple:
    n = draw(st.integers(4, 60))
    levels = draw(st.integers(1, 8))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    s = np.array(draw(st.lists(st.integers(0, levels), min_size=n, max_size=n))) / levels
    w = None
    if draw(st.booleans()):
        w = np.array(draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 10.0]), min_size=n,
                                   max_size=n)))
    beta = draw(st.sampled_from([1.0, 0.5, 2.0]))
    thresholds = draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=4))
    return y, s, w, beta, thresholds


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scored_data())
def test_numbers_at_any_slider_position_equal_sklearn(data: tuple) -> None:
    y, s, w, beta, extra = data
    assume(0 < y.sum() < y.size)
    r = _scored(y, s, w)
    if w is not None:
        r.weighted = True
    ex = ThresholdExplorer(r, beta=beta)
    assert ex.last_error is None
    # every distinct score (where the numbers change), just above it, and random spots
    spots = sorted({*np.unique(s).tolist(), *(np.unique(s) + 1e-9).clip(0, 1).tolist(), *extra})
    for thr in spots:
        ex._slider.value = thr  # as a user drags the slider
        # the slider drops binary float noise (0.9999999999999999 -> 1.0), nothing more
        assert r.threshold == pytest.approx(thr, rel=1e-12, abs=1e-15)
        thr = r.threshold
        pred = (s >= thr).astype(int)
        kw = dict(sample_weight=w, zero_division=0)
        expected = {
            "precision": precision_score(y, pred, **kw),
            "recall": recall_score(y, pred, **kw),
            "f1": f1_score(y, pred, **kw),
            "fbeta": fbeta_score(y, pred, beta=beta, **kw),
            "accuracy": accuracy_score(y, pred, sample_weight=w),
            "queue_rate": np.average(pred, weights=w),
        }
        pt = ex.point
        for name, value in expected.items():
            assert getattr(pt, name) == pytest.approx(value, abs=1e-12), (name, thr)
        cm = confusion_matrix(y, pred, labels=[0, 1], sample_weight=w)
        np.testing.assert_allclose(ex.confusion.counts, cm, atol=1e-9)
        # what is drawn: markers, PR point, confusion heatmap, headline text
        tr = ex.traces
        assert tr["threshold_line"]["x"] == [thr, thr]
        shown = dict(zip(["precision", "recall", "f1", "queue_rate", "fbeta"],
                         tr["markers"]["y"], strict=False))
        for name, value in shown.items():
            assert value == pytest.approx(expected[name], abs=1e-12)
        assert len(shown) == (5 if beta != 1.0 else 4)
        assert tr["pr_point"]["x"][0] == pytest.approx(expected["recall"], abs=1e-12)
        assert tr["pr_point"]["y"][0] == pytest.approx(expected["precision"], abs=1e-12)
        rows = cm.sum(axis=1, keepdims=True)
        rates = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
        np.testing.assert_allclose(np.asarray(tr["confusion"]["z"], dtype=float), rates,
                                   atol=1e-12)
        headline = ex._headline.value
        for name in ("precision", "recall", "f1", "accuracy", "queue_rate"):
            # the shown text is the exact value rounded (equal to sklearn's within 1e-12,
            # which can straddle a rounding boundary such as 66.25%)
            assert _pct(getattr(pt, name)) in headline
    assert ex.last_error is None


def test_demo_numbers_and_figures(demo_path, demo_meta) -> None:
    r = Results.from_file(demo_path, human_level=demo_meta["human_level"],
                          metadata=demo_meta["models"])
    ex = ThresholdExplorer(r, overlay="train_dev")
    assert ex.last_error is None
    rows = r.rows("dev")
    y = (rows["label"].to_numpy() == 1).astype(int)
    s = rows["score"].to_numpy()
    for thr in (0.1, 0.37, 0.5, 0.8):
        r.threshold = thr
        pred = (s >= thr).astype(int)
        p, rec, f, _ = precision_recall_fscore_support(y, pred, average="binary",
                                                       zero_division=0)
        assert (ex.point.precision, ex.point.recall, ex.point.f1) == pytest.approx((p, rec, f))
        assert ex.overlay_point == r.curve("train_dev").at(thr)
    assert ex.traces["o_pr"]["visible"] and ex.traces["o_pr"]["name"].endswith("train_dev")
    assert "train_dev" in ex._headline.value
    assert len(ex.traces["iso_labels"]["text"]) == 5


# -- the cheap path of a move ---------------------------------------------------------------------
def test_a_move_sends_marks_not_curves() -> None:
    r = _two_models(n=5000)
    ex = ThresholdExplorer(r)
    sent: list[tuple[str, object]] = []
    ex.figure.observe(lambda c: sent.append((c["name"], c["new"])), names=["spec", "marks"])
    builds = r.curve_builds
    curve = ex.figure.spec
    for thr in (0.2, 0.41, 0.77):
        sent.clear()
        r.threshold = thr
        assert [name for name, _ in sent] == ["marks"]  # one change per move: the marks
        marks = sent[0][1]
        touched = {CURVE_TRACES[int(i)] for i in marks["traces"]}
        assert touched <= MOVING, touched
        assert len(json.dumps(marks, allow_nan=False)) < 2000  # a few numbers, not curves
        assert len(json.dumps(ex.confusion_figure.spec, allow_nan=False)) < 4000
    assert r.curve_builds == builds  # no curve is rebuilt on a move
    assert ex.figure.spec is curve  # the drawn curves are untouched


def test_curves_are_decimated_but_numbers_stay_exact() -> None:
    rng = np.random.default_rng(3)
    n = 60_000
    y = rng.integers(0, 2, n)
    s = rng.random(n)
    r = _scored(y, s)
    ex = ThresholdExplorer(r, overlay="")
    assert len(r.curve()) > MAX_POINTS
    for name in ("precision", "recall", "f1", "queue_rate", "pr"):
        assert len(ex.traces[name]["x"]) <= MAX_POINTS
    assert ex.drawn_points <= MAX_POINTS
    thr = float(np.sort(s)[12_345])  # a threshold that is not a drawn point
    r.threshold = thr
    pred = (s >= thr).astype(int)
    assert ex.point.precision == pytest.approx(precision_score(y, pred), abs=1e-15)
    assert ex.point.recall == pytest.approx(recall_score(y, pred), abs=1e-15)


def test_live_figure_serves_current_state_to_a_late_view() -> None:
    r = _two_models()
    ex = ThresholdExplorer(r)
    r.threshold = 0.63
    state = ex.figure.get_state()
    index = CURVE_TRACES.index("threshold_line")
    assert state["marks"]["traces"][str(index)]["x"] == [0.63, 0.63]
    assert len(state["spec"]["data"][CURVE_TRACES.index("f1")]["x"]) > 0
    json.dumps(state["spec"], allow_nan=False)


# -- two-way binding ------------------------------------------------------------------------------
def test_slider_and_threshold_are_bound_both_ways_without_loops() -> None:
    r = _two_models()
    ex = ThresholdExplorer(r)
    seen: list[float] = []
    r.observe(lambda c: seen.append(c["new"]), names=["threshold"])
    ex._slider.value = 0.31
    assert r.threshold == 0.31 and seen == [0.31]
    r.threshold = 0.72
    assert ex._slider.value == 0.72 and seen == [0.31, 0.72]
    r.threshold = 0.72  # no change, nothing fires
    assert seen == [0.31, 0.72]
    assert ex.point.threshold == 0.72


def test_raw_scores_get_a_slider_over_their_range() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = rng.normal(0, 3, 300) + 2 * y
    r = Results.from_predictions(y, s, probabilities=False)
    ex = ThresholdExplorer(r)
    lo, hi = r.score_range
    assert (ex._slider.min, ex._slider.max) == (lo, hi)
    r.threshold = hi + 5  # beyond the scores: the slider widens rather than clamps
    assert ex._slider.value == hi + 5 and r.threshold == hi + 5
    assert ex.point.tp + ex.point.fp == 0


def test_jump_to_best_sets_the_shared_threshold() -> None:
    r = _two_models()
    ex = ThresholdExplorer(r, constraints={"recall": (">=", 0.9)})
    best = ex.best
    assert best is not None and best.recall >= 0.9
    ex._jump.click()
    assert r.threshold == best.threshold and ex._slider.value == best.threshold
    assert ex.point.f1 == pytest.approx(best.f1)


def test_model_class_and_weight_pickers_follow_the_results() -> None:
    r = _two_models()
    ex = ThresholdExplorer(r)
    r.model = "B"
    assert ex._model_picker.value == "B"
    assert ex.point == r.curve(model="B").at(r.threshold)
    ex._model_picker.value = "A"
    assert r.model == "A"


# -- optimise X subject to Y ----------------------------------------------------------------------
def _brute_force(y, s, w, optimize, constraints, beta):
    """Every distinct score as a threshold, and one above them all (nothing flagged), scored
    by scikit-learn; ties to the highest."""
    best = None
    for thr in [np.nextafter(np.max(s), np.inf), *np.unique(s)[::-1]]:
        pred = (s >= thr).astype(int)
        kw = dict(sample_weight=w, zero_division=0)
        m = {"precision": precision_score(y, pred, **kw), "recall": recall_score(y, pred, **kw),
             "f1": f1_score(y, pred, **kw), "fbeta": fbeta_score(y, pred, beta=beta, **kw),
             "accuracy": accuracy_score(y, pred, sample_weight=w),
             "queue_rate": np.average(pred, weights=w)}
        ok = all(m[k] >= b - 1e-12 if op == ">=" else m[k] <= b + 1e-12
                 for k, (op, b) in constraints.items())
        if ok and (best is None or m[optimize] > best[1] + 1e-12):
            best = (float(thr), m[optimize])
    return best


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scored_data(), st.sampled_from(["f1", "fbeta", "accuracy", "precision", "recall"]),
       st.dictionaries(st.sampled_from(["recall", "precision", "queue_rate"]),
                       st.tuples(st.sampled_from([">=", "<="]),
                                 st.sampled_from([0.2, 0.35, 0.5, 0.66, 0.8, 0.95])),
                       max_size=2))
def test_constrained_optimum_equals_brute_force(data, optimize, constraints) -> None:
    y, s, w, beta, _ = data
    assume(0 < y.sum() < y.size)
    r = _scored(y, s, w)
    if w is not None:
        r.weighted = True
    ex = ThresholdExplorer(r, optimize=optimize, constraints=constraints, beta=beta)
    assert ex.last_error is None
    expected = _brute_force(y, s, w, optimize, constraints, beta)
    if expected is None:
        assert ex.best is None and "No threshold" in ex._best_html.value
        assert ex._jump.disabled
        return
    assert ex.best is not None
    assert ex.best.value == pytest.approx(expected[1], abs=1e-9)
    assert ex.best.threshold == expected[0]
    ex.jump_to_best()
    assert r.threshold == expected[0]


def test_constraint_rows_edit_the_constraints() -> None:
    r = _two_models(metadata={"A": {"running_time_ms": 80}, "B": {"running_time_ms": 95}})
    ex = ThresholdExplorer(r)
    assert ex.constraints == {}
    ex._add.click()
    row, metric, op, bound = ex._constraint_rows[0]
    assert row.layout.display is None and ex.constraints == {"recall": (">=", 0.9)}
    bound.value = 0.8
    assert ex.constraints == {"recall": (">=", 0.8)}
    assert ex.best.recall >= 0.8
    metric.value = "running_time_ms"
    op.value = "<="
    bound.value = 90
    assert ex.constraints == {"running_time_ms": ("<=", 90.0)}
    assert ex.comparison.attrs["chosen"] == "A"
    ex.constraints = {"precision": (">=", 0.7), "running_time_ms": ("<=", 100)}  # from code
    assert [ex._constraint_rows[i][1].value for i in range(2)] == ["precision",
                                                                   "running_time_ms"]
    ex._constraint_rows[0][0].layout.display = None
    ex._on_remove_click(0, None)
    assert ex.constraints == {"running_time_ms": ("<=", 100.0)}


# -- choosing a model: A/B/C, McNemar, resolution -------------------------------------------------
def _abc(course: dict, hard: bool) -> Results:
    """Three models whose best dev accuracy is exactly the golden case's."""
    n = 1000
    frames = []
    for row in course["satisficing"]["models"]:
        y = np.r_[np.ones(n // 2, int), np.zeros(n // 2, int)]
        wrong = round((1 - row["accuracy"]) * n)
        pred = y.copy()
        pred[: wrong // 2] = 0
        pred[n // 2: n // 2 + wrong - wrong // 2] = 1
        part = {"id": np.arange(n).astype(str), "split": "dev", "model": row["model"],
                "label": y}
        if hard:
            part["prediction"] = pred
        else:
            part["score"] = np.where(pred == 1, 0.9, 0.1)
        frames.append(pd.DataFrame(part))
    meta = {row["model"]: {"running_time_ms": row["running_time_ms"]}
            for row in course["satisficing"]["models"]}
    df = pd.concat(frames, ignore_index=True)
    if hard:
        return Results.from_frame(df, score=None, prediction="prediction", metadata=meta)
    return Results.from_frame(df, metadata=meta)


@pytest.mark.parametrize("hard", [False, True], ids=["scores", "hard predictions"])
def test_satisficing_picks_b(course: dict, hard: bool) -> None:
    case = course["satisficing"]
    r = _abc(course, hard)
    constraints = {k: tuple(v) for k, v in case["constraints"].items()}
    table = r.compare_models("dev", case["optimize"], constraints)
    assert table.attrs["chosen"] == case["choose"] == "B"
    for row in case["models"]:
        assert table.loc[row["model"], "accuracy"] == pytest.approx(row["accuracy"])
    ex = ThresholdExplorer(r, optimize=case["optimize"], constraints=constraints)
    assert ex.last_error is None
    assert ex.comparison.attrs["chosen"] == "B"
    assert "<b>B</b><span style='color:var(--mldash-c-negative_gap, #15803d)'> ✓ chosen" \
        in ex._compare_html.value
    assert "fails running_time_ms" in ex._compare_html.value  # C is shown, and why not
    # without the constraint C wins
    ex.constraints = {}
    assert ex.comparison.attrs["chosen"] == "C"
    ex.constraints = constraints
    ex.show_chosen()
    assert r.model == "B"
    if not hard:
        assert r.threshold == table.loc["B", "threshold"]
        assert ex.point.accuracy == pytest.approx(0.92)
    else:
        assert ex._slider.layout.display == "none"  # no threshold to choose
        assert "hard predictions only" in ex._headline.value


def test_mcnemar_between_the_top_two_at_their_own_thresholds() -> None:
    r = _two_models(n=3000, seed=5)
    r.threshold = 0.05  # the current threshold must not matter
    ex = ThresholdExplorer(r, optimize="f1")
    a, b, mc = ex.mcnemar
    table = ex.comparison
    assert {a, b} == {"A", "B"} and table.loc[a, "value"] >= table.loc[b, "value"]
    ra, rb = r.rows("dev", a), r.rows("dev", b)
    ok_a = (ra["score"].to_numpy() >= table.loc[a, "threshold"]) == (ra["label"] == 1)
    ok_b = (rb["score"].to_numpy() >= table.loc[b, "threshold"]) == (rb["label"] == 1)
    only_a = int((~ok_a.to_numpy() & ok_b.to_numpy()).sum())
    only_b = int((ok_a.to_numpy() & ~ok_b.to_numpy()).sum())
    assert (mc.only_a_wrong, mc.only_b_wrong) == (only_a, only_b)
    assert mc.p_value == pytest.approx(binomtest(min(only_a, only_b), only_a + only_b,
                                                 0.5).pvalue, rel=1e-9)
    text = ex._compare_html.value
    assert f"p = {mc.p_value:.3g}" in text
    assert "resolution" in text and ex.resolution == pytest.approx(
        1.959963984540054 * np.sqrt(2 * table.loc[a, "error"] * (1 - table.loc[a, "error"])
                                    / 3000))


# -- multiclass: one-vs-rest ----------------------------------------------------------------------
def _multiclass(n: int = 900, seed: int = 2) -> tuple[Results, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    classes = ["cat", "dog", "bird"]
    y = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), y] += 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    proba = proba.round(2)  # ties
    df = pd.DataFrame({"id": np.arange(n).astype(str), "split": "dev",
                       "label": np.array(classes)[y],
                       **{f"proba_{c}": proba[:, j] for j, c in enumerate(classes)}})
    return Results.from_frame(df), df


def test_multiclass_one_vs_rest_equals_sklearn_per_class() -> None:
    r, df = _multiclass()
    ex = ThresholdExplorer(r)
    assert ex.last_error is None
    assert ex._class_picker.layout.display is None
    assert [v for _, v in ex._class_picker.options] == ["cat", "dog", "bird"]
    y = df["label"].to_numpy()
    for cls in ("cat", "dog", "bird"):
        ex._class_picker.value = cls
        assert r.positive_class == cls
        assert f"class {cls} vs rest" in ex._headline.value
        for thr in (0.2, 0.33, 0.5, 0.71):
            r.threshold = thr
            pred = df[f"proba_{cls}"].to_numpy() >= thr
            p, rec, f, _ = precision_recall_fscore_support(y == cls, pred, labels=[True],
                                                           average=None, zero_division=0)
            assert ex.point.precision == pytest.approx(p[0], abs=1e-12)
            assert ex.point.recall == pytest.approx(rec[0], abs=1e-12)
            assert ex.point.f1 == pytest.approx(f[0], abs=1e-12)
            cm = confusion_matrix(y == cls, pred, labels=[False, True])
            np.testing.assert_allclose(ex.confusion.counts, cm)
        assert ex.traces["confusion"]["x"] == ["rest", str(cls)]
        layout = ex.confusion_figure.spec["layout"]
        assert (layout["xaxis"]["title"]["text"], layout["yaxis"]["title"]["text"]) == (
            "Predicted", "Actual")


def test_multiclass_macro_and_micro_f1_equal_sklearn() -> None:
    r, df = _multiclass()
    ex = ThresholdExplorer(r)
    y = df["label"].to_numpy()
    classes = np.array(["cat", "dog", "bird"])
    pred = classes[np.argmax(df[[f"proba_{c}" for c in classes]].to_numpy(), axis=1)]
    cf = r.class_f1("dev")
    macro = f1_score(y, pred, average="macro")
    micro = f1_score(y, pred, average="micro")
    assert cf.macro_f1 == pytest.approx(macro) and cf.micro_f1 == pytest.approx(micro)
    text = ex._classes_html.value
    assert f"macro F1 <b>{_pct(macro)}</b>" in text and f"micro F1 <b>{_pct(micro)}</b>" in text
    p, rec, _, _ = precision_recall_fscore_support(y, pred, labels=list(classes),
                                                   zero_division=0)
    for i, _c in enumerate(classes):
        assert cf.precision[i] == pytest.approx(p[i]) and cf.recall[i] == pytest.approx(rec[i])
        assert _pct(p[i]) in text


# -- splits, errors, escaping -------------------------------------------------------------------
def test_split_picker_and_overlay() -> None:
    r = _two_models(splits=("train", "dev", "test"))
    ex = ThresholdExplorer(r)
    assert ex.split == "dev" and not ex.traces["o_pr"]["visible"]
    ex._split_picker.value = "test"
    assert ex.split == "test" and ex.point == r.curve("test").at(r.threshold)
    assert ex.traces["pr"]["name"] == "PR curve · test"
    ex._overlay_picker.value = "train"
    assert ex.traces["o_pr"]["visible"] and ex.overlay_point == r.curve("train").at(r.threshold)
    assert ">train<" in ex._headline.value
    ex.overlay = ""
    assert not ex.traces["o_pr"]["visible"] and ex.overlay_point is None


def test_a_failing_refresh_is_shown_in_the_widget() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": np.arange(40).astype(str),
                       "split": ["dev"] * 30 + ["test"] * 10,
                       "label": np.r_[rng.integers(0, 2, 30), np.ones(10, int)],
                       "score": rng.random(40)})
    r = Results.from_frame(df)
    ex = ThresholdExplorer(r)
    assert ex.last_error is None
    ex.split = "test"  # only positives: no precision-recall curve
    assert ex.last_error and "positive" in ex._status.value and "role='alert'" in \
        ex._status.value
    assert ex.point is None and ex._headline.value == ""  # no stale numbers under an error
    assert ex.figure.spec["data"] == []  # no curve drawn, a message instead
    r.threshold = 0.4  # moves still work, nothing raises
    ex.split = "dev"
    assert ex.last_error is None and ex._status.value == ""


def test_user_text_is_escaped() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    df = pd.concat([pd.DataFrame({"id": np.arange(200).astype(str), "split": "dev",
                                  "model": m, "label": y, "score": rng.random(200)})
                    for m in ("<b>evil</b>", "ok")])
    r = Results.from_frame(df, metadata={"<b>evil</b>": {"ms<": 3}, "ok": {"ms<": 5}})
    ex = ThresholdExplorer(r, constraints={"ms<": ("<=", 4)})
    assert ex.last_error is None
    for text in (ex._compare_html.value, ex._headline.value, ex._best_html.value):
        assert "<b>evil</b>" not in text
    assert "&lt;b&gt;evil&lt;/b&gt;" in ex._compare_html.value
    assert "ms&lt;" in ex._compare_html.value


def test_bad_settings_are_refused_at_the_boundary() -> None:
    import traitlets

    r = _two_models(splits=("dev", "test"))
    ex = ThresholdExplorer(r)
    with pytest.raises(traitlets.TraitError, match="unknown split"):
        ex.split = "holdout"
    with pytest.raises(traitlets.TraitError, match="cannot optimise"):
        ex.optimize = "fp"
    with pytest.raises(traitlets.TraitError, match="beta"):
        ex.beta = 0
    with pytest.raises(ValueError, match="operator"):
        ex.constraints = {"recall": ("=>", 0.9)}
    ex.constraints = {"recal": (">=", 0.9)}  # unknown metric: shown, not raised
    assert "recal" in ex.last_error and "role='alert'" in ex._status.value


def test_close_stops_observing() -> None:
    r = _two_models()
    ex = ThresholdExplorer(r)
    ex.close()
    r.threshold = 0.9  # must not touch the closed widget
    assert ex.point.threshold != 0.9
