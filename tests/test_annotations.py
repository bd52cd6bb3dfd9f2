"""The annotation store: durability, concurrency, categories, CSV, and binding to Results."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import AnnotationStore, DashboardError, Results
from dashboard.annotations import (
    DEFAULT_STORE_NAME,
    SCHEMA_VERSION,
    ReviewSession,
    dataset_name,
    default_author,
    sync_results,
)
from dashboard.metrics.tally import MISLABELLED

WORKER = Path(__file__).resolve().parent / "annotations_worker.py"


def _results(n: int = 40, *, categories: bool = True, seed: int = 0,
             prefix: str = "ex") -> Results:
    """A small dev/test set with file-given tags on the first misclassified dev rows."""
    rng = np.random.default_rng(seed)
    label = np.tile([0, 1], n)
    score = np.where(rng.random(2 * n) < 0.3, 1 - label, label) * 0.8 + 0.1
    df = pd.DataFrame({"id": [f"{prefix}-{i}" for i in range(2 * n)],
                       "split": ["dev"] * n + ["test"] * n, "label": label, "score": score})
    if categories:
        wrong = np.flatnonzero((score >= 0.5) != (label == 1))[:6]
        dog = pd.Series(pd.NA, index=df.index, dtype="boolean")
        dog.iloc[wrong] = [True, False, True, False, False, True]
        df["dog"] = dog
        return Results.from_frame(df, categories=["dog"])
    return Results.from_frame(df)


@pytest.fixture()
def store(tmp_path: Path) -> AnnotationStore:
    return AnnotationStore(tmp_path / "tags.sqlite", dataset="d1", author="ann")


# -- the store on its own --------------------------------------------------------------------
def test_wal_and_full_sync(store: AnnotationStore) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    own = store._connection()
    assert own.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_tags_frame_first_column_is_example_id(store: AnnotationStore) -> None:
    assert store.categories() == (MISLABELLED,)
    store.add_category("blurry")
    store.set_tag("a", "blurry", True)
    store.set_tag("b", MISLABELLED, True)
    tags = store.tags()
    assert list(tags.columns) == ["example_id", "blurry", MISLABELLED]
    assert tags["example_id"].tolist() == ["a", "b"]
    # a reviewed example reads False in the categories nobody ticked
    assert tags["blurry"].tolist() == [True, False]
    assert tags[MISLABELLED].tolist() == [False, True]
    assert str(tags["blurry"].dtype) == "boolean"


def test_each_set_call_is_visible_to_another_connection(store: AnnotationStore) -> None:
    """Durable on return: a second, independent connection sees the edit at once."""
    store.add_category("blurry")
    other = AnnotationStore(store.path, dataset="d1")
    store.set_tag("a", "blurry", True)
    assert other.tags().set_index("example_id").loc["a", "blurry"]
    store.set_comment("a", "rainy day at zoo")
    assert other.comments() == {"a": "rainy day at zoo"}
    raw = sqlite3.connect(store.path)
    assert raw.execute("SELECT value FROM tags WHERE example_id='a'").fetchone() == (1,)


def test_untick_is_a_new_version_and_log_row(store: AnnotationStore) -> None:
    store.add_category("dog")
    e1 = store.set_tag("x", "dog", True)
    e2 = store.set_tag("x", "dog", False)
    e3 = store.set_tag("x", "dog", None)
    assert (e1.version, e2.version, e3.version) == (1, 2, 3)
    assert (e2.old, e2.new, e3.new) == (True, False, None)
    log = store.history("x")
    assert log["new"].tolist() == ["true", "false", None]
    assert log["author"].unique().tolist() == ["ann"]
    assert store.tags().empty  # every value cleared: not reviewed any more
    records = store.tag_records()
    assert len(records) == 1 and records["value"].isna().all()


def test_author_and_time(store: AnnotationStore, monkeypatch: pytest.MonkeyPatch) -> None:
    edit = store.set_tag("a", MISLABELLED, True)
    assert edit.author == "ann"
    assert edit.at.endswith("+00:00")  # UTC
    store.author = "bob"
    assert store.set_comment("a", "hi").author == "bob"
    assert store.comment_records().loc[0, "author"] == "bob"
    monkeypatch.setenv("USER", "carol")
    assert default_author() == "carol"
    monkeypatch.delenv("USER")
    monkeypatch.delenv("USERNAME", raising=False)
    assert default_author() == "reviewer"


def test_bad_values_refused(store: AnnotationStore) -> None:
    with pytest.raises(DashboardError, match="True, False or None"):
        store.set_tag("a", MISLABELLED, "yes")
    with pytest.raises(DashboardError, match="unknown category"):
        store.set_tag("a", "nope", True)
    with pytest.raises(DashboardError, match="empty"):
        store.set_tag("", MISLABELLED, True)
    assert store.history().query("action == 'tag'").empty


def test_categories_add_rename_remove_restore(store: AnnotationStore) -> None:
    store.add_category("great cat")
    store.set_tag("a", "great cat", True)
    assert store.rename_category("great cat", "big cat") == "big cat"
    assert store.categories() == ("big cat", MISLABELLED)
    assert store.tags().set_index("example_id").loc["a", "big cat"]
    store.remove_category("big cat")
    assert store.categories() == (MISLABELLED,)
    assert "big cat" not in store.tags().columns
    assert store.add_category("big cat") == "big cat"  # comes back with its tags
    assert store.tags().set_index("example_id").loc["a", "big cat"]
    with pytest.raises(DashboardError, match="always present"):
        store.remove_category(MISLABELLED)
    with pytest.raises(DashboardError, match="always present"):
        store.rename_category(MISLABELLED, "x")
    store.add_category("dog")
    with pytest.raises(DashboardError, match="taken"):
        store.rename_category("dog", "big cat")
    actions = store.history()["action"].tolist()
    assert actions.count("rename_category") == 1
    assert "remove_category" in actions and "restore_category" in actions


def test_mislabelled_aliases_map_to_the_one_category(store: AnnotationStore) -> None:
    assert store.add_category("mislabeled") == MISLABELLED
    assert store.categories() == (MISLABELLED,)


def test_datasets_are_isolated(tmp_path: Path) -> None:
    a = AnnotationStore(tmp_path / "s.sqlite", dataset="one")
    b = AnnotationStore(tmp_path / "s.sqlite", dataset="two")
    a.add_category("dog")
    a.set_tag("x", "dog", True)
    a.set_comment("x", "only in one")
    assert "dog" not in b.categories()
    assert b.tags().empty and b.comments() == {} and b.history().query("action=='tag'").empty


def test_folder_path_and_missing_folder(tmp_path: Path) -> None:
    s = AnnotationStore(tmp_path, dataset="d")
    assert Path(s.path) == (tmp_path / DEFAULT_STORE_NAME).resolve()
    with pytest.raises(DashboardError, match="does not exist"):
        AnnotationStore(tmp_path / "nope" / "x.sqlite", dataset="d")


def test_newer_schema_is_refused(store: AnnotationStore) -> None:
    raw = sqlite3.connect(store.path)
    raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    raw.commit()
    with pytest.raises(DashboardError, match="newer"):
        AnnotationStore(store.path, dataset="d1")


def test_csv_round_trip(store: AnnotationStore, tmp_path: Path) -> None:
    store.add_category("dog")
    store.set_tag("a", "dog", True)
    store.set_tag("b", MISLABELLED, True)
    store.set_comment("a", 'Pitbull, "quoted", <b>bold</b>')
    path = store.export_csv(tmp_path / "tags.csv")
    other = AnnotationStore(store.path, dataset="d2")
    assert other.import_csv(path) == 5  # a/dog, a/mislabelled, b/dog, b/mislabelled, comment
    assert other.tags().equals(store.tags())
    assert other.comments() == store.comments()
    assert other.import_csv(path) == 0  # unchanged values are not written again


def test_import_csv_adds_categories_and_skips_blanks(store: AnnotationStore,
                                                     tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id,instagram filter,mislabelled,comment\n"
                    "a,yes,,NA\nb,,x,\nc,0,1,fine\n")
    written = store.import_csv(path)
    assert set(store.categories()) == {"instagram filter", MISLABELLED}
    tags = store.tags().set_index("example_id")
    assert bool(tags.loc["a", "instagram filter"]) and bool(tags.loc["b", MISLABELLED])
    assert not tags.loc["c", "instagram filter"]
    assert store.comments() == {"a": "NA", "c": "fine"}
    assert written == 6
    bad = tmp_path / "bad.csv"
    bad.write_text("id,dog\na,maybe\n")
    with pytest.raises(DashboardError, match="dog.*row 1"):
        store.import_csv(bad)


# -- a killed writer, and two writers at once -------------------------------------------------
def _spawn(store: Path, author: str, n: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), str(store), "d1", author, str(n),
                             *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)


def _acks(lines: list[str]) -> list[tuple[int, str, str, str]]:
    out = []
    for line in lines:
        if line.startswith("ack "):
            _, seq, key, what, value = line.rstrip("\n").split(" ", 4)
            out.append((int(seq), key, what, value))
    return out


def test_sigkill_mid_stream_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "kill.sqlite"
    proc = _spawn(path, "w", 100_000)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        while len(lines) < 150:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        lines += proc.stdout.readlines()  # acks already in the pipe when it died
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    acked = _acks(lines)
    assert len(acked) >= 150
    assert not any(line.startswith("done") for line in lines)  # it really died mid-stream
    reopened = AnnotationStore(path, dataset="d1")
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    log = reopened.history().set_index("seq")
    records = reopened.tag_records().set_index("example_id")
    for seq, key, _, value in acked:
        assert seq in log.index, f"acknowledged edit #{seq} ({key}) lost"
        assert log.loc[seq, "example_id"] == key
        assert records.loc[key, "value"] == bool(int(value))


@pytest.mark.parametrize("pause", ["0", "0.003"], ids=["flat-out", "click-paced"])
def test_two_writers_lose_nothing(tmp_path: Path, pause: str) -> None:
    path = tmp_path / "both.sqlite"
    AnnotationStore(path, dataset="d1").add_category("blurry")
    # flat out, one writer may hold the lock back to back while the other's busy handler
    # sleeps; a pause between steps (as between a reviewer's clicks) makes them interleave
    procs = [_spawn(path, name, 120, "--shared", "5", "--wait", "--pause", pause)
             for name in ("alice", "bob")]
    for proc in procs:  # both connected before either writes: a start barrier
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    outputs = []
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        outputs.append(out.splitlines())
    acked = [a for lines in outputs for a in _acks(lines)]
    assert len(acked) == 2 * 120 * 3
    store = AnnotationStore(path, dataset="d1")
    log = store.history()
    edits = log[log["action"].isin(["tag", "comment"])]
    assert sorted(edits["seq"]) == sorted(seq for seq, *_ in acked)  # every edit, once
    assert set(edits["author"]) == {"alice", "bob"}
    # the final value of every cell is the one committed last
    last_tag = edits[edits["action"] == "tag"].groupby("example_id").last()
    records = store.tag_records().set_index("example_id")
    assert len(records) == 2 * 120 + 5
    for key, row in last_tag.iterrows():
        assert records.loc[key, "value"] == (row["new"] == "true")
        assert records.loc[key, "author"] == row["author"]
        assert records.loc[key, "version"] == (edits["example_id"] == key).sum() - (
            (edits["example_id"] == key) & (edits["action"] == "comment")).sum()
    last_comment = edits[edits["action"] == "comment"].groupby("example_id").last()
    assert store.comments() == last_comment["new"].to_dict()
    if pause != "0":  # both writers interleaved on the shared examples
        shared = edits[edits["example_id"].str.startswith("shared")]
        assert (shared["author"] != shared["author"].shift()).sum() > 2


# -- binding to Results -------------------------------------------------------------------
def test_sync_loads_file_tags_and_store_wins(tmp_path: Path) -> None:
    r = _results()
    base = r.tags.copy()
    assert len(base) == 6
    store = AnnotationStore(tmp_path / "s.sqlite", dataset=r.fingerprint)
    first = base.index[0]
    store.add_category("dog")  # before the file brought it: adopted as the file's column
    store.set_tag(first, "dog", False)  # the file says True: the store wins
    store.add_category("blurry")
    store.set_tag("ex-79", "blurry", True)  # a row the file never reviewed
    store.set_comment(first, "<script>alert(1)</script>")
    result = sync_results(r, store)
    assert list(r.tags.columns) == ["dog", "blurry", MISLABELLED]
    assert not r.tags.loc[first, "dog"]
    assert bool(r.tags.loc["ex-79", "blurry"]) and not r.tags.loc["ex-79", "dog"]
    for key in base.index[1:]:
        assert r.tags.loc[key, "dog"] == base.loc[key, "dog"]
    assert r.comments == {first: "<script>alert(1)</script>"}
    assert result.reviewed == 7 and result.comments == 1 and result.unknown_ids == ()


def test_sync_follows_renamed_and_removed_file_columns(tmp_path: Path) -> None:
    r = _results()
    path = tmp_path / "s.sqlite"
    session = ReviewSession(r, path)
    ticked = r.tags.index[r.tags["dog"].to_numpy(dtype=bool)]
    session.rename_category("dog", "pitbull")
    again = _results()  # a reload: the file still calls the column "dog"
    sync_results(again, AnnotationStore(path, dataset=dataset_name(again)))
    assert "dog" not in again.categories
    assert again.tags.loc[ticked, "pitbull"].all()
    session.remove_category("pitbull")
    third = _results()
    sync_results(third, AnnotationStore(path, dataset=dataset_name(third)))
    assert third.categories == (MISLABELLED,)
    session.add_category("pitbull")  # restored, with the file's ticks under the new name
    assert session.results.tags.loc[ticked, "pitbull"].all()


def test_tags_follow_examples_across_threshold_and_reload(tmp_path: Path) -> None:
    r = _results()
    path = tmp_path / "s.sqlite"
    session = ReviewSession(r, path)
    wrong = r.review_rows("dev")["key"].astype(str).tolist()
    key = next(k for k in wrong if k not in r.tags.index)
    session.set_tag(key, MISLABELLED, True)
    before = r.tally("dev").loc[MISLABELLED, "count"]
    r.threshold = 0.95  # the misclassified set changes, the tags do not
    assert bool(r.tags.loc[key, MISLABELLED])
    r.threshold = 0.5
    assert r.tally("dev").loc[MISLABELLED, "count"] == before
    reloaded = _results()
    ReviewSession(reloaded, path)
    assert reloaded.tags.sort_index().equals(r.tags.sort_index())


def test_tags_never_reach_another_dataset(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    a, b = _results(prefix="a"), _results(prefix="b")
    a.name, b.name = "a.csv", "b.csv"
    ReviewSession(a, path).set_comment("a-0", "only for a")
    session_b = ReviewSession(b, path)
    assert b.comments == {} and session_b.notice == ""
    with pytest.raises(DashboardError, match="never go to another"):
        ReviewSession(b, AnnotationStore(path, dataset="a.csv"))
    with pytest.raises(DashboardError, match="unknown example"):
        session_b.set_tag("a-0", MISLABELLED, True)


def _export(path: Path, n: int, *, extra_split: str | None = None) -> Results:
    """Write results.csv with ``n`` dev rows (and a few rows of ``extra_split``), reload it."""
    rng = np.random.default_rng(1)
    label = np.tile([0, 1], n)[:n]
    score = np.clip(np.where(rng.random(n) < 0.4, 1 - label, label) * 0.8 + 0.1, 0, 1)
    df = pd.DataFrame({"id": [f"img-{i}" for i in range(n)], "split": "dev", "label": label,
                       "score": score})
    if extra_split:
        df = pd.concat([df, pd.DataFrame({"id": [f"new-{i}" for i in range(4)],
                                          "split": extra_split, "label": [0, 1, 0, 1],
                                          "score": [0.2, 0.8, 0.6, 0.3]})])
    df.to_csv(path, index=False)
    return Results.from_file(path)


def _review(session: ReviewSession) -> list[str]:
    wrong = session.results.review_rows("dev")["key"].astype(str).tolist()[:5]
    session.add_category("great cat")
    session.set_tag(wrong[0], "great cat", True)
    session.set_tag(wrong[1], MISLABELLED, True)
    session.set_reviewed(wrong[2], True)
    session.set_comment(wrong[0], "lion, not a cat")
    return wrong


def _assert_kept(r: Results, wrong: list[str]) -> None:
    assert "great cat" in r.categories
    assert bool(r.tags.loc[wrong[0], "great cat"])
    assert bool(r.tags.loc[wrong[1], MISLABELLED])
    assert wrong[2] in r.tags.index
    assert r.comments == {wrong[0]: "lion, not a cat"}
    assert r.tally("dev").attrs["reviewed"] == 3


def test_reviews_survive_a_re_export_with_more_rows_and_a_new_split(tmp_path: Path) -> None:
    csv, store = tmp_path / "results.csv", tmp_path / "results.annotations.sqlite"
    wrong = _review(ReviewSession(_export(csv, 60), store))
    again = _export(csv, 61, extra_split="test")  # one more example, a new test split
    session = ReviewSession(again, store)
    _assert_kept(again, wrong)
    assert session.notice == ""
    # an export without one reviewed example: the others stay, the count is said
    fewer = _export(csv, 60)
    fewer_frame = pd.read_csv(csv)
    fewer_frame[fewer_frame["id"] != wrong[1]].to_csv(csv, index=False)
    fewer = Results.from_file(csv)
    session = ReviewSession(fewer, store)
    assert wrong[1] not in fewer.tags.index and bool(fewer.tags.loc[wrong[0], "great cat"])
    assert session.last_sync.unknown_ids == (wrong[1],)
    assert "1 reviewed example" in session.notice and "not in these results" in session.notice
    # ...and it comes back with its example
    back = _export(csv, 61)
    ReviewSession(back, store)
    assert bool(back.tags.loc[wrong[1], MISLABELLED])


def test_store_written_under_a_fingerprint_is_migrated(tmp_path: Path) -> None:
    """Stores of earlier versions named the dataset by a hash of every id: nothing is lost."""
    csv, store = tmp_path / "results.csv", tmp_path / "results.annotations.sqlite"
    first = _export(csv, 60)
    old = AnnotationStore(store, dataset=first.fingerprint)  # what earlier versions wrote
    wrong = _review(ReviewSession(first, old))
    old.close()
    other = AnnotationStore(store, dataset="0123456789abcdef")  # another old dataset: kept
    other.set_comment("zzz", "someone else's")
    other.close()
    again = _export(csv, 61, extra_split="test")
    assert again.fingerprint != first.fingerprint
    session = ReviewSession(again, store)
    _assert_kept(again, wrong)
    assert session.adopted_from == first.fingerprint
    assert first.fingerprint in session.notice
    assert session.store.dataset == "results.csv"
    log = session.store.history()
    assert (log["action"] == "tag").sum() >= 3 and "rename_dataset" in set(log["action"])
    assert AnnotationStore(store, dataset="0123456789abcdef").comments() == {
        "zzz": "someone else's"}
    assert AnnotationStore(store, dataset=first.fingerprint).tags().empty  # moved, not copied
    # a second session does not move anything again
    assert ReviewSession(_export(csv, 61), store).adopted_from is None


def test_session_writes_store_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = _results(categories=False)
    session = ReviewSession(r, tmp_path / "s.sqlite")

    def broken(*args: object, **kwargs: object) -> None:
        raise DashboardError("disk full")

    monkeypatch.setattr(session.store, "set_tag", broken)
    with pytest.raises(DashboardError, match="disk full"):
        session.set_tag("ex-0", MISLABELLED, True)
    assert r.tags.empty  # the model never shows an edit the store does not have


def test_reviewed_without_categories_counts(tmp_path: Path) -> None:
    r = _results(categories=False)
    session = ReviewSession(r, tmp_path / "s.sqlite")
    wrong = r.review_rows("dev")["key"].astype(str).tolist()
    session.set_tag(wrong[0], MISLABELLED, True)
    session.set_reviewed(wrong[1], True)  # looked at, nothing applies
    table = r.tally("dev")
    assert table.attrs["reviewed"] == 2
    assert table.loc[MISLABELLED, "share"] == pytest.approx(0.5)
    session.set_reviewed(wrong[1], False)
    assert r.tally("dev").attrs["reviewed"] == 1
    again = _results(categories=False)
    ReviewSession(again, tmp_path / "s.sqlite")
    assert list(again.tags.index) == [wrong[0]]


def test_default_store_path_is_beside_the_results_file(tmp_path: Path) -> None:
    r = _results()
    df = r.frame[["id", "split", "label", "score"]].assign(id=lambda d: d["id"].astype(str))
    csv = tmp_path / "res.csv"
    df.to_csv(csv, index=False)
    loaded = Results.from_file(csv)
    session = ReviewSession(loaded)
    # the same store `serve` and `report` use for this file
    assert Path(session.store.path) == (tmp_path / "res.annotations.sqlite").resolve()
    assert f"Reviews are saved in {session.store.path}" in session.notice
    # a store that earlier versions put beside the file is still found
    other = tmp_path / "old"
    other.mkdir()
    df.to_csv(other / "res.csv", index=False)
    AnnotationStore(other / DEFAULT_STORE_NAME, dataset="res.csv").set_comment("ex-0", "kept")
    again = ReviewSession(Results.from_file(other / "res.csv"))
    assert Path(again.store.path) == (other / DEFAULT_STORE_NAME).resolve()
    assert again.results.comments == {"ex-0": "kept"}


# -- store health ------------------------------------------------------------------------------
def _corrupt(path: Path) -> None:
    """Overwrite the middle of a closed store's file with junk (a damaged page)."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(bytes(range(256)) * 16)


def _filled_store(path: Path) -> AnnotationStore:
    store = AnnotationStore(path, dataset="d1")
    store.add_category("dog")
    for i in range(400):
        store.set_tag(f"example-{i:05d}", "dog", i % 2 == 0)
        store.set_comment(f"example-{i:05d}", "x" * 50)
    store._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return store


def test_damaged_store_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _filled_store(path)
    _corrupt(path)
    with pytest.raises(DashboardError) as info:
        AnnotationStore(path, dataset="d1")
    message = str(info.value)
    assert str(path) in message and len(message.splitlines()) == 1
    assert isinstance(info.value, ValueError)


def test_every_sqlite_error_is_a_dashboard_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = _filled_store(path)
    _corrupt(path)
    store.check = lambda: None  # as if it had been damaged after opening
    for call in (store.tags, store.comments, store.history,
                 lambda: store.set_tag("example-00001", "dog", True)):
        try:
            call()
        except DashboardError as exc:
            assert str(path) in str(exc)
        except sqlite3.Error as exc:  # pragma: no cover - the failure this test is about
            pytest.fail(f"raw SQLite error: {exc!r}")


@pytest.fixture()
def immutable(tmp_path: Path):
    """Make files immutable with chattr +i (read-only even for root), undone afterwards."""
    import shutil

    made: list[Path] = []
    if not shutil.which("chattr"):
        pytest.skip("no chattr to make a file read-only for root")

    def freeze(path: Path) -> None:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i not supported here: {done.stderr.decode().strip()}")
        made.append(path)

    yield freeze
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_read_only_store_is_refused_at_open(tmp_path: Path, immutable) -> None:
    path = tmp_path / "s.sqlite"
    _filled_store(path)
    for p in tmp_path.glob("s.sqlite*"):
        immutable(p)
    with pytest.raises(DashboardError, match="cannot") as info:
        AnnotationStore(path, dataset="d1")
    assert str(path) in str(info.value) and len(str(info.value).splitlines()) == 1


@pytest.mark.parametrize("damage", ["corrupt", "read-only"])
def test_serve_refuses_a_bad_store_in_one_line(tmp_path: Path, damage: str, immutable,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from dashboard import cli, serve

    path = tmp_path / "s.sqlite"
    _filled_store(path)
    if damage == "corrupt":
        _corrupt(path)
    else:
        for p in tmp_path.glob("s.sqlite*"):
            immutable(p)

    def no_launch(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server must not start with a bad store")

    monkeypatch.setattr(serve, "launch_dashboard", no_launch)
    assert cli.main(["serve", "--no-browser", "--store", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err, err


# -- CSV formula injection ---------------------------------------------------------------------
EVIL = ["=HYPERLINK(\"https://evil.example\",\"x\")", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx",
        "'=already", "'", "''", "plain", "", "-"]


@pytest.mark.parametrize("value", EVIL)
def test_neutralise_round_trip(value: str) -> None:
    from dashboard.annotations import neutralise_cell, restore_cell

    safe = neutralise_cell(value)
    assert restore_cell(safe) == value
    assert not (safe and safe[0] in "=+-@\t\r")
    assert neutralise_cell(3.5) == 3.5 and neutralise_cell(None) is None


def test_store_export_neutralises_and_import_restores(store: AnnotationStore,
                                                      tmp_path: Path) -> None:
    store.add_category("=cmd|' /C calc'!A0")
    store.set_tag("@id", "=cmd|' /C calc'!A0", True)
    store.set_comment("@id", "=HYPERLINK(\"https://evil.example\",\"click\")")
    store.set_comment("-3", "+41 22 000 00 00")
    out = store.export_csv(tmp_path / "tags.csv")
    raw = out.read_text()
    for line in raw.splitlines():
        for cell in line.split(","):
            assert not (cell and cell[0] in "=+-@\t\r"), line
    other = AnnotationStore(tmp_path / "other.sqlite", dataset="d1")
    other.import_csv(out)
    assert other.comments() == store.comments()
    assert "=cmd|' /C calc'!A0" in other.categories()
    assert other.tags().set_index("example_id").loc["@id", "=cmd|' /C calc'!A0"]


def test_safe_filename() -> None:
    from dashboard.annotations import safe_filename

    for text in ("team/model-v2", "../../etc/passwd", "a\\b:c*?", "..", "", "ok name.csv"):
        name = safe_filename(text)
        assert name and "/" not in name and "\\" not in name and name not in (".", "..")
    assert safe_filename("tally-model-dev.csv") == "tally-model-dev.csv"


# -- issue 21, item 2: a bare CR in a comment must not become a live formula row ---------------
HOSTILE = ["note\r=1+1", "note\n=1+1", "a\r\n@SUM(A1)", "\r=2+2", "x\r+3", "tab\t=4",
           '"quoted"\r=5', "'\r=6", "\x00nul", "trailing\r", "\n", "é\u2028=7\u2029",
           " =8", "=9,\"10\""]


def spreadsheet_rows(path: Path) -> list[list[str]]:
    """The rows a spreadsheet reads: quote-aware, and a bare CR or LF ends a row."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def assert_no_formula_cell(rows: list[list[str]]) -> None:
    width = len(rows[0])
    for row in rows:
        assert len(row) == width, row  # no text cell broke into a row of its own
        for cell in row:
            assert not (cell and cell[0] in "=+-@\t\r"), row


def test_export_quotes_text_so_cr_cannot_start_a_formula_row(store: AnnotationStore,
                                                             tmp_path: Path) -> None:
    for i, text in enumerate(HOSTILE):
        store.set_comment(f"k{i}\r=id", text)
    store.add_category("cat\r=x")
    store.set_tag("k0\r=id", "cat\r=x", True)
    rows = spreadsheet_rows(store.export_csv(tmp_path / "tags.csv"))
    assert len(rows) == len(HOSTILE) + 1
    assert_no_formula_cell(rows)
    other = AnnotationStore(tmp_path / "other.sqlite", dataset="d1")
    other.import_csv(tmp_path / "tags.csv")
    assert other.comments() == store.comments()  # exact, whatever the text
    assert "cat\r=x" in other.categories()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(st.one_of(st.sampled_from("=+-@'\"\r\n\t,"),
                                        st.characters(blacklist_categories=("Cs",))),
                              min_size=1), min_size=1, max_size=5))
def test_any_comment_survives_export_and_import(texts: list[str], tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("rt")
    store = AnnotationStore(folder / "a.sqlite", dataset="d1")
    for i, text in enumerate(texts):
        store.set_comment(f"id{i}", text)
    path = store.export_csv(folder / "tags.csv")
    assert_no_formula_cell(spreadsheet_rows(path))
    other = AnnotationStore(folder / "b.sqlite", dataset="d1")
    other.import_csv(path)
    assert other.comments() == store.comments()


# -- issue 21, item 6: the same results under a new file name find their reviews --------------
def _results_file(path: Path, ids: list[str]) -> Path:
    n = len(ids)
    pd.DataFrame({"id": ids, "split": "dev", "label": [i % 2 for i in range(n)],
                  "score": [0.9 if i % 3 else 0.2 for i in range(n)]}).to_parquet(path)
    return path


def test_renamed_export_finds_its_reviews_in_the_same_store(tmp_path: Path) -> None:
    ids = [f"ex{i}" for i in range(30)]
    store = tmp_path / "reviews.sqlite"
    first = Results.from_file(_results_file(tmp_path / "results.parquet", ids))
    session = ReviewSession(first, store)
    session.set_tag("ex1", MISLABELLED, True)
    session.set_comment("ex2", "blurry")
    session.store.close()
    renamed = Results.from_file(_results_file(tmp_path / "results_v2.parquet", ids))
    again = ReviewSession(renamed, store)
    assert again.followed == "results.parquet"
    assert bool(renamed.tags.loc["ex1", MISLABELLED]) and renamed.comments == {"ex2": "blurry"}
    assert "'results.parquet'" in again.notice and str(store) in again.notice
    again.set_comment("ex3", "new")  # saved with the reviews it follows
    again.store.close()
    back = Results.from_file(tmp_path / "results.parquet")
    assert ReviewSession(back, store).followed is None
    assert back.comments == {"ex2": "blurry", "ex3": "new"}


def test_other_data_in_the_store_is_not_followed(tmp_path: Path) -> None:
    store = tmp_path / "reviews.sqlite"
    first = Results.from_file(_results_file(tmp_path / "a.parquet", [f"a{i}" for i in range(30)]))
    ReviewSession(first, store).set_comment("a1", "x")
    other = Results.from_file(_results_file(tmp_path / "b.parquet", [f"b{i}" for i in range(30)]))
    session = ReviewSession(other, store)
    assert session.followed is None and other.comments == {}
    assert session.store.dataset == "b.parquet"


def test_the_version_moves_with_every_commit_here_or_elsewhere_and_not_with_reads(
        tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    ana = AnnotationStore(path, dataset="d", author="ana")
    ben = AnnotationStore(path, dataset="d", author="ben")
    ana.add_category("blurry")
    start = ana.version()
    ana.tags()
    ana.conflicts()
    assert ana.version() == start  # reads change nothing
    ana.set_tag("x1", "blurry", True)
    own = ana.version()
    assert own != start
    ben.set_tag("x2", "blurry", False)  # another connection's commit
    assert ana.version() != own
    ana.close()
    ben.close()
