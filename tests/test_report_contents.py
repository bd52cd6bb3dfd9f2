"""The meeting report says what the views say: the tally's answer, suggested slices, suspects,
the task overview and the learning curve, each when the results have them."""

from __future__ import annotations

import html
import re

import pytest

from dashboard import Results
from dashboard.demo import CURVE_NAME, DEFAULT_DIR, MULTITASK_NAME
from dashboard.report import build_report


def _text(report: str) -> str:
    body = report[report.index("<body>"):report.index("<script>", report.index("<body>"))]
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_cat_report_answers_and_suggests() -> None:
    r = Results.from_file(DEFAULT_DIR / "cat_results.parquet")
    text = _text(build_report(r))
    assert r.tally("dev").attrs["fix_first"].sentence in text
    assert "Suggested categories from the metadata" in text and "lighting = night" in text
    assert f"{len(r.label_suspects('dev')):,} dev examples have a label the model" in text
    assert "(51%–70%)" in text  # blurry's share with its 95% interval


@pytest.mark.parametrize("name, expect", [
    (MULTITASK_NAME, ["Tasks", "mean over tasks", "traffic_light", "task pedestrian"]),
    (CURVE_NAME, ["Learning curve", "more training data is likely to help", "16,000"]),
])
def test_multitask_and_learning_curve_reports(name: str, expect: list[str]) -> None:
    text = _text(build_report(Results.from_file(DEFAULT_DIR / name, human_level=0.01)))
    for phrase in expect:
        assert phrase in text, phrase


def test_printed_report_keeps_each_heading_with_its_figure() -> None:
    """On paper (A4) a figure never starts a page without its heading, and the waterfall's
    category labels stay level at the printed width."""
    report = build_report(Results.from_file(DEFAULT_DIR / "cat_results.parquet"))
    for heading, figure in (("Where the error comes from", "waterfall"),
                            ("Error analysis", "tally"), ("Operating point", "confusion")):
        kept = re.search(r'<div class="keep"><h2>' + re.escape(heading) + r"</h2>(.*?)"
                         r'<div class="figure" id="(\w+)"></div></div>', report)
        assert kept and kept.group(2) == figure, heading
    assert re.search(r"@media print \{[^@]*\.keep \{ break-inside: avoid", report)
    assert "tickangle: 0" in report
