"""The DuckDB path gives the same tables as the in-memory path, and bad partitions one line.

Each property writes the same generated results to Parquet, opens them with
``Results.from_file`` (pandas, every row held) and ``Results.from_dataset(engine="duckdb")``
(aggregates and a sample), and compares the whole-split tables exactly. Weights are drawn
from dyadic values (0.25, 0.5, 1, 2, 3), whose sums are exact in any order, so exact equality
is the right test: the engine adds weights in its own order.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.errors import DashboardError
from dashboard.results import Results

pytest.importorskip("duckdb", reason="pip install duckdb (in the test extra)")

LABELS = {
    "int": (0, 1),
    "bool": (False, True),
    "str": ("dog", "cat"),
    "pm1": (-1, 1),
}
WEIGHTS = (0.25, 0.5, 1.0, 2.0, 3.0)
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def results_frames(draw: st.DrawFn, hard: bool | None = None) -> tuple[pd.DataFrame, dict]:
    """A long results table (several models over the same ids) and its column options."""
    kind = draw(st.sampled_from(sorted(LABELS)))
    neg, pos = LABELS[kind]
    positive = draw(st.sampled_from([pos, neg]))
    n = draw(st.integers(2, 40))
    n_models = draw(st.integers(1, 3))
    hard = draw(st.booleans()) if hard is None else hard
    weighted = draw(st.booleans())
    float32 = draw(st.booleans())
    coarse = draw(st.booleans())  # few distinct scores: many ties
    splits = draw(st.lists(st.sampled_from(["train", "train_dev", "dev", "test"]),
                           min_size=n, max_size=n))
    splits[draw(st.integers(0, n - 1))] = "dev"
    labels = draw(st.lists(st.sampled_from([neg, pos]), min_size=n, max_size=n))
    weights = draw(st.lists(st.sampled_from(WEIGHTS), min_size=n, max_size=n))
    parts = []
    for m in range(n_models):
        part = {"id": [f"ex{i}" for i in range(n)], "split": splits, "model": f"m{m}",
                "label": labels}
        if hard:
            part["prediction"] = draw(st.lists(st.sampled_from([neg, pos]), min_size=n,
                                               max_size=n))
        else:
            values = (st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 1.0]) if coarse else
                      st.floats(0, 1, allow_nan=False, width=32 if float32 else 64))
            scores = draw(st.lists(values, min_size=n, max_size=n))
            part["score"] = np.asarray(scores, dtype=np.float32 if float32 else np.float64)
        if weighted:
            part["weight"] = weights
        parts.append(pd.DataFrame(part))
    frame = pd.concat(parts, ignore_index=True)
    if kind == "bool":
        frame["label"] = frame["label"].astype(bool)
        if hard:
            frame["prediction"] = frame["prediction"].astype(bool)
    options = {"pos_label": positive} if not hard else {}
    if kind == "str" and hard:
        options = {}
    return frame, options


def outcome(fn, *args, **kwargs):
    """A call's value, or its DashboardError's message: both paths must agree on either."""
    try:
        return fn(*args, **kwargs)
    except DashboardError as exc:
        return ("error", str(exc))
    except KeyError as exc:  # compare_models on a split a model lacks (in memory too)
        return ("KeyError", str(exc))


def same(a, b) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        return
    assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), (a, b)


def both(frame: pd.DataFrame, options: dict, where: Path, engine: str = "duckdb",
         fmt: str = "parquet", **engine_options) -> tuple[Results, Results] | None:
    """Both paths over the same Parquet (or CSV) file; None when both refuse it with the same
    words."""
    path = where / f"results.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    try:
        memory = Results.from_file(path, **options)
    except DashboardError as exc:
        with pytest.raises(DashboardError) as refused:
            Results.from_dataset(path, engine=engine, **options, **engine_options)
        assert "\n" not in str(refused.value)
        # the same words (lists of values may come in another order)
        assert str(exc).rsplit("): ", 1)[-1].split("(")[0] in str(refused.value)
        return None
    return memory, Results.from_dataset(path, engine=engine, **options, **engine_options)


def _weightings(r: Results) -> list[bool]:
    """Both views of a file with weights (unweighted, weighted); one without weights."""
    return [False, True] if r.schema.has_weight else [False]


def assert_same_tables(memory: Results, engine: Results, thresholds: list[float]) -> None:
    assert engine.engine in ("duckdb", "dask")
    assert engine.models == memory.models
    assert engine.splits == memory.splits
    assert engine.classes == memory.classes
    for weighted in _weightings(memory):
        memory.weighted = engine.weighted = weighted
        for m in memory.models:
            assert engine.split_sizes(m) == memory.split_sizes(m)
            for thr in [0.5, *thresholds]:
                same(memory.error_rates(m, threshold=thr), engine.error_rates(m, threshold=thr))
                same(memory.gaps(m, threshold=thr), engine.gaps(m, threshold=thr))
            for split in memory.splits:
                same(outcome(memory.class_f1, split, m), outcome(engine.class_f1, split, m))
                if not memory.has_scores:
                    continue
                a, b = outcome(memory.curve, split, m), outcome(engine.curve, split, m)
                if isinstance(a, tuple):
                    assert a == b
                    continue
                same(a.to_frame(), b.to_frame())
                for thr in thresholds:
                    same(memory.operating_point(split, thr, m),
                         engine.operating_point(split, thr, m))
                for optimize in ("f1", "accuracy", "recall"):
                    same(memory.best_threshold(split, optimize, model=m),
                         engine.best_threshold(split, optimize, model=m))
                # calibration and ROC come from the same counts: the same tables
                same(memory.roc(split, model=m), engine.roc(split, model=m))
                assert memory.roc(split, model=m).attrs == engine.roc(split, model=m).attrs
                cal = outcome(memory.calibration, split, 4, model=m)
                same(cal, outcome(engine.calibration, split, 4, model=m))
        for split in memory.splits:
            a = outcome(memory.compare_models, split)
            b = outcome(engine.compare_models, split)
            if isinstance(a, tuple):
                assert a == b
                continue
            same(a, b)
            assert a.attrs.get("mcnemar") == b.attrs.get("mcnemar")
            assert a.attrs.get("chosen") == b.attrs.get("chosen")


@SETTINGS
@given(data=results_frames(), thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=4))
def test_duckdb_tables_equal_the_in_memory_tables(data, thresholds) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp))
        if opened is None:
            return
        memory, engine = opened
        # thresholds on the scores themselves, where ties and float32 rounding bite
        if "score" in frame:
            thresholds = thresholds + [float(v) for v in frame["score"].iloc[:3]]
        assert_same_tables(memory, engine, thresholds)


@SETTINGS
@given(data=results_frames(hard=False), shift=st.integers(0, 3))
def test_threshold_moves_never_touch_the_engine(data, shift) -> None:
    """After the first tables, a threshold sweep only does binary searches on built curves."""
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp))
        if opened is None:
            return
        engine = opened[1]
        engine.error_rates()
        builds = engine.curve_builds
        engine._source.agg.engine.con.close()  # any query now would fail
        for thr in np.linspace(0, 1, 7)[shift:]:
            engine.threshold = float(thr)
            engine.error_rates()
            engine.gaps()
        assert engine.curve_builds == builds


@SETTINGS
@given(data=results_frames(hard=False), step=st.sampled_from([0.1, 0.01]))
def test_a_grid_is_exact_at_its_points(data, step) -> None:
    """Past the distinct-score limit the scores go on a grid; a threshold on a grid point
    gives the in-memory counts, and the results say the grid was used."""
    frame, options = data
    frame = frame.assign(score=(np.floor(frame["score"].to_numpy(np.float64) * 1000)
                                / 1000).astype(frame["score"].dtype))
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp), distinct_limit=0, grid=step)
        if opened is None:
            return
        memory, engine = opened
        assert engine.gridded and set(engine.gridded.values()) == {step}
        assert any("grid" in note for note in engine.schema.notes)
        points = [k / round(1 / step) for k in range(round(1 / step) + 1)]
        for m in memory.models:
            for thr in points:
                same(memory.error_rates(m, threshold=thr), engine.error_rates(m, threshold=thr))


def test_every_kind_of_label_and_positive_class_is_read_alike(tmp_path: Path) -> None:
    """One fixed case per label kind, so a regression names the kind."""
    rng = np.random.default_rng(3)
    for kind, (neg, pos) in LABELS.items():
        for positive in (pos, neg):
            n = 200
            frame = pd.DataFrame({
                "id": np.arange(n).astype(str), "split": rng.choice(["train", "dev"], n),
                "label": np.where(rng.random(n) < 0.4, pos, neg).astype(
                    bool if kind == "bool" else object if kind == "str" else np.int64),
                "score": rng.random(n).astype(np.float32)})
            memory, engine = both(frame, {"pos_label": positive}, tmp_path)  # type: ignore
            assert engine.schema.pos_label == memory.schema.pos_label
            assert_same_tables(memory, engine, [0.3, 0.5, 0.9])


# -- partitions and globs ----------------------------------------------------------------------
def _partitioned(tmp_path: Path, frame: pd.DataFrame, parts: int = 3) -> Path:
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(parts):
        frame.iloc[i::parts].to_parquet(folder / f"part-{i}.parquet")
    return folder


def _demo_like(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = pd.DataFrame({"id": [f"x{i}" for i in range(n)],
                         "split": rng.choice(["train", "train_dev", "dev", "test"], n),
                         "label": rng.integers(0, 2, n),
                         "weight": rng.choice(WEIGHTS, n)})
    return pd.concat([base.assign(model=m, score=rng.random(n).round(3))
                      for m in ("A", "B")], ignore_index=True)


def test_a_folder_of_partitions_equals_the_single_file(tmp_path: Path) -> None:
    frame = _demo_like()
    frame.to_parquet(tmp_path / "whole.parquet")
    memory = Results.from_file(tmp_path / "whole.parquet")
    folder = _partitioned(tmp_path, frame)
    engine = Results.from_dataset(folder)
    assert_same_tables(memory, engine, [0.2, 0.5, 0.77])
    globbed = Results.from_dataset(str(folder / "part-*.parquet"))
    assert_same_tables(memory, globbed, [0.5])
    assert globbed.fingerprint == engine.fingerprint


def test_csv_and_parquet_give_the_same_tables(tmp_path: Path) -> None:
    frame = _demo_like(300, seed=1)
    frame.to_csv(tmp_path / "r.csv", index=False)
    memory = Results.from_file(tmp_path / "r.csv")
    engine = Results.from_dataset(tmp_path / "r.csv")
    assert_same_tables(memory, engine, [0.25, 0.5])


def test_the_sample_holds_the_misclassified_rows_for_the_tally(tmp_path: Path) -> None:
    frame = _demo_like(400, seed=2)
    frame.to_parquet(tmp_path / "r.parquet")
    memory = Results.from_file(tmp_path / "r.parquet")
    engine = Results.from_dataset(tmp_path / "r.parquet")
    wrong_memory = set(memory.review_rows("dev")["key"])
    wrong_engine = set(engine.review_rows("dev")["key"])
    assert wrong_engine == wrong_memory  # small data: the sample bound is not reached
    key = sorted(wrong_engine)[0]
    for r in (memory, engine):
        r.set_tag(key, "incorrectly labelled", True)
    same(memory.tally("dev"), engine.tally("dev"))


def test_the_sample_is_bounded(tmp_path: Path) -> None:
    frame = _demo_like(3000, seed=4)
    frame.to_parquet(tmp_path / "r.parquet")
    from dashboard.engines import aggregate
    agg = aggregate(tmp_path / "r.parquet", sample_errors=50, sample_random=20)
    examples = agg.sample["id"].nunique()
    n_splits = len(agg.sizes.index.get_level_values("split").unique())
    # errors per split, random, one per small group
    assert examples <= 50 * n_splits + 20 + len(agg.sizes) * 2 * 2
    assert examples < frame["id"].nunique()
    assert agg.rows == len(frame)


# -- bad input: one line naming the file, the column and the row -------------------------------
def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_a_partition_missing_a_column_is_named(tmp_path: Path) -> None:
    folder = _partitioned(tmp_path, _demo_like())
    pd.read_parquet(folder / "part-1.parquet").drop(columns=["score"]).to_parquet(
        folder / "part-1.parquet")
    with pytest.raises(DashboardError) as exc:
        Results.from_dataset(folder)
    text = _one_line(exc)
    assert "part-1.parquet" in text and "'score'" in text and "missing column" in text


def test_mixed_types_across_partitions_are_named(tmp_path: Path) -> None:
    folder = _partitioned(tmp_path, _demo_like())
    part = pd.read_parquet(folder / "part-2.parquet")
    part.assign(label=part["label"].map({0: "no", 1: "yes"})).to_parquet(
        folder / "part-2.parquet")
    with pytest.raises(DashboardError) as exc:
        Results.from_dataset(folder)
    text = _one_line(exc)
    assert "part-2.parquet" in text and "'label'" in text and "VARCHAR" in text


def test_a_missing_file_or_empty_glob_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DashboardError) as exc:
        Results.from_dataset(tmp_path / "nope.parquet")
    assert "nope.parquet" in _one_line(exc) and "not found" in str(exc.value)
    with pytest.raises(DashboardError) as exc:
        Results.from_dataset(str(tmp_path / "none-*.parquet"))
    assert "no file matches" in _one_line(exc)


@pytest.mark.parametrize(("change", "column", "words"), [
    (lambda f: f.assign(score=f["score"].where(f.index != 5)), "score", "missing (NaN)"),
    (lambda f: f.assign(score=f["score"].where(f.index != 5, 1.5)), "score", "outside [0, 1]"),
    (lambda f: f.assign(split=f["split"].where(f.index != 5, "holdout?")), "split",
     "unknown split"),
    (lambda f: f.assign(id=f["id"].where(f.index != 5, f["id"].iloc[6])).assign(
        split=f["split"].where(f.index != 5, f["split"].iloc[6])), "id", "appears twice"),
    (lambda f: f.assign(weight=f["weight"].where(f.index != 5, -1.0)), "weight",
     "negative weight"),
])
def test_bad_values_name_the_file_column_and_row(tmp_path: Path, change, column, words) -> None:
    frame = change(_demo_like(50))
    folder = _partitioned(tmp_path, frame, parts=1)
    with pytest.raises(DashboardError) as exc:
        Results.from_dataset(folder)
    text = _one_line(exc)
    assert "part-0.parquet" in text and f"column {column!r}" in text and words in text
    assert "row 6" in text or "row 7" in text  # the 1-based file row of the changed value


def test_unknown_engine_and_pandas_engine(tmp_path: Path) -> None:
    _demo_like(40).to_parquet(tmp_path / "r.parquet")
    with pytest.raises(DashboardError, match="unknown engine"):
        Results.from_dataset(tmp_path / "r.parquet", engine="spark")
    plain = Results.from_dataset(tmp_path / "r.parquet", engine="pandas")
    assert type(plain) is Results


# -- the command line and the served app ---------------------------------------------------------
def test_report_reads_a_folder_with_the_duckdb_engine(tmp_path: Path, capsys) -> None:
    from dashboard.cli import main

    folder = _partitioned(tmp_path, _demo_like(300, seed=5))
    out = tmp_path / "diagnosis.html"
    assert main(["report", str(folder), "--engine", "duckdb", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Computed by DuckDB from 3 file(s), 600 rows" in printed  # 300 ids x 2 models
    assert "Computed by DuckDB" in out.read_text()
    # by default (--engine auto) a folder is read through DuckDB, and the launcher says so
    assert main(["report", str(folder), "-o", str(out)]) == 0
    assert "a folder of partitions is read through DuckDB" in capsys.readouterr().out
    # pandas cannot read partitions: one line saying which engine to use
    assert main(["report", str(folder), "--engine", "pandas", "-o", str(out)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--engine duckdb" in err and str(folder) in err


def test_the_served_app_follows_the_engine_variable(tmp_path: Path) -> None:
    from dashboard.app import DashboardApp, app_from_environment
    from dashboard.serve import ENV_ENGINE, dashboard_env

    folder = _partitioned(tmp_path, _demo_like(200, seed=6))
    env = dashboard_env(folder, engine="duckdb", store=tmp_path / "a.sqlite")
    assert env[ENV_ENGINE] == "duckdb"
    app = app_from_environment(env, defer=False)
    assert isinstance(app, DashboardApp)
    assert app.dashboard.results.engine == "duckdb"
    assert ENV_ENGINE not in dashboard_env(folder, engine="pandas")
    # without the variable a folder is not a results file: a message, not a traceback
    plain = app_from_environment(dashboard_env(folder), defer=False)
    assert not isinstance(plain, DashboardApp)


def test_ids_repeated_across_splits_key_examples_by_split(tmp_path: Path) -> None:
    """The same id in train and dev names two examples (key split/id), as in memory; an id
    twice in one split is still refused when ids span splits."""
    frame = _demo_like(200, seed=7)
    frame["id"] = [f"x{i % 150}" for i in range(len(frame))]  # ids repeat, in other splits
    frame["split"] = np.where(np.arange(len(frame)) % 200 < 150, "dev", "train")
    memory, engine = both(frame, {}, tmp_path)  # type: ignore[misc]
    assert set(engine.frame["key"]) <= set(memory.frame["key"])
    assert all("/" in k for k in engine.frame["key"])
    assert_same_tables(memory, engine, [0.4])
    bad = frame.copy()
    bad.loc[1, "id"] = bad.loc[0, "id"]
    folder = _partitioned(tmp_path, bad, parts=1)
    with pytest.raises(DashboardError, match="appears twice in split 'dev'"):
        Results.from_dataset(folder)


# -- the Dask engine: the same tables, on a distributed cluster of two workers ----------------
@contextmanager
def _dask_cluster() -> Iterator[Any]:
    """A client of an in-process cluster of two workers. The clients the engine opened from
    the scheduler's address close before the cluster does: the engine leaves them to its
    results, and past the cluster each would retry it for a while with a random back-off."""
    pytest.importorskip("dask.dataframe", reason="pip install 'dask[dataframe]' (test extra)")
    distributed = pytest.importorskip("distributed", reason="pip install distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        try:
            yield client
        finally:
            address = client.scheduler.address
            for other in list(distributed.Client._instances):
                if other is not client and other.status != "closed" and \
                        getattr(other.scheduler, "address", None) == address:
                    other.close()


@pytest.fixture(scope="module")
def dask_client():
    with _dask_cluster() as client:
        yield client


def test_a_client_the_engine_opens_closes_with_the_test_cluster(tmp_path: Path) -> None:
    """Given a scheduler address the engine opens its own Client. Left open past its
    cluster, that client retries the scheduler for SCHEDULER_CONNECT_S seconds from its own
    thread with a random back-off (the global ``random``): the next module's Hypothesis test
    then sees ``random`` change under its strategy and warns. The test cluster closes it."""
    import distributed

    folder = _partitioned(tmp_path, _demo_like(60, seed=4))
    with _dask_cluster() as client:
        Results.from_dataset(folder, engine="dask", scheduler=client.scheduler.address)
        opened = [c for c in distributed.Client._instances if c is not client]
        assert len(opened) == 1
    assert opened[0].status == "closed"
    state = random.getstate()
    time.sleep(2)  # the back-off's first retries fall within this
    assert random.getstate() == state


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=results_frames(), thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=3))
def test_dask_tables_equal_the_in_memory_tables(dask_client, data, thresholds) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp), engine="dask", scheduler=dask_client)
        if opened is None:
            return
        memory, engine = opened
        if "score" in frame:
            thresholds = thresholds + [float(v) for v in frame["score"].iloc[:2]]
        assert_same_tables(memory, engine, thresholds)


def test_dask_partitions_on_a_cluster_address(dask_client, tmp_path: Path) -> None:
    frame = _demo_like(400, seed=8)
    frame.to_parquet(tmp_path / "whole.parquet")
    memory = Results.from_file(tmp_path / "whole.parquet")
    folder = _partitioned(tmp_path, frame)
    engine = Results.from_dataset(folder, engine="dask",
                                  scheduler=dask_client.scheduler.address)
    assert "Computed by Dask from 3 file(s)" in " ".join(engine.engine_notes)
    assert_same_tables(memory, engine, [0.3, 0.5])
    duck = Results.from_dataset(folder, engine="duckdb")
    assert set(engine.frame["key"]) == set(duck.frame["key"])  # the same sample, by id
    grid = Results.from_dataset(folder, engine="dask", scheduler=dask_client,
                                distinct_limit=0, grid=0.01)
    duck_grid = Results.from_dataset(folder, distinct_limit=0, grid=0.01)
    for thr in (0.2, 0.5, 0.73):
        same(grid.error_rates(threshold=thr), duck_grid.error_rates(threshold=thr))


def test_dask_bad_partitions_are_one_line(dask_client, tmp_path: Path) -> None:
    folder = _partitioned(tmp_path, _demo_like())
    part = pd.read_parquet(folder / "part-2.parquet")
    part.assign(score=part["score"].where(part.index != part.index[3])).to_parquet(
        folder / "part-2.parquet")
    with pytest.raises(DashboardError) as exc:
        Results.from_dataset(folder, engine="dask", scheduler=dask_client)
    text = _one_line(exc)
    assert "part-2.parquet" in text and "column 'score'" in text and "row 4" in text
    pd.read_parquet(folder / "part-1.parquet").drop(columns=["label"]).to_parquet(
        folder / "part-1.parquet")
    with pytest.raises(DashboardError) as exc:
        Results.from_dataset(folder, engine="dask", scheduler=dask_client)
    assert "part-1.parquet" in _one_line(exc) and "'label'" in str(exc.value)


def test_report_with_the_dask_engine_and_a_scheduler(dask_client, tmp_path: Path,
                                                     capsys) -> None:
    from dashboard.cli import main

    folder = _partitioned(tmp_path, _demo_like(200, seed=9))
    out = tmp_path / "d.html"
    assert main(["report", str(folder), "--engine", "dask", "--scheduler",
                 dask_client.scheduler.address, "-o", str(out)]) == 0
    assert "Computed by Dask from 3 file(s)" in capsys.readouterr().out
    assert main(["report", str(folder), "--engine", "duckdb", "--scheduler", "tcp://x:1",
                 "-o", str(out)]) != 0
    assert "--scheduler is for --engine dask" in capsys.readouterr().err


def test_the_package_imports_without_the_engines(tmp_path: Path) -> None:
    """DuckDB and Dask are optional: the package imports without them, and asking for the
    DuckDB engine then says what to install, in one line."""
    import subprocess
    import sys

    _demo_like(20).to_parquet(tmp_path / "r.parquet")
    code = ("import sys; sys.modules['duckdb'] = None; sys.modules['dask'] = None\n"
            "import dashboard.app, dashboard.report\n"
            "from dashboard.results import Results\n"
            "from dashboard.errors import DashboardError\n"
            f"Results.from_file({str(tmp_path / 'r.parquet')!r})\n"
            "try:\n"
            f"    Results.from_dataset({str(tmp_path / 'r.parquet')!r})\n"
            "except DashboardError as exc:\n"
            "    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert "needs the duckdb package" in done.stdout


def test_the_tally_grid_says_it_draws_from_the_engines_sample(tmp_path: Path) -> None:
    from dashboard.widgets.tally_grid import TallyGrid

    frame = _demo_like(3000, seed=10)
    frame.to_parquet(tmp_path / "r.parquet")
    from dashboard.engines import aggregate

    agg = aggregate(tmp_path / "r.parquet", sample_errors=40, sample_random=10)
    r = Results.from_aggregates(agg)
    grid = TallyGrid(r, store=tmp_path / "s.sqlite")
    errors = int(Results.from_file(tmp_path / "r.parquet").error_rates(
        r.model, weighted=False).loc["dev", "errors"])
    assert f"in the engine's sample ({errors:,} in the split)" in grid._summary.value
    assert len(r.review_rows("dev")) < errors  # the sample is smaller than the split


def test_csv_ids_are_text_as_in_memory(tmp_path: Path) -> None:
    """A CSV's ids keep their text ("3.50", not 3.5), as the pandas path reads them."""
    frame = _demo_like(120, seed=11)
    frame["id"] = [f"{i % 120}.50" for i in range(len(frame))]
    frame.to_csv(tmp_path / "r.csv", index=False)
    memory = Results.from_file(tmp_path / "r.csv")
    engine = Results.from_dataset(tmp_path / "r.csv")
    assert set(engine.frame["key"]) == set(memory.frame["key"])
    assert "2.50" in set(engine.frame["key"])
    assert engine.fingerprint == Results.from_dataset(tmp_path / "r.csv").fingerprint


# -- per-class probabilities (multiclass): one-vs-rest curves and the argmax -------------------
@st.composite
def multiclass_frames(draw: st.DrawFn) -> pd.DataFrame:
    k = draw(st.integers(3, 4))
    classes = draw(st.sampled_from([list(range(k)), ["bird", "cat", "dog", "eel"][:k]]))
    n = draw(st.integers(3, 30))
    float32 = draw(st.booleans())
    coarse = draw(st.booleans())  # ties, so the first maximum decides the argmax
    splits = draw(st.lists(st.sampled_from(["train", "dev", "test"]), min_size=n, max_size=n))
    splits[0] = "dev"
    labels = draw(st.lists(st.sampled_from(classes), min_size=n, max_size=n))
    weights = draw(st.lists(st.sampled_from(WEIGHTS), min_size=n, max_size=n))
    parts = []
    for m in range(draw(st.integers(1, 2))):
        part = {"id": [f"e{i}" for i in range(n)], "split": splits, "model": f"m{m}",
                "label": labels, "weight": weights}
        for c in classes:
            values = (st.sampled_from([0.0, 0.2, 0.5, 1.0]) if coarse else
                      st.floats(0, 1, allow_nan=False, width=32 if float32 else 64))
            part[f"proba_{c}"] = np.asarray(draw(st.lists(values, min_size=n, max_size=n)),
                                            dtype=np.float32 if float32 else np.float64)
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


@SETTINGS
@given(frame=multiclass_frames(), thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=3))
def test_duckdb_multiclass_tables_equal_the_in_memory_tables(frame, thresholds) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, {}, Path(tmp))
        if opened is None:
            return
        memory, engine = opened
        assert engine.schema.kind == memory.schema.kind == "multiclass_proba"
        assert_same_tables(memory, engine, thresholds)
        for weighted in (False, True):
            memory.weighted = engine.weighted = weighted
            for m in memory.models:
                for split in memory.splits:
                    for c in memory.classes:
                        a = outcome(memory.curve, split, m, positive_class=c)
                        b = outcome(engine.curve, split, m, positive_class=c)
                        if isinstance(a, tuple):
                            assert a == b
                            continue
                        same(a.to_frame(), b.to_frame())
                        for thr in thresholds:
                            same(a.at(thr), b.at(thr))


# -- CSV on the Dask engine: read whole per file by pandas, ids as text --------------------------
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=results_frames(), thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=3))
def test_dask_csv_tables_equal_the_in_memory_tables(dask_client, data, thresholds) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp), engine="dask", fmt="csv",
                      scheduler=dask_client)
        if opened is None:
            return
        memory, engine = opened
        if "score" in frame:
            thresholds = thresholds + [float(v) for v in memory.frame["score"].iloc[:2]]
        assert_same_tables(memory, engine, thresholds)


def test_dask_csv_partitions_equal_duckdb_and_keep_text_ids(dask_client, tmp_path: Path) -> None:
    frame = _demo_like(300, seed=12)
    frame["id"] = [f"{i % 300}.50" for i in range(len(frame))]
    frame.to_csv(tmp_path / "whole.csv", index=False)
    memory = Results.from_file(tmp_path / "whole.csv")
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        frame.iloc[i::3].to_csv(folder / f"part-{i}.csv", index=False)
    engine = Results.from_dataset(folder, engine="dask", scheduler=dask_client)
    assert "Computed by Dask from 3 file(s)" in " ".join(engine.engine_notes)
    assert_same_tables(memory, engine, [0.3, 0.5])
    assert "2.50" in set(engine.frame["key"])
    duck = Results.from_dataset(folder, engine="duckdb")
    assert set(engine.frame["key"]) == set(duck.frame["key"])
    assert engine.fingerprint == Results.from_dataset(folder, engine="dask",
                                                      scheduler=dask_client).fingerprint


@pytest.mark.parametrize(("change", "column", "words"), [
    (lambda f: f.assign(score=f["score"].where(f.index != 5)), "score", "missing (NaN)"),
    (lambda f: f.assign(score=f["score"].where(f.index != 5, 1.5)), "score", "outside [0, 1]"),
    (lambda f: f.assign(split=f["split"].where(f.index != 5, "holdout?")), "split",
     "unknown split"),
    (lambda f: f.assign(weight=f["weight"].where(f.index != 5, -1.0)), "weight",
     "negative weight"),
    (lambda f: f.assign(score=f["score"].astype(str).where(f.index != 5, "abc")), "score",
     "must be numbers"),
    (lambda f: f.drop(columns=["label"]), "label", "missing label column"),
])
def test_dask_bad_csv_is_one_line_as_on_duckdb(dask_client, tmp_path: Path, change, column,
                                              words) -> None:
    change(_demo_like(50)).to_csv(tmp_path / "r.csv", index=False)
    said = []
    for engine in ("duckdb", "dask"):
        with pytest.raises(DashboardError) as exc:
            Results.from_dataset(tmp_path / "r.csv", engine=engine, scheduler=dask_client
                                 if engine == "dask" else None)
        text = _one_line(exc)
        assert "r.csv" in text and f"column {column!r}" in text and words in text, text
        said.append(text)
    if column != "split":  # Dask names the row of a bad split without its id
        assert said[0] == said[1]
    else:
        assert "row 6" in said[1]


# -- learning curves (a train_size column) and multi-task results (a task column) ---------------
@st.composite
def sized_and_tasked_frames(draw: st.DrawFn, sizes: bool, tasks: bool
                            ) -> tuple[pd.DataFrame, dict]:
    """A results table repeated per training-set size and/or task, outputs shuffled per copy;
    some labels left empty per task (not labelled), some model without the largest size."""
    frame, options = draw(results_frames())
    size_values = (draw(st.lists(st.sampled_from([10, 50, 200, 1000]), min_size=1, max_size=3,
                                 unique=True)) if sizes else [None])
    task_names = (draw(st.lists(st.sampled_from(["car", "bike", "bus"]), min_size=1,
                                max_size=3, unique=True)) if tasks else [None])
    parts = []
    for z in size_values:
        for t in task_names:
            part = frame.copy()
            perm = np.asarray(draw(st.permutations(range(len(part)))))
            for col in ("score", "prediction"):
                if col in part:
                    part[col] = part[col].to_numpy()[perm]
            if z is not None:
                part["train_size"] = z
            if t is not None:
                part["task"] = t
                hidden = draw(st.lists(st.booleans(), min_size=len(part), max_size=len(part)))
                dev = (part["split"] == "dev").to_numpy()
                keep = dev & (part["id"] == part["id"][dev].iloc[0]).to_numpy()
                hidden = list(np.asarray(hidden) & ~keep)  # each model keeps a labelled dev row
                if any(hidden):
                    part["label"] = part["label"].astype(object).where(~np.asarray(hidden))
            parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    if sizes and len(size_values) > 1 and draw(st.booleans()):  # m0 lacks the largest size
        table = table[~((table["model"] == "m0")
                        & (table["train_size"] == max(size_values)))].reset_index(drop=True)
    return table, options


def assert_same_multitask_and_learning_curves(memory: Results, engine: Results,
                                              thresholds: list[float]) -> None:
    assert engine.tasks == memory.tasks
    assert engine.train_sizes == memory.train_sizes
    assert engine.rows_total == memory.rows_total
    assert engine.schema.unlabelled == memory.schema.unlabelled
    for task in memory.tasks or [""]:
        if task:
            memory.task = engine.task = task
        assert_same_tables(memory, engine, thresholds)
    if memory.tasks:
        for thr in thresholds[:2]:
            memory.threshold = engine.threshold = thr
            memory.weighted = engine.weighted = False
            a, b = outcome(memory.task_overview), outcome(engine.task_overview)
            if isinstance(a, tuple):
                assert a == b
                continue
            same(a, b)
            assert a.attrs == b.attrs
    if memory.train_sizes:
        for task, weighted in product(memory.tasks or [""], _weightings(memory)):
            memory.task = engine.task = task  # each task's own curve (they were pooled)
            memory.weighted = engine.weighted = weighted
            for m in memory.models:
                for thr in thresholds:
                    memory.threshold = engine.threshold = thr
                    a = memory.learning_curve(m)
                    b = engine.learning_curve(m)
                    same(a, b)
                    assert a.attrs == b.attrs


@SETTINGS
@given(data=st.booleans().flatmap(lambda sizes: sized_and_tasked_frames(sizes, not sizes)
                                  if sizes else sized_and_tasked_frames(False, True)),
       thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=3))
def test_duckdb_learning_curves_and_tasks_equal_the_in_memory_ones(data, thresholds) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp))
        if opened is None:
            return
        memory, engine = opened
        assert_same_multitask_and_learning_curves(memory, engine, thresholds)
        if memory.train_sizes:  # learning curves at a new threshold: no engine query
            engine._source.agg.engine.con.close()
            for thr in (0.25, 0.75):
                memory.threshold = engine.threshold = thr
                for m in memory.models:
                    same(memory.learning_curve(m), engine.learning_curve(m))


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=sized_and_tasked_frames(True, True),
       thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=2))
def test_duckdb_tasks_at_several_training_sizes(data, thresholds) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp))
        if opened is None:
            return
        assert_same_multitask_and_learning_curves(*opened, thresholds)


@pytest.mark.parametrize(("change", "column", "words"), [
    (lambda f: f.assign(train_size=np.where(f.index == 5, -3, 100)), "train_size",
     "not a positive count"),
    (lambda f: f.assign(train_size=np.where(f.index == 5, np.nan, 100)), "train_size",
     "missing (NaN)"),
    (lambda f: f.assign(task=np.where(f.index == 5, None, "car")), "task", "missing task name"),
    (lambda f: f.assign(task="car", id=f["id"].where(f.index != 5, f["id"].iloc[6])).assign(
        split=f["split"].where(f.index != 5, f["split"].iloc[6])), "id", "task 'car'"),
])
def test_bad_sizes_and_tasks_are_one_line(tmp_path: Path, change, column, words) -> None:
    change(_demo_like(50)).to_parquet(tmp_path / "r.parquet")
    with pytest.raises(DashboardError) as memory:
        Results.from_file(tmp_path / "r.parquet")
    with pytest.raises(DashboardError) as exc:
        Results.from_dataset(tmp_path / "r.parquet")
    text = _one_line(exc)
    assert f"column {column!r}" in text and words in text and words in str(memory.value), text
    assert "row 6" in text or "row 7" in text


def _hard(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.drop(columns=["score"]).assign(prediction=frame["label"])
    out.loc[30, "prediction"] = 7
    return out


@pytest.mark.parametrize(("change", "options", "words"), [
    (lambda f: f.assign(label=np.where(f.index == 30, 2, f["label"])), {},
     "labels have 3 classes"),
    (lambda f: f.assign(label=np.where(f.index == 30, 2, f["label"])), {"classes": [0, 1]},
     "label 2 is not one of the declared classes"),
    (_hard, {}, "prediction 7 is not one of the classes"),
])
@pytest.mark.parametrize("layout", ["parquet", "csv", "partitions"])
def test_a_class_error_names_the_file_row_not_a_skeleton_row(tmp_path: Path, change, options,
                                                             words, layout) -> None:
    """A label or prediction the class skeleton refuses (one odd value at file row 31, id
    x30) is named at that row of the file, as in memory; in a folder, at its partition's
    row (part-0 holds every third row: x30 is its 11th)."""
    frame = change(_demo_like(50))
    frame.to_parquet(tmp_path / "r.parquet")
    with pytest.raises(DashboardError) as memory:
        Results.from_file(tmp_path / "r.parquet", **options)
    assert words in str(memory.value) and "row 31 (id 'x30')" in str(memory.value)
    if layout == "parquet":
        source = tmp_path / "r.parquet"
    elif layout == "csv":
        source = tmp_path / "r.csv"
        frame.to_csv(source, index=False)
    else:
        source = _partitioned(tmp_path, frame)
    with pytest.raises(DashboardError) as exc:
        Results.from_dataset(source, engine="duckdb", **options)
    text = _one_line(exc)
    if layout == "partitions":
        assert str(source / "part-0.parquet") in text and "row 11 (id 'x30')" in text, text
        assert str(memory.value).split(": ", 1)[1] == text.split(": ", 1)[1]
    else:
        assert text == str(memory.value).replace("r.parquet", source.name)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.sampled_from([(True, False), (False, True), (True, True)]).flatmap(
    lambda kinds: sized_and_tasked_frames(*kinds)),
       thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=2))
def test_dask_learning_curves_and_tasks_equal_the_in_memory_ones(dask_client, data,
                                                                  thresholds) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp), engine="dask", scheduler=dask_client)
        if opened is None:
            return
        assert_same_multitask_and_learning_curves(*opened, thresholds)


@pytest.mark.parametrize(("change", "column", "words"), [
    (lambda f: f.assign(train_size=np.where(f.index == 5, -3, 100)), "train_size",
     "not a positive count"),
    (lambda f: f.assign(task=np.where(f.index == 5, None, "car")), "task", "missing task name"),
])
def test_dask_bad_sizes_and_tasks_are_one_line(dask_client, tmp_path: Path, change, column,
                                               words) -> None:
    change(_demo_like(50)).to_parquet(tmp_path / "r.parquet")
    with pytest.raises(DashboardError) as exc:
        Results.from_dataset(tmp_path / "r.parquet", engine="dask", scheduler=dask_client)
    text = _one_line(exc)
    assert f"column {column!r}" in text and words in text and "row 6" in text, text


@st.composite
def wide_frames(draw: st.DrawFn) -> tuple[pd.DataFrame, dict]:
    """A wide multi-task table: label_<task> with score_<task> (or prediction_<task>) per task,
    the outputs and labels shuffled per task, some labels empty (not labelled)."""
    frame, options = draw(results_frames())
    output = "score" if "score" in frame else "prediction"
    wide = frame.drop(columns=["label", output])
    dev = (frame["split"] == "dev").to_numpy()
    keep = dev & (frame["id"] == frame["id"][dev].iloc[0]).to_numpy()
    for t in draw(st.lists(st.sampled_from(["car", "bike", "bus"]), min_size=1, max_size=3,
                           unique=True)):
        perm = np.asarray(draw(st.permutations(range(len(frame)))))
        hidden = np.asarray(draw(st.lists(st.booleans(), min_size=len(frame),
                                          max_size=len(frame)))) & ~keep
        labels = frame["label"].to_numpy()[perm]
        wide[f"label_{t}"] = (pd.Series(labels, dtype=object).where(~hidden).to_numpy()
                              if hidden.any() else labels)
        wide[f"{output}_{t}"] = frame[output].to_numpy()[perm]
    return wide, options


@SETTINGS
@given(data=wide_frames(), thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=2))
def test_duckdb_wide_multitask_tables_equal_the_in_memory_ones(data, thresholds) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp))
        if opened is None:
            return
        memory, engine = opened
        assert [n for n in engine.schema.notes if "wide" in n] == [
            n for n in memory.schema.notes if "wide" in n]
        assert_same_multitask_and_learning_curves(memory, engine, thresholds)


def test_dask_refuses_wide_multitask_tables_in_one_line(dask_client, tmp_path: Path) -> None:
    pd.DataFrame({"id": ["a", "b"], "split": "dev", "label_car": [0, 1],
                  "score_car": [0.2, 0.7]}).to_parquet(tmp_path / "w.parquet")
    with pytest.raises(DashboardError) as exc:
        Results.from_dataset(tmp_path / "w.parquet", engine="dask", scheduler=dask_client)
    assert "wide multi-task tables" in _one_line(exc) and "engine='duckdb'" in str(exc.value)


# -- metadata slices: the engine groups rows by slice cell, label and score ---------------------
@st.composite
def frames_with_metadata(draw: st.DrawFn) -> tuple[pd.DataFrame, dict]:
    """A results table with metadata per example: text (some empty), a few integers,
    continuous numbers (some NaN) and True/False (some empty), so categorical levels, values
    and quantile bins all occur."""
    frame, options = draw(results_frames())
    ids = sorted(set(frame["id"]))
    n = len(ids)
    text = draw(st.lists(st.sampled_from(["ios", "android", "web", None]), min_size=n,
                         max_size=n))
    level = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    value = draw(st.lists(st.one_of(st.sampled_from([0.0, 0.5, 1.0, np.nan]),
                                    st.floats(-5, 5, allow_nan=False)), min_size=n, max_size=n))
    night = draw(st.lists(st.sampled_from([True, False, None]), min_size=n, max_size=n))
    meta = pd.DataFrame({"id": ids, "device": text, "level": level, "bright": value,
                         "night": pd.array(night, dtype="boolean")})  # metadata, not a tag
    return frame.merge(meta, on="id", how="left"), options


@SETTINGS
@given(data=frames_with_metadata(), thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=3),
       bins=st.integers(2, 5), max_order=st.sampled_from([1, 2]), min_rows=st.integers(1, 4))
def test_duckdb_slices_equal_the_in_memory_slices(data, thresholds, bins, max_order,
                                                  min_rows) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp))
        if opened is None:
            return
        memory, engine = opened
        assert engine.metadata_columns == memory.metadata_columns
        builds = None
        for thr in thresholds + [0.5]:
            memory.threshold = engine.threshold = thr
            for m, weighted in product(memory.models, _weightings(memory)):
                memory.weighted = engine.weighted = weighted
                a = memory.suggest_slices(model=m, bins=bins, max_order=max_order,
                                          min_rows=min_rows)
                b = engine.suggest_slices(model=m, bins=bins, max_order=max_order,
                                          min_rows=min_rows)
                same(a, b)
                assert a.attrs == b.attrs
                for name in a["slice"]:
                    keys = memory.slice_keys(name, model=m, bins=bins)
                    assert np.array_equal(keys, engine.slice_keys(name, model=m, bins=bins))
            if builds is None:  # after the first threshold the slices come from cached groups
                builds = len([k for k in engine._cache if k[0] == "slice_groups"])
                engine._source.agg.engine.con.close()
                engine.slice_keys = memory.slice_keys  # (only the keys query needs the engine)
        assert len([k for k in engine._cache if k[0] == "slice_groups"]) == builds


def test_slices_past_the_group_limit_are_refused_in_one_line(tmp_path: Path) -> None:
    frame = _demo_like(300).assign(device=lambda f: np.where(f.index % 2, "ios", "web"))
    frame.to_parquet(tmp_path / "r.parquet")
    from dashboard.engines import aggregate

    r = Results.from_aggregates(aggregate(tmp_path / "r.parquet"))
    original = r._source.agg.engine.slice_groups
    r._source.agg.engine.slice_groups = lambda *a, **k: original(*a, **{**k, "limit": 10})
    with pytest.raises(DashboardError) as exc:
        r.suggest_slices()
    assert "at most 10 (slice cell, label, score) groups" in _one_line(exc)
    assert "engine='pandas'" in str(exc.value)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=frames_with_metadata(), thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=2),
       bins=st.integers(2, 5), min_rows=st.integers(1, 4))
def test_dask_slices_equal_the_in_memory_slices(dask_client, data, thresholds, bins,
                                                min_rows) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp), engine="dask", scheduler=dask_client)
        if opened is None:
            return
        memory, engine = opened
        assert engine.metadata_columns == memory.metadata_columns
        for thr in [0.5, *thresholds]:
            memory.threshold = engine.threshold = thr
            for m, weighted in product(memory.models, _weightings(memory)):
                memory.weighted = engine.weighted = weighted
                a = memory.suggest_slices(model=m, bins=bins, min_rows=min_rows)
                b = engine.suggest_slices(model=m, bins=bins, min_rows=min_rows)
                same(a, b)
                assert a.attrs == b.attrs
                for name in a["slice"][:2]:
                    keys = memory.slice_keys(name, model=m, bins=bins)
                    assert np.array_equal(keys, engine.slice_keys(name, model=m, bins=bins))


def test_dask_slices_past_the_group_limit_are_refused_in_one_line(dask_client,
                                                                 tmp_path: Path) -> None:
    _demo_like(300).assign(device=lambda f: np.where(f.index % 2, "ios", "web")).to_parquet(
        tmp_path / "r.parquet")
    r = Results.from_dataset(tmp_path / "r.parquet", engine="dask", scheduler=dask_client)
    original = r._source.agg.engine.slice_groups
    r._source.agg.engine.slice_groups = lambda *a, **k: original(*a, **{**k, "limit": 10})
    with pytest.raises(DashboardError) as exc:
        r.suggest_slices()
    assert "at most 10 (slice cell, label, score) groups" in _one_line(exc)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.floats(-1e6, 1e6, allow_nan=False),
                                 st.sampled_from([0.0, 1.0, 0.1, 0.3])), min_size=1,
                       max_size=60), bins=st.integers(1, 8))
def test_quantiles_from_order_statistics_are_numpys(values, bins) -> None:
    """The engine fetches only the order statistics; the bin edges equal np.quantile's."""
    from dashboard.metrics.slices import quantile_from_order_stats

    x = np.asarray(values)
    ordered = np.sort(x)
    q = np.linspace(0, 1, bins + 1)
    got = quantile_from_order_stats(x.size, q, lambda at: {p: ordered[p] for p in at})
    assert np.array_equal(got, np.quantile(x, q))


def test_duckdb_slices_per_task_equal_the_in_memory_ones(tmp_path: Path) -> None:
    rng = np.random.default_rng(13)
    frame = _demo_like(400, seed=13)
    frame = pd.concat([frame.assign(task=t, label=rng.integers(0, 2, len(frame)))
                       for t in ("car", "bus")], ignore_index=True)
    frame["device"] = np.where(frame["id"].str[-1].isin(list("0123")), "ios", "web")
    frame["bright"] = frame["id"].str[1:].astype(int) % 7 / 7
    memory, engine = both(frame, {}, tmp_path)  # type: ignore[misc]
    for task in memory.tasks:
        memory.task = engine.task = task
        for thr in (0.3, 0.6):
            memory.threshold = engine.threshold = thr
            a, b = memory.suggest_slices(min_rows=5), engine.suggest_slices(min_rows=5)
            same(a, b)
            assert len(a) and a.attrs == b.attrs
            name = a["slice"].iloc[0]
            assert np.array_equal(memory.slice_keys(name), engine.slice_keys(name))


def test_the_views_show_the_engines_slices_or_its_refusal(tmp_path: Path) -> None:
    """The tally grid and the report read slices from the engine, and say in one line when
    a split has too many groups (instead of failing)."""
    from dashboard.engines import aggregate
    from dashboard.report import _discovery
    from dashboard.widgets.tally_grid import TallyGrid

    frame = _demo_like(2000, seed=14)
    frame["device"] = np.where(frame["id"].str[-1] == "7", "web", "ios")
    frame.loc[frame["device"] == "web", "score"] = 1 - frame.loc[frame["device"] == "web",
                                                                  "label"] * 0.9 - 0.05
    frame.to_parquet(tmp_path / "r.parquet")
    memory = Results.from_file(tmp_path / "r.parquet")
    r = Results.from_aggregates(aggregate(tmp_path / "r.parquet"))
    same(memory.suggest_slices(), r.suggest_slices())
    assert "device = web" in set(r.suggest_slices()["slice"])
    assert "device = web" in "".join(_discovery(r))
    grid = TallyGrid(r, store=tmp_path / "s.sqlite")
    assert "device = web" in str([w.children for w in grid._suggestions.children[1:]])
    refusing = Results.from_aggregates(aggregate(tmp_path / "r.parquet"))
    original = refusing._source.agg.engine.slice_groups
    refusing._source.agg.engine.slice_groups = lambda *a, **k: original(*a, **{**k, "limit": 10})
    assert "at most 10" in "".join(_discovery(refusing))
    grid = TallyGrid(refusing, store=tmp_path / "t.sqlite")
    assert "at most 10" in grid._suggestions.children[0].value


# -- the eyeball check and suspected label errors on the engine ---------------------------------
@SETTINGS
@given(data=results_frames(), thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=3),
       fraction=st.sampled_from([0.2, 0.5, 0.8]), seed=st.integers(0, 3))
def test_duckdb_eyeball_check_equals_the_in_memory_one(data, thresholds, fraction,
                                                       seed) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp))
        if opened is None:
            return
        memory, engine = opened

        def check() -> None:
            for split, weighted in product(memory.splits, _weightings(memory)):
                memory.weighted = engine.weighted = weighted
                a = memory.eyeball_check(split, fraction, seed=seed)
                b = engine.eyeball_check(split, fraction, seed=seed)
                same(a, b)
                assert a.attrs == b.attrs

        check()
        engine._source.agg.engine.con.close()  # the parts are grouped once: thresholds only recount
        for thr in thresholds:
            memory.threshold = engine.threshold = thr
            check()


@st.composite
def dyadic_frames(draw: st.DrawFn, multiclass: bool = True) -> tuple[pd.DataFrame, dict]:
    """Scores (or per-class probabilities) that are multiples of 1/16, so the class means of
    confident learning are exact in any order of summation, as the engine sums them."""
    if not multiclass or draw(st.booleans()):
        frame, options = draw(results_frames(hard=False))
        sixteenths = draw(st.lists(st.integers(0, 16), min_size=len(frame),
                                   max_size=len(frame)))
        frame["score"] = (np.asarray(sixteenths) / 16).astype(frame["score"].dtype)
        if draw(st.booleans()):
            options = {**options, "probabilities": False}
        return frame, options
    frame = draw(multiclass_frames())
    for col in [c for c in frame.columns if c.startswith("proba_")]:
        frame[col] = (np.asarray(draw(st.lists(st.integers(0, 16), min_size=len(frame),
                                               max_size=len(frame)))) / 16
                      ).astype(frame[col].dtype)
    return frame, {}


@SETTINGS
@given(data=dyadic_frames())
def test_duckdb_label_suspects_equal_the_in_memory_ones(data) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp))
        if opened is None:
            return
        memory, engine = opened
        for m in memory.models:
            for split in memory.splits:
                a = outcome(memory.label_suspects, split, model=m)
                b = outcome(engine.label_suspects, split, model=m)
                if isinstance(a, tuple):
                    assert a == b
                    continue
                same(a, b)
                assert a.attrs == b.attrs


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.one_of(dyadic_frames(multiclass=False), results_frames(hard=True)),
       thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=2),
       fraction=st.sampled_from([0.2, 0.5]), seed=st.integers(0, 2))
def test_dask_eyeball_check_and_label_suspects_equal_the_in_memory_ones(
        dask_client, data, thresholds, fraction, seed) -> None:
    frame, options = data
    with tempfile.TemporaryDirectory() as tmp:
        opened = both(frame, options, Path(tmp), engine="dask", scheduler=dask_client)
        if opened is None:
            return
        memory, engine = opened
        for thr in [0.5, *thresholds]:
            memory.threshold = engine.threshold = thr
            for split, weighted in product(memory.splits, _weightings(memory)):
                memory.weighted = engine.weighted = weighted
                a = memory.eyeball_check(split, fraction, seed=seed)
                b = engine.eyeball_check(split, fraction, seed=seed)
                same(a, b)
                assert a.attrs == b.attrs
        for m in memory.models:
            for split in memory.splits:
                a = outcome(memory.label_suspects, split, model=m)
                b = outcome(engine.label_suspects, split, model=m)
                if isinstance(a, tuple):
                    assert a == b
                    continue
                same(a, b)
                assert a.attrs == b.attrs


def test_a_wide_partition_missing_a_task_column_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "wide"
    folder.mkdir()
    part = pd.DataFrame({"id": ["a", "b", "c"], "split": "dev", "label_car": [0, 1, 1],
                         "score_car": [0.2, 0.7, 0.4], "label_bus": [1, None, 0],
                         "score_bus": [0.9, 0.1, 0.3]})
    part.to_parquet(folder / "part-0.parquet")
    part.assign(id=["d", "e", "f"]).drop(columns=["score_bus"]).to_parquet(
        folder / "part-1.parquet")
    with pytest.raises(DashboardError) as exc:
        Results.from_dataset(folder)
    text = _one_line(exc)
    assert "part-1.parquet" in text and "'score_bus'" in text and "missing column" in text


@pytest.mark.parametrize("engine_name", ["duckdb", "dask"])
def test_slices_past_the_group_limit_are_counted_on_the_slice_grid(
        engine_name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Past the limit of exact (slice cell, label, score) groups, the groups are counted on
    SLICE_GRID: equal to the in-memory slices at thresholds on the grid, and the table says
    how it was counted (and whether this threshold is on the grid)."""
    from dashboard.engines import SLICE_GRID

    n = 2000
    rng = np.random.default_rng(3)
    # about 100 grid points but ~2000 distinct scores (each a hair off a hundredth)
    score = np.clip(rng.integers(0, 101, n) / 100 + rng.uniform(-4e-5, 4e-5, n), 0, 1)
    ios = np.arange(n) % 3 == 0
    # right most of the time on web, a coin toss on ios: ios is the slice to find
    label = np.where(ios, rng.random(n) < 0.5, rng.random(n) < np.clip(score * 1.2 - 0.1, 0, 1))
    frame = pd.DataFrame({"id": [f"e{i}" for i in range(n)], "split": "dev",
                          "label": label.astype(int), "score": score,
                          "device": np.where(ios, "ios", "web")})  # no model column
    frame.to_parquet(tmp_path / "r.parquet")
    memory = Results.from_file(tmp_path / "r.parquet")
    options = ({"scheduler": request.getfixturevalue("dask_client")}
               if engine_name == "dask" else {})
    r = Results.from_dataset(tmp_path / "r.parquet", engine=engine_name, **options)
    exact_groups = len(r._source.agg.engine.slice_groups(
        r.model, "dev", None, [("device", False)], 4, binary=True, grid=None).counts)
    assert exact_groups > 1500  # about one group per distinct score
    original = r._source.agg.engine.slice_groups
    r._source.agg.engine.slice_groups = lambda *a, **k: original(*a, **{**k, "limit": 1000})
    for thr in (0.5, 0.37, 0.8123):  # multiples of the grid: exact
        memory.threshold = r.threshold = thr
        a, b = memory.suggest_slices(), r.suggest_slices()
        assert len(a) and a["significant"].any()
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert b.attrs["score_grid"] == SLICE_GRID and "exact at this threshold" in \
            b.attrs["note"]
    r.threshold = 0.37004  # between grid points: said, not hidden
    assert "not on the grid" in r.suggest_slices().attrs["note"]
    # fewer places than the grid needs: refused in one line naming the grid
    r._source.agg.engine.slice_groups = lambda *a, **k: original(*a, **{**k, "limit": 50})
    r._cache.clear()
    r._source._memo.clear()  # the engine's groups were kept too
    with pytest.raises(DashboardError) as exc:
        r.suggest_slices()
    assert "even on a 0.0001 score grid" in _one_line(exc)


@pytest.mark.parametrize("engine_name", ["duckdb", "dask"])
def test_a_label_seen_only_at_a_smaller_training_size_counts_in_the_learning_curve(
        engine_name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The classes are those of every size, as in memory: True appears only at size 10 (the
    largest size has it unlabelled), and its error counts there. (Found by hypothesis: the
    engines took the classes from the largest size, so DuckDB counted the row as right and
    Dask failed.)"""
    labels = [False, False, False, np.nan, False, False, False] + \
        [False, False, False, True, False, False, False]
    frame = pd.DataFrame({"id": [f"ex{i % 7}" for i in range(14)],
                          "split": (["dev"] + ["train"] * 6) * 2, "model": "m0",
                          "label": pd.Series(labels, dtype=object), "score": 0.0,
                          "train_size": [50] * 7 + [10] * 7, "task": "car"})
    frame.to_parquet(tmp_path / "r.parquet")
    memory = Results.from_file(tmp_path / "r.parquet", pos_label=True)
    options = ({"scheduler": request.getfixturevalue("dask_client")}
               if engine_name == "dask" else {})
    engine = Results.from_dataset(tmp_path / "r.parquet", engine=engine_name, pos_label=True,
                                  **options)
    assert engine.schema.classes == memory.schema.classes == (False, True)
    curve = memory.learning_curve()
    assert curve.loc[10.0, "train"] == pytest.approx(1 / 6)
    pd.testing.assert_frame_equal(curve, engine.learning_curve(), check_exact=True)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_repeated_id_is_named_at_its_second_row_as_in_memory(
        fmt: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The engines' message equals the in-memory one word for word: file, column, the row of
    the repeat (both engines named row 3 here, a row of their class skeleton, before)."""
    frame = pd.DataFrame({"id": ["x", "b", "y", "z", "b"], "split": ["dev"] * 5,
                          "label": [0, 1, 0, 1, 1], "score": [0.1, 0.2, 0.3, 0.4, 0.5]})
    path = tmp_path / f"r.{fmt}"
    frame.to_parquet(path) if fmt == "parquet" else frame.to_csv(path, index=False)
    with pytest.raises(DashboardError) as memory:
        Results.from_file(path)
    assert "row 5 (id 'b')" in str(memory.value)
    for engine, options in (("duckdb", {}),
                            ("dask", {"scheduler": request.getfixturevalue("dask_client")})):
        with pytest.raises(DashboardError) as exc:
            Results.from_dataset(path, engine=engine, **options)
        assert str(exc.value) == str(memory.value), engine
    # across partitions: the repeat's own file
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.iloc[:3].to_parquet(folder / "part-0.parquet")
    frame.iloc[3:].to_parquet(folder / "part-1.parquet")
    for engine, options in (("duckdb", {}),
                            ("dask", {"scheduler": request.getfixturevalue("dask_client")})):
        with pytest.raises(DashboardError) as exc:
            Results.from_dataset(folder, engine=engine, **options)
        assert f"{folder / 'part-1.parquet'}, column 'id', row 2 (id 'b')" in str(exc.value)


# -- mismatch drivers: the engines' groups of three splits give the in-memory table ------------
def _metadata_frame(seed: int, n: int = 240) -> pd.DataFrame:
    """Two models with scores over train/train_dev/dev, with a categorical, a boolean, a numeric
    and a few-valued metadata column, some values missing."""
    rng = np.random.default_rng(seed)
    split = rng.choice(["train", "train_dev", "dev"], n, p=[0.5, 0.25, 0.25])
    night = rng.random(n) < np.where(split == "dev", 0.5, 0.2)
    label = rng.integers(0, 2, n)
    bright = rng.normal(size=n)
    bright[::17] = np.nan
    parts = [pd.DataFrame({"id": np.arange(n), "split": split, "model": m, "label": label,
                           "score": np.round(rng.random(n), 2), "night": night,
                           "device": rng.choice(["ios", "android", "web"], n),
                           "brightness": bright, "stars": rng.integers(1, 4, n)})
             for m in ("a", "b")]
    return pd.concat(parts, ignore_index=True)


def _same_mismatch(memory: Results, engine: Results) -> None:
    for thr in (0.5, 0.3, 0.71):
        memory.threshold = engine.threshold = thr
        for m in memory.models:
            a = memory.mismatch_drivers(model=m)
            b = engine.mismatch_drivers(model=m)
            same(a, b)
            for col, levels in a.attrs["levels"].items():
                same(levels, b.attrs["levels"][col])


def test_duckdb_mismatch_drivers_equal_the_in_memory_ones(tmp_path: Path) -> None:
    memory, engine = both(_metadata_frame(1), {}, tmp_path)
    _same_mismatch(memory, engine)
    assert len(memory.mismatch_drivers()) == 4


def test_dask_mismatch_drivers_equal_the_in_memory_ones(dask_client, tmp_path: Path) -> None:
    memory, engine = both(_metadata_frame(2), {}, tmp_path, engine="dask",
                          scheduler=dask_client)
    _same_mismatch(memory, engine)
