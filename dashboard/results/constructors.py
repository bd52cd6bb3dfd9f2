"""How a :class:`~dashboard.results.model.Results` is built: from a file (through the table
cache), a dataset an engine aggregates (DuckDB, Dask), a frame, arrays or fitted estimators.
Every constructor ends in the same model over an engine: the rows in memory
(:class:`~dashboard.memory_engine.MemorySource`) or an engine's aggregates
(:class:`~dashboard.aggregate_source.AggregateSource`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.aggregate_source import AggregateSource
from dashboard.cache import CachedTable, TableCache, cache_key
from dashboard.engine_cache import (
    aggregates_key,
    dask_aggregates,
    load_aggregates,
    save_aggregates,
)
from dashboard.engines import DISTINCT_LIMIT, ENGINES, GRID, Aggregates, aggregate
from dashboard.errors import DashboardError
from dashboard.io import SPLITS, class_index, load_table, normalize, release_scratch

if TYPE_CHECKING:
    from dashboard.results.model import Results

__all__ = ["ConstructorsMixin"]


class ConstructorsMixin:
    """The constructors of :class:`Results`."""

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
        of rows for the per-row views (``rows_total``, ``gridded``, ``engine_notes`` say so);
        ``"dask"`` the same on a Dask cluster (``scheduler``: an address such as
        ``"tcp://host:8786"``, a ``distributed.Client``, or None for Dask's default);
        ``"pandas"`` is :meth:`from_file`. Column options are :meth:`from_file`'s. A split
        with more than ``distinct_limit`` distinct scores is grouped on a ``grid``.
        ``cache`` (a folder or a :class:`~dashboard.cache.TableCache`) keeps each engine's
        aggregates, or the pandas engine's table, once per content version.
        """
        if engine == "pandas":
            return cls.from_file(source, human_level=human_level, threshold=threshold,
                                 metadata=metadata, class_names=class_names, cache=cache,
                                 **columns)
        if engine not in ENGINES:
            raise DashboardError(f"unknown engine {engine!r}; choose one of "
                                 f"{', '.join(ENGINES)}")
        if engine == "dask":
            agg = dask_aggregates(source, cache, scheduler=scheduler, threshold=threshold,
                                  distinct_limit=distinct_limit, grid=grid, columns=columns)
        elif cache is not None:
            agg = cls._duckdb_cached(source, cache if isinstance(cache, TableCache) else
                                     TableCache(cache), threshold=threshold,
                                     distinct_limit=distinct_limit, grid=grid,
                                     memory_limit=memory_limit, columns=columns)
        else:
            agg = aggregate(source, threshold=threshold, distinct_limit=distinct_limit,
                            grid=grid, memory_limit=memory_limit, **columns)
        return cls.from_aggregates(agg, human_level=human_level, threshold=threshold,
                                   name=Path(str(source).rstrip("/*")).name or str(source),
                                   metadata=metadata, class_names=class_names)

    @classmethod
    def from_aggregates(cls, agg: Aggregates, **kwargs: Any) -> Results:
        """Results over an engine's aggregates: whole-split numbers from its counts, per-row
        views from its bounded sample (``kwargs`` are the constructor's)."""
        return cls(agg.sample, agg.schema, source=AggregateSource(agg), **kwargs)

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

    # -- review tags and the tally --------------------------------------------------------------
    @staticmethod
    def _with_keys(frame: pd.DataFrame) -> pd.DataFrame:
        """Add the example key: the id, or split/id when ids repeat across splits.

        Decided on integer codes; only distinct (split, id) pairs become strings.
        """
        id_codes = frame["id_code"].to_numpy()  # in their own (narrow) type until needed
        split_codes = frame["split"].cat.codes.to_numpy()
        ids = frame["id"]
        if not isinstance(ids.dtype, pd.StringDtype):  # a frame built by hand: text ids
            ids = ids.astype("str")
        if _tiled(id_codes):
            one_per_id = _one_split_per_id(id_codes, split_codes)
        else:
            wide = id_codes.astype(np.int64)
            one_per_id = _count_unique(wide * len(SPLITS) + split_codes) == _count_unique(wide)
        if one_per_id:
            return frame.assign(id=ids, key=ids)  # one Arrow buffer for both columns
        names = pa.DictionaryArray.from_arrays(pa.array(split_codes.astype(np.int8)),
                                               pa.array(SPLITS, type=pa.large_string()))
        keys = pc.binary_join_element_wise(names.cast(pa.large_string()),
                                           pa.array(ids.array).cast(pa.large_string()),
                                           pa.scalar("/", pa.large_string()))
        return frame.assign(id=ids, key=pd.Series(pd.array(keys, dtype="str"),
                                                  index=frame.index))


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
                               np.broadcast_to(np.arange(b, dtype=codes.dtype), (n // b, b))))


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

