"""Aggregates of results too big to hold: computed by an engine (DuckDB), never all rows.

The results model needs, per model and split (and task), the positive and negative (weighted)
counts at each distinct score (or, for hard predictions, the label × prediction counts), the
split sizes and weight sums, the same per training-set size for learning curves, and a bounded
sample of rows for the per-row views (the tally, previews, comments). Metadata slices, the
eyeball check and suspected label errors are asked of the engine on demand
(:class:`DuckDBSource`), grouped so that a threshold move only recounts. :func:`aggregate`
reads a Parquet/CSV file, a folder of partitions or a glob with DuckDB (imported lazily, so
the package works without it) and returns them as plain arrays and frames; every bad input is
one :class:`~dashboard.errors.DashboardError` naming the file, the column and, where there is
one, the row.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dashboard.errors import DashboardError
from dashboard.io import (
    PROBA_PREFIXES,
    SPLIT_ALIASES,
    SPLITS,
    Schema,
    _alias_key,
    _class_from_column,
    _sklearn_name,
    class_index,
    is_tag_column,
    normalize,
)
from dashboard.metrics.sampling import eyeball_mask
from dashboard.metrics.slices import (
    MAX_LEVELS,
    SliceColumn,
    numeric_labels,
    quantile_from_order_stats,
)
from dashboard.metrics.suspects import _THRESHOLD_FLOOR, _TOLERANCE

__all__ = ["ENGINES", "Aggregates", "DuckDBSource", "aggregate"]

ENGINES = ("pandas", "duckdb", "dask")
#: more distinct scores than this in a split and its scores are grouped on a fixed grid
DISTINCT_LIMIT = 5_000_000
GRID = 1e-6
_FILE = "__file__"
_ROW = "file_row_number"
#: without an id column: each held row's key (its row number), and a wide table's task order
_ROW_ID = "__row_id__"
_TASK_I = "__task_i__"
_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
              "UINTEGER", "UBIGINT", "UHUGEINT"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}


def _family(duck_type: str) -> str:
    """A column type's family, so partitions may differ in width but not in kind."""
    t = duck_type.upper()
    if t in _INT_TYPES:
        return "integer"
    if t in _FLOAT_TYPES or t.startswith("DECIMAL"):
        return "float"
    if t == "BOOLEAN":
        return "boolean"
    if t == "VARCHAR" or t.startswith("VARCHAR"):
        return "text"
    return t


def _q(name: str) -> str:
    """A column name quoted for SQL."""
    return '"' + str(name).replace('"', '""') + '"'


def _lit(value: Any) -> str:
    """A Python scalar as a SQL literal (labels, predictions, model names)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"'{value}'::DOUBLE"
        return repr(value) + "::DOUBLE"
    return "'" + str(value).replace("'", "''") + "'"


def _case(column_sql: str, mapping: Sequence[tuple[Any, int]], default: int = -2) -> str:
    """``CASE column WHEN v THEN code ... END``: raw values mapped to integer codes in SQL."""
    if not mapping:
        return str(default)
    whens = " ".join(f"WHEN {column_sql} = {_lit(v)} THEN {c}" for v, c in mapping)
    return f"(CASE {whens} ELSE {default} END)"


def row_key_names(files: Sequence[str]) -> list[str]:
    """Each file's name in the row keys of a source without ids: none for one file (the key is
    the row number, as in memory), else its path below the files' common folder."""
    if len(files) < 2:
        return [""]
    import os

    root = os.path.commonpath([str(f) for f in files])
    return [(str(f)[len(root) + 1:] if str(f).startswith(root + os.sep) else str(f)) + ":"
            for f in files]


def no_id_note(files: Sequence[str]) -> str:
    """What the views say when examples are keyed by their row (the in-memory path's note)."""
    if len(files) < 2:
        return ("No id column: examples are identified by their row number, so tags follow "
                "them only while the file keeps its row order.")
    return ("No id column: examples are identified by their file and row number, so tags "
            "follow them only while the files keep their row order.")


def _row_key_sql(files: Sequence[str], *, wide: bool, held: bool) -> str:
    """SQL of a held row's key without an id column, as :func:`dashboard.io.normalize` makes
    it for a file alone: the row number, or with a task column the position among the labelled
    rows (task by task for a wide table); with several files prefixed by the file's name."""
    if held:
        order = f"{_TASK_I}, {_ROW}" if wide else _ROW
        pos = f"(row_number() OVER (PARTITION BY {_FILE} ORDER BY {order}) - 1)"
    else:
        pos = _ROW
    names = row_key_names(files)
    if len(files) < 2:
        return pos
    whens = " ".join(f"WHEN {_lit(f)} THEN {_lit(n)}" for f, n in zip(files, names,
                                                                       strict=True))
    return f"((CASE {_FILE} {whens} END) || CAST({pos} AS VARCHAR))"


def expand_source(source: str | Path) -> tuple[list[str], str]:
    """The files a source names (a file, a folder of partitions or a glob) and their format."""
    text = str(source)
    if not text:
        raise DashboardError("from_dataset needs a file, a folder of partitions or a glob")
    p = Path(text)
    if any(ch in text for ch in "*?["):
        files = sorted(f for f in globlib.glob(text, recursive=True) if Path(f).is_file())
        if not files:
            raise DashboardError("no file matches the pattern", file=text)
    elif p.is_dir():
        files = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in
                       (".parquet", ".pq", ".csv"))
        if not files:
            raise DashboardError("the folder holds no .parquet or .csv files", file=text)
    elif p.exists():
        files = [text]
    else:
        raise DashboardError("file not found", file=text)
    kinds = {("csv" if f.lower().endswith(".csv") else "parquet") for f in files}
    bad = [f for f in files if not f.lower().endswith((".parquet", ".pq", ".csv"))]
    if bad:
        raise DashboardError("unsupported file type for the DuckDB engine; use .parquet or "
                             ".csv", file=bad[0])
    if len(kinds) > 1:
        raise DashboardError("the source mixes Parquet and CSV files; give one format",
                             file=text)
    for f in files:
        if Path(f).stat().st_size == 0:
            raise DashboardError("the file is empty", file=f)
    return files, kinds.pop()


#: a split with more (slice cell, label, score) groups than this has its slices counted on
#: :data:`SLICE_GRID` (binary scores), and is refused past it
SLICE_GROUP_LIMIT = 2_000_000
#: the score grid slices are counted on past the group limit: exact at any threshold that is
#: a multiple of it (every 4-decimal threshold), the rows of one grid cell counted together
SLICE_GRID = 1e-4
#: at most this many suspected label errors per split are fetched (the most suspect)
SUSPECT_LIMIT = 100_000


class SliceLimitError(DashboardError):
    """A split has more slice groups than the limit (the one-line refusal)."""


def too_many_slice_groups(limit: int, split: str, model: str, grid: float | None = None
                          ) -> SliceLimitError:
    """The refusal of slices past ``limit`` groups (on the ``grid``, when one was tried)."""
    where = f" even on a {grid:g} score grid" if grid else ""
    return SliceLimitError(
        f"suggesting metadata slices on the engine path needs at most {limit:,} "
        f"(slice cell, label, score) groups in a split, and {split} of model {model!r} has "
        f"more{where}: name fewer metadata columns (metadata_columns=...) or open the "
        "results with engine='pandas'")


@dataclass
class SliceGroups:
    """A split's rows grouped by metadata slice cells: each group's codes (one column per
    metadata column that makes slices), row count, and label (``labels``: positive, with
    ``values`` the score or grid point) or, without a threshold, whether it is wrong."""

    columns: list[SliceColumn]
    #: per column, how the engine computes a row's code (SQL for DuckDB, a spec for Dask)
    sql: list[Any]
    counts: np.ndarray
    labels: np.ndarray
    values: np.ndarray | None
    #: each group's summed weight (the rows' count where the file has no weights)
    weights: np.ndarray | None = None
    #: each group's split code, when several splits were grouped by split
    splits: np.ndarray | None = None


@dataclass
class DuckDBSource:
    """An open DuckDB view ``src`` over the files, and the SQL of each canonical column."""

    con: Any
    files: list[str]
    fmt: str
    source: str
    types: dict[str, str]
    roles: dict[str, str | None]
    exprs: dict[str, str] = field(default_factory=dict)
    class_dtypes: dict[int, np.dtype] = field(default_factory=dict)
    #: the rows the results hold (labelled ones, with a task column); row refs count every row
    base_filter: str = "TRUE"
    #: Python functions registered in the engine (the eyeball part per fraction and seed)
    functions: dict[tuple, str] = field(default_factory=dict)
    #: the statements that made the views, in order: a cached engine replays them on a new
    #: connection (dashboard.engine_cache)
    ddl: list[str] = field(default_factory=list)

    def execute(self, statement: str) -> None:
        """Run a statement that shapes the views, and remember it."""
        self.con.execute(statement)
        self.ddl.append(statement)

    def sql(self, query: str) -> Any:
        """Run a query; an engine error becomes one line naming the source."""
        try:
            return self.con.execute(query)
        except Exception as exc:  # duckdb raises its own hierarchy
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DashboardError(f"the DuckDB engine could not read the data: {first}",
                                 file=self.source) from None

    def one(self, query: str) -> tuple | None:
        """The first row of a query's result (read whole, so the connection is free again)."""
        rows = self.sql(query).fetchall()
        return rows[0] if rows else None

    def fingerprint(self, keys_with_split: bool) -> str:
        """An order-independent hash of the example keys per split (computed by the engine)."""
        sc, ident = self.exprs["split_code"], self.exprs["id"]
        key = (f"CAST({sc} AS VARCHAR) || '/' || CAST({ident} AS VARCHAR)" if keys_with_split
               else f"CAST({ident} AS VARCHAR)")
        rows = self.sql(f"SELECT sc, bit_xor(h), count(*) FROM (SELECT DISTINCT {sc} AS sc, "
                        f"hash({key}) AS h FROM src) GROUP BY sc ORDER BY sc").fetchall()
        text = ";".join(f"{SPLITS[c]}:{h}:{n}" for c, h, n in rows)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def correct_sql(self, threshold: float | None, dtype: np.dtype, pos_code: int | None) -> str:
        """SQL of a row's correctness: at ``threshold`` for a score, else the hard prediction."""
        if threshold is None or pos_code is None:
            return f"({self.exprs['label_code']} = {self.exprs['pred_code']})"
        score = self.exprs.get(f"proba:{pos_code}", self.exprs["score"])  # one-vs-rest
        dtype = self.class_dtypes.get(pos_code, dtype)
        cast = "FLOAT" if dtype == np.float32 else "DOUBLE"
        return (f"(({self.exprs['label_code']} = {pos_code}) = ({score} >= "
                f"CAST({float(threshold)!r} AS {cast})))")

    def paired_counts(self, model_a: str, model_b: str, split: str, threshold_a: float | None,
                      threshold_b: float | None, *, dtype: np.dtype, pos_code: int | None,
                      task: str | None = None) -> tuple[int, int, int]:
        """(A wrong and B right, A right and B wrong, shared) on the examples both models have
        (in one task, for multi-task results)."""
        sc = SPLITS.index(split)
        m, s, i = self.exprs["model"], self.exprs["split_code"], self.exprs["id"]
        ca = self.correct_sql(threshold_a, dtype, pos_code)
        cb = self.correct_sql(threshold_b, dtype, pos_code)
        in_task = f" AND {self.exprs['task']} = {_lit(task)}" if task is not None else ""
        row = self.one(
            f"SELECT count(*) FILTER (WHERE NOT a.c AND b.c), count(*) FILTER (WHERE a.c AND "
            f"NOT b.c), count(*) FROM (SELECT {i} AS i, {ca} AS c FROM src WHERE {m} = "
            f"{_lit(model_a)} AND {s} = {sc}{in_task}) a JOIN (SELECT {i} AS i, {cb} AS c "
            f"FROM src WHERE {m} = {_lit(model_b)} AND {s} = {sc}{in_task}) b USING (i)")
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    def row_ref(self, where: str, nth: int = 0) -> tuple[str, str | None]:
        """File and 1-based row (with the id) of the first (``nth``: 0-based) row matching
        ``where``."""
        id_col = self.roles.get("id")
        id_sql = f", {_q(id_col)}" if id_col else ", NULL"
        where = f"({where}) AND {self.base_filter}"
        if self.fmt == "parquet" or not id_col:  # (a CSV without ids has its row numbers)
            q = (f"SELECT {_FILE}, {_ROW}{id_sql} FROM raw_src WHERE {where} "
                 f"ORDER BY {_FILE}, {_ROW} LIMIT 1 OFFSET {int(nth)}")
        else:  # rows numbered in read order; each file's from its first row
            q = (f"SELECT {_FILE}, rn{id_sql} FROM (SELECT *, g - min(g) OVER (PARTITION BY "
                 f"{_FILE}) AS rn FROM (SELECT *, row_number() OVER () AS g FROM raw_src)) "
                 f"WHERE {where} ORDER BY {_FILE}, rn LIMIT 1 OFFSET {int(nth)}")
        found = self.one(q)
        if found is None:
            return self.source, None
        file, row, ident = found
        # the id as the in-memory path shows it: text quoted, a number as is
        ref = f"{int(row) + 1}" + (f" (id {ident!r})" if ident is not None else "")
        return str(file), ref

    def fail(self, message: str, column: str | None, where: str) -> DashboardError:
        file, row = self.row_ref(where)
        return DashboardError(message, file=file, column=column, row=row)

    def _rows_of(self, model: str, split: str | tuple[str, ...], task: str | None) -> str:
        """SQL selecting one model's rows of a split, or of several pooled (in one task)."""
        if isinstance(split, str):
            where = (f"{self.exprs['model']} = {_lit(model)} AND {self.exprs['split_code']} = "
                     f"{SPLITS.index(split)}")
        else:
            where = (f"{self.exprs['model']} = {_lit(model)} AND {self.exprs['split_code']} IN "
                     f"({', '.join(str(SPLITS.index(s)) for s in split)})")
        return where + (f" AND {self.exprs['task']} = {_lit(task)}" if task is not None else "")

    def _slice_column(self, name: str, numeric: bool, where: str, bins: int
                      ) -> tuple[SliceColumn, str] | None:
        """A metadata column's slice names for a split, as :func:`bin_column` makes them, and
        the SQL of each row's code; None for a column that makes no slices."""
        col = _q(name)
        if numeric:
            x = f"CAST({col} AS DOUBLE)"
            finite = f"({x} IS NOT NULL AND NOT isnan({x}) AND NOT isinf({x}))"
            n, d = self.one(f"SELECT count(*) FILTER (WHERE {finite}), count(DISTINCT {x}) "
                            f"FILTER (WHERE {finite}) FROM src WHERE {where}")
            if d <= 1:
                return None
            if d > bins:
                def order_stats(positions: list[int]) -> dict[int, float]:
                    rows = self.sql(
                        f"SELECT r, x FROM (SELECT x, row_number() OVER (ORDER BY x) - 1 AS r "
                        f"FROM (SELECT {x} AS x FROM src WHERE {where} AND {finite})) WHERE r "
                        f"IN ({', '.join(map(str, positions))})").fetchall()
                    return {int(r): float(v) for r, v in rows}
                edges = np.unique(quantile_from_order_stats(
                    int(n), np.linspace(0, 1, bins + 1), order_stats))
                code = " + ".join(["0", *(f"CAST({x} >= {_lit(float(e))} AS INTEGER)"
                                          for e in edges[1:-1])])
                labels = numeric_labels(name, edges=edges)
            else:
                distinct = np.asarray([float(r[0]) for r in self.sql(
                    f"SELECT DISTINCT {x} FROM src WHERE {where} AND {finite} ORDER BY 1"
                ).fetchall()])
                code = " + ".join(["0", *(f"CAST({x} > {_lit(float(v))} AS INTEGER)"
                                          for v in distinct)])
                labels = numeric_labels(name, distinct=distinct)
            sql = f"(CASE WHEN {finite} THEN {code} ELSE -1 END)"
        else:  # the level names pandas gives (True/False, not DuckDB's true/false)
            text = (f"(CASE WHEN {col} IS NULL THEN NULL WHEN {col} THEN 'True' ELSE 'False' END)"
                    if self.types.get(name, "").upper() == "BOOLEAN" else
                    f"CAST({col} AS VARCHAR)")
            values = [r[0] for r in self.sql(
                f"SELECT DISTINCT {text} FROM src WHERE {where} AND {col} IS NOT NULL LIMIT "
                f"{MAX_LEVELS + 1}").fetchall()]
            if len(values) <= 1 or len(values) > MAX_LEVELS:
                return None
            values = sorted(values)
            labels = tuple(f"{name} = {v}" for v in values)
            sql = _case(text, [(v, i) for i, v in enumerate(values)], default=-1)
        return SliceColumn(name, np.empty(0, dtype=np.int64), labels), sql

    def slice_groups(self, model: str, split: str | tuple[str, ...], task: str | None,
                     meta: Sequence[tuple[str, bool]], bins: int, *, binary: bool,
                     grid: float | None, limit: int = SLICE_GROUP_LIMIT,
                     by_split: bool = False) -> SliceGroups:
        """A split's rows grouped by metadata slice cell and label and score (binary scores)
        or correctness (argmax, predictions): find_slices' input at any threshold, from the
        counts; more groups than ``limit`` is refused in one line. Several splits are binned
        together; ``by_split`` also groups by split (``SliceGroups.splits``, split codes)."""
        where = self._rows_of(model, split, task)
        made = [c for c in (self._slice_column(n, numeric, where, bins) for n, numeric in meta)
                if c is not None]
        codes = ", ".join([f"{sql} AS c{i}" for i, (_, sql) in enumerate(made)] + [""])
        if by_split:
            codes += f"{self.exprs['split_code']} AS sc, "
        y = self._label_and_score(binary, grid)
        table = self.sql(f"SELECT {codes}{y}, count(*) AS n, sum({self.exprs['weight']}) AS w "
                         f"FROM src WHERE {where} GROUP BY ALL LIMIT {int(limit) + 1}").df()
        if len(table) > limit:
            raise too_many_slice_groups(limit, split if isinstance(split, str) else
                                        "+".join(split), model, grid)
        columns = [SliceColumn(c.name, table[f"c{i}"].to_numpy(dtype=np.int64), c.labels)
                   for i, (c, _) in enumerate(made)]
        return SliceGroups(columns=columns, sql=[sql for _, sql in made],
                           counts=table["n"].to_numpy(dtype=np.int64),
                           labels=table["y"].to_numpy(dtype=bool),
                           values=table["v"].to_numpy(dtype=np.float64) if binary else None,
                           weights=table["w"].to_numpy(dtype=np.float64),
                           splits=table["sc"].to_numpy(dtype=np.int64) if by_split else None)

    def _key_sql(self, split: str, keys_with_split: bool) -> str:
        """SQL of a row's example key in a split: the id, or split/id (the in-memory rule)."""
        ident = f"CAST({self.exprs['id']} AS VARCHAR)"
        return f"{_lit(split + '/')} || {ident}" if keys_with_split else ident

    def _label_and_score(self, binary: bool, grid: float | None) -> str:
        """SQL of ``y`` (positive label, binary; else wrong) and ``v`` (score or grid point)."""
        if not binary:
            return f"{self.exprs['wrong']} AS y, NULL AS v"
        score = self.exprs["score"]
        value = (_grid_sql(score, grid, self.exprs["score_cast"]) if grid else
                 f"CAST({score} AS DOUBLE)")
        return f"({self.exprs['label_code']} = {self.exprs['pos_code']}) AS y, {value} AS v"

    def eyeball_groups(self, model: str, split: str, task: str | None, fraction: float,
                       seed: int, keys_with_split: bool, *, binary: bool, grid: float | None
                       ) -> tuple[np.ndarray, ...]:
        """A split's rows grouped by eyeball part (``eyeball_mask`` of the key, run in the
        engine as a vectorised function), label and score: (eye, label or wrong, score,
        rows, weight, squared weight) per group, so any threshold is recounted without the
        engine."""
        import pyarrow as pa

        part = (float(fraction), int(seed))
        name = self.functions.get(part)
        if name is None:
            name = self.functions[part] = f"mldash_eye_{len(self.functions)}"

            def eye(keys: Any) -> Any:
                return pa.array(eyeball_mask(keys.to_numpy(zero_copy_only=False), *part))
            self.con.create_function(name, eye, ["VARCHAR"], "BOOLEAN", type="arrow")
        w = self.exprs["weight"]
        table = self.sql(
            f"SELECT {name}({self._key_sql(split, keys_with_split)}) AS e, "
            f"{self._label_and_score(binary, grid)}, count(*) AS n, sum({w}) AS w, "
            f"sum({w} * {w}) AS w2 FROM src WHERE {self._rows_of(model, split, task)} "
            "GROUP BY ALL").df()
        return eyeball_arrays(table, binary)

    def label_suspects(self, model: str, split: str, task: str | None, k: int,
                       keys_with_split: bool, *, limit: int = SUSPECT_LIMIT
                       ) -> tuple[pd.DataFrame, np.ndarray, bool]:
        """Confident learning (:func:`find_label_suspects`) in the engine: per class the mean
        probability on its own examples, then the rows the model confidently contradicts,
        most suspect first (lowest probability of the given label; ties in file order).

        Returns (key, id, given, likely, score) of at most ``limit`` suspects, the class
        thresholds, and whether more suspects were left out. The means are the engine's sums
        over counts (equal to NumPy's where the sums are exact; they may differ in the last
        bit otherwise).
        """
        where = self._rows_of(model, split, task)
        y = self.exprs["label_code"]
        if any(c.startswith("proba:") for c in self.exprs):
            p = [f"CAST({self.exprs[f'proba:{j}']} AS DOUBLE)" for j in range(k)]
        else:  # one score: the positive class's probability, the other class 1 - score
            pos = int(self.exprs["pos_code"])
            s = f"CAST({self.exprs['score']} AS DOUBLE)"
            p = [s if j == pos else f"(CAST(1.0 AS DOUBLE) - {s})" for j in range(k)]
        given = f"(CASE {' '.join(f'WHEN {y} = {j} THEN {p[j]}' for j in range(k))} END)"
        sums = {int(c): (int(n), float(t)) for c, n, t in self.sql(
            f"SELECT {y}, count(*), sum({given}) FROM src WHERE {where} GROUP BY 1").fetchall()}
        thresholds = np.full(k, 2.0)
        for j, (n, total) in sums.items():
            thresholds[j] = total / n
        thresholds = np.maximum(thresholds, _THRESHOLD_FLOOR)
        cut = thresholds - _TOLERANCE
        conf = [f"({p[j]} >= {_lit(float(cut[j]))})" for j in range(k)]
        n_conf = " + ".join(f"CAST({c} AS INTEGER)" for c in conf)

        def argmax(q: list[str]) -> str:  # NumPy's: the first maximum
            whens = []
            for j in range(k):
                conds = [f"{q[j]} {'>' if i < j else '>='} {q[i]}" for i in range(k) if i != j]
                whens.append(f"WHEN {' AND '.join(conds) or 'TRUE'} THEN {j}")
            return f"(CASE {' '.join(whens)} END)"
        first_conf = f"(CASE {' '.join(f'WHEN {conf[j]} THEN {j}' for j in range(k))} ELSE 0 END)"
        guess = f"(CASE WHEN ({n_conf}) > 1 THEN {argmax(p)} ELSE {first_conf} END)"
        bumped = [f"({p[j]} + (CASE WHEN {y} = {j} THEN {_lit(_TOLERANCE)} ELSE "
                  "CAST(0.0 AS DOUBLE) END))" for j in range(k)]
        order = f"{_FILE}, {_ROW}" if self.fmt == "parquet" else "rn"
        rn = "" if self.fmt == "parquet" else ", row_number() OVER () AS rn"
        table = self.sql(
            f"SELECT k, i, g, l, s FROM (SELECT {self._key_sql(split, keys_with_split)} AS k, "
            f"CAST({self.exprs['id']} AS VARCHAR) AS i, {y} AS g, {guess} AS l, {given} AS s, "
            f"({n_conf}) > 0 AND {guess} <> {y} AND {argmax(bumped)} <> {y} AS suspect, "
            f"{_FILE}{', ' + _ROW if self.fmt == 'parquet' else ''}{rn} FROM src WHERE {where})"
            f" WHERE suspect ORDER BY s, {order} LIMIT {int(limit) + 1}").df()
        more = len(table) > limit
        return table.head(limit), thresholds, more

    def slice_keys(self, model: str, split: str, task: str | None,
                   conditions: Sequence[tuple[str, int]], keys_with_split: bool) -> np.ndarray:
        """Example keys (in file order) of a split's rows whose slice codes are the given
        ones: ``conditions`` are (code SQL, code) pairs from :meth:`slice_groups`."""
        key = self._key_sql(split, keys_with_split)
        keep = " AND ".join([self._rows_of(model, split, task),
                             *(f"{sql} = {int(code)}" for sql, code in conditions)])
        order = (f"SELECT k FROM (SELECT {key} AS k, {_FILE} AS f, {_ROW} AS r FROM src WHERE "
                 f"{keep}) ORDER BY f, r" if self.fmt == "parquet" else
                 f"SELECT k FROM (SELECT {key} AS k, ({keep}) AS keep, row_number() OVER () AS "
                 "rn FROM src) WHERE keep ORDER BY rn")
        return np.asarray([r[0] for r in self.sql(order).fetchall()], dtype=object)


def _open(files: list[str], fmt: str, source: str, memory_limit: str | None,
          threads: int | None) -> Any:
    try:
        import duckdb
    except ImportError:
        raise DashboardError("the DuckDB engine needs the duckdb package: pip install "
                             "'ml-diagnosis-dashboard[scale]' (or pip install duckdb)") from None
    con = duckdb.connect()
    # past its memory_limit DuckDB spills to disk: to a folder of its own under the system's
    # temp folder (its default, ./.tmp, would land in the served notebook's folder), removed
    # when the connection closes; and no progress bar on the kernel's output
    import os
    import tempfile

    spill = Path(tempfile.gettempdir()) / f"mldash-duckdb-{os.getpid()}-{next(_CONNECTIONS)}"
    con.execute(f"SET temp_directory = {_lit(str(spill))}")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = {_lit(str(memory_limit or _default_memory_limit()))}")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


_CONNECTIONS = itertools.count()
#: DuckDB's memory bound when none is given: its own default (80% of the machine) let it hold
#: 8.6 GiB at 10^8 rows (issue 22's goal: 4 GiB); spilling past this bound was not slower there
MEMORY_LIMIT = "3GiB"


def _default_memory_limit() -> str:
    """:data:`MEMORY_LIMIT`, or 80% of the machine's memory where that is less."""
    import os

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return MEMORY_LIMIT
    return MEMORY_LIMIT if total * 0.8 >= 3 * 2**30 else f"{int(total * 0.8) // 2**20}MiB"


def _describe(con: Any, file: str, fmt: str) -> dict[str, str]:
    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {reader}({_lit(file)})").fetchall()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DashboardError(f"could not read the file as {fmt}: {first}", file=file) from None
    return {str(r[0]): str(r[1]) for r in rows}


def _resolve_roles(columns: Sequence[str], source: str, opts: Mapping[str, Any]
                   ) -> dict[str, str | None]:
    """Which file column plays which role, as :func:`dashboard.io.normalize` decides it."""
    frame = pd.DataFrame(columns=list(columns))
    notes: list[str] = []
    roles: dict[str, str | None] = {}
    for role, names in (("label", ("y_true", "y", "target")),
                        ("score", ("y_score", "y_proba", "y_prob", "probability")),
                        ("prediction", ("y_pred", "pred", "predicted")),
                        ("weight", ("sample_weight",))):
        given = opts.get(role, role)
        roles[role] = _sklearn_name(frame, given, role, names, notes)
    for role in ("split", "model", "id", "train_size", "task"):
        roles[role] = opts.get(role, role)
    for role in list(roles):
        name = roles[role]
        if name is None:
            continue
        if name not in columns:
            if role in ("label", "split") or name != role:
                raise DashboardError(
                    f"missing {role} column; the columns are "
                    f"{', '.join(map(repr, list(columns)[:20]))}", file=source, column=name)
            roles[role] = None
    if roles["score"] is None:
        # per-class probability columns: named (proba=...), else found by prefix, as io does
        given = opts.get("proba")
        if given is not None:
            found = list(given.values()) if isinstance(given, Mapping) else list(given)
        else:
            taken = {v for v in roles.values() if v is not None}
            found = [c for c in columns if isinstance(c, str) and c not in taken
                     and c.lower().startswith(PROBA_PREFIXES)]
        for c in found:
            if c not in columns:
                raise DashboardError("missing class-probability column", file=source, column=c)
        if len(found) >= 2:
            roles.update({f"proba:{i}": c for i, c in enumerate(found)})
    if roles["score"] is None and roles["prediction"] is None and "proba:0" not in roles:
        raise DashboardError("no model output found: give a score column (probability of the "
                             "positive class), per-class probability columns (proba_<class>), "
                             "or a prediction column", file=source, column="score")
    return roles


def wide_tasks(first: Mapping[str, str], opts: Mapping[str, Any], file: str
               ) -> dict[str, tuple[str, str, str]]:
    """A wide multi-task table's tasks (``label_<task>`` columns, no label or task column):
    per task, the canonical output name (score or prediction) and its label and output
    columns, as :func:`dashboard.io.normalize` melts them; empty for other tables."""
    label, task = opts.get("label", "label"), opts.get("task", "task")
    names = [c[len("label_"):] for c in first if c.startswith("label_")]
    if task is None or label in first or task in first or not names:
        return {}
    out = {}
    for t in names:
        for role, prefix in (("score", "score_"), ("prediction", "prediction_")):
            if f"{prefix}{t}" in first:
                out[t] = (opts.get(role) or role, f"label_{t}", f"{prefix}{t}")
                break
        else:
            raise DashboardError(f"task {t!r} has a label column but no score_{t} or "
                                 f"prediction_{t} column", file=file, column=f"label_{t}")
    return out


def _long_types(types: dict[str, str], wide: Mapping[str, tuple[str, str, str]],
                opts: Mapping[str, Any]) -> dict[str, str]:
    """A file's column types once its wide tasks are melted (the first task's types)."""
    if not wide:
        return types
    per_task = {c for cols in wide.values() for c in cols[1:]}
    out = {c: t for c, t in types.items() if c not in per_task}
    role, lab, col = next(iter(wide.values()))
    out[opts.get("task", "task")] = "VARCHAR"
    out[opts.get("label", "label")] = types[lab]
    for other_role, _, other in wide.values():
        out[other_role] = types.get(other, types[col])
    return out


def _check_partitions(describe: Callable[[str], dict[str, str]], files: list[str],
                      source: str, opts: Mapping[str, Any]
                      ) -> tuple[dict[str, str], dict[str, str | None]]:
    """Every partition has the columns the roles need, each of one type family."""
    first = describe(files[0])
    roles = _resolve_roles(list(first), files[0], opts)
    types = dict(first)
    needed = [c for c in roles.values() if c is not None]
    for f in files[1:]:
        these = describe(f)
        for col in needed:
            if col not in these:
                raise DashboardError(f"missing column (present in {files[0]})", file=f,
                                     column=col)
            if _family(these[col]) != _family(types[col]):
                raise DashboardError(f"type {these[col]} here but {types[col]} in {files[0]}: "
                                     "every partition must hold the same kind of values",
                                     file=f, column=col)
            if these[col] != types[col]:
                types[col] = "DOUBLE" if _family(types[col]) == "float" else types[col]
        for col, typ in these.items():
            types.setdefault(col, typ)
    for role in ["score", "weight", "train_size",
                 *(r for r in roles if r.startswith("proba:"))]:
        col = roles.get(role)
        if col is not None and _family(types[col]) not in ("float", "integer", "boolean"):
            raise DashboardError(f"{role} values must be numbers, but the column holds "
                                 f"{types[col]}", file=files[0], column=col)
    return types, roles


@dataclass
class Aggregates:
    """What the results model needs of a dataset it never holds whole."""

    #: canonical frame (as :func:`dashboard.io.normalize` returns it) of the sampled rows
    sample: pd.DataFrame
    schema: Schema
    models: tuple[str, ...]
    #: per (model, split): n, w (sum of weights), w2 (sum of squared weights), lo, hi (scores)
    sizes: pd.DataFrame
    #: per (model, split): (scores, pos, neg, pos_w, neg_w), scores in any order
    counts: dict[tuple[str, str], tuple[np.ndarray, ...]]
    #: per (model, split): label_code × prediction_code counts and weights (hard predictions)
    confusion: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    #: splits whose scores were grouped on the grid, per model: {(model, split): grid}
    gridded: dict[tuple[str, str], float]
    score_dtype: np.dtype
    keys_with_split: bool
    engine: DuckDBSource
    rows: int = 0
    #: what the views and the report should say about how the numbers were computed
    notes: tuple[str, ...] = ()
    #: per-class probabilities: each class code's float type (its curve's threshold type)
    class_dtypes: dict[int, np.dtype] = field(default_factory=dict)
    #: multi-task results: the tasks in order of first appearance, and unlabelled entries
    #: per task (then every per-split table above is keyed (model, task, split))
    tasks: tuple[str, ...] = ()
    unlabelled: dict[str, int] = field(default_factory=dict)
    #: learning curves (a train_size column; the tables above hold each model's largest
    #: size): per (model, [task,] size, split) n, w, w2 (``lc_sizes``), and the counts at each
    #: distinct score (``lc_counts``, per task as the views are) or the label x prediction matrices
    lc_sizes: pd.DataFrame | None = None
    lc_counts: dict[tuple, tuple[np.ndarray, ...]] = field(default_factory=dict)
    lc_confusion: dict[tuple, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    lc_gridded: dict[tuple, float] = field(default_factory=dict)


def aggregate(source: str | Path, *, threshold: float | None = None,
              distinct_limit: int = DISTINCT_LIMIT, grid: float = GRID,
              sample_errors: int = 20_000, sample_random: int = 10_000,
              memory_limit: str | None = None, threads: int | None = None,
              **columns: Any) -> Aggregates:
    """Compute the aggregates of a results dataset with DuckDB (see the module docstring).

    ``columns`` are :meth:`Results.from_file`'s column options (label, score, prediction,
    split, model, id, weight, categories, preview, classes, pos_label, probabilities).
    ``memory_limit`` bounds DuckDB's memory (:data:`MEMORY_LIMIT` by default, at most 80% of
    the machine's; past it DuckDB spills to disk), ``threads`` its threads (one per core).
    """
    files, fmt = expand_source(source)
    name = str(source)
    con = _open(files, fmt, name, memory_limit, threads)
    id_name = columns.get("id", "id")

    wide = wide_tasks(_describe(con, files[0], fmt), columns, files[0])

    def describe(f: str) -> dict[str, str]:
        found = _describe(con, f, fmt)
        if fmt == "csv" and id_name in found:
            found[id_name] = "VARCHAR"  # read as text, as the pandas path reads a CSV's ids
        for col in (c for cols in wide.values() for c in cols[1:]):
            if col not in found:
                raise DashboardError(f"missing column (present in {files[0]})", file=f,
                                     column=col)
        return _long_types(found, wide, columns)

    types, roles = _check_partitions(describe, files, name, columns)
    text_id = (f", types={{{_lit(roles['id'])}: 'VARCHAR'}}" if fmt == "csv" and roles["id"]
               else "")
    reader = (f"read_parquet([{', '.join(map(_lit, files))}], union_by_name=true, "
              f"filename='{_FILE}', file_row_number=true)" if fmt == "parquet" else
              f"read_csv([{', '.join(map(_lit, files))}], union_by_name=true, "
              f"filename='{_FILE}'{text_id})")
    label, score, pred = roles["label"], roles["score"], roles["prediction"]
    split, model, ident, weight = roles["split"], roles["model"], roles["id"], roles["weight"]
    task, size_col = roles["task"], roles["train_size"]
    assert label is not None and split is not None
    if ident is None and fmt == "csv":  # a CSV has no file_row_number: number its rows
        reader = (f"(SELECT * EXCLUDE (__g), __g - min(__g) OVER (PARTITION BY {_FILE}) AS "
                  f"{_ROW} FROM (SELECT *, row_number() OVER () AS __g FROM {reader}))")
    if wide:  # one row per example and task, as io melts a wide table (UNION ALL BY NAME)
        per_task = [c for cols in wide.values() for c in cols[1:]]
        exclude = f" EXCLUDE ({', '.join(map(_q, per_task))})"
        task_name = columns.get("task", "task")
        reader = "(" + " UNION ALL BY NAME ".join(
            f"SELECT *{exclude}, {_lit(t)} AS {_q(task_name)}, {_q(lab)} AS "
            f"{_q(columns.get('label', 'label'))}, {_q(out)} AS {_q(role_name)}"
            f"{f', {i} AS {_TASK_I}' if ident is None else ''} FROM {reader}"
            for i, (t, (role_name, lab, out)) in enumerate(wide.items())) + ")"
    # raw_src: every row; base: the rows the results hold (with a task column an empty label
    # is "not labelled for this task", left out); src: each model's largest training size
    base_filter = f"{_q(label)} IS NOT NULL" if task else "TRUE"
    eng = DuckDBSource(con, files, fmt, name, types, roles, base_filter=base_filter)
    eng.execute(f"CREATE TEMP VIEW raw_src AS SELECT * FROM {reader}")
    row_key = "" if ident is not None else \
        f", {_row_key_sql(files, wide=bool(wide), held=bool(task))} AS {_ROW_ID}"
    eng.execute(f"CREATE TEMP VIEW base AS SELECT *{row_key} FROM raw_src WHERE {base_filter}")
    eng.execute("CREATE TEMP VIEW src AS SELECT * FROM base")
    probabilities = bool(columns.get("probabilities", True))
    model_sql = f"CAST({_q(model)} AS VARCHAR)" if model else "'model'"
    split_sql = f"CAST({_q(split)} AS VARCHAR)"
    w_sql = f"CAST({_q(weight)} AS DOUBLE)" if weight else "1.0"
    s_sql = f"CAST({_q(score)} AS DOUBLE)" if score else "NULL"
    proba_cols = [roles[r] for r in roles if r.startswith("proba:")] if not score else []
    if proba_cols:  # per-class probabilities: the score range is over every class's column
        s_sql = (f"least({', '.join(f'CAST({_q(c)} AS DOUBLE)' for c in proba_cols)})",
                 f"greatest({', '.join(f'CAST({_q(c)} AS DOUBLE)' for c in proba_cols)})")
        pred = None  # the argmax decides; a prediction column beside them is not read

    # -- one pass of checks: missing values, non-finite or out-of-range numbers ----------------
    checks = [("missing split name", split, f"{_q(split)} IS NULL")]
    if not task:
        checks.insert(0, ("missing label", label, f"{_q(label)} IS NULL"))
    else:
        checks.append(("missing task name", task, f"{_q(task)} IS NULL"))
    size_sql = f"CAST({_q(size_col)} AS DOUBLE)" if size_col else None
    if size_sql:
        checks += [("value is missing (NaN)", size_col, f"({size_sql} IS NULL OR isnan("
                    f"{size_sql}))"), ("value is not finite", size_col, f"isinf({size_sql})"),
                   ("training-set size is not a positive count", size_col, f"{size_sql} <= 0")]
    if model:
        checks.append(("missing model name", model, f"{_q(model)} IS NULL"))
    if ident:
        checks.append(("missing example id", ident, f"{_q(ident)} IS NULL"))
    for col in ([score] if score else proba_cols):
        v = f"CAST({_q(col)} AS DOUBLE)"
        checks.append(("value is missing (NaN)", col, f"({v} IS NULL OR isnan({v}))"))
        checks.append(("value is not finite", col, f"isinf({v})"))
        if probabilities:
            checks.append(("value is outside [0, 1], but scores are declared to be "
                           "probabilities (pass probabilities=False for raw scores such as "
                           "decision_function margins)", col, f"({v} < 0 OR {v} > 1)"))
    if pred and not score:
        checks.append(("missing prediction", pred, f"{_q(pred)} IS NULL"))
    if weight:
        checks.append(("weight is missing (NaN)", weight,
                       f"({w_sql} IS NULL OR isnan({w_sql}))"))
        checks.append(("negative weight; weights are per-example costs >= 0", weight,
                       f"{w_sql} < 0"))
    select = ", ".join(f"count(*) FILTER (WHERE {cond})" for _, _, cond in checks)
    found = eng.one(f"SELECT count(*), {select} FROM base")
    total_rows = int(found[0])
    if total_rows == 0:
        raise DashboardError("no labelled rows in any task" if task else "the data has no rows",
                             file=name, column=label if task else None)
    for (message, col, cond), bad in zip(checks, found[1:], strict=True):
        if bad:
            raise eng.fail(message, col, cond)
    unlabelled: dict[str, int] = {}
    if task:
        # per task, as value_counts orders them: most first, ties in order of appearance
        seen = _first_seen(eng, "raw_src", f"CAST({_q(task)} AS VARCHAR)",
                           f"{_q(label)} IS NULL")
        unlabelled = dict(sorted(seen.items(), key=lambda kv: -kv[1]))
    lo_sql, hi_sql = s_sql if isinstance(s_sql, tuple) else (s_sql, s_sql)

    # -- the small groups: model × split × label × prediction, per file ----------------------
    pred_sql = _q(pred) if pred else "NULL"
    id_sql = _q(ident) if ident else _ROW_ID
    id_min = f"min({id_sql})"
    row_min = f"min({_ROW})" if fmt == "parquet" else "NULL"
    task_sql = f"CAST({_q(task)} AS VARCHAR)" if task else None
    dims_sql = (f", {task_sql} AS t" if task_sql else "") + (f", {size_sql} AS z" if size_sql
                                                             else "")
    groups = eng.sql(
        f"SELECT {model_sql} AS m, {split_sql} AS s, {_q(label)} AS y, {pred_sql} AS p, "
        f"{_FILE} AS f, count(*) AS n, sum({w_sql}) AS w, sum({w_sql} * {w_sql}) AS w2, "
        f"min({lo_sql}) AS lo, max({hi_sql}) AS hi, {id_min} AS some_id, "
        f"{row_min} AS first_row{dims_sql} "
        "FROM base GROUP BY ALL").df()
    # split names as io reads them (aliases allowed)
    split_code: dict[str, int] = {}
    for raw in pd.unique(groups["s"]):
        canon = SPLIT_ALIASES.get(_alias_key(raw))
        if canon is None:
            raise eng.fail(f"unknown split {raw!r}; expected one of {', '.join(SPLITS)} (or an "
                           "alias such as train-dev, val, validation)", split,
                           f"{split_sql} = {_lit(raw)}")
        split_code[str(raw)] = SPLITS.index(canon)
    groups["split"] = [SPLITS[split_code[str(s)]] for s in groups["s"]]
    if "dev" not in set(groups["split"]):
        raise DashboardError("the dev split is empty: the diagnosis needs dev examples (name "
                             "them dev, val or validation)", file=name, column=split)
    lc_groups = None
    held_sql = "TRUE"
    if size_sql:  # the views hold each model's largest training-set size, as in memory
        lc_groups = groups
        largest = groups.groupby("m")["z"].max()
        groups = groups[(groups["z"] == groups["m"].map(largest)).to_numpy()].reset_index(
            drop=True)
        whens = " ".join(f"WHEN {_lit(str(m))} THEN {_lit(float(z))}"
                         for m, z in largest.items())
        held_sql = f"{size_sql} = (CASE {model_sql} {whens} END)"
        eng.execute(f"CREATE OR REPLACE TEMP VIEW src AS SELECT * FROM base WHERE {held_sql}")
        total_rows = int(groups["n"].sum())
    models = _model_order(eng, groups, model_sql)
    tasks = tuple(_first_seen(eng, "base", _q(task))) if task else ()
    if wide:  # in the order of the label_<task> columns, as io melts them
        tasks = tuple(t for t in wide if t in set(tasks))

    # -- the sample: one row per small group, reviewed rows, errors and a random part ---------
    # without an id column the key is the row (file and row number), as in memory
    key_roles = roles if ident else {**roles, "id": _ROW_ID}
    seeds = groups[["s", "some_id"]].rename(columns={"s": "sv", "some_id": "iv"})
    # a tiny skeleton of the classes first, to know the label codes and the positive class
    # the classes are those of every training-set size, as in memory (a label seen only at
    # a smaller size is still a class, and its rows count in the learning curve)
    every = lc_groups if lc_groups is not None else groups
    skeleton = _fetch(eng, every[["s", "some_id"]].rename(
        columns={"s": "sv", "some_id": "iv"}), split_sql, id_sql,
        table="src" if lc_groups is None else "base")
    skel_frame, skel_schema = normalize_rows(_one_per_key(skeleton, key_roles), name,
                                             _normalize_opts(columns), ident, eng=eng)
    classes = skel_schema.classes
    label_map = [(v, class_index(classes, v)) for v in pd.unique(every["y"]).tolist()]
    label_code_sql = _case(_q(label), [(v, c) for v, c in label_map if c is not None])
    if any(c is None for _, c in label_map):
        bad = next(v for v, c in label_map if c is None)
        raise eng.fail(f"label {bad!r} is not one of the declared classes "
                       f"({', '.join(map(repr, classes))})", label, f"{_q(label)} = {_lit(bad)}")
    split_code_sql = _case(split_sql, list(split_code.items()))
    margin = not probabilities
    thr = float(threshold) if threshold is not None else (0.0 if margin else 0.5)
    score_dtype = np.dtype(np.float32) if score and types[score].upper() in ("FLOAT", "REAL") \
        else np.dtype(np.float64)
    #: per class code, its probability column and float type (per-class probabilities)
    class_cols: dict[int, str] = {}
    class_dtypes: dict[int, np.dtype] = {}
    if score:
        pos_code = class_index(classes, skel_schema.pos_label)
        is_pos = f"({label_code_sql} = {pos_code})"
        cast = "FLOAT" if score_dtype == np.float32 else "DOUBLE"
        wrong = f"({is_pos} <> ({_q(score)} >= CAST({thr!r} AS {cast})))"
        pred_code_sql = "NULL"
        eng.exprs.update({"pos_code": str(pos_code), "score_cast": cast})
    elif proba_cols:
        given = columns.get("proba")
        by_code: dict[int, str] = {}
        for col in proba_cols:
            key = (next(k for k, v in given.items() if v == col) if isinstance(given, Mapping)
                   else _class_from_column(col))
            code = class_index(classes, key)
            if code is not None:
                by_code[code] = col
        # numpy's argmax order: the schema's probability columns, first maximum wins
        for cls in skel_schema.proba_columns:
            code = class_index(classes, cls)
            assert code is not None
            class_cols[code] = by_code[code]
            class_dtypes[code] = (np.dtype(np.float32) if types[by_code[code]].upper() in
                                  ("FLOAT", "REAL") else np.dtype(np.float64))
        ordered = list(class_cols.items())
        whens = []
        for j, (code, col) in enumerate(ordered):
            conds = [f"{_q(col)} {'>' if i < j else '>='} {_q(other)}"
                     for i, (_, other) in enumerate(ordered) if i != j]
            whens.append(f"WHEN {' AND '.join(conds) or 'TRUE'} THEN {code}")
        pred_code_sql = f"(CASE {' '.join(whens)} ELSE -1 END)"
        wrong = f"({label_code_sql} <> {pred_code_sql})"
        is_pos = None
        for code, col in class_cols.items():
            eng.exprs[f"proba:{code}"] = _q(col)
    else:
        pmap = [(v, class_index(classes, v)) for v in pd.unique(every["p"]).tolist()]
        if any(c is None for _, c in pmap):
            bad = next(v for v, c in pmap if c is None)
            raise eng.fail(f"prediction {bad!r} is not one of the classes "
                           f"({', '.join(map(repr, classes))})", pred,
                           f"{_q(pred)} = {_lit(bad)}")
        pred_code_sql = _case(_q(pred), [(v, c) for v, c in pmap if c is not None])
        wrong = f"({label_code_sql} <> {pred_code_sql})"
        is_pos = None
    if task_sql:
        eng.exprs["task"] = task_sql
    eng.exprs.update({"model": model_sql, "split_code": split_code_sql, "id": id_sql,
                      "wrong": wrong, "label_code": label_code_sql, "weight": w_sql,
                      "score": _q(score) if score else "NULL"})
    if not score:
        eng.exprs["pred_code"] = pred_code_sql
    eng.class_dtypes = class_dtypes
    keys_with_split = False  # row keys never repeat
    if ident:  # ids repeated within a smaller training size are refused too
        keys_with_split = _check_ids(
            eng, id_sql, ident, model_sql=model_sql, split_code_sql=split_code_sql,
            models=models, task_sql=task_sql, tasks=tasks, size_sql=size_sql,
            sizes=sorted(set(lc_groups["z"].tolist())) if lc_groups is not None else (),
            held=held_sql, exact=_family(types[ident]) == "integer")
    n_models = max(len(models), 1)
    picks = [seeds]
    for sc in sorted(set(split_code.values())):  # up to sample_errors examples per split
        picks.append(eng.sql(f"SELECT {split_sql} AS sv, {id_sql} AS iv FROM src WHERE "
                             f"{wrong} AND {split_code_sql} = {sc} ORDER BY hash({split_sql}, "
                             f"{id_sql}) LIMIT {int(sample_errors) * n_models}").df()
                     .drop_duplicates().head(int(sample_errors)))
    picks.append(eng.sql(f"SELECT {split_sql} AS sv, {id_sql} AS iv FROM src ORDER BY "
                         f"hash({id_sql}, {split_sql}, 'sample') LIMIT "
                         f"{int(sample_random) * n_models}").df().drop_duplicates()
                 .head(int(sample_random)))
    tag_cols = list(columns.get("categories") or [c for c in types if is_tag_column(c)])
    if tag_cols:
        any_tag = " OR ".join(f"{_q(c)} IS NOT NULL" for c in tag_cols if c in types)
        if any_tag:
            picks.append(eng.sql(f"SELECT {split_sql} AS sv, {id_sql} AS iv FROM src WHERE "
                                 f"{any_tag} LIMIT 100000").df())
    wanted = pd.concat(picks, ignore_index=True).drop_duplicates()
    raw = _fetch(eng, wanted, split_sql, id_sql)
    # metadata columns (device, region...) kept in the sample: they name the slices
    sample, schema = normalize_rows(raw, name, _normalize_opts(columns, metadata=True), ident)
    if not ident:
        schema = _replace(schema, notes=(no_id_note(files), *schema.notes))
    sample = keyed_sample(sample, keys_with_split)
    engine_notes = sample_notes("DuckDB", len(files), total_rows, sample, sample_errors,
                                sample_random)

    # -- per split: sizes, and the counts at each distinct score (or on the grid) -------------
    groups["m"] = groups["m"].astype(str)
    task_dims = [task_sql] if task_sql else []
    sizes = split_sizes(groups, ["t"] if task_sql else [])
    # one score column per curve: the score (binary), else each class's probability
    scored = ([(None, score, is_pos, score_dtype)] if score else
              [(code, col, f"({label_code_sql} = {code})", class_dtypes[code])
               for code, col in class_cols.items()])
    sql = _CountSQL(eng, models, model_sql, split_code_sql, w_sql, label_code_sql,
                    pred_code_sql, distinct_limit, grid)
    counts, gridded = sql.score_counts("src", task_dims, scored)
    confusion = sql.confusion("src", task_dims, len(classes)) if not score else {}
    lc_sizes, lc_counts, lc_confusion, lc_gridded = None, {}, {}, {}
    if lc_groups is not None and size_sql:  # learning curves: every size, per task
        lc_groups = lc_groups.assign(m=lc_groups["m"].astype(str))
        lc_sizes = lc_groups.groupby(["m", *(["t"] if task_sql else []), "z", "split"],
                                     sort=True).agg(n=("n", "sum"), w=("w", "sum"),
                                                    w2=("w2", "sum"))
        if score:
            lc_counts, lc_gridded = sql.score_counts("base", [*task_dims, size_sql], scored)
        else:
            lc_confusion = sql.confusion("base", [*task_dims, size_sql], len(classes))
    if gridded or lc_gridded:
        engine_notes.append(grid_note({**gridded, **lc_gridded}, grid, distinct_limit))
    if wide:
        engine_notes.append(f"wide multi-task table read as {len(wide)} tasks: "
                            f"{', '.join(wide)}")
    if unlabelled:
        engine_notes.append("not labelled, left out of their task only: " + ", ".join(
            f"{k} {v:,}" for k, v in unlabelled.items()))
    schema = _replace(schema, notes=(*schema.notes, *engine_notes),
                      has_weight=weight is not None, tasks=tasks, unlabelled=unlabelled)
    return Aggregates(sample=sample, schema=schema, models=models, sizes=sizes, counts=counts,
                      confusion=confusion, gridded=gridded, score_dtype=score_dtype,
                      keys_with_split=keys_with_split, engine=eng, rows=total_rows,
                      notes=tuple(engine_notes), class_dtypes=class_dtypes, tasks=tasks,
                      unlabelled=unlabelled, lc_sizes=lc_sizes, lc_counts=lc_counts,
                      lc_confusion=lc_confusion, lc_gridded=lc_gridded)


@dataclass
class _CountSQL:
    """The engine's per-split counts, keyed (model, *dims, split): ``dims`` are SQL of extra
    keys (the task, or the training-set size of a learning curve)."""

    eng: DuckDBSource
    models: tuple[str, ...]
    model_sql: str
    split_code_sql: str
    w_sql: str
    label_code_sql: str
    pred_code_sql: str
    distinct_limit: int
    grid: float

    def _dims(self, dims: Sequence[str]) -> str:
        return "".join(f", {d} AS d{i}" for i, d in enumerate(dims))

    def score_counts(self, view: str, dims: Sequence[str], scored: Sequence[tuple]
                     ) -> tuple[dict[tuple, tuple[np.ndarray, ...]], dict[tuple, float]]:
        """Per key (and class code, for per-class probabilities): (scores, pos, neg, pos_w,
        neg_w) at each distinct score, or on the grid past the distinct limit."""
        counts: dict[tuple, tuple[np.ndarray, ...]] = {}
        gridded: dict[tuple, float] = {}
        if not scored:
            return counts, gridded
        eng, m_sql, sc_sql, w_sql = self.eng, self.model_sql, self.split_code_sql, self.w_sql
        extra = self._dims(dims)
        # a split past the limit in any class's column goes on the grid for every class
        distinct = eng.sql(f"SELECT {m_sql}{extra}, {sc_sql}, " + ", ".join(
            f"approx_count_distinct({_q(col)})" for _, col, _, _ in scored)
            + f" FROM {view} GROUP BY ALL").fetchall()
        n_dims = len(dims)
        per_split: dict[tuple, int] = {}
        for m, *rest in distinct:
            key = (str(m), *rest[:n_dims], SPLITS[rest[n_dims]])
            per_split[key] = max(per_split.get(key, 0), *map(int, rest[n_dims + 1:]))
        coarse = [k for k, d in per_split.items() if d > self.distinct_limit]
        gridded.update({k: float(self.grid) for k in coarse})
        model_code = _case(m_sql, [(m, i) for i, m in enumerate(self.models)])
        for code, col, positive, dtype in scored:
            value_sql = f"CAST({_q(col)} AS DOUBLE)"
            value = value_sql
            if coarse:
                cond = " OR ".join("(" + " AND ".join(
                    [f"{m_sql} = {_lit(k[0])}", f"{sc_sql} = {SPLITS.index(k[-1])}",
                     *(f"{d} = {_lit(v)}" for d, v in zip(dims, k[1:-1], strict=True))])
                    + ")" for k in coarse)
                cast = "FLOAT" if dtype == np.float32 else "DOUBLE"
                value = (f"(CASE WHEN {cond} THEN {_grid_sql(_q(col), self.grid, cast)} "
                         f"ELSE {value_sql} END)")
            names = ["m", *(f"d{i}" for i in range(n_dims)), "sc"]
            table = eng.sql(
                f"SELECT {model_code} AS m{extra}, {sc_sql} AS sc, {value} AS v, "
                f"count(*) FILTER (WHERE {positive}) AS pn, count(*) FILTER (WHERE NOT "
                f"{positive}) AS nn, coalesce(sum({w_sql}) FILTER (WHERE {positive}), 0) AS "
                f"pw, coalesce(sum({w_sql}) FILTER (WHERE NOT {positive}), 0) AS nw FROM "
                f"{view} GROUP BY ALL ORDER BY {', '.join(names)}, v DESC").fetchnumpy()
            # rows come ordered by key: each key's rows are one run, cut where a key changes
            keys = [np.asarray(table[c]) for c in names]
            values = [np.asarray(table[c], dtype=np.float64) for c in ("v", "pn", "nn", "pw",
                                                                       "nw")]
            n_rows = len(values[0])
            change = np.zeros(n_rows, dtype=bool)
            change[:1] = True
            for k in keys:
                change[1:] |= k[1:] != k[:-1]
            starts = np.flatnonzero(change)
            for a, b in zip(starts, [*starts[1:], n_rows], strict=True):
                key = [k[a] for k in keys]
                where = (self.models[int(key[0])], *_plain(key[1:-1]), SPLITS[int(key[-1])])
                counts[where if code is None else (*where, code)] = tuple(
                    v[a:b] for v in values)
        return counts, gridded

    def confusion(self, view: str, dims: Sequence[str], k: int
                  ) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
        """Per key, the k x k label x prediction matrices of rows and of weight."""
        table = self.eng.sql(
            f"SELECT {self.model_sql} AS m{self._dims(dims)}, {self.split_code_sql} AS sc, "
            f"{self.label_code_sql} AS y, {self.pred_code_sql} AS p, count(*) AS n, "
            f"sum({self.w_sql}) AS w FROM {view} GROUP BY ALL").df()
        return confusion_counts(table, k, "n", "w", str,
                                [f"d{i}" for i in range(len(dims))])


def _plain(values: Sequence[Any]) -> tuple:
    """NumPy scalars as Python values (task names, sizes), so keys compare as in memory."""
    return tuple(v.item() if isinstance(v, np.generic) else v for v in values)


def _grid_sql(score_sql: str, grid: float, cast: str) -> str:
    """SQL of a score's grid point: the largest point ``g_k`` with ``score >= g_k``, the
    comparison made in the score's own type (``cast``: FLOAT or DOUBLE), as NumPy makes it.

    So a threshold on a grid point flags exactly the rows it flags in memory. With ``1 / grid``
    whole, ``g_k = k / (1 / grid)``, the double nearest the decimal a user types.
    """
    grid = float(grid)
    if not grid > 0:
        raise DashboardError(f"the score grid must be a positive step, got {grid}")
    inv = round(1.0 / grid)
    whole = inv >= 1 and abs(inv * grid - 1.0) < 1e-12

    def point(k: str) -> str:
        return f"(({k}) / {float(inv)!r})" if whole else f"(({k}) * {grid!r})"

    k0 = f"floor(CAST({score_sql} AS DOUBLE) / {grid!r})"
    k = (f"(CASE WHEN CAST({point(k0 + ' + 1')} AS {cast}) <= {score_sql} THEN {k0} + 1 "
         f"WHEN CAST({point(k0)} AS {cast}) > {score_sql} THEN {k0} - 1 ELSE {k0} END)")
    return point(k)


def _replace(schema: Schema, **changes: Any) -> Schema:
    from dataclasses import replace
    return replace(schema, **changes)


def _normalize_opts(columns: Mapping[str, Any], metadata: bool = False) -> dict[str, Any]:
    """normalize's options for fetched rows: metadata columns only where asked for."""
    opts = {k: v for k, v in columns.items() if k not in ("metadata_columns",)}
    opts["metadata_columns"] = columns.get("metadata_columns") if metadata else ()
    return opts


def _one_per_key(skeleton: pd.DataFrame, roles: Mapping[str, str | None]) -> pd.DataFrame:
    """The class skeleton without repeated (split, id, model, task, size) rows: it only
    names the classes, and a repeated id is refused later by the engine's own check, which
    names the row in the file (normalize would name a row of the skeleton)."""
    key = [c for c in (roles.get(r) for r in ("split", "id", "model", "task", "train_size"))
           if c is not None and c in skeleton.columns]
    return skeleton.drop_duplicates(subset=key) if key else skeleton


def _fetch(eng: DuckDBSource, wanted: pd.DataFrame, split_sql: str, id_sql: str, *,
           table: str = "src") -> pd.DataFrame:
    """The rows (of every model) of the wanted (split, id) pairs, in file order, from the
    held rows (``src``) or from every training-set size (``base``)."""
    eng.con.register("wanted_rows", wanted)
    order = f"{_FILE}, {_ROW}" if eng.fmt == "parquet" or not eng.roles.get("id") else _FILE
    try:
        query = (f"SELECT * FROM {table} SEMI JOIN wanted_rows w ON {split_sql} = "
                 f"CAST(w.sv AS VARCHAR) AND {id_sql} = w.iv ORDER BY {order}")
        try:
            frame = eng.con.sql(query).to_arrow_table()
        except Exception as exc:  # duckdb raises its own hierarchy
            raise DashboardError(f"the DuckDB engine could not fetch the sample: "
                                 f"{str(exc).strip().splitlines()[0]}", file=eng.source) from None
    finally:
        eng.con.unregister("wanted_rows")
    df = frame.to_pandas()
    if _ROW_ID in df.columns:  # no ids: errors in the fetched rows name their file row
        df = df.rename(columns={_ROW: "__row__"})
    return df.drop(columns=[c for c in (_FILE, _ROW, _TASK_I) if c in df.columns]
                   ).reset_index(drop=True)


def normalize_rows(rows: pd.DataFrame, name: str, opts: dict[str, Any], ident: str | None,
                   *, eng: DuckDBSource | None = None) -> tuple[pd.DataFrame, Schema]:
    """:func:`normalize` of rows an engine fetched; without an id column their key column is
    the id, and an error names the file row alone, as the in-memory path does. With ids and
    ``eng``, an error naming a fetched row is re-located to the file's first row holding the
    offending value (normalize can only count the fetched rows)."""
    if ident:
        try:
            return normalize(rows, source=name, **opts)
        except DashboardError as exc:
            if eng is None or exc.row is None or exc.column not in rows.columns:
                raise
            value = rows[exc.column].iloc[int(str(exc.row).split(" ")[0]) - 1]
            prefix = str(DashboardError("", file=exc.file, column=exc.column, row=exc.row))
            where = (f"{_q(exc.column)} IS NULL" if value is None or value is pd.NA else
                     f"{_q(exc.column)} = {_lit(value)}")
            raise eng.fail(str(exc)[len(prefix):], exc.column, where) from None
    try:
        return normalize(rows, source=name, **{**opts, "id": _ROW_ID})
    except DashboardError as exc:
        prefix = str(DashboardError("", file=exc.file, column=exc.column, row=exc.row))
        row = None if exc.row is None else str(exc.row).split(" (id ")[0]
        raise DashboardError(str(exc)[len(prefix):], file=exc.file, column=exc.column,
                             row=row) from None


def eyeball_arrays(table: pd.DataFrame, binary: bool) -> tuple[np.ndarray | None, ...]:
    """An engine's eyeball groups (columns e, y, v, n, w, w2) as the arrays the results
    model recounts: eyeball part, label or wrong, score (binary scores), rows, weight and
    squared weight (for the weighted check)."""
    return (table["e"].to_numpy(dtype=bool), table["y"].to_numpy(dtype=bool),
            table["v"].to_numpy(dtype=np.float64) if binary else None,
            table["n"].to_numpy(dtype=np.int64), table["w"].to_numpy(dtype=np.float64),
            table["w2"].to_numpy(dtype=np.float64))


def split_sizes(groups: pd.DataFrame, dims: Sequence[str] = ()) -> pd.DataFrame:
    """Per (model, *dims, split): rows, weight, squared weight and the score range, from the
    engine's small groups (one row per model, split and group key; ``dims``: the task)."""
    return groups.groupby(["m", *dims, "split"], sort=False).agg(
        n=("n", "sum"), w=("w", "sum"), w2=("w2", "sum"), lo=("lo", "min"), hi=("hi", "max"))


def confusion_counts(table: pd.DataFrame, k: int, count: str, weight: str,
                     model_name: Callable[[Any], str], dims: Sequence[str] = ()
                     ) -> dict[tuple, tuple]:
    """Per (model, *dims, split), the k x k label x prediction matrices of rows and of weight,
    from an engine's counts grouped by model code ``m``, the ``dims`` columns, split code
    ``sc``, label ``y`` and prediction ``p``."""
    out = {}
    for key, part in table.groupby(["m", *dims, "sc"], sort=False):
        cells = (part["y"].to_numpy(), part["p"].to_numpy())
        n_mat, w_mat = np.zeros((k, k)), np.zeros((k, k))
        np.add.at(n_mat, cells, part[count].to_numpy())
        np.add.at(w_mat, cells, part[weight].to_numpy())
        out[(model_name(key[0]), *_plain(key[1:-1]), SPLITS[int(key[-1])])] = (n_mat, w_mat)
    return out


def grid_note(gridded: Mapping[tuple[str, str], float], grid: float,
              distinct_limit: int) -> str:
    """What the header and the report say when scores were grouped on a grid."""
    return (f"Scores of {', '.join(' '.join(map(str, k)) for k in gridded)} grouped on a "
            f"{grid:g} "
            f"grid (more than {distinct_limit:,} distinct scores): a threshold is exact on the "
            f"grid's points and within {grid:g} between them.")

def keyed_sample(sample: pd.DataFrame, keys_with_split: bool) -> pd.DataFrame:
    """The sample with its example keys: the id, or ``split/id`` when ids repeat across
    splits (the in-memory path's rule, so reviews in a store match on both paths)."""
    keys = sample["id"].astype(object)
    if keys_with_split:
        keys = pd.Series([f"{s}/{i}" for s, i in zip(sample["split"].astype(str), keys,
                                                     strict=True)], dtype=object)
    return sample.assign(key=keys.to_numpy())


def sample_notes(engine: str, files: int, total_rows: int, sample: pd.DataFrame,
                 sample_errors: int, sample_random: int,
                 pending: str | None = None) -> list[str]:
    """What the header and the report say about numbers computed by an engine (and, in
    ``pending``, which views still need every row)."""
    notes = [f"Computed by {engine} from {files:,} file(s), {total_rows:,} rows; the per-row "
             f"views show a sample of {sample['id'].nunique():,} examples (up to "
             f"{int(sample_errors):,} misclassified at the default threshold per split, and "
             f"{int(sample_random):,} at random)."]
    if pending:
        notes.append(f"{pending[0].upper()}{pending[1:]} need engine='pandas' for now.")
    return notes

def _first_seen(eng: DuckDBSource, view: str, expr: str, where: str = "TRUE") -> dict[str, int]:
    """The distinct values of ``expr`` in order of first appearance (file, then row), with
    their row counts."""
    if eng.fmt == "parquet":
        table = eng.sql(f"SELECT CAST({expr} AS VARCHAR) AS v, {_FILE} AS f, min({_ROW}) AS r, "
                        f"count(*) AS n FROM {view} WHERE {where} GROUP BY ALL").df()
    else:
        table = eng.sql(f"SELECT v, {_FILE} AS f, min(rn) AS r, count(*) AS n FROM (SELECT "
                        f"CAST({expr} AS VARCHAR) AS v, {_FILE}, row_number() OVER () AS rn "
                        f"FROM {view} WHERE {where}) GROUP BY ALL").df()
    counts = table.groupby("v", sort=False)["n"].sum()
    first = table.sort_values(["f", "r"]).drop_duplicates("v")["v"]
    return {str(v): int(counts[v]) for v in first}


def _model_order(eng: DuckDBSource, groups: pd.DataFrame, model_sql: str) -> tuple[str, ...]:
    """Models in order of first appearance (file order, then row), as the pandas path has it."""
    if eng.fmt == "parquet":
        first = groups.sort_values(["f", "first_row"]).drop_duplicates("m")
        return tuple(str(m) for m in first["m"])
    rows = eng.sql(f"SELECT m FROM (SELECT {model_sql} AS m, row_number() OVER () AS rn "
                   "FROM src) GROUP BY m ORDER BY min(rn)").fetchall()
    return tuple(str(r[0]) for r in rows)


#: ids found repeated (or spanning splits) that one pass names, to check exactly
_SUSPECTS = 100


def _check_ids(eng: DuckDBSource, id_sql: str, ident: str, *, model_sql: str,
               split_code_sql: str, models: Sequence[str], task_sql: str | None = None,
               tasks: Sequence[str] = (), size_sql: str | None = None,
               sizes: Sequence[float] = (), held: str = "TRUE", exact: bool = False) -> bool:
    """Refuse an id twice in one split for one model (task, training size); say whether keys
    need the split (an id in two splits among the ``held`` rows, as the in-memory rule).

    One pass grouped by the id (by its 64-bit hash, unless ``exact``: integer ids): per id its
    rows, its lowest and highest split, and the OR of ``1 << code`` over a packed (size, task,
    model, split) code, whose set bits are its distinct codes, so an id has a repeat exactly
    when it has more rows than bits. Only ids found there (a hash collision may look like
    either) are then checked exactly, on their rows alone, to name the repeated row.
    """
    view = "base" if size_sql else "src"
    code, width = split_code_sql, len(SPLITS)
    for sql, values in ((model_sql, models), (task_sql, tasks), (size_sql, sizes)):
        if sql is not None:
            code = f"({code} + {width} * {_case(sql, [(v, i) for i, v in enumerate(values)])})"
            width *= max(len(values), 1)
    if width <= 64:  # the usual case: one 64-bit mask
        distinct = "bit_count(bit_or(1::UBIGINT << CAST(code AS UBIGINT)))"
    elif width <= 64 * 16:
        distinct = " + ".join(
            f"bit_count(bit_or(CASE WHEN code // 64 = {j} THEN 1::UBIGINT << CAST(code % 64 "
            "AS UBIGINT) ELSE 0::UBIGINT END))" for j in range(-(-width // 64)))
    else:
        distinct = "count(DISTINCT code)"
    where_held = "" if held == "TRUE" else " FILTER (WHERE held)"
    key = id_sql if exact else f"hash({id_sql})"
    n_dup, n_span, dups, spans = eng.one(
        f"SELECT count(*) FILTER (WHERE c > d), count(*) FILTER (WHERE lo <> hi), "
        f"min(k, {_SUSPECTS}) FILTER (WHERE c > d), min(k, {_SUSPECTS}) FILTER (WHERE lo <> hi) "
        f"FROM (SELECT k, count(*) AS c, {distinct} AS d, min(sc){where_held} AS lo, "
        f"max(sc){where_held} AS hi FROM (SELECT {key} AS k, {code} AS code, "
        f"{split_code_sql} AS sc, ({held}) AS held FROM {view}) GROUP BY k)")
    dims = {"task_sql": task_sql, "size_sql": size_sql, "view": view}
    if n_dup:
        found = ", ".join(map(_lit, dups))
        _check_duplicates(eng, model_sql, split_code_sql, id_sql, ident, where=f"{key} IN "
                          f"({found})", **dims)
        if n_dup > len(dups):  # every one seen was a hash collision: look at all of them
            _check_duplicates(eng, model_sql, split_code_sql, id_sql, ident, **dims)
    if not n_span:
        return False
    if exact:
        return True
    found = ", ".join(map(_lit, spans))
    if eng.one(f"SELECT count(*) FROM (SELECT 1 FROM {view} WHERE ({held}) AND {key} IN "
               f"({found}) GROUP BY {id_sql} HAVING min({split_code_sql}) <> "
               f"max({split_code_sql}) LIMIT 1)")[0]:
        return True
    if n_span <= len(spans):
        return False
    return eng.one(f"SELECT count(*) FROM (SELECT 1 FROM {view} WHERE {held} GROUP BY "
                   f"{id_sql} HAVING min({split_code_sql}) <> max({split_code_sql}) "
                   "LIMIT 1)")[0] > 0


def _check_duplicates(eng: DuckDBSource, model_sql: str, split_code_sql: str, id_sql: str,
                      ident: str, task_sql: str | None = None, size_sql: str | None = None,
                      view: str = "src", where: str = "TRUE") -> None:
    """An id twice in one split for one model (task, training size) is refused, naming the
    file and row (among the rows ``where`` selects)."""
    dims = [d for d in (task_sql, size_sql) if d]
    extra = "".join(f", {d}" for d in dims)
    dup = eng.one(f"SELECT {model_sql}, {split_code_sql}, {id_sql}{extra} FROM {view} "
                  f"WHERE {where} GROUP BY ALL HAVING count(*) > 1 LIMIT 1")
    if dup is None:
        return
    m, sc, i, *values = dup
    where = f"{model_sql} = {_lit(m)} AND {split_code_sql} = {sc} AND {id_sql} = {_lit(i)}"
    where += "".join(f" AND {d} = {_lit(v)}" for d, v in zip(dims, values, strict=True))
    file, row = eng.row_ref(where, nth=1)  # the repeat, as the in-memory path names it
    in_task = f", task {str(values[0])!r}" if task_sql else ""
    raise DashboardError(f"id {str(i)!r} appears twice in split {SPLITS[sc]!r} for model "
                         f"{m!r}{in_task}", file=file, column=ident, row=row)


def reopen_source(*, files: list[str], fmt: str, source: str, types: dict[str, str],
                  roles: dict[str, str | None], exprs: dict[str, str], base_filter: str,
                  class_dtypes: dict[int, np.dtype], ddl: list[str],
                  memory_limit: str | None = None, threads: int | None = None) -> DuckDBSource:
    """A :class:`DuckDBSource` on a new connection with the views a cached one had (no row
    is read until a view is queried)."""
    con = _open(files, fmt, source, memory_limit, threads)
    eng = DuckDBSource(con, list(files), fmt, source, dict(types), dict(roles), dict(exprs),
                       dict(class_dtypes), base_filter=base_filter)
    for statement in ddl:
        eng.execute(statement)
    return eng
