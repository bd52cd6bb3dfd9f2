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
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from dashboard.engines import (
    DISTINCT_LIMIT,
    GRID,
    Aggregates,
    _check_partitions,
    _normalize_opts,
    _replace,
    confusion_counts,
    expand_source,
    grid_note,
    keyed_sample,
    sample_notes,
    split_sizes,
)
from dashboard.errors import DashboardError
from dashboard.io import SPLIT_ALIASES, SPLITS, _alias_key, class_index, normalize
from dashboard.metrics.curve import flag

__all__ = ["DaskSource", "aggregate_dask"]

_FILE, _ROW = "__file__", "file_row_number"
_SAMPLE_KEY = "mldash-sample-01"  # 16 characters: pandas' hash key for the random sample


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


def _read_csv(file: str, id_name: str | None, columns: list[str] | None = None
              ) -> pd.DataFrame:
    """A whole CSV file as the in-memory path reads it (ids as text); one line if unreadable."""
    try:
        return pd.read_csv(file, dtype={id_name: str} if id_name else None,
                           keep_default_na=True,
                           usecols=None if columns is None else lambda c: c in columns)
    except pd.errors.EmptyDataError:
        raise DashboardError("the file has no columns or rows", file=file) from None
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DashboardError(f"could not read the file as csv: {first}", file=file) from None


def _describe_csv(file: str, id_name: str | None) -> tuple[dict[str, str], pd.DataFrame]:
    """A CSV file's column types (read whole, as pandas infers them) and its empty frame."""
    df = _read_csv(file, id_name)
    return {str(c): _pandas_type(df[c]) for c in df.columns}, df.iloc[:0]


def _shape(df: pd.DataFrame, file: str, wanted: list[str] | None) -> pd.DataFrame:
    """A partition's wanted columns (missing ones empty), its file name and row numbers."""
    if wanted is not None:
        for c in wanted:
            if c not in df.columns:
                df[c] = pd.Series(pd.NA, index=df.index, dtype=object)
        df = df[wanted]
    df = df.copy()
    df[_FILE] = file
    df[_ROW] = np.arange(len(df), dtype=np.int64)
    return df


def _read(file: str, wanted: list[str] | None = None, fmt: str = "parquet",
          id_name: str | None = None) -> pd.DataFrame:
    """One partition: a file's rows (the wanted columns, those it has), name and row numbers."""
    if fmt == "csv":
        return _shape(_read_csv(file, id_name, wanted), file, wanted)
    import pyarrow.parquet as pq

    present = pq.read_schema(file).names
    cols = None if wanted is None else [c for c in wanted if c in present]
    return _shape(pq.read_table(file, columns=cols).to_pandas(), file, wanted)


def _checks(df: pd.DataFrame, roles: Mapping[str, str | None], probabilities: bool
            ) -> pd.DataFrame:
    """Per check, the first offending row of this partition (-1: none)."""
    found: dict[str, tuple[str | None, np.ndarray]] = {
        "missing label": (roles["label"], df[roles["label"]].isna().to_numpy()),
        "missing split name": (roles["split"], df[roles["split"]].isna().to_numpy()),
    }
    if roles["model"]:
        found["missing model name"] = (roles["model"], df[roles["model"]].isna().to_numpy())
    if roles["id"]:
        found["missing example id"] = (roles["id"], df[roles["id"]].isna().to_numpy())
    if roles["score"]:
        s = pd.to_numeric(df[roles["score"]], errors="coerce").to_numpy(dtype=np.float64)
        found["value is missing (NaN)"] = (roles["score"], np.isnan(s))
        found["value is not finite"] = (roles["score"], np.isinf(s))
        if probabilities:
            found["value is outside [0, 1], but scores are declared to be probabilities (pass "
                  "probabilities=False for raw scores such as decision_function margins)"] = (
                roles["score"], (s < 0) | (s > 1))
    elif roles["prediction"]:
        found["missing prediction"] = (roles["prediction"],
                                       df[roles["prediction"]].isna().to_numpy())
    if roles["weight"]:
        w = pd.to_numeric(df[roles["weight"]], errors="coerce").to_numpy(dtype=np.float64)
        found["weight is missing (NaN)"] = (roles["weight"], np.isnan(w))
        found["negative weight; weights are per-example costs >= 0"] = (roles["weight"], w < 0)
    rows = []
    for message, (column, bad) in found.items():
        hit = np.flatnonzero(bad)
        rows.append({"message": message, "column": column,
                     "row": int(df[_ROW].iloc[hit[0]]) if hit.size else -1,
                     "id": str(df[roles["id"]].iloc[hit[0]]) if hit.size and roles["id"]
                     else None,
                     "file": str(df[_FILE].iloc[0]) if len(df) else ""})
    return pd.DataFrame(rows)


def _groups(df: pd.DataFrame, roles: Mapping[str, str | None]) -> pd.DataFrame:
    """This partition's small groups: model × split × label × prediction."""
    label, score, pred = roles["label"], roles["score"], roles["prediction"]
    w = (pd.to_numeric(df[roles["weight"]], errors="coerce").astype(np.float64)
         if roles["weight"] else pd.Series(1.0, index=df.index))
    keys = pd.DataFrame({
        "m": df[roles["model"]].astype(str) if roles["model"] else "model",
        "s": df[roles["split"]].astype(str), "y": df[label],
        "p": df[pred] if pred else pd.Series(-1, index=df.index)})
    keys = keys.astype({"y": object, "p": object})
    vals = pd.DataFrame({"n": 1, "w": w, "w2": w * w,
                         "lo": df[score].astype(np.float64) if score else np.nan,
                         "hi": df[score].astype(np.float64) if score else np.nan,
                         "some_id": df[roles["id"]], "first_row": df[_ROW]})
    g = pd.concat([keys, vals], axis=1).groupby(["m", "s", "y", "p"], dropna=False,
                                                 sort=False)
    out = g.agg(n=("n", "sum"), w=("w", "sum"), w2=("w2", "sum"), lo=("lo", "min"),
                hi=("hi", "max"), some_id=("some_id", "min"),
                first_row=("first_row", "min")).reset_index()
    out["f"] = str(df[_FILE].iloc[0]) if len(df) else ""
    return out


def _canon(df: pd.DataFrame, spec: Mapping[str, Any]) -> pd.DataFrame:
    """Canonical columns of one partition: codes, the score in its own dtype, weight, id."""
    roles = spec["roles"]
    out = pd.DataFrame(index=df.index)
    out["m"] = (df[roles["model"]].astype(str).map(spec["models"]) if roles["model"]
                else 0).astype(np.int64)
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
    if roles["score"]:
        out["wrong"] = (out["y"].to_numpy() == spec["pos"]) != flag(out["s"].to_numpy(),
                                                                    spec["threshold"])
    else:
        out["wrong"] = out["y"] != out["p"]
    return out


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


def _score_counts(part: pd.DataFrame, pos: int, gridded: Mapping[tuple[int, int], float]
                  ) -> pd.DataFrame:
    """Per (model, split, score or grid point): positive and negative counts and weights."""
    v = part["s"].to_numpy().astype(np.float64)
    for (m, sc), grid in gridded.items():
        sel = ((part["m"] == m) & (part["sc"] == sc)).to_numpy()
        if sel.any():
            v[sel] = _grid_points(part["s"].to_numpy()[sel], grid)
    is_pos = part["y"].to_numpy() == pos
    w = part["w"].to_numpy(dtype=np.float64)
    frame = pd.DataFrame({"m": part["m"].to_numpy(), "sc": part["sc"].to_numpy(), "v": v,
                          "pn": is_pos.astype(np.float64), "nn": (~is_pos).astype(np.float64),
                          "pw": np.where(is_pos, w, 0.0), "nw": np.where(is_pos, 0.0, w)})
    return frame.groupby(["m", "sc", "v"], sort=False).sum().reset_index()


class DaskSource:
    """The lazy Dask frame of the dataset, and the few queries the results model asks later."""

    def __init__(self, raw: Any, canon: Any, spec: dict[str, Any], scheduler: Any,
                 source: str) -> None:
        self.raw, self.canon, self.spec = raw, canon, spec
        self.scheduler, self.source = scheduler, source
        self.fmt = "parquet"

    def compute(self, *objs: Any) -> tuple:
        import dask

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

    def paired_counts(self, model_a: str, model_b: str, split: str, threshold_a: float | None,
                      threshold_b: float | None, *, dtype: np.dtype, pos_code: int | None
                      ) -> tuple[int, int, int]:
        """(A wrong and B right, A right and B wrong, shared) on the examples both models have."""
        import dask.dataframe as dd

        sc = SPLITS.index(split)
        sides = []
        for model, thr in ((model_a, threshold_a), (model_b, threshold_b)):
            code = self.spec["models"][model]

            def pick(part: pd.DataFrame, code: int = code, thr: float | None = thr
                     ) -> pd.DataFrame:
                sel = part[(part["m"] == code) & (part["sc"] == sc)]
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
    try:
        import dask.dataframe as dd
    except ImportError:
        raise DashboardError("the Dask engine needs dask: pip install 'dask[dataframe]' "
                             "distributed") from None
    del memory_limit  # a DuckDB setting; Dask workers have their own
    files, fmt = expand_source(source)
    name = str(source)
    if isinstance(scheduler, str):
        from distributed import Client

        scheduler = Client(scheduler, set_as_default=False)
    id_name = columns.get("id", "id")
    empty: pd.DataFrame | None = None
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
    if roles["id"] is None:
        raise DashboardError("the Dask engine needs an id column (examples are fetched by id)",
                             file=name, column="id")
    probabilities = bool(columns.get("probabilities", True))
    role_cols = list(dict.fromkeys(c for c in roles.values() if c is not None))
    tag_cols = list(columns.get("categories") or [c for c, t in types.items()
                                                  if t == "BOOLEAN" and c not in role_cols])
    wanted_cols = role_cols + [c for c in tag_cols if c not in role_cols]
    meta = (_shape(empty.copy(), files[0], wanted_cols) if empty is not None else
            _read(files[0], wanted_cols).iloc[:0])
    raw = dd.from_map(_read, files, args=(wanted_cols, fmt, roles["id"]), meta=meta,
                      enforce_metadata=False)
    eng = DaskSource(raw, None, {"roles": roles}, scheduler, name)
    eng.fmt = fmt

    # -- one pass: the checks, and the small groups --------------------------------------------
    checks = raw.map_partitions(_checks, roles, probabilities, meta={
        "message": object, "column": object, "row": np.int64, "id": object, "file": object})
    groups = raw.map_partitions(_groups, roles, meta={
        "m": object, "s": object, "y": object, "p": object, "n": np.int64, "w": np.float64,
        "w2": np.float64, "lo": np.float64, "hi": np.float64, "some_id": object,
        "first_row": np.int64, "f": object})
    checks, groups = eng.compute(checks, groups)
    order = {f: i for i, f in enumerate(files)}
    hits = checks[checks["row"] >= 0]
    if len(hits):
        by_check = list(dict.fromkeys(checks["message"]))
        hits = hits.assign(k=hits["message"].map(by_check.index), o=hits["file"].map(order))
        first = hits.sort_values(["k", "o", "row"]).iloc[0]
        ref = f"{int(first['row']) + 1}" + (f" (id {first['id']!r})" if first["id"] else "")
        raise DashboardError(str(first["message"]), file=str(first["file"]),
                             column=str(first["column"]), row=ref)
    total_rows = int(groups["n"].sum())
    if total_rows == 0:
        raise DashboardError("the data has no rows", file=name)
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
    models = tuple(str(m) for m in firsts.drop_duplicates("m")["m"])

    # -- classes from a skeleton (one row per small group), as the DuckDB path does ------------
    seeds = groups[["s", "some_id"]].rename(columns={"s": "sv", "some_id": "iv"})
    skeleton = _fetch(eng, files, seeds, roles)
    _, skel_schema = normalize(skeleton, source=name, **_normalize_opts(columns))
    classes = skel_schema.classes
    labels = _class_codes(groups["y"], classes, "label", "the declared classes", name,
                          roles["label"])
    score = roles["score"]
    dtype = np.dtype(np.float32) if score and types[score] == "FLOAT" else np.dtype(np.float64)
    thr = float(threshold) if threshold is not None else (0.5 if probabilities else 0.0)
    spec: dict[str, Any] = {"roles": roles, "models": {m: i for i, m in enumerate(models)},
                            "splits": split_code, "labels": labels, "dtype": dtype,
                            "threshold": thr, "pos": None}
    if score:
        spec["pos"] = class_index(classes, skel_schema.pos_label)
    else:
        spec["preds"] = _class_codes(groups["p"], classes, "prediction", "the classes", name,
                                     roles["prediction"])
    meta = {"m": np.int64, "sv": object, "sc": np.int64, "y": np.int64}
    if score:
        meta["s"] = dtype
    else:
        meta["p"] = np.int64
    meta.update({"w": np.float64, "id": raw[roles["id"]].dtype, "wrong": bool})
    canon = raw.map_partitions(_canon, spec, meta=meta)
    eng.canon, eng.spec = canon, spec

    # -- ids: duplicates, and whether keys need the split ----------------------------------------
    per = canon.groupby(["id", "m"]).sc.agg(["count", "min", "max"])
    same = per[per["min"] == per["max"]]["count"].max()
    spanning = (per["min"] != per["max"]).sum()
    dup_rows, spanning = eng.compute(same, spanning)
    if (dup_rows or 0) > 1 or spanning:
        sizes = canon.groupby(["m", "sc", "id"]).size()
        (dups,) = eng.compute(sizes[sizes > 1].head(1, npartitions=-1)
                              if hasattr(sizes, "head") else sizes[sizes > 1])
        if len(dups):
            m, sc, ident = dups.index[0]
            raise DashboardError(f"id {str(ident)!r} appears twice in split {SPLITS[sc]!r} for "
                                 f"model {models[m]!r}", file=name, column=roles["id"])
    keys_with_split = bool(spanning)
    if not keys_with_split and len(models) > 1:
        ids = canon.groupby("id").sc.agg(["min", "max"])
        (n_span,) = eng.compute((ids["min"] != ids["max"]).sum())
        keys_with_split = bool(n_span)

    # -- the sample -------------------------------------------------------------------------
    def hashed(part: pd.DataFrame, key: str | None, only_wrong: bool) -> pd.DataFrame:
        part = part[part["wrong"]] if only_wrong else part
        pairs = pd.DataFrame({"sv": part["sv"], "iv": part["id"]})
        h = (pd.util.hash_pandas_object(pairs, index=False, hash_key=key) if key else
             pd.util.hash_pandas_object(pairs, index=False))
        return pairs.assign(h=h.to_numpy())
    pair_meta = {"sv": object, "iv": raw[roles["id"]].dtype, "h": np.uint64}
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
                                 "iv": part[roles["id"]][sel]})
        (tags,) = eng.compute(raw.map_partitions(tagged, meta={
            "sv": object, "iv": raw[roles["id"]].dtype}))
        picks.append(tags.head(100_000))
    wanted = pd.concat(picks, ignore_index=True).drop_duplicates()
    sample, schema = normalize(_fetch(eng, files, wanted, roles), source=name,
                               **_normalize_opts(columns))
    sample = keyed_sample(sample, keys_with_split)
    notes = sample_notes("Dask", len(files), total_rows, sample, sample_errors, sample_random)

    # -- per split: sizes, counts at each distinct score (or on the grid), or confusion --------
    groups["m"] = groups["m"].astype(str)
    sizes = split_sizes(groups)
    counts: dict[tuple[str, str], tuple[np.ndarray, ...]] = {}
    confusion: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    gridded: dict[tuple[str, str], float] = {}
    if score:
        pairs = sorted({(spec["models"][m], SPLITS.index(s)) for m, s in sizes.index})
        approx = [canon[(canon["m"] == m) & (canon["sc"] == sc)]["s"].nunique_approx()
                  for m, sc in pairs]
        estimates = eng.compute(*approx)
        coarse = {pair: float(grid) for pair, d in zip(pairs, estimates, strict=True)
                  if d > distinct_limit}
        gridded = {(models[m], SPLITS[sc]): g for (m, sc), g in coarse.items()}
        partial = canon.map_partitions(_score_counts, spec["pos"], coarse, meta={
            "m": np.int64, "sc": np.int64, "v": np.float64, "pn": np.float64,
            "nn": np.float64, "pw": np.float64, "nw": np.float64})
        (table,) = eng.compute(partial.groupby(["m", "sc", "v"]).sum())
        table = table.reset_index().sort_values(["m", "sc", "v"], ascending=[True, True, False])
        for (m, sc), part in table.groupby(["m", "sc"], sort=False):
            counts[(models[int(m)], SPLITS[int(sc)])] = tuple(
                part[c].to_numpy(dtype=np.float64) for c in ("v", "pn", "nn", "pw", "nw"))
    else:
        k = len(classes)
        (table,) = eng.compute(canon.groupby(["m", "sc", "y", "p"]).w.agg(["count", "sum"]))
        confusion.update(confusion_counts(table.reset_index(), k, "count", "sum",
                                          lambda m: models[int(m)]))
    if gridded:
        notes.append(grid_note(gridded, grid, distinct_limit))
    schema = _replace(schema, notes=(*schema.notes, *notes), metadata_columns=(),
                      has_weight=roles["weight"] is not None)
    return Aggregates(sample=sample, schema=schema, models=models, sizes=sizes, counts=counts,
                      confusion=confusion, gridded=gridded, score_dtype=dtype,
                      keys_with_split=keys_with_split, engine=eng,  # type: ignore[arg-type]
                      rows=total_rows, notes=tuple(notes))


def _fetch(eng: DaskSource, files: list[str], wanted: pd.DataFrame,
           roles: Mapping[str, str | None]) -> pd.DataFrame:
    """Every column of the rows (of every model) of the wanted (split, id) pairs, file order."""
    want = wanted.assign(sv=wanted["sv"].astype(str))
    split, ident = roles["split"], roles["id"]

    fmt = eng.fmt  # not eng itself: the closure goes to the workers

    def pick(file: str) -> pd.DataFrame:
        df = _read(file, None, fmt, ident)
        keys = pd.MultiIndex.from_arrays([df[split].astype(str), df[ident]])
        sel = keys.isin(pd.MultiIndex.from_arrays([want["sv"], want["iv"]]))
        return df[sel]

    import dask

    parts = [dask.delayed(pick)(f) for f in files]
    found = eng.compute(*parts)
    frame = pd.concat([p for p in found if len(p)] or [found[0]], ignore_index=True)
    order = {f: i for i, f in enumerate(files)}
    frame = frame.assign(__o=frame[_FILE].map(order)).sort_values(["__o", _ROW])
    return frame.drop(columns=["__o", _FILE, _ROW]).reset_index(drop=True)


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
