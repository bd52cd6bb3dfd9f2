"""One test per kind of bad input: one DashboardError naming the file, column and row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import DashboardError, Results


def good_frame(n: int = 8) -> pd.DataFrame:
    return pd.DataFrame({
        "id": [f"ex{i}" for i in range(n)],
        "split": ["train", "train", "dev", "dev", "dev", "dev", "test", "test"][:n],
        "label": [0, 1] * (n // 2),
        "score": np.linspace(0.1, 0.9, n).round(2),
    })


def write_csv(tmp_path: Path, df: pd.DataFrame, name: str = "results.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def load_error(path: Path, **kwargs: object) -> str:
    with pytest.raises(DashboardError) as info:
        Results.from_file(path, **kwargs)
    message = str(info.value)
    assert str(path) in message  # every message names the file
    assert "Traceback" not in message
    return message


def test_good_frame_loads(tmp_path: Path) -> None:
    r = Results.from_file(write_csv(tmp_path, good_frame()))
    assert r.splits == ("train", "dev", "test")


def test_missing_column(tmp_path: Path) -> None:
    msg = load_error(write_csv(tmp_path, good_frame().drop(columns=["label"])))
    assert "column 'label'" in msg and "missing label column" in msg and "'score'" in msg


def test_explicitly_named_column_must_exist(tmp_path: Path) -> None:
    msg = load_error(write_csv(tmp_path, good_frame()), score="prob")
    assert "column 'prob'" in msg and "missing score column" in msg


def test_nan_score(tmp_path: Path) -> None:
    df = good_frame()
    df.loc[3, "score"] = np.nan
    msg = load_error(write_csv(tmp_path, df))
    assert "column 'score'" in msg and "row 4 (id 'ex3')" in msg and "NaN" in msg


def test_non_numeric_score(tmp_path: Path) -> None:
    df = good_frame().astype({"score": object})
    df.loc[5, "score"] = "high"
    msg = load_error(write_csv(tmp_path, df))
    assert "column 'score'" in msg and "row 6 (id 'ex5')" in msg and "'high'" in msg


def test_score_outside_unit_interval(tmp_path: Path) -> None:
    df = good_frame()
    df.loc[2, "score"] = 1.7
    path = write_csv(tmp_path, df)
    msg = load_error(path)
    assert "column 'score'" in msg and "row 3 (id 'ex2')" in msg and "outside [0, 1]" in msg
    # raw scores are fine when declared as such
    r = Results.from_file(path, probabilities=False)
    assert r.threshold == 0.0


def test_unknown_split(tmp_path: Path) -> None:
    df = good_frame()
    df.loc[6, "split"] = "holdout-2"
    msg = load_error(write_csv(tmp_path, df))
    assert "column 'split'" in msg and "row 7 (id 'ex6')" in msg and "'holdout-2'" in msg


def test_split_aliases_are_reported(tmp_path: Path) -> None:
    df = good_frame()
    df["split"] = ["training", "Train-Dev", "val", "validation", "dev", "dev", "test", "test"]
    r = Results.from_file(write_csv(tmp_path, df))
    assert r.splits == ("train", "train_dev", "dev", "test")
    assert "split 'val' read as 'dev'" in r.schema.notes
    assert "split 'Train-Dev' read as 'train_dev'" in r.schema.notes


def test_duplicated_id_within_split_and_model(tmp_path: Path) -> None:
    df = good_frame()
    df.loc[4, "id"] = "ex3"
    msg = load_error(write_csv(tmp_path, df))
    assert "column 'id'" in msg and "row 5 (id 'ex3')" in msg and "appears twice" in msg
    # the same id in two models of a long table is fine
    long = pd.concat([good_frame().assign(model="A"), good_frame().assign(model="B")])
    assert Results.from_frame(long).models == ("A", "B")


def test_an_id_repeated_in_one_model_of_a_long_parquet_table_is_named(tmp_path: Path) -> None:
    # a long table written model by model repeats its ids block after block: the repeat check
    # compares the blocks, and a row of block B labelled model A is still caught and named
    long = pd.concat([good_frame().assign(model="A"), good_frame().assign(model="B")],
                     ignore_index=True)
    path = tmp_path / "results.parquet"
    long.to_parquet(path, index=False)
    assert Results.from_file(path).models == ("A", "B")
    long.loc[8 + 3, "model"] = "A"
    long.to_parquet(path, index=False)
    msg = load_error(path)
    assert "column 'id'" in msg and "row 12 (id 'ex3')" in msg
    assert "appears twice in split 'dev' for model 'A'" in msg


def test_empty_dev_split(tmp_path: Path) -> None:
    df = good_frame()
    df["split"] = ["train"] * 4 + ["test"] * 4
    msg = load_error(write_csv(tmp_path, df))
    assert "column 'split'" in msg and "dev split is empty" in msg


def test_single_class_dev_split_when_a_curve_is_asked(tmp_path: Path) -> None:
    df = good_frame()
    df.loc[df["split"] == "dev", "label"] = 1
    r = Results.from_file(write_csv(tmp_path, df))
    assert r.error_rates().loc["dev", "n"] == 4  # everything but the curve still works
    with pytest.raises(DashboardError) as info:
        r.curve("dev")
    msg = str(info.value)
    assert "results.csv" in msg and "column 'label'" in msg and "every dev example" in msg


def test_more_labels_than_declared_classes(tmp_path: Path) -> None:
    df = good_frame()
    df.loc[5, "label"] = 2
    msg = load_error(write_csv(tmp_path, df))
    assert "column 'label'" in msg and "row 6 (id 'ex5')" in msg and "3 classes" in msg
    msg = load_error(write_csv(tmp_path, df, "declared.csv"), classes=[0, 1])
    assert "label 2 is not one of the declared classes" in msg


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert "the file is empty" in load_error(path)
    header_only = tmp_path / "header.csv"
    header_only.write_text("id,split,label,score\n")
    assert "header but no rows" in load_error(header_only)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet at all")
    assert "could not read the file as parquet" in load_error(path)
    missing = tmp_path / "nope.csv"
    assert "file not found" in load_error(missing)
    odd = tmp_path / "results.xlsx"
    odd.write_text("x")
    assert "unsupported file type" in load_error(odd)


def test_missing_label_value(tmp_path: Path) -> None:
    df = good_frame().astype({"label": object})
    df.loc[1, "label"] = None
    msg = load_error(write_csv(tmp_path, df))
    assert "column 'label'" in msg and "row 2 (id 'ex1')" in msg and "missing label" in msg


def test_negative_weight(tmp_path: Path) -> None:
    df = good_frame().assign(weight=1.0)
    df.loc[7, "weight"] = -2
    msg = load_error(write_csv(tmp_path, df))
    assert "column 'weight'" in msg and "row 8 (id 'ex7')" in msg and "negative weight" in msg


def test_string_labels_need_a_positive_class(tmp_path: Path) -> None:
    df = good_frame().assign(label=["cat", "not cat"] * 4)
    path = write_csv(tmp_path, df)
    msg = load_error(path)
    assert "pos_label" in msg and "column 'label'" in msg
    r = Results.from_file(path, pos_label="cat")
    assert r.schema.pos_label == "cat"
    assert r.curve("dev").positives == 2


def test_jsonl_and_parquet_round_trip(tmp_path: Path) -> None:
    df = good_frame()
    jl = tmp_path / "r.jsonl"
    df.to_json(jl, orient="records", lines=True)
    pq = tmp_path / "r.parquet"
    df.to_parquet(pq)
    a, b = Results.from_file(jl), Results.from_file(pq)
    pd.testing.assert_frame_equal(a.error_rates(), b.error_rates())


# -- what escaped as a traceback before (issue: every number right) -------------------------------
@pytest.mark.parametrize("sidecar, match", [
    ('{"human_level": 0.02, "title": 5}', "title must be text"),
    ('{"human_level": true}', "must be a number"),
    ('{"human_level": [0.01, 0.02]}', "must be a number"),
    ('{"human_level": {"typical": null}}', "must be a number"),
    ('{"human_level": 3}', r"did you mean 3%\?"),
    ('{"models": {"A": {"running_time_ms": "fast"}}}', "must be a number"),
    ('[1, 2]', "holds a JSON list"),
    ('{"title": "x",', "not valid JSON"),
    ('{"human_level": {"expert": 0.01, "expert": 0.02}}', "'expert' is named twice"),
    ('{"class_names": {"0": "cat", "1": "cat"}}', "calls two labels 'cat'"),
])
def test_bad_sidecar_is_refused_naming_it(tmp_path: Path, sidecar: str, match: str) -> None:
    from dashboard.io import read_sidecar

    results = write_csv(tmp_path, good_frame())
    (tmp_path / "results.json").write_text(sidecar)
    with pytest.raises(DashboardError, match=match) as info:
        read_sidecar(results)
    assert "results.json" in str(info.value)


@pytest.mark.parametrize("option, match", [
    ('{"a": null}', "must be a number"),
    ("2", r"did you mean 2%\?"),
    ("a=x", "is not a rate"),
    ("{oops", "not valid JSON"),
])
def test_bad_human_level_option(option: str, match: str) -> None:
    from dashboard.io import read_human_level

    with pytest.raises(DashboardError, match=match):
        read_human_level(option)


def test_from_file_needs_a_path() -> None:
    with pytest.raises(DashboardError, match="path of a results file"):
        Results.from_file(None)  # type: ignore[arg-type]


def test_arrays_of_different_lengths() -> None:
    with pytest.raises(DashboardError, match="y_score has 3 rows but y_true has 4"):
        Results.from_predictions([0, 1, 0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(DashboardError, match="split has 2 rows"):
        Results.from_predictions([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], split=["dev", "dev"])


def test_unknown_split_model_and_nan_arguments() -> None:
    from dashboard.metrics import ThresholdCurve, best_threshold

    r = Results.from_frame(good_frame())
    with pytest.raises(DashboardError, match="no 'train_dev' rows"):
        r.tally("train_dev")
    with pytest.raises(DashboardError, match="no 'train_dev' rows"):
        r.label_noise("train_dev")
    with pytest.raises(DashboardError, match="unknown split 'holdout'"):
        r.tally("holdout")
    with pytest.raises(DashboardError, match="unknown model 'B'"):
        r.mcnemar("model", "B")
    with pytest.raises(DashboardError, match="NaN"):
        r.operating_point(threshold=float("nan"))
    with pytest.raises(DashboardError, match="finite"):
        r.threshold = float("nan")
    curve = ThresholdCurve.from_predictions([0, 1, 1], [0.2, 0.6, 0.9])
    with pytest.raises(DashboardError, match="bound is NaN"):
        best_threshold(curve, "f1", {"recall": (">=", float("nan"))})
    for beta in (0, -1, float("nan")):
        with pytest.raises(DashboardError, match="beta must be a positive"):
            best_threshold(curve, "fbeta", beta=beta)
        with pytest.raises(DashboardError, match="beta must be a positive"):
            curve.at(0.5, beta=beta)


def test_named_id_column_keeps_leading_zeros(tmp_path: Path) -> None:
    df = good_frame().rename(columns={"id": "ex_id"})
    df["ex_id"] = [f"00{i}" for i in range(len(df))]
    r = Results.from_file(write_csv(tmp_path, df), id="ex_id")
    assert r.frame["id"].tolist()[:2] == ["000", "001"]


def test_broken_shared_demo_json_is_skipped_but_a_named_sidecar_refused(tmp_path: Path) -> None:
    from dashboard.io import read_sidecar

    results = write_csv(tmp_path, good_frame())
    (tmp_path / "demo.json").write_text("[broken")
    assert read_sidecar(results) == {}
    (tmp_path / "results.json").write_text("[broken")
    with pytest.raises(DashboardError, match="results.json"):
        read_sidecar(results)


# -- issue 21, item 9 -------------------------------------------------------------------------
def test_two_columns_of_one_name(tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    frame = good_frame()
    csv.write_text("id,split,label,score,score\n" + "".join(
        f"{r.id},{r.split},{r.label},{r.score},{r.score}\n" for r in frame.itertuples()))
    assert "column 'score'" in load_error(csv) and "two columns" in load_error(csv)
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "r.parquet"
    arrays = [pa.array(frame[c]) for c in frame.columns] + [pa.array(frame["score"])]
    pq.write_table(pa.Table.from_arrays(arrays, names=[*frame.columns, "score"]), parquet)
    assert "column 'score'" in load_error(parquet) and "two columns" in load_error(parquet)


def test_nested_parquet_columns(tmp_path: Path) -> None:
    """A nested metadata column is left out with a note; a nested label is refused."""
    frame = good_frame()
    path = tmp_path / "nested.parquet"
    frame.assign(boxes=[[1, 2]] * len(frame), meta=[{"a": 1}] * len(frame)).to_parquet(path)
    r = Results.from_file(path)
    assert any("'boxes'" in n and "ignored" in n for n in r.schema.notes)
    assert any("'meta'" in n for n in r.schema.notes)
    path = tmp_path / "nested_label.parquet"
    frame.assign(label=[[v] for v in frame["label"]]).to_parquet(path)
    msg = load_error(path)
    assert "column 'label'" in msg and "nested" in msg
