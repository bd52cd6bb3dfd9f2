"""Ids are optional on every engine, and the engines' one-pass id checks agree with memory.

Without an id column the in-memory path keys each example by its row number (among the
labelled rows of a task table, task by task for a wide one) and says so in a note; DuckDB and
Dask give the same keys, the same note and the same numbers, for Parquet and CSV, one model
or several (whose rows then share no example: McNemar says so on every path), with tasks and
training-set sizes. A folder of partitions keys a row by its file and row number.

The uniqueness checks (an id twice in one split for one model; ids that span splits make the
key ``split/id``) are one grouping by the id's hash on the engines: ids drawn from a small pool
are refused, or keyed, exactly as in memory.
"""

from __future__ import annotations

import tempfile
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.errors import DashboardError
from dashboard.results import Results
from tests.test_engines import (
    SETTINGS,
    _weightings,
    assert_same_multitask_and_learning_curves,
    assert_same_tables,
    both,
    dask_client,  # noqa: F401 - the fixture
    dyadic_frames,
    frames_with_metadata,
    outcome,
    results_frames,
    same,
    sized_and_tasked_frames,
    wide_frames,
)

pytest.importorskip("duckdb", reason="pip install duckdb (in the test extra)")

DASK_SETTINGS = settings(max_examples=10, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.data_too_large,
                                                HealthCheck.function_scoped_fixture])
NOTE = "No id column: examples are identified by their row number"


def _no_ids(data: tuple[pd.DataFrame, dict]) -> tuple[pd.DataFrame, dict]:
    frame, options = data
    return frame.drop(columns=["id"]), options


def assert_same_rows(memory: Results, engine: Results) -> None:
    """The engine's sample rows carry the keys and ids the in-memory path gives those rows,
    the same note, and the rows' own values."""
    assert [n for n in engine.schema.notes if n.startswith("No id")] == [
        n for n in memory.schema.notes if n.startswith("No id")]
    assert any(n.startswith(NOTE) for n in memory.schema.notes)
    mine = memory.frame.set_index("key")
    sample = engine.frame.set_index("key")
    assert sample.index.is_unique and set(sample.index) <= set(mine.index)
    cols = [c for c in ("id", "split", "model", "label", "score", "prediction", "task")
            if c in sample.columns]
    got = sample[cols].astype(str)
    want = mine.loc[sample.index, cols].astype(str)
    pd.testing.assert_frame_equal(got, want)


def assert_same_row_views(memory: Results, engine: Results, thresholds: list[float],
                          fraction: float = 0.5, seed: int = 0) -> None:
    """The views that fetch rows by key: eyeball check, suspects, McNemar, equal to memory's."""
    for thr in [0.5, *thresholds[:2]]:
        memory.threshold = engine.threshold = thr
        for split, weighted in product(memory.splits, _weightings(memory)):
            memory.weighted = engine.weighted = weighted
            a = memory.eyeball_check(split, fraction, seed=seed)
            b = engine.eyeball_check(split, fraction, seed=seed)
            same(a, b)
            assert a.attrs == b.attrs
    memory.weighted = engine.weighted = False
    for split in memory.splits:
        for a_model, b_model in product(memory.models, memory.models):
            if a_model != b_model:
                assert outcome(memory.mcnemar, a_model, b_model, split) == outcome(
                    engine.mcnemar, a_model, b_model, split)
        if memory.schema.kind == "binary_score":
            for m in memory.models:
                a = outcome(memory.label_suspects, split, model=m)
                b = outcome(engine.label_suspects, split, model=m)
                if isinstance(a, tuple):
                    assert a == b
                    continue
                same(a, b)


@SETTINGS
@given(data=results_frames().map(_no_ids), fmt=st.sampled_from(["parquet", "csv"]),
       thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=3))
def test_duckdb_without_ids_equals_the_in_memory_path(data, fmt, thresholds) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp), fmt=fmt)
        if opened is None:
            return
        memory, engine = opened
        assert_same_rows(memory, engine)
        assert_same_tables(memory, engine, thresholds)
        assert_same_row_views(memory, engine, thresholds)


@DASK_SETTINGS
@given(data=results_frames().map(_no_ids), fmt=st.sampled_from(["parquet", "csv"]),
       thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=2))
def test_dask_without_ids_equals_the_in_memory_path(dask_client, data, fmt,  # noqa: F811
                                                    thresholds) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp), engine="dask", fmt=fmt,
                      scheduler=dask_client)
        if opened is None:
            return
        memory, engine = opened
        assert_same_rows(memory, engine)
        assert_same_tables(memory, engine, thresholds)
        assert_same_row_views(memory, engine, thresholds)


@SETTINGS
@given(data=dyadic_frames().map(_no_ids))
def test_duckdb_label_suspects_without_ids(data) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp))
        if opened is None:
            return
        memory, engine = opened
        for m, split in product(memory.models, memory.splits):
            a = outcome(memory.label_suspects, split, model=m)
            b = outcome(engine.label_suspects, split, model=m)
            if isinstance(a, tuple):
                assert a == b
                continue
            same(a, b)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.sampled_from([(True, False), (False, True), (True, True)]).flatmap(
    lambda st_: sized_and_tasked_frames(*st_)).map(_no_ids),
       fmt=st.sampled_from(["parquet", "csv"]),
       thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=2))
def test_duckdb_tasks_and_sizes_without_ids(data, fmt, thresholds) -> None:
    """With a task column the key is the position among the labelled rows, as in memory."""
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp), fmt=fmt)
        if opened is None:
            return
        memory, engine = opened
        assert_same_rows(memory, engine)
        assert_same_multitask_and_learning_curves(memory, engine, thresholds)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=wide_frames().map(_no_ids), fmt=st.sampled_from(["parquet", "csv"]),
       thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=2))
def test_duckdb_wide_tables_without_ids(data, fmt, thresholds) -> None:
    """A wide table melted task by task: its rows keyed by their place in the long table."""
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp), fmt=fmt)
        if opened is None:
            return
        memory, engine = opened
        assert_same_rows(memory, engine)
        assert_same_multitask_and_learning_curves(memory, engine, thresholds)


@DASK_SETTINGS
@given(data=st.sampled_from([(True, False), (False, True), (True, True)]).flatmap(
    lambda st_: sized_and_tasked_frames(*st_)).map(_no_ids),
       thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=2))
def test_dask_tasks_and_sizes_without_ids(dask_client, data, thresholds) -> None:  # noqa: F811
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp), engine="dask", scheduler=dask_client)
        if opened is None:
            return
        memory, engine = opened
        assert_same_rows(memory, engine)
        assert_same_multitask_and_learning_curves(memory, engine, thresholds)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=frames_with_metadata().map(_no_ids), bins=st.integers(2, 4))
def test_duckdb_slices_and_their_keys_without_ids(data, bins) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp))
        if opened is None:
            return
        memory, engine = opened
        for m in memory.models:
            a = memory.suggest_slices(model=m, bins=bins)
            same(a, engine.suggest_slices(model=m, bins=bins))
            for name in a["slice"]:
                assert np.array_equal(memory.slice_keys(name, model=m, bins=bins),
                                      engine.slice_keys(name, model=m, bins=bins))


def _parts(tmp_path: Path, frame: pd.DataFrame, fmt: str) -> Path:
    folder = tmp_path / f"parts-{fmt}"
    (folder / "b").mkdir(parents=True)
    halves = [frame.iloc[: len(frame) // 2], frame.iloc[len(frame) // 2:]]
    for path, part in zip([folder / "a.csv", folder / "b" / "c.csv"], halves, strict=True):
        path = path.with_suffix(f".{fmt}")
        part.to_csv(path, index=False) if fmt == "csv" else part.to_parquet(path)
    return folder


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_partitions_without_ids_key_rows_by_file_and_row(dask_client, tmp_path: Path,  # noqa: F811
                                                         fmt: str) -> None:
    """Every engine keys a partition's row ``<file below the folder>:<row>``, with the note;
    the numbers are those of the single file."""
    rng = np.random.default_rng(3)
    n = 120
    frame = pd.DataFrame({"split": np.where(np.arange(n) % 3 == 0, "train", "dev"),
                          "model": np.repeat(["a", "b"], n // 2),
                          "label": rng.integers(0, 2, n), "score": rng.random(n).round(3)})
    frame.to_parquet(tmp_path / "whole.parquet")
    memory = Results.from_file(tmp_path / "whole.parquet")
    folder = _parts(tmp_path, frame, fmt)
    opened = [Results.from_dataset(folder), Results.from_dataset(folder, engine="dask",
                                                                 scheduler=dask_client)]
    keys = {f"{name}.{fmt}:{i}" for name, rows in (("a", range(60)), ("b/c", range(60)))
            for i in rows}
    for engine in opened:
        assert set(engine.frame["key"]) == keys
        assert "No id column: examples are identified by their file and row number" in \
            " ".join(engine.schema.notes)
        row = engine.frame.set_index("key").loc[f"b/c.{fmt}:5"]
        assert float(row["score"]) == float(frame["score"].iloc[65])
        assert_same_tables(memory, engine, [0.3, 0.5])
    same(opened[0].eyeball_check("dev", 0.5), opened[1].eyeball_check("dev", 0.5))


# -- uniqueness: one pass, the same refusals and keys as in memory -------------------------------
@st.composite
def pooled_ids(draw: st.DrawFn) -> tuple[pd.DataFrame, dict]:
    """A results table whose ids come from a small pool (integers or text), so ids repeat
    within a split, across splits, across models and tasks."""
    frame, options = draw(results_frames(hard=False))
    pool = draw(st.integers(2, len(frame) + 2))
    ids = draw(st.lists(st.integers(0, pool), min_size=len(frame), max_size=len(frame)))
    frame["id"] = ids if draw(st.booleans()) else [f"x{i}" for i in ids]
    if draw(st.booleans()):
        frame["task"] = draw(st.lists(st.sampled_from(["car", "bus"]), min_size=len(frame),
                                      max_size=len(frame)))
    return frame, options


def _same_refusal_or_keys(memory_or_error, engine_or_error) -> None:
    if isinstance(memory_or_error, str):
        assert isinstance(engine_or_error, str), engine_or_error
        assert ("appears twice" in memory_or_error) == ("appears twice" in engine_or_error)
        return
    assert not isinstance(engine_or_error, str), engine_or_error
    mine = set(memory_or_error.frame["key"])
    assert set(engine_or_error.frame["key"]) <= mine
    assert all(("/" in k) == ("/" in next(iter(mine))) for k in engine_or_error.frame["key"])


def _open(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except DashboardError as exc:
        return str(exc)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=pooled_ids())
def test_duckdb_id_checks_agree_with_memory(data) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.parquet"
        frame.to_parquet(path)
        memory = _open(Results.from_file, path, **options)
        engine = _open(Results.from_dataset, path, **options)
        _same_refusal_or_keys(memory, engine)
        if isinstance(memory, str) and "appears twice" in memory and \
                frame.duplicated(["id", "split", "model", *(
                    ["task"] if "task" in frame else [])]).sum() == 1:
            assert engine == memory  # one repeat: the same words, file, column and row


@DASK_SETTINGS
@given(data=pooled_ids())
def test_dask_id_checks_agree_with_memory(dask_client, data) -> None:  # noqa: F811
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.parquet"
        frame.to_parquet(path)
        memory = _open(Results.from_file, path, **options)
        engine = _open(Results.from_dataset, path, engine="dask", scheduler=dask_client,
                       **options)
        _same_refusal_or_keys(memory, engine)


@pytest.mark.parametrize("engine_name", ["duckdb", "dask"])
def test_hash_collisions_are_checked_exactly(dask_client, monkeypatch, tmp_path: Path,  # noqa: F811
                                             engine_name: str) -> None:
    """Ids whose hashes collide look repeated (or spanning) in the one pass: the exact check
    on their rows finds no repeat, so nothing is refused and the keys stay plain ids."""
    import dashboard.dask_engine as dask_engine
    import dashboard.engines as engines

    frame = pd.DataFrame({"id": [f"x{i}" for i in range(8)] * 2,
                          "split": ["dev", "train"] * 4 + ["dev", "train"] * 4,
                          "model": ["a"] * 8 + ["b"] * 8, "label": [0, 1] * 8,
                          "score": np.linspace(0, 1, 16)})
    frame.to_parquet(tmp_path / "r.parquet")
    # every id hashes alike: the one pass sees one id with 16 rows in two splits
    original = engines.DuckDBSource.one

    def one(self, query: str):
        return original(self, query.replace("hash(", "0 * hash("))
    monkeypatch.setattr(engines.DuckDBSource, "one", one)
    monkeypatch.setattr(dask_engine.pd.util, "hash_pandas_object",
                        _constant_hash(dask_engine.pd.util.hash_pandas_object))
    options = {"scheduler": dask_client} if engine_name == "dask" else {}
    engine = Results.from_dataset(tmp_path / "r.parquet", engine=engine_name, **options)
    assert set(engine.frame["key"]) == {f"x{i}" for i in range(8)}
    assert not engine._source.agg.keys_with_split


def _constant_hash(original):
    def hashed(obj, *args, **kwargs):
        out = original(obj, *args, **kwargs)
        if not kwargs.get("hash_key") and isinstance(obj, pd.Series) and obj.name == "id":
            return out * 0
        return out
    return hashed
