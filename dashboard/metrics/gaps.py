"""The gap decomposition: human level → train → train_dev → dev → test, and what to try next."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from dashboard.metrics.intervals import gap_interval

__all__ = [
    "FOCUS_RATIO",
    "GAP_LABELS",
    "GAP_NAMES",
    "TACTICS",
    "GapReport",
    "HumanLevel",
    "decompose_gaps",
]

GAP_NAMES = ("avoidable_bias", "variance", "data_mismatch", "dev_overfitting")

GAP_LABELS = {
    "avoidable_bias": "avoidable bias",
    "variance": "variance",
    "data_mismatch": "data mismatch",
    "dev_overfitting": "dev overfitting",
}

#: (from, to) split of each gap when every split exists
GAP_STEPS = {
    "avoidable_bias": ("human", "train"),
    "variance": ("train", "train_dev"),
    "data_mismatch": ("train_dev", "dev"),
    "dev_overfitting": ("dev", "test"),
}

TACTICS: dict[str, tuple[str, ...]] = {
    "avoidable_bias": (
        "Train a bigger model.",
        "Train longer.",
        "Use a better optimisation algorithm (momentum, RMSprop, Adam).",
        "Search for a better architecture or hyperparameters.",
    ),
    "variance": (
        "Get more training data.",
        "Regularise (L2, dropout, data augmentation).",
        "Search for a better architecture or hyperparameters.",
    ),
    "data_mismatch": (
        "Do error analysis to understand how dev differs from the training data.",
        "Collect or synthesise training data that looks like dev (beware synthesising from a "
        "tiny slice: the model overfits it).",
    ),
    "dev_overfitting": (
        "Get a bigger dev set.",
        "Stop tuning on this dev set.",
    ),
}

#: a gap is a focus when it is positive and at least this share of the largest gap
FOCUS_RATIO = 0.75
_EPS = 1e-9


@dataclass(frozen=True)
class HumanLevel:
    """Named human-level error references; the lowest is the proxy for Bayes error."""

    references: tuple[tuple[str, float], ...]

    @classmethod
    def coerce(cls, value: HumanLevel | float | Mapping[str, float] | None) -> HumanLevel:
        """Accept one number, a mapping of names to rates, or ``None`` (no reference: 0)."""
        if isinstance(value, HumanLevel):
            return value
        if value is None:
            return cls((("human level (not given: 0)", 0.0),))
        if isinstance(value, Mapping):
            items = tuple((str(k), float(v)) for k, v in value.items())
        else:
            items = (("human level", float(value)),)
        if not items:
            raise ValueError("human_level mapping is empty")
        for name, rate in items:
            if not (0.0 <= rate <= 1.0) or math.isnan(rate):
                raise ValueError(f"human-level error {name!r} = {rate} is not a rate in [0, 1]")
        return cls(tuple(sorted(items, key=lambda kv: kv[1])))

    @property
    def bayes_proxy(self) -> float:
        return self.references[0][1]

    @property
    def bayes_name(self) -> str:
        return self.references[0][0]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.references)

    def __getitem__(self, name: str) -> float:
        for key, rate in self.references:
            if key == name:
                return rate
        raise KeyError(name)


@dataclass(frozen=True)
class GapReport:
    """Errors per split, the gaps between them, the focus and what to try next.

    Gaps that cannot be computed (a split is missing) are ``None``; negative gaps are kept.
    ``significant`` tells, per gap, whether its 95% interval excludes zero.
    """

    human: float
    train: float | None
    train_dev: float | None
    dev: float | None
    test: float | None
    avoidable_bias: float | None
    variance: float | None
    data_mismatch: float | None
    dev_overfitting: float | None
    focus: tuple[str, ...]
    tactics: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    significant: dict[str, bool] = field(default_factory=dict)
    steps: dict[str, tuple[str, str]] = field(default_factory=dict)

    def gaps(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in GAP_NAMES}

    @property
    def headline(self) -> str:
        """One sentence naming the focus gap(s) with their sizes."""
        if not self.focus:
            return "No positive gap to focus on: the model is at human level on every split given."
        parts = [f"{GAP_LABELS[g]} ({_pp(getattr(self, g))})" for g in self.focus]
        joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"Focus on {joined}."

    @property
    def diagnosis(self) -> str:
        """The headline followed by the notes, as one paragraph."""
        return " ".join((self.headline, *self.notes))

    def __str__(self) -> str:
        lines = [self.headline]
        for g in GAP_NAMES:
            v = getattr(self, g)
            if v is not None:
                sig = "" if self.significant.get(g, True) else " (not significant)"
                lines.append(f"  {GAP_LABELS[g]:<16} {_pp(v):>9}{sig}")
        for g in self.focus:
            lines.append(f"Try for {GAP_LABELS[g]}:")
            lines.extend(f"  - {t}" for t in self.tactics[g])
        lines.extend(self.notes)
        return "\n".join(lines)


def _pp(rate: float | None) -> str:
    """A rate difference in percentage points."""
    if rate is None:
        return "n/a"
    return f"{rate * 100:+.1f} pp" if abs(rate) >= 0.001 - 1e-12 else f"{rate * 100:+.2f} pp"


def decompose_gaps(human: float, train: float | None = None, train_dev: float | None = None,
                   dev: float | None = None, test: float | None = None, *,
                   n: Mapping[str, float] | None = None,
                   focus_ratio: float = FOCUS_RATIO) -> GapReport:
    """Split the walk from human level to test error into named gaps (DOMAIN.md section 1).

    Without ``train_dev`` the variance is ``dev - train`` and data mismatch cannot be
    separated from it (a note says so). The focus is every positive gap that is at least
    ``focus_ratio`` of the largest. ``n`` maps split names to sample sizes, for intervals.
    """
    errors = {"human": human, "train": train, "train_dev": train_dev, "dev": dev, "test": test}
    sizes: dict[str, float | None] = {"human": None, **{k: (n or {}).get(k) for k in
                                                          ("train", "train_dev", "dev", "test")}}
    notes: list[str] = []
    gaps: dict[str, float | None] = dict.fromkeys(GAP_NAMES)
    steps: dict[str, tuple[str, str]] = {}

    def step(name: str, lo: str, hi: str) -> None:
        if errors[lo] is not None and errors[hi] is not None:
            gaps[name] = float(errors[hi]) - float(errors[lo])
            steps[name] = (lo, hi)

    step("avoidable_bias", "human", "train")
    if train_dev is not None:
        step("variance", "train", "train_dev")
        step("data_mismatch", "train_dev", "dev")
    else:
        step("variance", "train", "dev")
        if dev is not None and train is not None:
            notes.append("No train_dev split: variance is measured as dev − train, and data "
                         "mismatch cannot be separated from it.")
    step("dev_overfitting", "dev", "test")
    if train is None:
        notes.append("No train split: avoidable bias and variance cannot be measured.")
    if dev is None:
        notes.append("No dev split: data mismatch and dev-set overfitting cannot be measured.")
    if test is None and dev is not None:
        notes.append("No test split: dev-set overfitting cannot be measured.")

    intervals: dict[str, tuple[float, float]] = {}
    significant: dict[str, bool] = {}
    for name, (lo, hi) in steps.items():
        n_lo, n_hi = sizes[lo], sizes[hi]
        if n_lo is None and n_hi is None:
            continue
        ci = gap_interval(float(errors[hi]), n_hi, float(errors[lo]), n_lo)
        intervals[name] = ci
        significant[name] = not (ci[0] <= 0.0 <= ci[1])

    # negative gaps are information: say what they mean
    explain = {
        "avoidable_bias": "Train error is below human level: the human reference may be too "
                          "pessimistic, or the model overfits the training set.",
        "variance": "The held-out error is below train error: the held-out examples are easier "
                    "than the training examples.",
        "data_mismatch": "Dev error is below train_dev error: the dev distribution is easier "
                         "than the training data.",
        "dev_overfitting": "Test error is below dev error: the test set is easier than dev, or "
                           "the difference is noise.",
    }
    for name, value in gaps.items():
        if value is not None and value < -_EPS:
            notes.append(f"{GAP_LABELS[name].capitalize()} is negative ({_pp(value)}). "
                         + explain[name])

    positive = {k: v for k, v in gaps.items() if v is not None and v > _EPS}
    focus: tuple[str, ...] = ()
    if positive:
        top = max(positive.values())
        focus = tuple(k for k in GAP_NAMES
                      if k in positive and positive[k] >= focus_ratio * top - _EPS)
    return GapReport(
        human=float(human), train=train, train_dev=train_dev, dev=dev, test=test,
        **gaps, focus=focus, tactics={g: TACTICS[g] for g in focus}, notes=tuple(notes),
        intervals=intervals, significant=significant, steps=steps,
    )
