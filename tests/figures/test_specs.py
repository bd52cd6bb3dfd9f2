"""The figure specs against the Results model's numbers, without any widget."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import Results
from dashboard.figures import (
    apply_marks,
    confusion_spec,
    curves_marks,
    curves_spec,
    json_safe,
    tally_spec,
    waterfall_spec,
)
from dashboard.figures.explorer import CURVE_TRACES
from dashboard.figures.waterfall import TRACE_NAMES, walk

EVIL = "<a href='https://example.com'>dog</a>"


@pytest.fixture(scope="module")
def demo(demo_path: Path) -> Results:
    return Results.from_file(demo_path)


def _trace(spec: dict, name: str) -> dict:
    return next(t for t in spec["data"] if t.get("name") == name)


def _strict_json(spec: dict) -> str:
    return json.dumps(spec, allow_nan=False)


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def test_waterfall_levels_and_gaps_are_the_models_numbers(demo: Results) -> None:
    spec = waterfall_spec(demo)
    _strict_json(spec)
    assert [t["name"] for t in spec["data"]] == list(TRACE_NAMES)
    errors = demo.error_rates()
    levels = _trace(spec, "levels")
    assert levels["y"][0] == pytest.approx(demo.human_error)
    assert levels["y"][1:] == pytest.approx(errors["error"].tolist())
    # the interval bars are the Wilson interval of each split
    upper = np.array(levels["error_y"]["array"][1:], dtype=float)
    assert (errors["error"].to_numpy() + upper) == pytest.approx(errors["ci_high"].to_numpy())
    report = demo.gaps()
    gaps = _trace(spec, "gaps")
    expected = [getattr(report, g) for g in ("avoidable_bias", "variance", "data_mismatch",
                                             "dev_overfitting") if getattr(report, g) is not None]
    assert gaps["y"] == pytest.approx(expected)
    assert f"threshold {demo.threshold:.3g}" in spec["layout"]["title"]["text"]


def test_waterfall_follows_the_threshold_and_compares_models(demo: Results) -> None:
    before = waterfall_spec(demo)
    old = demo.threshold
    try:
        demo.threshold = 0.3
        after = waterfall_spec(demo)
    finally:
        demo.threshold = old
    assert _trace(after, "levels")["y"] != _trace(before, "levels")["y"]
    other = [m for m in demo.models if m != demo.model][0]
    pair = waterfall_spec(demo, compare=other)
    _strict_json(pair)
    assert _trace(pair, "compare levels")["visible"] is True
    assert _trace(pair, "compare levels")["y"][1:] == pytest.approx(
        demo.error_rates(other)["error"].tolist())
    assert walk(demo, other).model == other


def test_curves_are_the_curve_and_marks_the_operating_point(demo: Results) -> None:
    spec = curves_spec(demo, "dev", overlay="train_dev")
    _strict_json(spec)
    names = [t["name"] for t in spec["data"]]
    assert len(names) == len(CURVE_TRACES)
    for metric in ("precision", "recall", "F1", "queue rate", "threshold", "PR curve · dev"):
        assert metric in names  # legends name the metrics, never "trace 0"
    curve = demo.curve("dev")
    f1 = _trace(spec, "F1")
    # every drawn point is a point of the curve: F1 at the drawn thresholds
    for x, y in list(zip(f1["x"], f1["y"], strict=True))[::97]:
        assert y == pytest.approx(curve.at(x).f1)
    point = demo.operating_point("dev")
    marks = curves_marks(point)
    drawn = apply_marks(spec, marks)
    assert _trace(spec, "threshold")["x"] == []  # the spec is kept
    assert _trace(drawn, "threshold")["x"] == [point.threshold] * 2
    assert _trace(drawn, "current")["x"] == [pytest.approx(point.recall)]
    assert _trace(drawn, "current")["y"] == [pytest.approx(point.precision)]
    assert _trace(drawn, "at the threshold")["y"] == pytest.approx(
        [point.precision, point.recall, point.f1, point.queue_rate])
    # a move's marks are small: a few numbers, not curves
    assert len(_strict_json(marks)) < 2_000


def test_confusion_matrix_names_axes_and_counts(demo: Results) -> None:
    point = demo.operating_point("dev")
    spec = confusion_spec(point, ("not cat", "cat"))
    _strict_json(spec)
    lay = spec["layout"]
    assert lay["xaxis"]["title"]["text"] == "Predicted"
    assert lay["yaxis"]["title"]["text"] == "Actual"
    heat = spec["data"][0]
    assert heat["x"] == ["not cat", "cat"] and heat["y"] == ["not cat", "cat"]
    assert heat["customdata"] == [[point.tn, point.fp], [point.fn, point.tp]]
    assert heat["z"][1][1] == pytest.approx(point.recall)
    assert f"TP <b>{point.tp:,.0f}</b>" in heat["text"][1][1]


def test_tally_shares_and_ceilings(demo: Results) -> None:
    spec = tally_spec(demo, "dev")
    _strict_json(spec)
    table = demo.tally("dev")
    bars = spec["data"][0]
    assert bars["y"] == [str(c) for c in table.index]
    assert bars["x"] == pytest.approx(table["share"].tolist())
    assert all(lo >= 0 and hi >= 0 for lo, hi in zip(bars["error_x"]["arrayminus"],
                                                     bars["error_x"]["array"], strict=True))


def _evil_results() -> Results:
    rng = np.random.default_rng(3)
    n = 400
    y = rng.integers(0, 2, n)
    frame = pd.DataFrame({
        "id": np.arange(n), "split": np.repeat(["train", "dev"], n // 2),
        "label": np.where(y == 1, EVIL, "cat<b>"),
        "score": np.clip(y * 0.3 + rng.random(n) * 0.7, 0, 1),
        "model": EVIL,
    })
    return Results.from_frame(frame, score="score", pos_label=EVIL, human_level=0.01)


def test_user_strings_are_escaped_everywhere() -> None:
    r = _evil_results()
    specs = [waterfall_spec(r), curves_spec(r, "dev"),
             confusion_spec(r.operating_point("dev"), ("cat<b>", EVIL)), tally_spec(r, "dev")]
    for spec in specs:
        text = " ".join(_strings(spec))
        assert "<a href" not in text and "cat<b>" not in text
    assert "&lt;a href=" in " ".join(_strings(specs[2]))


def test_nan_becomes_null_and_json_safe_refuses_objects() -> None:
    # an undefined rate (NaN, as a weighted split with no weight could give) is null
    frame = pd.DataFrame({"id": range(6), "split": ["dev"] * 6, "label": [0, 0, 0, 0, 1, 1],
                          "score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]})
    r = Results.from_frame(frame, score="score", pos_label=1, human_level=0.0)
    r.threshold = 0.9
    point = dataclasses.replace(r.operating_point("dev"), precision=float("nan"))
    marks = curves_marks(point)
    assert None in json.loads(_strict_json(marks))["traces"][
        str(CURVE_TRACES.index("markers"))]["y"]
    for spec in (curves_spec(r, "dev"), confusion_spec(point, ("0", "1")), waterfall_spec(r)):
        _strict_json(spec)
    assert json_safe({"a": np.array([1.0, np.nan]), "b": (np.int64(2), np.inf)}) == {
        "a": [1.0, None], "b": [2, None]}
    with pytest.raises(TypeError):
        json_safe({"a": object()})


def test_every_figure_has_a_text_alternative_with_its_numbers(demo: Results) -> None:
    """Screen readers read each figure's title and labelled marks (WCAG 1.1.1)."""
    from dashboard.figures.spec import alt_text
    from dashboard.figures.tally import tally_spec
    from dashboard.figures.waterfall import waterfall_spec
    from dashboard.widgets.figure import PlotlyFigure

    errors = demo.error_rates()["error"]
    words = alt_text(waterfall_spec(demo))
    assert f"dev: {100 * errors['dev']:.1f}%" in words and "<" not in words
    tally = demo.tally("dev")
    words = alt_text(tally_spec(demo, "dev"))
    for cat in demo.categories:
        assert f"{cat}: {100 * tally.loc[cat, 'share']:.0f}%" in words
    figure = PlotlyFigure(tally_spec(demo, "dev"))
    assert figure.alt == words and figure.alt.startswith("Share of the 100 reviewed")


def test_threshold_line_hue_stands_apart_and_no_tick_collides_at_the_pr_origin(
        demo: Results) -> None:
    """The threshold line is told from every split's PR curve by hue (light and dark), and
    the PR plot's recall axis prints no "0%" under the precision axis' "0%"."""
    import colorsys

    from dashboard.figures.explorer import curves_spec
    from dashboard.figures.theme import COLORS, dark_color

    def hue(colour: str) -> float:
        r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
        return 360 * colorsys.rgb_to_hls(r, g, b)[0]

    for theme in (lambda c: c, dark_color):
        line = hue(theme(COLORS["threshold"]))
        for split in ("train", "train_dev", "dev", "test"):
            gap = abs(line - hue(theme(COLORS[split])))
            assert min(gap, 360 - gap) >= 30, (split, gap)
    spec = curves_spec(demo, "dev")
    assert 0 not in spec["layout"]["xaxis2"]["tickvals"]


def test_tally_labels_start_past_the_interval(demo: Results) -> None:
    """Each "61% · ceiling 3.32%" label starts at its interval's upper end (the whisker used to
    run through it)."""
    table = demo.tally("dev")
    labels = tally_spec(demo, "dev")["data"][1]
    assert labels["mode"] == "text" and labels["textposition"] == "middle right"
    assert labels["x"] == pytest.approx(table["share_high"].tolist())
    assert labels["y"] == [str(c) for c in table.index]
