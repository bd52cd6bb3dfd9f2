"""An engine's aggregates, computed once per content version of the dataset and saved beside
the store, so every page's kernel, the report and the CLI open them (issue 22).

DuckDB reads a 10^8-row dataset in minutes; each page used to do it again. The entry is a
:class:`~dashboard.cache.TableCache` entry: the bounded sample of rows is its table (mapped
like any cached table), the counts at each distinct score, the label x prediction counts
and the learning-curve counts are its arrays (.npy), and everything else (sizes, notes, the
engine's SQL) is JSON. The engine's connection is opened again on the same files, with the
same views, for the views that query rows (slices, suspects, the eyeball check).

The key hashes every file of the dataset (a folder's partitions, a glob's files), the
engine, its settings and the loader's options, as :mod:`dashboard.cache` does for a file.
The Dask engine's aggregates are not cached (its source holds a cluster's client).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dashboard.cache import TableCache, Uncacheable, _dec, _enc, cache_key, content_fingerprint
from dashboard.engines import Aggregates, DuckDBSource, expand_source, reopen_source

FORMAT = 1


def aggregates_key(source: str | Path, engine: str, options: dict[str, Any]) -> str:
    """The entry's name: each file's content and absolute path, the engine, its settings
    and the loader's options."""
    files, _fmt = expand_source(source)
    h = hashlib.blake2b(digest_size=20)
    for f in sorted(files):  # where they are too: the engine's saved views read them there
        h.update(str(Path(f).resolve()).encode() + b"\0" + content_fingerprint(f).encode())
    return cache_key(h.hexdigest(), {"engine": engine, "format": FORMAT, **options})


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


def save_aggregates(cache: TableCache, key: str, agg: Aggregates, *, memory_limit: str | None
                    = None, threads: int | None = None) -> bool:
    """Save ``agg`` (a DuckDB engine's) as entry ``key``; False when it cannot be stored
    exactly (then every load computes it, as before)."""
    if not isinstance(agg.engine, DuckDBSource) or not getattr(agg.engine, "ddl", None):
        return False
    arrays: dict[str, np.ndarray] = {}
    eng = agg.engine
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
            "engine": {"files": list(eng.files), "fmt": eng.fmt, "source": eng.source,
                       "types": dict(eng.types), "roles": dict(eng.roles),
                       "exprs": dict(eng.exprs), "base_filter": eng.base_filter,
                       "class_dtypes": [[int(k), np.dtype(v).str]
                                        for k, v in eng.class_dtypes.items()],
                       "ddl": list(eng.ddl), "memory_limit": memory_limit,
                       "schema_source": agg.schema.source,
                       "base_dir": str(agg.schema.base_dir) if agg.schema.base_dir else None,
                       "threads": threads},
        }
        for frame in (agg.sizes, agg.lc_sizes):  # JSON must give back these exact frames
            if frame is not None:
                pd.testing.assert_frame_equal(_frame_from(_frame_json(frame)), frame)
    except (Uncacheable, TypeError, ValueError, AssertionError):
        return False
    return cache.save(key, agg.sample, agg.schema, arrays, extra=extra,
                      source=str(eng.source)) is not None


def load_aggregates(cache: TableCache, key: str, source: str) -> Aggregates | None:
    """The aggregates saved as entry ``key`` (the sample mapped, the engine reopened on the
    same files), or None when there is none."""
    hit = cache.load(key, source, None)
    if hit is None:
        return None
    d = hit.extra
    if d.get("kind") != "aggregates" or d.get("format") != FORMAT:
        return None
    e = d["engine"]
    schema = dataclasses.replace(hit.schema, source=e["schema_source"],
                                 base_dir=Path(e["base_dir"]) if e["base_dir"] else None)
    eng = reopen_source(files=e["files"], fmt=e["fmt"], source=e["source"], types=e["types"],
                        roles=e["roles"], exprs=e["exprs"], base_filter=e["base_filter"],
                        class_dtypes={int(k): np.dtype(v) for k, v in e["class_dtypes"]},
                        ddl=e["ddl"], memory_limit=e["memory_limit"], threads=e["threads"])
    return Aggregates(
        sample=hit.frame, schema=schema, models=tuple(d["models"]),
        sizes=_frame_from(d["sizes"]), counts=_arrays_from(d["counts"], hit.arrays),
        confusion=_arrays_from(d["confusion"], hit.arrays),
        gridded={tuple(_dec(k) for k in key): float(v) for key, v in d["gridded"]},
        score_dtype=np.dtype(d["score_dtype"]), keys_with_split=bool(d["keys_with_split"]),
        engine=eng, rows=int(d["rows"]), notes=tuple(d["notes"]),
        class_dtypes={int(k): np.dtype(v) for k, v in d["class_dtypes"]},
        tasks=tuple(d["tasks"]), unlabelled={str(k): int(v) for k, v in
                                             d["unlabelled"].items()},
        lc_sizes=_frame_from(d["lc_sizes"]), lc_counts=_arrays_from(d["lc_counts"],
                                                                      hit.arrays),
        lc_confusion=_arrays_from(d["lc_confusion"], hit.arrays),
        lc_gridded={tuple(_dec(k) for k in key): float(v) for key, v in d["lc_gridded"]})
