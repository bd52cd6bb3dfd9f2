"""Suggested slices against a pandas groupby of the same counts, printed as ratios.

    python benchmarks/bench_slices.py [--rows 1000000 10000000]

(from the repository root; add ``PYTHONPATH=.`` if the package is not installed)

Per size, in one run: ``Results.suggest_slices("dev", max_order=2)`` on four metadata
columns (two categorical, one numeric binned in quartiles, one categorical of 12 levels:
4 single-column passes and 6 pairs), cold (first call) and cached; the baseline is
``DataFrame.groupby([...]).agg(size, sum)`` of the error flag over the same 4 columns and
6 pairs (numeric column pre-binned with ``pd.qcut`` outside the timer), which computes the
counts only, without tests. "after a move" is the recount after a threshold change (the
binned columns are kept). A planted slice is checked to come out on top.
"""

from __future__ import annotations

import argparse
import time
from itertools import combinations

import numpy as np
import pandas as pd

from dashboard.results import Results


def make(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    device = rng.choice(np.array(["ios", "android", "web"]), rows)
    light = rng.choice(np.array(["day", "night"]), rows, p=[0.7, 0.3])
    region = rng.choice(np.array([f"r{i}" for i in range(12)]), rows)
    brightness = rng.random(rows)
    planted = (device == "android") & (light == "night")
    wrong = rng.random(rows) < np.where(planted, 0.3, 0.05)
    label = rng.integers(0, 2, rows)
    score = np.where(wrong ^ (label == 1), 0.8, 0.2)
    return pd.DataFrame({"split": "dev", "label": label, "score": score, "device": device,
                         "light": light, "region": region, "brightness": brightness})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    print(f"{'rows':>11} {'slices cold':>12} {'cached':>9} {'after a move':>13} "
          f"{'pandas groupby':>15} {'cold/groupby':>13} {'move/groupby':>13} {'top slice'}")
    for rows in args.rows:
        df = make(rows)
        r = Results.from_frame(df)
        t0 = time.perf_counter()
        table = r.suggest_slices("dev", max_order=2)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        r.suggest_slices("dev", max_order=2)
        cached = time.perf_counter() - t0
        r.threshold = 0.3  # new errors: counted again, the binned columns are kept
        t0 = time.perf_counter()
        r.suggest_slices("dev", max_order=2)
        moved = time.perf_counter() - t0
        frame = df[["device", "light", "region"]].assign(
            brightness=pd.qcut(df["brightness"], 4), wrong=~r.correct("dev"))
        cols = ["device", "light", "region", "brightness"]
        t0 = time.perf_counter()
        for c in cols:
            frame.groupby(c, observed=True)["wrong"].agg(["size", "sum"])
        for a, b in combinations(cols, 2):
            frame.groupby([a, b], observed=True)["wrong"].agg(["size", "sum"])
        base = time.perf_counter() - t0
        top = table.iloc[0]["slice"]
        assert "android" in top and "night" in top, top
        print(f"{rows:>11,} {cold:>11.2f}s {cached * 1e3:>7.2f}ms {moved:>12.2f}s "
              f"{base:>14.2f}s {cold / base:>12.2f}x {moved / base:>12.2f}x  {top}")


if __name__ == "__main__":
    main()
