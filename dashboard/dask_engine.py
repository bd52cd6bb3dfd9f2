"""The same aggregates as :mod:`dashboard.engines`, computed by Dask (a ``distributed`` cluster).

One partition per Parquet or CSV file (a CSV read whole by pandas, ids as text, as the in-memory
path reads it), read on the workers with its file name and row numbers, so a
bad value is named as the DuckDB path names it. Every per-row step is a pandas function of one
partition (the same comparisons as the in-memory path: ``flag`` in the scores' own dtype), and
only aggregates and the bounded sample come back to the client. ``dask`` and ``distributed``
are imported lazily.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dashboard.engines import (
    DISTINCT_LIMIT,
    GRID,
    SLICE_GROUP_LIMIT,
    SUSPECT_LIMIT,
    Aggregates,
    SliceGroups,
    _check_partitions,
    _normalize_opts,
    _one_per_key,
    _plain,
    _replace,
    confusion_counts,
    expand_source,
    eyeball_arrays,
    grid_note,
    keyed_sample,
    no_id_note,
    normalize_rows,
    row_key_names,
    sample_notes,
    split_sizes,
    too_many_slice_groups,
    wide_tasks,
)
from dashboard.errors import DashboardError
from dashboard.io import (
    SPLIT_ALIASES,
    SPLITS,
    _alias_key,
    class_index,
    is_tag_column,
)
from dashboard.metrics.curve import flag
from dashboard.metrics.sampling import eyeball_mask
from dashboard.metrics.slices import (
    MAX_LEVELS,
    SliceColumn,
    numeric_labels,
    quantile_from_order_stats,
)
from dashboard.metrics.suspects import _THRESHOLD_FLOOR, suspect_rows

__all__ = ["DaskSource", "aggregate_dask", "reopen_dask"]

_FILE, _ROW, _ROW_ID = "__file__", "file_row_number", "__row_id__"
_SAMPLE_KEY = "mldash-sample-01"  # 16 characters: pandas' hash key for the random sample
SCHEDULER_CONNECT_S = 15
"""Seconds to reach a --scheduler before saying it cannot be reached (Dask waits longer)."""


def _arrow_type(t: Any) -> str:
    """A pyarrow type as the DuckDB type name the partition checks compare."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return _arrow_type(t.value_type)
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_float32(t) or pa.types.is_float16(t):
        return "FLOAT"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_decimal(t):
        return "DECIMAL"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    return str(t).upper()


def _describe(file: str) -> dict[str, str]:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(file)
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DashboardError(f"could not read the file as parquet: {first}", file=file) from None
    return {n: _arrow_type(t) for n, t in zip(schema.names, schema.types, strict=True)}


def _pandas_type(col: pd.Series) -> str:
    """A column pandas read from a CSV as the DuckDB type name the partition checks compare."""
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(dtype):
        return "BIGINT"
    if dtype == np.float32:
        return "FLOAT"
    if pd.api.types.is_float_dtype(dtype):
        return "DOUBLE"
    values = col.dropna()
    if len(values) and all(isinstance(v, bool | np.bool_) for v in values.tolist()):
        return "BOOLEAN"  # True/False with empty cells: pandas keeps objects
    return "VARCHAR"


def _read_csv(file: str, id_name: str | None, columns: list[str] | None = None,
              nrows: int | None = None) -> pd.DataFrame:
    """A whole CSV file as the in-memory path reads it (ids as text); one line if unreadable."""
    try:
        return pd.read_csv(file, dtype={id_name: str} if id_name else None,
                           keep_default_na=True, nrows=nrows,
                           usecols=None if columns is None else lambda c: c in columns)
    except pd.errors.EmptyDataError:
        raise DashboardError("the file has no columns or rows", file=file) from None
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DashboardError(f"could not read the file as csv: {first}", file=file) from None


def _read_csv_header(file: str) -> list[str]:
    """A CSV file's column names (its header only)."""
    return list(_read_csv(file, None, None, nrows=0).columns)


def _describe_csv(file: str, id_name: str | None) -> tuple[dict[str, str], pd.DataFrame]:
    """A CSV file's column types (read whole, as pandas infers them) and its empty frame."""
    df = _read_csv(file, id_name)
    return {str(c): _pandas_type(df[c]) for c in df.columns}, df.iloc[:0]


#: how rows are keyed without an id column: each file's name in the key (see
#: :func:`dashboard.engines.row_key_names`), and the label column when only labelled rows count
RowKey = tuple[dict[str, str], str | None]


def _shape(df: pd.DataFrame, file: str, wanted: list[str] | None,
           row_key: RowKey | None = None) -> pd.DataFrame:
    """A partition's wanted columns (missing ones empty), its file name and row numbers (and,
    without ids, each row's key: its row number among the held rows, as in memory)."""
    if wanted is not None:
        for c in wanted:
            if c not in df.columns:
                df[c] = pd.Series(pd.NA, index=df.index, dtype=object)
        df = df[wanted]
    df = df.copy()
    df[_FILE] = file
    df[_ROW] = np.arange(len(df), dtype=np.int64)
    if row_key is not None:
        names, label = row_key
        pos = (df[_ROW].to_numpy() if label is None else
               np.cumsum(df[label].notna().to_numpy(), dtype=np.int64) - 1)
        prefix = names.get(file, "")
        df[_ROW_ID] = (np.char.add(prefix, pos.astype(str)).astype(object) if prefix
                       else pos)
    return df


def _read(file: str, wanted: list[str] | None = None, fmt: str = "parquet",
          id_name: str | None = None, row_key: RowKey | None = None) -> pd.DataFrame:
    """One partition: a file's rows (the wanted columns, those it has), name and row numbers."""
    if fmt == "csv":
        return _shape(_read_csv(file, id_name, wanted), file, wanted, row_key)
    import pyarrow.parquet as pq

    present = pq.read_schema(file).names
    cols = None if wanted is None else [c for c in wanted if c in present]
    return _shape(pq.read_table(file, columns=cols).to_pandas(), file, wanted, row_key)


def _checks(df: pd.DataFrame, roles: Mapping[str, str | None], probabilities: bool
            ) -> pd.DataFrame:
    """Per check, the first offending row of this partition (-1: none); with a task column
    only labelled rows are checked (an empty label is "not labelled for this task")."""
    found: list[tuple[str, str | None, np.ndarray]] = []

    def missing(message: str, role: str) -> None:
        found.append((message, roles[role], df[roles[role]].isna().to_numpy()))

    def numbers(role: str, range_check: bool) -> None:
        col = roles[role]
        v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
        found.append(("value is missing (NaN)", col, np.isnan(v)))
        found.append(("value is not finite", col, np.isinf(v)))
        if range_check:
            found.append(("value is outside [0, 1], but scores are declared to be "
                          "probabilities (pass probabilities=False for raw scores such as "
                          "decision_function margins)", col, (v < 0) | (v > 1)))

    if roles["task"]:
        df = df[df[roles["label"]].notna().to_numpy()]
    else:
        missing("missing label", "label")
    missing("missing split name", "split")
    if roles["task"]:
        missing("missing task name", "task")
    if roles["train_size"]:
        numbers("train_size", False)
        z = pd.to_numeric(df[roles["train_size"]], errors="coerce").to_numpy(dtype=np.float64)
        found.append(("training-set size is not a positive count", roles["train_size"], z <= 0))
    if roles["model"]:
        missing("missing model name", "model")
    if roles["id"]:
        missing("missing example id", "id")
    if roles["score"]:
        numbers("score", probabilities)
    elif roles["prediction"]:
        missing("missing prediction", "prediction")
    if roles["weight"]:
        w = pd.to_numeric(df[roles["weight"]], errors="coerce").to_numpy(dtype=np.float64)
        found.append(("weight is missing (NaN)", roles["weight"], np.isnan(w)))
        found.append(("negative weight; weights are per-example costs >= 0", roles["weight"],
                      w < 0))
    rows = []
    for k, (message, column, bad) in enumerate(found):
        hit = np.flatnonzero(bad)
        rows.append({"k": k, "message": message, "column": column,
                     "row": int(df[_ROW].iloc[hit[0]]) if hit.size else -1,
                     "id": _shown(df[roles["id"]].iloc[hit[0]]) if hit.size and roles["id"]
                     else None,
                     "file": str(df[_FILE].iloc[0]) if len(df) else ""})
    return pd.DataFrame(rows)


def _unlabelled(df: pd.DataFrame, roles: Mapping[str, str | None]) -> pd.DataFrame:
    """Per task, this partition's entries not labelled, and the first one's row."""
    sel = df[roles["label"]].isna().to_numpy()
    part = pd.DataFrame({"t": df[roles["task"]].astype(str)[sel], "r": df[_ROW][sel]})
    out = part.groupby("t", sort=False)["r"].agg(["count", "min"]).reset_index()
    out["f"] = str(df[_FILE].iloc[0]) if len(df) else ""
    return out


def _groups(df: pd.DataFrame, roles: Mapping[str, str | None]) -> pd.DataFrame:
    """This partition's small groups: model × split × label × prediction (× task × training
    size), of the labelled rows."""
    label, score, pred = roles["label"], roles["score"], roles["prediction"]
    if roles["task"]:
        df = df[df[label].notna().to_numpy()]
    w = (pd.to_numeric(df[roles["weight"]], errors="coerce").astype(np.float64)
         if roles["weight"] else pd.Series(1.0, index=df.index))
    keys = pd.DataFrame({
        "m": df[roles["model"]].astype(str) if roles["model"] else "model",
        "s": df[roles["split"]].astype(str), "y": df[label],
        "p": df[pred] if pred else pd.Series(-1, index=df.index)})
    keys = keys.astype({"y": object, "p": object})
    dims = _dim_columns(df, roles)
    for c, values in dims.items():
        keys[c] = values
    vals = pd.DataFrame({"n": 1, "w": w, "w2": w * w,
                         "lo": df[score].astype(np.float64) if score else np.nan,
                         "hi": df[score].astype(np.float64) if score else np.nan,
                         "some_id": df[roles["id"]], "first_row": df[_ROW]})
    g = pd.concat([keys, vals], axis=1).groupby(["m", "s", "y", "p", *dims], dropna=False,
                                                 sort=False)
    out = g.agg(n=("n", "sum"), w=("w", "sum"), w2=("w2", "sum"), lo=("lo", "min"),
                hi=("hi", "max"), some_id=("some_id", "min"),
                first_row=("first_row", "min")).reset_index()
    out["f"] = str(df[_FILE].iloc[0]) if len(df) else ""
    return out


def _dim_columns(df: pd.DataFrame, roles: Mapping[str, str | None]) -> dict[str, pd.Series]:
    """The task (as text) and the training-set size (as a float), where the table has them."""
    dims = {}
    if roles["task"]:
        dims["t"] = df[roles["task"]].astype(str)
    if roles["train_size"]:
        dims["z"] = pd.to_numeric(df[roles["train_size"]]).astype(np.float64)
    return dims


def _held(df: pd.DataFrame, spec: Mapping[str, Any], every_size: bool = False) -> np.ndarray:
    """Which rows the results hold: labelled ones (with a task column), at each model's
    largest training-set size (unless ``every_size``, for the learning curves)."""
    roles = spec["roles"]
    keep = np.ones(len(df), dtype=bool)
    if roles["task"]:
        keep &= df[roles["label"]].notna().to_numpy()
    if roles["train_size"] and not every_size:
        models = (df[roles["model"]].astype(str) if roles["model"] else
                  pd.Series("model", index=df.index))
        keep &= (pd.to_numeric(df[roles["train_size"]]).astype(np.float64).to_numpy()
                 == models.map(spec["largest"]).to_numpy(dtype=np.float64))
    return keep


def _canon(df: pd.DataFrame, spec: Mapping[str, Any], every_size: bool = False
           ) -> pd.DataFrame:
    """Canonical columns of one partition's held rows: codes, the score in its own dtype,
    weight, id (and the task, the training-set size)."""
    roles = spec["roles"]
    df = df[_held(df, spec, every_size)]
    out = pd.DataFrame(index=df.index)
    out["m"] = (df[roles["model"]].astype(str).map(spec["models"]) if roles["model"]
                else pd.Series(0, index=df.index)).astype(np.int64)
    out["sv"] = df[roles["split"]].astype(str)
    out["sc"] = out["sv"].map(spec["splits"]).astype(np.int64)
    out["y"] = df[roles["label"]].map(spec["labels"]).astype(np.int64)
    if roles["score"]:
        out["s"] = df[roles["score"]].to_numpy().astype(spec["dtype"])
    if roles["prediction"] and not roles["score"]:
        out["p"] = df[roles["prediction"]].map(spec["preds"]).astype(np.int64)
    out["w"] = (pd.to_numeric(df[roles["weight"]]).astype(np.float64) if roles["weight"]
                else 1.0)
    out["id"] = df[roles["id"]]
    for c, values in _dim_columns(df, roles).items():
        out[c] = values
    if roles["score"]:
        out["wrong"] = (out["y"].to_numpy() == spec["pos"]) != flag(out["s"].to_numpy(),
                                                                    spec["threshold"])
    else:
        out["wrong"] = out["y"] != out["p"]
    return out


def _second_row(eng: DaskSource, spec: Mapping[str, Any], model: str, sc: int, ident: Any,
                dims: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """File and 1-based row (with the id) of an id's second row in one split, model (task,
    size): the row the in-memory path names for a duplicate."""
    roles = spec["roles"]

    def matches(df: pd.DataFrame) -> pd.DataFrame:
        keep = np.array(df[roles["id"]] == ident, dtype=bool)  # a writable copy
        keep &= (df[roles["split"]].astype(str).map(spec["splits"]) == sc).to_numpy()
        if roles["model"]:
            keep &= (df[roles["model"]].astype(str) == model).to_numpy()
        for c, values in _dim_columns(df, roles).items():
            if c in dims:
                keep &= (values == dims[c]).to_numpy()
        return df.loc[keep, [_FILE, _ROW]]
    (found,) = eng.compute(eng.raw.map_partitions(matches, meta={_FILE: object,
                                                                 _ROW: np.int64}))
    if len(found) < 2:
        return None, None
    order = {f: i for i, f in enumerate(eng.files)}
    found = found.assign(o=found[_FILE].map(order)).sort_values(["o", _ROW])
    file, row = found.iloc[1][_FILE], int(found.iloc[1][_ROW])
    return str(file), f"{row + 1} (id {_shown(ident)})"


def _shown(value: Any) -> str:
    """An id as the in-memory path shows it in a row reference: text quoted, a number as is."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _correct(part: pd.DataFrame, threshold: float | None, pos: int | None) -> np.ndarray:
    if threshold is None or pos is None:
        return (part["y"] == part["p"]).to_numpy()
    return (part["y"].to_numpy() == pos) == flag(part["s"].to_numpy(), threshold)


def _grid_points(s: np.ndarray, grid: float) -> np.ndarray:
    """Each score's grid point, as :func:`dashboard.engines._grid_sql` computes it."""
    inv = round(1.0 / grid)
    whole = inv >= 1 and abs(inv * grid - 1.0) < 1e-12

    def point(k: np.ndarray) -> np.ndarray:
        return k / float(inv) if whole else k * grid

    k0 = np.floor(s.astype(np.float64) / grid)
    up = point(k0 + 1).astype(s.dtype) <= s
    down = point(k0).astype(s.dtype) > s
    return point(np.where(up, k0 + 1, np.where(down, k0 - 1, k0)))


def _slice_codes(spec: tuple, part: pd.DataFrame) -> np.ndarray:
    """A metadata column's slice code per row (-1 where missing), as ``bin_column`` codes it:
    quantile bins (``edges``), few values (``distinct``) or text levels (``levels``)."""
    kind, name, known = spec
    col = part[f"meta::{name}"]
    if kind == "levels":
        lookup = {v: i for i, v in enumerate(known)}
        return np.asarray([lookup.get(str(v), -1) if not pd.isna(v) else -1
                           for v in col.tolist()], dtype=np.int64)
    x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    finite = np.isfinite(x)
    codes = (np.searchsorted(known, x, side="right") if kind == "edges" else
             np.searchsorted(known, x))
    return np.where(finite, codes, -1).astype(np.int64)


def _score_counts(part: pd.DataFrame, pos: int, gridded: Mapping[tuple, float],
                  dims: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per (model, *dims, split, score or grid point): positive and negative counts and
    weights; ``gridded`` keys are (model code, *dim values, split code)."""
    v = part["s"].to_numpy().astype(np.float64)
    for (m, *values, sc), grid in gridded.items():
        sel = ((part["m"] == m) & (part["sc"] == sc)).to_numpy()
        for d, value in zip(dims, values, strict=True):
            sel &= (part[d] == value).to_numpy()
        if sel.any():
            v[sel] = _grid_points(part["s"].to_numpy()[sel], grid)
    is_pos = part["y"].to_numpy() == pos
    w = part["w"].to_numpy(dtype=np.float64)
    frame = pd.DataFrame({"m": part["m"].to_numpy(), **{d: part[d].to_numpy() for d in dims},
                          "sc": part["sc"].to_numpy(), "v": v,
                          "pn": is_pos.astype(np.float64), "nn": (~is_pos).astype(np.float64),
                          "pw": np.where(is_pos, w, 0.0), "nw": np.where(is_pos, 0.0, w)})
    return frame.groupby(["m", *dims, "sc", "v"], sort=False).sum().reset_index()


class DaskSource:
    """The lazy Dask frame of the dataset, and the few queries the results model asks later."""

    def __init__(self, raw: Any, canon: Any, spec: dict[str, Any], scheduler: Any,
                 source: str) -> None:
        self._raw, self._canon, self.spec = raw, canon, spec
        self.scheduler, self.source = scheduler, source
        self.fmt = "parquet"
        self.files: list[str] = []
        self.wanted: list[str] = []
        #: without an id column, how each row is keyed (file name, and the label column)
        self.row_key: RowKey | None = None
        #: a reopened source's frames and scheduler, made when a view first queries rows (a
        #: page showing only whole-split numbers then never imports dask)
        self._opener: Callable[[], tuple[Any, Any, Any]] | None = None

    def _open(self) -> None:
        if self._opener is not None:
            self._raw, self._canon, self.scheduler = self._opener()
            self._opener = None

    @property
    def raw(self) -> Any:
        """The lazy frame of the files' rows (wanted columns, file name, row number)."""
        self._open()
        return self._raw

    @raw.setter
    def raw(self, value: Any) -> None:
        self._raw = value

    @property
    def canon(self) -> Any:
        """The lazy frame of the held rows in canonical form (:func:`_canon`)."""
        self._open()
        return self._canon

    @canon.setter
    def canon(self, value: Any) -> None:
        self._canon = value

    def compute(self, *objs: Any) -> tuple:
        import dask

        self._open()
        try:
            return dask.compute(*objs, scheduler=self.scheduler)
        except DashboardError:
            raise
        except Exception as exc:  # errors from the workers: one line naming the source
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DashboardError(f"the Dask engine could not compute: {first}",
                                 file=self.source) from None

    def fingerprint(self, keys_with_split: bool) -> str:
        """An order-independent hash of the example keys per split (computed on the cluster)."""
        splits = self.spec["splits"]  # not self: the closure goes to the workers

        def hashed(part: pd.DataFrame) -> pd.DataFrame:
            key = (part["sv"].map(lambda s: SPLITS[splits[s]]) + "/"
                   + part["id"].astype(str)) if keys_with_split else part["id"].astype(str)
            return pd.DataFrame({"sc": part["sc"].to_numpy(), "h": pd.util.hash_pandas_object(
                key, index=False).to_numpy()})
        distinct = self.canon.map_partitions(
            hashed, meta={"sc": np.int64, "h": np.uint64}).drop_duplicates()
        (table,) = self.compute(distinct)
        rows = []
        for sc, part in table.groupby("sc", sort=True):
            total = int(np.sum(part["h"].to_numpy(dtype=np.uint64), dtype=np.uint64))
            rows.append(f"{SPLITS[int(sc)]}:{total}:{len(part)}")
        return hashlib.sha256(";".join(rows).encode()).hexdigest()[:16]

    def _rows_of(self, model: str, split: str | tuple[str, ...], task: str | None
                 ) -> Callable[[pd.DataFrame], pd.DataFrame]:
        """A function picking one model's canonical rows of a split or of several (in one
        task) from a
        partition (it holds codes, not the source, so it travels to the workers)."""
        m = self.spec["models"][model]
        codes = [SPLITS.index(s) for s in ((split,) if isinstance(split, str) else split)]

        def pick(part: pd.DataFrame) -> pd.DataFrame:
            sel = (part["m"] == m) & part["sc"].isin(codes)
            if task is not None:
                sel &= part["t"] == task
            return part[sel.to_numpy()]
        return pick

    def eyeball_groups(self, model: str, split: str, task: str | None, fraction: float,
                       seed: int, keys_with_split: bool, *, binary: bool, grid: float | None
                       ) -> tuple[np.ndarray | None, ...]:
        """A split's rows grouped by eyeball part (``eyeball_mask`` of the key, on the
        workers), label and score: (eye, label or wrong, score, rows, weight, squared
        weight) per group."""
        pos, rows_of = self.spec["pos"], self._rows_of(model, split, task)

        def grouped(part: pd.DataFrame) -> pd.DataFrame:
            part = rows_of(part)
            ids = part["id"].astype(str)
            keys = (split + "/" + ids) if keys_with_split else ids
            if binary:
                s = part["s"].to_numpy()
                v = _grid_points(s, grid) if grid else s.astype(np.float64)
                y = part["y"].to_numpy() == pos
            else:
                v, y = np.full(len(part), np.nan), part["wrong"].to_numpy(dtype=bool)
            w = part["w"].to_numpy(dtype=np.float64)
            frame = pd.DataFrame({"e": eyeball_mask(keys.to_numpy(dtype=object), fraction,
                                                    seed), "y": y, "v": v, "n": 1, "w": w,
                                  "w2": w * w})
            return frame.groupby(["e", "y", "v"], dropna=False, sort=False)[
                ["n", "w", "w2"]].sum().reset_index()
        (table,) = self.compute(self.canon.map_partitions(grouped, meta={
            "e": bool, "y": bool, "v": np.float64, "n": np.int64, "w": np.float64,
            "w2": np.float64}))
        table = table.groupby(["e", "y", "v"], dropna=False, sort=False)[
            ["n", "w", "w2"]].sum().reset_index()
        return eyeball_arrays(table, binary)

    def label_suspects(self, model: str, split: str, task: str | None, k: int,
                       keys_with_split: bool, *, limit: int = SUSPECT_LIMIT
                       ) -> tuple[pd.DataFrame, np.ndarray, bool]:
        """Confident learning on the cluster (a score column: the positive class's
        probability): class means from per-partition sums, then each partition's suspects
        by :func:`suspect_rows`, most suspect first (ties in file order)."""
        spec, rows_of, pos = self.spec, self._rows_of(model, split, task), self.spec["pos"]

        def proba(part: pd.DataFrame) -> np.ndarray:
            s = part["s"].to_numpy().astype(np.float64)
            out = np.empty((len(part), 2))
            out[:, pos], out[:, 1 - pos] = s, 1.0 - s
            return out

        def sums(part: pd.DataFrame) -> pd.DataFrame:
            part = rows_of(part)
            y = part["y"].to_numpy()
            given = proba(part)[np.arange(len(part)), y]
            return pd.DataFrame({"y": y, "p": given, "n": 1}).groupby("y").sum().reset_index()
        (table,) = self.compute(self.canon.map_partitions(sums, meta={
            "y": np.int64, "p": np.float64, "n": np.int64}))
        table = table.groupby("y").sum()
        thresholds = np.full(k, 2.0)
        for j, row in table.iterrows():
            thresholds[int(j)] = float(row["p"]) / int(row["n"])
        thresholds = np.maximum(thresholds, _THRESHOLD_FLOOR)
        order = {f: i for i, f in enumerate(self.files)}

        def found(df: pd.DataFrame) -> pd.DataFrame:
            part = rows_of(_canon(df, spec))
            y = part["y"].to_numpy()
            p = proba(part)
            suspect, guess = suspect_rows(y, p, thresholds)
            ids = part["id"].astype(str)
            keys = (split + "/" + ids) if keys_with_split else ids
            return pd.DataFrame({
                "k": keys.to_numpy(dtype=object)[suspect],
                "i": ids.to_numpy(dtype=object)[suspect], "g": y[suspect],
                "l": guess[suspect], "s": p[np.arange(len(part)), y][suspect],
                "o": df.loc[part.index, _FILE].map(order).to_numpy()[suspect],
                "r": df.loc[part.index, _ROW].to_numpy()[suspect]})
        (rows,) = self.compute(self.raw.map_partitions(found, meta={
            "k": object, "i": object, "g": np.int64, "l": np.int64, "s": np.float64,
            "o": np.int64, "r": np.int64}))
        rows = rows.sort_values(["s", "o", "r"], kind="stable").reset_index(drop=True)
        return rows.head(limit), thresholds, len(rows) > limit

    def _with_metadata(self, names: Sequence[str], model: str, split: str, task: str | None
                       ) -> Any:
        """Per partition, one model's held rows of a split (in one task) in canonical form,
        with the metadata columns (``meta::<name>``) and the file order and row."""
        import dask.dataframe as dd

        spec, files, fmt, row_key = self.spec, self.files, self.fmt, self.row_key
        ident, rows_of = spec["roles"]["id"], self._rows_of(model, split, task)
        order = {f: i for i, f in enumerate(files)}
        wanted = list(dict.fromkeys([*self.wanted, *names]))

        def part(file: str) -> pd.DataFrame:
            df = _read(file, wanted, fmt, ident, row_key)
            canon = rows_of(_canon(df, spec))
            picked = df.loc[canon.index]
            for name in names:
                canon[f"meta::{name}"] = picked[name].to_numpy()
            canon["o"] = order[file]
            canon["r"] = picked[_ROW].to_numpy()
            return canon
        return dd.from_map(part, files, enforce_metadata=False)

    def slice_groups(self, model: str, split: str | tuple[str, ...], task: str | None,
                     meta: Sequence[tuple[str, bool]], bins: int, *, binary: bool,
                     grid: float | None, limit: int = SLICE_GROUP_LIMIT,
                     by_split: bool = False) -> SliceGroups:
        """A split's rows grouped by metadata slice cell and label and score (or wrong), as
        :meth:`dashboard.engines.DuckDBSource.slice_groups` groups them, on the cluster:
        each column's values counted first (bins from exact order statistics), then the
        groups; more than ``limit`` (distinct values or groups) is refused in one line."""
        names = [n for n, _ in meta]
        numeric = dict(meta)
        rows = self._with_metadata(names, model, split, task)

        def values(part: pd.DataFrame) -> pd.DataFrame:
            out = []
            for i, name in enumerate(names):
                col = part[f"meta::{name}"]
                if numeric[name]:
                    x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
                    x = x[np.isfinite(x)]
                    counted = pd.Series(x).value_counts()
                    out.append(pd.DataFrame({"c": i, "x": counted.index.to_numpy(dtype=float),
                                             "t": None, "n": counted.to_numpy()}))
                else:
                    counted = col.dropna().astype(str).value_counts()
                    out.append(pd.DataFrame({"c": i, "x": np.nan,
                                             "t": counted.index.to_numpy(dtype=object),
                                             "n": counted.to_numpy()}))
            return (pd.concat(out, ignore_index=True) if out else
                    pd.DataFrame({"c": [], "x": [], "t": [], "n": []}))
        (counted,) = self.compute(rows.map_partitions(values, meta={
            "c": np.int64, "x": np.float64, "t": object, "n": np.int64}))
        made: list[tuple[SliceColumn, tuple]] = []
        for i, name in enumerate(names):
            mine = counted[counted["c"] == i]
            if numeric[name]:
                table = mine.groupby("x")["n"].sum().sort_index()
                if len(table) > limit:
                    raise too_many_slice_groups(
                        limit, split if isinstance(split, str) else "+".join(split), model)
                distinct = table.index.to_numpy(dtype=np.float64)
                if distinct.size <= 1:
                    continue
                if distinct.size > bins:
                    cum = np.cumsum(table.to_numpy())

                    def order_stats(at: list[int], cum: np.ndarray = cum,
                                    distinct: np.ndarray = distinct) -> dict[int, float]:
                        return {p: float(distinct[np.searchsorted(cum, p, side="right")])
                                for p in at}
                    edges = np.unique(quantile_from_order_stats(
                        int(cum[-1]), np.linspace(0, 1, bins + 1), order_stats))
                    made.append((SliceColumn(name, np.empty(0, np.int64),
                                             numeric_labels(name, edges=edges)),
                                 ("edges", name, edges[1:-1])))
                else:
                    made.append((SliceColumn(name, np.empty(0, np.int64),
                                             numeric_labels(name, distinct=distinct)),
                                 ("distinct", name, distinct)))
            else:
                levels = sorted(set(mine["t"].tolist()))
                if len(levels) <= 1 or len(levels) > MAX_LEVELS:
                    continue
                made.append((SliceColumn(name, np.empty(0, np.int64),
                                         tuple(f"{name} = {v}" for v in levels)),
                             ("levels", name, levels)))
        specs = [spec for _, spec in made]
        pos = self.spec["pos"]

        def grouped(part: pd.DataFrame) -> pd.DataFrame:
            frame = pd.DataFrame({f"c{i}": _slice_codes(spec, part)
                                  for i, spec in enumerate(specs)})
            if binary:
                s = part["s"].to_numpy()
                frame["v"] = _grid_points(s, grid) if grid else s.astype(np.float64)
                frame["y"] = part["y"].to_numpy() == pos
            else:
                frame["v"] = np.nan
                frame["y"] = part["wrong"].to_numpy(dtype=bool)
            frame["n"] = 1
            frame["w"] = part["w"].to_numpy(dtype=np.float64)
            if by_split:
                frame["sc"] = part["sc"].to_numpy(dtype=np.int64)
            return frame.groupby(keys, dropna=False, sort=False)[["n", "w"]].sum().reset_index()
        keys = [*(f"c{i}" for i in range(len(specs))), *(["sc"] if by_split else []), "y", "v"]
        (table,) = self.compute(rows.map_partitions(grouped, meta={
            **{k: np.int64 for k in keys[:-2]}, "y": bool, "v": np.float64, "n": np.int64,
            "w": np.float64}))
        table = table.groupby(keys, dropna=False, sort=False)[["n", "w"]].sum().reset_index()
        if len(table) > limit:
            raise too_many_slice_groups(limit, split if isinstance(split, str) else
                                        "+".join(split), model, grid)
        return SliceGroups(
            columns=[SliceColumn(c.name, table[f"c{i}"].to_numpy(dtype=np.int64), c.labels)
                     for i, (c, _) in enumerate(made)], sql=specs,
            counts=table["n"].to_numpy(dtype=np.int64), labels=table["y"].to_numpy(dtype=bool),
            values=table["v"].to_numpy(dtype=np.float64) if binary else None,
            weights=table["w"].to_numpy(dtype=np.float64),
            splits=table["sc"].to_numpy(dtype=np.int64) if by_split else None)

    def slice_keys(self, model: str, split: str, task: str | None,
                   conditions: Sequence[tuple[tuple, int]], keys_with_split: bool
                   ) -> np.ndarray:
        """Example keys (in file order) of a split's rows whose slice codes are the given
        ones: ``conditions`` are (code spec, code) pairs from :meth:`slice_groups`."""
        rows = self._with_metadata(list(dict.fromkeys(spec[1] for spec, _ in conditions)),
                                   model, split, task)

        def keys(part: pd.DataFrame) -> pd.DataFrame:
            keep = np.ones(len(part), dtype=bool)
            for spec, code in conditions:
                keep &= _slice_codes(spec, part) == code
            ids = part["id"].astype(str)
            k = (split + "/" + ids) if keys_with_split else ids
            return pd.DataFrame({"k": k.to_numpy(dtype=object)[keep],
                                 "o": part["o"].to_numpy()[keep],
                                 "r": part["r"].to_numpy()[keep]})
        (found,) = self.compute(rows.map_partitions(keys, meta={
            "k": object, "o": np.int64, "r": np.int64}))
        return found.sort_values(["o", "r"])["k"].to_numpy(dtype=object)

    def paired_counts(self, model_a: str, model_b: str, split: str, threshold_a: float | None,
                      threshold_b: float | None, *, dtype: np.dtype, pos_code: int | None,
                      task: str | None = None) -> tuple[int, int, int]:
        """(A wrong and B right, A right and B wrong, shared) on the examples both models have
        (in one task, for multi-task results)."""
        import dask.dataframe as dd

        sc = SPLITS.index(split)
        sides = []
        for model, thr in ((model_a, threshold_a), (model_b, threshold_b)):
            code = self.spec["models"][model]

            def pick(part: pd.DataFrame, code: int = code, thr: float | None = thr
                     ) -> pd.DataFrame:
                sel = part[(part["m"] == code) & (part["sc"] == sc)]
                if task is not None:
                    sel = sel[sel["t"] == task]
                return pd.DataFrame({"id": sel["id"], "c": _correct(sel, thr, pos_code)})
            sides.append(self.canon.map_partitions(pick, meta={"id": self.canon["id"].dtype,
                                                               "c": bool}))
        joined = dd.merge(sides[0], sides[1], on="id", suffixes=("_a", "_b"))
        only_a = (~joined["c_a"] & joined["c_b"]).sum()
        only_b = (joined["c_a"] & ~joined["c_b"]).sum()
        only_a, only_b, shared = self.compute(only_a, only_b, joined["id"].count())
        return int(only_a), int(only_b), int(shared)


def aggregate_dask(source: Any, *, scheduler: Any = None, threshold: float | None = None,
                   distinct_limit: int = DISTINCT_LIMIT, grid: float = GRID,
                   sample_errors: int = 20_000, sample_random: int = 10_000,
                   memory_limit: str | None = None, **columns: Any) -> Aggregates:
    """Compute the aggregates of a Parquet or CSV dataset with Dask (see the module docstring).

    ``scheduler`` is a ``distributed`` scheduler address (``"tcp://host:8786"``), a
    ``distributed.Client``, or None for Dask's default (an active client, else threads).
    """
    _need_dask()
    del memory_limit  # a DuckDB setting; Dask workers have their own
    files, fmt = expand_source(source)
    name = str(source)
    scheduler = _connect(scheduler)
    id_name = columns.get("id", "id")
    empty: pd.DataFrame | None = None
    first_types = (_describe(files[0]) if fmt == "parquet" else
                   {str(c): "" for c in _read_csv_header(files[0])})
    if wide_tasks(first_types, columns, files[0]):
        raise DashboardError("wide multi-task tables (label_<task> columns) need "
                             "engine='duckdb' or 'pandas' for now", file=files[0])
    if fmt == "csv":  # each file read whole on the workers, as pandas infers its types
        import dask

        described = dict(zip(files, DaskSource(None, None, {}, scheduler, name).compute(
            *(dask.delayed(_describe_csv)(f, id_name) for f in files)), strict=True))
        empty = described[files[0]][1]
        types, roles = _check_partitions(lambda f: described[f][0], files, name, columns)
    else:
        types, roles = _check_partitions(_describe, files, name, columns)
    if roles["score"] is None and "proba:0" in roles:
        raise DashboardError("per-class probability columns need engine='duckdb' or 'pandas' "
                             "for now (the Dask engine reads a score or a prediction column)",
                             file=name, column=roles["proba:0"])
    # without an id column each row is keyed by its file and row number, as in memory
    ident = roles["id"]
    row_key: RowKey | None = None if ident else (
        dict(zip(files, row_key_names(files), strict=True)),
        roles["label"] if roles["task"] else None)
    key_roles = roles if ident else {**roles, "id": _ROW_ID}
    probabilities = bool(columns.get("probabilities", True))
    role_cols = list(dict.fromkeys(c for c in roles.values() if c is not None))
    tag_cols = list(columns.get("categories") or [c for c in types if is_tag_column(c)])
    wanted_cols = role_cols + [c for c in tag_cols if c not in role_cols]
    meta = (_shape(empty.copy(), files[0], wanted_cols, row_key) if empty is not None else
            _read(files[0], wanted_cols, row_key=row_key).iloc[:0])
    raw = _raw_frame(files, wanted_cols, fmt, ident, row_key, meta)
    eng = DaskSource(raw, None, {"roles": key_roles}, scheduler, name)
    eng.fmt, eng.files, eng.wanted, eng.row_key = fmt, files, wanted_cols, row_key

    # -- one pass: the checks, and the small groups --------------------------------------------
    checks = raw.map_partitions(_checks, roles, probabilities, meta={
        "k": np.int64, "message": object, "column": object, "row": np.int64, "id": object,
        "file": object})
    task, size_col = roles["task"], roles["train_size"]
    dims_meta = {**({"t": object} if task else {}), **({"z": np.float64} if size_col else {})}
    groups = raw.map_partitions(_groups, key_roles, meta={
        "m": object, "s": object, "y": object, "p": object, **dims_meta, "n": np.int64,
        "w": np.float64, "w2": np.float64, "lo": np.float64, "hi": np.float64,
        "some_id": object, "first_row": np.int64, "f": object})
    unlabelled: dict[str, int] = {}
    if task:
        checks, groups, hidden = eng.compute(checks, groups, raw.map_partitions(
            _unlabelled, roles, meta={"t": object, "count": np.int64, "min": np.int64,
                                      "f": object}))
    else:
        checks, groups = eng.compute(checks, groups)
    order = {f: i for i, f in enumerate(files)}
    hits = checks[checks["row"] >= 0]
    if len(hits):
        hits = hits.assign(o=hits["file"].map(order))
        first = hits.sort_values(["k", "o", "row"]).iloc[0]
        ref = f"{int(first['row']) + 1}" + (f" (id {first['id']})" if first["id"] else "")
        raise DashboardError(str(first["message"]), file=str(first["file"]),
                             column=str(first["column"]), row=ref)
    total_rows = int(groups["n"].sum())
    if total_rows == 0:
        raise DashboardError("no labelled rows in any task" if task else "the data has no rows",
                             file=name, column=roles["label"] if task else None)
    if task and len(hidden):
        # per task, as value_counts orders them: most first, ties in order of appearance
        hidden = hidden.assign(o=hidden["f"].map(order)).sort_values(["o", "min"])
        counts_by_task = hidden.groupby("t", sort=False)["count"].sum()
        seen = {str(t): int(counts_by_task[t]) for t in hidden.drop_duplicates("t")["t"]}
        unlabelled = dict(sorted(seen.items(), key=lambda kv: -kv[1]))
    split_code: dict[str, int] = {}
    for value in pd.unique(groups["s"]):
        canon = SPLIT_ALIASES.get(_alias_key(value))
        if canon is None:
            bad = groups[groups["s"] == value].assign(o=groups["f"].map(order)).sort_values(
                ["o", "first_row"]).iloc[0]
            raise DashboardError(f"unknown split {value!r}; expected one of {', '.join(SPLITS)} "
                                 "(or an alias such as train-dev, val, validation)",
                                 file=str(bad["f"]), column=roles["split"],
                                 row=f"{int(bad['first_row']) + 1}")
        split_code[str(value)] = SPLITS.index(canon)
    groups["split"] = [SPLITS[split_code[str(s)]] for s in groups["s"]]
    if "dev" not in set(groups["split"]):
        raise DashboardError("the dev split is empty: the diagnosis needs dev examples (name "
                             "them dev, val or validation)", file=name, column=roles["split"])
    firsts = groups.assign(o=groups["f"].map(order)).sort_values(["o", "first_row"])
    tasks = tuple(str(t) for t in firsts.drop_duplicates("t")["t"]) if task else ()
    lc_groups = None
    largest: dict[str, float] = {}
    if size_col:  # the views hold each model's largest training-set size, as in memory
        lc_groups = groups
        largest = {str(m): float(z) for m, z in groups.groupby("m")["z"].max().items()}
        groups = groups[(groups["z"] == groups["m"].map(largest)).to_numpy()].reset_index(
            drop=True)
        total_rows = int(groups["n"].sum())
        firsts = firsts[(firsts["z"] == firsts["m"].map(largest)).to_numpy()]
    models = tuple(str(m) for m in firsts.drop_duplicates("m")["m"])
    held = {"roles": key_roles, "largest": largest}

    # -- classes from a skeleton (one row per small group), as the DuckDB path does ------------
    seeds = groups[["s", "some_id"]].rename(columns={"s": "sv", "some_id": "iv"})
    # the classes are those of every training-set size, as in memory
    every = lc_groups if lc_groups is not None else groups
    skeleton = _fetch(eng, files, every[["s", "some_id"]].rename(
        columns={"s": "sv", "some_id": "iv"}), held, every_size=lc_groups is not None)
    _, skel_schema = normalize_rows(_one_per_key(skeleton, key_roles), name,
                                    _normalize_opts(columns), ident)
    classes = skel_schema.classes
    labels = _class_codes(every["y"], classes, "label", "the declared classes", name,
                          roles["label"])
    score = roles["score"]
    dtype = np.dtype(np.float32) if score and types[score] == "FLOAT" else np.dtype(np.float64)
    thr = float(threshold) if threshold is not None else (0.5 if probabilities else 0.0)
    spec: dict[str, Any] = {"roles": key_roles, "models": {m: i for i, m in enumerate(models)},
                            "splits": split_code, "labels": labels, "dtype": dtype,
                            "threshold": thr, "pos": None, "largest": largest}
    if score:
        spec["pos"] = class_index(classes, skel_schema.pos_label)
    else:
        spec["preds"] = _class_codes(every["p"], classes, "prediction", "the classes", name,
                                     roles["prediction"])
    id_dtype = raw[key_roles["id"]].dtype
    canon = _canon_frame(raw, spec)
    eng.canon, eng.spec = canon, spec
    every_size = _canon_frame(raw, spec, every_size=True) if size_col else None

    # -- ids: duplicates, and whether keys need the split (one pass; row keys never repeat) ------
    t_dims = ["t"] if task else []
    keys_with_split = bool(ident) and _check_ids(
        eng, every_size if every_size is not None else canon, models, tasks,
        sorted(set(lc_groups["z"].tolist())) if lc_groups is not None else [], name,
        exact=pd.api.types.is_integer_dtype(id_dtype))

    # -- the sample -------------------------------------------------------------------------
    def hashed(part: pd.DataFrame, key: str | None, only_wrong: bool) -> pd.DataFrame:
        part = part[part["wrong"]] if only_wrong else part
        pairs = pd.DataFrame({"sv": part["sv"], "iv": part["id"]})
        h = (pd.util.hash_pandas_object(pairs, index=False, hash_key=key) if key else
             pd.util.hash_pandas_object(pairs, index=False))
        return pairs.assign(h=h.to_numpy())
    pair_meta = {"sv": object, "iv": id_dtype, "h": np.uint64}
    n_models = max(len(models), 1)
    codes = sorted(set(split_code.values()))
    lazy = [canon[canon["sc"] == sc].map_partitions(hashed, None, True, meta=pair_meta)
            .nsmallest(int(sample_errors) * n_models, "h") for sc in codes]  # per split
    lazy.append(canon.map_partitions(hashed, _SAMPLE_KEY, False, meta=pair_meta).nsmallest(
        int(sample_random) * n_models, "h"))
    limits = [sample_errors] * len(codes) + [sample_random]
    picks = [seeds]
    for part, limit in zip(eng.compute(*lazy), limits, strict=True):
        picks.append(part.sort_values("h")[["sv", "iv"]].drop_duplicates().head(int(limit)))
    present = [c for c in tag_cols if c in types]
    if present:
        def tagged(part: pd.DataFrame) -> pd.DataFrame:
            sel = part[present].notna().any(axis=1).to_numpy()
            return pd.DataFrame({"sv": part[roles["split"]].astype(str)[sel],
                                 "iv": part[key_roles["id"]][sel]})
        (tags,) = eng.compute(raw.map_partitions(tagged, meta={"sv": object, "iv": id_dtype}))
        picks.append(tags.head(100_000))
    wanted = pd.concat(picks, ignore_index=True).drop_duplicates()
    sample, schema = normalize_rows(_fetch(eng, files, wanted, held), name,
                                    _normalize_opts(columns, metadata=True), ident)
    if not ident:
        schema = _replace(schema, notes=(no_id_note(files), *schema.notes))
    sample = keyed_sample(sample, keys_with_split)
    notes = sample_notes("Dask", len(files), total_rows, sample, sample_errors, sample_random)

    # -- per split: sizes, counts at each distinct score (or on the grid), or confusion --------
    groups["m"] = groups["m"].astype(str)
    sizes = split_sizes(groups, t_dims)
    count = _Counter(eng, spec, models, grid, distinct_limit, len(classes))
    counts, gridded = count.scores(canon, tuple(t_dims), list(sizes.index)) if score else ({}, {})
    confusion = count.confusion(canon, tuple(t_dims)) if not score else {}
    lc_sizes, lc_counts, lc_confusion, lc_gridded = None, {}, {}, {}
    if lc_groups is not None and every_size is not None:  # learning curves, per task
        lc_groups = lc_groups.assign(m=lc_groups["m"].astype(str))
        lc_sizes = lc_groups.groupby(["m", *t_dims, "z", "split"], sort=True).agg(
            n=("n", "sum"), w=("w", "sum"), w2=("w2", "sum"))
        if score:
            lc_counts, lc_gridded = count.scores(every_size, (*t_dims, "z"),
                                                 list(lc_sizes.index))
        else:
            lc_confusion = count.confusion(every_size, (*t_dims, "z"))
    if gridded or lc_gridded:
        notes.append(grid_note({**gridded, **lc_gridded}, grid, distinct_limit))
    if unlabelled:
        notes.append("not labelled, left out of their task only: " + ", ".join(
            f"{k} {v:,}" for k, v in unlabelled.items()))
    schema = _replace(schema, notes=(*schema.notes, *notes),
                      has_weight=roles["weight"] is not None, tasks=tasks,
                      unlabelled=unlabelled)
    return Aggregates(sample=sample, schema=schema, models=models, sizes=sizes, counts=counts,
                      confusion=confusion, gridded=gridded, score_dtype=dtype,
                      keys_with_split=keys_with_split, engine=eng,  # type: ignore[arg-type]
                      rows=total_rows, notes=tuple(notes), tasks=tasks,
                      unlabelled=unlabelled, lc_sizes=lc_sizes, lc_counts=lc_counts,
                      lc_confusion=lc_confusion, lc_gridded=lc_gridded)


def _need_dask() -> None:
    """One line when dask is not installed (it is imported lazily)."""
    try:
        import dask.dataframe  # noqa: F401
    except ImportError:
        raise DashboardError("the Dask engine needs dask: pip install 'dask[dataframe]' "
                             "distributed") from None


def _connect(scheduler: Any) -> Any:
    """A scheduler address as a ``distributed.Client`` (anything else as given); one line when
    the address cannot be reached."""
    if not isinstance(scheduler, str):
        return scheduler
    from distributed import Client

    try:
        return Client(scheduler, set_as_default=False, timeout=SCHEDULER_CONNECT_S)
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError
        raise DashboardError(f"cannot reach the Dask scheduler at {scheduler!r} within "
                             f"{SCHEDULER_CONNECT_S} s ({exc})") from None


def _raw_frame(files: list[str], wanted: list[str], fmt: str, ident: str | None,
               row_key: RowKey | None, meta: pd.DataFrame) -> Any:
    """The lazy frame of the dataset: one partition per file (nothing is read yet)."""
    import dask.dataframe as dd

    return dd.from_map(_read, files, args=(wanted, fmt, ident, row_key), meta=meta,
                       enforce_metadata=False)


def _canon_frame(raw: Any, spec: Mapping[str, Any], every_size: bool = False) -> Any:
    """The lazy canonical frame (:func:`_canon` of each partition) of the held rows (of every
    training-set size: ``every_size``)."""
    roles = spec["roles"]
    meta: dict[str, Any] = {"m": np.int64, "sv": object, "sc": np.int64, "y": np.int64}
    if roles["score"]:
        meta["s"] = spec["dtype"]
    else:
        meta["p"] = np.int64
    meta.update({"w": np.float64, "id": raw[roles["id"]].dtype,
                 **({"t": object} if roles["task"] else {}),
                 **({"z": np.float64} if roles["train_size"] else {}), "wrong": bool})
    return raw.map_partitions(_canon, spec, *((True,) if every_size else ()), meta=meta)


def reopen_dask(*, files: list[str], fmt: str, source: str, wanted: list[str],
                row_key: RowKey | None, spec: dict[str, Any], meta: pd.DataFrame | None,
                scheduler: Any = None) -> DaskSource:
    """A :class:`DaskSource` on the same files with the same spec as a cached one had. Nothing
    is read, dask is not imported and the scheduler not reached until a view queries rows
    (``meta`` None: the first file's empty frame is then read, as the first load read it)."""
    if importlib.util.find_spec("dask") is None:
        _need_dask()  # its one line
    files, wanted = list(files), list(wanted)
    ident = None if row_key is not None else spec["roles"]["id"]

    def opener() -> tuple[Any, Any, Any]:
        _need_dask()
        empty = (meta if meta is not None else
                 _read(files[0], wanted, fmt, ident, row_key).iloc[:0])
        raw = _raw_frame(files, wanted, fmt, ident, row_key, empty)
        return raw, _canon_frame(raw, spec), _connect(scheduler)
    eng = DaskSource(None, None, spec, scheduler, source)
    eng.fmt, eng.files, eng.wanted, eng.row_key = fmt, files, wanted, row_key
    eng._opener = opener
    return eng


#: ids found repeated (or spanning splits) in the one pass, to check exactly
_SUSPECTS = 100


def _id_pass(part: pd.DataFrame, codes: Mapping[str, Any], exact: bool) -> pd.DataFrame:
    """Per held row: its id (or the id's hash), ``1 << code`` of its packed (size, task, model,
    split) code in the mask column the code falls in, and its split where the views hold it."""
    code = part["sc"].to_numpy(dtype=np.int64)
    width = len(SPLITS)
    code = code + width * part["m"].to_numpy(dtype=np.int64)
    width *= max(codes["models"], 1)
    for col in ("t", "z"):
        if col in codes:
            values = codes[col]
            code = code + width * part[col].map(values).to_numpy(dtype=np.int64)
            width *= max(len(values), 1)
    key = (part["id"].to_numpy() if exact else
           pd.util.hash_pandas_object(part["id"], index=False).to_numpy())
    out = {"k": key}
    bit = np.left_shift(np.uint64(1), (code % 64).astype(np.uint64))
    for j in range(-(-width // 64)):
        out[f"b{j}"] = np.where(code // 64 == j, bit, np.uint64(0))
    held = np.ones(len(part), dtype=bool)
    if "largest" in codes:
        held = part["z"].to_numpy() == part["m"].map(codes["largest"]).to_numpy(dtype=float)
    sc = part["sc"].to_numpy(dtype=np.float64)
    out["lo"] = np.where(held, sc, np.inf)
    out["hi"] = np.where(held, sc, -np.inf)
    out["n"] = np.ones(len(part), dtype=np.int64)
    return pd.DataFrame(out)


def _check_ids(eng: DaskSource, rows: Any, models: Sequence[str], tasks: Sequence[str],
               sizes: Sequence[float], name: str, *, exact: bool) -> bool:
    """Refuse an id twice in one split for one model (task, training size); say whether keys
    need the split (an id in two splits among the held rows).

    One grouping by the id (its hash, unless ``exact``): rows, lowest and highest split, and
    the sums of ``1 << code`` of a packed (size, task, model, split) code: with no code
    repeated the sums' set bits are exactly the rows (a repeat carries, even past 64 bits), so
    an id has a repeat exactly when it has more rows than set bits. The ids found (a hash
    collision may look like either) are then checked exactly on their own rows.
    """
    spec = eng.spec
    codes: dict[str, Any] = {"models": len(models)}
    if tasks:
        codes["t"] = {t: i for i, t in enumerate(tasks)}
    if sizes:
        codes["z"] = {float(z): i for i, z in enumerate(sizes)}
        codes["largest"] = {spec["models"][m]: z for m, z in spec["largest"].items()
                            if m in spec["models"]}
    width = len(SPLITS) * max(len(models), 1) * max(len(tasks), 1) * max(len(sizes), 1)
    bits = [f"b{j}" for j in range(-(-width // 64))]
    meta = {"k": rows["id"].dtype if exact else np.uint64,
            **{b: np.uint64 for b in bits}, "lo": np.float64, "hi": np.float64,
            "n": np.int64}
    per = rows.map_partitions(_id_pass, codes, exact, meta=meta).groupby("k").agg(
        {**{b: "sum" for b in bits}, "lo": "min", "hi": "max", "n": "sum"})

    def flags(g: pd.DataFrame) -> pd.DataFrame:
        set_bits = sum(np.bitwise_count(g[b].to_numpy(dtype=np.uint64)).astype(np.int64)
                       for b in bits)
        return pd.DataFrame({"dup": g["n"].to_numpy() > set_bits,
                             "span": (g["lo"] < g["hi"]).to_numpy()}, index=g.index)
    found = per.map_partitions(flags, meta={"dup": bool, "span": bool})
    n_dup, n_span = found["dup"].sum(), found["span"].sum()
    dups = found[found["dup"]].index.to_series().nsmallest(_SUSPECTS)
    spans = found[found["span"]].index.to_series().nsmallest(_SUSPECTS)
    n_dup, n_span, dups, spans = eng.compute(n_dup, n_span, dups, spans)
    t_dims = ["t"] if tasks else []
    dims = [*t_dims, "z"] if sizes else t_dims

    largest = codes.get("largest")

    def among(keys: Any, held_only: bool = False) -> Any:
        """The rows of the ids found (of every id: ``keys`` None), the held ones only."""
        wanted = set(keys.tolist()) if keys is not None else None

        def pick(part: pd.DataFrame) -> pd.DataFrame:
            keep = np.ones(len(part), dtype=bool)
            if wanted is not None:
                k = (part["id"] if exact else pd.Series(pd.util.hash_pandas_object(
                    part["id"], index=False).to_numpy(), index=part.index))
                keep &= k.isin(wanted).to_numpy()
            if held_only and largest is not None:
                keep &= part["z"].to_numpy() == part["m"].map(largest).to_numpy(dtype=float)
            return part[keep]
        return rows.map_partitions(pick, meta=rows._meta)
    if n_dup:
        for keys in [dups, None] if n_dup > len(dups) else [dups]:
            counted = among(keys).groupby(["m", "sc", "id", *dims]).size()
            (counted,) = eng.compute(counted)
            counted = counted[counted > 1]
            if len(counted):
                m, sc, ident, *values = counted.index[0]
                in_task = f", task {str(values[0])!r}" if tasks else ""
                file, row = _second_row(eng, spec, models[m], sc, ident,
                                        dict(zip(dims, values, strict=True)))
                raise DashboardError(f"id {str(ident)!r} appears twice in split "
                                     f"{SPLITS[sc]!r} for model {models[m]!r}{in_task}",
                                     file=file or name, column=spec["roles"]["id"], row=row)
    if not n_span:
        return False
    if exact:
        return True
    for keys in [spans, None] if n_span > len(spans) else [spans]:
        ids = among(keys, held_only=True).groupby("id").sc.agg(["min", "max"])
        (spanning,) = eng.compute((ids["min"] != ids["max"]).sum())
        if spanning:
            return True
    return False


class _Counter:
    """The per-split counts on the cluster, keyed (model, *dims, split): ``dims`` are extra
    canonical columns (``t``, the task; ``z``, the training-set size of a learning curve)."""

    def __init__(self, eng: DaskSource, spec: Mapping[str, Any], models: tuple[str, ...],
                 grid: float, distinct_limit: int, k: int) -> None:
        self.eng, self.spec, self.models = eng, spec, models
        self.grid, self.distinct_limit, self.k = grid, distinct_limit, k

    def scores(self, canon: Any, dims: tuple[str, ...], keys: list[tuple]
               ) -> tuple[dict[tuple, tuple[np.ndarray, ...]], dict[tuple, float]]:
        """(scores, pos, neg, pos_w, neg_w) at each distinct score of each key (on the grid
        past the distinct limit), and the keys put on the grid."""
        spec, models = self.spec, self.models
        coded = [(spec["models"][k[0]], *k[1:-1], SPLITS.index(k[-1])) for k in keys]

        def part_of(key: tuple) -> Any:
            sel = (canon["m"] == key[0]) & (canon["sc"] == key[-1])
            for d, value in zip(dims, key[1:-1], strict=True):
                sel = sel & (canon[d] == value)
            return canon[sel]["s"].nunique_approx()
        estimates = self.eng.compute(*(part_of(k) for k in coded))
        coarse = {key: float(self.grid) for key, d in zip(coded, estimates, strict=True)
                  if d > self.distinct_limit}
        gridded = {(models[k[0]], *k[1:-1], SPLITS[k[-1]]): g for k, g in coarse.items()}
        dims_meta = {d: (object if d == "t" else np.float64) for d in dims}
        partial = canon.map_partitions(_score_counts, spec["pos"], coarse, dims, meta={
            "m": np.int64, **dims_meta, "sc": np.int64, "v": np.float64, "pn": np.float64,
            "nn": np.float64, "pw": np.float64, "nw": np.float64})
        names = ["m", *dims, "sc"]
        (table,) = self.eng.compute(partial.groupby([*names, "v"]).sum())
        table = table.reset_index().sort_values([*names, "v"],
                                                ascending=[True] * len(names) + [False])
        counts = {}
        for key, part in table.groupby(names, sort=False):
            counts[(models[int(key[0])], *_plain(key[1:-1]), SPLITS[int(key[-1])])] = tuple(
                part[c].to_numpy(dtype=np.float64) for c in ("v", "pn", "nn", "pw", "nw"))
        return counts, gridded

    def confusion(self, canon: Any, dims: tuple[str, ...]
                  ) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
        """The label x prediction matrices (rows and weight) of each key."""
        (table,) = self.eng.compute(canon.groupby(["m", *dims, "sc", "y", "p"]).w.agg(
            ["count", "sum"]))
        return confusion_counts(table.reset_index(), self.k, "count", "sum",
                                lambda m: self.models[int(m)], list(dims))


def _fetch(eng: DaskSource, files: list[str], wanted: pd.DataFrame,
           held: Mapping[str, Any], *, every_size: bool = False) -> pd.DataFrame:
    """Every column of the held rows (of every model) of the wanted (split, id) pairs, in
    file order; ``held`` is what :func:`_held` needs (the roles, each model's largest size;
    ``every_size``: the rows of every training-set size)."""
    want = wanted.assign(sv=wanted["sv"].astype(str))
    roles = held["roles"]
    split, ident = roles["split"], roles["id"]

    fmt, row_key = eng.fmt, eng.row_key  # not eng itself: the closure goes to the workers

    def pick(file: str) -> pd.DataFrame:
        df = _read(file, None, fmt, ident, row_key)
        keys = pd.MultiIndex.from_arrays([df[split].astype(str), df[ident]])
        sel = keys.isin(pd.MultiIndex.from_arrays([want["sv"], want["iv"]]))
        return df[sel & _held(df, held, every_size)]

    import dask

    parts = [dask.delayed(pick)(f) for f in files]
    found = eng.compute(*parts)
    frame = pd.concat([p for p in found if len(p)] or [found[0]], ignore_index=True)
    order = {f: i for i, f in enumerate(files)}
    frame = frame.assign(__o=frame[_FILE].map(order)).sort_values(["__o", _ROW])
    if _ROW_ID in frame.columns:  # no ids: errors in the fetched rows name their file row
        frame = frame.rename(columns={_ROW: "__row__"})
    return frame.drop(columns=[c for c in ("__o", _FILE, _ROW) if c in frame.columns]
                      ).reset_index(drop=True)


def _class_codes(values: pd.Series, classes: tuple, what: str, among: str, name: str,
                 column: str) -> dict[Any, int]:
    """Each distinct label (or prediction) to its class code; one that is no class is
    refused, naming the file and the column."""
    codes = {}
    for v in pd.unique(values).tolist():
        code = class_index(classes, v)
        if code is None:
            raise DashboardError(f"{what} {v!r} is not one of {among} "
                                 f"({', '.join(map(repr, classes))})", file=name, column=column)
        codes[v] = code
    return codes
