"""The tally grid driven from Python: tick, untick, categories, comments, paging, safety."""

from __future__ import annotations

import base64
import contextlib
import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pandas as pd
import pytest

from dashboard import AnnotationStore, DashboardError, Results, TallyGrid
from dashboard.annotations import ReviewSession
from dashboard.metrics.tally import MISLABELLED
from dashboard.widgets.format import pct
from dashboard.widgets.review_table import MAX_COMMENT, ReviewTable
from dashboard.widgets.tally_grid import preview_cell

XSS = "<img src=x onerror=alert(1)><script>alert('x')</script> & \"quotes\""


@pytest.fixture(scope="module")
def demo_results(demo_path: Path) -> Results:
    return Results.from_file(demo_path)


@pytest.fixture()
def demo(demo_path: Path) -> Results:
    return Results.from_file(demo_path)


@pytest.fixture()
def grid(demo: Results, tmp_path: Path) -> TallyGrid:
    return TallyGrid(demo, store=tmp_path / "tags.sqlite", author="tester")


def _walk(widget: widgets.Widget) -> Iterator[widgets.Widget]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def _shares(grid: TallyGrid) -> dict[str, str]:
    return {c: v for c, v in grid.footer["share"].items() if c != "lead"}


def _models() -> int:
    """Widget models alive in this kernel (each one is state sent to every page)."""
    from ipywidgets.widgets.widget import _instances

    return len(_instances)


def _big(n_wrong: int = 3000, n: int = 20000) -> Results:
    label = np.tile([1, 0], n // 2)
    right = np.where(label == 1, 0.8, 0.2)
    score = np.where(np.arange(n) < n_wrong, 1 - right, right)
    return Results.from_frame(pd.DataFrame({"id": [f"r{i:05d}" for i in range(n)],
                                            "split": "dev", "label": label, "score": score}))


# -- building and the footer -----------------------------------------------------------------
def test_builds_sample_reviewed_first_with_footer_from_tally(grid: TallyGrid,
                                                            demo: Results) -> None:
    reviewed = set(demo.tags.index)
    assert len(reviewed) == 100
    assert set(grid.rows()["key"]) == reviewed  # size 100: the prior work fills it
    assert len(grid.visible_keys) == 25
    tally = demo.tally("dev")
    assert _shares(grid) == {c: pct(tally.loc[c, "share"], 0) for c in demo.categories}
    for c in demo.categories:
        assert grid.footer["ceiling"][c] == pct(tally.loc[c, "ceiling_error"], 2)
    assert "8.52%" in grid._panel.value and "not the priority" in grid._panel.value
    header = [c["title"] for c in grid._table.columns]
    assert header[:4] == ["reviewed", "example", "label", "prediction"]
    assert header[-2:] == ["comment", "saved"]
    assert [c["category"] for c in grid._table.columns if c["kind"] == "tag"] == list(
        demo.categories)
    # labels and predictions as the class names the results hold, not codes
    row = grid._table.rows[0]
    assert row["label"] in {str(c) for c in demo.classes}
    assert row["predicted"] in {str(c) for c in demo.classes}
    assert row["label"] != row["predicted"]  # a misclassified example


def test_sample_size_and_seed_are_reproducible(demo: Results, tmp_path: Path) -> None:
    a = TallyGrid(demo, tmp_path / "a.sqlite", sample_size=150, seed=7)
    b = TallyGrid(Results.from_file(demo.schema.source), tmp_path / "b.sqlite",
                  sample_size=150, seed=7)
    assert a.rows()["key"].tolist() == b.rows()["key"].tolist()
    assert len(a.rows()) == 150 and set(demo.tags.index) <= set(a.rows()["key"])
    a.seed = 8
    assert a.rows()["key"].tolist() != b.rows()["key"].tolist()
    assert set(demo.tags.index) <= set(a.rows()["key"])


def test_tick_untick_updates_footer_store_and_results(grid: TallyGrid, demo: Results) -> None:
    key = grid.visible_keys[0]
    view = grid.row_view(key)
    assert view is not None
    category = next(c for c, box in view.boxes.items() if not box.value)
    before = int(demo.tally("dev").loc[category, "count"])
    view.boxes[category].value = True
    assert bool(demo.tags.loc[key, category])
    assert grid.store.tags().set_index("example_id").loc[key, category]
    assert _shares(grid)[category] == pct((before + 1) / 100, 0)
    assert "saved ✓" in view.status.value and grid.last_error is None
    view.boxes[category].value = False
    assert not demo.tags.loc[key, category]
    assert _shares(grid)[category] == pct(before / 100, 0)
    log = grid.store.history(key)
    assert log["new"].tolist()[-2:] == ["true", "false"]
    assert set(log["author"]) == {"tester"}


def test_mark_reviewed_counts_in_denominator(demo: Results, tmp_path: Path) -> None:
    grid = TallyGrid(demo, tmp_path / "s.sqlite", sample_size=120)
    key = next(k for k in grid.rows()["key"] if k not in demo.tags.index)
    grid.filter_by = "unreviewed"
    view = grid.row_view(key)
    assert view is not None and view.reviewed.value is False
    view.reviewed.value = True
    assert demo.tally("dev").attrs["reviewed"] == 101
    assert grid.footer["share"]["lead"] == "101 reviewed"
    view.reviewed.value = False
    assert demo.tally("dev").attrs["reviewed"] == 100


def test_add_rename_remove_category(grid: TallyGrid, demo: Results) -> None:
    grid._new_category.value = "instagram filter"
    grid._add_button.click()
    assert demo.categories[-1] == "instagram filter"
    assert "instagram filter" in grid.store.categories()
    view = grid.row_view(grid.visible_keys[0])
    assert view is not None and "instagram filter" in view.boxes
    assert _shares(grid)["instagram filter"] == "0%"
    view.boxes["instagram filter"].value = True
    assert _shares(grid)["instagram filter"] == "1%"
    grid._category_pick.value = "instagram filter"
    grid._rename_to.value = "insta"
    grid._rename_button.click()
    assert "insta" in demo.categories and "instagram filter" not in demo.categories
    assert grid.row_view(view.key).boxes["insta"].value is True  # the tick is kept
    assert _shares(grid)["insta"] == "1%"
    grid._category_pick.value = MISLABELLED
    grid._remove_button.click()
    assert MISLABELLED in demo.categories and "always present" in grid._status.value
    grid._category_pick.value = "insta"
    grid._remove_button.click()
    assert "insta" not in demo.categories and "insta" not in grid.footer["share"]
    assert "insta" not in grid._table.categories
    assert grid.last_error is None
    grid._new_category.value = "insta"
    grid._add_button.click()  # restored with its tick
    assert bool(demo.tags.loc[view.key, "insta"])


def test_comment_is_saved_and_never_markup(grid: TallyGrid, demo: Results) -> None:
    key = grid.visible_keys[1]
    view = grid.row_view(key)
    assert view is not None
    view.comment.value = XSS
    assert demo.comments[key] == XSS
    assert grid.store.comments()[key] == XSS
    # the table's state holds the text as text; its view only ever sets textContent / value
    assert grid._table.row(key)["comment"] == XSS
    assert "innerHTML" not in ReviewTable._esm and "insertAdjacentHTML" not in ReviewTable._esm
    grid._export_button.click()
    grid.page = 2
    grid.page = 1
    assert grid.row_view(key).comment.value == XSS
    for w in _walk(grid):
        if isinstance(w, widgets.HTML):
            assert "<script" not in w.value and "<img src=x" not in w.value, w.value
            assert "onerror=alert" not in w.value or "&lt;img" in w.value
    frame = grid.grid_frame().set_index("example_id")
    assert frame.loc[key, "comment"] == XSS


def test_store_failure_reverts_the_box_and_shows_the_error(grid: TallyGrid, demo: Results,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    key = grid.visible_keys[0]
    view = grid.row_view(key)
    category = next(c for c, box in view.boxes.items() if not box.value)
    tags_before = demo.tags

    def broken(*args: object, **kwargs: object) -> None:
        raise DashboardError("database is locked <b>")

    monkeypatch.setattr(grid.store, "set_tag", broken)
    view.boxes[category].value = True
    assert view.boxes[category].value is False
    assert demo.tags is tags_before
    assert view.status.value == "not saved: database is locked <b>"  # text, never markup
    assert grid._table.row(key)["status"]["kind"] == "failed"
    assert grid._table.row(key)["ticks"][grid._table.categories.index(category)] is False
    assert "database is locked" in grid._status.value


def test_pages_of_a_1000_row_sample_reuse_the_row_widgets(tmp_path: Path) -> None:
    r = _big()
    grid = TallyGrid(r, tmp_path / "s.sqlite", sample_size=1000)
    assert len(grid.rows()) == 1000 and grid._page_box.max == 40
    models = _models()
    first = grid.visible_keys
    grid._next_button.click()
    assert grid.page == 2 and grid.visible_keys != first
    assert grid.visible_keys == grid.rows()["key"].tolist()[25:50]
    assert _models() == models  # paging changes the table's JSON, it opens no widget
    key = grid.visible_keys[3]
    grid.row_view(key).boxes[MISLABELLED].value = True
    grid.page = 40
    assert len(grid.visible_keys) == 25 and grid._next_button.disabled
    grid.page = 2
    assert grid.row_view(key).boxes[MISLABELLED].value is True
    assert "saved ✓" in grid.row_view(key).status.value


def test_last_page_shows_only_its_rows(tmp_path: Path) -> None:
    grid = TallyGrid(_big(n_wrong=60), tmp_path / "s.sqlite")
    grid.page = 3
    assert len(grid.visible_keys) == 10
    assert len(grid._table.rows) == 10
    assert [f["name"] for f in grid._table.footer] == ["share", "ceiling"]


def test_correct_rows_are_marked_and_left_out_of_the_tally(grid: TallyGrid,
                                                            demo: Results) -> None:
    grid.include_correct = True
    rows = grid.rows()
    assert len(rows) == 200 and rows["correct"].sum() == 100
    assert rows["correct"].iloc[100:].all()
    grid.page = 5  # rows 101-125: correct ones
    key = grid.visible_keys[0]
    view = grid.row_view(key)
    assert view.correct and grid._table.row(key)["correct"] is True
    before = _shares(grid)
    view.boxes[MISLABELLED].value = True
    assert bool(demo.tags.loc[key, MISLABELLED])
    assert _shares(grid) == before
    assert demo.tally("dev").attrs["reviewed"] == 100
    assert "excluded" in grid._note.value


def test_threshold_and_model_moves_follow(grid: TallyGrid, demo: Results) -> None:
    error_before = grid.footer["ceiling"]["lead"]
    demo.threshold = 0.3
    wrong = set(demo.review_rows("dev")["key"].astype(str))
    assert set(grid.rows()["key"]) <= wrong
    assert grid.footer["ceiling"]["lead"] != error_before
    demo.model = "B"
    wrong_b = set(demo.review_rows("dev", "B")["key"].astype(str))
    assert set(grid.rows()["key"]) <= wrong_b
    assert "model <b>B</b>" in grid._summary.value


def test_refresh_shows_another_kernels_edits(grid: TallyGrid, demo: Results) -> None:
    other = AnnotationStore(grid.store.path, dataset=grid.store.dataset, author="someone else")
    key = grid.visible_keys[0]
    view = grid.row_view(key)
    category = next(c for c, box in view.boxes.items() if not box.value)
    other.set_tag(key, category, True)
    other.add_category("zoo")
    other.set_comment(key, "rainy day at zoo")
    assert view.boxes[category].value is False  # not before a refresh
    grid._refresh_button.click()
    assert view.boxes[category].value is True
    assert "zoo" in demo.categories and "zoo" in view.boxes
    assert view.comment.value == "rainy day at zoo"
    assert "refreshed" in grid._status.value


def test_sort_and_filter(grid: TallyGrid, demo: Results) -> None:
    grid.sort_category = "blurry"
    grid.filter_by = "ticked"
    keys = grid.rows()["key"]
    assert len(keys) == int(demo.tally("dev").loc["blurry", "count"])
    assert demo.tags.loc[keys, "blurry"].all()
    grid.filter_by = "all"
    grid.sort_by = "score"
    scores = grid.rows()["score"].to_numpy()
    assert (np.diff(scores) >= 0).all()
    grid.descending = True
    assert (np.diff(grid.rows()["score"].to_numpy()) <= 0).all()
    grid.sort_by = "category"
    assert not demo.tags.loc[grid.rows()["key"].iloc[0], "blurry"]  # descending: ticked last
    grid.descending = False
    top = grid.rows()["key"].iloc[0]
    assert bool(demo.tags.loc[top, "blurry"])
    assert "of 100" in grid._page_label.value


def test_export_csv(grid: TallyGrid, demo: Results, tmp_path: Path) -> None:
    grid._export_button.click()
    path = grid.last_export
    assert path is not None and path.parent == tmp_path and path.exists()
    table = pd.read_csv(path)
    assert list(table.columns[:5]) == ["example_id", "label", "prediction", "score", "correct"]
    assert list(table.columns[5:]) == [*demo.categories, "comment"]
    assert len(table) == 100
    again = AnnotationStore(tmp_path / "other.sqlite", dataset=demo.name)
    again.import_csv(path)  # the grid's export is a tags CSV too: no bogus categories
    assert set(again.categories()) == set(demo.categories)
    assert again.tags().set_index("example_id").sort_index().equals(
        demo.tags.loc[table["example_id"]].sort_index().rename_axis("example_id")
        .reindex(columns=list(again.categories())))
    link = grid._export_link.value
    data = re.search(r"base64,([A-Za-z0-9+/=]+)", link).group(1)
    assert base64.b64decode(data) == path.read_bytes()


def test_previews_are_safe(demo: Results, tmp_path: Path) -> None:
    """Only image files inside the results folder are read; a URL is a link, never fetched;
    the rest is text the page sets with textContent (never parsed as markup)."""
    base = demo.schema.base_dir
    cell = preview_cell("images/cat_01.png", base)
    assert cell["kind"] == "image" and cell["src"].startswith("data:image/png;base64,")
    assert base64.b64decode(cell["src"].split(",", 1)[1]).startswith(b"\x89PNG")
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG secret")
    for path in ("../../../../etc/passwd.png", str(outside), "images/../../results.py.png"):
        cell = preview_cell(path, base)
        assert cell["kind"] == "text" and cell["muted"] and "outside" in cell["text"]
        assert "src" not in cell
    cell = preview_cell("https://example.com/a.png?x=<b>", base)
    assert cell == {"kind": "link", "href": "https://example.com/a.png?x=<b>",
                    "text": "https://example.com/a.png?x=<b>"}  # shown as text, not fetched
    cell = preview_cell("javascript:alert(1)//.png", base)
    assert cell["kind"] == "text" and "href" not in cell
    cell = preview_cell(XSS * 10, base)
    assert cell["kind"] == "text" and cell["text"].endswith("…")
    assert len(cell["text"]) < len(XSS * 10)
    assert preview_cell(None, base) == {"kind": "text", "text": "", "title": ""}


def test_grid_with_text_previews_escapes_them(tmp_path: Path) -> None:
    df = pd.DataFrame({"id": [f"t{i}" for i in range(20)], "split": "dev",
                       "label": [0, 1] * 10, "score": [0.9, 0.1] * 10,
                       "text": [XSS] * 20})
    r = Results.from_frame(df, preview="text")
    grid = TallyGrid(r, tmp_path / "s.sqlite")
    view = grid.row_view(grid.visible_keys[0])
    preview = view.row["preview"]
    assert preview["kind"] == "text"  # drawn with textContent: the markup shows as text
    assert preview["text"] == XSS and preview["title"] == XSS
    assert preview_cell("images/cat_01.png", None) == {
        "kind": "text", "text": "images/cat_01.png", "muted": True}


def test_label_noise_warning_with_two_models(tmp_path: Path) -> None:
    n = 1000
    label = np.tile([1, 0], n // 2)
    right = np.where(label == 1, 0.9, 0.1)
    frames = []
    for model, wrong in (("A", 21), ("B", 19)):
        score = np.where(np.arange(n) < wrong, 1 - right, right)
        mis = pd.Series(pd.NA, index=range(n), dtype="boolean")
        mis.iloc[:19] = False
        mis.iloc[:6] = True
        frames.append(pd.DataFrame({"id": [f"x{i}" for i in range(n)], "split": "dev",
                                    "model": model, "label": label, "score": score,
                                    MISLABELLED: mis}))
    r = Results.from_frame(pd.concat(frames), categories=[MISLABELLED])
    r.model = "B"
    grid = TallyGrid(r, tmp_path / "s.sqlite")
    assert "mldash-label-warning" in grid._panel.value
    assert "cannot choose" in grid._panel.value
    # 6 mislabelled of 19 reviewed: 31%, but 95% 15-54% straddles the 20% line
    assert "review more" in grid._panel.value and "worth fixing." not in grid._panel.value


def test_wrong_store_dataset_is_refused(demo: Results, tmp_path: Path) -> None:
    with pytest.raises(DashboardError, match="never go to another"):
        TallyGrid(demo, store=AnnotationStore(tmp_path / "s.sqlite", dataset="other"))


def test_controls_are_keyboard_reachable(grid: TallyGrid) -> None:
    for w in (grid._next_button, grid._add_button, grid._rename_button, grid._remove_button):
        assert not w.disabled and w.tabbable is not False
    # the rows' controls are native inputs (tab-reachable), each titled with what it is
    esm = ReviewTable._esm
    assert esm.count('input.type = "checkbox"') == 2 and 'input.type = "text"' in esm
    assert 'input.title = col.category + ": " + row.key' in esm


def test_controls_are_grouped_under_distinct_names(grid: TallyGrid) -> None:
    groups = {g.children[0].value: g for g in (grid._controls, grid._category_bar,
                                               grid._arrange_bar)}
    assert list(groups) == ["<b>Sample</b>", "<b>Categories</b>", "<b>Arrange</b>"]
    assert grid._split_pick in groups["<b>Sample</b>"].children
    assert grid._category_pick in groups["<b>Categories</b>"].children
    assert grid._sort_category_pick in groups["<b>Arrange</b>"].children
    labels = [w.description for w in _walk(grid)
              if isinstance(w, widgets.Dropdown | widgets.Text | widgets.IntText
                            | widgets.BoundedIntText) and w.description]
    assert len(labels) == len(set(labels)), labels  # no two controls share a name


def test_same_process_on_test_split(grid: TallyGrid, demo: Results) -> None:
    grid._split_pick.value = "test"
    assert grid.split == "test"
    wrong = set(demo.review_rows("test")["key"].astype(str))
    assert set(grid.rows()["key"]) <= wrong and len(grid.rows()) == 100
    assert "<b>test</b>" in grid._summary.value
    assert "Overall test error" in grid._panel.value
    view = grid.row_view(grid.visible_keys[0])
    view.boxes["blurry"].value = True
    table = demo.tally("test")
    assert table.attrs["reviewed"] == 1
    assert _shares(grid)["blurry"] == "100%"


def test_import_tags_from_an_upload(grid: TallyGrid, demo: Results) -> None:
    key = grid.visible_keys[2]
    content = f"example_id,zoo,comment\n{key},yes,<b>uploaded</b>\n".encode()
    grid._import_upload.value = ({"name": "tags.csv", "type": "text/csv", "size": len(content),
                                  "content": memoryview(content),
                                  "last_modified": datetime.now(UTC)},)
    assert grid.last_error is None, grid.last_error
    assert "zoo" in demo.categories and bool(demo.tags.loc[key, "zoo"])
    assert grid.row_view(key).comment.value == "<b>uploaded</b>"
    assert "imported 2 edits" in grid._status.value
    assert grid._import_upload.value == ()


def test_close_stops_following_the_results(demo: Results, tmp_path: Path) -> None:
    grid = TallyGrid(demo, tmp_path / "s.sqlite")
    summary = grid._summary.value
    grid.close()
    demo.threshold = 0.2  # no error, no update: the closed grid no longer observes
    assert grid._summary.value == summary


def test_answer_first_suggestions_adoption_and_suspects(demo: Results, tmp_path: Path) -> None:
    """The tab answers "which category first?" first, suggests metadata slices that a
    reviewer adopts in one click (saved in the store), and sorts suspected mislabels first."""
    grid = TallyGrid(demo, tmp_path / "s.sqlite")
    answer = demo.tally("dev").attrs["fix_first"].sentence
    assert grid.children[1] is grid._answer and html.unescape(answer) in html.unescape(
        grid._answer.value)
    assert "Not yet: blurry" in grid._answer.value  # 61% vs 43% of 100: not yet apart
    assert "lighting = night" in grid._suggestions.children[1].children[1].value
    reviewed = set(demo.reviewed_tags("dev").index)
    inside = set(demo.slice_keys("lighting = night")) & reviewed
    grid._suggestions.children[1].children[0].click()
    assert grid.last_error is None
    assert "lighting = night" in demo.categories
    ticked = set(demo.tags.index[demo.tags["lighting = night"].fillna(False).to_numpy(bool)])
    assert ticked == inside and len(inside) > 0
    # committed: a new session on the same file sees the adopted category and its ticks
    again = TallyGrid(Results.from_file(demo.schema.base_dir / "cat_results.parquet"),
                      tmp_path / "s.sqlite")
    assert "lighting = night" in again.results.categories
    assert again.results.tally("dev").loc["lighting = night", "count"] == len(inside)
    # suspected mislabels first
    grid.sort_by = "suspect"
    suspects = set(demo.label_suspects("dev")["key"])
    in_sample = suspects & set(grid._sample["key"])
    first = grid._sample["key"].to_numpy()[grid._order[:len(in_sample)]]
    assert in_sample and set(first) == in_sample


def test_grid_says_how_many_reviews_the_new_export_lacks(tmp_path: Path) -> None:
    from tests.test_annotations import _export, _review

    csv, store = tmp_path / "results.csv", tmp_path / "results.annotations.sqlite"
    wrong = _review(ReviewSession(_export(csv, 60), store))
    frame = pd.read_csv(csv)
    frame[frame["id"] != wrong[1]].to_csv(csv, index=False)
    grid = TallyGrid(Results.from_file(csv), store=store)
    assert "1 reviewed example" in grid._status.value
    assert "not in these results" in grid._status.value


def test_export_with_a_slash_in_the_model_name(tmp_path: Path) -> None:
    df = pd.DataFrame({"id": [f"=x{i}" for i in range(40)], "split": "dev",
                       "label": [0, 1] * 20, "score": [0.9, 0.1] * 20,
                       "model": ["team/cnn-v2"] * 40})
    grid = TallyGrid(Results.from_frame(df), store=tmp_path / "s.sqlite")
    path = grid.export_csv()
    assert path.parent == tmp_path and path.is_file()
    assert "team_cnn-v2" in path.name
    text = path.read_text()
    assert "\n=x" not in text and "'=x" in text  # ids that look like formulas are quoted
    grid.store.import_csv(path)  # and read back as the same ids
    assert set(grid.store.tags()["example_id"]) <= {f"=x{i}" for i in range(40)}


def test_eyeball_mode_samples_only_the_eyeball_part(demo: Results, tmp_path: Path) -> None:
    from dashboard.metrics.sampling import eyeball_mask

    grid = TallyGrid(demo, tmp_path / "s.sqlite", sample_size=30)
    grid._eyeball_pick.value = 0.2  # as a reviewer picks it
    assert grid.eyeball == 0.2
    keys = grid._sample["key"].to_numpy()
    assert eyeball_mask(keys, 0.2).all()
    check = demo.eyeball_check("dev", 0.2)
    assert f"{check.loc['A', 'eyeball_rows']:,}" in grid._panel.value
    assert "black-box part" in grid._panel.value
    grid.eyeball = 0.0
    assert not eyeball_mask(grid._sample["key"].to_numpy(), 0.2).all()


# -- the table is one widget; messages from the page are checked ---------------------------------
def test_the_rows_are_one_widget_model_whatever_the_page_size(demo: Results,
                                                              tmp_path: Path) -> None:
    """A widget per cell made a page of 25 rows ~1,300 models: now rows are JSON."""
    counts = []
    for size in (5, 50):
        before = _models()
        grid = TallyGrid(Results.from_file(demo.schema.source), tmp_path / f"{size}.sqlite",
                         page_size=size)
        counts.append(_models() - before)
        assert len(grid._table.rows) == size
        models = _models()
        view = grid.row_view(grid.visible_keys[0])
        view.boxes["dog"].value = not view.boxes["dog"].value
        view.comment.value = "seen"
        assert _models() == models and grid.last_error is None  # an edit opens no widget
        grid.close()
    assert counts[0] == counts[1] and counts[0] < 200, counts


def _send(grid: TallyGrid, **message: object) -> bool:
    """What the page's script sends for one edit (``model.send``)."""
    return grid._table.receive({"event": "edit", **message})


def test_hostile_messages_from_the_page_are_refused_and_write_nothing(
        grid: TallyGrid, demo: Results) -> None:
    key = grid.visible_keys[0]
    hidden = next(k for k in grid.rows()["key"] if k not in grid.visible_keys)
    history = len(grid.store.history(key))
    tags, comments = demo.tags, demo.comments
    cases = {
        "not an object": ["edit", key],
        "unknown event": {"event": "drop-table", "key": key},
        "unknown field(s) 'sql'": {"event": "edit", "key": key, "field": "tag",
                                   "category": "dog", "value": True, "sql": 1},
        "not among the rows shown": {"event": "edit", "key": hidden, "field": "tag",
                                     "category": "dog", "value": True},
        "the example id is missing": {"event": "edit", "key": 7, "field": "reviewed",
                                      "value": True},
        "unknown field 'value'": {"event": "edit", "key": key, "field": "value", "value": 1},
        "takes a bool, not str": {"event": "edit", "key": key, "field": "tag",
                                  "category": "dog", "value": "true"},
        "takes a bool, not int": {"event": "edit", "key": key, "field": "reviewed",
                                  "value": 1},
        "unknown category '<b>zoo</b>'": {"event": "edit", "key": key, "field": "tag",
                                          "category": "<b>zoo</b>", "value": True},
        "takes no category": {"event": "edit", "key": key, "field": "comment",
                              "category": "dog", "value": "x"},
        f"at most {MAX_COMMENT:,} characters": {"event": "edit", "key": key,
                                                 "field": "comment",
                                                 "value": "x" * (MAX_COMMENT + 1)},
    }
    for reason, message in cases.items():
        revision = grid._table.revision
        assert grid._table.receive(message) is False, reason
        assert reason in grid.last_error, (reason, grid.last_error)
        assert "ignored a message from the page" in grid._status.value
        assert grid._table.revision == revision + 1  # the views repaint the kernel's state
    assert demo.tags is tags and demo.comments is comments
    assert len(grid.store.history(key)) == history
    # the refusal of a message about a row shown is said on that row too
    assert grid.row_view(key).status.value == (f"not saved: a comment has at most "
                                               f"{MAX_COMMENT:,} characters, this one "
                                               f"{MAX_COMMENT + 1:,}")
    # a valid message still works, and a comment of the maximum length is kept whole
    assert _send(grid, key=key, field="comment", value="y" * MAX_COMMENT)
    assert demo.comments[key] == "y" * MAX_COMMENT and grid.last_error is None


def test_suspected_mislabels_are_marked_never_ticked(demo: Results, tmp_path: Path) -> None:
    grid = TallyGrid(demo, tmp_path / "s.sqlite", sample_size=400)
    grid.sort_by = "suspect"
    suspects = demo.label_suspects("dev").set_index("key")
    shown = [k for k in grid.visible_keys if k in suspects.index]
    assert shown, "the demo's sample holds suspected label errors"
    assert "suspected mislabel" in [c["title"] for c in grid._table.columns]
    mislabelled = grid._table.categories.index(MISLABELLED)
    for key in grid.visible_keys:
        row = grid._table.row(key)
        if key in shown:
            assert row["suspect"]["text"] == f"likely {suspects.loc[key, 'likely']}"
        else:
            assert row["suspect"] is None
    untouched = [k for k in shown if k not in demo.tags.index]
    assert untouched and not any(grid._table.row(k)["ticks"][mislabelled] for k in untouched)
    assert not any(k in demo.tags.index for k in untouched)  # nothing ticked for the reviewer


def test_no_suspect_column_without_probabilities(tmp_path: Path) -> None:
    df = pd.DataFrame({"id": [f"h{i}" for i in range(30)], "split": "dev",
                       "label": [0, 1] * 15, "prediction": [1, 0] * 15})
    grid = TallyGrid(Results.from_frame(df), tmp_path / "s.sqlite")
    assert "suspect" not in [c["kind"] for c in grid._table.columns]
    assert len(grid.visible_keys) == 25 and grid.last_error is None


def test_the_answers_category_is_highlighted(demo: Results, tmp_path: Path) -> None:
    grid = TallyGrid(demo, tmp_path / "s.sqlite")
    answer = demo.tally("dev").attrs["fix_first"]
    assert not answer.decided and answer.leading == "blurry"
    assert (grid._table.best, grid._table.best_decided) == ("blurry", False)
    # tick "dog" off everywhere it is ticked on the first page: still "blurry"; the table
    # follows the model's answer, whatever it is
    for key in grid.visible_keys:
        view = grid.row_view(key)
        if view.boxes["blurry"].value is False:
            view.boxes["blurry"].value = True
    after = demo.tally("dev").attrs["fix_first"]
    assert (grid._table.best, grid._table.best_decided) == (after.leading or "", after.decided)


def test_an_edit_does_not_send_the_preview_images_again(grid: TallyGrid) -> None:
    """Image previews travel apart from the rows: a tick re-sends the rows, not the images."""
    images = grid._table.images
    assert len(images) == 25 and all(v.startswith("data:image/png;base64,")
                                      for v in images.values())
    row = grid._table.rows[0]
    assert row["preview"] == {"kind": "image", "alt": "preview", "ref": row["key"]}
    sent: list[str] = []
    grid._table.observe(lambda change: sent.append(change["name"]), names=["rows", "images"])
    view = grid.row_view(row["key"])
    view.boxes["dog"].value = not view.boxes["dog"].value
    assert "rows" in sent and "images" not in sent
    assert grid._table.images is images
    grid.page = 2
    assert "images" in sent and set(grid._table.images) == set(grid.visible_keys)


# -- the chart above the grid ------------------------------------------------------------------
def test_chart_above_the_grid_is_the_reports_figure_and_follows_ticks(grid: TallyGrid,
                                                                       demo: Results) -> None:
    """The tab draws the report's tally figure (shares, intervals, ceilings), live per tick."""
    from dashboard.figures.tally import tally_spec

    children = list(grid.children)
    assert children.index(grid.chart) < children.index(grid._table)
    assert grid.chart.figure == tally_spec(demo, "dev", height=90 + 22 * 5)
    key = grid.visible_keys[0]
    view = grid.row_view(key)
    assert view is not None
    category = next(c for c, box in view.boxes.items() if not box.value)
    view.boxes[category].value = True
    assert grid.chart.figure == tally_spec(demo, "dev", height=90 + 22 * 5)
    bars = grid.chart.figure["data"][0]
    share = bars["x"][bars["y"].index(category)]
    assert share == pytest.approx(float(demo.tally("dev").loc[category, "share"]))
    # presentation mode hides the spreadsheet and keeps the chart
    assert "mldash-secondary" in grid._table._dom_classes
    assert "mldash-secondary" in grid._pager._dom_classes
    assert "mldash-secondary" not in grid.chart._dom_classes


def test_export_keeps_a_carriage_return_inside_its_cell(grid: TallyGrid, tmp_path: Path) -> None:
    """Issue 21: a comment ``note\\r=1+1`` must not become a spreadsheet row holding ``=1+1``."""
    import csv

    key = grid.grid_frame()["example_id"].iloc[0]
    grid.store.set_comment(key, "note\r=1+1")
    grid.refresh()
    path = grid.export_csv(tmp_path / "grid.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == len(grid.grid_frame()) + 1
    assert all(len(row) == len(rows[0]) for row in rows)
    assert not [c for row in rows for c in row if c[:1] in ("=", "+", "@", "\r")]
    again = AnnotationStore(tmp_path / "other.sqlite", dataset="d")
    again.import_csv(path)
    assert again.comments()[str(key)] == "note\r=1+1"


def _four_splits(score_pos: float, score_neg: float, n: int = 200) -> Results:
    label = (np.arange(n) // 4) % 2  # both classes in every split
    split = np.array(["train", "train_dev", "dev", "test"])[np.arange(n) % 4]
    return Results.from_frame(pd.DataFrame({
        "id": [f"r{i}" for i in range(n)], "split": split, "label": label,
        "score": np.where(label == 1, score_pos, score_neg)}))


def _texts(widget: widgets.Widget) -> str:
    return " ".join(html.unescape(re.sub("<[^>]+>", " ", w.value)) for w in _walk(widget)
                    if isinstance(getattr(w, "value", None), str))


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_a_split_without_one_error_gets_a_page_that_says_so(threshold: float,
                                                            tmp_path: Path) -> None:
    """Issue 21: no dev error (a perfect model, or a threshold where nothing is wrong) made
    the tally grid, and so the whole Dashboard, raise "cannot reshape array of size 0"."""
    from dashboard.widgets.dashboard import Dashboard

    results = _four_splits(0.8, 0.6 if threshold == 0.7 else 0.1)
    results.threshold = threshold
    page = Dashboard(results, store=str(tmp_path / "tags.sqlite"))
    page.show_view("Error analysis")  # the grid samples when its tab is first shown
    text = _texts(page.tally_grid)
    assert "No dev errors at this threshold" in text
    assert "nothing to review" in text
    assert page.tally_grid._table.rows == []


def test_previews_read_regular_image_files_only(tmp_path: Path) -> None:
    """Issue 21: a named pipe called x.png blocked the kernel forever, and any file with an
    image suffix was shipped whatever its bytes."""
    import os
    import threading

    (tmp_path / "fake.png").write_bytes(b"<svg onload=alert(1)>")
    (tmp_path / "really_jpeg.png").write_bytes(b"\xff\xd8\xff\xe0" + bytes(20))
    (tmp_path / "folder.png").mkdir()
    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)

    def writer() -> None:  # without the fix the preview waits for this writer, then ships it
        with contextlib.suppress(OSError), open(fifo, "wb") as pipe:
            pipe.write(b"not an image")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        cell = preview_cell("x.png", tmp_path)
        assert cell["kind"] == "text" and cell["muted"] and "not a regular file" in cell["text"]
    finally:  # a reader held open until the writer is done lets it finish
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        thread.join()
        os.close(reader)
    cell = preview_cell("fake.png", tmp_path)
    assert cell["kind"] == "text" and "not an image" in cell["text"] and "src" not in cell
    cell = preview_cell("folder.png", tmp_path)
    assert cell["kind"] == "text" and "src" not in cell
    cell = preview_cell("really_jpeg.png", tmp_path)
    assert cell["src"].startswith("data:image/jpeg;base64,")


def test_a_burst_of_edits_is_one_batch_and_bounded(grid: TallyGrid,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 21: 3,000 edits sent in half a second were handled one by one (a commit and a
    tally each), keeping the kernel busy for minutes. In a kernel (an event loop runs) a burst
    is queued and handled in batches of at most MAX_QUEUED: one commit, one tally each."""
    import asyncio

    from dashboard.widgets import review_table

    table = grid._table
    keys, category = table.shown_keys, table.categories[0]
    footers = []
    monkeypatch.setattr(grid, "_update_footer", lambda: footers.append(1))
    commits = []
    batch = grid.session.store.batch

    def counted_batch():  # type: ignore[no-untyped-def]
        commits.append(1)
        return batch()

    monkeypatch.setattr(grid.session.store, "batch", counted_batch)
    sent = review_table.MAX_QUEUED + 300

    async def burst() -> None:
        for i in range(sent):
            table._on_custom_msg(table, {"event": "edit", "key": keys[i % len(keys)],
                                         "field": "tag", "category": category,
                                         "value": i % 2 == 0}, [])
            assert len(table._inbox) < review_table.MAX_QUEUED
        assert len(table._inbox) == 299
        table.drain()  # what the pause after the burst does

    # asyncio.run in a thread of its own: in a whole-suite run the browser tests' Playwright
    # (its sync API) keeps an event loop running in this thread
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, burst()).result()
    # the first edit at once, then a full queue, then the rest: two batches, two tallies
    assert len(commits) == 2 and len(footers) <= 3
    stored = grid.session.store.tags().set_index("example_id")[category]
    for i, key in enumerate(keys):
        last = max(range(i, sent, len(keys)))
        assert bool(stored.loc[key]) == (last % 2 == 0)
    assert grid.last_error is None


@pytest.mark.parametrize("eyeball", [0.0, 0.3])
@pytest.mark.parametrize("include_correct", [False, True])
def test_the_grids_sample_is_the_key_sorting_sample_of_the_split(
        demo_path: Path, eyeball: float, include_correct: bool) -> None:
    """Results.review_sample_rows (ranks hashed once per split) picks the rows the
    key-sorting composition picks: review rows, eyeball part, sample_review_rows."""
    from dashboard.metrics.sampling import eyeball_mask, sample_review_rows

    r = Results.from_file(demo_path)
    reviewed = list(r.tags.index[r.tags.notna().any(axis=1).to_numpy()].astype(str))[:30]
    for thr in (0.3, 0.5, 0.8):
        r.threshold = thr
        got, wrong_total = r.review_sample_rows("dev", size=40, seed=7, reviewed=reviewed,
                                                include_correct=include_correct,
                                                eyeball=eyeball)
        rows = r.review_rows("dev", misclassified_only=False)
        if eyeball:
            rows = rows[eyeball_mask(rows["key"].to_numpy(), eyeball)]
        ok = rows["correct"].to_numpy(dtype=bool)
        pos = sample_review_rows(rows["key"].astype(str).to_numpy(), ok, size=40, seed=7,
                                 reviewed=reviewed, include_correct=include_correct)
        assert got["key"].tolist() == rows["key"].iloc[pos].tolist()
        assert got["predicted"].tolist() == rows["predicted"].iloc[pos].tolist()
        assert wrong_total == int((~ok).sum())
