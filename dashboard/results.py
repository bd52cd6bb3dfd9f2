"""The results model: one ``HasTraits`` object over the evaluation table that every widget binds to.

It holds the shared state (threshold, model, positive class, human-level reference, weighting,
review tags) as traits and caches derived tables keyed only by what they depend on: moving the
threshold never rebuilds a curve, it costs a binary search per split.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import traitlets as t

from dashboard.cache import (
    CachedTable,
    TableCache,
    cache_key,
    derived_name,
    load_derived,
    save_derived,
)
from dashboard.dask_engine import aggregate_dask
from dashboard.engine_cache import aggregates_key, load_aggregates, save_aggregates
from dashboard.engines import (
    DISTINCT_LIMIT,
    ENGINES,
    GRID,
    SLICE_GRID,
    SLICE_GROUP_LIMIT,
    Aggregates,
    SliceLimitError,
    aggregate,
)
from dashboard.errors import DashboardError
from dashboard.io import SPLITS, Schema, class_index, load_table, normalize, release_scratch
from dashboard.metrics.calibration import calibration_table, roc_table
from dashboard.metrics.compare import (
    McNemar,
    binary_correct,
    mcnemar_exact,
    mcnemar_from_counts,
    paired_mcnemar,
    split_constraints,
    unmet_constraints,
)
from dashboard.metrics.curve import (
    BestThreshold,
    OperatingPoint,
    ThresholdCurve,
    above,
    best_threshold,
    flag,
    point_from_counts,
    point_from_predictions,
    unmet,
)
from dashboard.metrics.gaps import GAP_NAMES, GapReport, HumanLevel, decompose_gaps
from dashboard.metrics.intervals import (
    effective_n,
    newcombe_interval,
    resolution,
    wilson_interval,
)
from dashboard.metrics.learning import learning_verdict
from dashboard.metrics.mismatch import MismatchColumn, columns_from_groups, mismatch_table
from dashboard.metrics.multiclass import ClassF1, f1_from_confusion, multiclass_f1
from dashboard.metrics.power import Resolution, resolution_of
from dashboard.metrics.sampling import (
    eyeball_mask,
    rank_keys,
    sample_by_rank,
    sample_review_rows,
)
from dashboard.metrics.slices import SliceGroups, bin_column, find_slices
from dashboard.metrics.suspects import find_label_suspects
from dashboard.metrics.tally import (
    MISLABELLED,
    LabelNoise,
    fix_first,
    label_noise,
    label_noise_blocks_choice,
    tally_table,
)

__all__ = ["DatasetResults", "Results", "StateError", "check_class_names"]


def check_class_names(names: Mapping[Any, str] | None,
                      classes: Sequence[Any]) -> dict[str, str]:
    """Display names by the class's text; refuse a name for a class the labels lack, a
    name that is not text, or two classes with one name (the views would merge them)."""
    if names is None:
        return {}
    if not isinstance(names, Mapping):
        raise DashboardError(f"class names must map a label to a name, got {names!r}")
    known = {str(c) for c in classes}
    out: dict[str, str] = {}
    for value, name in names.items():
        key = str(value)
        if key not in known:
            raise DashboardError(f"class names: {key!r} is not a label; the labels are "
                                 f"{', '.join(sorted(known))}")
        if not isinstance(name, str) or not name.strip():
            raise DashboardError(f"class names: the name of {key!r} must be text, got "
                                 f"{name!r}")
        out[key] = name.strip()
    shown = [out.get(k, k) for k in known]
    if len(set(shown)) < len(shown):
        raise DashboardError(f"class names: two classes would show as one name "
                             f"({', '.join(sorted(shown))})")
    return out


class StateError(DashboardError, t.TraitError):
    """A shared-state value refused at the boundary: a trait error and a DashboardError."""


class Results(t.HasTraits):
    """Evaluation results of one or more models, and the state every view shares.

    Build with :meth:`from_file`, :meth:`from_frame`, :meth:`from_predictions` or
    :meth:`from_estimator`. Set ``threshold``, ``model``, ``positive_class``,
    ``human_reference`` or ``weighted`` and every observer (every widget) follows.
    """

    task = t.Unicode("", help="the task shown, for multi-task results (each keeps its threshold)")
    threshold = t.Float(0.5, help="rows scoring >= threshold are predicted positive")
    model = t.Unicode(help="the model whose results are shown")
    positive_class = t.Any(help="the class treated as positive (one-vs-rest when multiclass)")
    human_reference = t.Unicode(help="name of the human-level reference the gaps start from")
    weighted = t.Bool(False, help="use per-example weights in error rates and curves")
    tags = t.Instance(pd.DataFrame, help="review tags: index example key, one column per "
                      "category, nullable boolean; replaced, never mutated")
    comments = t.Dict(help="review comments by example key; replaced, never mutated")

    def __init__(self, frame: pd.DataFrame, schema: Schema, *,
                 human_level: HumanLevel | float | Mapping[str, float] | None = None,
                 threshold: float | None = None, name: str | None = None,
                 metadata: Mapping[str, Mapping[str, float]] | None = None,
                 margin_models: Sequence[str] = (),
                 class_names: Mapping[Any, str] | None = None,
                 positions: Mapping[tuple, np.ndarray] | None = None) -> None:
        #: every training-set size's rows, for the learning curve; the views use the largest
        self._lc_frame: pd.DataFrame | None = None
        if "train_size" in frame.columns:
            self._lc_frame = frame
            largest = frame.groupby("model", observed=True)["train_size"].transform("max")
            frame = frame[(frame["train_size"] == largest).to_numpy()].reset_index(drop=True)
        self._frame = frame
        self.schema = schema
        self.human_level = HumanLevel.coerce(human_level)
        self.name = name or (Path(schema.source).name if schema.source != "<frame>" else
                             "results")
        #: per-model facts the user gives (running time in ms, size...), for satisficing
        self.metadata = {str(k): dict(v) for k, v in (metadata or {}).items()}
        #: display names of the classes ("1" -> "cat"), keyed by the class's text
        self.class_names = check_class_names(class_names, schema.classes)
        #: derived tables, one cache per task (a task switch keeps every task's tables)
        self._caches: dict[str, dict[tuple, Any]] = {}
        self._task_override: str | None = None
        self.curve_builds = 0  # how many curves were built: tests use it to prove caching
        #: the table cache's entry this table was mapped from, where derived curves are kept
        self._cache_entry: Path | None = None
        #: whether this load computed the cache entry (False: mapped another process's)
        self.cache_built = False
        #: every row's key as one Arrow array (made on first use) and keys found in it
        self._keys_arrow: pa.Array | None = None
        self._confirmed_keys: set[str] = set()
        self._tasks = tuple(schema.tasks) if "task" in frame.columns else ()
        group = ["model", "task", "split"] if self._tasks else ["model", "split"]
        # row positions per (model, split): int32 halves them (80 -> 40 MB at 10M rows)
        pos_type = np.int32 if len(frame) < 2**31 else np.int64
        from dashboard.io import row_groups  # pandas' groupby, from the codes (issue 22)

        self._index = dict(positions) if positions is not None else \
            {k: np.asarray(v, dtype=pos_type) for k, v in (row_groups(frame, group) or
             frame.groupby(group, observed=True, sort=False).indices).items()}
        models = tuple(pd.unique(frame["model"]))
        self._models = models
        #: per task, each score scale's threshold (the current task's live in the trait)
        self._task_thresholds: dict[str, dict[str, float]] = {}
        # a model's scores are probabilities (threshold 0.5) or margins (threshold 0); models
        # on the same scale share the threshold, each scale keeps its own
        self._margin_models = (frozenset(map(str, margin_models)) if margin_models else
                               frozenset() if schema.probabilities else
                               frozenset(map(str, models)))
        self._scale_thresholds = {"probability": 0.5, "margin": 0.0}
        if "key" not in frame.columns:
            self._frame = frame = self._with_keys(frame)
        if "id_code" in frame.columns:  # only the keys needed it
            self._frame = frame = frame.drop(columns="id_code")
        default_threshold = self._scale_thresholds[self.scale(models[0])]
        super().__init__(
            task=self._tasks[0] if self._tasks else "",
            model=models[0],
            positive_class=(schema.pos_label if schema.kind == "binary_score" else
                            schema.classes[-1] if schema.classes else None),
            human_reference=self.human_level.bayes_name,
            threshold=default_threshold if threshold is None else float(threshold),
            tags=self._initial_tags(frame, schema),
            comments={},
        )

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path, *, human_level: Any = None,
                  threshold: float | None = None, metadata: Any = None,
                  class_names: Mapping[Any, str] | None = None,
                  cache: TableCache | str | Path | None = None, **columns: Any) -> Results:
        """Load a CSV, Parquet or JSON Lines results file (see :meth:`from_frame` for columns;
        ``class_names`` maps a label to its display name, ``{1: "cat", 0: "not cat"}``).

        With ``cache`` (a folder, or a :class:`~dashboard.cache.TableCache`), the validated
        table is saved there once per content version and every later load maps it instead
        of reading the file again (see :mod:`dashboard.cache`).
        """
        if not isinstance(path, str | Path) or not str(path):
            raise DashboardError(f"from_file needs the path of a results file, got {path!r}")
        kwargs = {"human_level": human_level, "threshold": threshold, "name": Path(path).name,
                  "metadata": metadata, "class_names": class_names}
        if cache is None:
            frame, schema = load_table(path, **columns)
            results = cls(frame, schema, **kwargs)
            release_scratch()
            return results
        return cls._from_cache(Path(path), cache if isinstance(cache, TableCache) else
                               TableCache(cache), columns, kwargs)

    @classmethod
    def _from_cache(cls, path: Path, cache: TableCache, columns: Mapping[str, Any],
                    kwargs: dict[str, Any]) -> Results:
        """:meth:`from_file` through the table cache: map the entry of this content and these
        options, or load the file, save the entry and map it (so this process shares the
        pages with the next ones instead of keeping a private copy)."""
        if not path.is_file():
            load_table(path, **columns)  # its error names the file
        source, base_dir = str(path), path.resolve().parent
        key = cache_key(cache.fingerprint(path), dict(columns))
        hit = cache.load(key, source, base_dir)
        if hit is None:
            with cache.building(key):  # another process may be building it: wait for it
                return cls._build_cached(path, cache, key, columns, kwargs)
        return cls._mapped(hit, kwargs)

    @classmethod
    def _build_cached(cls, path: Path, cache: TableCache, key: str,
                      columns: Mapping[str, Any], kwargs: dict[str, Any]) -> Results:
        """Under the build lock: map the entry if the lock's last holder wrote it, else load
        the file, save the entry and map it."""
        source, base_dir = str(path), path.resolve().parent
        hit = cache.load(key, source, base_dir)
        if hit is None:
            frame, schema = load_table(path, **columns)
            results = cls(frame, schema, **kwargs)
            del frame
            keyed = results._lc_frame is None  # with training sizes the keys come per view
            table = results._frame if keyed else results._lc_frame
            arrays = extra = None
            if keyed:
                arrays = {f"pos{i}": v for i, v in enumerate(results._index.values())}
                extra = {"positions": [list(map(str, k)) for k in results._index]}
            written = cache.save(key, table, schema, arrays, extra=extra, source=source)
            del table
            hit = cache.load(key, source, base_dir) if written else None
            if hit is None:  # not cacheable (or the folder is read-only): the table as loaded
                release_scratch()
                return results
            del results  # the mapped table replaces this process's private copy
            release_scratch()
            mapped = cls._mapped(hit, kwargs)
            mapped.cache_built = True
            return mapped
        return cls._mapped(hit, kwargs)

    @classmethod
    def _mapped(cls, hit: CachedTable, kwargs: dict[str, Any]) -> Results:
        """Results over a cache entry's mapped table, positions and curves."""
        positions = None
        if "positions" in hit.extra:
            positions = {tuple(k): hit.arrays[f"pos{i}"]
                         for i, k in enumerate(hit.extra["positions"])}
        results = cls(hit.frame, hit.schema, positions=positions, **kwargs)
        results._cache_entry = hit.folder
        return results

    @classmethod
    def from_dataset(cls, source: str | Path, engine: str = "duckdb", *,
                     human_level: Any = None, threshold: float | None = None,
                     metadata: Any = None, distinct_limit: int = DISTINCT_LIMIT,
                     grid: float = GRID, memory_limit: str | None = None,
                     scheduler: Any = None, class_names: Mapping[Any, str] | None = None,
                     cache: TableCache | str | Path | None = None, **columns: Any) -> Results:
        """Open a Parquet/CSV file, a folder of Parquet partitions or a glob through an engine.

        ``engine="duckdb"`` computes the aggregates out of core and keeps only a bounded sample
        of rows (see :class:`DatasetResults`); ``"dask"`` the same on a Dask cluster
        (``scheduler``: an address such as ``"tcp://host:8786"``, a ``distributed.Client``, or
        None for Dask's default); ``"pandas"`` is :meth:`from_file`. Column
        options are :meth:`from_file`'s. A split with more than ``distinct_limit`` distinct
        scores is grouped on a ``grid`` (say so with :attr:`DatasetResults.gridded`).
        ``cache`` is :meth:`from_file`'s (the pandas engine's table cache).
        """
        if engine == "pandas":
            return cls.from_file(source, human_level=human_level, threshold=threshold,
                                 metadata=metadata, class_names=class_names, cache=cache,
                                 **columns)
        if engine not in ENGINES:
            raise DashboardError(f"unknown engine {engine!r}; choose one of "
                                 f"{', '.join(ENGINES)}")
        if engine == "dask":
            agg = aggregate_dask(source, scheduler=scheduler, threshold=threshold,
                                 distinct_limit=distinct_limit, grid=grid, **columns)
        elif cache is not None:
            agg = cls._duckdb_cached(source, cache if isinstance(cache, TableCache) else
                                     TableCache(cache), threshold=threshold,
                                     distinct_limit=distinct_limit, grid=grid,
                                     memory_limit=memory_limit, columns=columns)
        else:
            agg = aggregate(source, threshold=threshold, distinct_limit=distinct_limit,
                            grid=grid, memory_limit=memory_limit, **columns)
        return DatasetResults(agg, human_level=human_level, threshold=threshold,
                              name=Path(str(source).rstrip("/*")).name or str(source),
                              metadata=metadata, class_names=class_names)

    @staticmethod
    def _duckdb_cached(source: str | Path, cache: TableCache, *, threshold: float | None,
                       distinct_limit: int, grid: float, memory_limit: str | None,
                       columns: Mapping[str, Any]) -> Aggregates:
        """DuckDB's aggregates of ``source`` from the cache, or computed once (the other
        processes opening it meanwhile wait) and saved there (:mod:`dashboard.engine_cache`)."""
        def compute() -> Aggregates:
            return aggregate(source, threshold=threshold, distinct_limit=distinct_limit,
                             grid=grid, memory_limit=memory_limit, **columns)
        try:
            key = aggregates_key(source, "duckdb", {
                "threshold": threshold, "distinct_limit": distinct_limit, "grid": grid,
                "columns": dict(columns)})
        except (DashboardError, OSError):
            return compute()  # its error names what is wrong with the source
        agg = load_aggregates(cache, key, str(source))
        if agg is None:
            with cache.building(key):
                agg = load_aggregates(cache, key, str(source))
                if agg is None:
                    agg = compute()
                    save_aggregates(cache, key, agg, memory_limit=memory_limit)
        return agg

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, label: str = "label", score: str | None = "score",
                   split: str = "split", model: str | None = "model", id: str | None = "id",  # noqa: A002
                   human_level: Any = None, threshold: float | None = None,
                   name: str | None = None, metadata: Any = None,
                   class_names: Mapping[Any, str] | None = None, **columns: Any) -> Results:
        """Build from a frame, one row per example (and per model in a long table).

        Keyword arguments name the columns: ``label``, ``score`` (probability of the positive
        class), ``prediction``, ``proba`` (per-class probability columns), ``split``,
        ``model``, ``id``, ``weight``, ``categories`` (boolean review tags), ``preview``.
        ``class_names`` maps a label to the name the views show (``{1: "cat"}``).
        """
        frame, schema = normalize(df, label=label, score=score, split=split, model=model, id=id,
                                  **columns)
        return cls(frame, schema, human_level=human_level, threshold=threshold, name=name,
                   metadata=metadata, class_names=class_names)

    @classmethod
    def from_predictions(cls, y_true: Sequence[Any] | np.ndarray, y_score: Any = None, *,
                         y_pred: Any = None, split: Any = None, model: Any = None,
                         sample_weight: Any = None, ids: Any = None, pos_label: Any = None,
                         human_level: Any = None, threshold: float | None = None,
                         probabilities: bool = True) -> Results:
        """Build from arrays, like scikit-learn's ``from_predictions`` (split defaults to dev).

        ``y_score`` is a 1-d array of positive-class scores or a 2-d array of per-class
        probabilities (columns in sorted class order, as ``predict_proba`` gives them).
        """
        y = np.asarray(y_true)
        if y.ndim != 1:
            raise DashboardError(f"y_true must be one-dimensional, got shape {y.shape}",
                                 column="y_true")
        for arg, value in (("y_score", y_score), ("y_pred", y_pred), ("sample_weight",
                           sample_weight), ("ids", ids)):
            if value is not None and len(value) != len(y):
                raise DashboardError(f"{arg} has {len(value)} rows but y_true has {len(y)}",
                                     column=arg)
        for arg, value in (("split", split), ("model", model)):
            if value is not None and np.ndim(value) and len(value) != len(y):
                raise DashboardError(f"{arg} has {len(value)} rows but y_true has {len(y)}",
                                     column=arg)
        data: dict[str, Any] = {"label": y}
        kwargs: dict[str, Any] = {"probabilities": probabilities, "pos_label": pos_label}
        if y_score is not None:
            s = np.asarray(y_score)
            if s.dtype.kind != "f":
                s = s.astype(np.float64)
            if s.ndim == 2 and s.shape[1] == 2:
                # predict_proba's columns are the sorted classes: take the positive class's
                classes = [v.item() if isinstance(v, np.generic) else v for v in np.unique(y)]
                if len(classes) == 2 and pos_label is not None:
                    j = class_index(classes, pos_label)
                    if j is None:
                        raise DashboardError(f"positive class {pos_label!r} is not among the "
                                             f"labels {classes}", column="y_true")
                    s = s[:, j]
                else:
                    s = s[:, 1]
            if s.ndim == 2 and s.shape[1] > 2:
                classes = np.unique(y)
                if len(classes) != s.shape[1]:
                    raise DashboardError(f"y_score has {s.shape[1]} columns but y_true has "
                                         f"{len(classes)} classes", column="y_score")
                cols = {c: f"proba_{c}" for c in classes}
                for j, c in enumerate(classes):
                    data[cols[c]] = s[:, j]
                kwargs["proba"] = {c: col for c, col in cols.items()}
                kwargs["score"] = None
            elif s.ndim == 2:
                raise DashboardError(f"y_score has {s.shape[1]} column(s); give one score per "
                                     "row or one column per class", column="y_score")
            else:
                data["score"] = s
        if y_pred is not None:
            data["prediction"] = np.asarray(y_pred)
        if sample_weight is not None:
            data["weight"] = np.asarray(sample_weight, dtype=np.float64)
        if split is not None:
            data["split"] = np.broadcast_to(np.asarray(split, dtype=object), y.shape)
        if model is not None:
            data["model"] = np.broadcast_to(np.asarray(model, dtype=object), y.shape)
        if ids is not None:
            data["id"] = np.asarray(ids)
        frame, schema = normalize(pd.DataFrame(data), source="<arrays>",
                                  default_split="dev", **kwargs)
        return cls(frame, schema, human_level=human_level, threshold=threshold, name="arrays")

    @classmethod
    def from_estimator(cls, estimator: Any, splits: Mapping[str, tuple[Any, Any]], *,
                       human_level: Any = None, threshold: float | None = None,
                       pos_label: Any = None) -> Results:
        """Score a fitted estimator (or a dict of name → estimator) on each split's ``(X, y)``.

        Uses ``predict_proba`` when the estimator has it, else ``decision_function`` (raw
        scores, default threshold 0), else ``predict``. Never refits.
        """
        estimators = estimator if isinstance(estimator, Mapping) else {
            type(estimator).__name__: estimator}
        frames = []
        kinds: dict[str, str] = {}
        for name, est in estimators.items():
            for split_name, (X, y) in splits.items():
                y = np.asarray(y)
                part: dict[str, Any] = {"id": np.arange(len(y)).astype(str), "split": split_name,
                                        "model": str(name), "label": y}
                kind = _score_estimator(est, X, part, pos_label)
                kinds[str(name)] = kind
                frames.append(pd.DataFrame(part))
        if len(set(kinds.values()) - {"probability", "margin"}) and len(set(kinds.values())) > 1:
            raise DashboardError(
                "some estimators give scores and others only predict(): score them apart, or "
                "give each a predict_proba or decision_function (models: "
                + ", ".join(f"{m} {k}" for m, k in kinds.items()) + ")")
        df = pd.concat(frames, ignore_index=True)
        margins = [m for m, k in kinds.items() if k == "margin"]
        frame, schema = normalize(df, source="<estimator>", pos_label=pos_label,
                                  probabilities=not margins)
        return cls(frame, schema, human_level=human_level, threshold=threshold,
                   name="estimator", margin_models=margins)

    # -- validation of shared state ---------------------------------------------------------
    @t.validate("model")
    def _valid_model(self, proposal: t.Bunch) -> str:
        if proposal.value not in self._models:
            raise StateError(f"unknown model {proposal.value!r}; the results hold "
                               f"{', '.join(map(repr, self._models))}")
        return proposal.value

    @t.validate("human_reference")
    def _valid_reference(self, proposal: t.Bunch) -> str:
        if proposal.value not in self.human_level.names:
            raise StateError(f"unknown human-level reference {proposal.value!r}; choose one of "
                               f"{', '.join(map(repr, self.human_level.names))}")
        return proposal.value

    @t.validate("positive_class")
    def _valid_positive(self, proposal: t.Bunch) -> Any:
        value = proposal.value
        i = class_index(self.schema.classes, value)
        if i is None:
            raise StateError(f"unknown class {value!r}; the classes are "
                               f"{', '.join(map(repr, self.schema.classes))}")
        cls_value = self.schema.classes[i]
        if self.schema.kind == "binary_score" and cls_value is not self.schema.pos_label and \
                self._code(cls_value) != self._code(self.schema.pos_label):
            raise StateError("a single score column scores one class; the positive class "
                               f"is {self.schema.pos_label!r}")
        return cls_value

    @t.validate("threshold")
    def _valid_threshold(self, proposal: t.Bunch) -> float:
        value = float(proposal.value)
        if not np.isfinite(value):
            raise StateError(f"threshold must be a finite number, got {value}")
        # just above 1 is allowed: it flags nothing even where a score is exactly 1
        if (self.has_scores and self.scale(self.model) == "probability"
                and not 0.0 <= value <= above(1.0, np.dtype(np.float16))):
            raise StateError(f"threshold {value} is outside [0, 1] for probability scores")
        return value

    @t.validate("task")
    def _valid_task(self, proposal: t.Bunch) -> str:
        value = str(proposal.value)
        if value != "" and value not in self._tasks or value == "" and self._tasks:
            raise StateError(f"unknown task {value!r}; the tasks are "
                             f"{', '.join(map(repr, self._tasks)) or '(none)'}")
        return value

    @t.observe("task")
    def _on_task_change(self, change: t.Bunch) -> None:
        if not change.old:
            return
        self._task_thresholds[change.old] = dict(self._scale_thresholds)
        self._scale_thresholds = dict(self._task_thresholds.get(
            change.new, {"probability": 0.5, "margin": 0.0}))
        self.threshold = self._scale_thresholds[self.scale(self.model)]

    @property
    def _cache(self) -> dict[tuple, Any]:
        """The derived tables of the task in view (its own dict, so tasks never mix)."""
        return self._caches.setdefault(self._current_task, {})

    @property
    def _current_task(self) -> str:
        return self._task_override if self._task_override is not None else self.task

    def _ikey(self, model: str, split: str) -> tuple:
        """The row-index key of a model's split in the task in view."""
        return (model, self._current_task, split) if self._tasks else (model, split)

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names of multi-task results (empty for a single task)."""
        return self._tasks

    @t.observe("threshold")
    def _on_threshold_change(self, change: t.Bunch) -> None:
        self._scale_thresholds[self.scale(self.model)] = change.new

    @t.observe("model")
    def _on_model_change(self, change: t.Bunch) -> None:
        if change.old and self.scale(change.old) != self.scale(change.new):
            # a probability threshold means nothing for margins: each scale keeps its own
            self.threshold = self._scale_thresholds[self.scale(change.new)]

    def scale(self, model: str | None = None) -> str:
        """``"probability"`` or ``"margin"``: what a model's scores are, hence its threshold."""
        return "margin" if str(model or self.model) in self._margin_models else "probability"

    def threshold_of(self, model: str | None = None) -> float:
        """A model's current threshold: the shared one for models on the same score scale."""
        model = self._check_model(model)
        if self.scale(model) == self.scale(self.model):
            return self.threshold
        return self._scale_thresholds[self.scale(model)]

    def _check_model(self, model: str | None) -> str:
        model = self.model if model is None else model
        if model not in self._models:
            raise DashboardError(f"unknown model {model!r}; the results hold "
                                 f"{', '.join(map(repr, self._models))}", column="model")
        return model

    def _check_split(self, split: str, model: str | None = None) -> str:
        """A split that exists for the model, or one clear error naming the ones that do."""
        model = self._check_model(model)
        if split not in SPLITS:
            raise DashboardError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}",
                                 column="split")
        if self._ikey(model, split) not in self._index:
            have = [s for s in SPLITS if self._ikey(model, s) in self._index]
            raise DashboardError(f"model {model!r} has no {split!r} rows; its splits are "
                                 f"{', '.join(have)}", column="split")
        return split

    @t.validate("weighted")
    def _valid_weighted(self, proposal: t.Bunch) -> bool:
        if proposal.value and not self.schema.has_weight:
            raise StateError("these results have no weight column")
        return bool(proposal.value)

    # -- facts about the table --------------------------------------------------------------
    @property
    def frame(self) -> pd.DataFrame:
        """The canonical table (read it, don't mutate it)."""
        return self._frame

    @property
    def models(self) -> tuple[str, ...]:
        return self._models

    @property
    def engine_notes(self) -> tuple[str, ...]:
        """How an engine computed the numbers (a sample, a score grid); empty in memory."""
        return ()

    @property
    def rows_total(self) -> int:
        """Rows in the results (the table shown: the largest training-set size's runs)."""
        return len(self._frame)

    @property
    def splits(self) -> tuple[str, ...]:
        """Splits present in the table (for the task in view), in walk order."""
        return tuple(s for s in SPLITS
                     if any(self._ikey(m, s) in self._index for m in self._models))

    @property
    def classes(self) -> tuple[Any, ...]:
        return self.schema.classes

    def class_name(self, value: Any) -> str:
        """The name a view shows for a class value: its given name, else its text."""
        text = str(value)
        return self.class_names.get(text, text)

    def confusion_classes(self) -> tuple[str, str]:
        """The (negative, positive) names of the binary view of the positive class (the
        negative is "rest" one-vs-rest, when the results are multiclass)."""
        pos = self.positive_class
        if self.schema.multiclass:
            return "rest", self.class_name(pos)
        neg = [c for c in self.classes if str(c) != str(pos)]
        return (self.class_name(neg[0]) if neg else "negative"), self.class_name(pos)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.tags.columns)

    @property
    def has_scores(self) -> bool:
        return self.schema.has_scores

    @property
    def human_error(self) -> float:
        """The selected human-level reference (by default the Bayes proxy)."""
        return self.human_level[self.human_reference]

    @property
    def human_level_text(self) -> str:
        """The human level as the views say it: "team of cat experts (0.5%)", or "not given"
        (never the 0 the gaps are measured from)."""
        if not self.human_level.given:
            return "not given"
        if self.human_reference == "human level":  # a bare rate (--human-level 1%): no name
            return f"{self.human_error:.1%}"
        return f"{self.human_reference} ({self.human_error:.1%})"

    @property
    def model_shown(self) -> str | None:
        """The current model's name where naming it tells something (None for a lone model,
        whose name is only the default "model")."""
        return str(self.model) if len(self.models) > 1 else None

    @property
    def fingerprint(self) -> str:
        """Identity of the dataset: a hash of its example keys per split (not of scores).

        Independent of row order and of the models, so tags follow examples across reloads.
        """
        if "fingerprint" not in self._cache:
            h = hashlib.sha256()
            keys = self._key_arrow()
            codes = self._frame["split"].cat.codes.to_numpy()
            for i, split in enumerate(SPLITS):
                # Arrow sorts text by its UTF-8 bytes: the code-point order of sorted()
                distinct = pc.unique(keys.filter(pa.array(codes == i)))
                ordered = distinct.take(pc.sort_indices(distinct))
                h.update(split.encode() + b"\x1e")
                h.update("\x1f".join(ordered.to_pylist()).encode())
            self._cache["fingerprint"] = h.hexdigest()[:16]
        return self._cache["fingerprint"]

    def _key_arrow(self) -> pa.Array:
        """Every row's example key as one Arrow string array (no Python object per row).

        A view of the frame's own buffer when it is one chunk (combining chunks copies),
        kept: the keys never change."""
        if self._keys_arrow is None:
            col = self._frame["key"]
            arr = getattr(col.array, "_pa_array", None)
            if arr is None:
                arr = pa.array(col.astype(str).to_numpy(), type=pa.large_string())
            elif isinstance(arr, pa.ChunkedArray):
                arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
            self._keys_arrow = arr
        return self._keys_arrow

    def _keys_at(self, rows: np.ndarray) -> np.ndarray:
        """The example keys of ``rows`` (positions) as text; only those rows become objects."""
        return np.asarray(self._frame["key"].array.take(np.asarray(rows, dtype=np.int64)),
                          dtype=object)

    def has_key(self, key: str) -> bool:
        """Whether an example key exists in these results: one scan of the keys' buffer
        (~50 ms at 10M rows) the first time a key is asked about, a set lookup after."""
        key = str(key)
        if key not in self._confirmed_keys and \
                pc.any(pc.equal(self._key_arrow(), key)).as_py():
            self._confirmed_keys.add(key)
        return key in self._confirmed_keys

    def known_keys(self, keys: Sequence[str]) -> frozenset[str]:
        """Those of ``keys`` that exist in these results: one pass over the rows' keys against
        a hash set of the few asked for, never a set of every key (found ones are
        remembered, so :meth:`has_key` answers them at once)."""
        asked = pa.array(sorted({str(k) for k in keys}), type=pa.large_string())
        if len(asked) == 0:
            return frozenset()
        all_keys = self._key_arrow()
        found = frozenset(pc.unique(all_keys.filter(pc.is_in(all_keys, value_set=asked)))
                          .to_pylist())
        self._confirmed_keys.update(found)
        return found

    @property
    def score_range(self) -> tuple[float, float]:
        """Range a threshold slider should cover: [0, 1] for probabilities, else the scores'."""
        if self.scale(self.model) == "probability" or not self.has_scores:
            return (0.0, 1.0)
        key = ("score_range", self.model)
        if key not in self._cache:
            cols = (["score"] if self.schema.kind == "binary_score"
                    else list(self.schema.proba_columns.values()))
            values = self._frame[cols].to_numpy()[self._index_of_model(self.model)]
            self._cache[key] = (float(values.min()), float(values.max()))
        return self._cache[key]

    def _index_of_model(self, model: str) -> np.ndarray:
        parts = [v for k, v in self._index.items()
                 if k[0] == model and (not self._tasks or k[1] == self._current_task)]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def rows(self, split: str, model: str | None = None) -> pd.DataFrame:
        """The rows of one split for one model (default: the current model)."""
        return self._frame.iloc[self._positions(split, model)]

    def split_sizes(self, model: str | None = None) -> dict[str, int]:
        model = model or self.model
        return {s: len(self._index.get(self._ikey(model, s), ())) for s in self.splits}

    def _positions(self, split: str, model: str | None) -> np.ndarray:
        model = self._check_model(model)
        if split not in SPLITS:
            raise DashboardError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}",
                                 column="split")
        return self._index.get(self._ikey(model, split), np.empty(0, dtype=np.int64))

    # -- curves (cached per model, split, class and weighting; never per threshold) --------
    def curve(self, split: str = "dev", model: str | None = None, *,
              positive_class: Any = None, weighted: bool | None = None) -> ThresholdCurve:
        """Precision, recall, F1 and counts at every distinct threshold of one split."""
        model = model or self.model
        pos = self.positive_class if positive_class is None else positive_class
        weighted = self.weighted if weighted is None else weighted
        idx = self._positions(split, model)
        if idx.size == 0:
            raise DashboardError(f"split {split!r} has no rows for model {model!r}",
                                 file=self.schema.source, column="split")
        curve = self._curve(split, model, pos, weighted)
        if curve.positives == 0 or curve.negatives == 0:
            only = "negative" if curve.positives == 0 else "positive"
            raise DashboardError(
                f"every {split} example of model {model!r} is {only} for class {pos!r}: "
                "precision and recall need both classes", file=self.schema.source,
                column="label")
        return curve

    def _curve(self, split: str, model: str, pos: Any, weighted: bool) -> ThresholdCurve:
        """The cached curve, built on first use (one sort of the split's scores)."""
        key = ("curve", model, split, str(pos), weighted)
        curve = self._cache.get(key)
        if curve is None:
            if not self.has_scores:
                raise DashboardError("these results hold hard predictions only: a threshold "
                                     "curve needs a score column or per-class probabilities",
                                     file=self.schema.source)
            curve = self._stored_curve(split, model, pos, weighted)
            if curve is None:
                curve = self._build_curve(split, model, pos, weighted)
                self.curve_builds += 1
                self._store_curve(curve, split, model, pos, weighted)
            self._cache[key] = curve
        return curve

    def _curve_name(self, split: str, model: str, pos: Any, weighted: bool) -> str:
        return derived_name("curve", type(self).__name__, self._current_task, model, split,
                            repr(pos), weighted)

    def _stored_curve(self, split: str, model: str, pos: Any, weighted: bool
                      ) -> ThresholdCurve | None:
        """The curve another process saved beside the cached table, mapped (shared pages)."""
        if self._cache_entry is None:
            return None
        found = load_derived(self._cache_entry, self._curve_name(split, model, pos, weighted))
        if found is None:
            return None
        arrays, values = found
        return ThresholdCurve(arrays["thresholds"], arrays["tps"], arrays["fps"],
                              float(values["positives"]), float(values["negatives"]),
                              np.dtype(values["dtype"]))

    def _store_curve(self, curve: ThresholdCurve, split: str, model: str, pos: Any,
                     weighted: bool) -> None:
        """Save a curve beside the cached table for later processes (when there is one)."""
        if self._cache_entry is None:
            return
        save_derived(self._cache_entry, self._curve_name(split, model, pos, weighted),
                     {"thresholds": curve.thresholds, "tps": curve.tps, "fps": curve.fps},
                     {"positives": curve.positives, "negatives": curve.negatives,
                      "dtype": np.dtype(curve.dtype).str})

    def _build_curve(self, split: str, model: str, pos: Any, weighted: bool) -> ThresholdCurve:
        """One split's curve for class ``pos`` from its rows (one sort of their scores)."""
        idx = self._positions(split, model)
        is_pos = self._frame["label_code"].to_numpy()[idx] == self._code(pos)
        scores = self._score_array(pos)[idx]
        w = self._frame["weight"].to_numpy()[idx] if weighted else None
        return ThresholdCurve.from_predictions(is_pos, scores, sample_weight=w, pos_label=True)

    def _code(self, cls: Any) -> int:
        """Integer code of a class (its position in ``schema.classes``)."""
        i = class_index(self.schema.classes, cls)
        if i is None:
            raise DashboardError(f"unknown class {cls!r}; the classes are "
                                 f"{', '.join(map(repr, self.schema.classes))}", column="label")
        return i

    def _score_array(self, pos: Any) -> np.ndarray:
        if self.schema.kind == "binary_score":
            return self._frame["score"].to_numpy()
        return self._frame[self.schema.proba_columns[pos]].to_numpy()

    def operating_point(self, split: str = "dev", threshold: float | None = None,
                        model: str | None = None) -> OperatingPoint:
        """Confusion matrix and rates at the current (or given) threshold, in O(log n)."""
        return self.curve(split, model).at(self.threshold_of(model) if threshold is None
                                           else threshold)

    def best_threshold(self, split: str = "dev", optimize: str = "f1",
                       constraints: Mapping[str, tuple[str, float]] | None = None, *,
                       beta: float = 1.0, model: str | None = None) -> BestThreshold | None:
        """The best distinct threshold under constraints (``None`` if none satisfies them)."""
        return best_threshold(self.curve(split, model), optimize, constraints, beta=beta)

    # -- per-row correctness ------------------------------------------------------------------
    def correct(self, split: str = "dev", model: str | None = None,
                threshold: float | None = None) -> np.ndarray:
        """Whether each row of the split is classified correctly (binary: at the threshold)."""
        idx = self._positions(split, model)
        return self._correct_at(idx, self.threshold_of(model) if threshold is None else threshold)

    def predicted(self, split: str = "dev", model: str | None = None,
                  threshold: float | None = None) -> np.ndarray:
        """Predicted class per row of the split (binary: at the threshold; else argmax)."""
        idx = self._positions(split, model)
        codes = self._predicted_codes(idx, self.threshold_of(model) if threshold is None
                                      else threshold)
        return np.asarray(self.schema.classes, dtype=object)[codes]

    def _predicted_codes(self, idx: np.ndarray, threshold: float,
                         frame: pd.DataFrame | None = None) -> np.ndarray:
        frame = self._frame if frame is None else frame
        kind = self.schema.kind
        if kind == "binary_score":
            # the positive class may be either label (pos_label=0, -1): never assume order
            pos = self._code(self.schema.pos_label)
            return np.where(flag(frame["score"].to_numpy()[idx], threshold), pos, 1 - pos)
        if kind == "multiclass_proba":
            classes = list(self.schema.proba_columns)
            mat = np.column_stack([frame[self.schema.proba_columns[c]].to_numpy()[idx]
                                   for c in classes])
            return np.asarray([self._code(c) for c in classes])[np.argmax(mat, axis=1)]
        return frame["prediction_code"].to_numpy()[idx]

    def _correct_at(self, idx: np.ndarray, threshold: float,
                    frame: pd.DataFrame | None = None) -> np.ndarray:
        frame = self._frame if frame is None else frame
        return (self._predicted_codes(idx, threshold, frame)
                == frame["label_code"].to_numpy()[idx])

    def class_f1(self, split: str = "dev", model: str | None = None) -> ClassF1:
        """Per-class, macro and micro F1 of the predicted classes (argmax when multiclass)."""
        model = self._check_model(model)
        thr = self.threshold_of(model)
        key = ("class_f1", model, split, None if self.schema.kind != "binary_score" else thr)
        if key not in self._cache:
            idx = self._positions(split, model)
            y = self._frame["label_code"].to_numpy()[idx]
            codes = self._predicted_codes(idx, thr)
            self._cache_put(key, multiclass_f1(y, codes, self.schema.classes), "class_f1")
        return self._cache[key]

    # -- error rates and gaps ----------------------------------------------------------------
    def error_rates(self, model: str | None = None, *, threshold: float | None = None,
                    weighted: bool | None = None) -> pd.DataFrame:
        """Error per split with its Wilson 95% interval, at the current threshold.

        Columns: n (rows), errors (misclassified rows, or their weight when weighted),
        error, ci_low, ci_high, n_effective (Kish's effective size when weighted).
        """
        model = self._check_model(model)
        thr = self.threshold_of(model) if threshold is None else float(threshold)
        weighted = self.weighted if weighted is None else weighted
        threshold_free = self.schema.kind != "binary_score"
        key = ("errors", model, None if threshold_free else thr, weighted)
        if key in self._cache:
            return self._cache[key]
        rows = []
        for split in self.splits:
            counted = self._split_errors(split, model, thr, weighted)
            if counted is None:
                continue
            n, errors, total, n_eff = counted
            error = errors / total if total > 0 else np.nan
            lo, hi = wilson_interval(error * n_eff, n_eff)
            rows.append({"split": split, "n": n, "errors": errors, "error": error,
                         "ci_low": lo, "ci_high": hi, "n_effective": n_eff})
        table = pd.DataFrame(rows).set_index("split")
        self._cache_put(key, table, limit_kind="errors")
        return table

    def _split_errors(self, split: str, model: str, thr: float, weighted: bool
                      ) -> tuple[int, float, float, float] | None:
        """(rows, errors, total weight, effective n) of one split, or None when it is empty."""
        idx = self._positions(split, model)
        if idx.size == 0:
            return None
        w = self._frame["weight"].to_numpy()[idx] if weighted else None
        if self.schema.kind == "binary_score":
            pt = self._curve(split, model, self.schema.pos_label, weighted).at(thr)
            errors, total = pt.fp + pt.fn, pt.n
        else:
            wrong = ~self._correct_at(idx, thr)
            errors = float(np.sum(w[wrong])) if w is not None else float(wrong.sum())
            total = float(np.sum(w)) if w is not None else float(idx.size)
        n_eff = effective_n(w) if w is not None else float(idx.size)
        return int(idx.size), errors, total, n_eff

    def gaps(self, model: str | None = None, *, reference: str | None = None,
             weighted: bool | None = None, threshold: float | None = None) -> GapReport:
        """The waterfall's gaps, focus and tactics at the current threshold and reference."""
        table = self.error_rates(model, weighted=weighted, threshold=threshold)
        human = self.human_level[reference or self.human_reference]
        key = ("gaps", id(table), human, self.human_level.given)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is table:  # the same error table: the same gaps
            return cached[1]
        err = table["error"].to_dict()
        report = decompose_gaps(human, err.get("train"), err.get("train_dev"), err.get("dev"),
                                err.get("test"), n=table["n_effective"].to_dict(),
                                human_given=self.human_level.given)
        self._cache_put(key, (table, report), "gaps")
        return report

    # -- review tags and the tally --------------------------------------------------------------
    @staticmethod
    def _with_keys(frame: pd.DataFrame) -> pd.DataFrame:
        """Add the example key: the id, or split/id when ids repeat across splits.

        Decided on integer codes; only distinct (split, id) pairs become strings.
        """
        id_codes = frame["id_code"].to_numpy().astype(np.int64)
        split_codes = frame["split"].cat.codes.to_numpy()
        pair = id_codes * len(SPLITS) + split_codes
        ids = frame["id"]
        if not isinstance(ids.dtype, pd.StringDtype):  # a frame built by hand: text ids
            ids = ids.astype("str")
        if _one_split_per_id(id_codes, split_codes) if _tiled(id_codes) else \
                _count_unique(pair) == _count_unique(id_codes):
            return frame.assign(id=ids, key=ids)  # one Arrow buffer for both columns
        names = pa.DictionaryArray.from_arrays(pa.array(split_codes.astype(np.int8)),
                                               pa.array(SPLITS, type=pa.large_string()))
        keys = pc.binary_join_element_wise(names.cast(pa.large_string()),
                                           pa.array(ids.array).cast(pa.large_string()),
                                           pa.scalar("/", pa.large_string()))
        return frame.assign(id=ids, key=pd.Series(pd.array(keys, dtype="str"),
                                                  index=frame.index))

    @staticmethod
    def _initial_tags(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
        """Tags given in the file: first non-empty value per example across models."""
        cats = list(schema.categories)
        sub = frame[["key", *cats]]
        reviewed = sub[cats].notna().any(axis=1)
        sub = sub[reviewed.to_numpy()]
        tags = sub.groupby("key", sort=False)[cats].first() if len(sub) else \
            pd.DataFrame(columns=cats, index=pd.Index([], name="key"), dtype="boolean")
        return tags.astype("boolean")

    @property
    def file_tags(self) -> pd.DataFrame:
        """The review tags given as boolean columns in the results file (the base layer)."""
        if "file_tags" not in self._cache:
            self._cache["file_tags"] = self._initial_tags(self._frame, self.schema)
        return self._cache["file_tags"]

    def _correct_cached(self, split: str, model: str) -> np.ndarray:
        """Correctness per row of a split at the current threshold, kept for repeated use."""
        thr = self.threshold_of(model)
        key = ("correct", model, split, thr if self.schema.kind == "binary_score" else None)
        if key not in self._cache:
            mask = self._correct_at(self._positions(split, model), thr)
            mask.setflags(write=False)
            self._cache_put(key, mask, "correct")
        return self._cache[key]

    def review_rows(self, split: str = "dev", model: str | None = None, *,
                    misclassified_only: bool = True) -> pd.DataFrame:
        """Rows of the split with prediction and correctness at the current threshold."""
        model = self._check_model(model)
        idx = self._positions(split, model)
        correct = self._correct_cached(split, model)
        if misclassified_only:
            idx = idx[~correct]
            correct = correct[~correct]
        rows = self._frame.iloc[idx].copy()
        codes = self._predicted_codes(idx, self.threshold_of(model))
        rows["predicted"] = np.asarray(self.schema.classes, dtype=object)[codes]
        rows["correct"] = correct
        return rows

    def review_sample_rows(self, split: str = "dev", model: str | None = None, *,
                           size: int = 100, seed: int = 0, reviewed: Sequence[str] = (),
                           include_correct: bool = False, eyeball: float = 0.0
                           ) -> tuple[pd.DataFrame, int]:
        """The error-analysis sample's rows (as :meth:`review_rows`, in sample order) and how
        many rows of the split are misclassified (in the eyeball part when ``eyeball``).

        The same rows as :func:`~dashboard.metrics.sampling.sample_review_rows` on the
        split's keys, but each key's rank (and eyeball part) is hashed once per split, so a
        threshold move does integer work only (a 10M-row file's dev split: 700,000 keys).
        """
        model = self._check_model(model)
        idx = self._positions(split, model)
        correct = self._correct_cached(split, model)
        rank = self._review_ranks(split, model, seed)
        keep = self._eyeball_part(split, model, eyeball) if eyeball > 0 else None
        if rank is None:  # a rank collision: the text-sorting path decides ties
            rows = self.review_rows(split, model, misclassified_only=not include_correct)
            if keep is not None:
                rows = rows[eyeball_mask(rows["key"].to_numpy(), eyeball)]
            ok = rows["correct"].to_numpy(dtype=bool)
            pos = sample_review_rows(rows["key"].astype(str).to_numpy(), ok, size=size,
                                     seed=seed, reviewed=reviewed,
                                     include_correct=include_correct)
            return rows.iloc[pos], int((~ok).sum())
        found = self._key_positions(split, model, pd.Index([str(k) for k in reviewed]))
        done = np.zeros(idx.size, dtype=bool)
        done[found[found >= 0]] = True
        pos = sample_by_rank(rank, correct, done, size=size, include_correct=include_correct,
                             keep=keep)
        rows = self._frame.iloc[idx[pos]].copy()
        codes = self._predicted_codes(idx[pos], self.threshold_of(model))
        rows["predicted"] = np.asarray(self.schema.classes, dtype=object)[codes]
        rows["correct"] = correct[pos]
        wrong = ~correct if keep is None else ~correct & keep
        return rows, int(wrong.sum())

    def _review_ranks(self, split: str, model: str, seed: int) -> np.ndarray | None:
        """Each row's review rank in the split (None when two keys' hashes collide)."""
        key = ("review_ranks", model, split, int(seed))
        if key not in self._cache:
            name = derived_name("ranks", type(self).__name__, self._current_task, model, split,
                                int(seed))
            stored = load_derived(self._cache_entry, name) if self._cache_entry else None
            if stored is not None:  # hashed by an earlier process: mapped
                rank = stored[0]["rank"] if stored[1]["distinct"] else None
            else:
                rank = rank_keys(self._keys_at(self._positions(split, model)), seed)
                ordered = np.sort(rank)
                distinct = not np.any(ordered[1:] == ordered[:-1])
                if self._cache_entry is not None:
                    save_derived(self._cache_entry, name, {"rank": rank}, {"distinct": distinct})
                rank = rank if distinct else None
            self._cache_put(key, rank, "review_ranks", limit=8)
        return self._cache[key]

    def _eyeball_part(self, split: str, model: str, fraction: float) -> np.ndarray:
        key = ("eyeball_part", model, split, float(fraction))
        if key not in self._cache:
            self._cache_put(key, eyeball_mask(self._keys_at(self._positions(split, model)),
                                              fraction), "eyeball_part", limit=8)
        return self._cache[key]

    def reviewed_tags(self, split: str = "dev", model: str | None = None) -> pd.DataFrame:
        """Tags of the reviewed examples that are misclassified now (the tally's rows)."""
        model = self._check_model(model)
        tags = self.tags
        reviewed = tags[tags.notna().any(axis=1).to_numpy()]
        # look up the few reviewed keys in the split (each found once, then remembered), not
        # every misclassified key in the tags
        pos = self._key_positions(split, model, reviewed.index)
        wrong = np.zeros(pos.size, dtype=bool)
        found = pos >= 0
        wrong[found] = ~self._correct_cached(split, model)[pos[found]]
        return reviewed[wrong]

    def _key_positions(self, split: str, model: str, keys: pd.Index) -> np.ndarray:
        """Position within the split of each of ``keys`` (-1 when absent): one pass over the
        split's keys against a hash of the few asked for (the reviewed ones)."""
        # positions never change: each key is looked up once (a scan, ~45 ms for a 1.5M-row
        # split), so a tick costs a scan only for an example reviewed the first time
        known: dict[str, int] = self._cache.setdefault(("key_positions", model, split), {})
        texts = [str(k) for k in keys]
        new = sorted({k for k in texts if k not in known})
        if new:
            idx = self._positions(split, model)
            split_keys = self._key_arrow().take(pa.array(idx))
            asked = pa.array(new, type=pa.large_string())
            where = pc.index_in(split_keys, value_set=asked)  # per split row: which key
            rows = np.flatnonzero(where.is_valid().to_numpy(zero_copy_only=False))
            known.update(dict.fromkeys(new, -1))
            for i, row in zip(where.filter(where.is_valid()).to_numpy().tolist(),
                              rows.tolist(), strict=True):
                known[new[i]] = row
        return np.fromiter((known[k] for k in texts), dtype=np.int64, count=len(texts))

    def tally(self, split: str = "dev", model: str | None = None) -> pd.DataFrame:
        """Per category: count, share of reviewed misclassified rows, and ceiling error.

        The table's ``attrs`` carry ``reviewed``, ``split_error`` and the label-noise
        analysis (``label_noise``).
        """
        model = self._check_model(model)
        split = self._check_split(split, model)
        tags = self.reviewed_tags(split, model)
        err = float(self.error_rates(model).loc[split, "error"])
        weights = self._review_weights(tags, split, model)
        table = tally_table(tags, err, weights)
        errors = int(self.error_rates(model, weighted=False).loc[split, "errors"])
        table.attrs.update({"reviewed": len(tags), "split_error": err, "split": split,
                            "model": model, "weighted": weights is not None,
                            "label_noise": self._label_noise(table, err),
                            "fix_first": fix_first(table, err, errors=errors, split=split)})
        return table

    def _review_weights(self, tags: pd.DataFrame, split: str, model: str) -> np.ndarray | None:
        """Weights of the reviewed rows when errors are weighted, so E and s agree."""
        if not self.weighted:
            return None
        idx = self._positions(split, model)
        pos = self._key_positions(split, model, tags.index)
        weight = self._frame["weight"].to_numpy()[idx]
        return np.where(pos >= 0, weight[np.maximum(pos, 0)], np.nan)

    def label_noise(self, split: str = "dev", model: str | None = None) -> LabelNoise:
        """How much of the split's error is due to incorrect labels (DOMAIN.md section 2)."""
        return self.tally(split, model).attrs["label_noise"]

    @staticmethod
    def _label_noise(table: pd.DataFrame, error: float) -> LabelNoise:
        reviewed = int(table.attrs.get("reviewed", table["reviewed"].iloc[0] if len(table)
                                       else 0)) if len(table) else 0
        if reviewed == 0 or MISLABELLED not in table.index:
            return label_noise(error, 0.0, reviewed=reviewed)
        row = table.loc[MISLABELLED]
        return label_noise(error, float(row["share"]), reviewed=reviewed,
                           share_interval=(float(row["share_low"]), float(row["share_high"])))

    def label_noise_warning(self, split: str = "dev") -> str | None:
        """Warn when the two best models differ by less than the error due to labels."""
        if len(self.models) < 2:
            return None
        errs = sorted((float(self.error_rates(m).loc[split, "error"]), m) for m in self.models
                      if self._ikey(m, split) in self._index)
        if len(errs) < 2:
            return None
        noise = self.label_noise(split, errs[0][1]).due_to_labels
        return label_noise_blocks_choice(errs[0][0], errs[1][0], noise)

    def set_tag(self, key: str, category: str, value: bool | None) -> None:
        """Tick (True), untick (False) or clear (None) one category of one example."""
        tags = self.tags
        if category not in tags.columns:
            raise DashboardError(f"unknown category {category!r}; add it first")
        key = str(key)
        if not self.has_key(key):
            raise DashboardError(f"unknown example {key!r}")
        new = tags.copy()
        if key not in new.index:
            row = pd.DataFrame([[pd.NA] * len(new.columns)], columns=new.columns,
                               index=pd.Index([key], name=new.index.name), dtype="boolean")
            new = pd.concat([new, row]).astype("boolean")
        # a reviewed example is reviewed for every category: unknown values become False
        new.loc[key] = new.loc[key].fillna(False)
        new.loc[key, category] = pd.NA if value is None else bool(value)
        self.tags = new

    def set_review(self, key: str, values: Mapping[str, bool | None]) -> None:
        """Replace one example's whole review in one change (the store's resolved values:
        categories not given, or None, read False on a reviewed example); no value at all
        clears the review."""
        key = str(key)
        if not any(v is not None for v in values.values()):
            self.clear_review(key)
            return
        if not self.has_key(key):
            raise DashboardError(f"unknown example {key!r}")
        new = self.tags.copy()
        row = [bool(values.get(c)) if values.get(c) is not None else False for c in new.columns]
        if key in new.index:
            new.loc[key] = row
        else:
            new = pd.concat([new, pd.DataFrame([row], columns=new.columns, index=pd.Index(
                [key], name=new.index.name))]).astype("boolean")
        self.tags = new

    def clear_review(self, key: str) -> None:
        """Forget that an example was reviewed (all its tags become unknown)."""
        key = str(key)
        if key in self.tags.index:
            self.tags = self.tags.drop(index=key)

    def add_category(self, name: str) -> None:
        """Add a category while reviewing; examples already reviewed get False."""
        name = str(name).strip()
        if not name:
            raise DashboardError("a category needs a name")
        if name in self.tags.columns:
            return
        new = self.tags.copy()
        new[name] = pd.array([False] * len(new), dtype="boolean")
        self.tags = new

    def rename_category(self, old: str, new_name: str) -> None:
        new_name = str(new_name).strip()
        if old == MISLABELLED:
            raise DashboardError(f"{MISLABELLED!r} is always present and cannot be renamed")
        if old not in self.tags.columns:
            raise DashboardError(f"unknown category {old!r}")
        if not new_name or new_name in self.tags.columns:
            raise DashboardError(f"cannot rename {old!r} to {new_name!r}: empty or taken")
        self.tags = self.tags.rename(columns={old: new_name})

    def remove_category(self, name: str) -> None:
        if name == MISLABELLED:
            raise DashboardError(f"{MISLABELLED!r} is always present and cannot be removed")
        if name in self.tags.columns:
            self.tags = self.tags.drop(columns=[name])

    def set_comment(self, key: str, text: str) -> None:
        self.comments = {**self.comments, str(key): str(text)}

    # -- finding categories before anyone ticks a box ---------------------------------------------
    @property
    def metadata_columns(self) -> tuple[str, ...]:
        """Metadata columns of the results file (device, region...), the raw material of slices."""
        return self.schema.metadata_columns

    def suggest_slices(self, split: str = "dev", max_order: int = 2, *,
                       model: str | None = None, bins: int = 4, min_rows: int = 20,
                       alpha: float = 0.05, limit: int = 50) -> pd.DataFrame:
        """Metadata slices where the split's errors concentrate, as suggested categories.

        Each metadata column (numeric ones in ``bins`` quantile bins) and, with
        ``max_order=2``, each pair: ``slice``, ``rows``, ``errors``, ``error``, ``rest_error``,
        ``share`` of the errors, ``ceiling_error`` if fixed, ``p_value`` (Holm-adjusted over
        every slice tried) and ``significant``. Cached per model, split and threshold.
        """
        model = self._check_model(model)
        split = self._check_split(split, model)
        key = ("slices", model, split, self.threshold_of(model), max_order, bins, min_rows,
               alpha, limit, self.weighted)
        if key not in self._cache:
            columns = self._slice_columns(split, model, bins)
            weights = (self._frame["weight"].to_numpy()[self._positions(split, model)]
                       if self.weighted else None)
            groups = self._slice_groups_sorted(split, model, bins) \
                if self.schema.kind == "binary_score" else None
            if groups is not None:  # a binary search per group, not a pass over the rows
                table = groups.find(self.threshold_of(model), weighted=self.weighted,
                                    max_order=max_order, min_rows=min_rows, alpha=alpha,
                                    limit=limit)
            else:
                table = find_slices(~self._correct_cached(split, model), columns,
                                    max_order=max_order, min_rows=min_rows, alpha=alpha,
                                    limit=limit, weights=weights)
            table.attrs.update({"split": split, "model": model,
                                "columns_used": tuple(c.name for c in columns)})
            self._cache_put(key, table, "slices", limit=8)
        return self._cache[key]

    def _slice_groups_sorted(self, split: str, model: str, bins: int) -> SliceGroups | None:
        """The split's rows grouped by level of every metadata column and label, scores
        sorted per group (once per split: they ignore the threshold); None when too many."""
        key = ("slice_groups", model, split, bins, self.weighted)
        if key not in self._cache:
            idx = self._positions(split, model)
            is_pos = self._frame["label_code"].to_numpy()[idx] == \
                self._code(self.schema.pos_label)
            weights = self._frame["weight"].to_numpy()[idx] if self.weighted else None
            self._cache[key] = SliceGroups.build(self._slice_columns(split, model, bins),
                                                 is_pos, self._score_array(
                                                     self.schema.pos_label)[idx], weights)
        return self._cache[key]

    def _slice_columns(self, split: str, model: str, bins: int) -> list:
        """Metadata columns as codes for one split, built once (they ignore the threshold)."""
        key = ("slice_columns", model, split, bins)
        if key not in self._cache:
            idx = self._positions(split, model)
            self._cache[key] = [c for c in (
                bin_column(name, self._frame[f"meta::{name}"].iloc[idx], bins)
                for name in self.metadata_columns) if c is not None]
        return self._cache[key]

    def slice_keys(self, slice_name: str, split: str = "dev", *, model: str | None = None,
                   bins: int = 4) -> np.ndarray:
        """Example keys of a split's rows in a suggested slice (``"device = ios and ..."``)."""
        model = self._check_model(model)
        idx = self._positions(self._check_split(split, model), model)
        mask = np.ones(idx.size, dtype=bool)
        for part in slice_name.split(" and "):
            for col in self._slice_columns(split, model, bins):
                if part in col.labels:
                    mask &= col.codes == col.labels.index(part)
                    break
            else:
                raise DashboardError(f"no metadata slice named {part!r}", column="slice")
        return self._keys_at(idx[mask])

    def _class_proba(self, idx: np.ndarray, model: str) -> np.ndarray:
        """n x k probabilities in class-code order, or one clear error without them."""
        if not self.has_scores or self.scale(model) != "probability":
            raise DashboardError("suspected label errors need the model's probabilities "
                                 "(a score column of probabilities, or proba_<class> columns); "
                                 "these results have "
                                 + ("margins" if self.has_scores else "hard predictions"))
        if self.schema.kind == "binary_score":
            s = self._frame["score"].to_numpy(dtype=np.float64)[idx]
            pos = self._code(self.schema.pos_label)
            out = np.empty((idx.size, 2))
            out[:, pos], out[:, 1 - pos] = s, 1.0 - s
            return out
        out = np.zeros((idx.size, len(self.schema.classes)))
        for cls, col in self.schema.proba_columns.items():
            out[:, self._code(cls)] = self._frame[col].to_numpy(dtype=np.float64)[idx]
        return out

    def label_suspects(self, split: str = "dev", *, model: str | None = None) -> pd.DataFrame:
        """Examples whose given label the model confidently contradicts (confident learning).

        One row per suspect, most suspect first: ``key``, ``id``, ``label``, ``likely`` (the
        class the model is confident of) and ``score`` (the probability of the given label;
        lower is more suspect). For a reviewer to look at first: nothing is relabelled.
        """
        model = self._check_model(model)
        split = self._check_split(split, model)
        key = ("suspects", model, split)
        if key not in self._cache:
            idx = self._positions(split, model)
            found = find_label_suspects(self._frame["label_code"].to_numpy()[idx],
                                        self._class_proba(idx, model))
            rows = idx[found.positions]
            classes = np.asarray(self.schema.classes, dtype=object)
            table = pd.DataFrame({
                "key": self._keys_at(rows),
                "id": np.asarray(self._frame["id"].array.take(rows), dtype=object),
                "label": classes[found.given], "likely": classes[found.likely],
                "score": found.self_confidence})
            table.attrs.update({"split": split, "model": model, "rows": int(idx.size),
                                "thresholds": dict(zip(self.schema.classes,
                                                       found.thresholds.tolist(),
                                                       strict=True))})
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
            if self._ikey(m, split) not in self._index:
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

    def _eyeball_parts(self, split: str, model: str, fraction: float, seed: int
                       ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per part (eyeball, black box) of a model's split at its threshold: rows, errors,
        weight, weight of the errors and squared weight; what the eyeball check compares."""
        idx = self._positions(split, model)
        eye = eyeball_mask(self._keys_at(idx), fraction, seed)
        wrong = ~self._correct_cached(split, model)
        w = (self._frame["weight"].to_numpy()[idx] if self.schema.has_weight else
             np.ones(idx.size))
        return tuple((float(part.sum()), float(wrong[part].sum()), float(w[part].sum()),
                      float(w[part & wrong].sum()), float((w[part] ** 2).sum()))
                     for part in (eye, ~eye))  # type: ignore[return-value]

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
    def train_sizes(self) -> tuple[float, ...]:
        """Training-set sizes in the results (empty without a ``train_size`` column)."""
        if self._lc_frame is None:
            return ()
        return tuple(sorted(pd.unique(self._lc_frame["train_size"]).tolist()))

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
        if self._lc_frame is None:
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

    def _lc_groups(self, model: str, weighted: bool) -> pd.DataFrame:
        """Per (training-set size, split): errors at the model's threshold (weighted or
        counted), weight and squared weight; the sums a learning curve is read from."""
        lc = self._lc_frame
        assert lc is not None
        mine = (lc["model"] == model).to_numpy()
        if self._tasks:  # the selected task's rows only, as every other view
            mine = mine & (lc["task"] == self._current_task).to_numpy()
        idx = np.flatnonzero(mine)
        wrong = ~self._correct_at(idx, self.threshold_of(model), lc)
        w = lc["weight"].to_numpy()[idx] if weighted else np.ones(idx.size)
        parts = pd.DataFrame({"size": lc["train_size"].to_numpy()[idx],
                              "split": lc["split"].to_numpy()[idx],
                              "err": w * wrong, "w": w, "w2": w * w})
        return parts.groupby(["size", "split"], observed=True).sum()

    # -- comparing models ---------------------------------------------------------------------
    def mcnemar(self, model_a: str, model_b: str, split: str = "dev", *,
                thresholds: tuple[float, float] | None = None) -> McNemar:
        """Exact McNemar test of two models on the examples of a split they share.

        By default both are judged at the shared threshold; ``thresholds`` gives each model
        its own (one-vs-rest on the positive class when multiclass).
        """
        for m in (model_a, model_b):
            self._check_split(split, m)
        ta, tb = thresholds if thresholds is not None else (self.threshold_of(model_a),
                                                              self.threshold_of(model_b))
        pairs = []
        for m, thr in ((model_a, ta), (model_b, tb)):
            correct = (self.correct_one_vs_rest(split, m, float(thr)) if thresholds is not None
                       else self.correct(split, m))
            pairs += [self._positions(split, m), correct]
        if self._same_keys(pairs[0], pairs[2]):  # one row per example, in the same order
            return mcnemar_exact(np.asarray(pairs[1], dtype=bool),
                                 np.asarray(pairs[3], dtype=bool))
        pairs[0], pairs[2] = self._keys_at(pairs[0]), self._keys_at(pairs[2])
        try:
            return paired_mcnemar(*pairs)
        except ValueError:
            raise DashboardError(f"models {model_a!r} and {model_b!r} share no {split} "
                                 "examples") from None

    def _same_keys(self, rows_a: np.ndarray, rows_b: np.ndarray) -> bool:
        """Whether two models' rows of a split hold the same keys in the same order (a long
        table written model by model): then rows pair by position, with no key matching.
        Keys are unique within a model's split, so equal sequences are equal sets."""
        if len(rows_a) != len(rows_b) or len(rows_a) == 0:
            return False
        keys = self._key_arrow()
        a = keys.take(pa.array(np.asarray(rows_a, dtype=np.int64)))
        b = keys.take(pa.array(np.asarray(rows_b, dtype=np.int64)))
        return bool(pc.all(pc.equal(a, b)).as_py())

    def correct_one_vs_rest(self, split: str, model: str, threshold: float) -> np.ndarray:
        """Per-row correctness for the positive class at a model's own threshold.

        Binary: the usual correctness at ``threshold``; multiclass: one-vs-rest on
        ``positive_class``; hard predictions: the predictions as they are.
        """
        if not self.has_scores or not np.isfinite(threshold):
            return self.correct(split, model)
        idx = self._positions(split, model)
        is_pos = self._frame["label_code"].to_numpy()[idx] == self._code(self.positive_class)
        return binary_correct(is_pos, self._score_array(self.positive_class)[idx], threshold)

    def compare_models(self, split: str = "dev", optimize: str = "f1",
                       constraints: Mapping[str, tuple[str, float]] | None = None, *,
                       metadata: Mapping[str, Mapping[str, float]] | None = None,
                       beta: float = 1.0) -> pd.DataFrame:
        """Each model's best operating point under one objective and the same constraints.

        Constraints on per-model ``metadata`` (e.g. running time in ms) admit or exclude a
        whole model; the others pick each model's threshold. ``error``, ``fp`` and ``fn`` are
        minimised. With hard predictions only, each model's one operating point is ranked by the
        objective asked for (F1 is computable from predictions). The
        table's ``attrs``: ``chosen`` (best admissible model), ``ranked`` (admissible models,
        best first), ``mcnemar`` ``(a, b, McNemar)`` between the top two, each at its own
        threshold, and ``resolution``, the smallest error difference this split can see at the
        chosen model's error.
        """
        metadata = self.metadata if metadata is None else metadata
        curve_c, meta_c = split_constraints(dict(constraints or {}), metadata)
        minimize = optimize in ("error", "fp", "fn")
        rows = []
        for m in self.models:
            row: dict[str, Any] = {"model": m, **metadata.get(m, {})}
            if not self.split_sizes(m).get(split):
                # a model without rows in the split is listed, not compared (nor an error)
                rows.append({**row, "feasible": False, "unmet": f"no {split} rows",
                             "admissible": False})
                continue
            if self.has_scores:
                best = self.best_threshold(split, optimize, curve_c, beta=beta, model=m)
                if best is not None:
                    row.update({"threshold": best.threshold, "value": best.value,
                                "precision": best.precision, "recall": best.recall,
                                "f1": best.f1, "accuracy": best.accuracy,
                                "error": 1 - best.accuracy})
                row["feasible"] = best is not None
            else:
                # hard predictions: one operating point per model, judged by the same rules
                err = float(self.error_rates(m).loc[split, "error"])
                point = self._prediction_point(split, m, beta)
                values = {**{k: point.get(k) for k in ("precision", "recall", "f1", "fbeta",
                                                       "specificity", "queue_rate", "tp",
                                                       "fp", "fn", "tn")},
                          "accuracy": 1 - err, "error": err}
                if optimize not in values:
                    raise DashboardError(f"cannot optimise {optimize!r}; choose one of "
                                         f"{', '.join(values)}")
                row.update({"threshold": float("nan"), "precision": point.precision,
                            "recall": point.recall, "f1": point.f1, "accuracy": 1 - err,
                            "error": err, "value": values[optimize],  # what was asked for
                            "feasible": not unmet(values, curve_c)})
            row["unmet"] = ", ".join(unmet_constraints(metadata.get(m, {}), meta_c))
            row["admissible"] = bool(row["feasible"]) and not row["unmet"]
            rows.append(row)
        table = pd.DataFrame(rows).set_index("model")

        def rank(m: str) -> tuple[bool, float]:  # an undefined value ranks last
            value = float(table.loc[m, "value"])
            return (math.isnan(value), value * (1 if minimize else -1))
        ranked = sorted((m for m in table.index if table.loc[m, "admissible"]), key=rank)
        table.attrs.update({"chosen": ranked[0] if ranked else None, "ranked": ranked,
                            "optimize": optimize, "minimize": minimize})
        if len(ranked) >= 2:
            a, b = ranked[:2]
            thresholds = (float(table.loc[a, "threshold"]), float(table.loc[b, "threshold"]))
            table.attrs["mcnemar"] = (a, b, self.mcnemar(a, b, split, thresholds=thresholds))
        if ranked:
            top = ranked[0]
            table.attrs["resolution"] = resolution(float(table.loc[top, "error"]),
                                                   self.split_sizes(top).get(split, 0))
        return table

    def _prediction_point(self, split: str, model: str, beta: float = 1.0) -> OperatingPoint:
        """Confusion counts of hard predictions for the positive class (one-vs-rest)."""
        idx = self._positions(split, model)
        code = self._code(self.positive_class)
        truth = self._frame["label_code"].to_numpy()[idx] == code
        pred = self._predicted_codes(idx, self.threshold_of(model)) == code
        w = self._frame["weight"].to_numpy()[idx] if self.weighted else None
        return point_from_predictions(truth, pred, sample_weight=w, beta=beta)

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
        held = "train_dev" if (self._ikey(model, "train_dev") in self._index
                               and target != "train_dev") else source
        key = ("mismatch", model, source, target, held, self.threshold_of(model), bins, alpha)
        if key not in self._cache:
            table = mismatch_table(self._mismatch_columns(model, source, target, held, bins),
                                   source=source, target=target, held=held, alpha=alpha)
            self._cache_put(key, table, "mismatch", limit=8)
        return self._cache[key]

    def _mismatch_columns(self, model: str, source: str, target: str, held: str,
                          bins: int) -> list[MismatchColumn]:
        """Each metadata column's counts per level, binned on the rows of all three splits
        (the bins once per split and model; a threshold move only recounts the errors)."""
        key = ("mismatch_codes", model, source, target, held, bins)
        if key not in self._cache:
            parts = {s: self._positions(s, model) for s in dict.fromkeys((source, target, held))}
            idx = np.concatenate(list(parts.values()))
            bounds = np.cumsum([0] + [p.size for p in parts.values()])
            at = {s: slice(int(bounds[i]), int(bounds[i + 1])) for i, s in enumerate(parts)}
            self._cache[key] = [
                (col.name, col.labels, col.codes[at[source]], col.codes[at[target]],
                 col.codes[at[held]],
                 MismatchColumn.from_codes(col.name, col.labels, col.codes[at[source]],
                                           col.codes[at[target]], col.codes[at[held]], None,
                                           None, held_errors=np.zeros(len(col.labels)),
                                           target_errors=np.zeros(len(col.labels))))
                for col in (bin_column(name, self._frame[f"meta::{name}"].iloc[idx], bins)
                            for name in self.metadata_columns) if col is not None]
        if self.schema.kind == "binary_score":  # errors per level from per-level curves
            thr = self.threshold_of(model)  # (the rows per level are counted once, above)
            return [dataclasses.replace(
                        counted,
                        held_errors=self._level_errors(model, held, name, hld, len(labels), thr,
                                                       key),
                        target_errors=self._level_errors(model, target, name, tgt, len(labels),
                                                         thr, key))
                    for name, labels, _src, tgt, hld, counted in self._cache[key]]
        wrong = {s: ~self._correct_cached(s, model) for s in (held, target)}
        return [MismatchColumn.from_codes(name, labels, src, tgt, hld, wrong[held],
                                          wrong[target])
                for name, labels, src, tgt, hld, _counted in self._cache[key]]

    def _level_errors(self, model: str, split: str, name: str, codes: np.ndarray, k: int,
                      threshold: float, codes_key: tuple) -> np.ndarray:
        """Misclassified rows of each level of a metadata column in a split at ``threshold``:
        one curve per level, built once, so a threshold move costs a binary search per level
        instead of a pass over the rows (the same counts as :meth:`correct`)."""
        key = ("level_curves", codes_key, split, name)
        curves = self._cache.get(key)
        if curves is None:
            rows = self._positions(split, model)
            is_pos = self._frame["label_code"].to_numpy()[rows] == \
                self._code(self.schema.pos_label)
            scores = self._score_array(self.schema.pos_label)[rows]
            codes = np.asarray(codes, dtype=np.int64)
            curves = [ThresholdCurve.from_predictions(is_pos[codes == lev],
                                                      scores[codes == lev], pos_label=True)
                      if np.any(codes == lev) else None for lev in range(k)]
            self._cache[key] = curves
        out = np.zeros(k, dtype=np.float64)
        for lev, curve in enumerate(curves):
            if curve is not None:
                point = curve.at(threshold)
                out[lev] = point.fp + point.fn
        return out

    # -- dev-set resolution: what the split can tell apart between two models ------------------
    def dev_resolution(self, model_a: str | None = None, model_b: str | None = None,
                       split: str = "dev", *, difference: float | None = None,
                       thresholds: tuple[float, float] | None = None, power: float = 0.8,
                       alpha: float = 0.05) -> Resolution:
        """The smallest paired error difference the split detects between two models (exact
        McNemar, ``power`` at level ``alpha``) and, for a ``difference`` the user types, about
        how many examples would detect it; see :mod:`dashboard.metrics.power`.

        The share of examples the models disagree on comes from :meth:`mcnemar` (at the shared
        threshold, or at ``thresholds``); ``n`` is the split's size, both models scored on the
        same examples. By default the current model against the next one.
        """
        model_a = self._check_model(model_a)
        if model_b is None:
            others = [m for m in self.models if m != model_a]
            if not others:
                raise DashboardError("dev-set resolution compares two models; these results "
                                     "hold one")
            model_b = others[0]
        model_b = self._check_model(model_b)
        # cached: beside the comparison the thresholds are the models' best ones, which a
        # threshold move leaves alone (the exact power search costs ~0.1 s)
        key = ("resolution", model_a, model_b, split,
               thresholds if thresholds is not None else (self.threshold_of(model_a),
                                                          self.threshold_of(model_b)),
               str(self.positive_class), difference, power, alpha)
        if key not in self._cache:
            test = self.mcnemar(model_a, model_b, split, thresholds=thresholds)
            n = min(self.split_sizes(m).get(split, 0) for m in (model_a, model_b))
            self._cache_put(key, resolution_of(model_a, model_b, n, test.discordant,
                                               difference, power, alpha), "resolution", limit=16)
        return self._cache[key]

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

    def _score_grid(self, split: str, model: str) -> float | None:
        """The grid an engine counted a split's scores on (``None`` in memory or exact)."""
        return None

    # -- cache management ------------------------------------------------------------------------
    def _cache_put(self, key: tuple, value: Any, limit_kind: str, limit: int = 64) -> None:
        """Store a derived table; per-threshold tables are bounded so slider sweeps can't grow
        memory without limit."""
        same = [k for k in self._cache if k[0] == limit_kind]
        if len(same) >= limit:
            del self._cache[same[0]]
        self._cache[key] = value

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={n}" for s, n in self.split_sizes().items())
        return (f"<Results {self.name!r}: models {list(self.models)}, {sizes}, "
                f"threshold={self.threshold:g}>")



class DatasetResults(Results):
    """Results whose rows stay in an engine: whole-split numbers come from its aggregates.

    Error rates, gaps, curves, operating points, best thresholds, model comparisons and
    per-class F1 use the per-distinct-score (or label × prediction) counts, so a threshold
    move never touches the engine; so do learning curves (counts per training-set size) and,
    once grouped by the engine, metadata slices and the eyeball check. Suspected label errors
    are found by the engine. The per-row views (review rows, the tally, previews, comments)
    use the bounded sample in :attr:`frame`. Build with :meth:`Results.from_dataset`.
    """

    def __init__(self, agg: Aggregates, **kwargs: Any) -> None:
        self._agg = agg
        self._lc_curves: dict[tuple, ThresholdCurve] = {}
        super().__init__(agg.sample, agg.schema, **kwargs)
        # the sample lists models in its own order; the dataset's order is the file's
        self._models = tuple(m for m in agg.models if m in set(self._models))
        with self.hold_trait_notifications():
            self.model = self._models[0]

    @property
    def engine_notes(self) -> tuple[str, ...]:
        return self._agg.notes

    @property
    def rows_total(self) -> int:
        """Rows in the dataset (the frame holds only the sample)."""
        return self._agg.rows

    @property
    def gridded(self) -> dict[tuple[str, str], float]:
        """(model, split) whose scores were grouped on a grid, and the grid step."""
        return dict(self._agg.gridded)

    def split_sizes(self, model: str | None = None) -> dict[str, int]:
        model = model or self.model
        sizes = self._agg.sizes
        # a split another model has counts 0 rows, as in memory
        return {s: int(sizes.loc[self._ikey(model, s), "n"]) if self._ikey(model, s) in
                sizes.index else 0 for s in self.splits}

    def _split_errors(self, split: str, model: str, thr: float, weighted: bool
                      ) -> tuple[int, float, float, float] | None:
        if self._ikey(model, split) not in self._agg.sizes.index:
            return None
        size = self._agg.sizes.loc[self._ikey(model, split)]
        n = int(size["n"])
        n_eff = (float(size["w"]) ** 2 / float(size["w2"]) if float(size["w2"]) > 0 else 0.0) \
            if weighted else float(n)
        if self.schema.kind == "binary_score":
            pt = self._curve(split, model, self.schema.pos_label, weighted).at(thr)
            return n, pt.fp + pt.fn, pt.n, n_eff
        counts = self._agg.confusion[self._ikey(model, split)][1 if weighted else 0]
        total = float(counts.sum())
        return n, total - float(np.trace(counts)), total, n_eff

    def _build_curve(self, split: str, model: str, pos: Any, weighted: bool) -> ThresholdCurve:
        """The curve from the engine's counts at each distinct score (or grid point)."""
        code = self._code(pos)
        if self.schema.kind == "binary_score":
            if code != self._code(self.schema.pos_label):
                raise DashboardError("a single score column scores one class; the "
                                     f"positive class is {self.schema.pos_label!r}")
            where: tuple = self._ikey(model, split)
            dtype = self._agg.score_dtype
        else:  # per-class probabilities: one-vs-rest on the class's own column
            where, dtype = (*self._ikey(model, split), code), self._agg.class_dtypes[code]
        scores, pn, nn, pw, nw = self._agg.counts[where]
        if self._ikey(model, split) in self._agg.gridded:
            # grid points are doubles: a float32 threshold would miss the point it names
            dtype = np.dtype(np.float64)
        return ThresholdCurve.from_counts(scores, pw if weighted else pn,
                                          nw if weighted else nn, dtype=dtype)

    @property
    def score_range(self) -> tuple[float, float]:
        if self.scale(self.model) == "probability" or not self.has_scores:
            return (0.0, 1.0)
        sizes = self._agg.sizes.xs(self.model, level="m")
        if self._tasks:
            sizes = sizes.xs(self._current_task, level="t")
        return (float(sizes["lo"].min()), float(sizes["hi"].max()))

    def class_f1(self, split: str = "dev", model: str | None = None) -> ClassF1:
        model = self._check_model(model)
        thr = self.threshold_of(model)
        key = ("class_f1", model, split, thr if self.schema.kind == "binary_score" else None)
        if key not in self._cache:
            if self._ikey(model, split) not in self._agg.sizes.index:
                k = len(self.schema.classes)
                cm = np.zeros((k, k))  # no rows of this model in the split: empty, as in memory
            elif self.schema.kind == "binary_score":
                pt = self._curve(split, model, self.schema.pos_label, False).at(thr)
                pos = self._code(self.schema.pos_label)
                cm = np.zeros((2, 2))
                cm[pos, pos], cm[1 - pos, pos] = pt.tp, pt.fp
                cm[pos, 1 - pos], cm[1 - pos, 1 - pos] = pt.fn, pt.tn
            else:
                cm = self._agg.confusion[self._ikey(model, split)][0]
            self._cache_put(key, f1_from_confusion(cm.astype(np.int64), self.schema.classes),
                            "class_f1")
        return self._cache[key]

    def _prediction_point(self, split: str, model: str, beta: float = 1.0) -> OperatingPoint:
        code = self._code(self.positive_class)
        cm = self._agg.confusion[self._ikey(model, split)][1 if self.weighted else 0]
        tp, fp = float(cm[code, code]), float(cm[:, code].sum() - cm[code, code])
        positives = float(cm[code].sum())
        return point_from_counts(tp, fp, positives, float(cm.sum()) - positives, beta=beta)

    def mcnemar(self, model_a: str, model_b: str, split: str = "dev", *,
                thresholds: tuple[float, float] | None = None) -> McNemar:
        for m in (model_a, model_b):
            self._check_split(split, m)
        ta, tb = thresholds if thresholds is not None else (self.threshold_of(model_a),
                                                              self.threshold_of(model_b))
        key = ("mcnemar", model_a, model_b, split, float(ta), float(tb))
        if key not in self._cache:
            binary = self.schema.kind == "binary_score"
            # as in memory: binary at the thresholds; per-class probabilities one-vs-rest on
            # the positive class when thresholds are given, else the argmax; predictions as is
            scored = binary or (self.has_scores and thresholds is not None)
            pos = (self._code(self.schema.pos_label) if binary else
                   self._code(self.positive_class) if scored else None)
            only_a, only_b, shared = self._agg.engine.paired_counts(
                model_a, model_b, split, *(float(t) if scored else None for t in (ta, tb)),
                dtype=self._agg.score_dtype, pos_code=pos,
                task=self._current_task if self._tasks else None)
            if shared == 0:
                raise DashboardError(f"models {model_a!r} and {model_b!r} share no {split} "
                                     "examples")
            self._cache_put(key, mcnemar_from_counts(only_a, only_b), "mcnemar")
        return self._cache[key]

    @property
    def fingerprint(self) -> str:
        if "fingerprint" not in self._cache:
            self._cache["fingerprint"] = self._agg.engine.fingerprint(
                self._agg.keys_with_split)
        return self._cache["fingerprint"]

    # -- learning curves: the engine's counts per training-set size ----------------------------
    @property
    def train_sizes(self) -> tuple[float, ...]:
        if self._agg.lc_sizes is None:
            return ()
        return tuple(sorted(pd.unique(self._agg.lc_sizes.index.get_level_values("z")).tolist()))

    def _lc_groups(self, model: str, weighted: bool) -> pd.DataFrame:
        """Per (size, split): errors at the model's threshold, weight and squared weight, from
        the counts per size (a curve per size and split, built once; the selected task's)."""
        thr = self.threshold_of(model)
        lc = self._agg
        assert lc.lc_sizes is not None
        task = (self._current_task,) if self._tasks else ()
        rows = []
        for where, size in lc.lc_sizes.iterrows():
            m, z, split = where[0], where[-2], where[-1]
            if m != model or tuple(where[1:-2]) != task:
                continue
            if self.schema.kind == "binary_score":
                key = ("lc_curve", *where, weighted)
                if key not in self._lc_curves:
                    scores, pn, nn, pw, nw = lc.lc_counts[where]
                    dtype = (np.dtype(np.float64) if where in lc.lc_gridded else
                             lc.score_dtype)
                    self._lc_curves[key] = ThresholdCurve.from_counts(
                        scores, pw if weighted else pn, nw if weighted else nn, dtype=dtype)
                pt = self._lc_curves[key].at(thr)
                err = pt.fp + pt.fn
            else:
                cm = lc.lc_confusion[where][1 if weighted else 0]
                err = float(cm.sum()) - float(np.trace(cm))
            w, w2 = (float(size["w"]), float(size["w2"])) if weighted else (
                float(size["n"]), float(size["n"]))
            rows.append({"size": float(z), "split": split, "err": float(err), "w": w, "w2": w2})
        return pd.DataFrame(rows).set_index(["size", "split"]).sort_index()

    # -- metadata slices: find_slices over the engine's groups of slice cells ----------------
    def suggest_slices(self, split: str = "dev", max_order: int = 2, *,
                       model: str | None = None, bins: int = 4, min_rows: int = 20,
                       alpha: float = 0.05, limit: int = 50) -> pd.DataFrame:
        """:meth:`Results.suggest_slices` from the engine's rows grouped by slice cell, label
        and score: the engine is asked once per split; a threshold move only recounts."""
        model = self._check_model(model)
        split = self._check_split(split, model)
        thr = self.threshold_of(model)
        key = ("slices", model, split, thr, max_order, bins, min_rows, alpha, limit,
               self.weighted)
        if key not in self._cache:
            groups, slice_grid = self._slice_groups(split, model, bins)
            wrong = self._wrong_in_groups(split, model, groups.labels, groups.values,
                                          on_grid=slice_grid is not None)
            table = find_slices(wrong, groups.columns, max_order=max_order, min_rows=min_rows,
                                alpha=alpha, limit=limit, counts=groups.counts,
                                weights=groups.weights if self.weighted else None)
            table.attrs.update({"split": split, "model": model,
                                "columns_used": tuple(c.name for c in groups.columns)})
            if slice_grid:
                exact = abs(thr / slice_grid - round(thr / slice_grid)) < 1e-9
                table.attrs["score_grid"] = slice_grid
                table.attrs["note"] = (
                    f"Slices of {split} are counted on a {slice_grid:g} score grid (more than "
                    f"{SLICE_GROUP_LIMIT:,} slice, label and score groups): "
                    + (f"exact at this threshold ({thr:g} is on the grid)." if exact else
                       f"the threshold {thr:g} is not on the grid, so rows scored within "
                       f"{slice_grid:g} below it count as at or above it."))
            self._cache_put(key, table, "slices", limit=8)
        return self._cache[key]

    def _wrong_in_groups(self, split: str, model: str, labels: np.ndarray,
                         values: np.ndarray | None, *, on_grid: bool = False) -> np.ndarray:
        """Which of an engine's groups are errors at the model's threshold: binary scores
        (``labels`` positive, ``values`` the score or grid point) compared in the scores' own
        type (grid points as doubles), else ``labels`` already says wrong."""
        if values is None:
            return labels
        gridded = on_grid or self._ikey(model, split) in self._agg.gridded
        values = values.astype(np.float64 if gridded else self._agg.score_dtype)
        return labels != flag(values, self.threshold_of(model))

    def _slice_groups(self, split: str, model: str, bins: int) -> tuple[Any, float | None]:
        """The engine's groups of a split by slice cell (asked once per split and bins), and
        the coarser score grid they were counted on when the exact groups were too many."""
        key = ("slice_groups", model, split, bins)
        if key not in self._cache:
            meta = [(name, bool(pd.api.types.is_numeric_dtype(col)
                                and not pd.api.types.is_bool_dtype(col)))
                    for name in self.metadata_columns
                    for col in [self._frame[f"meta::{name}"]]]
            binary = self.schema.kind == "binary_score"
            grid = self._agg.gridded.get(self._ikey(model, split)) if binary else None
            task = self._current_task if self._tasks else None
            try:
                self._cache[key] = (self._agg.engine.slice_groups(
                    model, split, task, meta, bins, binary=binary, grid=grid), None)
            except SliceLimitError:
                if not binary or (grid is not None and grid >= SLICE_GRID):
                    raise
                # one group per distinct score is too many: count them on a coarse grid
                self._cache[key] = (self._agg.engine.slice_groups(
                    model, split, task, meta, bins, binary=binary, grid=SLICE_GRID),
                    SLICE_GRID)
        return self._cache[key]

    def slice_keys(self, slice_name: str, split: str = "dev", *, model: str | None = None,
                   bins: int = 4) -> np.ndarray:
        """Example keys of a split's rows in a suggested slice, fetched by one query."""
        model = self._check_model(model)
        split = self._check_split(split, model)
        groups, _ = self._slice_groups(split, model, bins)
        conditions = []
        for part in slice_name.split(" and "):
            for col, sql in zip(groups.columns, groups.sql, strict=True):
                if part in col.labels:
                    conditions.append((sql, col.labels.index(part)))
                    break
            else:
                raise DashboardError(f"no metadata slice named {part!r}", column="slice")
        return self._agg.engine.slice_keys(model, split, self._current_task if self._tasks
                                           else None, conditions, self._agg.keys_with_split)

    def _eyeball_parts(self, split: str, model: str, fraction: float, seed: int
                       ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The eyeball check's sums from the engine's rows grouped by part (the hashed key,
        as ``eyeball_mask`` decides it), label and score: asked once, then recounted."""
        key = ("eyeball_groups", model, split, float(fraction), int(seed))
        if key not in self._cache:
            binary = self.schema.kind == "binary_score"
            self._cache[key] = self._agg.engine.eyeball_groups(
                model, split, self._current_task if self._tasks else None, fraction, seed,
                self._agg.keys_with_split, binary=binary,
                grid=self._agg.gridded.get(self._ikey(model, split)) if binary else None)
        eye, labels, values, counts, w, w2 = self._cache[key]
        wrong = self._wrong_in_groups(split, model, labels, values)
        return tuple((float(counts[part].sum()), float(counts[part & wrong].sum()),
                      float(w[part].sum()), float(w[part & wrong].sum()), float(w2[part].sum()))
                     for part in (eye, ~eye))  # type: ignore[return-value]

    def label_suspects(self, split: str = "dev", *, model: str | None = None) -> pd.DataFrame:
        """:meth:`Results.label_suspects` run by the engine (the most suspect
        ``SUSPECT_LIMIT`` rows of a split; ``attrs["truncated"]`` when more were left out)."""
        model = self._check_model(model)
        split = self._check_split(split, model)
        key = ("suspects", model, split)
        if key not in self._cache:
            self._class_proba(np.empty(0, dtype=np.int64), model)  # probabilities, or refuse
            found, thresholds, more = self._agg.engine.label_suspects(
                model, split, self._current_task if self._tasks else None,
                len(self.schema.classes), self._agg.keys_with_split)
            classes = np.asarray(self.schema.classes, dtype=object)
            table = pd.DataFrame({
                "key": found["k"].to_numpy(dtype=object), "id": found["i"].to_numpy(dtype=object),
                "label": classes[found["g"].to_numpy(dtype=np.int64)],
                "likely": classes[found["l"].to_numpy(dtype=np.int64)],
                "score": found["s"].to_numpy(dtype=np.float64)})
            table.attrs.update({"split": split, "model": model,
                                "rows": self.split_sizes(model).get(split, 0),
                                "thresholds": dict(zip(self.schema.classes,
                                                       thresholds.tolist(), strict=True))})
            if more:
                table.attrs["truncated"] = True
            self._cache[key] = table
        return self._cache[key]

    def _score_grid(self, split: str, model: str) -> float | None:
        return self._agg.gridded.get(self._ikey(model, split))

    def _mismatch_columns(self, model: str, source: str, target: str, held: str,
                          bins: int) -> list[MismatchColumn]:
        """The counts per level from the engine's rows of the three splits grouped by slice
        cell, split, label and score (binned together, as in memory): asked once, then only
        recounted when the threshold moves."""
        splits = tuple(dict.fromkeys((source, target, held)))
        key = ("mismatch_groups", model, splits, bins)
        binary = self.schema.kind == "binary_score"
        if key not in self._cache:
            meta = [(name, bool(pd.api.types.is_numeric_dtype(col)
                                and not pd.api.types.is_bool_dtype(col)))
                    for name in self.metadata_columns
                    for col in [self._frame[f"meta::{name}"]]]
            grids = [self._agg.gridded.get(self._ikey(model, s)) for s in splits]
            grid = max((g for g in grids if g), default=None) if binary else None
            task = self._current_task if self._tasks else None
            try:
                groups = self._agg.engine.slice_groups(model, splits, task, meta, bins,
                                                       binary=binary, grid=grid, by_split=True)
            except SliceLimitError:
                if not binary or (grid is not None and grid >= SLICE_GRID):
                    raise
                grid = SLICE_GRID
                groups = self._agg.engine.slice_groups(model, splits, task, meta, bins,
                                                       binary=binary, grid=grid, by_split=True)
            self._cache[key] = (groups, grid)
        groups, grid = self._cache[key]
        wrong = np.zeros(groups.counts.size, dtype=bool)
        for s in splits:
            at = groups.splits == SPLITS.index(s)
            wrong[at] = self._wrong_in_groups(
                s, model, groups.labels[at], None if groups.values is None else
                groups.values[at], on_grid=grid is not None)
        return columns_from_groups(groups.columns, groups.splits, wrong, groups.counts,
                                   *(SPLITS.index(s) for s in (source, target, held)))

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={n}" for s, n in self.split_sizes().items())
        return (f"<DatasetResults {self.name!r}: models {list(self.models)}, {sizes}, "
                f"threshold={self.threshold:g}, sample of {len(self._frame):,} rows>")


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


def _score_estimator(est: Any, X: Any, part: dict[str, Any], pos_label: Any) -> str:
    """Put one fitted estimator's output for ``X`` into ``part``; say what kind it is.

    ``"probability"`` (``predict_proba``), ``"margin"`` (``decision_function``, threshold 0)
    or ``"prediction"`` (``predict`` only). Binary outputs are scored for ``pos_label``
    (default ``classes_[1]``, as scikit-learn); margins for ``classes_[0]`` are negated.
    """
    classes = [c.item() if isinstance(c, np.generic) else c for c in getattr(est, "classes_", [])]
    if hasattr(est, "predict_proba"):
        proba = np.asarray(est.predict_proba(X))
        if proba.shape[1] == 2:
            j = 1 if pos_label is None else class_index(classes, pos_label)
            if j is None:
                raise DashboardError(f"positive class {pos_label!r} is not among the "
                                     f"estimator's classes {classes}")
            part["score"] = proba[:, j]
        else:
            for j, c in enumerate(classes):
                part[f"proba_{c}"] = proba[:, j]
        return "probability"
    if hasattr(est, "decision_function"):
        margin = np.asarray(est.decision_function(X))
        if margin.dtype.kind != "f":
            margin = margin.astype(np.float64)
        if margin.ndim == 1:
            flip = pos_label is not None and class_index(classes, pos_label) == 0
            part["score"] = -margin if flip else margin
        else:
            for j, c in enumerate(classes):
                part[f"proba_{c}"] = margin[:, j]
        return "margin"
    part["prediction"] = np.asarray(est.predict(X))
    return "prediction"


def _tiled(codes: np.ndarray) -> bool:
    """Whether id codes are 0..b-1 repeated block after block (a long table written model by
    model, as io encodes it): then ids are checked block against block, without a sort."""
    n, b = codes.size, int(codes.max()) + 1 if codes.size else 0
    if b == 0 or n % b:
        return False
    return bool(np.array_equal(codes.reshape(n // b, b),
                               np.broadcast_to(np.arange(b), (n // b, b))))


def _one_split_per_id(tiled_codes: np.ndarray, split_codes: np.ndarray) -> bool:
    """For tiled id codes: whether every id has the same split in every block."""
    b = int(tiled_codes.max()) + 1
    blocks = np.asarray(split_codes).reshape(-1, b)
    return bool((blocks == blocks[0]).all())


def _count_unique(values: np.ndarray) -> int:
    """Number of distinct integers, by one sort (faster here than numpy's hash unique)."""
    if values.size == 0:
        return 0
    ordered = np.sort(values)
    return int(1 + np.count_nonzero(ordered[1:] != ordered[:-1]))
