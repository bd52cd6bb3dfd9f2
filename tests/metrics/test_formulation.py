"""The general-formulation table (DOMAIN.md section 1): cells, blanks and what they say."""

from __future__ import annotations

import pytest

from dashboard.metrics.formulation import (
    COLUMNS,
    ROWS,
    general_formulation,
    is_dev_reference,
    split_references,
)

TR, DV = COLUMNS


def test_speech_example_from_domain() -> None:
    # general speech vs in-car speech: human 4% / 6%, trained-on 7% / 6%, not trained on 10% / 6%
    table = general_formulation(human_train=0.04, human_dev=0.06, train=0.07,
                                trained_on_dev=0.06, train_dev=0.10, dev=0.06)
    assert table.to_rows() == [[0.04, 0.06], [0.07, 0.06], [0.10, 0.06]]
    assert table.filled == 6 and table.blank_reasons == {}
    assert table.fillable
    assert any("intrinsically harder" in n for n in table.notes)
    assert any("2.0 pp" in n for n in table.notes)  # 6% - 4%


def test_blanks_say_why() -> None:
    table = general_formulation(human_train=0.01, train=0.08, dev=0.10)
    assert table[("human level", DV)] is None
    assert table[("trained on", DV)] is None
    assert table[("not trained on", TR)] is None
    assert set(table.blank_reasons) == {("human level", DV), ("trained on", DV),
                                        ("not trained on", TR)}
    assert "dev distribution" in table.blank_reasons[("human level", DV)]
    assert "train_dev" in table.blank_reasons[("not trained on", TR)]
    assert "not trained on dev-distribution" in table.blank_reasons[("trained on", DV)]
    assert table.fillable  # train in one column, dev in the other
    assert table.notes == ()


def test_not_fillable_without_both_distributions() -> None:
    assert not general_formulation(human_train=0.01, train=0.08, train_dev=0.09).fillable
    assert not general_formulation(human_train=0.01, dev=0.1).fillable


def test_rows_and_columns_are_fixed() -> None:
    table = general_formulation()
    assert set(table.cells) == {(r, c) for r in ROWS for c in COLUMNS}
    assert table.filled == 0 and len(table.blank_reasons) == 6


@pytest.mark.parametrize("name, dev", [
    ("typical person (dev)", True),
    ("Experts (DEV)", True),
    ("human on the dev distribution", True),
    ("typical person", False),
    ("developer", False),
    ("dev team", False),
])
def test_dev_reference_convention(name: str, dev: bool) -> None:
    assert is_dev_reference(name) is dev


def test_split_references_prefers_the_selected_one() -> None:
    refs = (("team (dev)", 0.02), ("team", 0.005), ("typical (dev)", 0.05), ("typical", 0.03))
    assert split_references(refs) == (("team", 0.005), ("team (dev)", 0.02))
    assert split_references(refs, "typical") == (("typical", 0.03), ("team (dev)", 0.02))
    assert split_references(refs, "typical (dev)") == (("team", 0.005), ("typical (dev)", 0.05))
    assert split_references((("a", 0.01),)) == (("a", 0.01), None)


def test_easier_dev_distribution_note() -> None:
    table = general_formulation(human_train=0.05, human_dev=0.02, dev=0.01)
    assert any("intrinsically easier" in n for n in table.notes)
    assert any("below human level" in n for n in table.notes)
