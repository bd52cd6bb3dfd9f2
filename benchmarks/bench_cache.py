"""What the table cache saves (issue 22), as ratios measured in one run.

    python benchmarks/bench_cache.py FILE.parquet [--kernels 2]
    python benchmarks/bench_cache.py --rows 10000000      # writes a file like the issue's

Prints, against ``pd.read_parquet`` of the file and one ``np.sort`` of its scores (the
issue's baselines, measured here):

* the first load (``Results.from_file(..., cache=DIR)`` on an empty cache: read, validate,
  key, save, map), and the first numbers a page draws (error rates, gaps, dev curve);
* a later load (the entry mapped) and its first numbers (the curves mapped too);
* ``Results.from_file`` without a cache;
* ``python -m dashboard report`` with the cache filled (the whole command, imports included);
* the fastest of ``--repeat`` runs of each step (each in a fresh process);
* the private memory (USS) of ``--kernels`` processes alive at once on the cached file, each
  having drawn its first numbers, and of one without the cache.

With ``--engine duckdb`` or ``--engine dask`` it measures the engine's aggregates cache instead
(``Results.from_dataset(..., engine=E, cache=DIR)``): no cache, the first load (aggregates
computed and saved) and a later load (the entry opened, the engine reopened on the same
files), each with its first numbers, and the ratio later/first::

    python benchmarks/bench_cache.py --rows 2000000 --engine dask

Each load runs in a fresh process, as a page's kernel does. Timings are printed, never
asserted: the machines are noisy, read the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}

_BASELINE = """
import json, sys, time, numpy as np, pandas as pd
t = time.perf_counter(); df = pd.read_parquet(sys.argv[1]); read = time.perf_counter() - t
s = df["score"].to_numpy()
t = time.perf_counter(); np.sort(s); sort = time.perf_counter() - t
print(json.dumps({"read": read, "sort": sort}))
"""

_LOAD = """
import json, sys, time, psutil
t = time.perf_counter()
from dashboard import Results
imports = time.perf_counter() - t
cache = None if sys.argv[2] == "off" else sys.argv[2]
t = time.perf_counter(); r = Results.from_file(sys.argv[1], cache=cache)
load = time.perf_counter() - t
t = time.perf_counter(); r.error_rates(); r.gaps(); r.curve("dev"); r.best_threshold("dev")
numbers = time.perf_counter() - t
print(json.dumps({"imports": imports, "load": load, "numbers": numbers,
                  "builds": r.curve_builds, "mapped": r._cache_entry is not None}), flush=True)
if len(sys.argv) > 3:
    sys.stdin.readline()
"""

_ENGINE_LOAD = """
import json, sys, time
t = time.perf_counter()
from dashboard import Results
imports = time.perf_counter() - t
cache = None if sys.argv[3] == "off" else sys.argv[3]
t = time.perf_counter(); r = Results.from_dataset(sys.argv[1], engine=sys.argv[2], cache=cache)
load = time.perf_counter() - t
t = time.perf_counter(); r.error_rates(); r.gaps(); r.curve("dev"); r.best_threshold("dev")
numbers = time.perf_counter() - t
print(json.dumps({"imports": imports, "load": load, "numbers": numbers}), flush=True)
"""


def child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], env=ENV, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def live_uss(path: Path, cache: str, count: int) -> list[float]:
    """USS (MiB) of ``count`` loaded processes alive at once."""
    import psutil

    procs = []
    for _ in range(count):
        p = subprocess.Popen([sys.executable, "-c", _LOAD, str(path), cache, "wait"], env=ENV,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        p.stdout.readline()
        procs.append(p)
    sizes = [psutil.Process(p.pid).memory_full_info().uss / 2**20 for p in procs]
    for p in procs:
        p.communicate("\n")
    return sizes


def write_file(rows: int, path: Path) -> None:
    """The issue's shape: rows/2 examples x 2 models, float64 scores, text ids."""
    import numpy as np
    import pandas as pd

    n = rows // 2
    rng = np.random.default_rng(0)
    ids = pd.Series(np.char.add("ex", np.arange(n).astype(str)))
    split = rng.choice(["train", "train_dev", "dev", "test"], n, p=[.6, .1, .15, .15])
    y = rng.integers(0, 2, n)
    parts = []
    for m, shift in (("A", 0.8), ("B", 1.0)):
        s = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + shift * (2 * y - 1))))
        parts.append(pd.DataFrame({"id": ids, "split": split, "label": y, "score": s,
                                   "model": m}))
    pd.concat(parts, ignore_index=True).to_parquet(path, index=False)


def engine_cache(path: Path, engine: str, work: Path, repeat: int) -> None:
    """The engine's aggregates: no cache, first load (fills it) and later load, the fastest
    of ``repeat`` fresh processes each, and later/first."""
    def best(cache: str | None) -> dict:
        runs = []
        for i in range(repeat):
            where = "off" if cache is None else cache
            if cache == "first":
                where = str(work / f"agg-first-{i}")
            runs.append(child(_ENGINE_LOAD, str(path), engine, where))
        return min(runs, key=lambda r: r["load"])

    fresh = best(None)
    first = best("first")
    later_cache = str(work / "agg-later")
    child(_ENGINE_LOAD, str(path), engine, later_cache)  # fills the cache the later loads open
    later = best(later_cache)
    entry = sum(f.stat().st_size for f in Path(later_cache).rglob("*") if f.is_file())
    print(f"file {path} ({path.stat().st_size / 2**20:.0f} MiB as Parquet), engine {engine}, "
          f"cache entry {entry / 2**20:.1f} MiB; fastest of {repeat} fresh processes each")
    print(f"{'':32} {'load s':>7} {'first numbers s':>16}")
    for name, r in (("from_dataset, no cache", fresh), ("first load (fills the cache)", first),
                    ("later load (entry opened)", later)):
        print(f"{name:32} {r['load']:7.2f} {r['numbers']:16.2f}")
    print(f"later/first: load {later['load'] / first['load']:.3f}, load + first numbers "
          f"{(later['load'] + later['numbers']) / (first['load'] + first['numbers']):.3f}; "
          f"imports {later['imports']:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", nargs="?", type=Path)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--kernels", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each step; the fastest is kept (the machines are noisy)")
    ap.add_argument("--engine", choices=["pandas", "duckdb", "dask"], default="pandas",
                    help="pandas: the table cache (from_file); duckdb, dask: the engine's "
                         "aggregates cache (from_dataset)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    path = args.file
    if path is None:
        path = work / "results.parquet"
        write_file(args.rows, path)
    if args.engine != "pandas":
        try:
            engine_cache(path, args.engine, work, args.repeat)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    cache = work / "cache"
    try:
        def best(*run: str, fresh_cache: bool = False) -> dict:
            results = []
            for i in range(args.repeat):
                where = [str(work / f"cache-first-{i}")] if fresh_cache else []
                results.append(child(*run, *where))
            return min(results, key=lambda r: r.get("load", r.get("read", 0.0)))

        base = best(_BASELINE, str(path))
        base["sort"] = min(child(_BASELINE, str(path))["sort"] for _ in range(args.repeat))
        fresh = best(_LOAD, str(path), "off")
        first = best(_LOAD, str(path), fresh_cache=True)
        child(_LOAD, str(path), str(cache))  # fills the cache the later loads map
        later = best(_LOAD, str(path), str(cache))
        env = {**ENV}
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dashboard", "report", str(path), "--cache",
                        str(cache), "--no-store", "-o",
                        str(work / "report.html")], env=env, check=True, capture_output=True)
        report = time.perf_counter() - t
        uss = live_uss(path, str(cache), args.kernels)
        uss_off = live_uss(path, "off", 1)
    finally:
        entry_bytes = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) \
            if cache.exists() else 0
        shutil.rmtree(work, ignore_errors=True)
    rp, sort = base["read"], base["sort"]
    print(f"file {path} ({path.stat().st_size / 2**20:.0f} MiB as Parquet; cache entry "
          f"{entry_bytes / 2**20:.0f} MiB)" if path.exists() else f"file {path}")
    print(f"baselines: pd.read_parquet {rp:.2f} s, np.sort of the scores {sort:.2f} s")
    rows = [
        ("from_file, no cache", fresh["load"], fresh["numbers"]),
        ("first load (fills the cache)", first["load"], first["numbers"]),
        ("later load (mapped)", later["load"], later["numbers"]),
    ]
    print(f"{'':32} {'load s':>7} {'/read':>6} {'first numbers s':>16} "
          f"{'(load+numbers)/(read+sort)':>27}")
    for name, load, numbers in rows:
        print(f"{name:32} {load:7.2f} {load / rp:6.2f} {numbers:16.2f} "
              f"{(load + numbers) / (rp + sort):27.2f}")
    print(f"later load: curves built {later['builds']} (mapped: {later['mapped']}); "
          f"imports {later['imports']:.2f} s")
    print(f"report command, cache filled: {report:.2f} s")
    print(f"USS of {args.kernels} kernels alive at once on the cached file: "
          + ", ".join(f"{u:.0f} MiB" for u in uss) + f"; one without the cache: "
          f"{uss_off[0]:.0f} MiB")


if __name__ == "__main__":
    main()
