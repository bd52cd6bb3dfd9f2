"""The error-analysis spreadsheet: look at misclassified examples and tick what went wrong.

``TallyGrid(results, store=...)`` shows a reproducible sample of the chosen split's misclassified
examples at the current threshold (DOMAIN.md section 2), one checkbox per category and a comment
per row, a footer with each category's "% of total" and ceiling, and the labels-versus-other-
causes panel. Every tick goes to the :class:`~dashboard.annotations.AnnotationStore` first
(durably) and only then to ``results.tags``; the footer and the panel are read back from
``Results.tally`` / ``Results.label_noise``, so the widget computes no number of its own.

Rows are paginated (``page_size`` rows per page, 25 by default): the row widgets of one page are
built once and reused, only their values change when paging, sorting or filtering.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets as t

from dashboard.annotations import (
    AnnotationStore,
    Edit,
    ReviewSession,
    dataset_name,
    neutralise_frame,
    safe_filename,
)
from dashboard.errors import DashboardError
from dashboard.metrics.sampling import FILTERS, arrange_rows, eyeball_mask, sample_review_rows
from dashboard.metrics.tally import LabelNoise
from dashboard.results import Results
from dashboard.widgets.format import count, pct
from dashboard.widgets.theme import COLORS

__all__ = ["TallyGrid", "preview_content"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: image files a preview may show (read from the results folder only)
IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp"}
#: characters of a text preview
TEXT_PREVIEW = 120
#: largest image file shown as a thumbnail
MAX_IMAGE_BYTES = 2_000_000

_FILTER_LABELS = {"all": "all rows", "reviewed": "reviewed", "unreviewed": "not reviewed",
                  "ticked": "category ticked", "not ticked": "category not ticked"}
_SORT_LABELS = {"sample": "sample order", "score": "score", "id": "id",
                "category": "category ticked first", "suspect": "suspected mislabels first"}
#: suggested slices shown at most, and adoption's category name prefix-free
_MAX_SUGGESTIONS = 5
_ERROR = COLORS["avoidable_bias"]
_OK = COLORS["test"]
_MUTED = COLORS["muted"]


def _guarded(method: _F) -> _F:
    """Run a callback; if it fails, show the error in the widget instead of the kernel log."""
    @functools.wraps(method)
    def wrapper(self: TallyGrid, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._show_error(exc)
            return None
    return wrapper  # type: ignore[return-value]


def preview_content(value: Any, base_dir: Path | None) -> tuple[str, Any]:
    """What a preview cell shows for one value, safely.

    Returns ``("image", (bytes, format))`` for an image file inside ``base_dir`` (relative to
    it, or absolute but still inside; ``..`` escapes are refused), ``("html", text)`` otherwise:
    an escaped link for an http(s) URL (nothing is fetched), an escaped note for a refused or
    missing file, or the escaped start of a text.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "html", ""
    text = str(value).strip()
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if scheme in ("http", "https"):
        shown = html.escape(text if len(text) <= 60 else text[:57] + "…")
        return "html", (f"<a href='{html.escape(text, quote=True)}' target='_blank' "
                        f"rel='noopener noreferrer nofollow'>{shown}</a>")
    suffix = Path(text).suffix.lower() if len(text) < 1024 and "\n" not in text else ""
    if suffix in IMAGE_FORMATS and not scheme:
        if base_dir is None:
            return "html", f"<span title='no results folder'>{html.escape(text)}</span>"
        root = Path(base_dir).resolve()
        candidate = Path(text)
        path = (candidate if candidate.is_absolute() else root / candidate).resolve()
        if not path.is_relative_to(root):
            return "html", (f"<span style='color:{_MUTED}'>not shown: outside the results "
                            f"folder ({html.escape(text)})</span>")
        try:
            if path.stat().st_size > MAX_IMAGE_BYTES:
                return "html", f"<span style='color:{_MUTED}'>image too large to preview</span>"
            return "image", (path.read_bytes(), IMAGE_FORMATS[suffix])
        except OSError:
            return "html", (f"<span style='color:{_MUTED}'>missing image "
                            f"{html.escape(text)}</span>")
    short = text if len(text) <= TEXT_PREVIEW else text[:TEXT_PREVIEW - 1] + "…"
    title = html.escape(text[:500], quote=True)
    return "html", f"<span title='{title}'>{html.escape(short)}</span>"


class _RowView:
    """The widgets of one grid row, built once and reused for whichever example is shown."""

    def __init__(self, grid: TallyGrid, categories: tuple[str, ...]) -> None:
        self.key: str | None = None
        self.correct = False
        self.reviewed = widgets.Checkbox(value=False, indent=False, description="",
                                         tooltip="reviewed (counts in % of total)",
                                         layout=widgets.Layout(width="auto"))
        self.ident = widgets.HTML()
        self.label = widgets.HTML()
        self.predicted = widgets.HTML()
        self.score = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="72px",
                                                                       max_height="72px"))
        self.preview_text = widgets.HTML()
        self.preview = widgets.Box(layout=widgets.Layout(min_height="24px"))
        self.comment = widgets.Text(value="", placeholder="comment", continuous_update=False,
                                    layout=widgets.Layout(width="100%"))
        self.comment.add_class("mldash-comment")
        self.status = widgets.HTML()
        self.boxes: dict[str, widgets.Checkbox] = {}
        self._grid = grid
        self.reviewed.observe(functools.partial(grid._on_reviewed_value_change, self),
                              names="value")
        self.comment.observe(functools.partial(grid._on_comment_value_change, self),
                             names="value")
        self.set_categories(categories)

    def set_categories(self, categories: tuple[str, ...]) -> None:
        """One checkbox per category; boxes of vanished names are reused for new names."""
        if tuple(self.boxes) == categories:
            return
        spare = [b for c, b in self.boxes.items() if c not in categories]
        boxes = {}
        for c in categories:
            box = self.boxes.get(c) or (spare.pop() if spare else None)
            if box is None:
                box = widgets.Checkbox(value=False, indent=False, description="",
                                       layout=widgets.Layout(width="auto"))
                box.add_class("mldash-tag")
                box.observe(functools.partial(self._grid._on_box_value_change, self, box),
                            names="value")
            boxes[c] = box
        self.boxes = boxes

    def category_of(self, box: widgets.Checkbox) -> str:
        return next(c for c, b in self.boxes.items() if b is box)

    def cells(self, with_preview: bool) -> list[widgets.Widget]:
        cells = [self.reviewed, self.ident, self.label, self.predicted, self.score]
        if with_preview:
            cells.append(self.preview)
        return [*cells, *self.boxes.values(), self.comment, self.status]


class TallyGrid(widgets.VBox):
    """The error-analysis grid over one :class:`Results`, backed by an annotation store.

    Parameters
    ----------
    results : Results
        The shared model; the grid follows its ``threshold`` and ``model``.
    store : AnnotationStore, str or Path, optional
        Where ticks are kept: a store for ``results.fingerprint`` or a path for one (default
        ``annotations.sqlite`` beside the results file).
    split : str
        The split to review ("dev"; "test" to apply the same process to test).
    sample_size, seed : int
        The reproducible sample: every already-reviewed misclassified example, then a seeded
        random draw of the others up to ``sample_size``.
    include_correct : bool
        Also show a sample (same size and seed) of correctly classified examples, marked
        "correct"; they are excluded from "% of total" and the ceilings.
    page_size : int
        Rows per page.
    author : str, optional
        The reviewer's name recorded with each edit.
    """

    split = t.Unicode("dev", help="the split reviewed")
    sample_size = t.Int(100, help="rows drawn from the misclassified examples")
    seed = t.Int(0, help="seed of the sample")
    include_correct = t.Bool(False, help="also show correctly classified examples")
    eyeball = t.Float(0.0, help="review only this fraction of the split (the eyeball part, "
                                "chosen by example id) and keep the rest blind; 0: all")
    page = t.Int(1, help="the page shown, from 1")
    filter_by = t.Unicode("all", help="one of dashboard.metrics.sampling.FILTERS")
    sort_by = t.Unicode("sample", help="one of dashboard.metrics.sampling.SORTS")
    sort_category = t.Unicode("", help="category for the category filters and sort")
    descending = t.Bool(False, help="reverse the sort")
    active = t.Bool(True, help="shown: follow threshold and model moves now; when False "
                               "(a hidden tab) a move only marks the sample stale, and it is "
                               "drawn again when the grid is shown")

    def __init__(self, results: Results, store: AnnotationStore | str | Path | None = None, *,
                 split: str = "dev", sample_size: int = 100, seed: int = 0,
                 include_correct: bool = False, page_size: int = 25,
                 author: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("mldash-tally")
        self.results = results
        self.session = ReviewSession(results, store, author=author)
        self.store = self.session.store
        self.page_size = max(int(page_size), 1)
        self.last_error: str | None = None
        self.last_export: Path | None = None
        self._painting = 0
        self._ready = False
        self._stale = False
        self._row_status: dict[str, str] = {}
        self._sample = pd.DataFrame()
        self._order = np.empty(0, dtype=np.int64)
        self._n_wrong = self._n_wrong_total = 0
        self._categories = tuple(results.categories)
        self._preview_col = results.schema.previews[0] if results.schema.previews else None
        self._score_col, self._score_title = self._score_column()
        if split not in results.splits:
            raise DashboardError(f"split {split!r} has no rows; the results have "
                                 f"{', '.join(results.splits)}")
        self.split = split
        self.sample_size = int(sample_size)
        self.seed = int(seed)
        self.include_correct = bool(include_correct)
        self.sort_category = self._categories[0]

        self._build_controls()
        self._build_table()
        self._build_panels()
        self._answer = widgets.HTML()
        self._answer.add_class("mldash-answer")
        self._suggestions = widgets.VBox()
        self._suggestions.add_class("mldash-suggestions")
        self.children = (self._title, self._answer, self._controls, self._category_bar,
                         self._arrange_bar, self._summary, self._table, self._pager,
                         self._note, self._panel, self._suggestions, self._export_box,
                         self._status)
        for box in (self._controls, self._category_bar, self._export_box):
            box.add_class("mldash-secondary")  # hidden in presentation mode
        for name in ("threshold", "model", "task", "tags", "comments", "weighted"):
            results.observe(getattr(self, f"_on_{name}_change"), names=[name])
        self._ready = True
        self._resample()
        if self.session.notice:  # reviews carried over from an earlier export, or left behind
            self._show_info(self.session.notice)

    # -- building (once) ------------------------------------------------------------------------
    def _score_column(self) -> tuple[str | None, str]:
        schema = self.results.schema
        if schema.kind == "binary_score":
            return "score", "score"
        if schema.kind == "multiclass_proba":
            pos = self.results.positive_class
            return schema.proba_columns.get(pos), f"p({pos})"
        return None, "score"

    def _build_controls(self) -> None:
        self._title = widgets.HTML("<h3 style='margin:4px 0'>Error analysis: what went wrong"
                                   "</h3>")
        self._split_pick = widgets.Dropdown(options=list(self.results.splits), value=self.split,
                                            description="Split",
                                            layout=widgets.Layout(width="170px"))
        self._size_box = widgets.BoundedIntText(value=self.sample_size, min=1, max=1_000_000,
                                                description="Sample",
                                                layout=widgets.Layout(width="170px"))
        self._seed_box = widgets.IntText(value=self.seed, description="Seed",
                                         layout=widgets.Layout(width="150px"))
        self._correct_box = widgets.Checkbox(value=self.include_correct, indent=False,
                                             description="add correctly classified examples")
        self._eyeball_pick = widgets.Dropdown(
            options=[("whole split", 0.0), ("eyeball 10%", 0.1), ("eyeball 20%", 0.2),
                     ("eyeball 50%", 0.5)], value=self.eyeball, description="Review",
            tooltip="draw the sample from an eyeball part only; the rest stays a black box "
                    "that tells whether the team overfits what it looks at",
            layout=widgets.Layout(width="210px"))
        for control, name in ((self._split_pick, "split"), (self._size_box, "sample_size"),
                              (self._seed_box, "seed"), (self._correct_box, "include_correct"),
                              (self._eyeball_pick, "eyeball")):
            widgets.link((control, "value"), (self, name))
        self._author_box = widgets.Text(value=self.store.author, description="Reviewer",
                                        continuous_update=False,
                                        layout=widgets.Layout(width="220px"))
        self._author_box.observe(self._on_author_box_value_change, names="value")
        self._refresh_button = widgets.Button(description="Refresh", icon="refresh",
                                              tooltip="load the edits others have saved")
        self._refresh_button.on_click(self._on_refresh_click)
        self._controls = widgets.HBox([self._split_pick, self._size_box, self._seed_box,
                                       self._eyeball_pick, self._correct_box, self._author_box,
                                       self._refresh_button],
                                      layout=widgets.Layout(flex_flow="row wrap"))

        self._new_category = widgets.Text(placeholder="new category", continuous_update=False,
                                          layout=widgets.Layout(width="180px"))
        self._add_button = widgets.Button(description="Add category", icon="plus")
        self._add_button.on_click(self._on_add_click)
        self._category_pick = widgets.Dropdown(options=list(self._categories),
                                               description="Category",
                                               layout=widgets.Layout(width="240px"))
        self._rename_to = widgets.Text(placeholder="new name", continuous_update=False,
                                       layout=widgets.Layout(width="160px"))
        self._rename_button = widgets.Button(description="Rename")
        self._rename_button.on_click(self._on_rename_click)
        self._remove_button = widgets.Button(description="Remove", icon="trash",
                                             tooltip="hide the category; its ticks are kept "
                                             "and come back if it is added again")
        self._remove_button.on_click(self._on_remove_click)
        self._category_bar = widgets.HBox([self._new_category, self._add_button,
                                           self._category_pick, self._rename_to,
                                           self._rename_button, self._remove_button],
                                          layout=widgets.Layout(flex_flow="row wrap"))

        self._filter_pick = widgets.Dropdown(
            options=[(_FILTER_LABELS[f], f) for f in FILTERS], value=self.filter_by,
            description="Show", layout=widgets.Layout(width="230px"))
        self._sort_pick = widgets.Dropdown(
            options=[(label, s) for s, label in _SORT_LABELS.items()], value=self.sort_by,
            description="Sort by", layout=widgets.Layout(width="240px"))
        self._sort_category_pick = widgets.Dropdown(options=list(self._categories),
                                                    value=self.sort_category,
                                                    description="Category",
                                                    layout=widgets.Layout(width="240px"))
        self._descending_box = widgets.Checkbox(value=False, indent=False,
                                                description="descending")
        for control, name in ((self._filter_pick, "filter_by"), (self._sort_pick, "sort_by"),
                              (self._sort_category_pick, "sort_category"),
                              (self._descending_box, "descending")):
            widgets.link((control, "value"), (self, name))
        self._arrange_bar = widgets.HBox([self._filter_pick, self._sort_pick,
                                          self._sort_category_pick, self._descending_box],
                                         layout=widgets.Layout(flex_flow="row wrap"))
        self._summary = widgets.HTML()
        self._summary.add_class("mldash-tally-summary")

    def _build_table(self) -> None:
        self._with_preview = self._preview_col is not None
        fixed = ["reviewed", "example", "label", "prediction", self._score_title]
        if self._with_preview:
            fixed.append("preview")
        self._fixed_headers = [widgets.HTML(f"<b>{html.escape(h)}</b>") for h in fixed]
        self._category_headers: dict[str, widgets.HTML] = {}
        self._share_cells: dict[str, widgets.HTML] = {}
        self._ceiling_cells: dict[str, widgets.HTML] = {}
        self._tail_headers = [widgets.HTML("<b>comment</b>"), widgets.HTML("<b>saved</b>")]
        n_fixed = len(fixed)
        self._share_lead = [widgets.HTML("<b style='white-space:nowrap'>% of total</b>")] + [
            widgets.HTML() for _ in range(n_fixed - 1)]
        self._share_lead[1].add_class("mldash-tally-reviewed")
        self._ceiling_lead = [widgets.HTML("<b>ceiling</b>")] + [
            widgets.HTML() for _ in range(n_fixed - 1)]
        self._ceiling_lead[1].add_class("mldash-tally-error")
        self._footer_tail = [widgets.HTML() for _ in range(4)]
        self._views = [_RowView(self, self._categories) for _ in range(self.page_size)]
        self._visible = 0
        self._table = widgets.GridBox(layout=widgets.Layout(grid_gap="2px 8px",
                                                            align_items="center",
                                                            overflow="auto"))
        self._table.add_class("mldash-tally-grid")

        self._prev_button = widgets.Button(description="Previous", icon="arrow-left",
                                           layout=widgets.Layout(width="110px"))
        self._next_button = widgets.Button(description="Next", icon="arrow-right",
                                           layout=widgets.Layout(width="110px"))
        self._prev_button.on_click(self._on_prev_click)
        self._next_button.on_click(self._on_next_click)
        self._page_box = widgets.BoundedIntText(value=1, min=1, max=1, description="Page",
                                                layout=widgets.Layout(width="150px"))
        widgets.link((self._page_box, "value"), (self, "page"))
        self._page_label = widgets.HTML()
        self._pager = widgets.HBox([self._prev_button, self._page_box, self._page_label,
                                    self._next_button])
        self._note = widgets.HTML(
            f"<span style='color:{_MUTED}'>% of total = ticked rows / reviewed misclassified "
            "rows of this split at the current threshold (categories overlap, so columns need "
            "not sum to 100%). Ceiling = the split's error if that category were fixed "
            "completely. Rows marked <i>correct</i> are excluded from both.</span>")
        self._sync_categories(force=True)

    def _build_panels(self) -> None:
        self._panel = widgets.HTML()
        self._panel.add_class("mldash-label-noise")
        self._export_button = widgets.Button(description="Export CSV", icon="download",
                                             tooltip="write the whole sample to a CSV file")
        self._export_button.on_click(self._on_export_click)
        self._import_upload = widgets.FileUpload(accept=".csv", multiple=False,
                                                 description="Import tags CSV")
        self._import_upload.observe(self._on_import_upload_value_change, names="value")
        self._export_link = widgets.HTML()
        self._export_box = widgets.HBox([self._export_button, self._import_upload,
                                         self._export_link])
        self._status = widgets.HTML()
        self._status.add_class("mldash-status")

    # -- layout of the table -------------------------------------------------------------------
    def _sync_categories(self, force: bool = False) -> None:
        """Follow ``results.categories``: headers, footer cells and each row's checkboxes."""
        cats = tuple(self.results.categories)
        if cats == self._categories and not force:
            return
        self._categories = cats
        for cells in (self._category_headers, self._share_cells, self._ceiling_cells):
            old = dict(cells)
            cells.clear()
            spare = [w for c, w in old.items() if c not in cats]
            for c in cats:
                cells[c] = old.get(c) or (spare.pop() if spare else widgets.HTML())
        for c, header in self._category_headers.items():
            text = f"<b title='{html.escape(c, quote=True)}'>{html.escape(c)}</b>"
            if header.value != text:
                header.value = text
        for cells, cls in ((self._share_cells, "mldash-tally-share"),
                           (self._ceiling_cells, "mldash-tally-ceiling")):
            for cell in cells.values():
                if cls not in cell._dom_classes:
                    cell.add_class(cls)
        for view in self._views:
            view.set_categories(cats)
        options = list(cats)
        for pick in (self._category_pick, self._sort_category_pick):
            if list(pick.options) != options:
                keep = pick.value if pick.value in cats else cats[0]
                pick.options = options
                pick.value = keep
        self._layout_table()

    def _layout_table(self) -> None:
        widths = ["70px", "minmax(110px, 1.2fr)", "minmax(60px, 0.5fr)", "minmax(60px, 0.5fr)",
                  "60px"]
        if self._with_preview:
            widths.append("80px")
        widths += ["minmax(70px, 0.6fr)"] * len(self._categories)
        widths += ["minmax(160px, 2fr)", "110px"]
        template = " ".join(widths)
        if self._table.layout.grid_template_columns != template:
            self._table.layout.grid_template_columns = template
        cats = self._categories
        header = [*self._fixed_headers, *(self._category_headers[c] for c in cats),
                  *self._tail_headers]
        body = [cell for view in self._views[:self._visible]
                for cell in view.cells(self._with_preview)]
        footer = [*self._share_lead, *(self._share_cells[c] for c in cats),
                  *self._footer_tail[:2], *self._ceiling_lead,
                  *(self._ceiling_cells[c] for c in cats), *self._footer_tail[2:]]
        children = (*header, *body, *footer)
        if self._table.children != children:
            self._table.children = children

    @contextmanager
    def _paint(self) -> Iterator[None]:
        """Set widget values without treating them as the reviewer's edits."""
        self._painting += 1
        try:
            yield
        finally:
            self._painting -= 1

    # -- rows: sample, arrangement, page ---------------------------------------------------------
    def _resample(self) -> None:
        """Draw the sample for the current split, model, threshold, size and seed."""
        if not self._ready:
            return
        self._stale = False
        rows = self.results.review_rows(self.split, misclassified_only=False)
        if self.eyeball > 0:  # the black-box part stays unseen (Machine Learning Yearning)
            rows = rows[eyeball_mask(rows["key"].to_numpy(), self.eyeball)]
        keys = rows["key"].astype(str).to_numpy()
        tags = self.results.tags
        reviewed = tags.index[tags.notna().any(axis=1).to_numpy()].astype(str)
        pos = sample_review_rows(keys, rows["correct"].to_numpy(dtype=bool),
                                 size=self.sample_size, seed=self.seed, reviewed=reviewed,
                                 include_correct=self.include_correct)
        picked = rows.iloc[pos]
        sample = pd.DataFrame({
            "key": keys[pos],
            "label": picked["label"].to_numpy(),
            "predicted": picked["predicted"].to_numpy(),
            "score": (picked[self._score_col].to_numpy(dtype=np.float64)
                      if self._score_col in picked.columns else np.full(len(pos), np.nan)),
            "correct": picked["correct"].to_numpy(dtype=bool),
        })
        if self._preview_col is not None:
            sample["preview"] = picked[self._preview_col].to_numpy()
        self._sample = sample
        self._n_wrong = int((~sample["correct"]).sum())
        self._n_wrong_total = int((~rows["correct"].to_numpy(dtype=bool)).sum())
        self._arrange()

    def _arrange(self) -> None:
        """Filter and sort the sample's rows, then show the page."""
        if not self._ready:
            return
        self._order = arrange_rows(self._sample["key"].to_numpy(), self.results.tags,
                                   filter_by=self.filter_by, sort_by=self.sort_by,
                                   category=self.sort_category or None,
                                   scores=self._sample["score"].to_numpy(),
                                   descending=self.descending,
                                   suspicion=self._suspicion() if self.sort_by == "suspect"
                                   else None)
        pages = max(math.ceil(len(self._order) / self.page_size), 1)
        before = self.page
        self._page_box.max = pages  # may clamp the page, whose observer paints
        if self.page > pages:
            self.page = pages
        elif self.page == before:
            self._paint_page()

    def _suspicion(self) -> np.ndarray:
        """Per sampled row, the given label's probability if it is a suspected label error
        (confident learning, computed by the results model), else NaN."""
        suspects = self.results.label_suspects(self.split)
        by_key = pd.Series(suspects["score"].to_numpy(), index=suspects["key"].to_numpy())
        return by_key.reindex(self._sample["key"].to_numpy()).to_numpy(dtype=np.float64)

    def _paint_page(self) -> None:
        if not self._ready:
            return
        pages = max(math.ceil(len(self._order) / self.page_size), 1)
        start = (self.page - 1) * self.page_size
        shown = self._order[start:start + self.page_size]
        rows = self._sample.iloc[shown]
        reviewed, ticked = self._tag_values(rows["key"].astype(str).tolist())
        comments = self.results.comments
        base_dir = self.results.schema.base_dir
        records = rows.to_dict("records")
        with self._paint():
            for i, view in enumerate(self._views):
                if i >= len(records):
                    view.key = None
                    continue
                self._paint_row(view, records[i], base_dir)
                self._paint_values(view, reviewed[i], ticked[i], comments)
            if self._visible != len(rows):
                self._visible = len(rows)
                self._layout_table()
        self._prev_button.disabled = self.page <= 1
        self._next_button.disabled = self.page >= pages
        first = start + 1 if len(rows) else 0
        label = (f"of {pages} &nbsp; (rows {first}–{start + len(rows)} of "
                 f"{count(len(self._order))})")
        if self._page_label.value != label:
            self._page_label.value = label
        self._update_summary()
        self._update_footer()

    def _tag_values(self, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per key: reviewed (any tag given) and the ticked boxes, in category order."""
        tags = self.results.tags.reindex(index=pd.Index(keys, dtype=object),
                                         columns=list(self._categories))
        return (tags.notna().to_numpy().any(axis=1),
                tags.fillna(False).to_numpy(dtype=bool).reshape(len(keys), -1))

    def _paint_row(self, view: _RowView, row: dict[str, Any], base_dir: Path | None) -> None:
        """The example's own fields (id, label, prediction, score, preview, saved status)."""
        key = str(row["key"])
        view.key, view.correct = key, bool(row["correct"])
        marker = (f" <span class='mldash-correct' style='color:{_OK};font-size:85%'>correct"
                  "</span>" if view.correct else "")
        _set(view.ident, f"<code>{html.escape(key)}</code>{marker}")
        _set(view.label, html.escape(str(row["label"])))
        _set(view.predicted, html.escape(str(row["predicted"])))
        score = row["score"]
        _set(view.score, "—" if pd.isna(score) else f"{float(score):.3f}")
        if self._with_preview:
            kind, content = preview_content(row["preview"], base_dir)
            if kind == "image":
                data, fmt = content
                if view.image.format != fmt:
                    view.image.format = fmt
                if view.image.value != data:
                    view.image.value = data
                shown: tuple[widgets.Widget, ...] = (view.image,)
            else:
                _set(view.preview_text, content)
                shown = (view.preview_text,)
            if view.preview.children != shown:
                view.preview.children = shown
        for c, box in view.boxes.items():
            tip = f"{c}: {key}"
            if box.tooltip != tip:
                box.tooltip = tip
        _set(view.status, self._row_status.get(key, ""))

    def _paint_values(self, view: _RowView, reviewed: bool, ticked: np.ndarray,
                      comments: dict[str, str]) -> None:
        """The reviewer's fields: reviewed, one box per category, comment."""
        if view.reviewed.value != bool(reviewed):
            view.reviewed.value = bool(reviewed)
        for box, value in zip(view.boxes.values(), ticked, strict=True):
            if box.value != bool(value):
                box.value = bool(value)
        text = comments.get(view.key or "", "")
        if view.comment.value != text:
            view.comment.value = text

    def _repaint_values(self) -> None:
        """After tags or comments changed: the visible rows' boxes and comments."""
        views = [v for v in self._views[:self._visible] if v.key is not None]
        reviewed, ticked = self._tag_values([str(v.key) for v in views])
        comments = self.results.comments
        with self._paint():
            for i, view in enumerate(views):
                self._paint_values(view, reviewed[i], ticked[i], comments)

    # -- read-outs ---------------------------------------------------------------------------------
    def _update_summary(self) -> None:
        n = len(self._sample)
        n_correct = n - self._n_wrong
        wrong_total = self._n_wrong_total
        where = ""
        if self.results.engine_notes:  # rows held by an engine: the grid draws from its sample
            split_errors = self.results.error_rates(weighted=False).loc[self.split, "errors"]
            where = f" in the engine's sample ({count(int(split_errors))} in the split)"
        text = (f"{count(self._n_wrong)} of the {count(wrong_total)} misclassified "
                f"<b>{html.escape(self.split)}</b> examples{where} of model "
                f"<b>{html.escape(self.results.model)}</b> at threshold "
                f"{self.results.threshold:.3g} (seed {self.seed}, already-reviewed rows "
                "always included)")
        if self.include_correct:
            text += f", plus {count(n_correct)} correctly classified ones (marked correct)"
        if len(self._order) != n:
            text += f"; {count(len(self._order))} shown by the filter"
        if n == 0:
            text = (f"No misclassified {html.escape(self.split)} examples at threshold "
                    f"{self.results.threshold:.3g}: nothing to review.")
        _set(self._summary, text)

    def _update_footer(self) -> None:
        tally = self.results.tally(self.split)
        reviewed = int(tally.attrs["reviewed"])
        for c in self._categories:
            share = float(tally.loc[c, "share"]) if c in tally.index else float("nan")
            ceiling = float(tally.loc[c, "ceiling_error"]) if c in tally.index else float("nan")
            n = int(tally.loc[c, "count"]) if c in tally.index else 0
            _set(self._share_cells[c], f"<b title='{n} of {reviewed}'>{pct(share, 0)}</b>")
            _set(self._ceiling_cells[c], f"<span title='{html.escape(self.split)} error if "
                 f"{html.escape(c, quote=True)} were fixed'>{pct(ceiling, 2)}</span>")
        _set(self._share_lead[1], f"{count(reviewed)} reviewed")
        _set(self._ceiling_lead[1], f"error now {pct(tally.attrs['split_error'], 2)}")
        self._update_panel(tally.attrs["label_noise"])
        answer = tally.attrs["fix_first"]
        colour = "inherit" if answer.decided else _MUTED
        _set(self._answer, f"<div role='status' style='font-size:15px;font-weight:600;"
             f"margin:2px 0 6px 0;color:{colour}'>{html.escape(answer.sentence)}</div>")
        self._update_suggestions()

    def _update_suggestions(self) -> None:
        """Significant metadata slices, each adoptable as a category in one click."""
        if not self.results.metadata_columns:
            self._suggestions.children = ()
            return
        table = self.results.suggest_slices(self.split)
        top = table[table["significant"]].head(_MAX_SUGGESTIONS)
        head = widgets.HTML(
            f"<b>Suggested categories</b> from the metadata "
            f"({', '.join(map(html.escape, table.attrs.get('columns_used', ())))}): slices where "
            f"the {html.escape(self.split)} errors concentrate, significant after "
            f"{table.attrs['tried']} slices tried (Holm)." if len(top) else
            f"<b>Suggested categories</b>: no metadata slice concentrates the "
            f"{html.escape(self.split)} errors significantly ({table.attrs['tried']} tried).")
        rows: list[widgets.Widget] = [head]
        for _, row in top.iterrows():
            name = str(row["slice"])
            text = widgets.HTML(
                f"<span><b>{html.escape(name)}</b>: {count(row['rows'])} rows, error "
                f"{pct(row['error'], 1)} vs {pct(row['rest_error'], 1)} elsewhere, "
                f"{pct(row['share'], 0)} of the errors; fixed, error falls to "
                f"{pct(row['ceiling_error'], 2)} (p = {row['p_value']:.2g})</span>")
            button = widgets.Button(description="Adopt as category", icon="plus",
                                    tooltip=f"add the category {name!r} and tick it on the "
                                    "reviewed rows in this slice",
                                    layout=widgets.Layout(width="auto"))
            button.on_click(functools.partial(self._on_adopt_click, name))
            rows.append(widgets.HBox([button, text], layout=widgets.Layout(
                align_items="center")))
        self._suggestions.children = rows

    def adopt_slice(self, name: str) -> int:
        """Add a suggested slice as a category: ticked on the reviewed misclassified rows in
        the slice, unticked on the other reviewed ones, every edit saved. Returns the ticks."""
        inside = set(self.results.slice_keys(name, self.split))
        reviewed = list(self.results.reviewed_tags(self.split).index)
        category = self.session.add_category(name)
        ticks = 0
        for key in reviewed:
            value = key in inside
            self.session.set_tag(key, category, value)
            ticks += value
        return ticks

    def _on_adopt_click(self, name: str, _button: widgets.Button) -> None:
        try:
            ticks = self.adopt_slice(name)
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never lost in a log
            self._show_error(exc)
            return
        self._show_info(f"Adopted {html.escape(name)}: ticked on {ticks} reviewed rows, saved.")

    def _update_panel(self, noise: LabelNoise) -> None:
        split = html.escape(self.split)
        rows = [(f"Overall {split} error", pct(noise.dev_error, 2)),
                ("Error due to incorrect labels", pct(noise.due_to_labels, 2)),
                ("Error due to other causes", pct(noise.other_causes, 2)),
                ("Share of the errors due to labels", pct(noise.share_of_errors, 0))]
        table = "".join(f"<tr><td style='padding-right:16px'>{a}</td><td><b>{b}</b></td></tr>"
                        for a, b in rows)
        colour = _ERROR if noise.worth_fixing else "inherit"
        body = (f"<div><b>Incorrect labels versus other causes</b>"
                f"<table style='margin:4px 0'>{table}</table>"
                f"<div class='mldash-verdict' style='color:{colour}'>"
                f"{html.escape(noise.verdict)}</div>")
        warning = self.results.label_noise_warning(self.split)
        if self.eyeball > 0:
            check = self.results.eyeball_check(self.split, self.eyeball)
            row = check.loc[self.results.model]
            body += (f"<div class='mldash-eyeball' style='margin-top:4px'>Eyeball part "
                     f"({count(row['eyeball_rows'])} rows): error {pct(row['eyeball_error'], 1)}"
                     f"; black-box part ({count(row['blackbox_rows'])} rows): "
                     f"{pct(row['blackbox_error'], 1)}.</div>")
            if check.attrs["warning"]:
                body += (f"<div class='mldash-eyeball-warning' role='alert' style='color:"
                         f"{_ERROR}'>⚠ {html.escape(check.attrs['warning'])}</div>")
        if warning:
            body += (f"<div class='mldash-label-warning' role='alert' style='color:{_ERROR};"
                     f"margin-top:4px'>⚠ {html.escape(warning)}</div>")
        _set(self._panel, body + "</div>")

    def _show_error(self, exc: BaseException) -> None:
        self.last_error = str(exc)
        _set(self._status, f"<div role='alert' style='color:{_ERROR}'>"
             f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</div>")

    def _show_info(self, text: str) -> None:
        self.last_error = None
        _set(self._status, f"<span style='color:{_MUTED}'>{html.escape(text)}</span>")

    def _saved(self, view: _RowView, edit: Edit, note: str = "") -> None:
        at = datetime.fromisoformat(edit.at).astimezone(timezone.utc).strftime("%H:%M:%S")
        title = html.escape(f"saved by {edit.author} at {edit.at} (edit #{edit.seq})", quote=True)
        text = (f"<span class='mldash-saved' style='color:{_OK}' title='{title}'>saved ✓ "
                f"{at} UTC</span>")
        if note:
            text += f"<br><span style='color:{_MUTED};font-size:85%'>{html.escape(note)}</span>"
        if view.key is not None:
            self._row_status[view.key] = text
        _set(view.status, text)

    def _failed(self, view: _RowView, exc: BaseException) -> None:
        text = (f"<span class='mldash-not-saved' style='color:{_ERROR}' role='alert'>not saved: "
                f"{html.escape(str(exc))}</span>")
        if view.key is not None:
            self._row_status[view.key] = text
        _set(view.status, text)
        self._show_error(exc)

    # -- the reviewer's edits ---------------------------------------------------------------------
    def _on_box_value_change(self, view: _RowView, box: widgets.Checkbox, change: dict) -> None:
        if self._painting or view.key is None:
            return
        category = view.category_of(box)
        try:
            edit = self.session.set_tag(view.key, category, bool(change["new"]))
        except Exception as exc:  # noqa: BLE001 - the box reverts and the error is shown
            with self._paint():
                box.value = change["old"]
            self._failed(view, exc)
            return
        self._saved(view, edit)

    def _on_reviewed_value_change(self, view: _RowView, change: dict) -> None:
        if self._painting or view.key is None:
            return
        try:
            edits = self.session.set_reviewed(view.key, bool(change["new"]))
        except Exception as exc:  # noqa: BLE001
            with self._paint():
                view.reviewed.value = change["old"]
            self._failed(view, exc)
            return
        if edits:
            self._saved(view, edits[-1], "" if change["new"] else "review cleared")

    def _on_comment_value_change(self, view: _RowView, change: dict) -> None:
        if self._painting or view.key is None:
            return
        try:
            edit = self.session.set_comment(view.key, str(change["new"]))
        except Exception as exc:  # noqa: BLE001
            with self._paint():
                view.comment.value = change["old"]
            self._failed(view, exc)
            return
        note = ""
        if edit.previous_author and edit.previous_author != edit.author:
            note = f"replaced a comment by {edit.previous_author} (kept in the history)"
        self._saved(view, edit, note)

    @_guarded
    def _on_add_click(self, _button: widgets.Button) -> None:
        name = self.session.add_category(self._new_category.value)
        self._new_category.value = ""
        self._category_pick.value = name
        self._show_info(f"added category {name!r}")

    @_guarded
    def _on_rename_click(self, _button: widgets.Button) -> None:
        old = self._category_pick.value
        new = self.session.rename_category(old, self._rename_to.value)
        self._rename_to.value = ""
        self._category_pick.value = new
        self._show_info(f"renamed {old!r} to {new!r}; its ticks are kept")

    @_guarded
    def _on_remove_click(self, _button: widgets.Button) -> None:
        name = self._category_pick.value
        self.session.remove_category(name)
        self._show_info(f"removed {name!r}; its ticks are kept and come back if it is "
                        "added again")

    @_guarded
    def _on_refresh_click(self, _button: widgets.Button | None = None) -> None:
        self.refresh()

    @_guarded
    def _on_author_box_value_change(self, change: dict) -> None:
        name = str(change["new"]).strip()
        if name and name != self.store.author:
            self.store.author = name

    @_guarded
    def _on_export_click(self, _button: widgets.Button) -> None:
        path = self.export_csv()
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        name = html.escape(path.name, quote=True)
        _set(self._export_link,
             f"<span>written to <code>{html.escape(str(path))}</code> · "
             f"<a download='{name}' href='data:text/csv;base64,{data}'>download</a></span>")
        self._show_info(f"exported {len(self._sample)} rows to {path}")

    @_guarded
    def _on_import_upload_value_change(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        upload = io.BytesIO(bytes(item["content"]))
        upload.name = str(item["name"])
        try:
            written = self.store.import_csv(upload)
        finally:
            self._import_upload.value = ()  # so the same file can be uploaded again
        self.refresh()
        self._show_info(f"imported {written} edits from {item['name']}")

    # -- public API ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Load the edits others saved (and categories they added), then redraw."""
        result = self.session.sync()
        self._sync_categories()
        self._resample()
        note = f"refreshed: {result.reviewed} reviewed examples, {result.comments} comments"
        if result.unknown_ids:
            note += f"; {len(result.unknown_ids)} tagged ids are not in these results"
        self._show_info(note)

    def rows(self) -> pd.DataFrame:
        """The sample as shown (after filter and sort): key, label, predicted, score, correct."""
        return self._sample.iloc[self._order].reset_index(drop=True)

    def grid_frame(self) -> pd.DataFrame:
        """The whole sample with its tags and comments: what the CSV export writes."""
        rows = self.rows()
        keys = pd.Index(rows["key"].astype(str))
        tags = self.results.tags.reindex(keys).reindex(columns=list(self._categories))
        out = pd.DataFrame({"example_id": keys, "label": rows["label"].to_numpy(),
                            "prediction": rows["predicted"].to_numpy(),
                            "score": rows["score"].to_numpy(),
                            "correct": rows["correct"].to_numpy()})
        for c in self._categories:
            out[c] = tags[c].to_numpy()
        comments = self.results.comments
        out["comment"] = [comments.get(k, "") for k in keys]
        return out

    def export_csv(self, path: str | Path | None = None) -> Path:
        """Write :meth:`grid_frame` to ``path`` (default: beside the store); returns the path."""
        if path is None:
            folder = (Path(self.store.path).parent if str(self.store.path) != ":memory:"
                      else Path.cwd())
            path = folder / safe_filename(f"tally-{dataset_name(self.results)}-{self.split}-"
                                          f"{self.results.model}-{_stamp()}.csv")
        target = Path(path)
        neutralise_frame(self.grid_frame()).to_csv(target, index=False)
        self.last_export = target
        return target

    def row_view(self, key: str) -> _RowView | None:
        """The widgets of the row showing ``key`` on the current page (None if not shown).

        Its ``boxes`` (category -> Checkbox), ``reviewed``, ``comment`` and ``status`` are what
        a reviewer clicks and reads; tests drive the grid through them.
        """
        return next((v for v in self._views[:self._visible] if v.key == str(key)), None)

    @property
    def visible_keys(self) -> list[str]:
        """Keys of the rows on the current page, top to bottom."""
        return [v.key for v in self._views[:self._visible] if v.key is not None]

    def close(self) -> None:
        """Stop following the results and close every widget of the grid."""
        for name in ("threshold", "model", "task", "tags", "comments", "weighted"):
            with suppress(ValueError):
                self.results.unobserve(getattr(self, f"_on_{name}_change"), names=[name])
        parts = [self, *(w for v in self._views for w in (*v.cells(self._with_preview),
                                                          v.image, v.preview_text))]
        seen: set[int] = set()
        while parts:
            w = parts.pop()
            if id(w) not in seen:
                seen.add(id(w))
                parts.extend(getattr(w, "children", ()))
                if w is not self:
                    w.close()
        super().close()

    # -- observers ------------------------------------------------------------------------------
    @_guarded
    def _on_threshold_change(self, change: dict) -> None:
        self._resample_when_shown()

    @_guarded
    def _on_model_change(self, change: dict) -> None:
        self._resample_when_shown()

    @_guarded
    def _on_task_change(self, change: dict) -> None:
        self._resample_when_shown()

    @_guarded
    def _on_weighted_change(self, change: dict) -> None:
        if self.active:
            self._update_footer()
        else:
            self._stale = True

    def _resample_when_shown(self) -> None:
        """Which rows are misclassified depends on the threshold and model: draw the sample
        again now if the grid is shown, else when it is (a slider move in another tab costs
        nothing here)."""
        if self.active:
            self._resample()
        else:
            self._stale = True

    @t.observe("active")
    def _on_active_change(self, change: dict) -> None:
        if change["new"] and self._stale:
            self._guarded_call(self._resample)

    @property
    def stale(self) -> bool:
        """Whether the sample waits for the grid to be shown to follow the threshold/model."""
        return self._stale

    @_guarded
    def _on_tags_change(self, change: dict) -> None:
        if self._categories != tuple(self.results.categories):
            self._sync_categories()
        if self.sort_category not in self._categories:
            self.sort_category = self._categories[0]
        self._repaint_values()
        self._update_footer()

    @_guarded
    def _on_comments_change(self, change: dict) -> None:
        self._repaint_values()

    @t.observe("split", "sample_size", "seed", "include_correct", "eyeball")
    def _on_sample_change(self, change: dict) -> None:
        if change["name"] == "split" and change["new"] not in self.results.splits:
            self._show_error(DashboardError(f"split {change['new']!r} has no rows"))
            return
        self._guarded_call(self._resample)

    @t.observe("filter_by", "sort_by", "sort_category", "descending")
    def _on_arrangement_change(self, change: dict) -> None:
        self._guarded_call(self._arrange)

    @t.observe("page")
    def _on_page_change(self, change: dict) -> None:
        self._guarded_call(self._paint_page)

    def _guarded_call(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._show_error(exc)

    @_guarded
    def _on_prev_click(self, _button: widgets.Button) -> None:
        if self.page > 1:
            self.page -= 1

    @_guarded
    def _on_next_click(self, _button: widgets.Button) -> None:
        if self.page < self._page_box.max:
            self.page += 1


def _set(widget: widgets.Widget, value: str) -> None:
    """Assign a value only when it changes (no message to the front end otherwise)."""
    if widget.value != value:
        widget.value = value


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
