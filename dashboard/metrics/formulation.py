"""The general formulation of the gaps: a table of human level, trained-on and held-out error
for the training distribution and the dev/test distribution (DOMAIN.md section 1).

Rows are *human level*, *error on examples trained on* and *error on examples not trained on*;
columns are the *training distribution* and the *dev distribution*. Reading across a row shows
how much harder the dev distribution is; reading down a column shows bias and variance. A cell
the data cannot fill stays blank (``None``) with a sentence saying why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "COLUMNS",
    "ROWS",
    "Formulation",
    "general_formulation",
    "is_dev_reference",
    "split_references",
]

ROWS = ("human level", "trained on", "not trained on")
COLUMNS = ("training distribution", "dev distribution")

_EPS = 1e-9


def is_dev_reference(name: str) -> bool:
    """Whether a human-level reference was measured on the dev distribution.

    The convention: its name ends with ``(dev)`` or contains ``dev distribution``
    (case-insensitive), e.g. ``"typical person (dev)"``.
    """
    text = name.strip().lower()
    return text.endswith("(dev)") or "dev distribution" in text


def split_references(references: Iterable[tuple[str, float]],
                     selected: str | None = None) -> tuple[tuple[str, float] | None,
                                                           tuple[str, float] | None]:
    """The human level of each distribution: ``(training reference, dev reference)``.

    For each distribution the ``selected`` reference is used when it belongs to it, else its
    lowest reference (the Bayes proxy for that distribution); ``None`` when there is none.
    """
    train_refs = sorted(((n, r) for n, r in references if not is_dev_reference(n)),
                        key=lambda kv: kv[1])
    dev_refs = sorted(((n, r) for n, r in references if is_dev_reference(n)),
                      key=lambda kv: kv[1])

    def pick(refs: list[tuple[str, float]]) -> tuple[str, float] | None:
        for name, rate in refs:
            if name == selected:
                return (name, rate)
        return refs[0] if refs else None

    return pick(train_refs), pick(dev_refs)


@dataclass(frozen=True)
class Formulation:
    """The general-formulation table: ``cells[(row, column)]`` is a rate or ``None`` (blank).

    ``blank_reasons`` says, for each blank cell, why the data cannot fill it; ``notes`` holds
    what the filled table shows (e.g. that the dev distribution is intrinsically harder).
    """

    cells: dict[tuple[str, str], float | None]
    blank_reasons: dict[tuple[str, str], str] = field(default_factory=dict)
    sources: dict[tuple[str, str], str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __getitem__(self, key: tuple[str, str]) -> float | None:
        return self.cells[key]

    @property
    def filled(self) -> int:
        """How many cells hold a value."""
        return sum(v is not None for v in self.cells.values())

    @property
    def fillable(self) -> bool:
        """Whether the table says more than the waterfall: a measured error in both columns."""
        measured = ("trained on", "not trained on")
        return (any(self.cells[(r, COLUMNS[0])] is not None for r in measured)
                and any(self.cells[(r, COLUMNS[1])] is not None for r in measured))

    def to_rows(self) -> list[list[float | None]]:
        """The table as a list of rows in ``ROWS`` order, columns in ``COLUMNS`` order."""
        return [[self.cells[(r, c)] for c in COLUMNS] for r in ROWS]


def general_formulation(*, human_train: float | None = None, human_dev: float | None = None,
                        train: float | None = None, train_dev: float | None = None,
                        dev: float | None = None, trained_on_dev: float | None = None,
                        human_train_name: str | None = None,
                        human_dev_name: str | None = None) -> Formulation:
    """Fill the general-formulation table from the errors the data gives.

    Parameters
    ----------
    human_train, human_dev
        Human-level error measured on the training and on the dev distribution.
    train, train_dev, dev
        Error on the train split (trained on, training distribution), on train_dev (not
        trained on, training distribution) and on dev (not trained on, dev distribution).
    trained_on_dev
        Error on dev-distribution examples the model was trained on, when such a split exists.
    human_train_name, human_dev_name
        Names of the references, quoted in ``sources``.
    """
    tr, dv = COLUMNS
    cells: dict[tuple[str, str], float | None] = {
        ("human level", tr): human_train,
        ("human level", dv): human_dev,
        ("trained on", tr): train,
        ("trained on", dv): trained_on_dev,
        ("not trained on", tr): train_dev,
        ("not trained on", dv): dev,
    }
    why = {
        ("human level", tr): "no human-level reference was given for the training distribution",
        ("human level", dv): "no human-level reference was measured on the dev distribution "
                             "(name one '… (dev)' to fill this cell)",
        ("trained on", tr): "no train split",
        ("trained on", dv): "the model was not trained on dev-distribution examples in these "
                            "results (that needs a split of trained-on dev-like examples)",
        ("not trained on", tr): "no train_dev split (held-out examples of the training "
                                "distribution)",
        ("not trained on", dv): "no dev split",
    }
    blank = {k: why[k] for k, v in cells.items() if v is None}
    sources = {
        ("human level", tr): f"human level: {human_train_name}" if human_train_name else
        "human level",
        ("human level", dv): f"human level: {human_dev_name}" if human_dev_name else
        "human level",
        ("trained on", tr): "train split",
        ("trained on", dv): "trained-on dev-distribution examples",
        ("not trained on", tr): "train_dev split",
        ("not trained on", dv): "dev split",
    }
    sources = {k: v for k, v in sources.items() if cells[k] is not None}

    notes: list[str] = []
    if human_train is not None and human_dev is not None:
        diff = human_dev - human_train
        if diff > _EPS:
            notes.append(f"Humans err {_pp(diff)} more on the dev distribution: it is "
                         "intrinsically harder, so part of the data mismatch is not "
                         "avoidable.")
        elif diff < -_EPS:
            notes.append(f"Humans err {_pp(-diff)} less on the dev distribution: it is "
                         "intrinsically easier than the training data.")
        else:
            notes.append("Humans err equally on both distributions: neither is intrinsically "
                         "harder.")
    if human_dev is not None and dev is not None:
        gap = dev - human_dev
        where = "above" if gap >= 0 else "below"
        notes.append(f"On the dev distribution the model errs {_pp(abs(gap))} {where} human "
                     "level.")
    return Formulation(cells=cells, blank_reasons=blank, sources=sources, notes=tuple(notes))


def _pp(diff: float) -> str:
    return f"{diff * 100:.1f} pp"
