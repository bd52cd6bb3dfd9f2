"""The DuckDB engine's ``aggregate()`` at scale, as a ratio to one ``np.sort`` of the scores.

    python benchmarks/bench_duckdb_scale.py                     # 10^7 rows, text ids
    python benchmarks/bench_duckdb_scale.py --rows 1e8          # the issue's goal: 10^8 rows
    python benchmarks/bench_duckdb_scale.py --ids int --ids none

Writes one Parquet file of N rows (N/2 examples x 2 models; split, int label, float64 score,
and an id column of text ``ex<k>``, integers, or none), then runs each step in a fresh process
(so the peak memory, ``ru_maxrss``, is that step's own):

- **np.sort**: one ``numpy.sort`` of the file's scores (read beforehand, not timed; the
  fastest of three);
- **aggregate**: ``dashboard.engines.aggregate(file)`` (``--memory-limit``, ``--threads``:
  the engine's settings, DuckDB's defaults unless given), with the seconds spent in the id
  checks (``_check_ids``) shown apart; ``--former`` then times, on the same open engine,
  the id checks as they were before issue 22 (two GROUP BYs), for a ratio in one run.

The table prints seconds, the ratio to the sort measured in the same run, and peak GiB.
Goal (issue 22): at 10^8 rows, aggregate <= 5x np.sort and <= 4 GiB. To compare two checkouts
in one session, run the script twice with ``PYTHONPATH`` pointing at each, ``--dir`` the same
folder and ``--keep`` (the file is written once).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 5_000_000  # examples written at a time (x 2 models)
GIB = 2**30


def write_file(path: Path, rows: int, ids: str, seed: int = 0) -> float:
    """``rows`` rows (rows/2 examples x models a and b) in one Parquet file; GB on disk."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    examples = rows // 2
    splits = pa.array(["train", "dev", "test"])
    writer = None
    try:
        for start in range(0, examples, CHUNK):
            n = min(CHUNK, examples - start)
            label = (rng.random(n) < 0.3).astype(np.int64)
            code = np.searchsorted([0.7, 0.85], rng.random(n)).astype(np.int8)
            number = np.arange(start, start + n, dtype=np.int64)
            for model in ("a", "b"):
                # a model right about 85% of the time: scores lean towards the label
                score = np.clip(rng.normal(0.3 + 0.4 * label, 0.2), 0, 1)
                cols = {"split": pa.DictionaryArray.from_arrays(pa.array(code), splits),
                        "model": pa.array(np.full(n, model)), "label": pa.array(label),
                        "score": pa.array(score)}
                if ids == "int":
                    cols = {"id": pa.array(number), **cols}
                elif ids == "text":
                    cols = {"id": pc.binary_join_element_wise(
                        "ex", pc.cast(pa.array(number), pa.string()), ""), **cols}
                table = pa.table(cols)
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table, row_group_size=1_000_000)
    finally:
        if writer is not None:
            writer.close()
    return path.stat().st_size / 1e9


def peak_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # Linux: KiB


def former_checks(eng) -> float:
    """Seconds of the id checks as they were before issue 22 (a grouping by id and model,
    then one by id for the key rule with several models), on the same open engine."""
    sc, m, i = eng.exprs["split_code"], eng.exprs["model"], eng.exprs["id"]
    t0 = time.perf_counter()
    eng.one(f"SELECT max(c) FILTER (WHERE lo = hi), count(*) FILTER (WHERE lo <> hi) FROM "
            f"(SELECT {i}, {m}, count(*) AS c, min({sc}) AS lo, max({sc}) AS hi FROM src "
            "GROUP BY ALL)")
    eng.one(f"SELECT count(*) FROM (SELECT {i} FROM src GROUP BY {i} HAVING min({sc}) <> "
            f"max({sc}) LIMIT 1)")
    return time.perf_counter() - t0


def child(kind: str, path: Path, memory_limit: str | None, threads: int | None,
          former: bool = False) -> dict:
    """One measured step, in its own process."""
    out: dict = {}
    if kind == "sort":
        import pyarrow.parquet as pq

        scores = pq.read_table(path, columns=["score"])["score"].to_numpy()
        runs = []
        for _ in range(3):  # the fastest of three: the sort's own time on a busy machine
            t0 = time.perf_counter()
            np.sort(scores)
            runs.append(time.perf_counter() - t0)
        out["s"] = min(runs)
        out["rows"] = int(scores.size)
    else:
        import dashboard.engines as engines

        checks = [0.0]
        original = engines._check_ids

        def timed(*args, **kwargs):  # the id checks' own seconds
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                checks[0] += time.perf_counter() - t
        engines._check_ids = timed
        t0 = time.perf_counter()
        try:
            agg = engines.aggregate(path, memory_limit=memory_limit, threads=threads)
        except Exception as exc:  # the old engine refuses a file without ids
            out["error"] = str(exc)[-200:]
        else:
            out["rows"] = agg.rows
            out["sample"] = len(agg.sample)
            out["keys_with_split"] = bool(agg.keys_with_split)
        out["s"] = time.perf_counter() - t0
        if "rows" in out and former and agg.schema.notes and not any(
                n.startswith("No id") for n in agg.schema.notes):
            out["former_s"] = former_checks(agg.engine)
        out["checks_s"] = checks[0]
        out["engine"] = str(Path(engines.__file__).resolve().parents[1])
    out["peak_gib"] = peak_gib()
    return out


def run_child(kind: str, path: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--dir", str(path)]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.former:
        cmd += ["--former"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=float, default=1e7, help="rows (1e7, 1e8...)")
    ap.add_argument("--ids", choices=["text", "int", "none"], action="append",
                    help="id column kind (repeat for several; default text)")
    ap.add_argument("--memory-limit", default=None, help="DuckDB's memory_limit (e.g. 3GB)")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB's threads")
    ap.add_argument("--dir", default=None, help="where to write the data (default: temp)")
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) the written files")
    ap.add_argument("--former", action="store_true",
                    help="also time the former id checks (two GROUP BYs) after aggregate()")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.dir), args.memory_limit, args.threads,
                               args.former)))
        return
    rows = int(args.rows)
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-duckdb-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"{'rows':>12} {'ids':>5} {'GB':>5} {'np.sort s':>9} {'aggregate s':>11} "
          f"{'id checks s':>11} {'agg/sort':>8} {'peak GiB':>8} {'sort GiB':>8}  engine")
    for ids in args.ids or ["text"]:
        path = root / f"bench-{rows}-{ids}.parquet"
        try:
            gb = (path.stat().st_size / 1e9 if args.keep and path.exists() else
                  write_file(path, rows, ids))
            sort = run_child("sort", path, args)
            agg = run_child("aggregate", path, args)
            tail = agg.get("error") or (f"{agg['rows']:,} rows, sample {agg['sample']:,}, "
                                        f"split keys {agg['keys_with_split']}")
            if "former_s" in agg:
                tail += (f"; the former id checks, same engine: {agg['former_s']:.1f} s = "
                         f"{agg['former_s'] / max(agg['checks_s'], 1e-9):.1f}x these")
            print(f"{rows:>12,} {ids:>5} {gb:>5.2f} {sort['s']:>9.2f} {agg['s']:>11.1f} "
                  f"{agg['checks_s']:>11.1f} {agg['s'] / sort['s']:>8.1f} "
                  f"{agg['peak_gib']:>8.2f} {sort['peak_gib']:>8.2f}  {agg['engine']} "
                  f"({tail})", flush=True)
        finally:
            if not args.keep:
                path.unlink(missing_ok=True)
    if not args.keep and not args.dir:
        root.rmdir()


if __name__ == "__main__":
    main()
