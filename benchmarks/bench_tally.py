"""Tally grid costs against baselines measured in the same run, printed as ratios.

    python benchmarks/bench_tally.py [--rows 20000] [--sample 1000] [--ticks 40]

(from the repository root; add ``PYTHONPATH=.`` if the package is not installed)

Baselines: one bare SQLite INSERT + COMMIT (WAL, synchronous=FULL: the floor of a durable
edit) and building 25 ``ipywidgets.Checkbox`` (the floor of a page of widgets). Measured: building
the grid over a 1,000-row sample, one tick end to end (store commit, model update, footer and
panel refresh), the store write alone, a page flip, and a refresh with 1,000 stored tags.
Machines are noisy (and this one is shared): read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pandas as pd

from dashboard.annotations import AnnotationStore
from dashboard.metrics.tally import MISLABELLED
from dashboard.results import Results
from dashboard.widgets.tally_grid import TallyGrid


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def results(rows: int, wrong: int) -> Results:
    label = np.tile([1, 0], rows // 2)
    right = np.where(label == 1, 0.8, 0.2)
    score = np.where(np.arange(rows) < wrong, 1 - right, right)
    df = pd.DataFrame({"id": [f"r{i:06d}" for i in range(rows)], "split": "dev",
                       "label": label, "score": score})
    return Results.from_frame(df)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20_000, help="dev rows")
    ap.add_argument("--sample", type=int, default=1000, help="review sample size")
    ap.add_argument("--ticks", type=int, default=40, help="ticks timed")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_tally_") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, folder: Path) -> None:

    # baselines
    conn = sqlite3.connect(folder / "bare.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (k TEXT, c TEXT, v INTEGER)")
    counter = iter(range(10**9))

    def bare_insert() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?, ?, ?)", (str(next(counter)), "c", 1))
        conn.execute("COMMIT")

    t_insert = median_time(bare_insert, args.ticks)
    t_boxes = median_time(lambda: [widgets.Checkbox(value=False, indent=False)
                                   for _ in range(25)], args.repeat)

    # the grid
    wrong = max(args.sample * 3, 100)
    fresh = iter([results(args.rows, wrong) for _ in range(args.repeat)])

    def build() -> None:  # each grid on its own model, closed after: no observer left behind
        TallyGrid(next(fresh), folder / "build.sqlite", sample_size=args.sample).close()

    t_build = median_time(build, args.repeat)
    r = results(args.rows, wrong)
    grid = TallyGrid(r, folder / "grid.sqlite", sample_size=args.sample)
    assert len(grid.rows()) == args.sample
    views = [grid.row_view(k) for k in grid.visible_keys]
    state = iter(range(10**9))

    def tick() -> None:
        i = next(state)
        box = views[i % len(views)].boxes[MISLABELLED]
        box.value = not box.value
        assert grid.last_error is None, grid.last_error

    t_tick = median_time(tick, args.ticks)
    store = AnnotationStore(folder / "alone.sqlite", dataset="bench")
    t_store = median_time(lambda: store.set_tag(f"k{next(state)}", MISLABELLED, True),
                          args.ticks)
    t_results_tag = median_time(lambda: r.set_tag(views[0].key, MISLABELLED,
                                                  bool(next(state) % 2)), args.ticks)

    def flip() -> None:
        grid.page = 2 if grid.page == 1 else 1

    t_page = median_time(flip, args.repeat * 2)
    keys = grid.rows()["key"].tolist()
    with grid.store._transaction(write=True) as db:  # 1,000 stored tags, one transaction
        for k in keys:
            grid.store._write_tag(db, k, MISLABELLED, 1, "2026-01-01T00:00:00+00:00")
    t_refresh = median_time(grid.refresh, args.repeat)

    print(f"dev rows {args.rows:,}, sample {args.sample:,}, page {grid.page_size} rows, "
          f"{len(r.categories)} categories")
    print(f"{'measure':<44} {'seconds':>9} {'ratio':>8}  baseline")
    rows = [
        ("bare SQLite INSERT+COMMIT (WAL, FULL)", t_insert, t_insert, "insert"),
        ("25 Checkbox widgets", t_boxes, t_boxes, "25 boxes"),
        (f"build TallyGrid, {args.sample:,}-row sample", t_build, t_boxes, "25 boxes"),
        ("AnnotationStore.set_tag alone", t_store, t_insert, "insert"),
        ("Results.set_tag alone (tags + observers)", t_results_tag, t_insert, "insert"),
        ("tick one box end to end", t_tick, t_insert, "insert"),
        ("flip a page (25 rows repainted)", t_page, t_boxes, "25 boxes"),
        ("refresh with 1,000 stored tags", t_refresh, t_insert, "insert"),
    ]
    for name, seconds, base, base_name in rows:
        print(f"{name:<44} {seconds:>9.4f} {seconds / base:>8.1f}  {base_name}")


if __name__ == "__main__":
    main()
