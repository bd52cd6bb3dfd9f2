"""DuckDB's aggregates saved once per content version and opened by later loads (issue 22):
the same numbers as a fresh aggregate, every view that queries rows still working."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dashboard
from dashboard import Results

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


@pytest.mark.parametrize("case", ["demo", "tasks", "partitions"])
def test_cached_aggregates_give_a_fresh_aggregates_numbers(case: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    if case == "demo":
        source = DEMO
    elif case == "tasks":
        source = tmp_path / "tasks.parquet"
        _write_tasks(source)
    else:
        source = tmp_path / "parts"
        source.mkdir()
        frame = pd.read_parquet(DEMO)
        for i, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
            frame.iloc[part].to_parquet(source / f"part-{i}.parquet")
    cache = tmp_path / "c"
    fresh = Results.from_dataset(source, engine="duckdb")
    first = Results.from_dataset(source, engine="duckdb", cache=cache)
    import dashboard.results as results_module

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
