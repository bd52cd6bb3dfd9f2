"""Benchmark the threshold explorer: curve build and slider move, as ratios in the same run.

For each size it prints

* ``Results.from_predictions`` time (validation and the canonical frame; reported apart),
* curve build: the first ``results.curve("dev")`` (one sort of the split's scores and
  cumulative counts) against a bare ``numpy.sort`` of the same scores,
* slider move: ``results.threshold = x`` with a :class:`ThresholdExplorer` observing it (the
  binary search and every figure/HTML update it makes, measured in Python), median over
  random thresholds, against scikit-learn's ``confusion_matrix`` at the same threshold,
* the bytes of the figure update one move sends (a marker and a few numbers).

Machine noise moves absolute times; compare the ratios. Usage::

    python benchmarks/bench_explorer.py                 # 1 and 10 million rows
    python benchmarks/bench_explorer.py --rows 50000000 # where memory allows (~10 GiB)
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.metrics import confusion_matrix  # noqa: E402

from dashboard import Results  # noqa: E402
from dashboard.metrics.curve import ThresholdCurve  # noqa: E402
from dashboard.widgets.explorer import ThresholdExplorer  # noqa: E402

TARGET_MS = 10.0


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def bench(n: int, moves: int, sklearn_reps: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n, dtype=np.int8)
    # continuous scores: (almost) every score distinct, the largest curve a split can have
    s = np.clip(0.25 * y + 0.375 + rng.normal(0.0, 0.2, n), 0.0, 1.0)

    results, t_results = _timed(Results.from_predictions, y, s)
    builds = results.curve_builds
    curve, t_curve = _timed(results.curve, "dev")
    assert results.curve_builds == builds + 1
    _, t_bare_curve = _timed(ThresholdCurve.from_predictions, y, s)
    _, t_sort = _timed(np.sort, s)

    explorer, t_explorer = _timed(ThresholdExplorer, results)
    assert explorer.last_error is None, explorer.last_error
    assert results.curve_builds == builds + 1  # the explorer reused the cached curve

    sent: list[int] = []

    def record(change: dict) -> None:
        sent.append(len(json.dumps(change["new"], allow_nan=False)))

    # what a move sends: the marks of the curves figure and the 2x2 confusion matrix spec
    explorer.figure.observe(record, names="marks")
    explorer.confusion_figure.observe(record, names="spec")

    thresholds = rng.uniform(0.05, 0.95, moves).round(6)
    move_ms, per_move = [], []
    for thr in thresholds:
        before = len(sent)
        t0 = time.perf_counter()
        results.threshold = float(thr)
        move_ms.append((time.perf_counter() - t0) * 1e3)
        per_move.append(sum(sent[before:]))
    builds_after = results.curve_builds
    assert explorer.last_error is None, explorer.last_error

    sk_ms = []
    for thr in thresholds[:sklearn_reps]:
        t0 = time.perf_counter()
        cm = confusion_matrix(y, (s >= thr).astype(np.int8), labels=[0, 1])
        sk_ms.append((time.perf_counter() - t0) * 1e3)
        results.threshold = float(thr)
        shown = explorer.confusion.counts
        assert np.array_equal(shown, cm), (shown, cm)  # the same numbers, exactly

    move = statistics.median(move_ms)
    sk = statistics.median(sk_ms)
    row = {
        "rows": n, "distinct": len(curve), "results_s": t_results, "curve_s": t_curve,
        "bare_curve_s": t_bare_curve, "sort_s": t_sort, "curve_ratio": t_curve / t_sort,
        "explorer_s": t_explorer, "move_ms": move, "move_p90_ms": float(np.percentile(
            move_ms, 90)), "move_max_ms": max(move_ms), "sklearn_ms": sk,
        "speedup": sk / move,
        "msg_bytes": int(statistics.median(per_move)),
        "curve_rebuilt": builds_after != builds + 1, "peak_gib": _peak_gib(),
    }
    explorer.close()
    del explorer, results, curve, y, s
    gc.collect()
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--moves", type=int, default=50, help="slider moves per size (median)")
    ap.add_argument("--sklearn-reps", type=int, default=7,
                    help="sklearn confusion_matrix runs per size (median)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    rows = []
    for n in args.rows:
        print(f"… {n:,} rows", file=sys.stderr, flush=True)
        rows.append(bench(n, args.moves, args.sklearn_reps, args.seed))

    print("\nCurve build (first results.curve('dev')) vs a bare numpy sort of the scores")
    print(f"{'rows':>12} {'distinct':>11} {'from_predictions s':>19} {'curve s':>9} "
          f"{'metric only s':>14} {'np.sort s':>10} {'curve/sort':>11}")
    for r in rows:
        print(f"{r['rows']:>12,} {r['distinct']:>11,} {r['results_s']:>19.2f} "
              f"{r['curve_s']:>9.3f} {r['bare_curve_s']:>14.3f} {r['sort_s']:>10.3f} "
              f"{r['curve_ratio']:>10.2f}x")
    print("\nSlider move (results.threshold = x, explorer updates included, Python time) vs "
          "sklearn confusion_matrix at x")
    print(f"{'rows':>12} {'move ms (median)':>17} {'p90 ms':>8} {'max ms':>8} "
          f"{'sklearn ms':>11} {'sklearn/move':>13} {'msg bytes':>10} {'explorer s':>11} "
          f"{'peak GiB':>9}")
    for r in rows:
        print(f"{r['rows']:>12,} {r['move_ms']:>17.3f} {r['move_p90_ms']:>8.3f} "
              f"{r['move_max_ms']:>8.3f} {r['sklearn_ms']:>11.1f} {r['speedup']:>12.0f}x "
              f"{r['msg_bytes']:>10,} {r['explorer_s']:>11.2f} {r['peak_gib']:>9.1f}")
    ok = all(r["move_ms"] < TARGET_MS for r in rows if r["rows"] >= 10_000_000)
    rebuilt = any(r["curve_rebuilt"] for r in rows)
    print(f"\nTarget: a move at 10M rows under {TARGET_MS:g} ms of Python time: "
          f"{'met' if ok else 'NOT met'}; curves rebuilt by moves: {'yes' if rebuilt else 'no'}")
    return 0 if ok and not rebuilt else 1


if __name__ == "__main__":
    raise SystemExit(main())
