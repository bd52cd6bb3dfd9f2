"""What the product says matches what it computed: hard predictions ranked by the metric asked
for, an undefined error said as undefined, headlines naming what the bars name, and tables
that follow the task picker (issue "Every claim holds", items 6 and 7)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from dashboard import Results
from dashboard.metrics.curve import ThresholdCurve


def _hard_models() -> pd.DataFrame:
    """Model A: higher accuracy, lower F1 (it misses positives); B: the other way round."""
    rng = np.random.default_rng(0)
    n = 1000
    y = (rng.random(n) < 0.2).astype(int)
    a = np.where(y == 1, rng.random(n) < 0.50, rng.random(n) < 0.005).astype(int)
    b = np.where(y == 1, rng.random(n) < 0.95, rng.random(n) < 0.15).astype(int)
    return pd.concat([pd.DataFrame({"id": np.arange(n), "split": "dev", "label": y,
                                    "prediction": p, "model": m}) for m, p in (("A", a), ("B", b))])


def test_hard_predictions_are_ranked_by_the_metric_asked_for() -> None:
    df = _hard_models()
    r = Results.from_frame(df, score=None)
    truth = {m: (f1_score(g["label"], g["prediction"]), accuracy_score(g["label"], g["prediction"]))
             for m, g in df.groupby("model")}
    assert truth["A"][1] > truth["B"][1] and truth["A"][0] < truth["B"][0]
    by_f1 = r.compare_models("dev", "f1")
    assert by_f1.attrs["chosen"] == "B"
    assert by_f1.loc["B", "value"] == pytest.approx(truth["B"][0])
    assert r.compare_models("dev", "accuracy").attrs["chosen"] == "A"
    assert r.compare_models("dev", "error").attrs["chosen"] == "A"
    # under a constraint the asked-for metric still decides among the admissible
    assert r.compare_models("dev", "f1", {"recall": (">=", 0.3)}).attrs["chosen"] == "B"
    assert r.compare_models("dev", "recall").attrs["chosen"] == "B"


def test_zero_total_weight_has_an_undefined_error() -> None:
    curve = ThresholdCurve.from_counts(np.array([0.9, 0.1]), np.array([0.0, 0.0]),
                                       np.array([0.0, 0.0]))
    point = curve.at(0.5)
    assert math.isnan(point.error) and math.isnan(point.accuracy)
    assert np.isnan(curve.accuracy).all()


def test_without_train_dev_the_headline_names_variance_and_mismatch() -> None:
    from dashboard.metrics import decompose_gaps

    report = decompose_gaps(0.01, 0.02, None, 0.108, n={"train": 20000, "dev": 20000})
    assert report.focus == ("variance",)
    assert report.headline == ("Focus on variance or data mismatch (+8.8 pp: no train-dev split "
                               "to tell them apart).")
    advice = report.tactics["variance"]
    assert any("more training data" in t for t in advice)
    assert any("looks like dev" in t or "like dev" in t for t in advice)  # mismatch's advice
    assert "Try for variance or data mismatch:" in str(report)
    split = decompose_gaps(0.01, 0.02, 0.10, 0.108, n={"train": 20000, "train_dev": 20000,
                                                       "dev": 20000})
    assert split.headline.startswith("Focus on variance (+8.0 pp)")


def _one_model(tmp_path, human: bool):
    rng = np.random.default_rng(2)
    n = 400
    df = pd.DataFrame({"id": np.arange(n), "split": rng.choice(["train", "dev"], n),
                       "label": rng.integers(0, 2, n), "score": rng.random(n)})
    path = tmp_path / "one.csv"
    df.to_csv(path, index=False)
    return path, Results.from_file(path, human_level=0.02 if human else None)


def test_a_lone_model_is_not_named_and_a_missing_human_level_is_said(tmp_path,
                                                                     monkeypatch) -> None:
    from dashboard import Dashboard
    from dashboard.report import write_report

    monkeypatch.chdir(tmp_path)  # the grid's default store
    path, r = _one_model(tmp_path, human=False)
    assert r.model_shown is None and r.human_level_text == "not given"
    board = Dashboard(r)
    header = board.header.value
    assert "model <b>" not in header and "human level: <b>not given</b>" in header
    assert "(not given: 0)" not in header and "0.0%" not in header
    out = write_report(r, tmp_path / "one.html")
    text = out.read_text()
    assert "human level: not given" in text and "Model model" not in text
    best = board.explorer._best_html.value
    assert "Model model" not in best and "The model: best threshold" in best
    assert board.explorer._model_picker.layout.display == "none"  # nothing to pick
    assert "<b>model</b>" not in board.explorer._compare_html.value
    _, given = _one_model(tmp_path, human=True)
    assert given.human_level_text == "2.0%"  # a bare rate has no name of its own
    named = Results.from_file(path, human_level={"typical person": 0.03, "expert": 0.01})
    assert named.human_level_text == "expert (1.0%)"


def test_multitask_comparison_follows_the_task_and_labels_keep_their_type(monkeypatch,
                                                                          tmp_path) -> None:
    from dashboard import Dashboard
    from dashboard.demo import DEFAULT_DIR, MULTITASK_NAME

    monkeypatch.chdir(tmp_path)
    r = Results.from_file(DEFAULT_DIR / MULTITASK_NAME)
    assert r.classes == (0, 1) and r.positive_class == 1  # not 0.0 / 1.0: empty cells aside
    assert all(type(c) is int for c in r.classes)
    board = Dashboard(r)
    tables = {}
    for task in r.tasks:
        r.task = task
        shown = board.explorer.comparison
        fresh = r.compare_models(board.explorer.split, board.explorer.optimize,
                                 board.explorer.constraints, beta=board.explorer.beta)
        pd.testing.assert_frame_equal(shown, fresh)
        assert board.explorer.resolution == fresh.attrs.get("resolution")
        best = r.best_threshold(board.explorer.split, board.explorer.optimize)
        assert shown.loc[r.model, "f1"] == pytest.approx(best.f1)
        tables[task] = shown
    assert len({round(float(t["f1"].iloc[0]), 6) for t in tables.values()}) == len(r.tasks)
