"""The results model: one ``HasTraits`` object over the evaluation results that every widget
binds to.

It holds the shared state (threshold, model, positive class, human-level reference, weighting,
review tags) as traits and reads every number from one engine's aggregates: the rows in
memory (:class:`~dashboard.memory_engine.MemorySource`) or an out-of-core engine's
(:class:`~dashboard.aggregate_source.AggregateSource`), so each number has one path whatever
the engine. Derived tables are cached keyed only by what they depend on: moving the threshold
never rebuilds a curve, it costs a binary search per split. The concerns live in mixins:
constructors, review and tally, analyses, model comparisons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import traitlets as t

from dashboard.aggregate_source import AggregateSource
from dashboard.cache import derived_name, load_derived, save_derived
from dashboard.errors import DashboardError
from dashboard.io import SPLITS, Schema, class_index, row_groups
from dashboard.memory_engine import MemorySource
from dashboard.metrics.curve import (
    BestThreshold,
    OperatingPoint,
    ThresholdCurve,
    above,
    best_threshold,
)
from dashboard.metrics.gaps import GapReport, HumanLevel, decompose_gaps
from dashboard.metrics.intervals import wilson_interval
from dashboard.metrics.multiclass import ClassF1, f1_from_confusion
from dashboard.results.analysis import AnalysisMixin
from dashboard.results.comparing import ComparingMixin
from dashboard.results.constructors import ConstructorsMixin
from dashboard.results.review import ReviewMixin

__all__ = ["Results", "StateError", "check_class_names"]


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


class Results(ConstructorsMixin, ReviewMixin, AnalysisMixin, ComparingMixin, t.HasTraits):
    """Evaluation results of one or more models, and the state every view shares.

    Build with :meth:`from_file`, :meth:`from_dataset`, :meth:`from_frame`,
    :meth:`from_predictions` or :meth:`from_estimator`. Set ``threshold``, ``model``,
    ``positive_class``, ``human_reference`` or ``weighted`` and every observer (every widget)
    follows.
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
                 positions: Mapping[tuple, np.ndarray] | None = None,
                 source: AggregateSource | None = None) -> None:
        """``frame`` and ``schema`` as :func:`dashboard.io.normalize` gives them; ``source``
        an out-of-core engine's aggregates (then ``frame`` is its bounded sample of rows)."""
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
        #: example keys found in the rows (asked about by a view)
        self._confirmed_keys: set[str] = set()
        self._tasks = tuple(schema.tasks) if "task" in frame.columns else ()
        group = ["model", "task", "split"] if self._tasks else ["model", "split"]
        # row positions per (model, split): int32 halves them (80 -> 40 MB at 10M rows)
        pos_type = np.int32 if len(frame) < 2**31 else np.int64
        # pandas' groupby from the codes (row_groups), or pandas' own when it cannot
        self._index = dict(positions) if positions is not None else \
            {k: np.asarray(v, dtype=pos_type) for k, v in (row_groups(frame, group) or
             frame.groupby(group, observed=True, sort=False).indices).items()}
        models = tuple(pd.unique(frame["model"]))
        if source is not None:  # the sample lists models in its own order; the file's rules
            models = tuple(m for m in source.models if m in set(models))
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
        #: the rows the per-row views read (every row in memory; an engine's sample)
        self._rows = MemorySource(frame, schema, self._index, self._tasks, self._lc_frame)
        #: where every number comes from: the rows themselves, or an engine's aggregates
        self._source: MemorySource | AggregateSource = self._rows if source is None else source
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

    def _has_split(self, model: str, split: str) -> bool:
        """Whether the model has rows in the split (for the task in view), per the engine."""
        return self._source.size(self._ikey(model, split)) is not None

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
        if not self._has_split(model, split):
            have = [s for s in SPLITS if self._has_split(model, s)]
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
    def engine(self) -> str:
        """Where the rows live: ``"memory"``, ``"duckdb"`` or ``"dask"``."""
        return self._source.name

    @property
    def engine_notes(self) -> tuple[str, ...]:
        """How an engine computed the numbers (a sample, a score grid); empty in memory."""
        return self._source.notes

    @property
    def rows_total(self) -> int:
        """Rows in the results (the largest training-set size's runs; an engine's frame
        holds only a sample of them)."""
        return self._source.rows_total

    @property
    def gridded(self) -> dict[tuple, float]:
        """Splits whose scores an engine grouped on a grid, and the grid step (empty in
        memory)."""
        return self._source.gridded

    @property
    def splits(self) -> tuple[str, ...]:
        """Splits present in the table (for the task in view), in walk order."""
        if "splits" not in self._cache:  # asked on every move: the rows never change
            self._cache["splits"] = tuple(s for s in SPLITS
                                          if any(self._has_split(m, s) for m in self._models))
        return self._cache["splits"]

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
            self._cache["fingerprint"] = self._source.fingerprint()
        return self._cache["fingerprint"]

    def _key_arrow(self) -> pa.Array:
        """Every row's example key as one Arrow string array (no Python object per row)."""
        return self._rows.key_arrow()

    def _keys_at(self, rows: np.ndarray) -> np.ndarray:
        """The example keys of ``rows`` (positions) as text; only those rows become objects."""
        return self._rows.keys_at(rows)

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
            self._cache[key] = self._source.score_range(
                self.model, self._current_task if self._tasks else None)
        return self._cache[key]

    def rows(self, split: str, model: str | None = None) -> pd.DataFrame:
        """The rows of one split for one model (default: the current model)."""
        return self._frame.iloc[self._positions(split, model)]

    def split_sizes(self, model: str | None = None) -> dict[str, int]:
        """Rows per split of a model (0 for a split only another model has)."""
        model = model or self.model
        return {s: size[0] if size else 0 for s in self.splits
                for size in [self._source.size(self._ikey(model, s))]}

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
        self._positions(split, model)  # refuses an unknown model or split
        if not self._has_split(model, split):
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
        """One split's curve for class ``pos``, from the engine."""
        return self._source.curve(self._ikey(model, split), self._code(pos), weighted)

    def _code(self, cls: Any) -> int:
        """Integer code of a class (its position in ``schema.classes``)."""
        return self._rows.code(cls)

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
        return self._rows.correct_at(idx, self.threshold_of(model) if threshold is None
                                     else threshold)

    def predicted(self, split: str = "dev", model: str | None = None,
                  threshold: float | None = None) -> np.ndarray:
        """Predicted class per row of the split (binary: at the threshold; else argmax)."""
        idx = self._positions(split, model)
        codes = self._predicted_codes(idx, self.threshold_of(model) if threshold is None
                                      else threshold)
        return np.asarray(self.schema.classes, dtype=object)[codes]

    def _predicted_codes(self, idx: np.ndarray, threshold: float) -> np.ndarray:
        return self._rows.predicted_codes(idx, threshold)

    def class_f1(self, split: str = "dev", model: str | None = None) -> ClassF1:
        """Per-class, macro and micro F1 of the predicted classes (argmax when multiclass)."""
        model = self._check_model(model)
        thr = self.threshold_of(model)
        key = ("class_f1", model, split, thr if self.schema.kind == "binary_score" else None)
        if key not in self._cache:
            where = self._ikey(model, split)
            k = len(self.schema.classes)
            if self._source.size(where) is None:
                cm = np.zeros((k, k))  # no rows of this model in the split: all zero
            elif self.schema.kind == "binary_score":
                pt = self._curve(split, model, self.schema.pos_label, False).at(thr)
                pos = self._code(self.schema.pos_label)
                cm = np.zeros((2, 2))
                cm[pos, pos], cm[1 - pos, pos] = pt.tp, pt.fp
                cm[pos, 1 - pos], cm[1 - pos, 1 - pos] = pt.fn, pt.tn
            else:
                cm = self._source.confusion(where, False)
            self._cache_put(key, f1_from_confusion(cm.astype(np.int64), self.schema.classes),
                            "class_f1")
        return self._cache[key]

    # -- error rates and gaps ----------------------------------------------------------------
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
        size = self._source.size(self._ikey(model, split))
        if size is None:
            return None
        n, w, w2 = size
        n_eff = (w * w / w2 if w2 > 0 else 0.0) if weighted else float(n)
        if self.schema.kind == "binary_score":
            pt = self._curve(split, model, self.schema.pos_label, weighted).at(thr)
            return n, pt.fp + pt.fn, pt.n, n_eff
        counts = self._source.confusion(self._ikey(model, split), weighted)
        total = float(counts.sum())
        return n, total - float(np.trace(counts)), total, n_eff

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

    def _score_grid(self, split: str, model: str) -> float | None:
        """The grid an engine counted a split's scores on (``None`` in memory or exact)."""
        return self._source.score_grid(self._ikey(model, split))

    # -- cache management ------------------------------------------------------------------------
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
        where = "" if self.engine == "memory" else (
            f", {self.engine}, sample of {len(self._frame):,} rows")
        return (f"<Results {self.name!r}: models {list(self.models)}, {sizes}, "
                f"threshold={self.threshold:g}{where}>")
