"""A project's runs: a folder and an MLflow file store of the same three runs give the same
history, each run its own file's numbers; a planted improvement is called, a re-run is not;
the review categories' shares follow the store; bad input gets one clear error."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import DashboardError, Results, Runs
from dashboard.annotations import AnnotationStore
from dashboard.cli import main
from dashboard.runs import UnknownRunError, looks_like_runs
from tests.runs_data import RUNS, is_blurry, run_frame, write_runs
from tests.runs_data import mlflow_store as _mlflow_store


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    write_runs(tmp_path / "runs")
    return tmp_path / "runs"


# -- the history ----------------------------------------------------------------------------
def test_each_run_is_its_own_files_numbers_and_runs_load_lazily(folder: Path) -> None:
    runs = Runs.from_folder(folder)
    assert runs.names == ("run1", "run2", "run3") and runs.latest == "run3"
    assert not any(runs.is_loaded(n) for n in runs)
    assert isinstance(runs["run2"], Results)
    assert [runs.is_loaded(n) for n in runs] == [False, True, False]
    history = runs.history()
    assert list(history.columns[:10]) == ["run", "order", "kind", "split", "label", "n",
                                          "errors", "error", "error_low", "error_high"]
    for name in RUNS:
        own = Results.from_file(folder / f"{name}.parquet")
        rates = own.error_rates()
        levels = history[(history["run"] == name) & (history["kind"] == "level")]
        levels = levels.set_index("split")
        assert list(levels.index) == list(rates.index)
        for col, theirs in (("error", "error"), ("error_low", "ci_low"),
                            ("error_high", "ci_high"), ("n", "n"), ("errors", "errors")):
            np.testing.assert_array_equal(levels[col].to_numpy(dtype=float),
                                          rates[theirs].to_numpy(dtype=float))
        gaps = own.gaps()
        rows = history[(history["run"] == name) & (history["kind"] == "gap")].set_index("split")
        for gap, value in gaps.gaps().items():
            if value is not None:
                assert rows.loc[gap, "error"] == value
                assert (rows.loc[gap, "error_low"], rows.loc[gap, "error_high"]) == \
                    gaps.intervals[gap]
        best = own.best_threshold("dev", "f1")
        facts = levels.iloc[0]
        assert facts["threshold"] == own.threshold
        assert facts["f1"] == own.operating_point("dev").f1
        assert (facts["best_threshold"], facts["best_f1"]) == (best.threshold, best.f1)


def test_a_planted_improvement_is_called_and_a_rerun_is_not(folder: Path) -> None:
    """run2 re-runs run1's model (same rates, new noise); run3 fixed the blurry images."""
    runs = Runs.from_folder(folder)
    rerun = runs.compare("run1", "run2")
    assert not rerun.significant, rerun.sentence
    assert rerun.sentence.startswith("From run1 to run2, nothing changed significantly")
    fixed = runs.compare("run2", "run3")
    dev = fixed.get("level", "dev")
    assert dev.significant and dev.direction == "fell" and dev.test == "McNemar (paired)"
    assert "dev error fell from" in fixed.sentence
    history = runs.history()
    marked = history[history["significant"]]
    assert set(marked["run"]) == {"run3"} and "dev" in set(marked["split"])
    assert runs.what_changed("run2", "run3") == fixed.sentence


def test_runs_with_other_examples_are_compared_as_two_proportions(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    write_runs(folder)
    other = run_frame(14, 0.06)
    other["id"] = other["id"] + "-new"  # a new dev set: nothing to pair
    other.to_parquet(folder / "run4.parquet")
    (folder / "run4.json").write_text(json.dumps({"run_order": 4}))
    change = Runs.from_folder(folder).compare("run3", "run4")
    assert {c.test for c in change.changes if c.kind == "level"} == {"Fisher (two proportions)"}


def test_the_order_is_run_order_else_modification_time_then_name(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    paths = write_runs(folder, order=False)
    now = time.time()
    for age, name in enumerate(("run2", "run3", "run1")):  # run1 newest
        os.utime(paths[name], (now - 100 + age, now - 100 + age))
    assert Runs.from_folder(folder).names == ("run2", "run3", "run1")
    for p in paths.values():
        os.utime(p, (now, now))
    assert Runs.from_folder(folder).names == ("run1", "run2", "run3")
    for i, name in enumerate(("run3", "run1", "run2")):
        (folder / f"{name}.json").write_text(json.dumps({"run_order": i}))
    assert Runs.from_folder(folder).names == ("run3", "run1", "run2")


# -- the review categories --------------------------------------------------------------------
def _review(store: Path, dataset: str, results: Results, count: int = 40) -> None:
    """Review ``count`` misclassified dev examples of a run, drawn at random (seeded):
    blurry ticked on the blurry ones."""
    keys = results.review_rows("dev")["key"].to_numpy(dtype=object)
    sample = np.random.default_rng(7).choice(keys, size=count, replace=False)
    with AnnotationStore(store, dataset=dataset) as s:
        s.add_category("blurry")
        for key in sample.tolist():
            s.set_tags(key, {"blurry": is_blurry(key)})


def test_category_shares_before_and_after_from_the_store(folder: Path) -> None:
    store = folder / "annotations.sqlite"
    for name in ("run1", "run3"):
        _review(store, f"{name}.parquet", Results.from_file(folder / f"{name}.parquet"))
    runs = Runs.from_folder(folder)
    table = runs.category_shares("run1", "run3").set_index("category")
    blurry = table.loc["blurry"]
    run1, run3 = runs["run1"].tally("dev"), runs["run3"].tally("dev")
    assert blurry["before"] == run1.loc["blurry", "share"]
    assert blurry["after"] == run3.loc["blurry", "share"]
    assert (blurry["reviewed_before"], blurry["reviewed_after"]) == (40, 40)
    assert blurry["before"] > 0.4 > 0.25 > blurry["after"] and blurry["significant"]
    sentence = table.attrs["sentence"]
    assert sentence.startswith(f"blurry: {blurry['before']:.0%} of reviewed errors at run1 → "
                               f"{blurry['after']:.0%} at run3 (a significant fall)")
    dev = runs.compare("run1", "run3").get("level", "dev")
    assert sentence.endswith(f"; dev error {dev.before:.1%} → {dev.after:.1%}.")
    # run2 has no reviews of its own: its examples' reviews are found by id
    assert runs["run2"].tally("dev").attrs["reviewed"] > 0


def test_without_a_store_nothing_is_reviewed_and_nothing_is_created(folder: Path) -> None:
    runs = Runs.from_folder(folder)
    table = runs.category_shares("run1", "run3")
    assert len(table) == 0 and "No review category" in table.attrs["sentence"]
    assert not (folder / "annotations.sqlite").exists()


# -- MLflow ---------------------------------------------------------------------------------
def test_an_mlflow_store_of_the_same_runs_gives_the_same_history(
        folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = {name: folder / f"{name}.parquet" for name in RUNS}
    uri = _mlflow_store(tmp_path, paths, monkeypatch)
    from_mlflow = Runs.from_mlflow("cats", tracking_uri=uri)
    assert from_mlflow.names == ("run1", "run2", "run3")
    assert not any(from_mlflow.is_loaded(n) for n in from_mlflow)
    pd.testing.assert_frame_equal(from_mlflow.history(), Runs.from_folder(folder).history())
    for name, path in paths.items():
        pd.testing.assert_frame_equal(from_mlflow[name].error_rates(),
                                      Results.from_file(path).error_rates())
    # a local mlruns folder given as a path reads the same
    again = Runs.from_mlflow("cats", tracking_uri=str(tmp_path / "mlruns"))
    assert again.what_changed("run2", "run3") == from_mlflow.what_changed("run2", "run3")


def test_mlflow_artifacts_are_chosen_as_the_issue_says(
        folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = {name: folder / f"{name}.parquet" for name in RUNS}
    uri = _mlflow_store(tmp_path, paths, monkeypatch, artifact="preds.parquet")
    runs = Runs.from_mlflow("cats", tracking_uri=uri)  # the one Parquet file at the root
    assert runs.where("run1").endswith("preds.parquet")
    with pytest.raises(DashboardError, match="no artifact 'other.csv'; its artifacts: "
                                             "preds.parquet"):
        Runs.from_mlflow("cats", tracking_uri=uri, artifact="other.csv")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("cats").experiment_id
    for name, path in paths.items():  # a CSV beside each run's Parquet file
        extra = tmp_path / "csv" / name / "extra.csv"
        extra.parent.mkdir(parents=True)
        pd.read_parquet(path).to_csv(extra, index=False)
        run = client.search_runs([exp], filter_string=f"attributes.run_name = '{name}'")[0]
        client.log_artifact(run.info.run_id, str(extra))
    with pytest.raises(DashboardError, match=r"run1 \(.*\) has 2 Parquet or CSV artifacts at "
                                             r"its root \(.*\): name the results"):
        Runs.from_mlflow("cats", tracking_uri=uri)
    chosen = Runs.from_mlflow("cats", tracking_uri=uri, artifact="extra.csv")
    assert chosen["run1"].error_rates()["error"].tolist() == \
        Results.from_file(paths["run1"]).error_rates()["error"].tolist()
    empty = client.create_run(exp, run_name="crashed-before-eval")
    with pytest.raises(DashboardError, match=r"run crashed-before-eval \(.*\) has no artifact "
                                             "'preds.parquet'; its artifacts: none"):
        client.set_terminated(empty.info.run_id)
        Runs.from_mlflow("cats", tracking_uri=uri, artifact="preds.parquet")
    client.set_terminated(empty.info.run_id, status="FAILED")
    unfinished = Runs.from_mlflow("cats", tracking_uri=uri, artifact="preds.parquet")
    assert "crashed-before-eval (failed)" in " ".join(unfinished.notes)


def test_mlflow_bad_input_is_one_clear_error(folder: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    uri = _mlflow_store(tmp_path, {"run1": folder / "run1.parquet"}, monkeypatch)
    with pytest.raises(DashboardError, match="experiment 'cat' not found .*did you mean "
                                             "'cats'.*the experiments there: .*cats"):
        Runs.from_mlflow("cat", tracking_uri=uri)
    with pytest.raises(DashboardError, match="no MLflow tracking folder"):
        Runs.from_mlflow("cats", tracking_uri=str(tmp_path / "nowhere"))
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("dogs"), run_name="no-eval")
    client.log_text(run.info.run_id, "a note", "notes.txt")  # not a results table
    client.set_terminated(run.info.run_id)
    with pytest.raises(DashboardError, match=r"MLflow run no-eval \(.*\) has no results "
                                             "artifact: no results.parquet or results.csv, nor "
                                             "a Parquet or CSV file at its root"):
        Runs.from_mlflow("dogs", tracking_uri=uri)


# -- bad input ------------------------------------------------------------------------------
def test_a_folder_without_runs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt.json").write_text("{}")
    with pytest.raises(DashboardError, match="no results files in the folder"):
        Runs.from_folder(tmp_path)
    with pytest.raises(DashboardError, match="folder not found"):
        Runs.from_folder(tmp_path / "missing")


def test_an_unreadable_run_is_named_when_it_is_read(folder: Path) -> None:
    (folder / "run2.parquet").write_bytes(b"not parquet at all")
    runs = Runs.from_folder(folder)
    assert runs["run1"].rows_total > 0
    with pytest.raises(DashboardError, match=r"run run2: .*run2\.parquet.*could not read"):
        runs["run2"]
    with pytest.raises(DashboardError, match="run2.parquet"):
        runs.history()
    with pytest.raises(UnknownRunError, match="no run 'run7' .*did you mean"):
        runs["run7"]
    assert "run7" not in runs


@pytest.mark.parametrize("sidecars, message", [
    ({"run1": {"run_order": "first"}}, "run_order must be a number"),
    ({"run1": {"run_order": 1}}, "some runs have a run_order .* and 2 do not"),
    ({"run1": {"run_order": 1}, "run2": {"run_order": 1}, "run3": {"run_order": 2}},
     "run1.parquet and run2.parquet have the same run_order 1"),
])
def test_bad_run_orders_are_refused(tmp_path: Path, sidecars: dict, message: str) -> None:
    folder = tmp_path / "runs"
    write_runs(folder, order=False)
    for name, data in sidecars.items():
        (folder / f"{name}.json").write_text(json.dumps(data))
    with pytest.raises(DashboardError, match=message):
        Runs.from_folder(folder)


def test_runs_are_told_from_partitions(folder: Path, tmp_path: Path) -> None:
    assert looks_like_runs(folder) == (True, "run1.json gives a run_order")
    for sidecar in folder.glob("*.json"):
        sidecar.unlink()
    assert looks_like_runs(folder)[0]  # the same examples in two files
    parts = tmp_path / "parts"
    parts.mkdir()
    frame = run_frame(1, 0.4)
    for i in range(3):
        frame.iloc[i::3].to_parquet(parts / f"part-{i}.parquet")
    assert looks_like_runs(parts) == (False, "the files hold different examples (partitions "
                                             "of one table)")


# -- the command line -------------------------------------------------------------------------
def test_report_compare_writes_the_sentence_and_two_waterfalls(
        folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp.html"
    assert main(["report", str(folder), "--compare", "run2", "run3", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    sentence = Runs.from_folder(folder).what_changed("run2", "run3")
    assert sentence in printed
    text = out.read_text()
    assert sentence.replace("−", "&minus;") in text or sentence in text
    for figure in ("waterfall_before", "waterfall_after", "history"):
        assert f'id="{figure}"' in text
    specs = json.loads(text.split('id="mldash-figures">')[1].split("</script>")[0])
    assert specs["waterfall_before"]["layout"]["yaxis"]["range"] == \
        specs["waterfall_after"]["layout"]["yaxis"]["range"]  # one scale for both


@pytest.mark.parametrize("argv, message", [
    (["--compare", "run1", "run9"], "no run 'run9' (did you mean 'run3'?); the runs are "
                                    "run1, run2, run3"),
    (["--compare", "run1", "run1"], "name two different runs"),
])
def test_report_compare_refuses_bad_runs_in_one_line(
        folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
        message: str) -> None:
    assert main(["report", str(folder), *argv, "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err


def test_report_compare_needs_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "one.csv"
    run_frame(1, 0.4).to_csv(path, index=False)
    assert main(["report", str(path), "--compare", "a", "b"]) == 2
    assert "--compare needs a project's runs" in capsys.readouterr().err


def test_serve_a_folder_of_runs(folder: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    from dashboard import serve

    seen: dict = {}

    def launch(*args: object, **kwargs: object) -> None:
        seen.update(kwargs)
        raise DashboardError("stop here")

    monkeypatch.setattr(serve, "launch_dashboard", launch)
    assert main(["serve", str(folder), "--no-browser"]) == 2
    out = capsys.readouterr().out
    assert "Loaded 3 runs from" in out and "the page opens on run3" in out
    assert seen["runs"] == {"folder": str(folder.resolve())}
    assert seen["store"] == folder.resolve() / "annotations.sqlite"


def test_serve_refuses_a_missing_experiment_before_starting(
        folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from dashboard import serve

    uri = _mlflow_store(tmp_path, {"run1": folder / "run1.parquet"}, monkeypatch)

    def no_launch(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server must not start")

    monkeypatch.setattr(serve, "launch_dashboard", no_launch)
    assert main(["serve", "mlflow:dogs", "--tracking-uri", uri, "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "experiment 'dogs' not found" in err
    assert main(["serve", str(folder), "--artifact", "x.csv"]) == 2
    assert "--tracking-uri and --artifact are for an MLflow source" in capsys.readouterr().err


def test_files_without_ids_are_not_taken_for_runs(tmp_path: Path) -> None:
    """Without ids, row numbers match in partitions as in runs: only --runs (or a
    run_order) says they are runs."""
    folder = tmp_path / "noids"
    folder.mkdir()
    for i in range(2):
        run_frame(i, 0.4).drop(columns="id").to_parquet(folder / f"part-{i}.parquet")
    is_runs, why = looks_like_runs(folder)
    assert not is_runs and "--runs" in why


def test_runs_read_through_the_table_cache_give_the_same_history(folder: Path,
                                                                  tmp_path: Path) -> None:
    """Each run's file goes through Results.from_file's table cache when the runs have one:
    saved on the first read, mapped on the next, the same numbers either way."""
    plain = Runs.from_folder(folder).history()
    cached = Runs.from_folder(folder)
    cached.cache = tmp_path / "cache"
    pd.testing.assert_frame_equal(cached.history(), plain)
    saved = sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert saved
    again = Runs.from_folder(folder)
    again.cache = tmp_path / "cache"
    pd.testing.assert_frame_equal(again.history(), plain)
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()) == saved
