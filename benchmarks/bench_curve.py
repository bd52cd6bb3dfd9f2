"""Curve build time against a bare numpy sort of the same scores, as ratios in one run.

    python benchmarks/bench_curve.py [--rows 1000000 10000000] [--repeat 3]

Machines are noisy: read the ratio columns, not the seconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import precision_recall_curve

from dashboard.metrics import ThresholdCurve


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sklearn", action="store_true", help="also time precision_recall_curve")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'rows':>11} {'ties':>9} {'np.sort s':>10} {'curve s':>9} {'ratio':>6}"
          f"{'  sklearn s  sk/curve' if args.sklearn else ''}")
    for n in args.rows:
        y = rng.integers(0, 2, n, dtype=np.int8)
        for ties, scores in (("distinct", rng.random(n)),
                             ("3 dec.", np.round(rng.random(n), 3))):
            t_sort = best_of(lambda s=scores: np.sort(s), args.repeat)
            t_curve = best_of(lambda s=scores, y=y: ThresholdCurve.from_predictions(y, s),
                              args.repeat)
            line = f"{n:>11,} {ties:>9} {t_sort:>10.3f} {t_curve:>9.3f} {t_curve / t_sort:>6.2f}"
            if args.sklearn:
                t_sk = best_of(lambda s=scores, y=y: precision_recall_curve(y, s), 1)
                line += f"  {t_sk:>9.3f}  {t_sk / t_curve:>8.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
