"""DuckDB's and Dask's aggregates saved once per content version and opened by later loads
(issue 22): the same numbers as a fresh aggregate, every view that queries rows still working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import dashboard
from dashboard import Results
from dashboard.errors import DashboardError
from tests.test_engines import assert_same_tables, outcome, results_frames

pytest.importorskip("duckdb")

DEMO = Path(dashboard.__file__).parent / "data" / "demo" / "cat_results.parquet"


def _numbers(r: Results) -> dict:
    """Whole-split numbers and the views that query the engine's rows."""
    out = {"rates": r.error_rates().to_dict(), "models": r.models, "rows": r.rows_total,
           "notes": r.engine_notes, "frame": r.frame.to_dict("list")}
    gaps = r.gaps()
    out["gaps"] = (gaps.avoidable_bias, gaps.variance, gaps.data_mismatch, gaps.focus)
    if r.has_scores and r.schema.kind == "binary_score":
        c = r.curve("dev")
        out["curve"] = (c.thresholds.tolist(), c.tps.tolist(), c.fps.tolist())
    if len(r.models) > 1:
        m = r.mcnemar(r.models[0], r.models[1])
        out["mcnemar"] = (m.only_a_wrong, m.only_b_wrong, m.p_value)
    if r.metadata_columns:
        out["slices"] = r.suggest_slices("dev").to_dict("list")
    out["eyeball"] = repr(r.eyeball_check("dev"))
    if r.tasks:
        out["tasks"] = r.task_overview().to_dict()
    if r.train_sizes:
        out["lc"] = repr(r.learning_curve())
    return out


def _write_tasks(path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = [{"id": f"{t}{i}", "task": t, "train_size": size,
             "split": ("train", "train_dev", "dev", "test")[i % 4],
             "label": int(rng.random() < 0.4), "score": float(rng.random())}
            for t in ("cat", "dog") for size in (100, 200) for i in range(80)]
    pd.DataFrame(rows).to_parquet(path)


def _fixed_shape(case: str, tmp_path: Path) -> Path:
    """The demo; tasks with training sizes; or the demo in partitions (three Parquet files for
    ``"partitions"``, two CSV files for ``"csv"``)."""
    if case == "demo":
        return DEMO
    if case == "tasks":
        _write_tasks(tmp_path / "tasks.parquet")
        return tmp_path / "tasks.parquet"
    source = tmp_path / "parts"
    source.mkdir()
    frame = pd.read_parquet(DEMO)
    parts = 3 if case == "partitions" else 2
    for i, part in enumerate(np.array_split(np.arange(len(frame)), parts)):
        if case == "partitions":
            frame.iloc[part].to_parquet(source / f"part-{i}.parquet")
        else:
            frame.iloc[part].to_csv(source / f"part-{i}.csv", index=False)
    return source


@pytest.mark.parametrize("case", ["demo", "tasks", "partitions"])
def test_cached_aggregates_give_a_fresh_aggregates_numbers(case: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    source = _fixed_shape(case, tmp_path)
    cache = tmp_path / "c"
    fresh = Results.from_dataset(source, engine="duckdb")
    first = Results.from_dataset(source, engine="duckdb", cache=cache)
    import dashboard.results.constructors as results_module

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("a cached load must not aggregate again")

    monkeypatch.setattr(results_module, "aggregate", refuse)
    again = Results.from_dataset(source, engine="duckdb", cache=cache)
    assert again.schema == fresh.schema
    for r in (first, again):
        assert _numbers(r) == _numbers(fresh)


def test_a_changed_partition_is_a_new_version(tmp_path: Path) -> None:
    source = tmp_path / "parts"
    source.mkdir()
    frame = pd.read_parquet(DEMO)
    halves = np.array_split(np.arange(len(frame)), 2)
    for i, part in enumerate(halves):
        frame.iloc[part].to_parquet(source / f"part-{i}.parquet")
    cache = tmp_path / "c"
    before = Results.from_dataset(source, engine="duckdb", cache=cache)
    changed = frame.iloc[halves[1]].copy()
    dev = np.flatnonzero(changed["split"].to_numpy() == "dev")[:200]
    changed.iloc[dev, changed.columns.get_loc("label")] = 1 - changed["label"].iloc[dev]
    changed.to_parquet(source / "part-1.parquet")
    after = Results.from_dataset(source, engine="duckdb", cache=cache)
    assert _numbers(after) == _numbers(Results.from_dataset(source, engine="duckdb"))
    model = str(changed["model"].iloc[0])  # the second half holds this model's rows
    assert after.error_rates(model).loc["dev", "errors"] != \
        before.error_rates(model).loc["dev", "errors"]


# -- the Dask engine: the same entry, reopened on the files and on any scheduler ---------------
@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("dask.dataframe", reason="pip install 'dask[dataframe]' (test extra)")
    distributed = pytest.importorskip("distributed", reason="pip install distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        yield client


class _Counted:
    """``aggregate_dask`` counting its calls (or refusing them: a load that must not count)."""

    def __init__(self, refuse: bool = False) -> None:
        from dashboard import dask_engine

        self.real, self.refuse, self.calls = dask_engine.aggregate_dask, refuse, 0

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.calls += 1
        if self.refuse:
            raise AssertionError("a cached load must not aggregate again")
        return self.real(*args, **kwargs)


def _counting(monkeypatch: pytest.MonkeyPatch, refuse: bool = False) -> _Counted:
    from dashboard import dask_engine

    counted = _Counted(refuse)
    monkeypatch.setattr(dask_engine, "aggregate_dask", counted)
    return counted


def _no_compute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any Dask computation now fails (a reopened source must read nothing until asked)."""
    from dashboard import dask_engine

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("a cached load must not compute on the cluster")
    monkeypatch.setattr(dask_engine.DaskSource, "compute", refuse)


def _row_views(r: Results) -> dict:
    """The views that query the engine's rows: eyeball check, suspects, slices and their keys,
    McNemar and the fingerprint (each a value or the error it raised)."""
    out: dict = {"fingerprint": r.fingerprint}
    for split in r.splits:
        out["eyeball", split] = repr(outcome(r.eyeball_check, split))
    for m in r.models:
        for split in r.splits:
            found = outcome(r.label_suspects, split, model=m)
            out["suspects", m, split] = (found.to_dict("list") if isinstance(found, pd.DataFrame)
                                         else found)
        if r.metadata_columns and "dev" in r.splits:
            table = outcome(r.suggest_slices, "dev", model=m, min_rows=1, alpha=1.0)
            if isinstance(table, pd.DataFrame):
                out["slices", m] = table.to_dict("list")
                for name in table["slice"].head(3):
                    out["slice keys", m, name] = r.slice_keys(name, "dev", model=m).tolist()
            else:
                out["slices", m] = table
    for a, b in zip(r.models, r.models[1:], strict=False):
        for split in r.splits:
            out["mcnemar", a, b, split] = repr(outcome(r.mcnemar, a, b, split))
    return out


def _write(frame: pd.DataFrame, where: Path, parts: int) -> Path:
    if parts == 1:
        frame.to_parquet(where / "results.parquet")
        return where / "results.parquet"
    folder = where / "parts"
    folder.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[rows].to_parquet(folder / f"part-{i}.parquet")
    return folder


@st.composite
def _dask_cases(draw: st.DrawFn) -> tuple[pd.DataFrame, dict, int]:
    """A long results table (binary scores or predictions, weights or not, one to three
    models; with ids or keyed by row; metadata columns or not) in one or two files."""
    frame, options = draw(results_frames())
    if draw(st.booleans()):
        frame = frame.drop(columns="id")
    if draw(st.booleans()):
        n = len(frame)
        frame = frame.assign(
            device=draw(st.lists(st.sampled_from(["ios", "android", "web"]), min_size=n,
                                 max_size=n)),
            brightness=draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]),
                                     min_size=n, max_size=n)))
    return frame, options, draw(st.sampled_from([1, 2]))


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(case=_dask_cases(), thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=3))
def test_cached_dask_aggregates_give_a_fresh_aggregates_numbers(dask_client, case,
                                                               thresholds) -> None:
    """A later load reads the entry (no aggregation, nothing computed on the cluster) and
    gives every number and row view of a fresh Dask load; a refusal is the same refusal."""
    frame, options, parts = case
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        source = _write(frame, Path(tmp), parts)
        cache = Path(tmp) / "c"
        try:
            fresh = Results.from_dataset(source, engine="dask", scheduler=dask_client,
                                         **options)
        except DashboardError as exc:
            event("refused by Dask")
            with pytest.raises(DashboardError) as again:
                Results.from_dataset(source, engine="dask", scheduler=dask_client,
                                     cache=cache, **options)
            assert str(again.value) == str(exc)
            return
        first = Results.from_dataset(source, engine="dask", scheduler=dask_client,
                                     cache=cache, **options)
        assert [p.name for p in cache.iterdir() if not p.name.startswith(".")], "no entry"
        event(f"cached: {fresh.schema.kind}, ids {'id' in frame}, models {len(fresh.models)}, "
              f"metadata {bool(fresh.metadata_columns)}")
        counted = _counting(mp, refuse=True)
        with pytest.MonkeyPatch.context() as quiet:
            _no_compute(quiet)
            again = Results.from_dataset(source, engine="dask", scheduler=dask_client,
                                         cache=cache, **options)
        assert counted.calls == 0
        assert again.schema == fresh.schema
        assert again.engine_notes == fresh.engine_notes
        pd.testing.assert_frame_equal(again.frame, fresh.frame)
        if "score" in frame:
            thresholds = thresholds + [float(v) for v in frame["score"].iloc[:2]]
        for r in (first, again):
            assert_same_tables(fresh, r, thresholds)
        views = _row_views(fresh)
        assert _row_views(first) == views
        assert _row_views(again) == views


@pytest.mark.parametrize("case", ["demo", "tasks", "csv"])
def test_cached_dask_aggregates_of_fixed_shapes(case: str, dask_client, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo (scores, two models, metadata, tags), tasks with learning curves, and CSV
    partitions (text ids, the frame's types from the CSV): a later load equals a fresh one."""
    source = _fixed_shape(case, tmp_path)
    cache = tmp_path / "c"
    fresh = Results.from_dataset(source, engine="dask", scheduler=dask_client)
    Results.from_dataset(source, engine="dask", scheduler=dask_client, cache=cache)
    _counting(monkeypatch, refuse=True)
    with pytest.MonkeyPatch.context() as quiet:
        _no_compute(quiet)
        again = Results.from_dataset(source, engine="dask", scheduler=dask_client, cache=cache)
    assert again.schema == fresh.schema
    assert _numbers(again) == _numbers(fresh)
    assert _row_views(again) == _row_views(fresh)


def test_a_dask_entry_is_one_per_content_and_options_not_per_scheduler(
        dask_client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler is not in the key (the numbers do not depend on it); a one-row change
    in one partition, or another option, is a new version computed again."""
    source = tmp_path / "parts"
    source.mkdir()
    frame = pd.read_parquet(DEMO)
    halves = np.array_split(np.arange(len(frame)), 2)
    for i, part in enumerate(halves):
        frame.iloc[part].to_parquet(source / f"part-{i}.parquet")
    cache = tmp_path / "c"
    counted = _counting(monkeypatch)
    on_cluster = Results.from_dataset(source, engine="dask", scheduler=dask_client,
                                      cache=cache)
    threads = Results.from_dataset(source, engine="dask", cache=cache)  # Dask's default
    assert counted.calls == 1
    assert _numbers(threads) == _numbers(on_cluster)
    threads.error_rates()
    assert threads._source.agg.engine.scheduler is None  # reopened on the scheduler it was given
    by_address = Results.from_dataset(source, engine="dask", cache=cache,
                                      scheduler=dask_client.scheduler.address)
    assert counted.calls == 1
    assert by_address.fingerprint == on_cluster.fingerprint  # rows queried on that cluster
    assert by_address._source.agg.engine.scheduler is not None

    Results.from_dataset(source, engine="dask", cache=cache, threshold=0.3)
    assert counted.calls == 2  # another option: another entry

    changed = frame.iloc[halves[1]].copy()
    dev = np.flatnonzero(changed["split"].to_numpy() == "dev")[0]
    changed.iloc[dev, changed.columns.get_loc("label")] = 1 - changed["label"].iloc[dev]
    changed.to_parquet(source / "part-1.parquet")
    after = Results.from_dataset(source, engine="dask", cache=cache)
    assert counted.calls == 3  # one label of one row: a new version
    assert _numbers(after) == _numbers(Results.from_dataset(source, engine="dask"))
    model = str(changed["model"].iloc[dev])
    assert after.error_rates(model).loc["dev", "errors"] != \
        on_cluster.error_rates(model).loc["dev", "errors"]


@pytest.mark.parametrize("damage", ["engine", "array"])
def test_a_corrupt_dask_entry_is_rebuilt_with_one_line(tmp_path: Path, damage: str,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("dask.dataframe")
    cache = tmp_path / "c"
    fresh = Results.from_dataset(DEMO, engine="dask", cache=cache)
    (entry,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    if damage == "engine":  # the JSON reads, but the engine part is not what was written
        meta = json.loads((entry / "meta.json").read_text())
        del meta["extra"]["engine"]["spec"]["labels"]
        (entry / "meta.json").write_text(json.dumps(meta))
    else:
        (next(entry.glob("*.npy"))).write_bytes(b"not an array")
    capsys.readouterr()
    counted = _counting(monkeypatch)
    again = Results.from_dataset(DEMO, engine="dask", cache=cache)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not be read" in err[0] and "rebuilding it" in err[0]
    assert counted.calls == 1
    assert _numbers(again) == _numbers(fresh)
    monkeypatch.setattr(counted, "refuse", True)
    assert _numbers(Results.from_dataset(DEMO, engine="dask", cache=cache)) == _numbers(fresh)
    assert capsys.readouterr().err == ""


def test_per_class_probabilities_are_refused_by_dask_alike_with_a_cache(tmp_path: Path
                                                                        ) -> None:
    """The Dask engine reads a score or a prediction column; the cache changes nothing."""
    pytest.importorskip("dask.dataframe")
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(3), 60)
    frame = pd.DataFrame({"id": np.arange(60), "split": np.where(np.arange(60) % 2, "dev",
                                                                   "train"),
                          "label": rng.integers(0, 3, 60), "proba_0": p[:, 0],
                          "proba_1": p[:, 1], "proba_2": p[:, 2]})
    frame.to_parquet(tmp_path / "r.parquet")
    for cache in (None, tmp_path / "c"):
        with pytest.raises(DashboardError, match="per-class probability columns need"):
            Results.from_dataset(tmp_path / "r.parquet", engine="dask", score=None,
                                 cache=cache)
    assert not [p for p in (tmp_path / "c").glob("*") if not p.name.startswith(".")]


def test_a_later_dask_load_imports_no_dask_until_a_view_queries_rows(tmp_path: Path) -> None:
    """A page showing whole-split numbers from the entry never imports dask (most of a later
    load's time otherwise); a view that queries rows then opens the frames."""
    pytest.importorskip("dask.dataframe")
    cache = tmp_path / "c"
    fresh = Results.from_dataset(DEMO, engine="dask", cache=cache)
    code = (
        "import sys, json\n"
        "from dashboard import Results\n"
        f"r = Results.from_dataset({str(DEMO)!r}, engine='dask', cache={str(cache)!r})\n"
        "rates = r.error_rates().to_dict()\n"
        "before = 'dask.dataframe' in sys.modules\n"
        "suspects = r.label_suspects('dev').to_dict('list')\n"
        "print(json.dumps({'before': before, 'after': 'dask.dataframe' in sys.modules,\n"
        "                  'rates': repr(rates), 'suspects': repr(suspects)}))\n")
    root = str(Path(dashboard.__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": root})
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] is False and seen["after"] is True
    assert seen["rates"] == repr(fresh.error_rates().to_dict())
    assert seen["suspects"] == repr(fresh.label_suspects("dev").to_dict("list"))
