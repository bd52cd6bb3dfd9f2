"""The gap decomposition: human level → train → train_dev → dev → test, and what to try next."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from dashboard.errors import DashboardError
from dashboard.metrics.intervals import gap_interval, gap_p_value
from dashboard.metrics.slices import holm

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
#: variance's name without a train_dev split: dev − train holds data mismatch too
MERGED_LABEL = "variance or data mismatch"

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
#: family-wise error rate of the gaps called significant (and so of the focus named)
ALPHA = 0.05
_EPS = 1e-9


def _rate(name: object, value: object) -> float:
    """One human-level error as a fraction in [0, 1]; anything else is one clear error."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise DashboardError(f"human-level error {str(name)!r} must be a number in [0, 1] "
                             f"(e.g. 0.03 for 3%), got {value!r}")
    rate = float(value)
    if not (0.0 <= rate <= 1.0):
        hint = f" (did you mean {rate:g}%?)" if 1 < rate <= 100 else ""
        raise DashboardError(f"human-level error {str(name)!r} = {rate:g} is not a rate in "
                             f"[0, 1]{hint}")
    return rate


@dataclass(frozen=True)
class HumanLevel:
    """Named human-level error references; the lowest is the proxy for Bayes error."""

    references: tuple[tuple[str, float], ...]
    given: bool = True

    @classmethod
    def coerce(cls, value: HumanLevel | float | Mapping[str, float] | None) -> HumanLevel:
        """Accept one number, a mapping of names to rates, or ``None`` (no reference: 0)."""
        if isinstance(value, HumanLevel):
            return value
        if value is None:
            return cls((("human level (not given: 0)", 0.0),), given=False)
        if isinstance(value, Mapping):
            items = tuple((str(k), _rate(k, v)) for k, v in value.items())
        else:
            items = (("human level", _rate("human level", value)),)
        if not items:
            raise DashboardError("human_level mapping is empty")
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
    ``significant`` tells, per gap, whether it differs from zero after Holm's adjustment over
    the gaps measured (``p_values``); ``intervals`` are each gap's own 95% interval.
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
    human_given: bool = True
    undecided: str = ""
    #: per gap, its p-value Holm-adjusted over the gaps measured (``significant``: < 5%)
    p_values: dict[str, float] = field(default_factory=dict)

    def gaps(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in GAP_NAMES}

    @property
    def merged(self) -> bool:
        """Whether variance is dev − train (no train_dev split), data mismatch inside it."""
        return self.steps.get("variance") == ("train", "dev")

    def label(self, gap: str) -> str:
        """A gap's name as the bar shows it: "variance or data mismatch" without train_dev."""
        if gap == "variance" and self.merged:
            return MERGED_LABEL
        return GAP_LABELS[gap]

    @property
    def headline(self) -> str:
        """One sentence naming the focus gap(s) with their sizes."""
        if self.undecided:
            return self.undecided
        if not self.focus:
            measured = [g for g in GAP_NAMES if getattr(self, g) is not None]
            if not measured:
                return ("No gap can be measured from these splits: add train (and train_dev) "
                        "results beside dev.")
            return ("No positive gap to focus on: each split's error is at or below the one "
                    "before it in the walk.")
        parts = [f"{self.label(g)} ({self.size_text(g)})" for g in self.focus]
        joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"Focus on {joined}."

    def size_text(self, gap: str) -> str:
        """A gap's size; avoidable bias without a human level is an upper bound."""
        value = _pp(getattr(self, gap))
        if gap == "avoidable_bias" and not self.human_given:
            return f"at most {value}: no human level given"
        if gap == "variance" and self.merged:
            return f"{value}: no train-dev split to tell them apart"
        return value

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
                lines.append(f"  {self.label(g):<16} {_pp(v):>9}{sig}")
        for g in self.focus:
            lines.append(f"Try for {self.label(g)}:")
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
                   focus_ratio: float = FOCUS_RATIO, human_given: bool = True) -> GapReport:
    """Split the walk from human level to test error into named gaps (DOMAIN.md section 1).

    Without ``train_dev`` the variance is ``dev - train`` and data mismatch cannot be
    separated from it (a note says so). ``n`` maps split names to sample sizes: each gap then
    gets Newcombe's 95% interval and the focus is chosen only among gaps whose interval
    excludes zero (every positive gap at least ``focus_ratio`` of the largest such gap); when
    none does, the report says the data cannot tell yet and names the split that is too
    small. Without ``n`` the gaps are taken as exact (the golden cases). A split whose error
    is NaN (no rows, or zero total weight) counts as missing. ``human_given=False`` marks
    avoidable bias as an upper bound.
    """
    errors: dict[str, float | None] = {"human": float(human)}
    notes: list[str] = []
    for name, value in (("train", train), ("train_dev", train_dev), ("dev", dev),
                        ("test", test)):
        if value is not None and math.isnan(float(value)):
            notes.append(f"The {name} split has no rows or zero total weight: its error is "
                         "undefined and it is left out.")
            value = None
        errors[name] = None if value is None else float(value)
    train, train_dev, dev, test = (errors[k] for k in ("train", "train_dev", "dev", "test"))
    sizes: dict[str, float | None] = {"human": None, **{k: (n or {}).get(k) for k in
                                                          ("train", "train_dev", "dev", "test")}}
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
    if not human_given and train is not None:
        notes.append("No human level was given: avoidable bias is measured from 0% error, so "
                     "it is an upper bound. Give a human-level reference (the error of a "
                     "person or a team on these examples) to separate it from unavoidable "
                     "error.")

    intervals: dict[str, tuple[float, float]] = {}
    p_raw: dict[str, float] = {}
    for name, (lo, hi) in steps.items():
        n_lo, n_hi = sizes[lo], sizes[hi]
        if n_lo is None and n_hi is None:
            continue
        intervals[name] = gap_interval(float(errors[hi]), n_hi, float(errors[lo]), n_lo)
        p_raw[name] = gap_p_value(float(errors[hi]), n_hi, float(errors[lo]), n_lo)
    # a gap is called significant after Holm's adjustment over every gap measured: on splits
    # with no gap at all, some gap is named in at most 5% of datasets (10% unadjusted)
    names = list(p_raw)
    adjusted = holm(np.array([p_raw[k] for k in names])) if names else np.empty(0)
    p_values = dict(zip(names, adjusted.tolist(), strict=True))
    significant = {k: bool(p_values[k] < ALPHA) for k in names}

    # negative gaps are information: say what they mean, when the data shows them
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
        if value is not None and value < -_EPS and significant.get(name, True):
            notes.append(f"{GAP_LABELS[name].capitalize()} is negative ({_pp(value)}). "
                         + explain[name])

    positive = {k: v for k, v in gaps.items() if v is not None and v > _EPS}
    eligible = {k: v for k, v in positive.items() if significant.get(k, True)}
    focus: tuple[str, ...] = ()
    undecided = ""
    if eligible:
        top = max(eligible.values())
        focus = tuple(k for k in GAP_NAMES
                      if k in eligible and eligible[k] >= focus_ratio * top - _EPS)
        quiet = [GAP_LABELS[k] for k in positive if k not in eligible]
        if quiet:
            notes.append(f"Not significant at 95%, so not a focus: {', '.join(quiet)}.")
    elif positive:
        undecided = _undecided(positive, intervals, steps, sizes)
    tactics = {g: TACTICS[g] for g in focus}
    if "variance" in tactics and train_dev is None:  # mismatch is inside it: advise for both
        tactics["variance"] = TACTICS["variance"] + tuple(
            t for t in TACTICS["data_mismatch"] if t not in TACTICS["variance"])
    return GapReport(
        human=float(human), train=train, train_dev=train_dev, dev=dev, test=test,
        **gaps, focus=focus, tactics=tactics, notes=tuple(notes),
        intervals=intervals, significant=significant, steps=steps, human_given=human_given,
        undecided=undecided, p_values=p_values,
    )


def _undecided(positive: Mapping[str, float], intervals: Mapping[str, tuple[float, float]],
               steps: Mapping[str, tuple[str, str]],
               sizes: Mapping[str, float | None]) -> str:
    """The headline when no positive gap is significant: which gap, and which split is small."""
    top = max(positive, key=lambda k: positive[k])
    lo, hi = intervals[top]
    measured = [s for s in steps[top] if sizes.get(s) is not None]
    small = min(measured, key=lambda s: float(sizes[s] or 0))
    size = float(sizes[small] or 0)
    name = MERGED_LABEL if steps[top] == ("train", "dev") else GAP_LABELS[top]
    return (f"The data cannot yet tell the gaps apart: the largest, {name} "
            f"({_pp(positive[top])}, 95%: {_pp(lo)} to {_pp(hi)}), is within noise. The "
            f"{small} split ({size:,.0f} examples) is too small to show it: a larger one, or "
            "more splits, would.")
