"""The in-memory engine: a validated table's rows, giving the results model the aggregates
DuckDB and Dask give it (sizes, threshold curves, label × prediction counts, slice tables,
eyeball sums, suspects, paired counts, learning-curve sums, mismatch counts).

Each is computed from the rows on first use and kept when it ignores the threshold (a curve,
the slice groups, the per-level curves), so a threshold move is a binary search. The same
object serves rows to the per-row views (the review sample, previews, keys): for an engine
that keeps its rows out of core it holds the bounded sample instead of the whole table.

``where`` is a split's key in the table: ``(model, split)``, or ``(model, task, split)``
for multi-task results.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.errors import DashboardError
from dashboard.io import SPLITS, Schema, class_index
from dashboard.metrics.compare import binary_correct
from dashboard.metrics.curve import ThresholdCurve, flag
from dashboard.metrics.mismatch import MismatchColumn
from dashboard.metrics.sampling import eyeball_mask
from dashboard.metrics.slices import SliceGroups, bin_column, find_slices
from dashboard.metrics.suspects import find_label_suspects

__all__ = ["MemorySource"]

#: thresholds whose per-row correctness is kept per split (a slider sweep evicts the oldest)
CORRECT_KEPT = 8


class MemorySource:
    """The rows of a validated table, grouped per split; aggregates computed from them."""

    #: the engine's name, as :attr:`Results.engine` says it
    name = "memory"

    def __init__(self, frame: pd.DataFrame, schema: Schema, index: Mapping[tuple, np.ndarray],
                 tasks: tuple[str, ...] = (), lc_frame: pd.DataFrame | None = None) -> None:
        self.frame = frame
        self.schema = schema
        self.index = dict(index)
        self.tasks = tasks
        #: every training-set size's rows (the frame holds each model's largest size)
        self.lc_frame = lc_frame
        self._keys_arrow: pa.Array | None = None
        self._memo: dict[tuple, Any] = {}  # threshold-free tables
        self._correct: dict[tuple, np.ndarray] = {}  # per (where, threshold), bounded

    # -- rows ----------------------------------------------------------------------------------
    @property
    def notes(self) -> tuple[str, ...]:
        """What the views should say about how the numbers were computed: nothing here."""
        return ()

    @property
    def rows_total(self) -> int:
        return len(self.frame)

    @property
    def gridded(self) -> dict[tuple, float]:
        return {}

    def positions(self, where: tuple) -> np.ndarray:
        """Row positions of a split (empty when the model has none)."""
        return self.index.get(where, np.empty(0, dtype=np.int64))

    def key_arrow(self) -> pa.Array:
        """Every row's example key as one Arrow string array (no Python object per row):
        a view of the frame's own buffer when it is one chunk, kept (keys never change)."""
        if self._keys_arrow is None:
            col = self.frame["key"]
            arr = getattr(col.array, "_pa_array", None)
            if arr is None:
                arr = pa.array(col.astype(str).to_numpy(), type=pa.large_string())
            elif isinstance(arr, pa.ChunkedArray):
                arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
            self._keys_arrow = arr
        return self._keys_arrow

    def keys_at(self, rows: np.ndarray) -> np.ndarray:
        """The example keys of ``rows`` (positions) as text; only those rows become objects."""
        return np.asarray(self.frame["key"].array.take(np.asarray(rows, dtype=np.int64)),
                          dtype=object)

    def code(self, cls: Any) -> int:
        """Integer code of a class (its position in ``schema.classes``)."""
        i = class_index(self.schema.classes, cls)
        if i is None:
            raise DashboardError(f"unknown class {cls!r}; the classes are "
                                 f"{', '.join(map(repr, self.schema.classes))}", column="label")
        return i

    def score_array(self, code: int) -> np.ndarray:
        """Every row's score for class ``code`` (the score column when binary)."""
        if self.schema.kind == "binary_score":
            return self.frame["score"].to_numpy()
        return self.frame[self.schema.proba_columns[self.schema.classes[code]]].to_numpy()

    def predicted_codes(self, idx: np.ndarray, threshold: float,
                        frame: pd.DataFrame | None = None) -> np.ndarray:
        """Predicted class code per row: binary at the threshold, else the argmax or the
        prediction as given."""
        frame = self.frame if frame is None else frame
        kind = self.schema.kind
        if kind == "binary_score":
            # the positive class may be either label (pos_label=0, -1): never assume order
            pos = self.code(self.schema.pos_label)
            return np.where(flag(frame["score"].to_numpy()[idx], threshold), pos, 1 - pos)
        if kind == "multiclass_proba":
            classes = list(self.schema.proba_columns)
            mat = np.column_stack([frame[self.schema.proba_columns[c]].to_numpy()[idx]
                                   for c in classes])
            return np.asarray([self.code(c) for c in classes])[np.argmax(mat, axis=1)]
        return frame["prediction_code"].to_numpy()[idx]

    def correct_at(self, idx: np.ndarray, threshold: float,
                   frame: pd.DataFrame | None = None) -> np.ndarray:
        frame = self.frame if frame is None else frame
        return (self.predicted_codes(idx, threshold, frame)
                == frame["label_code"].to_numpy()[idx])

    def correct(self, where: tuple, threshold: float) -> np.ndarray:
        """Correctness per row of a split (read-only), kept for the last few thresholds."""
        key = (where, threshold if self.schema.kind == "binary_score" else None)
        mask = self._correct.get(key)
        if mask is None:
            mask = self.correct_at(self.positions(where), threshold)
            mask.setflags(write=False)
            same = [k for k in self._correct if k[0] == where]
            if len(same) >= CORRECT_KEPT:
                del self._correct[same[0]]
            self._correct[key] = mask
        return mask

    def weights(self, where: tuple) -> np.ndarray:
        return self.frame["weight"].to_numpy()[self.positions(where)]

    # -- whole-split aggregates ------------------------------------------------------------------
    def size(self, where: tuple) -> tuple[int, float, float] | None:
        """(rows, sum of weights, sum of squared weights) of a split; None when it is empty."""
        idx = self.positions(where)
        if idx.size == 0:
            return None
        if not self.schema.has_weight:
            return int(idx.size), float(idx.size), float(idx.size)
        key = ("size", where)
        if key not in self._memo:
            w = self.weights(where)
            self._memo[key] = (int(idx.size), float(np.sum(w)), float(np.sum(w * w)))
        return self._memo[key]

    def curve(self, where: tuple, code: int, weighted: bool) -> ThresholdCurve:
        """One split's curve for class ``code`` from its rows (one sort of their scores)."""
        idx = self.positions(where)
        is_pos = self.frame["label_code"].to_numpy()[idx] == code
        scores = self.score_array(code)[idx]
        w = self.weights(where) if weighted else None
        return ThresholdCurve.from_predictions(is_pos, scores, sample_weight=w, pos_label=True)

    def confusion(self, where: tuple, weighted: bool) -> np.ndarray:
        """Label × predicted-class counts (or weights) of the argmax or the predictions."""
        key = ("confusion", where, weighted)
        if key not in self._memo:
            idx = self.positions(where)
            k = len(self.schema.classes)
            cell = self.frame["label_code"].to_numpy()[idx].astype(np.int64) * k + \
                self.predicted_codes(idx, np.nan)
            w = self.weights(where) if weighted else None
            self._memo[key] = np.bincount(cell, weights=w, minlength=k * k).reshape(k, k)
        return self._memo[key]

    def score_range(self, model: str, task: str | None) -> tuple[float, float]:
        """The lowest and highest score of a model's rows (every class's, when per class)."""
        parts = [v for k, v in self.index.items()
                 if k[0] == model and (task is None or k[1] == task)]
        idx = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        cols = (["score"] if self.schema.kind == "binary_score"
                else list(self.schema.proba_columns.values()))
        values = self.frame[cols].to_numpy()[idx]
        return float(values.min()), float(values.max())

    def fingerprint(self) -> str:
        """A hash of the example keys per split (not of scores): independent of row order and
        of the models, so tags follow examples across reloads."""
        h = hashlib.sha256()
        keys = self.key_arrow()
        codes = self.frame["split"].cat.codes.to_numpy()
        for i, split in enumerate(SPLITS):
            # Arrow sorts text by its UTF-8 bytes: the code-point order of sorted()
            distinct = pc.unique(keys.filter(pa.array(codes == i)))
            ordered = distinct.take(pc.sort_indices(distinct))
            h.update(split.encode() + b"\x1e")
            h.update("\x1f".join(ordered.to_pylist()).encode())
        return h.hexdigest()[:16]

    def score_grid(self, where: tuple) -> float | None:
        return None

    # -- paired counts for McNemar ----------------------------------------------------------
    def paired_counts(self, where_a: tuple, where_b: tuple, threshold_a: float | None,
                      threshold_b: float | None, pos_code: int | None
                      ) -> tuple[int, int, int]:
        """(A wrong only, B wrong only, examples shared) of two models' rows of a split.

        Binary or one-vs-rest on ``pos_code`` at each model's threshold; with thresholds
        ``None`` the predicted class as it is (argmax, predictions). Rows pair by position
        when both list the same keys in the same order, else by key."""
        ok = []
        for where, thr in ((where_a, threshold_a), (where_b, threshold_b)):
            idx = self.positions(where)
            if thr is None or pos_code is None:
                ok.append(self.correct_at(idx, np.nan if thr is None else thr))
            else:
                is_pos = self.frame["label_code"].to_numpy()[idx] == pos_code
                ok.append(binary_correct(is_pos, self.score_array(pos_code)[idx], thr))
        rows_a, rows_b = self.positions(where_a), self.positions(where_b)
        a, b = ok
        if not self._same_keys(rows_a, rows_b):
            _, ia, ib = np.intersect1d(self.keys_at(rows_a), self.keys_at(rows_b),
                                       assume_unique=False, return_indices=True)
            a, b = a[ia], b[ib]
        return (int(np.count_nonzero(~a & b)), int(np.count_nonzero(a & ~b)), int(a.size))

    def _same_keys(self, rows_a: np.ndarray, rows_b: np.ndarray) -> bool:
        """Whether two models' rows hold the same keys in the same order (a long table
        written model by model). Keys are unique within a model's split, so equal sequences
        are equal sets."""
        if len(rows_a) != len(rows_b) or len(rows_a) == 0:
            return False
        keys = self.key_arrow()
        a = keys.take(pa.array(np.asarray(rows_a, dtype=np.int64)))
        b = keys.take(pa.array(np.asarray(rows_b, dtype=np.int64)))
        return bool(pc.all(pc.equal(a, b)).as_py())

    # -- learning curves -----------------------------------------------------------------------
    @property
    def train_sizes(self) -> tuple[float, ...]:
        if self.lc_frame is None:
            return ()
        return tuple(sorted(pd.unique(self.lc_frame["train_size"]).tolist()))

    def lc_groups(self, model: str, task: str | None, threshold: float, weighted: bool
                  ) -> pd.DataFrame:
        """Per (training-set size, split): errors at ``threshold`` (weighted or counted),
        weight and squared weight; the sums a learning curve is read from."""
        lc = self.lc_frame
        assert lc is not None
        mine = (lc["model"] == model).to_numpy()
        if task is not None:  # the selected task's rows only, as every other view
            mine = mine & (lc["task"] == task).to_numpy()
        idx = np.flatnonzero(mine)
        wrong = ~self.correct_at(idx, threshold, lc)
        w = lc["weight"].to_numpy()[idx] if weighted else np.ones(idx.size)
        parts = pd.DataFrame({"size": lc["train_size"].to_numpy()[idx],
                              "split": lc["split"].to_numpy()[idx],
                              "err": w * wrong, "w": w, "w2": w * w})
        return parts.groupby(["size", "split"], observed=True).sum()

    # -- metadata slices -------------------------------------------------------------------
    def slice_columns(self, where: tuple, bins: int) -> list:
        """Metadata columns as codes for one split, built once (they ignore the threshold)."""
        key = ("slice_columns", where, bins)
        if key not in self._memo:
            idx = self.positions(where)
            self._memo[key] = [c for c in (
                bin_column(name, self.frame[f"meta::{name}"].iloc[idx], bins)
                for name in self.schema.metadata_columns) if c is not None]
        return self._memo[key]

    def _slice_groups(self, where: tuple, bins: int, weighted: bool) -> SliceGroups | None:
        """The split's rows grouped by level of every metadata column and label, scores
        sorted per group (once per split: they ignore the threshold); None when too many."""
        key = ("slice_groups", where, bins, weighted)
        if key not in self._memo:
            idx = self.positions(where)
            pos = self.code(self.schema.pos_label)
            is_pos = self.frame["label_code"].to_numpy()[idx] == pos
            self._memo[key] = SliceGroups.build(
                self.slice_columns(where, bins), is_pos, self.score_array(pos)[idx],
                self.weights(where) if weighted else None)
        return self._memo[key]

    def slices(self, where: tuple, threshold: float, *, weighted: bool, bins: int,
               **find: Any) -> pd.DataFrame:
        """:func:`find_slices` over a split at ``threshold`` (binary scores: a binary search
        per group of sorted scores, not a pass over the rows)."""
        columns = self.slice_columns(where, bins)
        groups = self._slice_groups(where, bins, weighted) \
            if self.schema.kind == "binary_score" else None
        if groups is not None:
            table = groups.find(threshold, weighted=weighted, **find)
        else:
            table = find_slices(~self.correct(where, threshold), columns,
                                weights=self.weights(where) if weighted else None, **find)
        table.attrs["columns_used"] = tuple(c.name for c in columns)
        return table

    def slice_keys(self, where: tuple, slice_name: str, bins: int) -> np.ndarray:
        """Example keys of a split's rows in a slice (``"device = ios and ..."``)."""
        idx = self.positions(where)
        mask = np.ones(idx.size, dtype=bool)
        for part in slice_name.split(" and "):
            for col in self.slice_columns(where, bins):
                if part in col.labels:
                    mask &= col.codes == col.labels.index(part)
                    break
            else:
                raise DashboardError(f"no metadata slice named {part!r}", column="slice")
        return self.keys_at(idx[mask])

    # -- the eyeball check and suspected label errors -------------------------------------------
    def eyeball_sums(self, where: tuple, fraction: float, seed: int, threshold: float
                     ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per part (eyeball, black box) at ``threshold``: rows, errors, weight, weight of
        the errors and squared weight; what the eyeball check compares."""
        key = ("eyeball", where, float(fraction), int(seed))
        if key not in self._memo:
            self._memo[key] = eyeball_mask(self.keys_at(self.positions(where)), fraction, seed)
        eye = self._memo[key]
        wrong = ~self.correct(where, threshold)
        w = self.weights(where) if self.schema.has_weight else np.ones(eye.size)
        return tuple((float(part.sum()), float(wrong[part].sum()), float(w[part].sum()),
                      float(w[part & wrong].sum()), float((w[part] ** 2).sum()))
                     for part in (eye, ~eye))  # type: ignore[return-value]

    def class_proba(self, idx: np.ndarray) -> np.ndarray:
        """n x k probabilities of ``idx``'s rows in class-code order."""
        if self.schema.kind == "binary_score":
            s = self.frame["score"].to_numpy(dtype=np.float64)[idx]
            pos = self.code(self.schema.pos_label)
            out = np.empty((idx.size, 2))
            out[:, pos], out[:, 1 - pos] = s, 1.0 - s
            return out
        out = np.zeros((idx.size, len(self.schema.classes)))
        for cls, col in self.schema.proba_columns.items():
            out[:, self.code(cls)] = self.frame[col].to_numpy(dtype=np.float64)[idx]
        return out

    def label_suspects(self, where: tuple) -> pd.DataFrame:
        """A split's suspected label errors (confident learning), most suspect first:
        ``key``, ``id``, ``label``, ``likely``, ``score``; ``attrs["thresholds"]``."""
        idx = self.positions(where)
        found = find_label_suspects(self.frame["label_code"].to_numpy()[idx],
                                    self.class_proba(idx))
        rows = idx[found.positions]
        classes = np.asarray(self.schema.classes, dtype=object)
        table = pd.DataFrame({
            "key": self.keys_at(rows),
            "id": np.asarray(self.frame["id"].array.take(rows), dtype=object),
            "label": classes[found.given], "likely": classes[found.likely],
            "score": found.self_confidence})
        table.attrs["thresholds"] = dict(zip(self.schema.classes, found.thresholds.tolist(),
                                             strict=True))
        return table

    # -- mismatch drivers --------------------------------------------------------------------
    def mismatch_columns(self, model: str, task: str | None, splits: Sequence[str], bins: int,
                         threshold: float) -> list[MismatchColumn]:
        """Each metadata column's counts per level in ``splits`` (source, target, held),
        binned on the rows of all three (once); a threshold move only recounts errors."""
        source, target, held = splits
        where = {s: (model, task, s) if task is not None else (model, s) for s in splits}
        key = ("mismatch_codes", model, task, tuple(splits), bins)
        if key not in self._memo:
            parts = {s: self.positions(where[s]) for s in dict.fromkeys(splits)}
            idx = np.concatenate(list(parts.values()))
            bounds = np.cumsum([0] + [p.size for p in parts.values()])
            at = {s: slice(int(bounds[i]), int(bounds[i + 1])) for i, s in enumerate(parts)}
            self._memo[key] = [
                (col.name, col.labels, col.codes[at[source]], col.codes[at[target]],
                 col.codes[at[held]],
                 MismatchColumn.from_codes(col.name, col.labels, col.codes[at[source]],
                                           col.codes[at[target]], col.codes[at[held]], None,
                                           None, held_errors=np.zeros(len(col.labels)),
                                           target_errors=np.zeros(len(col.labels))))
                for col in (bin_column(name, self.frame[f"meta::{name}"].iloc[idx], bins)
                            for name in self.schema.metadata_columns) if col is not None]
        if self.schema.kind == "binary_score":  # errors per level from per-level curves
            return [dataclasses.replace(
                        counted,
                        held_errors=self._level_errors(where[held], name, hld, len(labels),
                                                       threshold, key),
                        target_errors=self._level_errors(where[target], name, tgt,
                                                         len(labels), threshold, key))
                    for name, labels, _src, tgt, hld, counted in self._memo[key]]
        wrong = {s: ~self.correct(where[s], threshold) for s in (held, target)}
        return [MismatchColumn.from_codes(name, labels, src, tgt, hld, wrong[held],
                                          wrong[target])
                for name, labels, src, tgt, hld, _counted in self._memo[key]]

    def _level_errors(self, where: tuple, name: str, codes: np.ndarray, k: int,
                      threshold: float, codes_key: tuple) -> np.ndarray:
        """Misclassified rows of each level of a metadata column in a split at ``threshold``:
        one curve per level, built once, so a threshold move costs a binary search per level
        instead of a pass over the rows (the same counts as :meth:`correct`)."""
        key = ("level_curves", codes_key, where, name)
        curves = self._memo.get(key)
        if curves is None:
            rows = self.positions(where)
            pos = self.code(self.schema.pos_label)
            is_pos = self.frame["label_code"].to_numpy()[rows] == pos
            scores = self.score_array(pos)[rows]
            codes = np.asarray(codes, dtype=np.int64)
            curves = [ThresholdCurve.from_predictions(is_pos[codes == lev],
                                                      scores[codes == lev], pos_label=True)
                      if np.any(codes == lev) else None for lev in range(k)]
            self._memo[key] = curves
        out = np.zeros(k, dtype=np.float64)
        for lev, curve in enumerate(curves):
            if curve is not None:
                point = curve.at(threshold)
                out[lev] = point.fp + point.fn
        return out

