"""The in-memory results model holds its rows compactly (issue 16): ids and keys as Arrow text,
never a Python object per row, and the kernel's data within twice the columns' Arrow size."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dashboard.io import SPLITS
from dashboard.results import Results

REPO = Path(__file__).resolve().parents[1]


def _frame(n: int = 400, seed: int = 0, ids: object = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": ids if ids is not None else [f"ex-{i:05d}" for i in range(n)],
        "split": rng.choice(["train", "dev", "test"], n),
        "label": rng.integers(0, 2, n), "score": rng.random(n)})


def _buffer(series: pd.Series) -> int:
    """Address of a text column's character buffer (equal when two columns share it)."""
    arr = pa.array(series.array)
    return arr.buffers()[2].address


def test_ids_and_keys_are_one_arrow_buffer(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    _frame().to_parquet(path)
    r = Results.from_file(path)
    frame = r.frame
    assert isinstance(frame["id"].dtype, pd.StringDtype) and frame["id"].dtype.storage == "pyarrow"
    assert _buffer(frame["key"]) == _buffer(frame["id"])  # no second copy of the ids
    assert not [c for c in frame.columns if frame[c].dtype == object]
    assert "id_code" not in frame.columns and "weight" not in frame.columns
    assert frame["label_code"].dtype == np.int8


def test_ids_repeated_across_splits_get_split_keys_as_arrow_text() -> None:
    df = pd.DataFrame({"id": ["a", "a", "b", "é"], "split": ["train", "dev", "dev", "test"],
                       "label": [0, 1, 1, 0], "score": [0.1, 0.9, 0.2, 0.4]})
    r = Results.from_frame(df)
    assert r.frame["key"].tolist() == ["train/a", "dev/a", "dev/b", "test/é"]
    assert isinstance(r.frame["key"].dtype, pd.StringDtype)
    assert r.has_key("dev/a") and not r.has_key("a")
    assert r.known_keys(["dev/a", "nope", "test/é"]) == frozenset({"dev/a", "test/é"})


@pytest.mark.parametrize("ids", [
    np.arange(400, dtype=np.int64) * 7,  # integer ids: their text, as before
    [f"ü-{i}" for i in range(400)],      # non-ASCII text: Arrow's byte order = sorted()'s
    [str(i % 200) for i in range(400)],  # ids shared by splits: split/id keys
])
def test_fingerprint_is_the_hash_of_each_splits_sorted_keys(ids: object) -> None:
    """The formula earlier versions stored reviews under (a store keyed by it must still be
    found), computed here in plain Python as the oracle."""
    df = _frame(ids=ids)
    df["split"] = np.where(np.arange(400) < 200, "train", ["dev", "test"] * 200)
    r = Results.from_frame(df)
    keys = r.frame["key"].astype(object).to_numpy()
    splits = r.frame["split"].astype(object).to_numpy()
    h = hashlib.sha256()
    for split in SPLITS:
        h.update(split.encode() + b"\x1e")
        h.update("\x1f".join(sorted(set(keys[splits == split].tolist()))).encode())
    assert r.fingerprint == h.hexdigest()[:16]
    assert r.frame["id"].tolist()[:3] == [str(i) for i in list(ids)[:3]]


def test_known_keys_and_has_key_scan_without_a_set_of_every_key() -> None:
    r = Results.from_frame(_frame(1000))
    assert r.has_key("ex-00999") and not r.has_key("ex-01000")
    assert r.known_keys([]) == frozenset()
    asked = ["ex-00001", "ex-00001", "missing", 5]
    assert r.known_keys(asked) == frozenset({"ex-00001"})


PROBE = """
import json, sys, tempfile
from pathlib import Path

def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024

import pyarrow.parquet as pq
import dashboard.figures, dashboard.widgets  # imports are not what is measured
from dashboard.app import DashboardApp
from dashboard.io import release_scratch
from dashboard.results import Results

arrow = pq.read_table(sys.argv[1]).nbytes / 2**20
release_scratch()
before = rss()
results = Results.from_file(sys.argv[1])
app = DashboardApp(results, store=Path(tempfile.mkdtemp()) / "a.sqlite")
release_scratch()
print(json.dumps({"arrow": arrow, "held": rss() - before, "rows": results.rows_total}))
"""


@pytest.mark.slow
def test_a_loaded_dashboard_holds_at_most_twice_the_columns_arrow_size(tmp_path: Path) -> None:
    """2M rows with text ids (67 MB as Arrow): the whole dashboard built on them, measured as
    the process's resident memory; with ids as Python objects it held ~11x."""
    n = 2_000_000
    rng = np.random.default_rng(0)
    label = (rng.random(n) < 0.3).astype(np.int64)
    table = pa.table({
        "id": pa.array([f"ex-{i:08d}" for i in range(n)]),
        "split": pa.array(np.array(["train", "train-dev", "dev", "test"])[
            np.searchsorted([0.6, 0.7, 0.85], rng.random(n))]).dictionary_encode(),
        "label": label, "score": np.clip(rng.normal(0.3 + 0.4 * label, 0.2), 0, 1)})
    path = tmp_path / "big.parquet"
    pq.write_table(table, path)
    done = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True,
                          text=True, cwd=str(REPO), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["rows"] == n
    assert got["held"] <= 2 * got["arrow"], got
