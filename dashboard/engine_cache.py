"""An engine's aggregates, computed once per content version of the dataset and saved beside
the store, so every page's kernel, the report and the CLI open them (issue 22).

DuckDB reads a 10^8-row dataset in minutes; each page used to do it again. The entry is a
:class:`~dashboard.cache.TableCache` entry: the bounded sample of rows is its table (mapped
like any cached table), the counts at each distinct score, the label x prediction counts
and the learning-curve counts are its arrays (.npy), and everything else (sizes, notes, the
engine's SQL) is JSON. The engine's connection is opened again on the same files, with the
same views, for the views that query rows (slices, suspects, the eyeball check).

The key hashes every file of the dataset (a folder's partitions, a glob's files), the
engine, its settings, the loader's options and the engines' code, as :mod:`dashboard.cache`
does for a file. The Dask engine's entry holds the same aggregates and, instead of SQL, what
rebuilds its lazy frames (the files, the codes of models, splits and labels, the frame's
column types); the scheduler is not in the key (the numbers do not depend on it): a later
load reopens the frames on the scheduler it is given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dashboard import dask_engine
from dashboard.cache import TableCache, Uncacheable, _dec, _enc, cache_key, content_fingerprint
from dashboard.dask_engine import DaskSource, reopen_dask
from dashboard.engines import (
    DISTINCT_LIMIT,
    GRID,
    Aggregates,
    DuckDBSource,
    expand_source,
    reopen_source,
)
from dashboard.errors import DashboardError

FORMAT = 1

_ENGINE_DIGEST: str | None = None


def engine_digest() -> str:
    """The code that computes and stores the aggregates (the engines and this module): a
    change makes every older entry stale, as :func:`dashboard.cache.code_digest` does for
    the tables."""
    global _ENGINE_DIGEST
    if _ENGINE_DIGEST is None:
        here = Path(__file__).resolve().parent
        h = hashlib.blake2b(digest_size=12)
        for name in ("engines.py", "dask_engine.py", "engine_cache.py"):
            with contextlib.suppress(OSError):
                h.update((here / name).read_bytes())
        _ENGINE_DIGEST = h.hexdigest()
    return _ENGINE_DIGEST


def aggregates_key(source: str | Path, engine: str, options: dict[str, Any], *,
                   fingerprint: Callable[[str], str] = content_fingerprint) -> str:
    """The entry's name: each file's content and absolute path, the engine, its settings,
    the loader's options and the engines' code (``fingerprint``: how a file's content is
    hashed, :meth:`TableCache.fingerprint` to remember it)."""
    files, _fmt = expand_source(source)
    h = hashlib.blake2b(digest_size=20)
    for f in sorted(files):  # where they are too: the engine's saved views read them there
        h.update(str(Path(f).resolve()).encode() + b"\0" + fingerprint(f).encode())
    return cache_key(h.hexdigest(), {"engine": engine, "format": FORMAT,
                                     "engine_code": engine_digest(), **options})


def _frame_json(frame: pd.DataFrame | None) -> dict[str, Any] | None:
    if frame is None:
        return None
    flat = frame.reset_index()
    return {"index": [str(n) for n in frame.index.names] if not isinstance(
                frame.index, pd.RangeIndex) else [],
            "columns": [str(c) for c in flat.columns],
            "dtypes": [str(t) for t in flat.dtypes],
            "values": [[_enc(v.item() if hasattr(v, "item") else v) for v in flat[c]]
                       for c in flat.columns]}


def _frame_from(d: dict[str, Any] | None) -> pd.DataFrame | None:
    if d is None:
        return None
    data = {c: pd.array([_dec(v) for v in values], dtype=t) if t != "object" else
            np.asarray([_dec(v) for v in values], dtype=object)
            for c, t, values in zip(d["columns"], d["dtypes"], d["values"], strict=True)}
    frame = pd.DataFrame(data)
    return frame.set_index(d["index"]) if d["index"] else frame


def _key_json(key: tuple) -> list:
    return [_enc(k.item() if hasattr(k, "item") else k) for k in key]


def _arrays_of(name: str, table: dict[tuple, tuple[np.ndarray, ...]],
               arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """A dict of array tuples as .npy arrays and a JSON list of their keys."""
    out = []
    for i, (key, parts) in enumerate(table.items()):
        names = []
        for j, part in enumerate(parts):
            arrays[f"{name}{i}_{j}"] = np.asarray(part)
            names.append(f"{name}{i}_{j}")
        out.append({"key": _key_json(key), "arrays": names})
    return out


def _arrays_from(listing: list[dict[str, Any]], arrays: dict[str, np.ndarray]
                 ) -> dict[tuple, tuple[np.ndarray, ...]]:
    return {tuple(_dec(k) for k in item["key"]): tuple(arrays[n] for n in item["arrays"])
            for item in listing}


def _pairs(d: Mapping[Any, Any]) -> list[list[Any]]:
    """A dict as JSON (its keys and values with their exact types, in order)."""
    return [[_enc(k), _enc(v)] for k, v in d.items()]


def _dict_of(pairs: list[list[Any]]) -> dict[Any, Any]:
    return {_dec(k): _dec(v) for k, v in pairs}


def _strict(v: Any) -> Any:
    """A value with the exact type of everything in it, so a round trip compares exactly
    (``1 == True == 1.0`` in Python)."""
    if isinstance(v, Mapping):
        return ("dict", [(_strict(k), _strict(x)) for k, x in v.items()])
    if isinstance(v, list | tuple):
        return (type(v).__name__, [_strict(x) for x in v])
    if isinstance(v, np.dtype):
        return ("dtype", v.str)
    if isinstance(v, float) and v != v:
        return ("nan", type(v).__name__)
    return (type(v).__name__, v)


_SPEC_DICTS = ("roles", "models", "splits", "labels", "largest")


def _spec_json(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The Dask engine's codes (models, splits, labels, predictions) and settings as JSON."""
    if set(spec) - {*_SPEC_DICTS, "preds", "dtype", "threshold", "pos"}:
        raise Uncacheable("a Dask spec entry this module does not know")
    out: dict[str, Any] = {k: _pairs(spec[k]) for k in _SPEC_DICTS}
    out.update(dtype=np.dtype(spec["dtype"]).str, threshold=_enc(spec["threshold"]),
               pos=_enc(spec["pos"]), preds=_pairs(spec["preds"]) if "preds" in spec else None)
    return out


def _spec_from(d: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {k: _dict_of(d[k]) for k in _SPEC_DICTS}
    spec.update(dtype=np.dtype(d["dtype"]), threshold=_dec(d["threshold"]), pos=_dec(d["pos"]))
    if d["preds"] is not None:
        spec["preds"] = _dict_of(d["preds"])
    return spec


def _meta_json(meta: pd.DataFrame) -> list[list[str]] | None:
    """The lazy frame's empty frame as column types; None when the types do not give it
    back exactly (a categorical column: the reopened frame then reads the first file's)."""
    d = [[str(c), str(t)] for c, t in meta.dtypes.items()]
    try:
        pd.testing.assert_frame_equal(_meta_from(d), meta)
    except (AssertionError, TypeError, ValueError):
        return None
    return d


def _meta_from(d: list[list[str]]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=pd.api.types.pandas_dtype(t)) for c, t in d})


def _engine_json(agg: Aggregates, memory_limit: str | None, threads: int | None
                 ) -> dict[str, Any]:
    """What reopens the engine's source: DuckDB's views (SQL), or Dask's lazy frames (files,
    codes, column types; never the scheduler)."""
    eng = agg.engine
    where = {"schema_source": agg.schema.source,
             "base_dir": str(agg.schema.base_dir) if agg.schema.base_dir else None}
    if isinstance(eng, DaskSource):
        names, label = eng.row_key if eng.row_key is not None else (None, None)
        out = {"kind": "dask", "files": list(eng.files), "fmt": eng.fmt,
               "source": str(eng.source), "wanted": list(eng.wanted),
               "row_key": None if eng.row_key is None else {"names": dict(names),
                                                             "label": label},
               "spec": _spec_json(eng.spec), "meta": _meta_json(eng.raw._meta), **where}
        back = _spec_from(json.loads(json.dumps(out["spec"])))
        if set(back) != set(eng.spec) or any(_strict(back[k]) != _strict(eng.spec[k])
                                             for k in back):
            raise Uncacheable("the Dask spec does not come back from JSON")
        return out
    if not isinstance(eng, DuckDBSource) or not getattr(eng, "ddl", None):
        raise Uncacheable("an engine this module cannot reopen")
    return {"kind": "duckdb", "files": list(eng.files), "fmt": eng.fmt, "source": eng.source,
            "types": dict(eng.types), "roles": dict(eng.roles),
            "exprs": dict(eng.exprs), "base_filter": eng.base_filter,
            "class_dtypes": [[int(k), np.dtype(v).str] for k, v in eng.class_dtypes.items()],
            "ddl": list(eng.ddl), "memory_limit": memory_limit, "threads": threads, **where}


def _reopen(e: Mapping[str, Any], scheduler: Any) -> DuckDBSource | DaskSource:
    """The engine's source again, on the same files (nothing is read yet)."""
    if e.get("kind", "duckdb") == "dask":
        row_key = e["row_key"]
        return reopen_dask(
            files=list(e["files"]), fmt=e["fmt"], source=e["source"], wanted=list(e["wanted"]),
            row_key=None if row_key is None else (dict(row_key["names"]), row_key["label"]),
            spec=_spec_from(e["spec"]),
            meta=None if e["meta"] is None else _meta_from(e["meta"]), scheduler=scheduler)
    return reopen_source(files=e["files"], fmt=e["fmt"], source=e["source"], types=e["types"],
                         roles=e["roles"], exprs=e["exprs"], base_filter=e["base_filter"],
                         class_dtypes={int(k): np.dtype(v) for k, v in e["class_dtypes"]},
                         ddl=e["ddl"], memory_limit=e["memory_limit"], threads=e["threads"])


def save_aggregates(cache: TableCache, key: str, agg: Aggregates, *, memory_limit: str | None
                    = None, threads: int | None = None) -> bool:
    """Save ``agg`` (a DuckDB or a Dask engine's) as entry ``key``; False when it cannot be
    stored exactly (then every load computes it, as before)."""
    arrays: dict[str, np.ndarray] = {}
    try:
        extra = {
            "kind": "aggregates", "format": FORMAT,
            "models": list(agg.models), "sizes": _frame_json(agg.sizes),
            "counts": _arrays_of("c", agg.counts, arrays),
            "confusion": _arrays_of("x", agg.confusion, arrays),
            "gridded": [[_key_json(k), float(v)] for k, v in agg.gridded.items()],
            "score_dtype": np.dtype(agg.score_dtype).str,
            "keys_with_split": bool(agg.keys_with_split), "rows": int(agg.rows),
            "notes": list(agg.notes),
            "class_dtypes": [[int(k), np.dtype(v).str] for k, v in agg.class_dtypes.items()],
            "tasks": list(agg.tasks), "unlabelled": dict(agg.unlabelled),
            "lc_sizes": _frame_json(agg.lc_sizes),
            "lc_counts": _arrays_of("lc", agg.lc_counts, arrays),
            "lc_confusion": _arrays_of("lx", agg.lc_confusion, arrays),
            "lc_gridded": [[_key_json(k), float(v)] for k, v in agg.lc_gridded.items()],
            "engine": _engine_json(agg, memory_limit, threads),
        }
        json.dumps(extra)  # JSON-able through and through
        for frame in (agg.sizes, agg.lc_sizes):  # JSON must give back these exact frames
            if frame is not None:
                pd.testing.assert_frame_equal(_frame_from(_frame_json(frame)), frame)
    except (Uncacheable, TypeError, ValueError, AssertionError):
        return False
    return cache.save(key, agg.sample, agg.schema, arrays, extra=extra,
                      source=str(agg.engine.source)) is not None


def load_aggregates(cache: TableCache, key: str, source: str, *, scheduler: Any = None
                    ) -> Aggregates | None:
    """The aggregates saved as entry ``key`` (the sample mapped, the engine reopened on the
    same files; a Dask one on ``scheduler``), or None when there is none. An entry that
    fails to read is removed (the caller rebuilds it) with one line on stderr, as
    :meth:`TableCache.load` does."""
    hit = cache.load(key, source, None)
    if hit is None:
        return None
    d = hit.extra
    if d.get("kind") != "aggregates" or d.get("format") != FORMAT:
        return None
    try:
        e = d["engine"]
        schema = dataclasses.replace(hit.schema, source=e["schema_source"],
                                     base_dir=Path(e["base_dir"]) if e["base_dir"] else None)
        parts = dict(
            sample=hit.frame, schema=schema, models=tuple(d["models"]),
            sizes=_frame_from(d["sizes"]), counts=_arrays_from(d["counts"], hit.arrays),
            confusion=_arrays_from(d["confusion"], hit.arrays),
            gridded={tuple(_dec(k) for k in key): float(v) for key, v in d["gridded"]},
            score_dtype=np.dtype(d["score_dtype"]), keys_with_split=bool(d["keys_with_split"]),
            rows=int(d["rows"]), notes=tuple(d["notes"]),
            class_dtypes={int(k): np.dtype(v) for k, v in d["class_dtypes"]},
            tasks=tuple(d["tasks"]), unlabelled={str(k): int(v) for k, v in
                                                 d["unlabelled"].items()},
            lc_sizes=_frame_from(d["lc_sizes"]), lc_counts=_arrays_from(d["lc_counts"],
                                                                          hit.arrays),
            lc_confusion=_arrays_from(d["lc_confusion"], hit.arrays),
            lc_gridded={tuple(_dec(k) for k in key): float(v) for key, v in d["lc_gridded"]})
        engine = _reopen(e, scheduler)
    except DashboardError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        print(f"note: the cached table {hit.folder} could not be read ({exc!r}); rebuilding it",
              file=sys.stderr)
        TableCache._remove(hit.folder)
        return None
    return Aggregates(engine=engine, **parts)  # type: ignore[arg-type]


def dask_aggregates(source: str | Path, cache: TableCache | str | Path | None, *,
                    scheduler: Any = None, threshold: float | None = None,
                    distinct_limit: int = DISTINCT_LIMIT, grid: float = GRID,
                    columns: Mapping[str, Any]) -> Aggregates:
    """Dask's aggregates of ``source``: those an earlier load saved in ``cache`` for this
    content and these options (reopened on ``scheduler``), else computed once (processes
    opening it meanwhile wait) and saved; computed every time when ``cache`` is None."""
    def compute() -> Aggregates:
        return dask_engine.aggregate_dask(source, scheduler=scheduler, threshold=threshold,
                                          distinct_limit=distinct_limit, grid=grid, **columns)
    if cache is None:
        return compute()
    cache = cache if isinstance(cache, TableCache) else TableCache(cache)
    try:  # the scheduler is not in the key: the numbers do not depend on it
        key = aggregates_key(source, "dask", {
            "threshold": threshold, "distinct_limit": distinct_limit, "grid": grid,
            "columns": dict(columns)}, fingerprint=cache.fingerprint)
    except (DashboardError, OSError):
        return compute()  # its error names what is wrong with the source
    agg = load_aggregates(cache, key, str(source), scheduler=scheduler)
    if agg is None:
        with cache.building(key):
            agg = load_aggregates(cache, key, str(source), scheduler=scheduler)
            if agg is None:
                agg = compute()
                save_aggregates(cache, key, agg)
    return agg
