"""A results file's canonical table, computed once per content version and memory-mapped by
every process that opens the same file with the same options (issue 22).

Each served page is its own kernel; without this each one re-reads, validates and re-keys
the whole file (26 s and ~1 GB private memory a kernel at 10M rows). An entry is a folder
named by a key made of the file's content fingerprint (BLAKE2b of its bytes, so a one-byte
change is a new version and a re-export under a new name is the same one), the loader's
options and a digest of the code that builds the table. It holds:

- ``rows.arrow``: the table as one uncompressed Arrow IPC file, read back memory-mapped,
  so the kernels share its pages through the page cache instead of each holding a copy;
- ``*.npy``: arrays the results model derives from it (row positions per model and split),
  also mapped;
- ``meta.json``: how to turn each Arrow column back into the exact pandas dtype, the
  schema, and the source it was made from. Never pickle: a cache folder is data, not code.

An entry is written to a temporary folder and renamed into place, so a reader sees a whole
entry or none; two writers race harmlessly (the second rename loses). A stale entry is never
read (its key differs); one that fails to read is removed and rebuilt, with one line on
stderr. Folders keep the :data:`KEEP` most recently used entries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import mmap
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dashboard.io import Schema

FORMAT = 1
CACHE_DIR_NAME = ".mldash-cache"
KEEP = 8
_CHUNK = 16 * 2**20


class Uncacheable(ValueError):
    """A table holding a value the cache cannot store exactly (it is then not cached)."""


def content_fingerprint(path: str | Path) -> str:
    """BLAKE2b of the file's bytes (a folder: of each file's relative name and bytes)."""
    p = Path(path)
    h = hashlib.blake2b(digest_size=20)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode() + b"\0")
        _hash_file(f, h)
    return h.hexdigest()


def _hash_file(f: Path, h: Any) -> None:
    """Feed a file's bytes to ``h``: hashed where the system keeps them (a read-only map of
    the page cache), not copied into this process first; read in chunks if it cannot be
    mapped (an empty or special file)."""
    with open(f, "rb") as fh:
        try:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
            return
        with mapped:
            view = memoryview(mapped)
            try:
                for at in range(0, len(view), _CHUNK):
                    h.update(view[at:at + _CHUNK])
            finally:
                view.release()


_DIGEST: str | None = None


def code_digest() -> str:
    """What the cached tables depend on besides the file: the code that builds them and the
    versions of the libraries that store them. A change makes every older entry stale."""
    global _DIGEST
    if _DIGEST is None:
        here = Path(__file__).resolve().parent
        h = hashlib.blake2b(digest_size=12)
        # the table (io, results' constructors and model), its storage (cache) and what is
        # derived and saved beside it (curves: memory_engine, metrics/curve,
        # metrics/counting; review ranks: results/review, metrics/sampling)
        for name in ("io.py", "results/constructors.py", "results/model.py",
                     "results/review.py", "memory_engine.py", "cache.py", "metrics/curve.py",
                     "metrics/counting.py", "metrics/sampling.py"):
            with contextlib.suppress(OSError):
                h.update((here / name).read_bytes())
        h.update(f"{FORMAT} {np.__version__} {pd.__version__} {pa.__version__}".encode())
        _DIGEST = h.hexdigest()
    return _DIGEST


def cache_key(fingerprint: str, options: Mapping[str, Any]) -> str:
    """The entry's name: the content, the loader's options and the code's digest."""
    text = json.dumps({"content": fingerprint, "options": options, "code": code_digest()},
                      sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


# -- values the schema and categories hold (JSON with their exact types) ---------------------
def _enc(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool | np.bool_):
        return {"t": "bool" if isinstance(v, bool) else "np.bool_", "v": bool(v)}
    if isinstance(v, int | np.integer):
        return {"t": "int" if isinstance(v, int) else f"np.{np.dtype(type(v)).name}",
                "v": int(v)}
    if isinstance(v, float | np.floating):
        return {"t": "float" if isinstance(v, float) else f"np.{np.dtype(type(v)).name}",
                "v": float(v).hex()}
    if isinstance(v, str):
        return {"t": "str", "v": v}
    raise Uncacheable(f"a value of type {type(v).__name__}")


def _dec(d: Any) -> Any:
    if d is None:
        return None
    t, v = d["t"], d["v"]
    if t == "bool":
        return bool(v)
    if t == "int":
        return int(v)
    if t == "float":
        return float.fromhex(v)
    if t == "str":
        return str(v)
    if t == "np.bool_":
        return np.bool_(v)
    kind = np.dtype(t[3:])
    return kind.type(float.fromhex(v) if kind.kind == "f" else v)


def _schema_json(schema: Schema) -> dict[str, Any]:
    return {
        "kind": schema.kind,
        "classes": [_enc(c) for c in schema.classes],
        "pos_label": _enc(schema.pos_label),
        "categories": list(schema.categories),
        "previews": list(schema.previews),
        "proba_columns": [[_enc(k), v] for k, v in schema.proba_columns.items()],
        "metadata_columns": list(schema.metadata_columns),
        "tasks": list(schema.tasks),
        "unlabelled": dict(schema.unlabelled),
        "has_weight": bool(schema.has_weight),
        "probabilities": bool(schema.probabilities),
        "notes": list(schema.notes),
    }


def _schema_from(d: Mapping[str, Any], source: str, base_dir: Path | None) -> Schema:
    return Schema(
        kind=d["kind"], classes=tuple(_dec(c) for c in d["classes"]),
        pos_label=_dec(d["pos_label"]), categories=tuple(d["categories"]),
        previews=tuple(d["previews"]),
        proba_columns={_dec(k): v for k, v in d["proba_columns"]},
        metadata_columns=tuple(d["metadata_columns"]), tasks=tuple(d["tasks"]),
        unlabelled={str(k): int(v) for k, v in d["unlabelled"].items()},
        has_weight=bool(d["has_weight"]), probabilities=bool(d["probabilities"]),
        source=source, base_dir=base_dir, notes=tuple(d["notes"]))


# -- columns: each stored as Arrow with what restores its exact pandas dtype --------------------
def _encode_column(s: pd.Series) -> tuple[pa.Array, dict[str, Any]]:
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return pa.array(s.cat.codes.to_numpy()), {
            "kind": "category", "categories": [_enc(c) for c in dt.categories.tolist()],
            "categories_dtype": str(dt.categories.dtype), "ordered": bool(dt.ordered)}
    if isinstance(dt, pd.StringDtype):
        arr = getattr(s.array, "_pa_array", None)
        arr = arr.combine_chunks() if arr is not None else \
            pa.array(s.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
        return arr, {"kind": "str", "dtype": str(dt), "storage": dt.storage,
                     "na_nan": dt.na_value is not pd.NA}
    if isinstance(dt, np.dtype) and dt.kind == "b":
        return pa.array(s.to_numpy().view(np.uint8)), {"kind": "numpy_bool"}
    if isinstance(dt, np.dtype) and dt.kind in "iufMm":
        return pa.array(s.to_numpy()), {"kind": "numpy", "dtype": dt.str}
    if isinstance(dt, pd.BooleanDtype | pd.core.dtypes.dtypes.BaseMaskedDtype):
        return pa.array(s.array, from_pandas=True), {"kind": "masked", "dtype": str(dt)}
    if dt is np.dtype(object) or dt == np.dtype(object):
        values = s.to_numpy()
        missing = pd.isna(values)
        present = values[~missing]
        na = _missing_kind(values[missing])
        if all(type(v) is bool for v in present):
            return pa.array(np.where(missing, False, values).astype(bool), mask=missing), \
                {"kind": "object_bool", "na": na}
        if all(type(v) is str for v in present):
            return pa.array(np.where(missing, None, values), type=pa.large_string()), \
                {"kind": "object_str", "na": na}
    raise Uncacheable(f"column {s.name!r} of dtype {dt}")


_MISSING = {"None": None, "NA": pd.NA, "nan": np.nan}


def _missing_kind(values: np.ndarray) -> str:
    """Which one missing value an object column uses (None, pd.NA or NaN)."""
    kinds = {("None" if v is None else "NA" if v is pd.NA else
              "nan" if isinstance(v, float) and v != v else "?") for v in values}
    if len(kinds) > 1 or "?" in kinds:
        raise Uncacheable("missing values of several kinds")
    return kinds.pop() if kinds else "None"


def _encode_frame(frame: pd.DataFrame) -> list[tuple[str, pa.Array | None, dict[str, Any]]]:
    """Every column encoded; a text column holding the very Arrow buffer of an earlier one
    (the keys are the ids when they are unique) is stored once and restored as one buffer."""
    out: list[tuple[str, pa.Array | None, dict[str, Any]]] = []
    seen: dict[int, str] = {}
    for name in frame.columns:
        col = frame[name]
        arrow = getattr(col.array, "_pa_array", None)
        if arrow is not None and id(arrow) in seen:
            out.append((str(name), None, {"kind": "alias", "of": seen[id(arrow)]}))
            continue
        if arrow is not None:
            seen[id(arrow)] = str(name)
        out.append((str(name), *_encode_column(col)))
    return out


def _decode_column(arr: pa.ChunkedArray, info: Mapping[str, Any]) -> Any:
    kind = info["kind"]
    chunk = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if kind == "category":
        cats = pd.Index([_dec(c) for c in info["categories"]], dtype=info["categories_dtype"])
        dtype = pd.CategoricalDtype(cats, ordered=info["ordered"])
        return pd.Categorical.from_codes(chunk.to_numpy(zero_copy_only=True), dtype=dtype,
                                         validate=False)
    if kind == "str":
        na = np.nan if info["na_nan"] else pd.NA
        return pd.array(chunk, dtype=pd.StringDtype(info["storage"], na_value=na))
    if kind == "numpy_bool":
        return chunk.to_numpy(zero_copy_only=True).view(np.bool_)
    if kind == "numpy":
        if chunk.null_count == 0:
            return chunk.to_numpy(zero_copy_only=False).astype(info["dtype"], copy=False)
        raise Uncacheable("nulls in a numpy column")
    if kind == "masked":
        return pd.api.types.pandas_dtype(info["dtype"]).__from_arrow__(chunk)
    if kind in ("object_bool", "object_str"):
        out = np.empty(len(chunk), dtype=object)
        valid = chunk.is_valid().to_numpy(zero_copy_only=False)
        out[:] = _MISSING[info["na"]]
        values = chunk.filter(chunk.is_valid()).to_pylist()
        out[valid] = values if kind == "object_str" else [bool(v) for v in values]
        return out
    raise Uncacheable(f"unknown column kind {kind!r}")


@dataclass
class CachedTable:
    """An entry read back: the frame (its big columns mapped), schema and derived arrays."""

    frame: pd.DataFrame
    schema: Schema
    arrays: dict[str, np.ndarray]
    folder: Path
    #: what the writer kept beside the arrays (JSON)
    extra: dict[str, Any]


class TableCache:
    """The cache folder (see the module docstring); every method is safe to call from
    several processes at once."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @staticmethod
    def beside(store: str | Path) -> TableCache:
        """The cache of the tables whose reviews are in ``store``: a folder beside it."""
        return TableCache(Path(store).resolve().parent / CACHE_DIR_NAME)

    def entry(self, key: str) -> Path:
        return self.folder / key

    def fingerprint(self, path: str | Path) -> str:
        """:func:`content_fingerprint` of a file, remembered in this folder under its inode,
        size, modification and change times (``st_ctime`` is set by the system on any
        write and cannot be set back), so each page of the same file does not hash it
        again (0.3 s for 136 MB); a folder of partitions is hashed every time."""
        p = Path(path)
        try:
            st = p.stat()
        except OSError:
            return content_fingerprint(p)
        if not p.is_file():
            return content_fingerprint(p)
        stamp = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
        memo = self.folder / ".fingerprints" / hashlib.blake2b(
            str(p.resolve()).encode(), digest_size=12).hexdigest()
        with contextlib.suppress(OSError, ValueError):
            known = json.loads(memo.read_text())
            if known.get("stamp") == stamp:
                return str(known["content"])
        content = content_fingerprint(p)
        with contextlib.suppress(OSError):
            self.folder.mkdir(exist_ok=True)  # never its parents
            memo.parent.mkdir(exist_ok=True)
            tmp = memo.with_name(f".{memo.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"stamp": stamp, "content": content}))
            os.replace(tmp, memo)
        return content

    @contextlib.contextmanager
    def building(self, key: str, wait: float = 600.0) -> Iterator[None]:
        """Hold the right to build entry ``key``: processes opening the same new file at once
        (the launcher's check and the first kernels) wait for the first one's entry instead of
        each computing it on the same cores. An advisory ``flock``, released by the system if
        its holder dies; after ``wait`` seconds a waiter builds anyway."""
        try:
            import fcntl
        except ImportError:  # not POSIX: everyone builds, the rename keeps one
            yield
            return
        try:
            self.folder.mkdir(exist_ok=True)
            fh = open(self.folder / f".{key}.lock", "a+b")  # noqa: SIM115
        except OSError:
            yield
            return
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def load(self, key: str, source: str, base_dir: Path | None) -> CachedTable | None:
        """The entry ``key``, or None when absent; an entry that fails to read is removed
        (and then rebuilt by the caller) with one line on stderr."""
        folder = self.entry(key)
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format") != FORMAT:
                raise Uncacheable(f"format {meta.get('format')!r}")
            table = pa.ipc.open_file(pa.memory_map(str(folder / "rows.arrow"), "r")).read_all()
            stored = [c for c in meta["columns"] if c["kind"] != "alias"]
            if table.num_rows != meta["rows"] or table.column_names != [c["name"] for c in stored]:
                raise Uncacheable("its rows do not match its description")
            data = {c["name"]: _decode_column(table.column(c["name"]), c) for c in stored}
            data = {c["name"]: data[c["of"]] if c["kind"] == "alias" else data[c["name"]]
                    for c in meta["columns"]}
            frame = pd.DataFrame(data, copy=False)
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                      for name in meta["arrays"]}
            schema = _schema_from(meta["schema"], source, base_dir)
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
            print(f"note: the cached table {folder} could not be read ({exc}); rebuilding it",
                  file=sys.stderr)
            self._remove(folder)
            return None
        with contextlib.suppress(OSError):
            os.utime(meta_path)  # most recently used
        return CachedTable(frame, schema, arrays, folder, dict(meta.get("extra") or {}))

    def save(self, key: str, frame: pd.DataFrame, schema: Schema,
             arrays: Mapping[str, np.ndarray] | None = None, *,
             extra: Mapping[str, Any] | None = None, source: str = "") -> Path | None:
        """Write the entry ``key`` (a no-op when it exists); None when the table holds a
        value the cache cannot store exactly, or the folder cannot be written."""
        final = self.entry(key)
        if (final / "meta.json").is_file():
            return final
        try:
            encoded = _encode_frame(frame)
            meta = {"format": FORMAT, "rows": len(frame), "source": source,
                    "created": time.time(), "schema": _schema_json(schema),
                    "columns": [{"name": n, **info} for n, _, info in encoded],
                    "arrays": sorted(arrays or {}), "extra": dict(extra or {})}
        except Uncacheable:
            return None
        if len({n for n, _, _ in encoded}) != len(encoded):
            return None  # duplicate column names: not a canonical frame
        tmp = self.folder / f".{key}.{os.getpid()}.{time.monotonic_ns()}.tmp"
        try:
            self.folder.mkdir(exist_ok=True)  # never its parents: a missing folder is an error
            tmp.mkdir()
            table = pa.table({n: a for n, a, info in encoded if info["kind"] != "alias"})
            with pa.OSFile(str(tmp / "rows.arrow"), "wb") as sink, \
                    pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table, max_chunksize=max(len(frame), 1))
            for name, arr in (arrays or {}).items():
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
            (tmp / "meta.json").write_text(json.dumps(meta))
            try:
                os.rename(tmp, final)
            except OSError:  # another process wrote it first: theirs is the same
                self._remove(tmp)
                return final if (final / "meta.json").is_file() else None
        except OSError:
            self._remove(tmp)
            return None
        self._evict(keep=final)
        return final

    def _evict(self, keep: Path) -> None:
        """Keep the :data:`KEEP` most recently used entries."""
        try:
            entries = [p for p in self.folder.iterdir()
                       if p.is_dir() and not p.name.startswith(".")]
            stamped = sorted(((p / "meta.json").stat().st_mtime, p) for p in entries
                             if (p / "meta.json").is_file())
        except OSError:
            return
        for _, p in stamped[:max(len(stamped) - KEEP, 0)]:
            if p != keep:
                self._remove(p)
                with contextlib.suppress(OSError):
                    (self.folder / f".{p.name}.lock").unlink()

    @staticmethod
    def _remove(folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)


def derived_name(*parts: Any) -> str:
    """A file-system-safe name for something derived from an entry (its parts hashed)."""
    return hashlib.blake2b(json.dumps([str(p) for p in parts]).encode(),
                           digest_size=12).hexdigest()


def load_derived(entry: Path, name: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """Arrays (mapped) and values saved by :func:`save_derived`, or None when absent or
    unreadable (the caller then computes them again)."""
    folder = entry / "derived" / name
    try:
        meta = json.loads((folder / "meta.json").read_text())
        arrays = {a: np.load(folder / f"{a}.npy", mmap_mode="r", allow_pickle=False)
                  for a in meta["arrays"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return arrays, meta["values"]


def save_derived(entry: Path, name: str, arrays: Mapping[str, np.ndarray],
                 values: Mapping[str, Any]) -> bool:
    """Save arrays derived from an entry's table (a curve's counts) for every later process;
    written aside and renamed, so readers see all of it or none. False when not written."""
    final = entry / "derived" / name
    if (final / "meta.json").is_file():
        return True
    tmp = entry / "derived" / f".{name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    try:
        tmp.mkdir(parents=True)
        for a, arr in arrays.items():
            np.save(tmp / f"{a}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps({"arrays": sorted(arrays),
                                                   "values": dict(values)}))
        try:
            os.rename(tmp, final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    return True


def replace_source(schema: Schema, source: str, base_dir: Path | None) -> Schema:
    """``schema`` naming another file (the same content under a new name)."""
    return dataclasses.replace(schema, source=source, base_dir=base_dir)
