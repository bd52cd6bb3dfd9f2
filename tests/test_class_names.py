"""Class names: the views show "cat" / "not cat" where the file holds 1 / 0 (issue 14).

Names come from ``class_names=`` (Python), the sidecar's ``class_names`` or ``--class-names``;
the grid's label and prediction columns, the explorer's confusion matrix and class selector
and the report use them, and a name for a class the labels lack is refused in one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dashboard import DashboardError, Results, TallyGrid
from dashboard.app import load_results
from dashboard.cli import class_names_option
from dashboard.report import build_report
from dashboard.widgets.explorer import ThresholdExplorer

NAMES = {0: "not cat", 1: "cat"}


def _frame(labels: list) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame({"id": [f"e{i}" for i in range(n)], "split": ["dev"] * n,
                         "label": labels, "score": [(i * 37 % 100) / 100 for i in range(n)]})


def test_grid_rows_show_names_for_label_and_prediction(tmp_path: Path) -> None:
    r = Results.from_frame(_frame([i % 2 for i in range(40)]), class_names=NAMES)
    grid = TallyGrid(r, tmp_path / "s.sqlite", sample_size=10)
    rows = grid._table.rows
    assert rows, "the grid drew no rows"
    for row in rows:
        assert row["label"] in ("cat", "not cat") and row["predicted"] in ("cat", "not cat")
        assert row["label"] != row["predicted"]  # the sample is misclassified rows
    plain = TallyGrid(Results.from_frame(_frame([i % 2 for i in range(40)])),
                      tmp_path / "t.sqlite", sample_size=10)
    assert {row["label"] for row in plain._table.rows} <= {"0", "1"}


def test_explorer_and_report_name_the_classes() -> None:
    r = Results.from_frame(_frame([i % 2 for i in range(40)]), class_names=NAMES)
    assert r.confusion_classes() == ("not cat", "cat")
    ex = ThresholdExplorer(r)
    text = json.dumps(ex.confusion_figure.spec)
    assert "not cat" in text and '"cat' in text
    assert [label for label, _ in ex._class_picker.options] == ["not cat", "cat"]
    assert "not cat" in build_report(r)


def test_string_labels_keep_their_own_names_and_can_be_renamed() -> None:
    r = Results.from_frame(_frame(["dog", "cat"] * 10), pos_label="cat")
    assert r.confusion_classes() == ("dog", "cat")
    renamed = Results.from_frame(_frame(["dog", "cat"] * 10), pos_label="cat",
                                 class_names={"cat": "house cat"})
    assert renamed.confusion_classes() == ("dog", "house cat")  # unnamed ones stay as given


@pytest.mark.parametrize(("names", "message"), [
    ({2: "bird"}, "'2' is not a label; the labels are 0, 1"),
    ({0: "x", 1: "x"}, "two classes would show as one name"),
    ({0: "1"}, "two classes would show as one name"),  # 0 shown as "1", like the class 1
    ({1: ""}, "the name of '1' must be text"),
    ({1: 3}, "the name of '1' must be text"),
    (["cat"], "class names must map a label to a name"),
])
def test_bad_names_are_one_clear_error(names: object, message: str) -> None:
    with pytest.raises(DashboardError, match=message.replace("(", r"\(")):
        Results.from_frame(_frame([0, 1, 0, 1]), class_names=names)


def test_option_parses_pairs_and_refuses_others() -> None:
    assert class_names_option("0=not cat, 1=cat") == {"0": "not cat", "1": "cat"}
    for bad in ("cat", "0=", "=cat", "0=a,,1=b"):
        with pytest.raises(DashboardError, match="each entry is label=name"):
            class_names_option(bad)


def test_sidecar_names_reach_the_app_and_a_bad_sidecar_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    _frame([i % 2 for i in range(20)]).to_csv(csv, index=False)
    (tmp_path / "r.json").write_text(json.dumps({"class_names": {"0": "no", "1": "yes"}}))
    assert load_results(csv).confusion_classes() == ("no", "yes")
    # the command line's names win over the sidecar's
    assert load_results(csv, columns={"class_names": {"1": "si"}}).confusion_classes() == \
        ("0", "si")
    (tmp_path / "r.json").write_text(json.dumps({"class_names": ["no", "yes"]}))
    with pytest.raises(DashboardError, match="class_names must be an object of label: name"):
        load_results(csv)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_report_takes_class_names_and_refuses_unknown_labels(tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    _frame([i % 2 for i in range(20)]).to_csv(csv, index=False)
    out = tmp_path / "d.html"
    done = _cli("report", str(csv), "-o", str(out), "--class-names", "0=no cat,1=a cat")
    assert done.returncode == 0, done.stderr
    assert "no cat" in out.read_text()
    bad = _cli("report", str(csv), "-o", str(out), "--class-names", "0=no,7=seven")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: class names: '7' is not a label; the labels are 0, 1"]
