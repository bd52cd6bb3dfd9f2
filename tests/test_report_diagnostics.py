"""The report carries the issue-24 diagnostics: mismatch drivers, ROC, reliability, resolution."""

from __future__ import annotations

import html
import json
import re

from dashboard import Results
from dashboard.demo import DEFAULT_DIR
from dashboard.figures.diagnostics import mismatch_spec
from dashboard.report import build_report, figures


def test_cat_report_names_the_driver_and_draws_roc_and_reliability() -> None:
    r = Results.from_file(DEFAULT_DIR / "cat_results.parquet")
    figs = figures(r)
    assert {"mismatch", "roc", "calibration"} <= set(figs)
    assert figs["mismatch"] == json.loads(json.dumps(mismatch_spec(r)))
    page = build_report(r, figs=figs)
    body = page[page.index("<body>"):page.index("<script>", page.index("<body>"))]
    text = html.unescape(re.sub(r"<[^>]+>", " ", body))
    assert "Top mismatch driver: lighting = night" in text
    for name in ("mismatch", "roc", "calibration"):
        assert f'id="{name}"' in body
    assert f"AUC {r.roc('dev').attrs['auc']:.3f}" in text
    assert f"Brier score {r.calibration('dev').attrs['brier']:.3f}" in text
    assert "can tell apart error differences of ≥" in text and "to see 0.5 pp" in text
