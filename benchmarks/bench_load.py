"""Loading a results table (validation + canonical frame) against bare numpy/pandas baselines.

    python benchmarks/bench_load.py [--rows 1000000 10000000]
    python benchmarks/bench_load.py --file results.parquet [--repeat 3]

``--rows``: seconds and ratios in one run: Results.from_frame against np.sort of the scores
and against pandas' own factorize of the id column (the floor for mapping ids to examples).

``--file`` (issue 22's goals): per round, each step in a fresh process as a page's kernel
loads it (imports untimed, the file read once before): ``pd.read_parquet(path)`` and one
``np.sort`` of its scores (the baselines), ``Results.from_file(path)`` without a cache, and
the first load filling an empty table cache (``Results.from_file(path, cache=TableCache(new
folder))``), the three taking turns at going first. Prints from_file / read_parquet and
first fill / (read_parquet + np.sort) per round and their medians.
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

# imports (pandas loads pyarrow.parquet on first use) are left out of every timing; each
# step reports wall-clock and CPU seconds (all threads): on a machine shared with other jobs
# the CPU ratio is the steadier one
_BASELINE = """
import json, sys, time, numpy as np, pandas as pd, pyarrow.parquet
c, t = time.process_time(), time.perf_counter(); df = pd.read_parquet(sys.argv[1])
read, read_cpu = time.perf_counter() - t, time.process_time() - c
s = df["score"].to_numpy()
c, t = time.process_time(), time.perf_counter(); np.sort(s)
sort, sort_cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"read": read, "sort": sort, "read_cpu": read_cpu, "sort_cpu": sort_cpu}))
"""

_LOAD = """
import json, sys, time, pyarrow.parquet
from dashboard.cache import TableCache
from dashboard.results import Results
cache = None if sys.argv[2] == "off" else TableCache(sys.argv[2])
c, t = time.process_time(), time.perf_counter(); r = Results.from_file(sys.argv[1], cache=cache)
load, load_cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"load": load, "cpu": load_cpu, "built": r.cache_built}))
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
            # a process runs faster on memory the one before it freed (the VM has it mapped
            # already): the three steps take turns at going first
            steps = {"base": lambda: child(_BASELINE, str(path)),
                     "off": lambda: child(_LOAD, str(path), "off"),
                     "fill": lambda i=i: child(_LOAD, str(path), str(work / f"cache-{i}"))}
            order = list(steps)[i % 3:] + list(steps)[:i % 3]
            got = {name: steps[name]() for name in order}
            base, off, filled = got["base"], got["off"], got["fill"]
            if not filled["built"]:
                raise SystemExit("the first load did not fill the cache")
            rows.append((base, off, filled))
            shutil.rmtree(work / f"cache-{i}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"file {path} ({path.stat().st_size / 2**20:.0f} MiB); seconds wall (cpu)")
    print(f"{'round':>5} {'read_parquet':>13} {'np.sort':>13} {'from_file':>13} "
          f"{'first fill':>13} {'from_file/read':>15} {'fill/(read+sort)':>17}")
    wall, cpu = [], []
    for i, (base, off, filled) in enumerate(rows, 1):
        wall.append((off["load"] / base["read"],
                     filled["load"] / (base["read"] + base["sort"])))
        cpu.append((off["cpu"] / base["read_cpu"],
                    filled["cpu"] / (base["read_cpu"] + base["sort_cpu"])))
        cells = [f"{base['read']:.2f} ({base['read_cpu']:.2f})",
                 f"{base['sort']:.3f} ({base['sort_cpu']:.3f})",
                 f"{off['load']:.2f} ({off['cpu']:.2f})",
                 f"{filled['load']:.2f} ({filled['cpu']:.2f})",
                 f"{wall[-1][0]:.2f} ({cpu[-1][0]:.2f})",
                 f"{wall[-1][1]:.2f} ({cpu[-1][1]:.2f})"]
        print(f"{i:>5} " + " ".join(f"{c:>{w}}" for c, w in zip(
            cells, (13, 13, 13, 13, 15, 17), strict=True)))
    for j, (what, goal) in enumerate((("from_file / read_parquet", 3),
                                      ("first fill / (read_parquet + np.sort)", 2))):
        print(f"median {what}: {statistics.median(r[j] for r in wall):.2f} wall, "
              f"{statistics.median(r[j] for r in cpu):.2f} cpu (goal <= {goal})")


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
