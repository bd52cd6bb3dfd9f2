"""Reading and validating results tables: the one boundary where bad input is caught.

Every check raises :class:`~dashboard.errors.DashboardError` naming the file, the column and
the first offending row (1-based data row, plus the example id when there is one). Inner
code trusts what leaves this module: a canonical frame with columns ``id`` (str, Arrow-backed),
``split`` (one of :data:`SPLITS`), ``model`` (str), ``label``, ``score`` / ``prediction`` /
per-class probability columns, ``weight`` (float, when the table has weights), category
columns (nullable boolean) and previews.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.errors import DashboardError, did_you_mean
from dashboard.metrics.gaps import HumanLevel
from dashboard.metrics.tally import MISLABELLED

__all__ = [
    "SPLITS",
    "SPLIT_ALIASES",
    "Schema",
    "load_table",
    "normalize",
    "read_file",
]

SPLITS = ("train", "train_dev", "dev", "test")


def _alias_key(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", str(name).strip().lower())


SPLIT_ALIASES: dict[str, str] = {
    **{k: "train" for k in ("train", "training", "trn", "fit")},
    **{k: "train_dev" for k in ("traindev", "trainingdev", "trainval", "trainvalidation",
                                "trainingvalidation", "heldouttrain")},
    **{k: "dev" for k in ("dev", "val", "valid", "validation", "development", "devel")},
    **{k: "test" for k in ("test", "testing", "tst", "holdout", "heldout")},
}

MISLABELLED_ALIASES = {"incorrectlylabelled", "incorrectlylabeled", "mislabelled", "mislabeled",
                       "labelerror", "wronglabel", "badlabel"}
PREVIEW_NAMES = ("preview", "image", "image_path", "image_url", "img", "thumbnail", "path",
                 "url", "text", "snippet")
PROBA_PREFIXES = ("proba_", "prob_", "score_", "p_")


@dataclass(frozen=True)
class Schema:
    """What the canonical frame holds: which kind of output, classes, categories, previews."""

    kind: str  # "binary_score", "multiclass_proba" or "prediction"
    classes: tuple[object, ...]
    pos_label: object | None
    categories: tuple[str, ...]
    previews: tuple[str, ...]
    proba_columns: dict[object, str] = field(default_factory=dict)
    metadata_columns: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    unlabelled: dict[str, int] = field(default_factory=dict)
    has_weight: bool = False
    probabilities: bool = True
    source: str = "<frame>"
    base_dir: Path | None = None
    notes: tuple[str, ...] = ()

    @property
    def has_scores(self) -> bool:
        return self.kind in ("binary_score", "multiclass_proba")

    @property
    def multiclass(self) -> bool:
        return len(self.classes) > 2


def read_file(path: str | Path, id_column: str | None = "id",
              dictionary: Sequence[str] = ()) -> pd.DataFrame:
    """Read CSV, Parquet or JSON Lines into a frame; unreadable or empty files raise clearly.

    The id column of a CSV is read as text, so ids such as "007" keep their zeros. Text
    columns of a Parquet file named in ``dictionary`` (the split and model names: few
    distinct values) come as categoricals, decoded once per distinct value, not per row.
    """
    p = Path(path)
    name = str(p)
    if not p.exists():
        raise DashboardError("file not found", file=name)
    if p.is_dir():
        raise DashboardError("is a directory, not a results file", file=name)
    if p.stat().st_size == 0:
        raise DashboardError("the file is empty", file=name)
    suffixes = [s.lower() for s in p.suffixes]
    ext = suffixes[-1] if suffixes else ""
    if ext in (".gz", ".bz2", ".zip", ".xz", ".zst") and len(suffixes) > 1:
        ext = suffixes[-2]
    try:
        if ext not in (".parquet", ".pq"):
            _refuse_repeated_columns(_column_names(p, ext), name)
        if ext in (".parquet", ".pq"):
            df = _read_parquet(p, name, dictionary)
        elif ext in (".jsonl", ".ndjson") or (ext == ".json" and _looks_like_jsonl(p)):
            df = pd.read_json(p, lines=True, dtype=False)
        elif ext == ".json":
            df = pd.read_json(p, dtype=False)
        elif ext in (".csv", ".tsv", ".txt"):
            df = pd.read_csv(p, sep="\t" if ext == ".tsv" else ",",
                             dtype={id_column: str} if id_column else None,
                             keep_default_na=True)
        else:
            raise DashboardError(f"unsupported file type {ext or '(none)'!r}; use .csv, .parquet "
                                 "or .jsonl", file=name)
    except DashboardError:
        raise
    except pd.errors.EmptyDataError:
        raise DashboardError("the file has no columns or rows", file=name) from None
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DashboardError(f"could not read the file as {ext[1:]}: {first}", file=name) from None
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DashboardError(f"could not read the file as {ext[1:]}: {first}", file=name) from None
    if len(df) == 0:
        raise DashboardError("the file has a header but no rows", file=name)
    return df


def _read_parquet(p: Path, name: str, dictionary: Sequence[str]) -> pd.DataFrame:
    """A Parquet file as pandas reads it, its text columns named in ``dictionary`` as
    categoricals; a column name written twice is refused first (pyarrow fails on it later)."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(p)
    _refuse_repeated_columns([str(n) for n in schema.names], name)
    wanted = set(dictionary)
    texts = [f.name for f in schema if f.name in wanted and (
        pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
    return pd.read_parquet(p, read_dictionary=texts) if texts else pd.read_parquet(p)


def _column_names(p: Path, ext: str) -> list[str]:
    """A CSV's column names as written (pandas renames a repeated name to ``name.1``);
    [] for other kinds."""
    if ext in (".csv", ".tsv", ".txt"):
        head = pd.read_csv(p, sep="\t" if ext == ".tsv" else ",", header=None, nrows=1,
                           dtype=str, keep_default_na=False)
        return [str(v) for v in head.iloc[0]] if len(head) else []
    return []


def _refuse_repeated_columns(names: Sequence[object], source: str) -> None:
    """Two columns of one name: which one is meant cannot be told (issue 21)."""
    seen: set[str] = set()
    for name in map(str, names):
        if name in seen:
            raise DashboardError("two columns have this name; rename one", file=source,
                                 column=name)
        seen.add(name)


def _is_nested(value: object) -> bool:
    return isinstance(value, list | tuple | dict | np.ndarray)


def _drop_nested(df: pd.DataFrame, needed: Sequence[object], source: str,
                 notes: list[str]) -> pd.DataFrame:
    """Refuse a needed column holding lists or records (nested Parquet, JSON arrays); drop
    any other one with a note: it cannot be a slice."""
    nested = []
    for column in df.columns:
        if df[column].dtype != object:
            continue
        values = df[column].dropna()
        if len(values) and _is_nested(values.iloc[0]):
            nested.append(column)
    for column in nested:
        if column in needed:
            raise DashboardError("holds lists or records (a nested column); one value per row "
                                 "is needed", file=source, column=str(column))
        notes.append(f"column {_show(column)} holds lists or records: ignored")
    return df.drop(columns=nested) if nested else df


def _looks_like_jsonl(p: Path) -> bool:
    with p.open("rb") as fh:
        head = fh.read(2048).lstrip()
    return head.startswith(b"{") and b"\n{" in head


def _row_ref(df: pd.DataFrame, pos: int, id_col: str | None) -> str:
    """'17 (id "img-3")': 1-based data row of the file, with the example id when known."""
    ref = f"{int(df['__row__'].iloc[pos]) + 1}" if "__row__" in df.columns else f"{pos + 1}"
    if id_col is not None and id_col in df.columns:
        ref += f" (id {_show(df[id_col].iloc[pos])})"
    return ref


def _show(value: object) -> str:
    """repr of a value as the user wrote it (numpy scalars shown as plain Python values)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _shows(values: Sequence[object]) -> str:
    return ", ".join(_show(v) for v in values)


def _plain(value: object) -> object:
    """A numpy scalar as the equivalent Python value."""
    return value.item() if isinstance(value, np.generic) else value


def _categories(values: Sequence[object]) -> pd.Index:
    """An index of class values usable as Categorical categories (object when mixed)."""
    return pd.Index(list(values), dtype=object)


def _text_codes(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes per row (-1 where missing) and the distinct values as text (object array).

    Values whose text is equal (1 and "1") share a code. Only distinct values are turned
    into strings, so a column of few values costs one hash pass, not a str() per row.
    """
    codes, uniques = _factorize(series)
    texts = np.array(list(map(str, pd.Index(uniques).tolist())), dtype=object)
    mixed = pd.Index(uniques).dtype == object
    if not mixed or len(set(texts.tolist())) == texts.size:
        return codes, texts
    merge, merged = pd.factorize(pd.Series(texts, dtype=object))
    return (np.where(codes >= 0, merge[np.maximum(codes, 0)], -1),
            np.asarray(merged, dtype=object))


def _factorize(series: pd.Series) -> tuple[np.ndarray, object]:
    """``pd.factorize(series, use_na_sentinel=True)``: codes in order of first appearance,
    -1 where missing (in the smallest integer type for the two fast paths). A categorical (a
    Parquet dictionary column) or a numpy integer column of few distinct values (labels) is
    coded from its codes or values in a few vectorised passes instead of a hash of every row,
    and without an 8-byte code a row (fresh memory is much of a load's cost); anything else
    is pandas' own."""
    dt = series.dtype
    if isinstance(dt, pd.CategoricalDtype) and 0 < len(dt.categories) < 2**15:
        raw = series.cat.codes.to_numpy()
        seen = pc.unique(pa.array(raw)).to_numpy(zero_copy_only=False)
        used = seen[seen >= 0].astype(np.intp)
        uniques = pd.CategoricalIndex(dt.categories.take(used), dtype=dt)
        if np.array_equal(used, np.arange(len(dt.categories))):
            return raw, uniques  # the categories are in order of first appearance, all used
        small = np.int8 if len(dt.categories) < 2**7 else np.int16
        lut = np.full(len(dt.categories) + 1, -1, dtype=small)  # [-1] is the missing code
        lut[used] = np.arange(used.size)
        return lut[raw], uniques
    if isinstance(dt, np.dtype) and dt.kind in "iu" and len(series):
        values = series.to_numpy()
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < 16:
            first = []
            for v in range(lo, hi + 1):
                at = int(np.argmax(values == v))
                if values[at] == v:
                    first.append((at, v))
            uniques = np.array([v for _, v in sorted(first)], dtype=dt)
            if lo >= 0 and hi < 2**16:  # the values index the table as they are
                lut = np.zeros(hi + 1, dtype=np.int8)
                lut[uniques.astype(np.int64)] = np.arange(uniques.size)
                return lut[values], pd.Index(uniques)
            lut = np.zeros(hi - lo + 1, dtype=np.int8)
            if lo < 0 <= hi + 1:  # a negative value indexes from the end: v -> v mod size
                lut[uniques.astype(np.int64) % lut.size] = np.arange(uniques.size)
                return lut[values], pd.Index(uniques)
            lut[uniques.astype(np.int64) - lo] = np.arange(uniques.size)
            return lut[values - dt.type(lo)], pd.Index(uniques)
    return pd.factorize(series, use_na_sentinel=True)


def _id_codes(series: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Integer codes per row (-1 where missing) and the rows' ids as Arrow-backed text
    (:func:`_encode_ids` without its block)."""
    codes, rows, _ = _encode_ids(series)
    return codes, rows


def _encode_ids(series: pd.Series) -> tuple[np.ndarray, pd.Series, int]:
    """Integer codes per row (-1 where missing), the rows' ids as Arrow-backed text, and the
    block ``b`` when the codes are known to be 0..b-1 repeated block after block (0 if not
    known: the caller checks what it needs on the codes).

    Ids are the one per-row text column: kept as one Arrow string buffer (a few bytes an
    id), never as a Python object per row. Text ids are encoded by Arrow; integer ids are
    factorized as numbers and only their distinct values formatted; anything else (floats,
    mixed values such as 1 and "1") goes through :func:`_text_codes`, which merges equal texts.
    """
    small = len(series) < 2**31
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        arr = pa.chunked_array([series.array]) if not hasattr(series.array, "_pa_array") \
            else series.array._pa_array
    elif series.dtype == object:
        try:
            arr = pa.chunked_array([pa.array(series.to_numpy(), type=pa.large_string(),
                                             from_pandas=True)])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arr = None
    elif pd.api.types.is_integer_dtype(series.dtype) and not isinstance(
            series.dtype, pd.CategoricalDtype):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        texts = pa.array(np.asarray(uniques)).cast(pa.large_string())
        return (*_as_text_rows(codes, texts, small), 0)
    else:
        arr = None
    if arr is None:
        codes, texts = _text_codes(series)
        return (*_as_text_rows(codes, pa.array(texts.tolist(), type=pa.large_string()), small),
                0)
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    block = _repeat_period(arr)  # a long table repeats its ids once per model: hash one block
    # the rows keep the column's Arrow chunks as read, not copied into one
    if _provably_distinct(arr.slice(0, block)):
        codes = np.tile(np.arange(block, dtype=np.int32 if small else np.int64),
                        len(arr) // block)
        return codes, pd.Series(pd.array(arr, dtype="str")), block
    encoded = pc.dictionary_encode(arr.slice(0, block)).combine_chunks()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    if block < len(arr):
        codes = np.tile(codes, len(arr) // block)
    if len(encoded.dictionary) == block:  # every id of a block distinct, none missing: as read
        tiled = block if np.array_equal(codes[:block], np.arange(block)) else 0
        return (codes.astype(np.int32 if small else np.int64),
                pd.Series(pd.array(arr, dtype="str")), tiled)
    return (*_as_text_rows(codes, encoded.dictionary, small), 0)


_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _provably_distinct(arr: pa.Array | pa.ChunkedArray, widest: int = 32) -> bool:
    """True when the texts of ``arr`` are all distinct, shown by their 64-bit hashes being
    distinct (one numpy sort, several times cheaper than Arrow's hash table); False when that
    cannot be shown (a missing value, a text longer than ``widest`` bytes, equal texts or a
    hash collision), and the caller then encodes them exactly. A chunked column is hashed
    chunk by chunk, never copied into one.
    """
    n = len(arr)
    if n < 2 or arr.null_count or arr.type not in (pa.large_string(), pa.string()):
        return n < 2 and not arr.null_count
    chunks = [c for c in (arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]) if len(c)]
    h = np.empty(n, dtype=np.uint64)
    parts, at = [], 0
    for chunk in chunks:  # the lengths first: every text is mixed in as many words
        offsets = _offsets(chunk)
        lengths = h[at:at + len(chunk)].view(np.int64)
        np.subtract(offsets[1:], offsets[:-1], out=lengths)
        parts.append((chunk, offsets, lengths))
        at += len(chunk)
    longest = int(h.view(np.int64).max())
    if longest > widest:
        return False
    for chunk, offsets, lengths in parts:
        _hash_texts(chunk, offsets, lengths, longest)
    h.sort()
    return not bool(np.any(h[1:] == h[:-1]))


def _offsets(arr: pa.Array) -> np.ndarray:
    """A text array's n + 1 offsets into its data buffer (a view)."""
    kind = np.int64 if arr.type == pa.large_string() else np.int32
    return np.frombuffer(arr.buffers()[1], dtype=kind, count=len(arr) + 1,
                         offset=arr.offset * np.dtype(kind).itemsize)


def _hash_texts(arr: pa.Array, offsets: np.ndarray, lengths: np.ndarray, longest: int) -> None:
    """Replace ``lengths`` (the texts' byte lengths, int64) by 64-bit hashes of the texts,
    each mixed in ``ceil(longest / 8)`` words.

    Each text is read as 8-byte words straight from Arrow's data buffer (an unaligned view
    with a 1-byte stride: one gather a word), the bytes past its end shifted out, and mixed
    with its length; few new arrays, as fresh memory is a large part of a load's cost.
    """
    n = len(arr)
    data_buf = arr.buffers()[2]
    first, last = int(offsets[0]), int(offsets[-1])
    starts = offsets[:-1]
    if data_buf is not None and data_buf.size >= last + 8:  # 8 bytes to read past the last
        # a word at every byte of the buffer: the offsets index it as they are
        span = last
        words = np.ndarray((span + 1,), dtype="<u8", buffer=data_buf, strides=(1,))
    else:
        span = last - first
        data = np.zeros(span + 8, dtype=np.uint8)
        if span:
            data[:span] = np.frombuffer(data_buf, dtype=np.uint8, count=span, offset=first)
        words = np.ndarray((span + 1,), dtype="<u8", buffer=data, strides=(1,))
        starts = starts - first
    if starts.dtype != np.int64:
        starts = starts.astype(np.int64)
    short = lengths.astype(np.uint8)
    h = lengths.view(np.uint64)
    h *= _MIX[0]
    shift = np.empty(n, dtype=np.uint8)
    at = np.empty(n, dtype=np.int64) if longest > 8 else starts
    with np.errstate(over="ignore"):
        for k in range(0, longest, 8):
            if k:
                np.add(starts, k, out=at)
                np.minimum(at, span, out=at)
            w = words[at if k else starts]
            # 8 x the word's bytes past the text's end, shifted out (a shift by 64 gives 0)
            np.maximum(short, k, out=shift)
            shift -= k
            np.minimum(shift, 8, out=shift)
            np.subtract(8, shift, out=shift)
            shift *= 8
            w <<= shift
            w >>= shift
            h ^= w
            h *= _MIX[1]
            np.right_shift(h, np.uint64(31), out=w)
            h ^= w
            h *= _MIX[2]
            np.right_shift(h, np.uint64(29), out=w)
            h ^= w


def _repeat_period(arr: pa.ChunkedArray, most: int = 8) -> int:
    """The length of a block the column repeats exactly, ``k`` times for some ``k <= most``
    (a long table written model by model), else the column's length.

    Comparing blocks is one vectorised pass, several times cheaper than hashing the texts,
    so the ids are hashed once per example instead of once per row. Missing values disable
    it (they compare as unknown).
    """
    n = len(arr)
    if n < 2 or arr.null_count:
        return n
    for k in range(2, most + 1):
        if n % k:
            continue
        p = n // k
        heads = [arr[i * p].as_py() for i in range(k)]
        if any(h != heads[0] for h in heads[1:]):
            continue
        first = arr.slice(0, p)
        if all(pc.all(pc.equal(first, arr.slice(i * p, p))).as_py() for i in range(1, k)):
            return p
    return n


def _tiled_without_repeats(id_codes: np.ndarray, n_ids: int, group: np.ndarray,
                           known: bool = False, most: int = 8) -> bool:
    """True when the ids are 0..n_ids-1 repeated block after block (a long table written
    model by model, as :func:`_id_codes` encodes it) and no id has the same ``group``
    (model, split, task, size) in two blocks: then no id repeats within a group, shown by
    comparing blocks instead of sorting every row. False: not shown, the caller sorts.
    ``known``: the codes are tiled by construction (not checked again)."""
    n = id_codes.size
    if n_ids < 1 or n % n_ids or n // n_ids > most:
        return False
    k = n // n_ids
    if not known and not np.array_equal(id_codes.reshape(k, n_ids),
                          np.broadcast_to(np.arange(n_ids, dtype=id_codes.dtype), (k, n_ids))):
        return False
    blocks = group.reshape(k, n_ids)
    return not any(bool((blocks[i] == blocks[j]).any())
                   for i in range(k) for j in range(i + 1, k))


def _refuse_repeated_ids(combined: np.ndarray, out: Mapping[str, Any], df: pd.DataFrame,
                         source: str, id_col: str | None, has_task: bool) -> None:
    """Raise on the first row whose (group, id) key an earlier row holds; one sort."""
    ordered = np.sort(combined)
    if (ordered[1:] == ordered[:-1]).any():
        pos = _first(pd.Series(combined).duplicated().to_numpy())
        raise DashboardError(
            f"id {_show(out['id'].iloc[pos])} appears twice in split "
            f"{_show(out['split'][pos])} for model {_show(out['model'][pos])}"
            + (f", task {_show(out['task'][pos])}" if has_task else ""),
            file=source, column=id_col or "id", row=_row_ref(df, pos, id_col))


def _as_text_rows(codes: np.ndarray, texts: pa.Array, small: bool) -> tuple[np.ndarray, pd.Series]:
    """Codes and each row's text (the distinct ``texts`` taken by code) as an Arrow column."""
    rows = texts.take(pa.array(np.maximum(codes, 0))) if len(texts) else \
        pa.nulls(len(codes), pa.large_string())
    series = pd.Series(pd.array(rows, dtype="str"))
    if (codes < 0).any():
        series = series.where(codes >= 0)
    return codes.astype(np.int32 if small else np.int64), series


def row_groups(frame: pd.DataFrame, columns: Sequence[str]) -> dict[tuple, np.ndarray] | None:
    """Row positions (ascending) per observed combination of the categorical ``columns``, in
    order of first appearance: ``frame.groupby(columns, observed=True, sort=False).indices``,
    from the columns' codes (one pass a combination when they are few, else one stable sort)
    instead of pandas' hash of every row; None when a column is not categorical or has a
    missing value (then ask pandas)."""
    cols = [frame[c] for c in columns]
    if not cols or len(frame) == 0 or not all(
            isinstance(c.dtype, pd.CategoricalDtype) for c in cols):
        return None
    sizes = [len(c.cat.categories) for c in cols]
    total = int(np.prod(sizes, dtype=np.int64))
    if total == 0 or total >= 2**31:
        return None
    group = np.zeros(len(frame), dtype=np.int16 if total < 2**15 else np.int32)
    for col, size in zip(cols, sizes, strict=True):
        codes = col.cat.codes.to_numpy()
        if codes.min() < 0:
            return None
        group *= size
        group += codes
    if total <= 64:
        found = [(g, np.flatnonzero(group == g)) for g in range(total)]
        parts = sorted((int(rows[0]), g, rows) for g, rows in found if rows.size)
    else:
        order = np.argsort(group, kind="stable")  # rows ascending within each combination
        ends = np.cumsum(np.bincount(group, minlength=total))
        parts = [(0, g, order[ends[g - 1] if g else 0:ends[g]])
                 for g in pc.unique(pa.array(group)).to_numpy(zero_copy_only=False).tolist()]
    out: dict[tuple, np.ndarray] = {}
    for _, g, rows in parts:
        key, rest = [], g
        for col, size in zip(reversed(cols), reversed(sizes), strict=True):
            key.append(col.cat.categories[rest % size])
            rest //= size
        out[tuple(reversed(key))] = rows
    return out


def class_index(classes: Sequence[object], value: object) -> int | None:
    """Position of ``value`` among ``classes``, matched as a user means it.

    By value first (``1``, ``1.0`` and ``True`` are one class, as in NumPy and scikit-learn),
    then by text (a column suffix ``"1"`` names class ``1``), then a numeric text by its number
    (``"1"`` names class ``1.0``). ``None`` when nothing matches.
    """
    value = _plain(value)
    plain = [_plain(c) for c in classes]
    if _is_number(value):
        for i, c in enumerate(plain):
            if _is_number(c) and float(c) == float(value):
                return i
    for i, c in enumerate(plain):
        if not _is_number(c) and not _is_number(value) and c == value:
            return i
    text = str(value)
    for i, c in enumerate(plain):
        if str(c) == text:
            return i
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        for i, c in enumerate(plain):
            if _is_number(c) and float(c) == number:
                return i
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating)


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _require(df: pd.DataFrame, col: str, source: str, what: str) -> None:
    if col not in df.columns:
        present = _shows(list(df.columns)[:20])
        raise DashboardError(f"missing {what} column{did_you_mean(col, df.columns)}; the "
                             f"columns are {present}", file=source, column=col)


def boolish(series: pd.Series) -> pd.Series | None:
    """The column as nullable boolean if every non-null value reads as a boolean, else None.

    Used for review-tag columns in results files and in imported tag CSVs.
    """
    if series.dtype == bool or str(series.dtype) == "boolean":
        return series.astype("boolean")
    non_null = series.dropna()
    if non_null.empty:
        return None
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        lowered = non_null.astype(str).str.strip().str.lower()
        truthy = {"true", "1", "yes", "y", "x", "✓"}
        falsy = {"false", "0", "no", "n", ""}
        if not lowered.isin(truthy | falsy).all():
            return None
        out = pd.Series(pd.NA, index=series.index, dtype="boolean")
        out[non_null.index] = lowered.isin(truthy).to_numpy()
        return out
    if pd.api.types.is_numeric_dtype(series) and non_null.isin([0, 1]).all():
        return None  # 0/1 numbers are more likely labels than tags; name them explicitly
    return None


def normalize(
    df: pd.DataFrame,
    *,
    source: str = "<frame>",
    label: str = "label",
    score: str | None = "score",
    prediction: str | None = "prediction",
    proba: Sequence[str] | Mapping[object, str] | None = None,
    split: str = "split",
    model: str | None = "model",
    id: str | None = "id",  # noqa: A002 - the column is called id
    weight: str | None = "weight",
    train_size: str | None = "train_size",
    task: str | None = "task",
    categories: Sequence[str] | None = None,
    preview: str | Sequence[str] | None = None,
    classes: Sequence[object] | None = None,
    pos_label: object | None = None,
    probabilities: bool = True,
    default_split: str | None = None,
    base_dir: Path | None = None,
    metadata_columns: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, Schema]:
    """Validate a results frame and map it to the canonical columns.

    Column arguments name the user's columns; the defaults are the canonical names. A default
    column that is absent is optional (model, id, weight) or looked for under another kind
    (score, prediction, per-class probabilities); a column named explicitly must exist.
    Every other column (device, region, brightness...) is kept as metadata for slicing, or
    only those named in ``metadata_columns``.
    """
    notes: list[str] = []
    df = df.reset_index(drop=True)
    if len(df) == 0:
        raise DashboardError("the table has no rows", file=source)
    _refuse_repeated_columns(list(df.columns), source)
    named_proba = list(proba.values()) if isinstance(proba, Mapping) else list(proba or ())
    named_preview = [preview] if isinstance(preview, str) else list(preview or ())
    df = _drop_nested(df, [label, score, prediction, split, model, id, weight, train_size, task,
                           *(categories or ()), *named_proba, *named_preview], source, notes)
    # multi-task results: a long table with a task column, or label_<task>/score_<task> columns
    df, unlabelled = _multitask_long(df, label, score, prediction, task, source, notes)
    # the canonical columns, in order, made into one frame at the end without a copy each
    index = pd.RangeIndex(len(df))
    out: dict[str, Any] = {}
    if len(df) == 0:
        raise DashboardError("no labelled rows in any task", file=source, column=label)
    has_task = task is not None and task in df.columns
    if task is not None and task != "task" and not has_task:
        _require(df, task, source, "task")
    # scikit-learn's names, when the canonical ones are absent and the defaults are in use
    label, score, prediction, weight = (
        _sklearn_name(df, given, default, names, notes) for given, default, names in (
            (label, "label", ("y_true", "y", "target")),
            (score, "score", ("y_score", "y_proba", "y_prob", "probability")),
            (prediction, "prediction", ("y_pred", "pred", "predicted")),
            (weight, "weight", ("sample_weight",))))

    # -- id ------------------------------------------------------------------------------
    # every text-like column is factorized once; only its distinct values become strings
    id_col = id if id is not None and id in df.columns else None
    if id is not None and id != "id" and id_col is None:
        _require(df, id, source, "id")
    if id_col is not None:
        id_codes, id_rows, block = _encode_ids(df[id_col])
        if not block and (id_codes < 0).any():
            raise DashboardError("missing example id", file=source, column=id_col,
                                 row=_row_ref(df, _first(id_codes < 0), None))
    else:
        id_codes = np.arange(len(df), dtype=np.int32 if len(df) < 2**31 else np.int64)
        block = len(df)
        id_rows = pd.Series(pd.array(pa.array(id_codes).cast(pa.string()), dtype="str"))
        notes.append("No id column: examples are identified by their row number, so tags "
                     "follow them only while the file keeps its row order.")
    n_ids = block or int(id_codes.max()) + 1
    out["id"] = id_rows.set_axis(index)
    out["id_code"] = id_codes

    # -- split ---------------------------------------------------------------------------
    if split in df.columns:
        raw = df[split]
        codes, texts = _text_codes(raw)
        if (codes < 0).any():
            raise DashboardError("missing split name", file=source, column=split,
                                 row=_row_ref(df, _first(codes < 0), id_col))
        lut = np.empty(len(texts), dtype=np.int8)
        for i, value in enumerate(texts):
            canon = SPLIT_ALIASES.get(_alias_key(value))
            if canon is None:
                raise DashboardError(
                    f"unknown split {_show(value)}{did_you_mean(value, SPLITS)}; expected "
                    f"one of {', '.join(SPLITS)} (or an alias such as train-dev, val, "
                    "validation)",
                    file=source, column=split, row=_row_ref(df, _first(codes == i), id_col))
            lut[i] = SPLITS.index(canon)
            if value != canon:
                notes.append(f"split {_show(value)} read as {_show(canon)}")
        split_codes = lut[codes]
    elif default_split is not None:
        split_codes = np.full(len(df), SPLITS.index(default_split), dtype=np.int8)
        notes.append(f"No split column: every row is treated as {_show(default_split)}.")
    else:
        _require(df, split, source, "split")
    out["split"] = pd.Categorical.from_codes(split_codes, categories=list(SPLITS))
    if not (split_codes == SPLITS.index("dev")).any():
        raise DashboardError("the dev split is empty: the diagnosis needs dev examples (name "
                             "them dev, val or validation)", file=source, column=split)

    # -- model ---------------------------------------------------------------------------
    if model is not None and model in df.columns:
        model_codes, model_texts = _text_codes(df[model])
        if (model_codes < 0).any():
            raise DashboardError("missing model name", file=source, column=model,
                                 row=_row_ref(df, _first(model_codes < 0), id_col))
    else:
        if model is not None and model != "model":
            _require(df, model, source, "model")
        model_codes = np.zeros(len(df), dtype=np.int64)
        model_texts = np.array(["model"], dtype=object)
    out["model"] = pd.Categorical.from_codes(model_codes, categories=pd.Index(model_texts))

    # -- training-set size: results of runs trained on different amounts of data -------------
    has_size = train_size is not None and train_size in df.columns
    if train_size is not None and train_size != "train_size" and not has_size:
        _require(df, train_size, source, "train_size")
    size_codes = np.zeros(len(df), dtype=np.int64)
    if has_size:
        sizes = _numeric(df, train_size, source, id_col, probabilities=False)
        if (sizes <= 0).any():
            pos = _first(sizes <= 0)
            raise DashboardError(f"training-set size {sizes[pos]:g} is not a positive count",
                                 file=source, column=train_size, row=_row_ref(df, pos, id_col))
        out["train_size"] = sizes
        size_codes, _ = pd.factorize(sizes)
        size_codes = size_codes.astype(np.int64)

    # -- task --------------------------------------------------------------------------------
    task_codes = np.zeros(len(df), dtype=np.int64)
    task_names: tuple[str, ...] = ()
    if has_task:
        task_codes, task_texts = _text_codes(df[task])
        if (task_codes < 0).any():
            raise DashboardError("missing task name", file=source, column=task,
                                 row=_row_ref(df, _first(task_codes < 0), id_col))
        out["task"] = pd.Categorical.from_codes(task_codes, categories=pd.Index(task_texts))
        task_names = tuple(str(t) for t in task_texts)

    # -- duplicated ids within (split, model, task, train size): one int64 key, one sort -----
    n_models = int(model_codes.max()) + 1 if len(df) else 1
    if has_size or has_task:
        n_tasks = int(task_codes.max()) + 1 if has_task else 1
        group = ((size_codes * n_tasks + task_codes) * n_models
                 + model_codes.astype(np.int64)) * len(SPLITS) + split_codes
    else:  # model and split: two bytes a row
        group = model_codes.astype(np.int16 if n_models < 2**12 else np.int64)
        group *= len(SPLITS)
        group += split_codes
    if not _tiled_without_repeats(id_codes, n_ids, group, known=bool(block)):
        _refuse_repeated_ids(group.astype(np.int64) * n_ids + id_codes, out, df, source, id_col,
                             has_task)

    # -- label ---------------------------------------------------------------------------
    _require(df, label, source, "label")
    y = df[label]
    y_codes, y_uniques = _factorize(y)
    if (y_codes < 0).any():
        raise DashboardError("missing label", file=source, column=label,
                             row=_row_ref(df, _first(y_codes < 0), id_col))

    # -- what the model produced: one score, per-class probabilities, or predictions ----
    proba_map: dict[object, str] = {}
    if proba is not None:
        if isinstance(proba, Mapping):
            proba_map = dict(proba)
        else:
            proba_map = {_class_from_column(c): c for c in proba}
        for col in proba_map.values():
            _require(df, col, source, "class-probability")
    has_score = score is not None and score in df.columns
    if score is not None and score != "score" and not has_score:
        _require(df, score, source, "score")
    has_pred = prediction is not None and prediction in df.columns
    if prediction is not None and prediction != "prediction" and not has_pred:
        _require(df, prediction, source, "prediction")
    if not proba_map and not has_score:
        proba_map = _guess_proba_columns(df, [_plain(v) for v in y_uniques],
                                         (score, prediction, label, split, model, id, weight),
                                         source, probabilities, notes)
    if not (has_score or proba_map or has_pred):
        raise DashboardError(
            "no model output found: give a score column (probability of the positive class), "
            "per-class probability columns (proba_<class>), or a prediction column",
            file=source, column=score or prediction)

    # labels and classes
    label_values = [_plain(v) for v in y_uniques]
    proba_source_cols = set(proba_map.values())
    if proba_map:
        kind = "multiclass_proba"
        # match class names (from column suffixes) to label values by their text
        resolved: dict[object, str] = {}
        for cls, col in proba_map.items():
            i = class_index(label_values, cls)
            resolved[label_values[i] if i is not None else cls] = col
        proba_map = resolved
        declared = tuple(classes) if classes is not None else tuple(proba_map)
    elif has_score:
        kind = "binary_score"
        declared = tuple(classes) if classes is not None else None
    else:
        kind = "prediction"
        declared = tuple(classes) if classes is not None else None

    if declared is None:
        observed = sorted(label_values, key=_sort_key)
        if kind == "binary_score":
            if len(observed) > 2:
                bad = observed[2]
                pos = _first(y_codes == label_values.index(bad))
                raise DashboardError(
                    f"a single score column declares a binary task, but the labels have "
                    f"{len(observed)} classes ({_shows(observed[:6])}); give "
                    "per-class probability columns for a multiclass task",
                    file=source, column=label, row=_row_ref(df, pos, id_col))
            declared = _binary_classes(observed, pos_label, source, label)
        else:
            declared = tuple(observed)
    # labels are matched to the declared classes by value, then text (1, 1.0, True, "1")
    # the smallest integer that holds a class code: one byte a row for up to 127 classes
    code_type = np.int8 if len(declared) < 2**7 else np.int16 if len(declared) < 2**15 else \
        np.int32
    lut = np.array([_or(class_index(declared, v), -1) for v in label_values], dtype=code_type)
    label_code = lut[y_codes]
    if (label_code < 0).any():
        pos = _first(label_code < 0)
        raise DashboardError(
            f"label {_show(y.iloc[pos])} is not one of the declared classes "
            f"({_shows(declared)})", file=source, column=label,
            row=_row_ref(df, pos, id_col))
    out["label"] = pd.Categorical.from_codes(label_code, categories=_categories(declared))
    out["label_code"] = label_code

    if kind == "binary_score":
        if len(declared) > 2:
            raise DashboardError(f"a single score column needs two classes, {len(declared)} "
                                 "were declared", file=source, column=label)
        if pos_label is None:
            pos_label = _binary_classes(list(declared), None, source, label)[-1]
        elif class_index(declared, pos_label) is None:
            raise DashboardError(f"positive class {_show(pos_label)} is not among the labels "
                                 f"({_shows(declared)})", file=source, column=label)
        else:
            pos_label = declared[class_index(declared, pos_label)]
        out["score"] = _numeric(df, score, source, id_col, probabilities)
    elif kind == "multiclass_proba":
        for cls, col in proba_map.items():
            out[f"proba::{cls}"] = _numeric(df, col, source, id_col, probabilities)
        proba_map = {cls: f"proba::{cls}" for cls in proba_map}
    if has_pred:
        p = df[prediction]
        p_codes, p_uniques = pd.factorize(p, use_na_sentinel=True)
        if (p_codes < 0).any() and kind == "prediction":
            raise DashboardError("missing prediction", file=source, column=prediction,
                                 row=_row_ref(df, _first(p_codes < 0), id_col))
        p_lut = np.array([_or(class_index(declared, v), -2) for v in p_uniques] + [-1],
                         dtype=np.int32)
        pred_code = p_lut[p_codes]  # code -1 (missing) indexes the trailing -1
        if (pred_code == -2).any():
            pos = _first(pred_code == -2)
            raise DashboardError(f"prediction {_show(p.iloc[pos])} is not one of the classes "
                                 f"({_shows(declared)})", file=source,
                                 column=prediction, row=_row_ref(df, pos, id_col))
        out["prediction"] = pd.Categorical.from_codes(pred_code,
                                                      categories=_categories(declared))
        out["prediction_code"] = pred_code

    # -- weight --------------------------------------------------------------------------
    has_weight = weight is not None and weight in df.columns
    if weight is not None and weight != "weight" and not has_weight:
        _require(df, weight, source, "weight")
    if has_weight:
        w = _numeric(df, weight, source, id_col, probabilities=False)
        neg = w < 0
        if neg.any():
            pos = _first(neg)
            raise DashboardError(f"negative weight {w[pos]}; weights are per-example costs >= 0",
                                 file=source, column=weight, row=_row_ref(df, pos, id_col))
        out["weight"] = w
    # no weight column: no column of ones either (80 MB at 10M rows); weighted views need one

    # -- categories and previews ----------------------------------------------------------
    used = {c for c in (id_col, split, model, label, score, prediction, weight,
                        train_size if has_size else None, task if has_task else None,
                        "__row__") if c}
    used |= proba_source_cols
    if isinstance(preview, str):
        previews = [preview]
    elif preview is not None:
        previews = list(preview)
    else:
        previews = [c for c in df.columns if isinstance(c, str) and c.lower() in PREVIEW_NAMES
                    and c not in used]
    for c in previews:
        _require(df, c, source, "preview")
        col = df[c]
        # text previews stay one Arrow buffer (pandas' str dtype), not an object per row
        out[c] = col.astype("str").set_axis(index) if col.dtype == object or \
            pd.api.types.is_string_dtype(col.dtype) else col.to_numpy(dtype=object)
    used |= set(previews)

    # review tags are declared (categories=, the sidecar's tags, --tag-cols, or a tag:<name>
    # column); any other column, True/False ones included (night, outdoor), is metadata
    if categories is None:
        categories = [c for c in df.columns if is_tag_column(c) and c not in used]
    cat_names: list[str] = []
    for c in categories:
        _require(df, c, source, "category")
        col = boolish(df[c])
        if col is None:
            bad = df[c].dropna()
            if bad.empty:  # a declared tag nobody ticked yet: no review on any row
                col = pd.Series(pd.NA, index=df.index, dtype="boolean")
            else:
                raise DashboardError(
                    f"category columns hold True/False on reviewed rows and nothing elsewhere; "
                    f"found {_show(bad.iloc[0])}", file=source, column=c,
                    row=_row_ref(df, int(bad.index[0]), id_col))
        cat_names.append(canonical_category(c))
        out[cat_names[-1]] = col.to_numpy()
    used |= set(categories)
    meta_names: list[str] = []
    if metadata_columns is not None:
        for c in metadata_columns:
            _require(df, c, source, "metadata")
    candidates = list(metadata_columns) if metadata_columns is not None else [
        c for c in df.columns if isinstance(c, str) and c not in used
        and canonical_category(c) not in cat_names and c not in proba_source_cols
        and not c.lower().startswith(PROBA_PREFIXES)]
    for c in candidates:
        col = df[c]
        if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
            col = col.astype("category")  # one code per row, not one string object
        out[f"meta::{c}"] = col.to_numpy() if not isinstance(col.dtype, pd.CategoricalDtype) \
            else col.reset_index(drop=True)
        meta_names.append(c)
    if MISLABELLED not in cat_names:
        unknown = np.ones(len(index), dtype=bool)
        # reviewed rows (any tag given) were judged correctly labelled unless said otherwise
        if cat_names:
            reviewed = pd.DataFrame({c: out[c] for c in cat_names}, index=index,
                                    copy=False).notna().any(axis=1).to_numpy()
            unknown[reviewed] = False
        out[MISLABELLED] = pd.arrays.BooleanArray(np.zeros(len(index), dtype=bool), unknown)
        cat_names.append(MISLABELLED)

    schema = Schema(
        kind=kind, classes=tuple(declared), pos_label=pos_label,
        categories=tuple(cat_names), previews=tuple(previews), proba_columns=proba_map,
        metadata_columns=tuple(meta_names), tasks=task_names, unlabelled=unlabelled,
        has_weight=has_weight, probabilities=probabilities, source=source, base_dir=base_dir,
        notes=tuple(notes),
    )
    return pd.DataFrame({k: _alone(v) for k, v in out.items()}, index=index, copy=False), schema


def _alone(values: Any) -> Any:
    """A column as it is, or a copy when it is a view into a larger array it would keep alive
    (a float column of a 2-D pandas block that also holds columns left out)."""
    if not isinstance(values, np.ndarray):
        return values
    root = values
    while isinstance(root.base, np.ndarray):
        root = root.base
    return values if root.nbytes <= values.nbytes else values.copy()


def _multitask_long(df: pd.DataFrame, label: str, score: str | None, prediction: str | None,
                    task: str | None, source: str, notes: list[str],
                    ) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per example and task, with unlabelled entries left out of their task only.

    A wide table (``label_<task>`` with ``score_<task>`` or ``prediction_<task>``, and no
    ``label`` column) is melted into a long one with a ``task`` column. In a long table an
    empty label means "not labelled for this task": the row is dropped and counted per task
    (a multi-task loss sums only over labelled entries). Each row keeps its file row number
    for error messages.
    """
    if task is None:
        return df, {}
    wide = [c for c in df.columns if isinstance(c, str) and c.startswith("label_")]
    if label not in df.columns and task not in df.columns and wide:
        names = [c[len("label_"):] for c in wide]
        outputs = {}
        for name in names:
            for kind, prefix in (("score", "score_"), ("prediction", "prediction_")):
                if f"{prefix}{name}" in df.columns:
                    outputs[name] = (kind, f"{prefix}{name}")
                    break
            else:
                raise DashboardError(f"task {name!r} has a label column but no score_{name} or "
                                     f"prediction_{name} column", file=source,
                                     column=f"label_{name}")
        per_task = {c for n in names for c in (f"label_{n}", outputs[n][1])}
        common = [c for c in df.columns if c not in per_task]
        parts = []
        for name in names:
            kind, col = outputs[name]
            part = df[common].copy()
            part["__row__"] = np.arange(len(df))
            part[task] = name
            part[label] = df[f"label_{name}"].to_numpy()
            part[(score or "score") if kind == "score" else (prediction or "prediction")] = \
                df[col].to_numpy()
            parts.append(part)
        df = pd.concat(parts, ignore_index=True)
        notes.append(f"wide multi-task table read as {len(names)} tasks: {', '.join(names)}")
    if task not in df.columns:
        return df, {}
    if "__row__" not in df.columns:
        df = df.assign(__row__=np.arange(len(df)))
    missing = df[label].isna().to_numpy() if label in df.columns else np.zeros(len(df), bool)
    unlabelled: dict[str, int] = {}
    if missing.any():
        counts = df.loc[missing, task].astype(str).value_counts()
        unlabelled = {str(k): int(v) for k, v in counts.items()}
        df = df[~missing].reset_index(drop=True)
        notes.append("not labelled, left out of their task only: " + ", ".join(
            f"{k} {v:,}" for k, v in unlabelled.items()))
    if label in df.columns:
        df[label] = _integers_kept(df[label])
    return df, unlabelled


def _integers_kept(labels: pd.Series) -> pd.Series:
    """A multi-task table's whole-number labels as integers: empty cells (not labelled) make
    pandas read 0, 1 and blanks as 0.0, 1.0, NaN, and a part of the file (an engine's sample)
    may hold no blank, so every task table's labels are read alike and the views say
    "positive class 1", not 1.0; labels with a fraction stay as they are."""
    if isinstance(labels.dtype, pd.api.extensions.ExtensionDtype):
        if pd.api.types.is_integer_dtype(labels.dtype):
            return labels.astype(np.int64)
        return labels
    if not pd.api.types.is_float_dtype(labels.dtype):
        return labels
    values = labels.to_numpy()
    if values.size and np.isfinite(values).all() and (values == np.round(values)).all():
        return labels.astype(np.int64)
    return labels


def _sklearn_name(df: pd.DataFrame, given: str | None, default: str,
                  names: Sequence[str], notes: list[str]) -> str | None:
    """The column to use for a role: the given name, or a scikit-learn name when the default
    is absent (``y_true``, ``y_score``, ``y_pred``, ``sample_weight``)."""
    if given != default or default in df.columns:
        return given
    for name in names:
        if name in df.columns:
            notes.append(f"column {name!r} read as {default!r}")
            return name
    return given


#: a results-file column named ``tag:<category>`` holds review ticks (README: the results table)
TAG_PREFIX = "tag:"


def is_tag_column(name: object) -> bool:
    """Whether a column is declared a review tag by its name (``tag:blurry``)."""
    return isinstance(name, str) and name[:len(TAG_PREFIX)].lower() == TAG_PREFIX


def canonical_category(name: str) -> str:
    """A category's name: without the ``tag:`` prefix, the spellings of "incorrectly
    labelled" unified."""
    name = str(name)
    if is_tag_column(name):
        name = name[len(TAG_PREFIX):].strip()
    return MISLABELLED if _alias_key(name) in MISLABELLED_ALIASES else name


def _guess_proba_columns(df: pd.DataFrame, labels: list[object], taken: Sequence[object],
                         source: str, probabilities: bool, notes: list[str],
                         ) -> dict[object, str]:
    """Per-class probability columns found by prefix, accepted only for classes in the labels.

    A prefixed column whose class is not a label (``p_value`` beside ``proba_0..2``) is left
    out when the others sum to 1 on every row, so it cannot be a class; otherwise the file is
    ambiguous and refused, naming the column.
    """
    found = {c: _class_from_column(c) for c in df.columns
             if isinstance(c, str) and c.lower().startswith(PROBA_PREFIXES) and c not in taken}
    matched = {c: cls for c, cls in found.items() if class_index(labels, cls) is not None}
    stray = [c for c in found if c not in matched]
    if len(matched) < 2:
        return {}
    if stray:
        values = df[list(matched)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
        sums = values.sum(axis=1)
        if not (probabilities and np.all(np.abs(sums - 1.0) <= 1e-3)):
            raise DashboardError(
                f"column {stray[0]!r} looks like a class-probability column, but class "
                f"{found[stray[0]]!r} is not among the labels ({_shows(labels[:8])}); name the "
                "probability columns explicitly (proba=[...]) or rename it",
                file=source, column=stray[0])
        notes.append(f"column{'s' if len(stray) > 1 else ''} {_shows(stray)} ignored: not a "
                     "class among the labels, and the class probabilities sum to 1 without it")
    return {cls: c for c, cls in matched.items()}


def _class_from_column(col: str) -> str:
    lower = col.lower()
    for prefix in PROBA_PREFIXES:
        if lower.startswith(prefix):
            return col[len(prefix):]
    return col


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _sort_key(v: object) -> tuple[int, object]:
    if isinstance(v, bool | np.bool_):
        return (0, int(v))
    if isinstance(v, int | float | np.integer | np.floating):
        return (0, float(v))
    return (1, str(v))


def _binary_classes(observed: list[object], pos_label: object | None, source: str,
                    label: str) -> tuple[object, object]:
    """(negative, positive) for a binary task: 0/1 and False/True order themselves."""
    if len(observed) == 2:
        a, b = observed
    elif len(observed) == 1:
        # one class present (a tiny or one-sided split): the other is implied, in its type
        only = observed[0]
        if isinstance(only, bool | np.bool_):
            return (False, True)
        if pos_label is not None and class_index([only], pos_label) is None:
            other = _plain(pos_label)
            if _is_number(only) and _is_number(other):
                other = type(only)(other)
            return tuple(sorted((only, other), key=_sort_key))  # type: ignore[return-value]
        if _is_number(only):
            kind = type(only)
            if float(only) in (0.0, 1.0):
                return (kind(0), kind(1))
            if float(only) == -1.0:
                return (kind(-1), kind(1))
        return ("negative", only) if pos_label is not None else (only, "<other>")
    else:
        return (0, 1)
    numeric = all(isinstance(v, bool | int | float | np.bool_ | np.integer | np.floating)
                  for v in (a, b))
    if numeric:
        return (a, b)
    if pos_label is None:
        raise DashboardError(
            f"labels are {_show(a)} and {_show(b)}: say which is the positive class "
            "(pos_label=...)",
            file=source, column=label)
    return (b, a) if str(a) == str(pos_label) else (a, b)


def _numeric(df: pd.DataFrame, col: str, source: str, id_col: str | None,
             probabilities: bool) -> np.ndarray:
    """A float column with no NaN (and in [0, 1] where probabilities are declared)."""
    raw = df[col]
    if raw.dtype == bool:
        values = raw.to_numpy(dtype=np.float64)
    elif raw.dtype in (np.float16, np.float32, np.float64):
        # the user's own float type: thresholds are compared in it, as NumPy does
        values = raw.to_numpy()
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    # one pass proves the common case (every value in [0, 1], or finite); else find the row
    if bool(((values >= 0.0) & (values <= 1.0)).all() if probabilities else
            np.isfinite(values).all()):
        return values
    bad = np.isnan(values)
    if bad.any():
        pos = _first(bad)
        original = raw.iloc[pos]
        what = "missing (NaN)" if pd.isna(original) else f"not a number: {_show(original)}"
        raise DashboardError(f"value is {what}", file=source, column=col,
                             row=_row_ref(df, pos, id_col))
    if not np.isfinite(values).all():
        pos = _first(~np.isfinite(values))
        raise DashboardError(f"value {values[pos]} is not finite", file=source, column=col,
                             row=_row_ref(df, pos, id_col))
    if probabilities:
        outside = (values < 0.0) | (values > 1.0)
        if outside.any():
            pos = _first(outside)
            raise DashboardError(
                f"value {values[pos]:g} is outside [0, 1], but scores are declared to be "
                "probabilities (pass probabilities=False for raw scores such as "
                "decision_function margins)", file=source, column=col,
                row=_row_ref(df, pos, id_col))
    return values


def release_scratch() -> None:
    """Give the memory a load used and freed back to the system.

    Arrow's allocator keeps what a load frees (the file's columns, the id hash table: about
    1.3 GB at 10M rows) for reuse; without this the kernel holds it for its whole life."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: collecting is all
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def load_table(path: str | Path, **kwargs: object) -> tuple[pd.DataFrame, Schema]:
    """Read and validate a results file; errors name the file."""
    p = Path(path)
    names = [kwargs.get(role, role) for role in ("split", "model", "task")]
    df = read_file(p, id_column=kwargs.get("id", "id"),  # type: ignore[arg-type]
                   dictionary=[str(c) for c in names if c is not None])
    return normalize(df, source=str(p), base_dir=p.resolve().parent, **kwargs)  # type: ignore[arg-type]


def read_human_level(value: str | None) -> dict[str, float] | float | None:
    """Parse a human-level option: a rate (``0.03`` or ``3%``), a JSON object, or
    ``name=rate,name=rate``. Anything else is one :class:`DashboardError` saying what to write.
    """
    if value is None or str(value).strip() == "":
        return None
    value = str(value).strip()
    option = f"--human-level {value!r}"
    if value.startswith("{"):
        try:
            data = json.loads(value, object_pairs_hook=_unique_keys)
        except ValueError as exc:
            raise DashboardError(f"{option}: not valid JSON ({exc.msg}); write e.g. "
                                 "'{\"typical person\": 0.03}'") from None
        if not isinstance(data, dict):
            raise DashboardError(f"{option}: expected a JSON object of name: rate")
        out: dict[str, float] | float = {str(k): v for k, v in data.items()}
    elif "=" in value:
        out = {}
        for part in value.split(","):
            name, _, rate = part.partition("=")
            if not name.strip():
                raise DashboardError(f"{option}: {part!r} has no name; write name=rate, "
                                     "e.g. 'typical person=3%'")
            if name.strip() in out:
                raise DashboardError(f"{option}: {name.strip()!r} is named twice")
            out[name.strip()] = _rate(rate.strip(), option)
    else:
        out = _rate(value, option)
    _check_human_level(out, option)
    return out


class _DuplicateKey(ValueError):
    """A JSON object naming one key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key!r} is named twice")
        self.msg = str(self)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object's pairs as a dict, refusing a key given twice (json keeps the last)."""
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _check_human_level(value: object, where: str) -> None:
    """Validate a human level as the results model will, naming where it came from."""
    try:
        HumanLevel.coerce(value)  # type: ignore[arg-type]
    except DashboardError as exc:
        raise DashboardError(f"{where}: {exc}") from None


def _rate(text: str, option: str = "--human-level") -> float:
    raw = text
    percent = text.endswith("%")
    if percent:
        text = text[:-1].strip()
    try:
        rate = float(text)
    except ValueError:
        raise DashboardError(f"{option}: {raw!r} is not a rate; write e.g. 0.03 or 3%") from None
    return rate / 100.0 if percent else rate


def read_sidecar(path: str | Path) -> dict[str, object]:
    """Metadata beside a results file: ``<name>.json`` or a ``demo.json`` that names it.

    Holds optional ``title`` (text), ``human_level`` (a rate or name: rate), ``class_names``
    (label: the name views show), ``tags`` (the columns holding review ticks) and per-model
    ``models`` facts (``{"A": {"running_time_ms": 80}}``). A sidecar that cannot be read, is
    not a JSON object, or holds a bad field is refused, naming the file and the field.
    """
    p = Path(path)
    for candidate in (p.with_suffix(".json"), p.parent / "demo.json"):
        if candidate == p or not candidate.exists():
            continue
        name = str(candidate)
        shared = candidate.name == "demo.json"  # may belong to another file: skipped if bad
        try:
            data = json.loads(candidate.read_text(), object_pairs_hook=_unique_keys)
        except (OSError, UnicodeDecodeError) as exc:
            if shared:
                continue
            raise DashboardError(f"the sidecar cannot be read: {exc}", file=name) from None
        except ValueError as exc:
            if shared:
                continue
            raise DashboardError(f"the sidecar is not valid JSON: {exc}", file=name) from None
        if not isinstance(data, dict):
            if shared:
                continue
            raise DashboardError(f"the sidecar holds a JSON {type(data).__name__}; expected an "
                                 "object with title, human_level and models", file=name)
        if data.get("results", p.name) != p.name:
            continue
        _check_sidecar(data, name)
        return data
    return {}


def _check_sidecar(data: Mapping[str, object], name: str) -> None:
    """The sidecar's fields have the types the dashboard uses, or one clear error."""
    title = data.get("title")
    if title is not None and not isinstance(title, str):
        raise DashboardError(f"title must be text, got {title!r}", file=name, column="title")
    if data.get("human_level") is not None:
        _check_human_level(data["human_level"], f"{name}: human_level")
    tags = data.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(
            isinstance(v, str) and v for v in tags)):
        raise DashboardError('tags must be a list of the columns holding review ticks, such as '
                             '["dog", "blurry"]', file=name, column="tags")
    names = data.get("class_names")
    if names is not None and (not isinstance(names, dict) or not all(
            isinstance(v, str) for v in names.values())):
        raise DashboardError("class_names must be an object of label: name, such as "
                             '{"1": "cat", "0": "not cat"}', file=name, column="class_names")
    if names is not None and len(set(names.values())) != len(names):
        twice = next(v for v in names.values() if list(names.values()).count(v) > 1)
        raise DashboardError(f"class_names calls two labels {twice!r}: the views could not "
                             "tell them apart", file=name, column="class_names")
    models = data.get("models")
    if models is None:
        return
    if not isinstance(models, dict):
        raise DashboardError("models must be an object of model name: facts", file=name,
                             column="models")
    for model, facts in models.items():
        if not isinstance(facts, dict):
            raise DashboardError(f"models[{model!r}] must be an object of fact: number",
                                 file=name, column="models")
        for fact, v in facts.items():
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise DashboardError(f"models[{model!r}][{fact!r}] must be a number, got {v!r}",
                                     file=name, column="models")
