"""The meeting report and the command line, without a browser."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dashboard import Results
from dashboard.report import build_report

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_results(demo_path: Path, demo_meta: dict) -> Results:
    r = Results.from_file(demo_path, human_level=demo_meta["human_level"],
                          metadata=demo_meta["models"])
    r.threshold = 0.55
    return r


@pytest.fixture(scope="module")
def demo_report(demo_results: Results) -> str:
    return build_report(demo_results, title="Cats <b>&</b> dogs")


def test_report_is_self_contained(demo_report: str) -> None:
    # plotly.js inlined exactly once; no script or stylesheet fetched from anywhere
    assert demo_report.count("* plotly.js v") == 1
    assert len(re.findall(r"<script[^>]*\bsrc=", demo_report)) == 0
    assert "<link" not in demo_report
    markup = re.sub(r"<script[^>]*>.*?</script>", "", demo_report, flags=re.S)
    assert not re.findall(r"""\b(?:src|href)=["']?(?:https?:)?//""", markup)
    assert len(demo_report) > 3_000_000  # the library itself is in the file


def test_report_says_the_diagnosis_and_escapes_text(demo_report: str,
                                                    demo_results: Results) -> None:
    assert "Cats &lt;b&gt;&amp;&lt;/b&gt; dogs" in demo_report
    assert "Focus on data mismatch" in demo_report
    assert "threshold 0.55" in demo_report
    # the tally with shares and ceilings, and the label-noise verdict
    blurry = demo_results.tally("dev").loc["blurry"]
    assert (f"<td>blurry</td><td>{int(blurry['count'])}</td><td>{blurry['share']:.0%} "
            f"({blurry['share_low']:.0%}–{blurry['share_high']:.0%})</td>"
            f"<td>{blurry['ceiling_error']:.1%} ({blurry['ceiling_low']:.1%}–"
            f"{blurry['ceiling_high']:.1%})</td>") in demo_report
    # 6 mislabelled of 100 reviewed: 95% 2.8-12.5%, all below 20%: the verdict is earned
    assert "fixing labels is not the priority" in demo_report
    assert "McNemar p =" in demo_report


def test_report_draws_the_figure_layers_specs_once_each(demo_report: str,
                                                       demo_results: Results) -> None:
    import json

    from dashboard.report import figures

    blob = re.search(r'<script type="application/json" id="mldash-figures">(.*?)</script>',
                     demo_report, flags=re.S)
    assert blob is not None
    specs = json.loads(blob.group(1).replace("<\\/", "</"))
    assert specs == json.loads(json.dumps(figures(demo_results)))
    assert set(specs) == {"waterfall", "tally", "explorer", "confusion", "mismatch", "roc",
                          "calibration"}
    for name in specs:
        assert demo_report.count(f'<div class="figure" id="{name}">') == 1
    # the confusion matrix once: a figure, not also a table
    assert "predicted positive" not in demo_report
    assert specs["confusion"]["layout"]["xaxis"]["title"]["text"] == "Predicted"
    # printing: no figure split across pages, no modebar, follows the colour scheme
    assert "break-inside: avoid" in demo_report
    assert ".modebar" in demo_report and "@media print" in demo_report
    assert "prefers-color-scheme: dark" in demo_report


def test_report_imports_figures_not_widgets() -> None:
    source = (ROOT / "dashboard" / "report.py").read_text()
    assert "dashboard.widgets" not in source and "ipywidgets" not in source
    assert "from dashboard.figures" in source


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_cli_report_writes_an_html_file(tmp_path: Path, demo_path: Path) -> None:
    out = tmp_path / "diagnosis.html"
    result = run_cli("report", str(demo_path), "-o", str(out), "--threshold", "0.6")
    assert result.returncode == 0, result.stderr
    assert out.exists() and "opens offline" in result.stdout
    assert "threshold 0.6" in out.read_text()


@pytest.mark.parametrize("command", ["serve", "report"])
def test_cli_bad_file_is_one_clear_line(tmp_path: Path, command: str) -> None:
    missing = run_cli(command, str(tmp_path / "missing.csv"), "--no-browser"
                      if command == "serve" else "-o", *([] if command == "serve"
                                                        else [str(tmp_path / "o.html")]))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'missing.csv'}: file not found"]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"id": [1, 2, 3], "split": ["dev"] * 3, "label": [0, 1, 0],
                  "score": [0.2, None, 0.7]}).to_csv(bad, index=False)
    result = run_cli(command, str(bad), *(["--no-browser"] if command == "serve"
                                          else ["-o", str(tmp_path / "o.html")]))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"error: {bad}, column 'score', row 2 (id '2'): "
                                     "value is missing (NaN)")


def test_report_task_option_and_did_you_mean(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """``report --task`` reports that task; a typo (in a task, a column or a split) is
    answered with the closest name."""
    from dashboard.cli import main

    multi = ROOT / "dashboard" / "data" / "demo" / "drive_multitask.parquet"
    tasks = Results.from_file(multi).tasks
    out = tmp_path / "task.html"
    assert main(["report", str(multi), "-o", str(out), "--no-store", "--task", tasks[1]]) == 0
    assert f"task {tasks[1]}" in out.read_text()
    typo = tasks[1][:-1] + "x"
    assert main(["report", str(multi), "-o", str(out), "--no-store", "--task", typo]) == 2
    assert f"(did you mean {tasks[1]!r}?)" in capsys.readouterr().err
    bad = tmp_path / "typo.csv"
    pd.DataFrame({"id": [1, 2], "split": ["dev", "tset"], "label": [0, 1],
                  "score": [0.2, 0.7]}).to_csv(bad, index=False)
    assert main(["report", str(bad), "-o", str(out), "--no-store"]) == 2
    assert "unknown split 'tset' (did you mean 'test'?)" in capsys.readouterr().err
    pd.DataFrame({"id": [1, 2], "split": ["dev", "test"], "label": [0, 1],
                  "score": [0.2, 0.7]}).to_csv(bad, index=False)
    assert main(["report", str(bad), "-o", str(out), "--no-store", "--score-col", "scor"]) == 2
    assert "missing score column (did you mean 'score'?)" in capsys.readouterr().err
