"""Loading a results table (validation + canonical frame) against bare numpy/pandas baselines.

    python benchmarks/bench_load.py [--rows 1000000 10000000]
    python benchmarks/bench_load.py --file results.parquet [--repeat 3]

``--rows``: seconds and ratios in one run: Results.from_frame against np.sort of the scores
and against pandas' own factorize of the id column (the floor for mapping ids to examples).

``--file`` (issue 22's goals): per round, each step in a fresh process as a page's kernel
loads it (imports untimed, the file read once before): ``pd.read_parquet(path)`` and one
``np.sort`` of its scores (the baselines), ``Results.from_file(path)`` without a cache, and
the first load filling an empty table cache (``Results.from_file(path, cache=TableCache(new
folder))``). Prints from_file / read_parquet and first fill / (read_parquet + np.sort) per
round and their medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.results import Results

REPO = Path(__file__).resolve().parents[1]

# imports (pandas loads pyarrow.parquet on first use) are left out of every timing
_BASELINE = """
import json, sys, time, numpy as np, pandas as pd, pyarrow.parquet
t = time.perf_counter(); df = pd.read_parquet(sys.argv[1]); read = time.perf_counter() - t
s = df["score"].to_numpy()
t = time.perf_counter(); np.sort(s); sort = time.perf_counter() - t
print(json.dumps({"read": read, "sort": sort}))
"""

_LOAD = """
import json, sys, time, pyarrow.parquet
from dashboard.cache import TableCache
from dashboard.results import Results
cache = None if sys.argv[2] == "off" else TableCache(sys.argv[2])
t = time.perf_counter(); r = Results.from_file(sys.argv[1], cache=cache)
load = time.perf_counter() - t
print(json.dumps({"load": load, "built": r.cache_built}))
"""


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def child(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter importing this worktree's package; its last line."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def file_mode(path: Path, repeat: int) -> None:
    """Issue 22's two load goals on one file, as ratios measured round by round."""
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    rows = []
    try:
        child(_BASELINE, str(path))  # the file in the page cache, as in every round after
        for i in range(repeat):
            base = child(_BASELINE, str(path))
            off = child(_LOAD, str(path), "off")["load"]
            filled = child(_LOAD, str(path), str(work / f"cache-{i}"))
            if not filled["built"]:
                raise SystemExit("the first load did not fill the cache")
            rows.append((base["read"], base["sort"], off, filled["load"]))
            shutil.rmtree(work / f"cache-{i}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"file {path} ({path.stat().st_size / 2**20:.0f} MiB)")
    print(f"{'round':>5} {'read_parquet s':>14} {'np.sort s':>9} {'from_file s':>11} "
          f"{'first fill s':>12} {'from_file/read':>14} {'fill/(read+sort)':>16}")
    ratios = []
    for i, (read, sort, off, fill) in enumerate(rows, 1):
        ratios.append((off / read, fill / (read + sort)))
        print(f"{i:>5} {read:>14.3f} {sort:>9.3f} {off:>11.3f} {fill:>12.3f} "
              f"{ratios[-1][0]:>14.2f} {ratios[-1][1]:>16.2f}")
    print(f"median from_file / read_parquet: {statistics.median(r[0] for r in ratios):.2f} "
          "(goal <= 3)")
    print(f"median first fill / (read_parquet + np.sort): "
          f"{statistics.median(r[1] for r in ratios):.2f} (goal <= 2)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--file", type=Path, help="a results Parquet file: issue 22's load ratios")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of --file (median shown)")
    args = ap.parse_args()
    if args.file is not None:
        file_mode(args.file, args.repeat)
        return
    print(f"{'rows':>11} {'ids':>6} {'from_frame s':>12} {'np.sort s':>9} {'factorize s':>11} "
          f"{'load/sort':>9} {'load/factorize':>14}")
    rng = np.random.default_rng(0)
    for n in args.rows:
        split = np.where(rng.random(n) < 0.7, "train", np.where(rng.random(n) < 0.5, "dev",
                                                                "test"))
        base = {"split": split, "label": rng.integers(0, 2, n),
                "score": rng.random(n).round(4)}
        for ids_kind, ids in (("int", np.arange(n)), ("str", pd.Series(np.arange(n)).map(
                "img-{:08d}".format).to_numpy())):
            df = pd.DataFrame({"id": ids, **base})
            t_load = timed(lambda df=df: Results.from_frame(df))
            t_sort = timed(lambda s=base["score"]: np.sort(s))
            t_fact = timed(lambda df=df: pd.factorize(df["id"]))
            print(f"{n:>11,} {ids_kind:>6} {t_load:>12.2f} {t_sort:>9.3f} {t_fact:>11.2f} "
                  f"{t_load / t_sort:>9.0f} {t_load / t_fact:>14.1f}", flush=True)


if __name__ == "__main__":
    main()
