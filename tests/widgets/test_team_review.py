"""Two reviewers' tally grids on one store, driven from Python: identity from the page or from
JupyterHub, conflicts that hold the answer back until reconciled, a split of the sample with
each reviewer's next example, and the agreement per category."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import Results, TallyGrid


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    label = rng.integers(0, 2, n)
    score = np.where(rng.random(n) < 0.3, 1 - label, label) * 0.8 + 0.1
    return pd.DataFrame({"id": np.arange(n), "split": "dev", "label": label, "score": score})


def _grid(tmp_path: Path, author: str | None = None) -> TallyGrid:
    grid = TallyGrid(Results.from_frame(_frame()), store=tmp_path / "team.sqlite",
                     author=author)
    grid.session.add_category("blurry")
    grid.refresh()
    return grid


def _tick(grid: TallyGrid, key: str, value: bool) -> bool:
    return grid._table.receive({"event": "edit", "key": key, "field": "tag",
                                "category": "blurry", "value": value})


def test_a_page_names_its_reviewer_once_and_the_hub_user_wins(tmp_path: Path,
                                                               monkeypatch) -> None:
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    grid = _grid(tmp_path)
    assert grid._table.ask_reviewer
    assert grid._table.receive({"event": "reviewer", "name": "ana"})
    assert grid.store.author == "ana" and grid._author_box.value == "ana"
    assert "Reviewing as <b>ana</b>" in grid._whoami.value
    for bad in ({"event": "reviewer", "name": "x" * 81}, {"event": "reviewer", "name": 3},
                {"event": "reviewer", "name": "a\nb"}, {"event": "reviewer", "name": "a",
                                                        "extra": 1}):
        assert not grid._table.receive(bad)
    assert grid.store.author == "ana"
    monkeypatch.setenv("JUPYTERHUB_USER", "hubana")
    hub = _grid(tmp_path)
    assert hub.store.author == "hubana" and not hub._table.ask_reviewer
    assert hub._author_box.disabled and "(JupyterHub)" in hub._whoami.value
    assert not hub._table.receive({"event": "reviewer", "name": "mallory"})
    hub._author_box.value = "mallory"
    assert hub.store.author == "hubana"


def test_conflicts_hold_the_answer_until_reconciled(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    ana = _grid(tmp_path, "ana")
    ben = _grid(tmp_path, "ben")
    key = ana._table.shown_keys[0]
    assert _tick(ana, key, True)
    ben.refresh()
    assert _tick(ben, key, False)
    assert "in conflict between reviewers" in ben._answer.value
    assert ben._reconcile_bar.layout.display is None
    label, picked = ben._conflict_pick.options[0]
    assert picked == (key, "blurry") and "ana ✓" in label and "ben ✗" in label
    assert ben.results.tally().attrs["reviewed"] == 0  # not counted while in conflict
    ben._ticked_button.click()
    assert "in conflict" not in ben._answer.value
    assert ben.store.resolutions()["by"].tolist() == ["ben"]
    assert ben.results.tally().attrs["reviewed"] == 1
    assert "Agreement" in ben._agreement_html.value


def test_split_the_sample_and_go_to_my_next_example(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    ana = _grid(tmp_path, "ana")
    ana._reviewers_box.value = "ana, ben, cy"
    ana._assign_button.click()
    shares = {r: ana.store.assignment(r)["example_id"].tolist() for r in ("ana", "ben", "cy")}
    total = len(ana._sample)
    assert sum(len(v) for v in shares.values()) == total + round(0.2 * total)
    assert f"your {len(shares['ana'])} of {total} (0 done)" in ana._whoami.value
    first = ana.show_next_mine()
    assert first == shares["ana"][0] and first in ana._table.shown_keys
    _tick(ana, first, True)
    assert "(1 done)" in ana._whoami.value
    assert ana.show_next_mine() == shares["ana"][1]


def test_the_keyboard_legend_and_handlers_are_in_the_page_script() -> None:
    from dashboard.widgets.review_table import _ESM

    for needed in ('"j"', '"k"', "ArrowDown", "ArrowUp", "/^[1-9]$/", '"c"', '"Enter"',
                   "Escape", "localStorage", "mldash-key-legend"):
        assert needed in _ESM, needed
    pytest.importorskip("playwright")
