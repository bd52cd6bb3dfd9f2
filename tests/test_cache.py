"""The table cache (issue 22): a file's validated table is computed once per content version,
saved beside the store and mapped by every later load; its numbers are a fresh load's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import Results
from dashboard.cache import TableCache, cache_key, content_fingerprint
from dashboard.io import _factorize, _id_codes, _provably_distinct, _repeat_period, row_groups

REPO = Path(__file__).resolve().parents[1]
LABELS = {"int": (0, 1), "bool": (False, True), "str": ("dog", "cat"), "pm1": (-1, 1),
          "float": (0.0, 1.0)}


def _numbers(r: Results) -> dict:
    """Everything a page shows first, as plain values to compare."""
    out = {"rates": r.error_rates().to_dict(), "models": r.models, "splits": r.splits,
           "classes": r.classes, "fingerprint": r.fingerprint, "keys": r.frame["key"].tolist(),
           "tags": r.file_tags.to_dict()}
    sample, wrong = r.review_sample_rows("dev", size=5, seed=1, include_correct=True)
    out["sample"] = (sample["key"].tolist(), wrong)  # its ranks are saved beside the table
    gaps = r.gaps()
    out["gaps"] = (gaps.avoidable_bias, gaps.variance, gaps.data_mismatch, gaps.focus)
    if r.has_scores and r.schema.kind == "binary_score":
        c = r.curve("dev")
        out["curve"] = (c.thresholds.tolist(), c.tps.tolist(), c.fps.tolist())
        out["best"] = r.best_threshold("dev").threshold
    if r.tasks:
        out["tasks"] = r.task_overview().to_dict()
    if r.train_sizes:
        out["lc"] = r.learning_curve().to_dict() if hasattr(r.learning_curve(), "to_dict") \
            else repr(r.learning_curve())
    return out


@st.composite
def results_files(draw: st.DrawFn) -> tuple[pd.DataFrame, dict, str]:
    kind = draw(st.sampled_from(sorted(LABELS)))
    neg, pos = LABELS[kind]
    n = draw(st.integers(8, 40))
    models = draw(st.sampled_from([["m"], ["a", "b"]]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    y = np.where(rng.random(n) < 0.5, pos, neg)
    y[:6] = [pos, pos, neg, neg, pos, neg]  # both classes in train and dev
    split = np.array([("train", "dev", "train_dev", "test")[i % 4] for i in range(n)])
    ids = draw(st.sampled_from(["int", "text", "none", "repeated"]))
    weighted, tagged, device = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    decimals = draw(st.sampled_from([1, 3, 9]))
    frames = []
    for m in models:
        df = pd.DataFrame({"split": split, "label": y,
                           "score": np.round(rng.random(n), decimals),
                           "model": m})
        if ids == "int":
            df["id"] = np.arange(n) * 7
        elif ids == "text":
            df["id"] = [f"ex{i:03d}" for i in range(n)]
        elif ids == "repeated":  # ids repeat across splits: keys become split/id
            df["id"] = [f"r{i // 4}" for i in range(n)]
        if weighted:
            df["weight"] = rng.integers(1, 4, n).astype(float)
        if tagged:
            df["tag:blurry"] = pd.array(np.where(rng.random(n) < 0.3, True, None),
                                        dtype=object)
        if device:
            df["device"] = rng.choice(["ios", "android"], n)
        frames.append(df)
    table = pd.concat(frames, ignore_index=True)
    if kind == "bool":
        table["label"] = table["label"].astype(bool)
    opts = {"pos_label": pos} if kind == "str" or draw(st.booleans()) else {}
    return table, opts, draw(st.sampled_from(["parquet", "csv"]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(case=results_files())
def test_cached_numbers_equal_a_fresh_load(case: tuple, tmp_path_factory: pytest.TempPathFactory
                                           ) -> None:
    table, opts, fmt = case
    folder = tmp_path_factory.mktemp("cache")
    path = folder / f"results.{fmt}"
    table.to_parquet(path) if fmt == "parquet" else table.to_csv(path, index=False)
    fresh = Results.from_file(path, **opts)
    first = Results.from_file(path, cache=folder / "c", **opts)  # computes and saves
    again = Results.from_file(path, cache=folder / "c", **opts)  # maps
    assert again._cache_entry is not None, "the second load must come from the cache"
    for r in (first, again):
        pd.testing.assert_frame_equal(r.frame, fresh.frame)
        assert r.schema == fresh.schema
        assert _numbers(r) == _numbers(fresh)
    assert again.curve_builds == 0 or not fresh.has_scores or \
        fresh.schema.kind != "binary_score", "curves saved by the first load are mapped"


def test_tasks_and_training_sizes_are_cached_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = []
    for task in ("cat", "dog"):
        for size in (100, 200):
            for i in range(60):
                y = int(rng.random() < 0.4)
                rows.append({"id": f"{task}{i}", "task": task, "train_size": size,
                             "split": ("train", "train_dev", "dev", "test")[i % 4],
                             "label": y, "score": float(rng.random())})
    path = tmp_path / "lc.parquet"
    pd.DataFrame(rows).to_parquet(path)
    fresh = Results.from_file(path)
    Results.from_file(path, cache=tmp_path / "c")
    again = Results.from_file(path, cache=tmp_path / "c")
    assert again._cache_entry is not None
    assert again.tasks == fresh.tasks == ("cat", "dog")
    for task in fresh.tasks:
        fresh.task, again.task = task, task
        assert _numbers(again) == _numbers(fresh)
        pd.testing.assert_frame_equal(again.learning_curve().table, fresh.learning_curve().table) \
            if hasattr(fresh.learning_curve(), "table") else None


def _write(path: Path, labels: list[int]) -> None:
    n = len(labels)
    pd.DataFrame({"id": [f"e{i}" for i in range(n)],
                  "split": (["train", "train_dev", "dev", "test"] * n)[:n],
                  "label": labels, "score": np.linspace(0, 1, n)}).to_parquet(path)


def test_a_one_row_change_is_a_new_version_and_the_old_entry_is_never_used(tmp_path: Path
                                                                         ) -> None:
    path, cache = tmp_path / "r.parquet", tmp_path / "c"
    labels = [(i // 4) % 2 for i in range(40)]
    _write(path, labels)
    before = Results.from_file(path, cache=cache)
    labels[2] = 1 - labels[2]  # one row of dev... (row 2 is dev)
    _write(path, labels)
    after = Results.from_file(path, cache=cache)
    fresh = Results.from_file(path)
    assert _numbers(after) == _numbers(fresh)
    assert after.error_rates().loc["dev", "errors"] != before.error_rates().loc["dev", "errors"]
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 2
    # the same content written again is the same version: mapped, not recomputed
    _write(path, labels)
    assert Results.from_file(path, cache=cache)._cache_entry == after._cache_entry


def test_a_file_is_hashed_once_until_it_changes_even_with_its_old_size_and_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dashboard.cache as cache_module

    path, cache = tmp_path / "r.parquet", tmp_path / "c"
    labels = [(i // 4) % 2 for i in range(40)]
    _write(path, labels)
    hashed = []
    real = cache_module.content_fingerprint
    monkeypatch.setattr(cache_module, "content_fingerprint",
                        lambda p: hashed.append(p) or real(p))
    first = Results.from_file(path, cache=cache)
    Results.from_file(path, cache=cache)
    assert len(hashed) == 1  # the second load trusts the remembered stamp
    stat = path.stat()
    labels[2] = 1 - labels[2]
    _write(path, labels)  # same size, then its old modification time put back
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = Results.from_file(path, cache=cache)
    assert len(hashed) == 2 and again._cache_entry != first._cache_entry
    assert _numbers(again) == _numbers(Results.from_file(path))


def test_a_re_export_under_a_new_name_maps_the_same_entry_under_its_own_name(tmp_path: Path
                                                                            ) -> None:
    a, b, cache = tmp_path / "run1.parquet", tmp_path / "renamed.parquet", tmp_path / "c"
    _write(a, [(i // 4) % 2 for i in range(40)])
    b.write_bytes(a.read_bytes())
    first = Results.from_file(a, cache=cache)
    second = Results.from_file(b, cache=cache)
    assert second._cache_entry == first._cache_entry
    assert second.name == "renamed.parquet" and second.schema.source == str(b)
    assert first.schema.source == str(a)


def test_options_and_code_are_part_of_the_key(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    _write(path, [(i // 4) % 2 for i in range(40)])
    fp = content_fingerprint(path)
    assert cache_key(fp, {}) != cache_key(fp, {"pos_label": 0})
    pos0 = Results.from_file(path, cache=tmp_path / "c", pos_label=0)
    pos1 = Results.from_file(path, cache=tmp_path / "c")
    assert pos0.positive_class == 0 and pos1.positive_class == 1
    assert pos0._cache_entry != pos1._cache_entry


def test_an_entry_that_fails_to_read_is_rebuilt_with_one_line(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture
                                                               ) -> None:
    path, cache = tmp_path / "r.parquet", tmp_path / "c"
    _write(path, [(i // 4) % 2 for i in range(40)])
    entry = Results.from_file(path, cache=cache)._cache_entry
    assert entry is not None
    rows = entry / "rows.arrow"
    rows.write_bytes(rows.read_bytes()[: rows.stat().st_size // 2])  # a torn file
    capsys.readouterr()
    again = Results.from_file(path, cache=cache)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not be read" in err[0] and "rebuilding" in err[0]
    assert _numbers(again) == _numbers(Results.from_file(path))
    assert (entry / "meta.json").is_file() and again._cache_entry == entry
    (entry / "meta.json").write_text("{not json")
    capsys.readouterr()
    assert _numbers(Results.from_file(path, cache=cache)) == _numbers(again)
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_folder_that_cannot_be_written_or_a_value_it_cannot_store_loads_without_it(
        tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    _write(path, [(i // 4) % 2 for i in range(40)])
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = Results.from_file(path, cache=blocker / "c")  # mkdir fails even for root
    assert r._cache_entry is None and _numbers(r) == _numbers(Results.from_file(path))
    mixed = pd.read_parquet(path).assign(note=[1, "a"] * 20)  # a metadata column of mixed types
    mixed["note"] = mixed["note"].astype(object)
    mpath = tmp_path / "mixed.pkl.csv"
    mixed.to_csv(mpath, index=False)
    assert _numbers(Results.from_file(mpath, cache=tmp_path / "c")) == \
        _numbers(Results.from_file(mpath))


def test_entries_beyond_the_limit_are_evicted_least_recently_used_first(tmp_path: Path,
                                                                       monkeypatch) -> None:
    import dashboard.cache as cache_module

    monkeypatch.setattr(cache_module, "KEEP", 2)
    cache = tmp_path / "c"
    entries = []
    for k in range(3):
        p = tmp_path / f"r{k}.parquet"
        _write(p, [(i // 4 + k) % 2 for i in range(40)])
        entries.append(Results.from_file(p, cache=cache)._cache_entry)
    alive = {p for p in cache.iterdir() if not p.name.startswith(".")}
    assert alive == set(entries[1:])


_LOADER = """
import json, sys
from dashboard import Results
r = Results.from_file(sys.argv[1], cache=sys.argv[2])
rates = r.error_rates()
print(json.dumps({"entry": str(r._cache_entry), "dev": float(rates.loc["dev", "error"]),
                  "builds": r.curve_builds, "built": r.cache_built}))
"""


def _load_in_child(path: Path, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", _LOADER, str(path), str(cache)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_processes_loading_at_once_agree_and_leave_one_entry(tmp_path: Path) -> None:
    path, cache = tmp_path / "r.parquet", tmp_path / "c"
    _write(path, [i % 3 == 0 for i in range(4000)])
    procs = [_load_in_child(path, cache) for _ in range(3)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert len({o["entry"] for o in outs}) == 1
    assert len({o["dev"] for o in outs}) == 1
    assert sum(o["built"] for o in outs) == 1  # the others waited for its entry
    assert [p.name for p in cache.iterdir() if not p.name.startswith(".")] == \
        [Path(outs[0]["entry"]).name]
    later = _load_in_child(path, cache)
    out, err = later.communicate(timeout=120)
    assert later.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["builds"] == 0  # curves mapped too


def test_a_load_waits_for_the_process_building_the_entry_instead_of_building_it_too(
        tmp_path: Path) -> None:
    path, cache_dir = tmp_path / "r.parquet", tmp_path / "c"
    _write(path, [(i // 4) % 2 for i in range(400)])
    cache = TableCache(cache_dir)
    key = cache_key(content_fingerprint(path), {})
    with cache.building(key):  # this process is building the entry
        child = _load_in_child(path, cache_dir)
        time.sleep(3)
        assert child.poll() is None, "the load must wait while the entry is being built"
        built = Results._build_cached(path, cache, key, {}, {"name": path.name})
        assert built.cache_built
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    got = json.loads(out.strip().splitlines()[-1])
    assert not got["built"] and got["entry"] == str(built._cache_entry)


# -- the id fast paths the first load takes -----------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(alphabet="ab\x00é/", max_size=12), min_size=0, max_size=30),
       repeats=st.integers(1, 4))
def test_id_fast_paths_equal_the_exact_encoding(texts: list[str], repeats: int) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.chunked_array([pa.array(texts * repeats, type=pa.large_string())])
    assert _provably_distinct(arr.combine_chunks()) <= (len(set(texts * repeats)) ==
                                                        len(texts) * repeats)
    if texts:
        block = _repeat_period(arr)
        assert arr.slice(0, block).to_pylist() * (len(arr) // block) == arr.to_pylist()
        codes, rows = _id_codes(pd.Series(pd.array(arr, dtype="str")))
        exact = pc.dictionary_encode(arr).combine_chunks()
        want = exact.indices.to_numpy(zero_copy_only=False)
        # same partition of the rows into examples, first appearance order
        assert (pd.factorize(codes)[0] == pd.factorize(want)[0]).all()
        assert rows.tolist() == texts * repeats


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(alphabet="ab\x00é/", max_size=20), min_size=2, max_size=40),
       cuts=st.lists(st.integers(0, 40), max_size=4), start=st.integers(0, 3),
       large=st.booleans())
def test_a_chunked_or_sliced_column_is_proven_distinct_only_when_it_is(
        texts: list[str], cuts: list[int], start: int, large: bool) -> None:
    import pyarrow as pa

    kind = pa.large_string() if large else pa.string()
    bounds = sorted({0, len(texts), *(c for c in cuts if c <= len(texts))})
    arr = pa.chunked_array([pa.array(texts[a:b], type=kind) for a, b in pairwise(bounds)
                            if b > a], type=kind).slice(min(start, len(texts) - 2))
    values = arr.to_pylist()
    distinct = len(set(values)) == len(values)
    assert _provably_distinct(arr) <= distinct
    assert _provably_distinct(arr.combine_chunks()) <= distinct
    if distinct and max(len(v.encode()) for v in values) <= 32:  # no 64-bit collision here
        assert _provably_distinct(arr)


@settings(max_examples=100, deadline=None)
@given(models=st.integers(1, 20), splits=st.integers(1, 4), rows=st.integers(1, 200),
       seed=st.integers(0, 2**32 - 1), tasks=st.booleans())
def test_row_groups_are_pandas_groupby_indices(models: int, splits: int, rows: int, seed: int,
                                              tasks: bool) -> None:
    # pandas is the oracle: same combinations, in the same order, with the same rows
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "model": pd.Categorical.from_codes(rng.integers(0, models, rows),
                                           categories=[f"m{i}" for i in range(models + 1)]),
        "task": pd.Categorical.from_codes(rng.integers(0, 2, rows), categories=["t1", "t0"]),
        "split": pd.Categorical.from_codes(rng.integers(0, splits, rows),
                                           categories=["train", "train_dev", "dev", "test"])})
    columns = ["model", "task", "split"] if tasks else ["model", "split"]
    want = frame.groupby(columns, observed=True, sort=False).indices
    got = row_groups(frame, columns)
    assert got is not None and list(got) == list(want)
    for key, rows_of in want.items():
        assert np.array_equal(got[key], rows_of)
    assert row_groups(frame.assign(model=frame["model"].astype(str)), columns) is None


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(-3, 40), min_size=1, max_size=60),
       shift=st.sampled_from([0, -20, 2**40]), kind=st.sampled_from(["int8", "int64", "uint16"]),
       categorical=st.booleans())
def test_fast_factorize_is_pandas_factorize(values: list[int], shift: int, kind: str,
                                            categorical: bool) -> None:
    values = [v + shift for v in values]
    info = np.iinfo(kind)
    if min(values) < info.min or max(values) > info.max:
        values = [v - shift for v in values]
    if kind.startswith("uint"):
        values = [abs(v) for v in values]
    series = pd.Series(np.array(values, dtype=kind))
    if categorical:
        cats = sorted(set(values))[::-1] + [10**6]
        series = pd.Series(pd.Categorical(
            [None if v % 7 == 0 else v for v in values], categories=cats))
    codes, uniques = _factorize(series)
    want_codes, want_uniques = pd.factorize(series, use_na_sentinel=True)
    assert np.array_equal(codes, want_codes)
    assert list(uniques) == list(want_uniques) and uniques.dtype == want_uniques.dtype


def test_a_parquet_table_loads_as_its_frame_does(tmp_path: Path) -> None:
    # split and model names read as Arrow dictionaries give the frame and schema of the
    # same table read by pandas
    from dashboard.io import load_table, normalize

    n = 300
    rng = np.random.default_rng(3)
    ids = [f"img-{i}" for i in range(n)]
    split = rng.choice(["val", "training", "test", "Train-Dev"], n)
    parts = [pd.DataFrame({"id": ids, "split": split, "label": rng.choice([-1, 1], n),
                           "score": rng.random(n), "model": m, "region": rng.choice(["n", "s"], n)})
             for m in ("zeta", "alpha", "mid")]
    path = tmp_path / "r.parquet"
    pd.concat(parts, ignore_index=True).to_parquet(path, index=False)
    frame, schema = load_table(path)
    want, want_schema = normalize(pd.read_parquet(path), source=str(path),
                                  base_dir=path.resolve().parent)
    pd.testing.assert_frame_equal(frame, want, check_exact=True)
    assert schema == want_schema
    assert list(frame["model"].cat.categories) == ["zeta", "alpha", "mid"]


def test_distinct_texts_of_every_length_are_proven_distinct() -> None:
    import pyarrow as pa

    texts = [("x" * k) + str(i) for k in range(0, 30) for i in range(20)]
    assert _provably_distinct(pa.array(texts, type=pa.large_string()))
    assert not _provably_distinct(pa.array([*texts, texts[5]], type=pa.large_string()))
    assert not _provably_distinct(pa.array(["a", None, "b"], type=pa.large_string()))


# -- shared memory ------------------------------------------------------------------------------
_KERNEL = """
import json, sys, psutil
from dashboard import Results
r = Results.from_file(sys.argv[1], cache=sys.argv[2])
r.error_rates(); r.gaps(); r.curve("dev"); r.best_threshold("dev")
print(json.dumps({"builds": r.curve_builds}), flush=True)
sys.stdin.readline()  # measured by the test while alive, with the other kernels
"""


def _kernels(path: Path, cache: Path, count: int) -> list[tuple[subprocess.Popen, int]]:
    """``count`` processes that loaded ``path`` and stay alive: (process, curves built)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = []
    for _ in range(count):
        p = subprocess.Popen([sys.executable, "-c", _KERNEL, str(path), str(cache)], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        assert line, "the kernel died"
        out.append((p, json.loads(line)["builds"]))
    return out


def _uss(kernels: list[tuple[subprocess.Popen, int]]) -> list[int]:
    import psutil

    sizes = [psutil.Process(p.pid).memory_full_info().uss for p, _ in kernels]
    for p, _ in kernels:
        p.communicate("\n", timeout=60)
    return sizes


def _long_file(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    ids = pd.Series([f"ex{i}" for i in range(n)])
    y = rng.integers(0, 2, n)
    split = rng.choice(["train", "train_dev", "dev", "test"], n)
    pd.concat([pd.DataFrame({"id": ids, "split": split, "label": y, "score": rng.random(n),
                             "model": m}) for m in ("A", "B")]).to_parquet(path)


@pytest.mark.slow
def test_two_kernels_share_the_mapped_rows(tmp_path: Path) -> None:
    """Two kernels alive at once on a cached file of 2M rows hold its columns and curves in
    shared pages: beyond what a kernel on a 2,000-row file holds, each one's private memory
    (USS) is a small part of the table; two kernels loading without the cache each hold it
    privately (the control, so the measure can fail)."""
    pytest.importorskip("psutil")
    big, small, cache = tmp_path / "big.parquet", tmp_path / "small.parquet", tmp_path / "c"
    _long_file(big, 1_000_000)
    _long_file(small, 1_000)
    _uss(_kernels(big, cache, 1) + _kernels(small, cache, 1))  # the first loads save
    entry = Results.from_file(big, cache=cache)._cache_entry
    table_bytes = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
    fixed = min(_uss(_kernels(small, cache, 2)))
    shared = _kernels(big, cache, 2)
    assert [b for _, b in shared] == [0, 0]  # the curves are mapped, not built
    for uss in _uss(shared):
        assert uss - fixed < 0.35 * table_bytes, (uss, fixed, table_bytes)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for uss in _uss(_kernels(big, blocker / "c", 2)):  # no cache: each holds its own copy
        assert uss - fixed > 0.5 * table_bytes, (uss, fixed, table_bytes)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 30), st.integers(1, 4), st.data())
def test_keys_of_tiled_ids_decide_as_the_sorting_rule(block: int, repeats: int,
                                                      data: st.DataObject) -> None:
    """The key rule (split/id when an id spans splits) by block comparison equals the rule
    by counting distinct (id, split) pairs."""
    from dashboard.results.constructors import _count_unique, _one_split_per_id, _tiled

    codes = np.tile(np.arange(block), repeats)
    splits = np.array(data.draw(st.lists(st.integers(0, 3), min_size=codes.size,
                                         max_size=codes.size)))
    assert _tiled(codes)
    want = _count_unique(codes * 4 + splits) == _count_unique(codes)
    assert _one_split_per_id(codes, splits) == want
    assert not _tiled(codes[::-1]) or block == 1
