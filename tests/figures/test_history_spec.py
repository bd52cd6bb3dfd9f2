"""The history figure against the Runs history table, without any widget."""

from __future__ import annotations

import colorsys
import json
from pathlib import Path

import pandas as pd
import pytest

from dashboard import Runs
from dashboard.figures.history import history_spec, history_spec_from_table
from dashboard.figures.spec import alt_text, json_safe
from dashboard.figures.theme import BACKGROUND, contrast, themed
from tests.runs_data import write_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    folder = tmp_path_factory.mktemp("history") / "runs"
    write_runs(folder)
    return Runs.from_folder(folder)


def test_each_level_and_gap_is_drawn_from_the_history(runs: Runs) -> None:
    spec = history_spec(runs)
    assert json.dumps(spec, allow_nan=False) and json_safe(spec) == spec
    history = runs.history()
    for (kind, _split), part in history.groupby(["kind", "split"], sort=False):
        trace = next(t for t in spec["data"] if t["name"] == part["label"].iloc[-1]
                     and t["mode"] == "lines+markers")
        assert trace["x"] == list(runs.names)
        assert trace["y"] == part["error"].tolist()
        assert trace["yaxis"] == ("y" if kind == "level" else "y2")
        lows = [e - lo for e, lo in zip(part["error"], part["error_low"], strict=True)]
        assert trace["error_y"]["arrayminus"] == pytest.approx([max(v, 0) for v in lows])
    marked = history[history["significant"]]
    rings = [t for t in spec["data"] if t["name"].endswith(": changed")]
    assert sorted((x, y) for t in rings for x, y in zip(t["x"], t["y"], strict=True)) == \
        sorted(zip(marked["run"], marked["error"], strict=True))
    assert rings and all(t["marker"]["symbol"] == "circle-open" for t in rings)
    per_run = history.drop_duplicates("run")
    f1 = next(t for t in spec["data"] if t["name"] == "dev F1 at the threshold")
    assert f1["y"] == per_run["f1"].tolist() and f1["yaxis"] == "y3"


def _hue_and_chroma(color: str) -> tuple[float, float]:
    r, g, b = (int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 360 * colorsys.rgb_to_hls(r, g, b)[0], max(r, g, b) - min(r, g, b)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_series_has_its_own_hue(runs: Runs, theme: str) -> None:
    """Each level, gap and threshold/F1 line has a colour no other series has: every coloured
    one sits at least 20 degrees of hue from every other (dev error once shared its hue with
    data mismatch, train-dev error with variance, the best threshold the threshold's), and
    the two greys (F1, best threshold) differ in lightness; a ring is drawn in its line's
    colour, and each colour reads on the page (3:1)."""
    spec = themed(history_spec(runs), theme)
    series = {t["name"]: t["line"]["color"] for t in spec["data"]
              if t.get("showlegend", True)}
    assert len(series) == 11  # four levels, four gaps, threshold, F1, best threshold
    assert len(set(series.values())) == len(series), series
    chromatic = {n: _hue_and_chroma(c)[0] for n, c in series.items()
                 if _hue_and_chroma(c)[1] >= 0.15}
    grey = [c for n, c in series.items() if n not in chromatic]
    assert len(chromatic) == 9 and len(grey) == 2  # F1 near black (near white when dark)
    assert contrast(grey[0], grey[1]) >= 2.0
    for a, ha in chromatic.items():
        for b, hb in chromatic.items():
            gap = abs(ha - hb)
            assert a == b or min(gap, 360 - gap) >= 20, (theme, a, b, ha, hb)
    for trace in spec["data"]:
        if trace["name"].endswith(": changed"):
            assert trace["marker"]["color"] == series[trace["name"].removesuffix(": changed")]
        else:
            assert contrast(trace["line"]["color"], BACKGROUND[theme]) >= 3.0


def test_the_history_reads_in_words(runs: Runs) -> None:
    words = alt_text(history_spec(runs))
    dev = runs.history().query("kind == 'level' and split == 'dev'")
    assert "dev error: run1: " + f"{dev['error'].iloc[0]:.1%}" in words
    assert "changed from the previous run" in words


def test_margin_thresholds_are_not_clipped_to_the_unit_range(runs: Runs) -> None:
    table = runs.history().copy()
    assert history_spec_from_table(table)["layout"]["yaxis3"]["range"] == [0, 1.05]
    table["threshold"] = -1.5
    assert "range" not in history_spec_from_table(table)["layout"]["yaxis3"]


def test_a_history_of_one_run_draws_without_changes(tmp_path: Path) -> None:
    folder = tmp_path / "one"
    write_runs(folder)
    for name in ("run2", "run3"):
        (folder / f"{name}.parquet").unlink()
        (folder / f"{name}.json").unlink()
    spec = history_spec(Runs.from_folder(folder))
    assert not [t for t in spec["data"] if t["name"].endswith(": changed")]
    assert isinstance(pd.DataFrame(spec["data"]), pd.DataFrame)
