"""Did it change between two runs? Error levels, gaps and review-category shares, tested.

Pure numbers in, frozen results out. A level (one split's error) is compared by the exact
McNemar test when both runs hold the same examples of the split (paired by id), else by
Fisher's exact test of two independent proportions. A gap's change, a difference of two
differences, gets the MOVER interval built from the four Wilson intervals (Newcombe's method,
extended) and the p-value at which it just touches zero. Every comparison of two runs is one
family: Holm's adjustment over its levels and gaps keeps "something changed" to 5% when
nothing did. :func:`what_changed` and :func:`shares_sentence` put the result in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from dashboard.errors import DashboardError
from dashboard.metrics.compare import mcnemar_from_counts
from dashboard.metrics.gaps import GAP_LABELS, GAP_NAMES
from dashboard.metrics.intervals import Z95, interval_p_value, wilson_interval
from dashboard.metrics.slices import holm

__all__ = [
    "ALPHA", "Change", "RunChange", "compare_levels_and_gaps", "fisher_exact_p",
    "mover_interval", "mover_p_value", "share_changes", "shares_sentence", "what_changed",
]

#: family-wise error rate of the changes called significant in one comparison
ALPHA = 0.05

SPLIT_LABELS = {"train": "train error", "train_dev": "train-dev error", "dev": "dev error",
                "test": "test error"}


def fisher_exact_p(errors_a: int, n_a: int, errors_b: int, n_b: int) -> float:
    """Two-sided p-value of Fisher's exact test that two independent proportions are equal.

    The 2×2 table ``[[errors_a, n_a - errors_a], [errors_b, n_b - errors_b]]``: the sum of
    the hypergeometric probabilities of every table (same margins) no more likely than the
    one seen (scipy's ``fisher_exact`` convention, relative tolerance 1e-7).
    """
    counts = (errors_a, n_a, errors_b, n_b)
    if any(isinstance(v, bool) or int(v) != v or v < 0 for v in counts):
        raise DashboardError(f"fisher_exact_p needs counts >= 0, got {counts}")
    a, na, b, nb = (int(v) for v in counts)
    if a > na or b > nb:
        raise DashboardError(f"fisher_exact_p: more errors than examples in {counts}")
    if na == 0 or nb == 0:
        return 1.0
    k, n = a + b, na + nb
    lo, hi = max(0, k - nb), min(k, na)
    x = np.arange(lo, hi + 1, dtype=np.float64)
    from scipy.special import gammaln  # imported when first needed

    def log_choose(top: float, bottom: np.ndarray) -> np.ndarray:
        return gammaln(top + 1) - gammaln(bottom + 1) - gammaln(top - bottom + 1)

    logp = log_choose(na, x) + log_choose(nb, k - x) - log_choose(n, np.array(float(k)))
    seen = logp[a - lo]
    # tables as likely as the one seen, up to rounding, count as "no more likely"
    keep = logp <= seen + math.log1p(1e-7)
    m = logp[keep].max()
    return float(min(1.0, math.exp(m) * np.exp(logp[keep] - m).sum()))


def mover_interval(terms: Sequence[tuple[int, float, float | None]], z: float = Z95
                   ) -> tuple[float, float]:
    """Interval of ``sum(sign * p)`` over independent rates (MOVER from Wilson intervals).

    ``terms`` are ``(sign, rate, n)``; ``n`` None is a rate given, not measured (a human
    level: exact). With two terms it is Newcombe's interval of a difference; with four, the
    change of a gap between two runs. NaN when a rate is missing.
    """
    d = 0.0
    below = above = 0.0
    for sign, p, n in terms:
        if p is None or math.isnan(p) or (n is not None and n <= 0):
            return (math.nan, math.nan)
        d += sign * p
        if n is None:
            continue
        lo, hi = wilson_interval(p * n, n, z)
        down, up = p - lo, hi - p
        below += (down if sign > 0 else up) ** 2
        above += (up if sign > 0 else down) ** 2
    return (d - math.sqrt(below), d + math.sqrt(above))


def mover_p_value(terms: Sequence[tuple[int, float, float | None]]) -> float:
    """Two-sided p-value matching :func:`mover_interval`: the level at which the interval
    just touches zero (bisection on z), so "95% interval excludes 0" and "p < 0.05" agree."""
    return interval_p_value(lambda z: mover_interval(terms, z))


@dataclass(frozen=True)
class Change:
    """One quantity in two runs: before, after, the test, and whether it changed.

    ``kind`` is ``"level"`` (a split's error), ``"gap"`` or ``"share"`` (a review category's
    share of the reviewed errors); ``key`` the split, gap or category; ``p_value`` is Holm-
    adjusted over its family (``p_raw`` before), ``significant`` is ``p_value < 0.05``.
    """

    kind: str
    key: str
    label: str
    before: float
    after: float
    p_raw: float
    p_value: float
    significant: bool
    test: str
    interval: tuple[float, float] = (math.nan, math.nan)

    @property
    def delta(self) -> float:
        return self.after - self.before

    @property
    def direction(self) -> str:
        """``"fell"``, ``"rose"`` or ``"held"`` (no significant change)."""
        if not self.significant:
            return "held"
        return "fell" if self.after < self.before else "rose"


@dataclass(frozen=True)
class RunChange:
    """Every level and gap compared between two runs, Holm-adjusted as one family."""

    before: str
    after: str
    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def get(self, kind: str, key: str) -> Change | None:
        return next((c for c in self.changes if c.kind == kind and c.key == key), None)

    @property
    def significant(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.significant)

    @property
    def sentence(self) -> str:
        return what_changed(self)


def _holm_family(raw: list[tuple[str, str, str, float, float, float, str, tuple]]
                 ) -> tuple[Change, ...]:
    """Changes from raw tests ``(kind, key, label, before, after, p, test, interval)``, with
    Holm's adjustment over those that could be tested (NaN p: not tested, never significant)."""
    ps = np.array([r[5] for r in raw], dtype=np.float64)
    tested = ~np.isnan(ps)
    adjusted = np.full(ps.shape, np.nan)
    if tested.any():
        adjusted[tested] = holm(ps[tested])
    return tuple(Change(kind=k, key=key, label=label, before=b, after=a, p_raw=float(p),
                        p_value=float(adj), significant=bool(adj < ALPHA), test=test,
                        interval=interval)
                 for (k, key, label, b, a, p, test, interval), adj in
                 zip(raw, adjusted.tolist(), strict=True))


def compare_levels_and_gaps(
    before: Mapping[str, tuple[int, int]], after: Mapping[str, tuple[int, int]], *,
    paired: Mapping[str, tuple[int, int]] | None = None,
    steps_before: Mapping[str, tuple[str, str]] | None = None,
    steps_after: Mapping[str, tuple[str, str]] | None = None,
    human_before: float = 0.0, human_after: float = 0.0,
    names: tuple[str, str] = ("before", "after"),
) -> RunChange:
    """Test each split's error and each gap between two runs, as one Holm family.

    ``before``/``after`` map a split to ``(errors, n)`` (unweighted counts). ``paired`` maps
    a split whose examples are the same in both runs to McNemar's discordant counts
    ``(wrong only before, wrong only after)``; other splits get Fisher's exact test. Gaps are
    compared where both runs measure them between the same splits (``steps_*``, as in
    :class:`~dashboard.metrics.gaps.GapReport`); avoidable bias with the same human level is
    the train error's change and shares its test (one hypothesis, counted once).
    """
    paired = paired or {}
    rate = {name: {s: e / n if n else math.nan for s, (e, n) in side.items()}
            for name, side in (("b", before), ("a", after))}
    raw: list = []
    notes: list[str] = []
    for split in SPLIT_LABELS:
        if split not in before or split not in after:
            continue
        (eb, nb), (ea, na) = before[split], after[split]
        if split in paired:
            only_b, only_a = paired[split]
            if only_a - only_b != ea - eb:
                raise DashboardError(f"{split}: the paired counts ({only_b}, {only_a}) do not "
                                     f"give the change in errors ({eb} -> {ea})")
            p, test = mcnemar_from_counts(int(only_b), int(only_a)).p_value, "McNemar (paired)"
        else:
            p, test = fisher_exact_p(eb, nb, ea, na), "Fisher (two proportions)"
        interval = mover_interval([(1, rate["a"][split], na), (-1, rate["b"][split], nb)])
        raw.append(("level", split, SPLIT_LABELS[split], rate["b"][split], rate["a"][split],
                    p, test, interval))
    sizes = {"b": {s: n for s, (_, n) in before.items()}, "a": {s: n for s, (_, n) in
                                                               after.items()}}
    humans = {"b": human_before, "a": human_after}
    shared_train: str | None = None
    for gap in GAP_NAMES:
        sb, sa = (steps_before or {}).get(gap), (steps_after or {}).get(gap)
        if sb is None or sa is None:
            continue
        if sb != sa:
            notes.append(f"{GAP_LABELS[gap]} is measured between other splits in the two "
                         "runs: not compared")
            continue
        lo, hi = sb

        def value(side: str, split: str) -> tuple[float, float | None]:
            if split == "human":
                return humans[side], None
            return rate[side][split], sizes[side][split]
        if lo == "human" and human_before == human_after:
            shared_train = gap  # the train level's change, tested once
            continue
        terms = [(1, *value("a", hi)), (-1, *value("a", lo)), (-1, *value("b", hi)),
                 (1, *value("b", lo))]
        before_gap = value("b", hi)[0] - value("b", lo)[0]
        after_gap = value("a", hi)[0] - value("a", lo)[0]
        label = ("variance or data mismatch" if gap == "variance" and sb == ("train", "dev")
                 else GAP_LABELS[gap])
        raw.append(("gap", gap, label, before_gap, after_gap, mover_p_value(terms),
                    "MOVER (Wilson, independent)", mover_interval(terms)))
    changes = list(_holm_family(raw))
    if shared_train is not None:
        train = next((c for c in changes if c.kind == "level" and c.key == "train"), None)
        if train is not None:
            changes.append(Change(
                kind="gap", key=shared_train, label=GAP_LABELS[shared_train],
                before=train.before - human_before, after=train.after - human_after,
                p_raw=train.p_raw, p_value=train.p_value, significant=train.significant,
                test=train.test + ", as train error", interval=train.interval))
    order = [("level", s) for s in SPLIT_LABELS] + [("gap", g) for g in GAP_NAMES]
    changes.sort(key=lambda c: order.index((c.kind, c.key)))
    return RunChange(before=names[0], after=names[1], changes=tuple(changes),
                     notes=tuple(notes))


def share_changes(before: Mapping[str, tuple[int, int]], after: Mapping[str, tuple[int, int]]
                  ) -> tuple[Change, ...]:
    """Each review category's share of the reviewed errors in two runs, Fisher-tested and
    Holm-adjusted over the categories reviewed in both (``(count, reviewed errors)``)."""
    raw = []
    for cat in before:
        if cat not in after:
            continue
        (kb, nb), (ka, na) = before[cat], after[cat]
        if nb == 0 or na == 0:
            continue
        p = fisher_exact_p(kb, nb, ka, na)
        raw.append(("share", str(cat), str(cat), kb / nb, ka / na, p,
                    "Fisher (two proportions)",
                    mover_interval([(1, ka / na, na), (-1, kb / nb, nb)])))
    return _holm_family(raw)


# -- words -----------------------------------------------------------------------------------
def _pct(rate: float) -> str:
    return "—" if rate is None or math.isnan(rate) else f"{rate * 100:.1f}%"


def _share(rate: float) -> str:
    return "—" if rate is None or math.isnan(rate) else f"{rate * 100:.0f}%"


def _pp(value: float) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value * 100:+.1f} pp".replace("-", "\u2212")


def _list(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _moved(c: Change) -> str:
    show = _pct if c.kind != "gap" else _pp
    return f"{c.label} {c.direction} from {show(c.before)} to {show(c.after)}"


def what_changed(change: RunChange) -> str:
    """One sentence: what changed significantly from one run to the other, and what did not.

    "From run3 to run5, dev error fell from 8.5% to 6.1% and data mismatch fell from +3.0 pp
    to +0.6 pp; train error, train-dev error, test error, variance and dev overfitting did not
    change significantly (Holm, 5% over 7 comparisons)."
    """
    head = f"From {change.before} to {change.after}"
    # avoidable bias at one human level is the train error's change: said once, as that
    tested = [c for c in change.changes if not math.isnan(c.p_value)
              and "as train error" not in c.test]
    if not tested:
        return f"{head}, nothing could be compared: the runs share no split."
    moved = [c for c in tested if c.significant]
    held = [c.label for c in tested if not c.significant]
    family = len(tested)
    tail = f" (Holm, 5% over {family} comparison{'s' if family != 1 else ''})"
    if not moved:
        return f"{head}, nothing changed significantly: {_list(held)} held{tail}."
    text = f"{head}, " + _list([_moved(c) for c in moved])
    if held:
        text += f"; {_list(held)} did not change significantly"
    return text + tail + "."


def shares_sentence(shares: Sequence[Change], *, before: str, after: str,
                    error: Change | None = None) -> str:
    """The review categories' shares of reviewed errors in two runs, in words.

    "blurry: 61% of reviewed errors at run3 → 22% at run5 (a significant fall); dog: 20% →
    25% (no significant change); dev error 8.5% → 6.1%."
    """
    if not shares:
        return (f"No review category was reviewed in both {before} and {after}: review some "
                "misclassified dev examples of each to compare their causes.")
    parts = []
    for i, c in enumerate(shares):
        what = ("no significant change" if not c.significant else
                f"a significant {'fall' if c.after < c.before else 'rise'}")
        if i == 0:
            parts.append(f"{c.label}: {_share(c.before)} of reviewed errors at {before} → "
                         f"{_share(c.after)} at {after} ({what})")
        else:
            parts.append(f"{c.label}: {_share(c.before)} → {_share(c.after)} ({what})")
    text = "; ".join(parts)
    if error is not None:
        text += f"; {error.label} {_pct(error.before)} → {_pct(error.after)}"
    return text + "."
