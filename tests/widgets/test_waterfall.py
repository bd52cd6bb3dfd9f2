"""GapWaterfall driven from Python: golden gap cases, bindings to the results model, pickers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import Results
from dashboard.metrics.gaps import GAP_LABELS, GAP_NAMES, MERGED_LABEL
from dashboard.widgets import theme
from dashboard.widgets.format import pct, pp
from dashboard.widgets.waterfall import TRACE_NAMES, GapWaterfall

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "course_examples.json"
SPLITS = ("train", "train_dev", "dev", "test")
TOL = 1e-9


def golden_cases() -> list[dict]:
    return json.loads(SCENARIOS.read_text())["gaps"]


def hard_frame(errors: dict[str, float], n: int | dict[str, int] = 1000,
               model: str = "model") -> pd.DataFrame:
    """Hard predictions with exactly ``round(error * n)`` wrong rows per split."""
    parts = []
    for split in SPLITS:
        if errors.get(split) is None:
            continue
        m = n[split] if isinstance(n, dict) else n
        k = round(errors[split] * m)
        label = np.arange(m) % 2
        pred = label.copy()
        pred[:k] = 1 - pred[:k]
        parts.append(pd.DataFrame({"id": [f"{split}{i}" for i in range(m)], "split": split,
                                   "model": model, "label": label, "prediction": pred}))
    return pd.concat(parts, ignore_index=True)


def hard_results(errors: dict[str, float], human: float | dict[str, float], **kw) -> Results:
    return Results.from_frame(hard_frame(errors, **kw), score=None, prediction="prediction",
                              human_level=human)


def plain(text: str) -> str:
    """Text without markup, for assertions on what a reader sees."""
    return re.sub(r"<[^>]+>", " ", text)


def levels(w: GapWaterfall) -> dict[str, float]:
    tr = w.trace("levels")
    keys = [s.key for s in w._views[0].steps if s.kind == "level"]
    assert len(keys) == len(tr["y"])
    return dict(zip(keys, tr["y"], strict=True))


def gap_bars(w: GapWaterfall) -> dict[str, tuple[float, float]]:
    """gap name -> (base, height) as drawn."""
    tr = w.trace("gaps")
    keys = [s.key for s in w._views[0].steps if s.kind == "gap"]
    assert len(keys) == len(tr["y"]) == len(tr["base"])
    return {k: (b, y) for k, b, y in zip(keys, tr["base"], tr["y"], strict=True)}


def headline_gaps(w: GapWaterfall) -> set[str]:
    """The gap names the headline mentions ("variance or data mismatch", the bar of dev −
    train without a train_dev split, is the variance gap)."""
    text = plain(w.headline.value)
    if w.report.merged:
        assert "data mismatch" not in text.replace(MERGED_LABEL, "")
        text = text.replace(MERGED_LABEL, GAP_LABELS["variance"])
    return {g for g in GAP_NAMES if GAP_LABELS[g] in text}


# -- the golden cases --------------------------------------------------------------------------
@pytest.mark.skipif(not golden_cases(), reason=f"no golden cases at {SCENARIOS}")
@pytest.mark.parametrize("case", golden_cases(), ids=lambda c: c["name"])
def test_golden_case_bars_labels_and_headline(case: dict) -> None:
    errors = {s: case.get(s) for s in SPLITS}
    # the golden cases assume splits large enough for every gap to be significant
    w = GapWaterfall(hard_results(errors, case["human"], n=20_000))
    assert w.status.value == ""

    # level bars: human level then each split, from 0, at the golden error
    drawn = levels(w)
    expected = {"human": case["human"], **{s: v for s, v in errors.items() if v is not None}}
    assert list(drawn) == list(expected)
    for key, value in expected.items():
        assert drawn[key] == pytest.approx(value, abs=TOL)
    assert all(b == 0 for b in w.trace("levels")["base"])

    # gap steps: float from the previous level by the golden amount
    steps = gap_bars(w)
    assert set(steps) == set(case["expect"])
    walk = [k for k in ("human", *SPLITS) if k in expected]
    for gap, size in case["expect"].items():
        base, height = steps[gap]
        assert height == pytest.approx(size, abs=TOL)
        lo, hi = w.report.steps[gap]
        assert base == pytest.approx(expected[lo], abs=TOL)
        assert base + height == pytest.approx(expected[hi], abs=TOL)
        assert walk.index(hi) == walk.index(lo) + 1

    # every step is labelled with its size, and the axis names it
    labels = [plain(t) for t in w.trace("gap labels")["text"]]
    for gap, size in case["expect"].items():
        assert any(pp(size) in t for t in labels), (gap, labels)
    ticks = " ".join(plain(t) for t in w.figure.spec["layout"]["xaxis"]["ticktext"])
    for gap in case["expect"]:
        assert all(word in ticks for word in GAP_LABELS[gap].split())

    # the headline names exactly the focus gaps (DOMAIN: positive and >= 75% of the largest)
    assert w.report.focus == tuple(case["focus"])
    assert headline_gaps(w) == set(case["focus"])
    # an exported copy carries the headline in its title; the widget's figure stays the same
    title = plain(w.static_figure()["layout"]["title"]["text"])
    assert {g for g in GAP_NAMES if GAP_LABELS[g] in title} == set(case["focus"])
    assert "Focus" not in w.figure.spec["layout"]["title"]["text"]
    # ... and the tactics of each focus gap are listed under it
    tactics = w.tactics.value
    for gap in case["focus"]:
        assert GAP_LABELS[gap] in tactics
        assert all(t.split(" (")[0] in tactics.replace("&#x27;", "'")
                   for t in w.report.tactics[gap])


def test_case7_negative_gap_is_drawn_below_its_start_and_explained() -> None:
    case = {"human": 0.04, "train": 0.07, "train_dev": 0.10, "dev": 0.06}
    w = GapWaterfall(hard_results(case, case["human"]))
    base, height = gap_bars(w)["data_mismatch"]
    assert height == pytest.approx(-0.04, abs=TOL)  # not clipped to zero
    assert base == pytest.approx(0.10, abs=TOL)
    assert base + height == pytest.approx(0.06, abs=TOL)  # ends below where it starts

    i = [s.key for s in w._views[0].steps if s.kind == "gap"].index("data_mismatch")
    gaps = w.trace("gaps")
    assert gaps["marker"]["color"][i] == theme.COLORS["negative_gap"]
    labels = w.trace("gap labels")
    assert labels["textposition"][i] == "bottom center"
    assert labels["y"][i] == pytest.approx(0.06, abs=TOL)  # the label hangs under the step
    assert "−4.0 pp" in plain(labels["text"][i]) and "dev is easier" in plain(labels["text"][i])

    assert headline_gaps(w) == {"avoidable_bias", "variance"}
    notes = plain(w.notes.value)
    assert "the dev distribution is easier than the training data" in notes
    assert "data mismatch" not in plain(w.headline.value)


# -- missing splits ------------------------------------------------------------------------------
def test_missing_train_dev_says_mismatch_cannot_be_separated() -> None:
    w = GapWaterfall(hard_results({"train": 0.08, "dev": 0.10, "test": 0.11}, 0.01))
    assert list(levels(w)) == ["human", "train", "dev", "test"]
    steps = gap_bars(w)
    assert set(steps) == {"avoidable_bias", "variance", "dev_overfitting"}
    assert steps["variance"][0] == pytest.approx(0.08, abs=TOL)
    assert steps["variance"][1] == pytest.approx(0.02, abs=TOL)
    ticks = [plain(t) for t in w.figure.spec["layout"]["xaxis"]["ticktext"]]
    assert "train-dev" not in " ".join(ticks)
    assert any("variance" in t and "mismatch" in t for t in ticks)
    assert "data mismatch cannot be separated" in plain(w.notes.value)
    # "not in the data: train-dev"
    assert "train-dev" in plain(w.figure.spec["layout"]["title"]["text"])


def test_missing_train_skips_bias_and_variance_with_a_note() -> None:
    w = GapWaterfall(hard_results({"dev": 0.10, "test": 0.12}, 0.02))
    assert list(levels(w)) == ["human", "dev", "test"]
    assert set(gap_bars(w)) == {"dev_overfitting"}
    assert "avoidable bias and variance cannot be measured" in plain(w.notes.value)
    # no connector carries human level to dev: there is no gap between them
    con = w.trace("connectors")
    xs = [x for x in con["x"] if x is not None]
    assert min(xs) > 1.0  # only around the dev -> overfitting -> test steps


# -- significance ------------------------------------------------------------------------------
def test_gap_indistinguishable_from_zero_is_marked_with_its_n() -> None:
    errors = {"train": 0.08, "dev": 0.10, "test": 0.11}
    w = GapWaterfall(hard_results(errors, 0.01, n={"train": 1000, "dev": 100, "test": 100}))
    report = w.report
    assert report.significant["avoidable_bias"]
    assert not report.significant["variance"]
    assert not report.significant["dev_overfitting"]
    keys = [s.key for s in w._views[0].steps if s.kind == "gap"]
    shapes = dict(zip(keys, w.trace("gaps")["marker"]["pattern"]["shape"], strict=True))
    assert shapes["avoidable_bias"] == ""
    assert shapes["variance"] == shapes["dev_overfitting"] == "/"
    labels = dict(zip(keys, (plain(t) for t in w.trace("gap labels")["text"]), strict=True))
    assert "n.s." in labels["variance"] and "n.s." not in labels["avoidable_bias"]
    notes = plain(w.notes.value)
    assert "not significant with n = 1,000 train and 100 dev examples" in notes
    assert "not significant with n = 100 dev and 100 test examples" in notes


def test_level_error_bars_are_the_wilson_intervals() -> None:
    r = hard_results({"train": 0.08, "dev": 0.10}, 0.01, n={"train": 1000, "dev": 100})
    w = GapWaterfall(r)
    table = r.error_rates()
    tr = w.trace("levels")
    assert tr["error_y"]["array"][0] is None  # human level is given, not measured
    for i, split in enumerate(("train", "dev"), start=1):
        row = table.loc[split]
        err = tr["error_y"]
        assert err["array"][i] == pytest.approx(row["ci_high"] - row["error"], abs=TOL)
        assert err["arrayminus"][i] == pytest.approx(row["error"] - row["ci_low"], abs=TOL)


# -- binding to the results model ---------------------------------------------------------------
def scored_results(n_models: int = 1, weights: bool = False) -> Results:
    """Scores that move the focus with the threshold.

    At 0.5: train 8%, dev 2% -> focus avoidable bias. At 0.3: train 0%, dev 10% -> variance.
    """
    parts = []
    for j in range(n_models):
        model = "AB"[j]
        for split, (pos_wrong, neg_wrong) in (("train", (80, 0)), ("dev", (20, 100 + 20 * j))):
            m = 1000
            label = np.arange(m) % 2
            score = np.where(label == 1, 0.9, 0.1)
            pos = np.flatnonzero(label == 1)[:pos_wrong]
            neg = np.flatnonzero(label == 0)[:neg_wrong]
            score[pos] = 0.4  # positives wrong at 0.5, right at 0.3
            score[neg] = 0.35  # negatives right at 0.5, wrong at 0.3
            part = pd.DataFrame({"id": [f"{split}{i}" for i in range(m)], "split": split,
                                 "model": model, "label": label, "score": score})
            if weights:
                part["weight"] = np.where(np.arange(m) % 10 == 0, 10.0, 1.0)
            parts.append(part)
    df = pd.concat(parts, ignore_index=True)
    return Results.from_frame(df, human_level={"typical person": 0.03, "expert": 0.01})


def test_threshold_change_updates_bars_and_headline_in_place() -> None:
    r = scored_results()
    w = GapWaterfall(r)
    fig = w.figure
    assert levels(w)["train"] == pytest.approx(0.08, abs=TOL)
    assert levels(w)["dev"] == pytest.approx(0.02, abs=TOL)
    assert headline_gaps(w) == {"avoidable_bias"}

    r.threshold = 0.3  # e.g. from the threshold explorer
    assert w.figure is fig  # the same widget, given a new spec
    assert [t["name"] for t in w.figure.spec["data"]] == list(TRACE_NAMES)
    assert levels(w)["train"] == pytest.approx(0.0, abs=TOL)
    assert levels(w)["dev"] == pytest.approx(0.10, abs=TOL)
    table = r.error_rates()
    for split in ("train", "dev"):
        assert levels(w)[split] == pytest.approx(table.loc[split, "error"], abs=TOL)
    assert gap_bars(w)["variance"][1] == pytest.approx(0.10, abs=TOL)
    assert headline_gaps(w) == {"variance"}
    assert f"{MERGED_LABEL} (+10.0 pp: no train-dev split" in plain(w.headline.value)
    assert "threshold 0.3 " in w.figure.spec["layout"]["title"]["text"]

    r.threshold = 0.5
    assert headline_gaps(w) == {"avoidable_bias"}
    assert levels(w)["train"] == pytest.approx(0.08, abs=TOL)


def test_state_read_by_a_late_frontend_is_current() -> None:
    """A page that connects after the updates (Voilà) reads get_state(): it must not be stale."""
    r = scored_results()
    w = GapWaterfall(r)
    r.threshold = 0.3
    state = w.figure.get_state()
    data = {t["name"]: t for t in state["spec"]["data"]}
    assert list(data["levels"]["y"]) == pytest.approx(list(w.trace("levels")["y"]))
    assert data["levels"]["y"][2] == pytest.approx(0.10, abs=TOL)
    assert "threshold 0.3 " in state["spec"]["layout"]["title"]["text"]
    json.dumps(state["spec"], allow_nan=False)  # the state a view reads is strict JSON


def test_a_move_assigns_one_new_spec_and_nothing_when_unchanged() -> None:
    r = scored_results()
    w = GapWaterfall(r)
    specs = []
    w.figure.observe(lambda change: specs.append(change["new"]), names="spec")
    r.threshold = 0.3
    assert len(specs) == 1
    w.refresh()  # nothing changed: nothing is sent
    assert len(specs) == 1


def test_reference_picker_is_a_view_of_the_shared_trait() -> None:
    r = scored_results()
    w = GapWaterfall(r)
    assert w.reference_picker.layout.display != "none"
    assert w.reference_picker.value == r.human_reference == "expert"
    assert levels(w)["human"] == pytest.approx(0.01)

    r.human_reference = "typical person"  # from elsewhere: the picker follows
    assert w.reference_picker.value == "typical person"
    assert levels(w)["human"] == pytest.approx(0.03)
    assert gap_bars(w)["avoidable_bias"][1] == pytest.approx(0.05, abs=TOL)

    seen = []
    r.observe(lambda c: seen.append(c["new"]), names="human_reference")
    w.reference_picker.value = "expert"  # from the picker: the shared state follows, once
    assert r.human_reference == "expert"
    assert seen == ["expert"]
    assert levels(w)["human"] == pytest.approx(0.01)


def test_single_reference_and_single_model_hide_their_pickers() -> None:
    w = GapWaterfall(hard_results({"train": 0.08, "dev": 0.10}, 0.01))
    assert w.reference_picker.layout.display == "none"
    assert w.model_picker.layout.display == "none"
    assert w.compare_toggle.layout.display == "none"
    assert w.weighted_toggle.layout.display == "none"


def test_model_picker_and_several_models() -> None:
    r = scored_results(n_models=2)
    w = GapWaterfall(r)
    assert w.model_picker.layout.display != "none"
    assert list(w.model_picker.options) == ["A", "B"]
    assert levels(w)["dev"] == pytest.approx(0.02, abs=TOL)

    r.model = "B"
    assert w.model_picker.value == "B"
    for split, row in r.error_rates("B").iterrows():
        assert levels(w)[split] == pytest.approx(row["error"], abs=TOL)

    seen = []
    r.observe(lambda c: seen.append(c["new"]), names="model")
    w.model_picker.value = "A"
    assert r.model == "A" and seen == ["A"]
    assert levels(w)["dev"] == pytest.approx(0.02, abs=TOL)


def test_side_by_side_draws_the_second_model_and_follows_the_threshold() -> None:
    r = scored_results(n_models=2)
    w = GapWaterfall(r)
    assert not w.trace("compare levels")["visible"]
    assert w.compare_model is None

    w.compare_toggle.value = True
    assert w.compare_model == "B"
    cmp_levels = w.trace("compare levels")
    assert cmp_levels["visible"] and w.trace("compare gaps")["visible"]
    assert not w.trace("connectors")["visible"]
    b = r.error_rates("B")
    assert list(cmp_levels["y"][1:]) == pytest.approx(list(b["error"]), abs=TOL)
    # the two walks sit side by side, not on top of each other
    assert w.trace("levels")["offset"] + w.trace("levels")["width"] <= cmp_levels["offset"]
    assert "B" in plain(w.headline.value)

    r.threshold = 0.3
    b = r.error_rates("B")
    cmp_levels = w.trace("compare levels")  # a new spec: read it again
    assert list(cmp_levels["y"][1:]) == pytest.approx(list(b["error"]), abs=TOL)
    assert cmp_levels["y"][2] == pytest.approx(0.12, abs=TOL)

    # switching the main model to B compares it with A
    r.model = "B"
    assert w.compare_model == "A"
    assert list(w.trace("compare levels")["y"][1:]) == pytest.approx(
        list(r.error_rates("A")["error"]), abs=TOL)

    w.compare_toggle.value = False
    assert not w.trace("compare levels")["visible"]
    assert w.trace("connectors")["visible"]


def test_weighted_toggle_is_two_way() -> None:
    r = scored_results(weights=True)
    w = GapWaterfall(r)
    assert w.weighted_toggle.layout.display != "none"
    plain_dev = levels(w)["dev"]

    w.weighted_toggle.value = True
    assert r.weighted is True
    weighted = r.error_rates(weighted=True)
    assert levels(w)["dev"] == pytest.approx(weighted.loc["dev", "error"], abs=TOL)
    assert levels(w)["dev"] != pytest.approx(plain_dev)
    assert "weighted error" in w.figure.spec["layout"]["title"]["text"]

    r.weighted = False
    assert w.weighted_toggle.value is False
    assert levels(w)["dev"] == pytest.approx(plain_dev, abs=TOL)


# -- the general formulation ---------------------------------------------------------------------
def test_general_formulation_table_with_blanks() -> None:
    errors = {"train": 0.07, "train_dev": 0.10, "dev": 0.06}
    w = GapWaterfall(hard_results(errors, 0.04))
    text = plain(w.formulation.value)
    assert "General formulation" in text
    for rate in (0.04, 0.07, 0.10, 0.06):
        assert pct(rate) in text
    assert text.count("—") == 2  # dev-distribution human level and trained-on dev
    assert "no human-level reference was measured on the dev distribution" in text


def test_general_formulation_uses_a_dev_distribution_reference() -> None:
    errors = {"train": 0.07, "train_dev": 0.10, "dev": 0.06}
    w = GapWaterfall(hard_results(errors, {"general speech": 0.04, "in-car speech (dev)": 0.06}))
    text = plain(w.formulation.value)
    assert text.count("—") == 1
    assert "6.0%" in text
    assert "intrinsically harder" in text


# -- robustness -----------------------------------------------------------------------------------
def test_a_failing_update_shows_in_the_widget(monkeypatch: pytest.MonkeyPatch) -> None:
    r = scored_results()
    w = GapWaterfall(r)

    def boom(*args, **kwargs):
        raise RuntimeError("the gap table is unavailable")

    monkeypatch.setattr(r, "gaps", boom)
    r.threshold = 0.3
    assert "could not be drawn" in w.status.value
    assert "the gap table is unavailable" in w.status.value
    monkeypatch.undo()
    r.threshold = 0.4
    assert w.status.value == ""


def test_user_text_is_escaped() -> None:
    df = hard_frame({"train": 0.08, "dev": 0.10}, model="<b>m</b>")
    df2 = hard_frame({"train": 0.05, "dev": 0.12}, model="<img src=x>")
    r = Results.from_frame(pd.concat([df, df2]), score=None, prediction="prediction",
                           human_level={"<script>alert(1)</script>": 0.01, "other": 0.02})
    w = GapWaterfall(r, compare=True)
    html_out = " ".join([w.headline.value, w.tactics.value, w.notes.value,
                         w.formulation.value, w.figure.spec["layout"]["title"]["text"],
                         *w.trace("compare labels")["text"], *w.trace("levels")["hovertext"]])
    assert "<script>" not in html_out and "<img" not in html_out and "<b>m</b>" not in html_out
    assert "&lt;img src=x&gt;" in html_out


def test_close_stops_observing() -> None:
    r = scored_results()
    w = GapWaterfall(r)
    before = list(w.trace("levels")["y"])
    w.close()
    r.threshold = 0.3
    assert list(w.trace("levels")["y"]) == before


def test_demo_data_if_present() -> None:
    root = Path(__file__).resolve().parents[2] / "dashboard" / "data" / "demo"
    if not (root / "demo.json").exists():
        pytest.skip("no demo data")
    meta = json.loads((root / "demo.json").read_text())
    r = Results.from_file(root / meta["results"], human_level=meta["human_level"],
                          metadata=meta["models"])
    w = GapWaterfall(r)
    assert w.status.value == ""
    assert set(levels(w)) == {"human", *r.splits}
    assert headline_gaps(w) == set(r.gaps().focus)
