"""The launcher does not keep its validation copy of the data (issue 13, item 5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PROBE = """
import json, sys
from pathlib import Path
from dashboard.cli import _validate

def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024

import dashboard.results  # imports are not what is measured
before = rss()
summary = _validate(Path(sys.argv[1]), None)
rows = summary["rows"] if isinstance(summary, dict) else len(summary.frame)  # old: a Results
print(json.dumps({"before": before, "after": rss(), "rows": rows}))
"""


@pytest.mark.slow
def test_validation_copy_is_not_kept(tmp_path: Path) -> None:
    n = 400_000
    rng = np.random.default_rng(0)
    csv = tmp_path / "big.csv"
    pd.DataFrame({"id": [f"example-{i:08d}" for i in range(n)],
                  "split": rng.choice(["train", "dev", "test"], n),
                  "label": rng.integers(0, 2, n), "score": rng.random(n).round(4),
                  "model": rng.choice(["a/b", "c"], n)}).to_csv(csv, index=False)
    out = subprocess.run([sys.executable, "-c", PROBE, str(csv)], capture_output=True,
                         text=True, check=True, timeout=300)
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nlauncher RSS around validating {n:,} rows: {probe['before']:.0f} -> "
          f"{probe['after']:.0f} MB")
    assert probe["rows"] == n
    assert probe["after"] - probe["before"] < 40
