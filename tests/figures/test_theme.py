"""Every figure colour is readable on its background, in light and dark (WCAG 2 contrast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import Results
from dashboard.figures import confusion_spec, curves_marks, curves_spec, tally_spec
from dashboard.figures import waterfall_spec as wf
from dashboard.figures.explorer import apply_marks
from dashboard.figures.theme import (
    BACKGROUND,
    COLORS,
    LINE_COLORS,
    MODEL_COLORS,
    TEXT_COLORS,
    contrast,
    presentation,
    themed,
)

THEMES = ("light", "dark")


def test_contrast_matches_wcag_reference_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    # the case: #111827 on JupyterLab Dark's #111 is unreadable
    assert contrast("#111827", "#111111") < 1.2


@pytest.mark.parametrize("theme", THEMES)
def test_palette_text_and_lines_contrast(theme: str) -> None:
    bg = BACKGROUND[theme]
    for key in TEXT_COLORS:
        color = themed(COLORS[key], theme)
        assert contrast(color, bg) >= 4.5, (theme, key, color)
    for key in (*LINE_COLORS, *TEXT_COLORS):
        color = themed(COLORS[key], theme)
        assert contrast(color, bg) >= 3.0, (theme, key, color)
    for color in MODEL_COLORS:
        assert contrast(themed(color, theme), bg) >= 4.5, (theme, color)


def _walk(node: object, path: str = ""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, node


def _colors(value: object) -> list[str]:
    if isinstance(value, str) and (value.startswith("#") or value.startswith("rgb")):
        return [value]
    return []


@pytest.fixture(scope="module")
def specs(demo_path: Path) -> dict[str, dict]:
    r = Results.from_file(demo_path)
    point = r.operating_point("dev")
    other = [m for m in r.models if m != r.model][0]
    return {"waterfall": wf(r), "pair": wf(r, compare=other),
            "curves": apply_marks(curves_spec(r, "dev", overlay="train_dev"),
                                  curves_marks(point, r.best_threshold("dev"))),
            "confusion": confusion_spec(point, ("not cat", "cat")), "tally": tally_spec(r)}


@pytest.mark.parametrize("theme", THEMES)
def test_every_line_and_text_colour_in_the_specs(specs: dict[str, dict], theme: str) -> None:
    """Trace lines ≥ 3:1 and text ≥ 4.5:1 against the page, as the view draws them."""
    bg = BACKGROUND[theme]
    checked = 0
    for name, spec in specs.items():
        spec = themed(spec, theme)
        font = spec["layout"]["font"]["color"]
        assert contrast(font, bg) >= 4.5, (name, theme)
        for trace in spec["data"]:
            if trace.get("type") == "heatmap":
                continue  # text sits on its cells: checked below
            for path, value in _walk(trace):
                for color in _colors(value):
                    faded = color.startswith("rgba") and float(color.rstrip(")").split(",")[-1]) < 1
                    if faded or "marker.line" in path or "fgcolor" in path:
                        continue  # fills and outlines sit beside a full-strength line or label
                    need = 4.5 if "textfont" in path else 3.0
                    assert contrast(color, bg) >= need, (name, theme, path, color)
                    checked += 1
    assert checked > 20


@pytest.mark.parametrize("theme", THEMES)
def test_confusion_matrix_text_on_its_cells(specs: dict[str, dict], theme: str) -> None:
    heat = themed(specs["confusion"], theme)["data"][0]
    text = heat["textfont"]["color"]
    for _, cell in heat["colorscale"]:
        assert contrast(text, cell) >= 4.5, (theme, text, cell)


def test_presentation_enlarges_through_the_layout(specs: dict[str, dict]) -> None:
    spec = specs["curves"]
    big = presentation(spec)
    assert big["layout"]["font"]["size"] > spec["layout"]["font"]["size"]
    assert big["layout"]["height"] > spec["layout"]["height"]
    assert big["layout"]["margin"]["l"] > spec["layout"]["margin"]["l"]
    assert big["layout"]["legend"]["y"] < 0  # the legend moves below the plot
    assert spec["layout"]["font"]["size"] == 13  # the original is kept
