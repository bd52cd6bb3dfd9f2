"""Loading a results table (validation + canonical frame) against bare numpy/pandas baselines.

    python benchmarks/bench_load.py [--rows 1000000 10000000]

Prints seconds and ratios in one run: Results.from_frame against np.sort of the scores and
against pandas' own factorize of the id column (the floor for mapping ids to examples).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from dashboard.results import Results


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = ap.parse_args()
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
