"""Results past one machine's memory: DuckDB aggregates against one numpy sort and pandas.

    python benchmarks/bench_scale.py                      # 10^7 rows: DuckDB and pandas
    python benchmarks/bench_scale.py --rows 100000000     # 10^8 rows (~1 GB), DuckDB only

Writes N rows of Parquet partitions (10^7 rows each: int64 id, split, label, float32 score)
to a temporary folder, then in a fresh process each (so peak memory is that step's own,
``resource.getrusage`` of the process):

- **duckdb**: ``Results.from_dataset(folder, memory_limit=...)`` (4 GB by default) then the
  waterfall's figure spec (``dashboard.figures.waterfall_spec``): seconds to the aggregates,
  to the first figure, and the median threshold move (error rates at a new threshold);
- **np.sort**: one ``numpy.sort`` of the same scores (read beforehand, not timed): the
  floor of any exact curve; the table prints the aggregation's ratio to it;
- **pandas** (at most ``--pandas-max`` rows, default 10^7): ``Results.from_file`` on the same
  file, and the same figure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PART_ROWS = 10_000_000


def write_parts(folder: Path, rows: int, seed: int = 0) -> float:
    """Write ``rows`` rows as Parquet partitions of at most 10^7 rows; returns GB on disk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    splits = pa.array(["train", "dev", "test"])
    start = 0
    part = 0
    while start < rows:
        n = min(PART_ROWS, rows - start)
        label = (rng.random(n) < 0.3).astype(np.int8)
        # a model that is right about 85% of the time: scores lean towards the label
        score = np.clip(rng.normal(0.3 + 0.4 * label, 0.2), 0, 1).astype(np.float32)
        code = np.searchsorted([0.7, 0.85], rng.random(n)).astype(np.int8)
        table = pa.table({
            "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "split": pa.DictionaryArray.from_arrays(pa.array(code), splits),
            "label": pa.array(label),
            "score": pa.array(score),
        })
        pq.write_table(table, folder / f"part-{part:04d}.parquet")
        start += n
        part += 1
    return sum(f.stat().st_size for f in folder.iterdir()) / 1e9


def peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(kind: str, folder: Path, memory_limit: str) -> dict:
    """One measured step, in its own process."""
    from dashboard.figures import waterfall_spec
    from dashboard.results import Results

    out: dict = {}
    if kind == "sort":
        import pyarrow.dataset as ds

        scores = ds.dataset(folder).to_table(columns=["score"])["score"].to_numpy()
        t0 = time.perf_counter()
        np.sort(scores)
        out["sort_s"] = time.perf_counter() - t0
        out["rows"] = int(scores.size)
    else:
        t0 = time.perf_counter()
        if kind == "duckdb":
            r = Results.from_dataset(folder, engine="duckdb", memory_limit=memory_limit)
        else:
            files = sorted(folder.glob("*.parquet"))
            if len(files) != 1:
                raise SystemExit("the pandas path reads one file: use --rows <= 10^7")
            r = Results.from_file(files[0])
        out["load_s"] = time.perf_counter() - t0
        spec = waterfall_spec(r)
        out["figure_s"] = time.perf_counter() - t0
        out["traces"] = len(spec["data"])
        moves = []
        for thr in np.linspace(0.2, 0.8, 11):
            t1 = time.perf_counter()
            r.threshold = float(thr)
            r.error_rates()
            moves.append(time.perf_counter() - t1)
        out["move_ms"] = float(np.median(moves) * 1000)
        out["dev_error"] = float(r.error_rates().loc["dev", "error"])
        out["gridded"] = sorted(f"{m}/{s}" for m, s in getattr(r, "gridded", {}))
        out["frame_rows"] = len(r.frame)
    out["peak_mb"] = peak_mb()
    return out


def run_child(kind: str, folder: Path, memory_limit: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", kind, "--dir", str(folder),
                           "--memory-limit", memory_limit], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000_000])
    ap.add_argument("--memory-limit", default="4GB", help="DuckDB's memory_limit")
    ap.add_argument("--pandas-max", type=int, default=10_000_000,
                    help="largest size the pandas path is run at")
    ap.add_argument("--dir", default=None, help="where to write the data (default: a temp dir)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.dir), args.memory_limit)))
        return
    print(f"{'rows':>13} {'GB':>5} {'path':>7} {'to aggregates s':>15} {'to figure s':>11} "
          f"{'np.sort s':>9} {'agg/sort':>8} {'peak MB':>8} {'move ms':>7}  gridded")
    for rows in args.rows:
        root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-scale-"))
        folder = root / f"rows-{rows}"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            gb = write_parts(folder, rows)
            sort = run_child("sort", folder, args.memory_limit)
            kinds = ["duckdb"] + (["pandas"] if rows <= args.pandas_max else [])
            for kind in kinds:
                m = run_child(kind, folder, args.memory_limit)
                print(f"{rows:>13,} {gb:>5.2f} {kind:>7} {m['load_s']:>15.1f} "
                      f"{m['figure_s']:>11.1f} {sort['sort_s']:>9.2f} "
                      f"{m['load_s'] / sort['sort_s']:>8.1f} {m['peak_mb']:>8,.0f} "
                      f"{m['move_ms']:>7.2f}  {', '.join(m['gridded']) or '-'}"
                      f"  (dev error {m['dev_error']:.4f}, {m['frame_rows']:,} rows held)",
                      flush=True)
            print(f"{'':>13} {'':>5} {'np.sort':>7} peak {sort['peak_mb']:,.0f} MB "
                  f"(holding the {sort['rows']:,} scores)", flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            if not args.dir:
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
