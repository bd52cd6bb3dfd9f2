"""An out-of-core engine's aggregates (DuckDB's or Dask's :class:`~dashboard.engines.Aggregates`)
offered to the results model with the same methods as the in-memory engine
(:class:`~dashboard.memory_engine.MemorySource`), so every number has one path.

Whole-split numbers come from the counts at each distinct score (or label × prediction);
slices, the eyeball check, suspects, McNemar's pairs and slice keys are asked of the engine
once per split and then only recounted when the threshold moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dashboard.engines import SLICE_GRID, SLICE_GROUP_LIMIT, Aggregates, SliceLimitError
from dashboard.errors import DashboardError
from dashboard.io import SPLITS, class_index
from dashboard.metrics.curve import ThresholdCurve, flag
from dashboard.metrics.mismatch import MismatchColumn, columns_from_groups
from dashboard.metrics.slices import find_slices

__all__ = ["AggregateSource"]


class AggregateSource:
    """The aggregates of a dataset an engine keeps out of core (see the module docstring)."""

    def __init__(self, agg: Aggregates) -> None:
        self.agg = agg
        self.models = agg.models
        #: the engine's name, as :meth:`Results.from_dataset` takes it
        self.name = "dask" if type(agg.engine).__name__.startswith("Dask") else "duckdb"
        #: (rows, sum of weights, sum of squared weights) per split key, read once
        self._sizes = {(k if isinstance(k, tuple) else (k,)): (int(r.n), float(r.w), float(r.w2))
                       for k, r in zip(agg.sizes.index, agg.sizes.itertuples(), strict=True)}
        self._memo: dict[tuple, Any] = {}
        self._lc_curves: dict[tuple, ThresholdCurve] = {}

    @property
    def notes(self) -> tuple[str, ...]:
        return self.agg.notes

    @property
    def rows_total(self) -> int:
        return self.agg.rows

    @property
    def gridded(self) -> dict[tuple, float]:
        return dict(self.agg.gridded)

    def score_grid(self, where: tuple) -> float | None:
        return self.agg.gridded.get(where)

    def _code(self, cls: Any) -> int:
        i = class_index(self.agg.schema.classes, cls)
        assert i is not None
        return i

    @staticmethod
    def _task(where: tuple) -> str | None:
        return where[1] if len(where) == 3 else None

    # -- whole-split aggregates ------------------------------------------------------------------
    def size(self, where: tuple) -> tuple[int, float, float] | None:
        """(rows, sum of weights, sum of squared weights) of a split; None when it is empty."""
        return self._sizes.get(where)

    def curve(self, where: tuple, code: int, weighted: bool) -> ThresholdCurve:
        """The curve from the engine's counts at each distinct score (or grid point)."""
        schema = self.agg.schema
        if schema.kind == "binary_score":
            if code != self._code(schema.pos_label):
                raise DashboardError("a single score column scores one class; the "
                                     f"positive class is {schema.pos_label!r}")
            at, dtype = where, self.agg.score_dtype
        else:  # per-class probabilities: one-vs-rest on the class's own column
            at, dtype = (*where, code), self.agg.class_dtypes[code]
        scores, pn, nn, pw, nw = self.agg.counts[at]
        if where in self.agg.gridded:
            # grid points are doubles: a float32 threshold would miss the point it names
            dtype = np.dtype(np.float64)
        return ThresholdCurve.from_counts(scores, pw if weighted else pn,
                                          nw if weighted else nn, dtype=dtype)

    def confusion(self, where: tuple, weighted: bool) -> np.ndarray:
        return self.agg.confusion[where][1 if weighted else 0]

    def score_range(self, model: str, task: str | None) -> tuple[float, float]:
        sizes = self.agg.sizes.xs(model, level="m")
        if task is not None:
            sizes = sizes.xs(task, level="t")
        return float(sizes["lo"].min()), float(sizes["hi"].max())

    def fingerprint(self) -> str:
        return self.agg.engine.fingerprint(self.agg.keys_with_split)

    def paired_counts(self, where_a: tuple, where_b: tuple, threshold_a: float | None,
                      threshold_b: float | None, pos_code: int | None
                      ) -> tuple[int, int, int]:
        """(A wrong only, B wrong only, examples shared), counted by the engine."""
        return self.agg.engine.paired_counts(
            where_a[0], where_b[0], where_a[-1], threshold_a, threshold_b,
            dtype=self.agg.score_dtype, pos_code=pos_code, task=self._task(where_a))

    # -- learning curves: the engine's counts per training-set size ----------------------------
    @property
    def train_sizes(self) -> tuple[float, ...]:
        if self.agg.lc_sizes is None:
            return ()
        return tuple(sorted(pd.unique(self.agg.lc_sizes.index.get_level_values("z")).tolist()))

    def lc_groups(self, model: str, task: str | None, threshold: float, weighted: bool
                  ) -> pd.DataFrame:
        """Per (size, split): errors at ``threshold``, weight and squared weight, from the
        counts per size (a curve per size and split, built once; the task's)."""
        lc = self.agg
        assert lc.lc_sizes is not None
        want = (task,) if task is not None else ()
        rows = []
        for where, size in lc.lc_sizes.iterrows():
            m, z, split = where[0], where[-2], where[-1]
            if m != model or tuple(where[1:-2]) != want:
                continue
            if lc.schema.kind == "binary_score":
                key = (*where, weighted)
                if key not in self._lc_curves:
                    scores, pn, nn, pw, nw = lc.lc_counts[where]
                    dtype = (np.dtype(np.float64) if where in lc.lc_gridded else
                             lc.score_dtype)
                    self._lc_curves[key] = ThresholdCurve.from_counts(
                        scores, pw if weighted else pn, nw if weighted else nn, dtype=dtype)
                pt = self._lc_curves[key].at(threshold)
                err = pt.fp + pt.fn
            else:
                cm = lc.lc_confusion[where][1 if weighted else 0]
                err = float(cm.sum()) - float(np.trace(cm))
            w, w2 = (float(size["w"]), float(size["w2"])) if weighted else (
                float(size["n"]), float(size["n"]))
            rows.append({"size": float(z), "split": split, "err": float(err), "w": w, "w2": w2})
        return pd.DataFrame(rows).set_index(["size", "split"]).sort_index()

    # -- metadata slices: find_slices over the engine's groups of slice cells ----------------
    def _meta(self) -> list[tuple[str, bool]]:
        """Each metadata column and whether it is numeric (binned), from the sample's types."""
        sample = self.agg.sample
        return [(name, bool(pd.api.types.is_numeric_dtype(col)
                            and not pd.api.types.is_bool_dtype(col)))
                for name in self.agg.schema.metadata_columns
                for col in [sample[f"meta::{name}"]]]

    def _wrong_in_groups(self, where: tuple, threshold: float, labels: np.ndarray,
                         values: np.ndarray | None, *, on_grid: bool = False) -> np.ndarray:
        """Which of an engine's groups are errors at ``threshold``: binary scores (``labels``
        positive, ``values`` the score or grid point) compared in the scores' own type (grid
        points as doubles), else ``labels`` already says wrong."""
        if values is None:
            return labels
        gridded = on_grid or where in self.agg.gridded
        values = values.astype(np.float64 if gridded else self.agg.score_dtype)
        return labels != flag(values, threshold)

    def _grouped(self, model: str, splits: str | tuple[str, ...], task: str | None, bins: int,
                 grid: float | None, **by: Any) -> tuple[Any, float | None]:
        """The engine's groups by slice cell, label and score (on ``grid``), and the coarse
        slice grid they were counted on instead when one group per score was too many
        (``None`` when not coarsened)."""
        binary = self.agg.schema.kind == "binary_score"
        try:
            return self.agg.engine.slice_groups(model, splits, task, self._meta(), bins,
                                                binary=binary, grid=grid, **by), None
        except SliceLimitError:
            if not binary or (grid is not None and grid >= SLICE_GRID):
                raise
            return self.agg.engine.slice_groups(model, splits, task, self._meta(), bins,
                                                binary=binary, grid=SLICE_GRID, **by), SLICE_GRID

    def _slice_groups(self, where: tuple, bins: int) -> tuple[Any, float | None]:
        """The engine's groups of a split by slice cell (asked once per split and bins), and
        the coarser score grid they were counted on when the exact groups were too many."""
        key = ("slice_groups", where, bins)
        if key not in self._memo:
            binary = self.agg.schema.kind == "binary_score"
            grid = self.agg.gridded.get(where) if binary else None
            self._memo[key] = self._grouped(where[0], where[-1], self._task(where), bins, grid)
        return self._memo[key]

    def slices(self, where: tuple, threshold: float, *, weighted: bool, bins: int,
               **find: Any) -> pd.DataFrame:
        """:func:`find_slices` over the engine's groups: asked once per split, recounted."""
        groups, slice_grid = self._slice_groups(where, bins)
        wrong = self._wrong_in_groups(where, threshold, groups.labels, groups.values,
                                      on_grid=slice_grid is not None)
        table = find_slices(wrong, groups.columns, counts=groups.counts,
                            weights=groups.weights if weighted else None, **find)
        table.attrs["columns_used"] = tuple(c.name for c in groups.columns)
        if slice_grid:
            split = where[-1]
            exact = abs(threshold / slice_grid - round(threshold / slice_grid)) < 1e-9
            table.attrs["score_grid"] = slice_grid
            table.attrs["note"] = (
                f"Slices of {split} are counted on a {slice_grid:g} score grid (more than "
                f"{SLICE_GROUP_LIMIT:,} slice, label and score groups): "
                + (f"exact at this threshold ({threshold:g} is on the grid)." if exact else
                   f"the threshold {threshold:g} is not on the grid, so rows scored within "
                   f"{slice_grid:g} below it count as at or above it."))
        return table

    def slice_keys(self, where: tuple, slice_name: str, bins: int) -> np.ndarray:
        """Example keys of a split's rows in a suggested slice, fetched by one query."""
        groups, _ = self._slice_groups(where, bins)
        conditions = []
        for part in slice_name.split(" and "):
            for col, sql in zip(groups.columns, groups.sql, strict=True):
                if part in col.labels:
                    conditions.append((sql, col.labels.index(part)))
                    break
            else:
                raise DashboardError(f"no metadata slice named {part!r}", column="slice")
        return self.agg.engine.slice_keys(where[0], where[-1], self._task(where), conditions,
                                          self.agg.keys_with_split)

    # -- the eyeball check and suspected label errors -------------------------------------------
    def eyeball_sums(self, where: tuple, fraction: float, seed: int, threshold: float
                     ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The eyeball check's sums from the engine's rows grouped by part (the hashed key,
        as ``eyeball_mask`` decides it), label and score: asked once, then recounted."""
        key = ("eyeball_groups", where, float(fraction), int(seed))
        if key not in self._memo:
            binary = self.agg.schema.kind == "binary_score"
            self._memo[key] = self.agg.engine.eyeball_groups(
                where[0], where[-1], self._task(where), fraction, seed,
                self.agg.keys_with_split, binary=binary,
                grid=self.agg.gridded.get(where) if binary else None)
        eye, labels, values, counts, w, w2 = self._memo[key]
        wrong = self._wrong_in_groups(where, threshold, labels, values)
        return tuple((float(counts[part].sum()), float(counts[part & wrong].sum()),
                      float(w[part].sum()), float(w[part & wrong].sum()), float(w2[part].sum()))
                     for part in (eye, ~eye))  # type: ignore[return-value]

    def label_suspects(self, where: tuple) -> pd.DataFrame:
        """The most suspect rows of a split, found by the engine (``attrs["truncated"]``
        when more were left out)."""
        classes = np.asarray(self.agg.schema.classes, dtype=object)
        found, thresholds, more = self.agg.engine.label_suspects(
            where[0], where[-1], self._task(where), len(classes), self.agg.keys_with_split)
        table = pd.DataFrame({
            "key": found["k"].to_numpy(dtype=object), "id": found["i"].to_numpy(dtype=object),
            "label": classes[found["g"].to_numpy(dtype=np.int64)],
            "likely": classes[found["l"].to_numpy(dtype=np.int64)],
            "score": found["s"].to_numpy(dtype=np.float64)})
        table.attrs["thresholds"] = dict(zip(self.agg.schema.classes, thresholds.tolist(),
                                             strict=True))
        if more:
            table.attrs["truncated"] = True
        return table

    # -- mismatch drivers --------------------------------------------------------------------
    def mismatch_columns(self, model: str, task: str | None, splits: Sequence[str], bins: int,
                         threshold: float) -> list[MismatchColumn]:
        """The counts per level from the engine's rows of the three splits grouped by slice
        cell, split, label and score (binned together, as in memory): asked once, then only
        recounted when the threshold moves."""
        source, target, held = splits
        distinct = tuple(dict.fromkeys(splits))
        key = ("mismatch_groups", model, task, distinct, bins)
        binary = self.agg.schema.kind == "binary_score"
        where = {s: (model, task, s) if task is not None else (model, s) for s in distinct}
        if key not in self._memo:
            grids = [self.agg.gridded.get(where[s]) for s in distinct]
            grid = max((g for g in grids if g), default=None) if binary else None
            groups, coarse = self._grouped(model, distinct, task, bins, grid, by_split=True)
            self._memo[key] = (groups, coarse or grid)
        groups, grid = self._memo[key]
        wrong = np.zeros(groups.counts.size, dtype=bool)
        for s in distinct:
            at = groups.splits == SPLITS.index(s)
            wrong[at] = self._wrong_in_groups(
                where[s], threshold, groups.labels[at],
                None if groups.values is None else groups.values[at], on_grid=grid is not None)
        return columns_from_groups(groups.columns, groups.splits, wrong, groups.counts,
                                   *(SPLITS.index(s) for s in (source, target, held)))
