"""The results model's analyses beyond the waterfall: metadata slices, suspected label errors,
the eyeball check, multi-task overviews, learning curves, mismatch drivers, calibration and
ROC. Each reads the engine's aggregates (:mod:`dashboard.memory_engine`,
:mod:`dashboard.aggregate_source`) and computes its table with :mod:`dashboard.metrics`."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dashboard.errors import DashboardError
from dashboard.io import SPLITS
from dashboard.metrics.calibration import calibration_table, roc_table
from dashboard.metrics.gaps import GAP_NAMES
from dashboard.metrics.intervals import newcombe_interval, wilson_interval
from dashboard.metrics.learning import learning_verdict
from dashboard.metrics.mismatch import mismatch_table

if TYPE_CHECKING:
    from dashboard.results.model import Results

__all__ = ["AnalysisMixin"]


class AnalysisMixin:
    """Slices, suspects, the eyeball check, tasks, learning curves, mismatch, calibration."""

    # -- finding categories before anyone ticks a box ---------------------------------------------
    @property
    def metadata_columns(self: Results) -> tuple[str, ...]:
        """Metadata columns of the results file (device, region...), the raw material of slices."""
        return self.schema.metadata_columns

    def suggest_slices(self: Results, split: str = "dev", max_order: int = 2, *,
                       model: str | None = None, bins: int = 4, min_rows: int = 20,
                       alpha: float = 0.05, limit: int = 50) -> pd.DataFrame:
        """Metadata slices where the split's errors concentrate, as suggested categories.

        Each metadata column (numeric ones in ``bins`` quantile bins) and, with
        ``max_order=2``, each pair: ``slice``, ``rows``, ``errors``, ``error``, ``rest_error``,
        ``share`` of the errors, ``ceiling_error`` if fixed, ``p_value`` (Holm-adjusted over
        every slice tried) and ``significant``. Cached per model, split and threshold; the
        engine groups the rows once per split, so a threshold move only recounts.
        """
        model = self._check_model(model)
        split = self._check_split(split, model)
        thr = self.threshold_of(model)
        key = ("slices", model, split, thr, max_order, bins, min_rows, alpha, limit,
               self.weighted)
        if key not in self._cache:
            table = self._source.slices(self._ikey(model, split), thr,
                                        weighted=bool(self.weighted), bins=bins,
                                        max_order=max_order, min_rows=min_rows, alpha=alpha,
                                        limit=limit)
            table.attrs.update({"split": split, "model": model})
            self._cache_put(key, table, "slices", limit=8)
        return self._cache[key]

    def slice_keys(self: Results, slice_name: str, split: str = "dev", *,
                   model: str | None = None, bins: int = 4) -> np.ndarray:
        """Example keys of a split's rows in a suggested slice (``"device = ios and ..."``)."""
        model = self._check_model(model)
        split = self._check_split(split, model)
        return self._source.slice_keys(self._ikey(model, split), slice_name, bins)

    def _check_probabilities(self: Results, model: str) -> None:
        """One clear error unless the model gives probabilities (what suspects need)."""
        if not self.has_scores or self.scale(model) != "probability":
            raise DashboardError("suspected label errors need the model's probabilities "
                                 "(a score column of probabilities, or proba_<class> columns); "
                                 "these results have "
                                 + ("margins" if self.has_scores else "hard predictions"))

    def label_suspects(self: Results, split: str = "dev", *,
                       model: str | None = None) -> pd.DataFrame:
        """Examples whose given label the model confidently contradicts (confident learning).

        One row per suspect, most suspect first: ``key``, ``id``, ``label``, ``likely`` (the
        class the model is confident of) and ``score`` (the probability of the given label;
        lower is more suspect). For a reviewer to look at first: nothing is relabelled. An
        out-of-core engine returns the most suspect rows only (``attrs["truncated"]``).
        """
        model = self._check_model(model)
        split = self._check_split(split, model)
        key = ("suspects", model, split)
        if key not in self._cache:
            self._check_probabilities(model)
            table = self._source.label_suspects(self._ikey(model, split))
            table.attrs.update({"split": split, "model": model,
                                "rows": self.split_sizes(model).get(split, 0)})
            self._cache[key] = table
        return self._cache[key]

    def eyeball_check(self, split: str = "dev", fraction: float = 0.5, *,
                      seed: int = 0) -> pd.DataFrame:
        """Error on the eyeball part of a split (the examples reviewers look at) against the
        black-box part, per model, with Newcombe's 95% interval of the difference.

        Both parts are random halves of one distribution, so they differ only by chance; a
        gap whose interval lies below zero means the team is overfitting what it looks at.
        ``attrs["warning"]`` says so, naming the models. With weights on, both errors are
        weighted, as the view's dev error is, and the interval uses Kish's effective sizes.
        """
        rows = []
        weighted = bool(self.weighted)
        for m in self.models:
            if not self._has_split(m, split):
                continue
            eye, blind = self._eyeball_parts(split, m, fraction, seed)
            (e_eye, n_eye), (e_blind, n_blind) = (_part_error(p, weighted) for p in (eye, blind))
            lo, hi = newcombe_interval(e_eye, n_eye, e_blind, n_blind)
            rows.append({"model": m, "eyeball_rows": int(eye[0]), "eyeball_error": e_eye,
                         "blackbox_rows": int(blind[0]), "blackbox_error": e_blind,
                         "gap": e_eye - e_blind, "gap_low": lo, "gap_high": hi,
                         "overfit": bool(hi < 0)})
        table = pd.DataFrame(rows).set_index("model")
        over = [m for m in table.index if table.loc[m, "overfit"]]
        table.attrs["warning"] = (
            f"The eyeball part of {split} has clearly lower error than the black-box part for "
            f"{', '.join(map(str, over))}: the team is overfitting the examples it looks at. "
            "Judge progress on the black-box part, and draw a fresh eyeball set."
            if over else None)
        table.attrs.update({"split": split, "fraction": fraction, "seed": seed,
                            "weighted": weighted})
        return table

    def _eyeball_parts(self: Results, split: str, model: str, fraction: float, seed: int
                       ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per part (eyeball, black box) of a model's split at its threshold: rows, errors,
        weight, weight of the errors and squared weight; what the eyeball check compares."""
        return self._source.eyeball_sums(self._ikey(model, split), fraction, seed,
                                         self.threshold_of(model))

    # -- multi-task results ---------------------------------------------------------------------
    # -- multi-task results ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _viewing(self, task: str) -> Iterator[None]:
        """Compute for another task without changing the shared state (no observer fires)."""
        previous, self._task_override = self._task_override, task
        try:
            yield
        finally:
            self._task_override = previous

    def task_threshold(self, task: str, model: str | None = None) -> float:
        """A task's own threshold for a model (each task keeps its threshold)."""
        model = self._check_model(model)
        if task == self.task:
            return self.threshold_of(model)
        return self._task_thresholds.get(task, {"probability": 0.5, "margin": 0.0})[
            self.scale(model)]

    def task_overview(self, model: str | None = None) -> pd.DataFrame:
        """One row per task: labelled rows per split, error per split, gaps and focus, the
        share of entries labelled; sorted by where the work is (the largest significant
        focus gap first). ``attrs["mean"]`` holds the mean error per split over tasks."""
        if not self._tasks:
            raise DashboardError("these results have one task: a task overview needs a task "
                                 "column or label_<task> columns", column="task")
        model = self._check_model(model)
        rows = []
        for task in self._tasks:
            thr = self.task_threshold(task, model)
            with self._viewing(task):
                if not self.splits:
                    continue
                errors = self.error_rates(model, threshold=thr)
                report = self.gaps(model, threshold=thr)
            labelled = int(errors["n"].sum())
            left_out = int(self.schema.unlabelled.get(task, 0))
            row: dict[str, Any] = {"task": task, "threshold": thr, "labelled": labelled,
                                   "unlabelled": left_out,
                                   "labelled_share": labelled / (labelled + left_out)}
            for split in SPLITS:
                if split in errors.index:
                    row[f"{split}_n"] = int(errors.loc[split, "n"])
                    row[split] = float(errors.loc[split, "error"])
            for gap in GAP_NAMES:
                row[gap] = getattr(report, gap)
            row["focus"] = ", ".join(report.label(g) for g in report.focus) or "—"
            row["headline"] = report.headline
            row["work"] = max((getattr(report, g) for g in report.focus), default=0.0)
            rows.append(row)
        table = pd.DataFrame(rows).set_index("task").sort_values("work", ascending=False)
        table.attrs["mean"] = {s: float(table[s].mean()) for s in SPLITS if s in table}
        table.attrs["model"] = model
        return table

    # -- learning curves: error against the training-set size ------------------------------------
    @property
    def train_sizes(self: Results) -> tuple[float, ...]:
        """Training-set sizes in the results (empty without a ``train_size`` column)."""
        return self._source.train_sizes

    def learning_curve(self, model: str | None = None, *,
                       weighted: bool | None = None) -> pd.DataFrame:
        """Error per split against the training-set size, from results the team already has.

        Indexed by ``train_size``; per split present a column of its error and ``<split>_low``,
        ``<split>_high`` (Wilson 95%) and ``<split>_n``. At the model's current threshold.
        ``attrs["verdict"]`` says whether more data is likely to help (the variance gap
        shrinking with size) or not (train error above human level and flat), only as far as
        the intervals show it. The views show the largest size.
        """
        model = self._check_model(model)
        if not self.train_sizes:
            raise DashboardError("no train_size column: a learning curve needs results of runs "
                                 "trained on different amounts of data (one train_size per "
                                 "row)", column="train_size")
        weighted = self.weighted if weighted is None else weighted
        grouped = self._lc_groups(model, weighted)
        table = pd.DataFrame(index=pd.Index(sorted(grouped.index.get_level_values("size")
                                                   .unique()), name="train_size"))
        for split in SPLITS:
            if split not in grouped.index.get_level_values("split"):
                continue
            g = grouped.xs(split, level="split").reindex(table.index)
            error = g["err"] / g["w"]
            n_eff = (g["w"] ** 2 / g["w2"]) if weighted else g["w"]
            bounds = [wilson_interval(e * n, n) if n > 0 and np.isfinite(e) else
                      (math.nan, math.nan) for e, n in zip(error, n_eff.fillna(0), strict=True)]
            table[split] = error
            table[f"{split}_low"] = [b[0] for b in bounds]
            table[f"{split}_high"] = [b[1] for b in bounds]
            table[f"{split}_n"] = n_eff
        table.attrs.update({"model": model, "human": self.human_error,
                            "human_given": self.human_level.given,
                            "verdict": learning_verdict(table, self.human_error,
                                                        self.human_level.given)})
        return table

    def _lc_groups(self: Results, model: str, weighted: bool) -> pd.DataFrame:
        """Per (training-set size, split): errors at the model's threshold (weighted or
        counted), weight and squared weight; the sums a learning curve is read from."""
        return self._source.lc_groups(model, self._current_task if self._tasks else None,
                                      self.threshold_of(model), weighted)

    # -- mismatch drivers: how the metadata differs between training and dev ------------------
    def mismatch_drivers(self, source: str = "train", target: str = "dev", *,
                         model: str | None = None, bins: int = 4,
                         alpha: float = 0.05) -> pd.DataFrame:
        """Metadata columns distributed differently in ``source`` and ``target``, best first.

        One row per metadata column (numeric ones in ``bins`` quantile bins of the rows of
        both splits): ``column``, ``shift`` (total-variation distance, with ``shift_low`` and
        ``shift_high``), ``p_value`` (Holm over the columns tried), ``significant``, the level
        that moved most (``moved``) and what it costs (``cost``: the error there in train_dev,
        or in ``source`` without one, against ``target``); see
        :func:`~dashboard.metrics.mismatch.mismatch_table`. Rows are counted as examples.
        """
        model = self._check_model(model)
        source = self._check_split(source, model)
        target = self._check_split(target, model)
        if source == target:
            raise DashboardError("mismatch drivers compare two different splits")
        held = "train_dev" if (self._has_split(model, "train_dev")
                               and target != "train_dev") else source
        key = ("mismatch", model, source, target, held, self.threshold_of(model), bins, alpha)
        if key not in self._cache:
            table = mismatch_table(self._mismatch_columns(model, source, target, held, bins),
                                   source=source, target=target, held=held, alpha=alpha)
            self._cache_put(key, table, "mismatch", limit=8)
        return self._cache[key]

    def _mismatch_columns(self: Results, model: str, source: str, target: str, held: str,
                          bins: int) -> list:
        """Each metadata column's counts per level, binned on the rows of all three splits
        (the bins once per split and model; a threshold move only recounts the errors)."""
        return self._source.mismatch_columns(model, self._current_task if self._tasks else None,
                                             (source, target, held), bins,
                                             self.threshold_of(model))

    # -- calibration and ROC (from the cached curve's counts, so every engine agrees) -------
    # -- calibration and ROC (from the cached curve's counts, so every engine agrees) -------
    def calibration(self, split: str = "dev", bins: int = 10, *,
                    model: str | None = None) -> pd.DataFrame:
        """Reliability diagram in equal-width bins, with ``attrs`` ``ece`` and ``brier``.

        From the split's curve for the positive class (weighted when ``weighted`` is on), so
        it costs no pass over the rows: see :func:`~dashboard.metrics.calibration.
        calibration_table`. Scores must be probabilities.
        """
        model = self._check_model(model)
        split = self._check_split(split, model)
        if self.scale(model) != "probability":
            raise DashboardError(f"model {model!r} gives margins, not probabilities: "
                                 "calibration needs probabilities")
        key = ("calibration", model, split, str(self.positive_class), self.weighted, int(bins))
        if key not in self._cache:
            curve = self.curve(split, model)
            rows = self.curve(split, model, weighted=False) if self.weighted else None
            table = calibration_table(curve, bins, rows)
            table.attrs.update({"split": split, "model": model})
            grid = self._score_grid(split, model)
            if grid:
                table.attrs["note"] = (f"{split} scores were counted on a {grid:g} grid: "
                                       "mean scores and the Brier score are rounded to it")
            self._cache_put(key, table, "calibration", limit=16)
        return self._cache[key]

    def roc(self, split: str = "dev", *, model: str | None = None) -> pd.DataFrame:
        """ROC curve (``fpr``, ``tpr``, ``threshold``) with ``attrs["auc"]``, from the curve.

        ``attrs`` also hold the operating point at the model's current threshold
        (``point_fpr``, ``point_tpr``), which the figure marks.
        """
        model = self._check_model(model)
        split = self._check_split(split, model)
        key = ("roc", model, split, str(self.positive_class), self.weighted)
        if key not in self._cache:
            table = roc_table(self.curve(split, model))
            table.attrs.update({"split": split, "model": model})
            self._cache_put(key, table, "roc", limit=16)
        table = self._cache[key]
        point = self.operating_point(split, model=model)
        out = table.copy(deep=False)
        out.attrs = {**table.attrs, "threshold": point.threshold,
                     "point_fpr": _rate(point.fp, point.fp + point.tn),
                     "point_tpr": _rate(point.tp, point.tp + point.fn)}
        return out


def _rate(num: float, den: float) -> float:
    """num / den, NaN when den is 0."""
    return float(num) / float(den) if den else math.nan


def _part_error(sums: tuple[float, ...], weighted: bool) -> tuple[float, float]:
    """(error, effective size) of an eyeball part from its (rows, errors, weight, weight of
    errors, squared weight): counted, or weighted with Kish's effective size."""
    rows, errors, w, w_err, w2 = sums
    if not weighted:
        return (errors / rows if rows else math.nan), rows
    return (w_err / w if w > 0 else math.nan), (w * w / w2 if w2 > 0 else 0.0)

