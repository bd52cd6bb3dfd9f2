"""Curve build time against a bare numpy sort of the same scores, as ratios in one run.

    python benchmarks/bench_curve.py [--rows 1000000 10000000] [--repeat 5] [--cpu]
                                     [--weighted] [--sklearn]

For each size: distinct float64 scores, float64 scores rounded to 3 decimals (ties), and the
same two as float32 (the baseline then sorts the float32 scores). Goals (issue 22): at most
1.5x np.sort with distinct scores, 1.2x with ties. Baseline and build alternate, best of
``--repeat`` each. Machines are noisy: read the ratio columns, not the seconds; ``--cpu``
times this process's CPU (not wall) time, steadier when other jobs share the cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import precision_recall_curve

from dashboard.metrics import ThresholdCurve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cpu", action="store_true", help="time process CPU, not wall, time")
    ap.add_argument("--weighted", action="store_true", help="also time a weighted build")
    ap.add_argument("--sklearn", action="store_true", help="also time precision_recall_curve")
    args = ap.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter

    def seconds(fn) -> float:
        t0 = clock()
        fn()
        return clock() - t0

    rng = np.random.default_rng(0)
    print(f"{'rows':>11} {'scores':>14} {'np.sort s':>10} {'curve s':>9} {'ratio':>6}"
          f"{'  weighted s  ratio' if args.weighted else ''}"
          f"{'  sklearn s  sk/curve' if args.sklearn else ''}")
    for n in args.rows:
        y = rng.integers(0, 2, n, dtype=np.int8)
        w = rng.random(n) + 0.5
        distinct, tied = rng.random(n), np.round(rng.random(n), 3)
        for name, scores in (("distinct", distinct), ("3 dec.", tied),
                             ("distinct f32", distinct.astype(np.float32)),
                             ("3 dec. f32", tied.astype(np.float32))):
            t_sort, t_curve, t_weighted = [], [], []
            for _ in range(args.repeat):
                t_sort.append(seconds(lambda s=scores: np.sort(s)))
                t_curve.append(seconds(lambda s=scores, y=y: ThresholdCurve.from_predictions(y, s)))
            base, curve = min(t_sort), min(t_curve)
            line = f"{n:>11,} {name:>14} {base:>10.3f} {curve:>9.3f} {curve / base:>6.2f}"
            if args.weighted:
                t_weighted = [seconds(lambda s=scores, y=y, w=w: ThresholdCurve.from_predictions(
                    y, s, sample_weight=w)) for _ in range(max(1, args.repeat // 2))]
                line += f"  {min(t_weighted):>10.3f} {min(t_weighted) / base:>6.2f}"
            if args.sklearn:
                t_sk = seconds(lambda s=scores, y=y: precision_recall_curve(y, s))
                line += f"  {t_sk:>9.3f}  {t_sk / curve:>8.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
