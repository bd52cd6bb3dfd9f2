"""The error-analysis spreadsheet: look at misclassified examples and tick what went wrong.

``TallyGrid(results, store=...)`` shows a reproducible sample of the chosen split's misclassified
examples at the current threshold (DOMAIN.md section 2), one checkbox per category and a comment
per row, a footer with each category's "% of total" and ceiling, and the labels-versus-other-
causes panel. Every tick goes to the :class:`~dashboard.annotations.AnnotationStore` first
(durably) and only then to ``results.tags``; the footer and the panel are read back from
``Results.tally`` / ``Results.label_noise``, so the widget computes no number of its own.

Rows are paginated (``page_size`` rows per page, 25 by default) and drawn by one
:class:`~dashboard.widgets.review_table.ReviewTable`: the header, the page's rows and the
footer are plain JSON in one widget model (not a widget per cell), and the page's edits come
back as messages the table checks before the grid writes them to the store.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import math
import os
import stat
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
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
    safe_filename,
    write_safe_csv,
)
from dashboard.errors import DashboardError
from dashboard.figures.tally import tally_spec_from_table
from dashboard.metrics.sampling import FILTERS, arrange_rows
from dashboard.metrics.slices import slice_test_note
from dashboard.metrics.tally import LabelNoise
from dashboard.results import Results
from dashboard.widgets.figure import PlotlyFigure
from dashboard.widgets.format import count, pct
from dashboard.widgets.kernel_state import LockedBoundedFloatText, LockedBoundedIntText
from dashboard.widgets.review_table import ReviewTable
from dashboard.widgets.theme import css_color

__all__ = ["TallyGrid", "preview_cell"]

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
_ERROR = css_color("avoidable_bias")
_OK = css_color("test")
_MUTED = css_color("muted")


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


#: the first bytes of each image format a preview may be (WebP: RIFF, 4 bytes, WEBP)
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF87a", "gif"),
          (b"GIF89a", "gif"))


def image_format(data: bytes) -> str | None:
    """The image format ``data`` starts like (png, jpeg, gif, webp), or None."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _read_image(path: Path, text: str) -> tuple[str, Any]:
    """An image file's bytes and format, read only if it is a regular file of at most
    :data:`MAX_IMAGE_BYTES` that starts like an image.

    Opened without blocking and checked with ``fstat`` before reading: a named pipe called
    ``x.png`` blocked the kernel forever, and any file with an image suffix was shipped to the
    page whatever its bytes (issue 21)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return "note", f"missing image {text}"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "note", f"not shown: not a regular file ({text})"
        if info.st_size > MAX_IMAGE_BYTES:
            return "note", "image too large to preview"
        data = b""
        while len(data) <= MAX_IMAGE_BYTES:
            chunk = os.read(fd, MAX_IMAGE_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        return "note", f"missing image {text}"
    finally:
        os.close(fd)
    fmt = image_format(data)
    if len(data) > MAX_IMAGE_BYTES:
        return "note", "image too large to preview"
    if fmt is None:
        return "note", f"not shown: not an image ({text})"
    return "image", (data, fmt)


def _read_preview(value: Any, base_dir: Path | None) -> tuple[str, Any]:
    """What a preview cell shows for one value, as data: ``("image", (bytes, format))``,
    ``("link", (href, shown))``, ``("note", text)`` (a refused or missing file) or
    ``("text", (short, full))``. Nothing outside ``base_dir`` is read, nothing is fetched."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "text", ("", "")
    text = str(value).strip()
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if scheme in ("http", "https"):
        return "link", (text, text if len(text) <= 60 else text[:57] + "…")
    suffix = Path(text).suffix.lower() if len(text) < 1024 and "\n" not in text else ""
    if suffix in IMAGE_FORMATS and not scheme:
        if base_dir is None:
            return "note", text
        root = Path(base_dir).resolve()
        candidate = Path(text)
        path = (candidate if candidate.is_absolute() else root / candidate).resolve()
        if not path.is_relative_to(root):
            return "note", f"not shown: outside the results folder ({text})"
        return _read_image(path, text)
    short = text if len(text) <= TEXT_PREVIEW else text[:TEXT_PREVIEW - 1] + "…"
    return "text", (short, text[:500])


def preview_cell(value: Any, base_dir: Path | None) -> dict[str, Any]:
    """The preview of one value as the review table's JSON (text, never markup): an image
    (``src``, a ``data:`` URL), an http(s) link, a muted note, or the start of a text."""
    kind, content = _read_preview(value, base_dir)
    if kind == "image":
        data, fmt = content
        return {"kind": "image", "alt": "preview",
                "src": f"data:image/{fmt};base64,{base64.b64encode(data).decode('ascii')}"}
    if kind == "link":
        href, shown = content
        return {"kind": "link", "href": href, "text": shown}
    if kind == "note":
        return {"kind": "text", "text": content, "muted": True}
    short, full = content
    return {"kind": "text", "text": short, "title": full}


class _Field:
    """One control of a shown row, as the page sees it: reading gives what the page shows,
    assigning sends the message a reviewer's click or Enter sends."""

    def __init__(self, grid: TallyGrid, key: str, field: str, category: str | None = None
                 ) -> None:
        self._grid, self._key, self._field, self._category = grid, key, field, category

    def _row(self) -> dict[str, Any]:
        row = self._grid._table.row(self._key)
        if row is None:
            raise KeyError(f"{self._key!r} is no longer shown")
        return row

    @property
    def value(self) -> Any:
        row = self._row()
        if self._field == "tag":
            return bool(row["ticks"][self._grid._table.categories.index(self._category)])
        if self._field == "status":
            status = row.get("status") or {}
            return " ".join(str(status.get(k, "")) for k in ("text", "note")).strip()
        return row[self._field]

    @value.setter
    def value(self, value: Any) -> None:
        message = {"event": "edit", "key": self._key, "field": self._field, "value": value}
        if self._category is not None:
            message["category"] = self._category
        self._grid._table.receive(message)


class _RowView:
    """A row of the current page as the page shows it, for scripts and tests: ``boxes``
    (category -> field), ``reviewed``, ``comment`` and ``status`` read what the page shows;
    assigning ``.value`` sends exactly the message the page sends (and is checked as one)."""

    def __init__(self, grid: TallyGrid, key: str) -> None:
        self.key = key
        self._grid = grid
        self.reviewed = _Field(grid, key, "reviewed")
        self.comment = _Field(grid, key, "comment")
        self.status = _Field(grid, key, "status")

    @property
    def boxes(self) -> dict[str, _Field]:
        """One field per category column shown now."""
        return {c: _Field(self._grid, self.key, "tag", c) for c in self._grid._table.categories}

    @property
    def row(self) -> dict[str, Any]:
        """The row's JSON as the page has it now ({} once it is no longer shown)."""
        return self._grid._table.row(self.key) or {}

    @property
    def correct(self) -> bool:
        return bool(self.row.get("correct"))


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
        #: signed in through JupyterHub: the page's reviewer is the Hub user, not a typed name
        self.hub_user = os.environ.get("JUPYTERHUB_USER") or None
        self.session = ReviewSession(results, store, author=author or self.hub_user)
        self.store = self.session.store
        self.page_size = max(int(page_size), 1)
        self.last_error: str | None = None
        self.last_export: Path | None = None
        self._ready = False
        self._stale = False
        self._row_status: dict[str, str] = {}
        self._sample = pd.DataFrame()
        self._order = np.empty(0, dtype=np.int64)
        self._n_wrong = self._n_wrong_total = 0
        self._categories = tuple(results.categories)
        self._preview_col = results.schema.previews[0] if results.schema.previews else None
        self._score_col, self._score_title = self._score_column()
        self._suspects: pd.DataFrame | None = None
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
        # the shares with their intervals and ceilings (the report's figure), above the grid
        self.chart = PlotlyFigure()
        self.chart.add_class("mldash-tally-chart")
        self._build_team()
        # the reviewer's share and the team's tools under the rows: the rows and their
        # summary stay in sight with the chart above them
        self.children = (self._title, self._answer, self.chart, self._controls,
                         self._category_bar, self._arrange_bar, self._summary, self._table,
                         self._pager, self._team, self._note, self._panel, self._agreement,
                         self._suggestions, self._export_box, self._status)
        # hidden in presentation mode: the meeting sees the chart, not the spreadsheet
        for box in (self._controls, self._category_bar, self._arrange_bar, self._summary,
                    self._table, self._pager, self._note, self._export_box, self._team_tools):
            box.add_class("mldash-secondary")
        for name in ("threshold", "model", "task", "tags", "comments", "weighted"):
            results.observe(getattr(self, f"_on_{name}_change"), names=[name])
        self._ready = True
        if self.active:
            self._resample()
        else:  # built in a hidden tab: sampled when first shown, not before the first figure
            self._stale = True
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
        """Three labelled groups, each named for what it does: which rows are drawn
        (Sample), the categories to tick (Categories), and how the rows are shown (Arrange)."""
        self._title = widgets.HTML("<h3 style='margin:4px 0'>Error analysis: what went wrong"
                                   "</h3>")
        wide = {"description_width": "initial"}
        self._split_pick = widgets.Dropdown(options=list(self.results.splits), value=self.split,
                                            description="Split", style=wide,
                                            layout=widgets.Layout(width="120px"))
        self._size_box = LockedBoundedIntText(value=self.sample_size, min=1, max=1_000_000,
                                                description="Errors to review", style=wide,
                                                layout=widgets.Layout(width="165px"))
        self._seed_box = widgets.IntText(value=self.seed, description="Seed", style=wide,
                                         layout=widgets.Layout(width="110px"))
        self._eyeball_pick = widgets.Dropdown(
            options=[("whole split", 0.0), ("eyeball 10%", 0.1), ("eyeball 20%", 0.2),
                     ("eyeball 50%", 0.5)], value=self.eyeball, description="Draw from",
            style=wide,
            tooltip="draw the sample from an eyeball part only; the rest stays a black box "
                    "that tells whether the team overfits what it looks at",
            layout=widgets.Layout(width="190px"))
        self._correct_box = widgets.Checkbox(value=self.include_correct, indent=False,
                                             description="also correct ones",
                                             tooltip="also show a sample of correctly "
                                             "classified examples (marked correct, left out "
                                             "of the tally)",
                                             layout=widgets.Layout(width="auto"))
        for control, name in ((self._split_pick, "split"), (self._size_box, "sample_size"),
                              (self._seed_box, "seed"), (self._correct_box, "include_correct"),
                              (self._eyeball_pick, "eyeball")):
            widgets.link((control, "value"), (self, name))
        self._author_box = widgets.Text(value=self.store.author, description="Reviewer",
                                        continuous_update=False, style=wide,
                                        layout=widgets.Layout(width="170px"))
        self._author_box.observe(self._on_author_box_value_change, names="value")
        self._refresh_button = widgets.Button(description="Refresh", icon="refresh",
                                              tooltip="load the edits others have saved",
                                              layout=widgets.Layout(width="auto"))
        self._refresh_button.on_click(self._on_refresh_click)
        self._controls = _group("Sample", [self._split_pick, self._size_box, self._seed_box,
                                           self._eyeball_pick, self._correct_box,
                                           self._author_box, self._refresh_button])

        self._new_category = widgets.Text(placeholder="new category", continuous_update=False,
                                          layout=widgets.Layout(width="160px"))
        self._add_button = widgets.Button(description="Add", icon="plus",
                                          tooltip="add a category column to tick",
                                          layout=widgets.Layout(width="auto"))
        self._add_button.on_click(self._on_add_click)
        self._category_pick = widgets.Dropdown(options=list(self._categories),
                                               description="Rename or remove", style=wide,
                                               layout=widgets.Layout(width="300px"))
        self._rename_to = widgets.Text(placeholder="new name", continuous_update=False,
                                       layout=widgets.Layout(width="140px"))
        self._rename_button = widgets.Button(description="Rename",
                                             layout=widgets.Layout(width="auto"))
        self._rename_button.on_click(self._on_rename_click)
        self._remove_button = widgets.Button(description="Remove", icon="trash",
                                             tooltip="hide the category; its ticks are kept "
                                             "and come back if it is added again",
                                             layout=widgets.Layout(width="auto"))
        self._remove_button.on_click(self._on_remove_click)
        self._category_bar = _group("Categories", [
            self._new_category, self._add_button, self._category_pick, self._rename_to,
            self._rename_button, self._remove_button])

        self._filter_pick = widgets.Dropdown(
            options=[(_FILTER_LABELS[f], f) for f in FILTERS], value=self.filter_by,
            description="Show", style=wide, layout=widgets.Layout(width="200px"))
        self._sort_pick = widgets.Dropdown(
            options=[(label, s) for s, label in _SORT_LABELS.items()], value=self.sort_by,
            description="Sort by", style=wide, layout=widgets.Layout(width="270px"))
        self._sort_category_pick = widgets.Dropdown(
            options=list(self._categories), value=self.sort_category,
            description="Ticked category (show, sort)", style=wide,
            tooltip="the category 'category ticked' shows and 'category ticked first' sorts by",
            layout=widgets.Layout(width="340px"))
        self._descending_box = widgets.Checkbox(value=False, indent=False,
                                                description="descending",
                                                layout=widgets.Layout(width="auto"))
        for control, name in ((self._filter_pick, "filter_by"), (self._sort_pick, "sort_by"),
                              (self._sort_category_pick, "sort_category"),
                              (self._descending_box, "descending")):
            widgets.link((control, "value"), (self, name))
        self._arrange_bar = _group("Arrange", [self._filter_pick, self._sort_pick,
                                               self._sort_category_pick, self._descending_box])
        self._summary = widgets.HTML()
        self._summary.add_class("mldash-tally-summary")

    def _build_table(self) -> None:
        self._with_preview = self._preview_col is not None
        self._table = ReviewTable(on_edit=self._on_page_edit, on_refused=self._on_page_refused,
                                  on_batch=self._on_page_batch, on_reviewer=self._on_reviewer,
                                  ask_reviewer=self.hub_user is None)
        self._table.add_class("mldash-tally-grid")
        self._prev_button = widgets.Button(description="Previous", icon="arrow-left",
                                           layout=widgets.Layout(width="110px"))
        self._next_button = widgets.Button(description="Next", icon="arrow-right",
                                           layout=widgets.Layout(width="110px"))
        self._prev_button.on_click(self._on_prev_click)
        self._next_button.on_click(self._on_next_click)
        self._page_box = LockedBoundedIntText(value=1, min=1, max=1, description="Page",
                                                layout=widgets.Layout(width="150px"))
        widgets.link((self._page_box, "value"), (self, "page"))
        self._page_label = widgets.HTML()
        self._pager = widgets.HBox([self._prev_button, self._page_box, self._page_label,
                                    self._next_button])
        self._note = widgets.HTML(
            f"<span style='color:{_MUTED}'>% of total = ticked rows / reviewed misclassified "
            "rows of this split at the current threshold (categories overlap, so columns need "
            "not sum to 100%). Ceiling = the split's error if that category were fixed "
            "completely. The category the answer above names is filled; until it can name "
            "one, the one leading so far is outlined. Rows marked "
            "<i>correct</i> are excluded from both. <i>Suspected mislabel</i>: the model "
            "confidently contradicts the given label (confident learning); only a reviewer "
            "ticks <i>incorrectly labelled</i>.</span>")
        self._sync_categories(force=True)

    def _build_team(self) -> None:
        """Who reviews (the Hub user, or a name the browser remembers), their share of the
        sample and its next example, splitting the sample among reviewers, and the
        disagreements to reconcile with the agreement per category."""
        self._whoami = widgets.HTML()
        self._whoami.add_class("mldash-reviewer")
        self._next_mine = widgets.Button(description="My next example", icon="forward",
                                         tooltip="the next example of your share you have "
                                         "not reviewed yet",
                                         layout=widgets.Layout(width="auto"))
        self._next_mine.on_click(self._on_next_mine_click)
        wide = {"description_width": "initial"}
        self._reviewers_box = widgets.Text(placeholder="ana, ben, cy", description="Split among",
                                           style=wide, layout=widgets.Layout(width="260px"))
        self._overlap_box = LockedBoundedFloatText(value=0.2, min=0.0, max=1.0, step=0.05,
                                                   description="reviewed twice", style=wide,
                                                   layout=widgets.Layout(width="170px"))
        self._assign_button = widgets.Button(description="Split the sample", icon="users",
                                             tooltip="deterministic, even shares of the sample "
                                             "plus a share reviewed twice (for agreement)",
                                             layout=widgets.Layout(width="auto"))
        self._assign_button.on_click(self._on_assign_click)
        self._team_tools = widgets.HBox([self._reviewers_box, self._overlap_box,
                                         self._assign_button])
        self._team = widgets.VBox([widgets.HBox([self._whoami, self._next_mine],
                                                layout=widgets.Layout(align_items="center")),
                                   self._team_tools])
        self._team.add_class("mldash-team")
        self._conflict_pick = widgets.Dropdown(options=[], description="Reconcile",
                                               style=wide, layout=widgets.Layout(width="420px"))
        self._ticked_button = widgets.Button(description="Ticked", icon="check",
                                             layout=widgets.Layout(width="auto"))
        self._unticked_button = widgets.Button(description="Not ticked", icon="times",
                                               layout=widgets.Layout(width="auto"))
        self._ticked_button.on_click(lambda _b: self._on_reconcile(True))
        self._unticked_button.on_click(lambda _b: self._on_reconcile(False))
        self._agreement_html = widgets.HTML()
        self._reconcile_bar = widgets.HBox([self._conflict_pick, self._ticked_button,
                                            self._unticked_button])
        self._agreement = widgets.VBox([self._agreement_html, self._reconcile_bar])
        self._agreement.add_class("mldash-agreement")
        if self.hub_user:
            self._author_box.disabled = True
            self._author_box.tooltip = "signed in through JupyterHub"
        self._update_team()

    def _conflicts(self) -> pd.DataFrame:
        """The store's conflicts, read again only when the store has changed."""
        version = self.store.version()
        if getattr(self, "_conflicts_seen", (None, None))[0] != version:
            self._conflicts_seen = (version, self.store.conflicts())
        return self._conflicts_seen[1]

    def _update_team(self) -> None:
        """The reviewer line, the share's progress, the conflicts and the agreement (read
        again only when the store or the reviewer changed: not on a threshold move)."""
        seen = (self.store.version(), self.store.author, self.hub_user)
        if seen == getattr(self, "_team_seen", None):
            return
        self._team_seen = seen
        name = html.escape(self.store.author)
        how = " (JupyterHub)" if self.hub_user else ""
        progress = self.store.progress()
        line = (f"Reviewing as <b>{name}</b>{how}"
                + (f" · {html.escape(progress)}" if progress else ""))
        _set(self._whoami, line)
        self._next_mine.layout.display = None if progress else "none"
        conflicts = self._conflicts()
        options = []
        for _, row in conflicts.iterrows():
            said = ", ".join(f"{r} {'✓' if bool(v) else '✗'}" for r, v in row.items()
                             if r not in ("example_id", "category") and not pd.isna(v))
            options.append((f"{row['example_id']} · {row['category']} ({said})",
                            (str(row["example_id"]), str(row["category"]))))
        if [o[1] for o in options] != [o[1] for o in self._conflict_pick.options]:
            self._conflict_pick.options = options
            if options:
                self._conflict_pick.index = 0
        self._reconcile_bar.layout.display = None if options else "none"
        agreement = self.store.agreement()
        double = agreement[agreement["n_double"] > 0] if len(agreement) else agreement
        parts = []
        if len(conflicts):
            n = conflicts["example_id"].nunique()
            parts.append(f"<div role='status' style='color:{_ERROR}'><b>{n} example"
                         f"{'s' if n != 1 else ''} in conflict</b> between reviewers: not "
                         "counted until reconciled.</div>")
        if len(double):
            rows = "".join(
                f"<tr><td>{html.escape(str(c))}</td><td>{int(r['n_double'])}</td><td>"
                + ("–" if pd.isna(r["kappa"]) else
                   f"{r['kappa']:.2f} ({r['kappa_low']:.2f} to {r['kappa_high']:.2f})")
                + f"</td><td>{int(r['disagreements'])}</td><td>"
                + ("<b>not yet well defined</b>" if r["not_well_defined"] else "")
                + "</td></tr>" for c, r in double.iterrows())
            parts.append("<div><b>Agreement</b> (Cohen's κ on the examples two reviewers "
                         "both reviewed, 95% interval; below 0.6 the category needs a sharper "
                         "definition)<table class='mldash-kappa'><tr><th>category</th><th>"
                         "reviewed twice</th><th>κ</th><th>disagreements</th><th></th></tr>"
                         f"{rows}</table></div>")
        _set(self._agreement_html, "".join(parts))

    def _on_reviewer(self, name: str) -> None:
        """The page's reviewer name (typed once, remembered by the browser)."""
        if self.hub_user or name == self.store.author:
            return
        self.store.author = name
        if self._author_box.value != name:
            self._author_box.value = name
        self._update_team()

    @_guarded
    def _on_assign_click(self, _button: widgets.Button) -> None:
        names = [n.strip() for n in self._reviewers_box.value.split(",") if n.strip()]
        shares = self.store.assign(self._sample["key"].astype(str).tolist(), names,
                                   overlap=float(self._overlap_box.value), seed=self.seed)
        self._update_team()
        self._show_info("Split the sample: " + "; ".join(
            f"{html.escape(r)} {len(k)}" for r, k in shares.items()) + ".")

    @_guarded
    def _on_next_mine_click(self, _button: widgets.Button) -> None:
        self.show_next_mine()

    def show_next_mine(self) -> str | None:
        """Page to the next example of this reviewer's share and give it the keyboard."""
        key = self.store.next_for()
        if key is None:
            self._show_info("Your share is done.")
            return None
        where = np.flatnonzero(self._sample["key"].astype(str).to_numpy()[self._order] == key)
        if not len(where):
            self._show_info(f"Your next example {html.escape(key)} is not in this sample "
                            "(another split, size or seed): draw the sample it was split from.")
            return None
        page = int(where[0]) // self.page_size + 1
        if page != self.page:
            self.page = page
        self._table.focus_row(key)
        return key

    def _on_reconcile(self, value: bool) -> None:
        self._guarded_call(functools.partial(self._reconcile, value))

    def _reconcile(self, value: bool) -> None:
        picked = self._conflict_pick.value
        if not picked:
            return
        key, category = picked
        self.session.reconcile(key, category, value)
        self._update_team()
        self._show_info(f"Reconciled {html.escape(key)} · {html.escape(category)}: "
                        f"{'ticked' if value else 'not ticked'} (by "
                        f"{html.escape(self.store.author)}).")

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
        """Follow ``results.categories``: the table's columns and the category pickers."""
        cats = tuple(self.results.categories)
        if cats == self._categories and not force:
            return
        self._categories = cats
        options = list(cats)
        for pick in (self._category_pick, self._sort_category_pick):
            if list(pick.options) != options:
                keep = pick.value if pick.value in cats else cats[0]
                pick.options = options
                pick.value = keep
        if self._ready:
            self._paint_page()
        else:
            self._table.show(columns=self._columns())

    def _columns(self) -> list[dict[str, Any]]:
        cols = [{"id": "reviewed", "title": "reviewed", "kind": "reviewed",
                 "tip": "reviewed: counts in % of total even with nothing ticked"},
                {"id": "example", "title": "example", "kind": "example"},
                {"id": "label", "title": "label", "kind": "text", "tip": "the given label"},
                {"id": "predicted", "title": "prediction", "kind": "text",
                 "tip": "the model's prediction at the current threshold"},
                {"id": "score", "title": self._score_title, "kind": "text"}]
        if self._with_preview:
            cols.append({"id": "preview", "title": "preview", "kind": "preview"})
        if self._suspects is not None:
            cols.append({"id": "suspect", "title": "suspected mislabel", "kind": "suspect",
                         "tip": "the model confidently contradicts the given label "
                                "(confident learning); a reviewer decides"})
        cols += [{"id": f"tag:{i}", "title": c, "kind": "tag", "category": c, "tip": c}
                 for i, c in enumerate(self._categories)]
        cols += [{"id": "comment", "title": "comment", "kind": "comment"},
                 {"id": "saved", "title": "saved", "kind": "saved"}]
        return cols

    # -- rows: sample, arrangement, page ---------------------------------------------------------
    def _resample(self) -> None:
        """Draw the sample for the current split, model, threshold, size and seed."""
        if not self._ready:
            return
        self._stale = False
        tags = self.results.tags
        reviewed = tags.index[tags.notna().any(axis=1).to_numpy()].astype(str)
        # the black-box part stays unseen (Machine Learning Yearning): eyeball > 0
        picked, n_wrong_total = self.results.review_sample_rows(
            self.split, size=self.sample_size, seed=self.seed, reviewed=reviewed,
            include_correct=self.include_correct, eyeball=self.eyeball)
        keys = picked["key"].astype(str).to_numpy()
        sample = pd.DataFrame({
            "key": keys,
            "label": picked["label"].to_numpy(),
            "predicted": picked["predicted"].to_numpy(),
            "score": (picked[self._score_col].to_numpy(dtype=np.float64)
                      if self._score_col in picked.columns else np.full(len(keys), np.nan)),
            "correct": picked["correct"].to_numpy(dtype=bool),
        })
        if self._preview_col is not None:
            sample["preview"] = picked[self._preview_col].to_numpy()
        self._sample = sample
        self._suspects = self._suspect_table()
        self._n_wrong = int((~sample["correct"]).sum())
        self._n_wrong_total = n_wrong_total
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

    def _suspect_table(self) -> pd.DataFrame | None:
        """The split's suspected label errors by key (``Results.label_suspects``), or None
        when the results cannot say (no probabilities): then the column is left out."""
        try:
            suspects = self.results.label_suspects(self.split)
        except DashboardError:
            return None
        return suspects.set_index("key")[["likely", "score"]]

    def _suspicion(self) -> np.ndarray:
        """Per sampled row, the given label's probability if it is a suspected label error
        (confident learning, computed by the results model), else NaN."""
        suspects = self.results.label_suspects(self.split)
        by_key = pd.Series(suspects["score"].to_numpy(), index=suspects["key"].to_numpy())
        return by_key.reindex(self._sample["key"].to_numpy()).to_numpy(dtype=np.float64)

    def _paint_page(self) -> None:
        """The current page's rows (and the columns, footer and answer) into the table."""
        if not self._ready:
            return
        pages = max(math.ceil(len(self._order) / self.page_size), 1)
        start = (self.page - 1) * self.page_size
        shown = self._order[start:start + self.page_size]
        rows = self._sample.iloc[shown]
        keys = rows["key"].astype(str).tolist()
        values = self._row_values(keys)
        base_dir = self.results.schema.base_dir
        records, images = [], {}
        for row, value in zip(rows.to_dict("records"), values, strict=True):
            record = self._row_fields(row, base_dir)
            preview = record.get("preview")
            if preview and preview["kind"] == "image":  # apart: an edit re-sends only rows
                images[record["key"]] = preview.pop("src")
                preview["ref"] = record["key"]
            record.update(value)
            records.append(record)
        with self._table.hold_sync():
            self._table.show(columns=self._columns(), rows=records, images=images)
            self._update_footer()
        self._prev_button.disabled = self.page <= 1
        self._next_button.disabled = self.page >= pages
        first = start + 1 if len(rows) else 0
        label = (f"of {pages} &nbsp; (rows {first}–{start + len(rows)} of "
                 f"{count(len(self._order))})")
        if self._page_label.value != label:
            self._page_label.value = label
        self._update_summary()

    def _row_values(self, keys: list[str]) -> list[dict[str, Any]]:
        """Per key, the reviewer's fields: reviewed (any tag given), the ticked boxes in
        category order, the comment and the saved status."""
        tags = self.results.tags.reindex(index=pd.Index(keys, dtype=object),
                                         columns=list(self._categories))
        reviewed = tags.notna().to_numpy().any(axis=1)
        ticked = tags.fillna(False).to_numpy(dtype=bool).reshape(len(keys), len(self._categories))
        comments = self.results.comments
        return [{"reviewed": bool(reviewed[i]), "ticks": [bool(v) for v in ticked[i]],
                 "comment": comments.get(k, ""), "status": self._row_status.get(k, {})}
                for i, k in enumerate(keys)]

    def _row_fields(self, row: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
        """The example's own fields: id, label, prediction, score, preview, suspicion."""
        key = str(row["key"])
        score = row["score"]
        out: dict[str, Any] = {"key": key, "correct": bool(row["correct"]),
                               "label": self.results.class_name(row["label"]),
                               "predicted": self.results.class_name(row["predicted"]),
                               "score": "—" if pd.isna(score) else f"{float(score):.3f}"}
        if self._with_preview:
            out["preview"] = preview_cell(row["preview"], base_dir)
        if self._suspects is not None:
            out["suspect"] = None
            if key in self._suspects.index:
                likely, given = self._suspects.loc[key, ["likely", "score"]]
                out["suspect"] = {
                    "text": f"likely {self.results.class_name(likely)}",
                    "title": f"the model gives the label {out['label']} a probability of "
                             f"{float(given):.3f} and is confident of "
                             f"{self.results.class_name(likely)}: check the "
                             "label (nothing is ticked for you)"}
        return out

    def _repaint_values(self) -> None:
        """After tags or comments changed: the shown rows' ticks, reviewed and comments."""
        keys = self._table.shown_keys
        self._table.update_rows(dict(zip(keys, self._row_values(keys), strict=True)))

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
        """The "% of total" and ceiling rows, the highlighted category and the answer, all
        read from ``Results.tally`` (the widget computes none of them)."""
        tally = self.results.tally(self.split)
        reviewed = int(tally.attrs["reviewed"])
        shares, ceilings = [], []
        for c in self._categories:
            known = c in tally.index
            share = float(tally.loc[c, "share"]) if known else float("nan")
            ceiling = float(tally.loc[c, "ceiling_error"]) if known else float("nan")
            n = int(tally.loc[c, "count"]) if known else 0
            shares.append({"text": pct(share, 0), "title": f"{c}: {n} of {reviewed} reviewed"})
            ceilings.append({"text": pct(ceiling, 2),
                             "title": f"{self.split} error if {c} were fixed"})
        answer = tally.attrs["fix_first"]
        footer = [{"name": "share", "title": "% of total", "lead": f"{count(reviewed)} reviewed",
                   "lead_class": "mldash-tally-reviewed", "cell_class": "mldash-tally-share",
                   "cells": shares},
                  {"name": "ceiling", "title": "ceiling",
                   "lead": f"error now {pct(tally.attrs['split_error'], 2)}",
                   "lead_class": "mldash-tally-error", "cell_class": "mldash-tally-ceiling",
                   "cells": ceilings}]
        waiting = self._conflicts()["example_id"].nunique()
        decided = answer.decided and not waiting
        sentence = answer.sentence
        if waiting:  # the answer waits for the reviewers to agree
            sentence = (f"Not yet: {waiting} reviewed example{'s' if waiting != 1 else ''} "
                        f"{'are' if waiting != 1 else 'is'} in conflict between reviewers and "
                        "not counted; reconcile them below first. So far: " + sentence)
        self._table.show(footer=footer, best=answer.leading or "", best_decided=decided)
        self._update_panel(tally.attrs["label_noise"])
        # compact above the rows (the report draws it taller): ~22 px a category
        self.chart.show(tally_spec_from_table(tally, split=self.split,
                                              height=90 + 22 * len(tally.index)))
        colour = "inherit" if decided else _MUTED
        _set(self._answer, f"<div role='status' style='font-size:15px;font-weight:600;"
             f"margin:2px 0 6px 0;color:{colour}'>{html.escape(sentence)}</div>")
        self._update_suggestions()
        self._update_team()

    @property
    def footer(self) -> dict[str, dict[str, str]]:
        """What the footer shows: ``{"share"|"ceiling": {category: text}}`` and each row's
        lead (``"lead"``: "100 reviewed", "error now 8.52%")."""
        cats = self._table.categories
        return {f["name"]: {"lead": f["lead"], **{c: cell["text"] for c, cell in
                                                  zip(cats, f["cells"], strict=True)}}
                for f in self._table.footer}

    def _update_suggestions(self) -> None:
        """Significant metadata slices, each adoptable as a category in one click.

        The slices follow the errors (split, model, threshold), not the ticks: the widgets are
        built again only when what they say changes, and the replaced ones are closed (a tick
        opens no widget model)."""
        if not self.results.metadata_columns:
            self._show_suggestions(None, [])
            return
        try:
            table = self.results.suggest_slices(self.split)
        except DashboardError as exc:  # an engine refuses a split with too many groups
            self._show_suggestions(f"<b>Suggested categories</b>: {html.escape(str(exc))}", [])
            return
        top = table[table["significant"]].head(_MAX_SUGGESTIONS)
        head = (
            f"<b>Suggested categories</b> from the metadata "
            f"({', '.join(map(html.escape, table.attrs.get('columns_used', ())))}): slices where "
            f"the {html.escape(self.split)} errors concentrate significantly. "
            if len(top) else
            f"<b>Suggested categories</b>: no metadata slice concentrates the "
            f"{html.escape(self.split)} errors significantly. ")
        head += f"<small>{html.escape(slice_test_note(table))}</small>"
        if table.attrs.get("note"):  # counted on a score grid (an engine, a very large split)
            head += f" {html.escape(table.attrs['note'])}"
        items = [(str(row["slice"]),
                  f"<span><b>{html.escape(str(row['slice']))}</b>: {count(row['rows'])} rows, "
                  f"error {pct(row['error'], 1)} vs {pct(row['rest_error'], 1)} elsewhere, "
                  f"{pct(row['share'], 0)} of the errors; fixed, error falls to "
                  f"{pct(row['ceiling_error'], 2)} (p = {row['p_value']:.2g})</span>")
                 for _, row in top.iterrows()]
        self._show_suggestions(head, items)

    def _show_suggestions(self, head: str | None, items: list[tuple[str, str]]) -> None:
        signature = (head, tuple(items))
        if signature == getattr(self, "_suggested", None):
            return
        self._suggested = signature
        old = self._suggestions.children
        rows: list[widgets.Widget] = [] if head is None else [widgets.HTML(head)]
        for name, text in items:
            button = widgets.Button(description="Adopt as category", icon="plus",
                                    tooltip=f"add the category {name!r} and tick it on the "
                                    "reviewed rows in this slice",
                                    layout=widgets.Layout(width="auto"))
            button.on_click(functools.partial(self._on_adopt_click, name))
            rows.append(widgets.HBox([button, widgets.HTML(text)], layout=widgets.Layout(
                align_items="center")))
        self._suggestions.children = rows
        for w in old:
            for child in getattr(w, "children", ()):
                child.close()
            w.close()

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

    def _saved(self, key: str, edit: Edit, note: str = "") -> None:
        if self.last_error is not None:  # an earlier error is over once an edit is saved
            self.last_error = None
            _set(self._status, "")
        at = datetime.fromisoformat(edit.at).astimezone(UTC).strftime("%H:%M:%S")
        self._set_status(key, {"kind": "saved", "text": f"saved ✓ {at} UTC", "note": note,
                               "title": f"saved by {edit.author} at {edit.at} "
                                        f"(edit #{edit.seq})"})

    def _failed(self, key: str, exc: BaseException) -> None:
        self._set_status(key, {"kind": "failed", "text": f"not saved: {exc}"})
        self._show_error(exc)

    def _set_status(self, key: str, status: dict[str, str]) -> None:
        self._row_status[key] = status
        self._table.update_rows({key: {"status": status}})

    # -- the reviewer's edits (messages from the page, checked by the table) ---------------------
    def _on_page_edit(self, key: str, field: str, category: str | None, value: Any) -> None:
        """Write one edit from the page to the store (committed), then show it saved; a
        failed write leaves store and model as they were and says why on the row."""
        if key not in self._sample_keys():
            self._on_page_refused(f"example {key[:80]!r} is not in the sample", None)
            return
        try:
            if field == "tag":
                assert category is not None
                self._saved(key, self.session.set_tag(key, category, bool(value)))
            elif field == "reviewed":
                edits = self.session.set_reviewed(key, bool(value))
                if edits:
                    self._saved(key, edits[-1], "" if value else "review cleared")
            else:
                edit = self.session.set_comment(key, str(value))
                note = ""
                if edit.previous_author and edit.previous_author != edit.author:
                    note = f"replaced a comment by {edit.previous_author} (kept in the history)"
                self._saved(key, edit, note)
        except Exception as exc:  # noqa: BLE001 - the row reverts and the error is shown
            self._failed(key, exc)
            self._repaint_values()

    def _on_page_batch(self, handle: Callable[[], None]) -> None:
        """A burst of messages from the page: one store transaction, one tally and one
        message back, instead of one of each per edit (issue 21)."""
        try:
            with self._table.hold_sync(), self.results.hold_trait_notifications(), \
                    self.session.store.batch():
                handle()
        except Exception as exc:  # noqa: BLE001 - the commit failed: show the store's truth
            self.session.sync()
            self._repaint_values()
            self._show_error(exc)

    def _on_page_refused(self, reason: str, key: str | None) -> None:
        """A message from the page that was not a valid edit: nothing written, say so (on the
        row too, when it names a row shown)."""
        if key is not None:
            self._set_status(key, {"kind": "failed", "text": f"not saved: {reason}"})
        self.last_error = f"ignored a message from the page: {reason}"
        _set(self._status, f"<div role='alert' style='color:{_ERROR}'>"
             f"{html.escape(self.last_error)}</div>")

    def _sample_keys(self) -> frozenset[str]:
        if getattr(self, "_keys_of", None) is not self._sample:
            self._keys_of = self._sample
            self._keys = frozenset(self._sample["key"].astype(str)) if len(self._sample) \
                else frozenset()
        return self._keys

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
        name = str(change["new"]).strip()[:80]
        if self.hub_user or not name or not name.isprintable():
            return
        if name != self.store.author:
            self.store.author = name
            self._table.remember_reviewer(name)  # asked once per browser
            self._update_team()

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
        target = write_safe_csv(self.grid_frame(), path, index=False)
        self.last_export = target
        return target

    def row_view(self, key: str) -> _RowView | None:
        """The row showing ``key`` on the current page, as the page shows it (None if not
        shown). Its ``boxes`` (category -> field), ``reviewed``, ``comment`` and ``status``
        read what the page shows; assigning ``.value`` sends the page's own message."""
        key = str(key)
        return _RowView(self, key) if self._table.row(key) is not None else None

    @property
    def visible_keys(self) -> list[str]:
        """Keys of the rows on the current page, top to bottom."""
        return self._table.shown_keys

    def close(self) -> None:
        """Stop following the results and close every widget of the grid."""
        for name in ("threshold", "model", "task", "tags", "comments", "weighted"):
            with suppress(ValueError):
                self.results.unobserve(getattr(self, f"_on_{name}_change"), names=[name])
        parts = [self]
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


def _group(title: str, controls: list[widgets.Widget]) -> widgets.HBox:
    """A row of controls under a bold name saying what they are for."""
    label = widgets.HTML(f"<b>{html.escape(title)}</b>",
                         layout=widgets.Layout(width="84px", flex="0 0 auto"))
    box = widgets.HBox([label, *controls], layout=widgets.Layout(
        flex_flow="row wrap", align_items="center", margin="2px 0"))
    box.add_class("mldash-control-group")
    return box


def _set(widget: widgets.Widget, value: str) -> None:
    """Assign a value only when it changes (no message to the front end otherwise)."""
    if widget.value != value:
        widget.value = value


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
