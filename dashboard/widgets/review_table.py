"""``ReviewTable``: the error-analysis rows as ONE anywidget whose synced state is plain JSON.

The tally grid used to be an ipywidgets ``GridBox`` with a widget per cell (a page of 25 rows
was ~1,300 widget models and ~750 KB of state sent on every page load). Here the header, the
rows of the current page and the "% of total" / ceiling footer are three JSON lists; every
view draws them as one HTML ``<table>`` (text only ever set through ``textContent``, never
parsed as markup) with a sticky header and footer inside its own scrolling box, so the
summary is always in sight.

A reviewer's edit (tick a category, mark reviewed, write a comment) comes back as a custom
message ``{"event": "edit", "key", "field", "category"?, "value"}``. Messages from the page are
treated as hostile: :meth:`ReviewTable.receive` checks the fields, types, sizes, that the
example is one of the rows shown and the category one of the columns, and only then calls
the edit handler (the tally grid, which writes to the store); anything else is refused with
a reason (and the row, when the message names one shown) given to the refusal handler, and
nothing is written. After every message the
``revision`` counter moves, so each view repaints from the kernel's state (a box whose edit
was refused or failed goes back to what the store holds).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anywidget
import traitlets as t

from dashboard.widgets.kernel_state import KernelOwnedState
from dashboard.widgets.theme import COLORS, DARK, FONT

__all__ = ["EDIT_FIELDS", "MAX_COMMENT", "MAX_KEY", "ReviewTable"]

#: longest comment accepted from the page (characters); the input says so too
MAX_COMMENT = 2000
#: longest example id accepted in a message from the page
MAX_KEY = 1000
#: longest reviewer name accepted from the page
MAX_REVIEWER = 80
#: what a message may edit, and the Python type of its value
EDIT_FIELDS: dict[str, type] = {"tag": bool, "reviewed": bool, "comment": str}
_MESSAGE_FIELDS = {"event", "key", "field", "category", "value"}

#: most messages from the page waiting to be handled together: a fuller queue is handled at
#: once (issue 21: 3,000 edits sent in half a second kept a kernel busy for minutes)
MAX_QUEUED = 500
#: a message arriving within this many seconds of the previous one joins a batch, handled
#: when the burst pauses this long: a burst costs one store commit and one repaint per
#: MAX_QUEUED messages, a single click none of that
BURST_S = 0.05

EditHandler = Callable[[str, str, "str | None", Any], None]
RefusalHandler = Callable[[str, "str | None"], None]
BatchHandler = Callable[[Callable[[], None]], None]

_ESM = """
const KEYS = "Keys: j / k (or down / up) move, 1-9 tick the n-th category, c comment, " +
  "Enter reviewed and next, Esc leaves the comment";
const REVIEWER_KEY = "mldash-reviewer";
const SAFE_IMAGE = /^data:image\\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+\\/=]+$/;
function node(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function render({ model, el }) {
  const box = node("div", "mldash-review-table");
  const scroll = node("div", "mldash-review-scroll");
  const table = node("table", "mldash-review");
  const thead = node("thead");
  const tbody = node("tbody");
  const tfoot = node("tfoot");
  table.append(thead, tbody, tfoot);
  scroll.appendChild(table);
  box.appendChild(scroll);
  el.appendChild(box);
  let shape = "";
  const send = (tr, field, value, category) => {
    const msg = { event: "edit", key: tr.dataset.key, field: field, value: value };
    if (category !== undefined) msg.category = category;
    model.send(msg);
  };
  const buildRow = (columns) => {
    const tr = node("tr");
    tr.cells_ = {};
    tr.tags_ = [];
    for (const col of columns) {
      const td = node("td", "mldash-col-" + col.kind);
      if (col.kind === "reviewed") {
        const input = node("input");
        input.type = "checkbox";
        input.addEventListener("change", () => send(tr, "reviewed", input.checked));
        td.appendChild(input);
        tr.cells_.reviewed = input;
      } else if (col.kind === "tag") {
        td.classList.add("mldash-tag");
        const input = node("input");
        input.type = "checkbox";
        const category = col.category;
        input.addEventListener("change", () => send(tr, "tag", input.checked, category));
        td.appendChild(input);
        tr.tags_.push(input);
        td.dataset.category = category;
      } else if (col.kind === "comment") {
        td.classList.add("mldash-comment");
        const input = node("input");
        input.type = "text";
        input.placeholder = "comment";
        input.maxLength = model.get("max_comment");
        const commit = () => {
          if (input.value !== tr.comment_) {
            tr.comment_ = input.value;
            send(tr, "comment", input.value);
          }
        };
        input.addEventListener("change", commit);
        input.addEventListener("keydown", (e) => { if (e.key === "Enter") commit(); });
        td.appendChild(input);
        tr.cells_.comment = input;
      } else {
        tr.cells_[col.id] = td;
      }
      tr.appendChild(td);
    }
    return tr;
  };
  const paintPreview = (td, p) => {
    td.replaceChildren();
    if (!p) return;
    const src = p.kind === "image" ? (model.get("images") || {})[p.ref] : null;
    if (p.kind === "image" && typeof src === "string" && SAFE_IMAGE.test(src)) {
      const img = node("img");
      img.src = src;
      img.alt = p.alt || "";
      td.appendChild(img);
    } else if (p.kind === "link" && /^https?:\\/\\//i.test(p.href || "")) {
      const a = node("a", "", p.text);
      a.href = p.href;
      a.target = "_blank";
      a.rel = "noopener noreferrer nofollow";
      td.appendChild(a);
    } else {
      const span = node("span", p.muted ? "mldash-muted" : "", p.text);
      if (p.title) span.title = p.title;
      td.appendChild(span);
    }
  };
  const paintStatus = (td, s) => {
    td.replaceChildren();
    if (!s || !s.kind) return;
    const span = node("span", s.kind === "saved" ? "mldash-saved" : "mldash-not-saved", s.text);
    if (s.title) span.title = s.title;
    if (s.kind !== "saved") span.setAttribute("role", "alert");
    td.appendChild(span);
    if (s.note) td.append(node("br"), node("span", "mldash-muted mldash-note", s.note));
  };
  const paintRow = (tr, row, columns) => {
    tr.dataset.key = row.key;
    tr.classList.toggle("mldash-correct-row", !!row.correct);
    const c = tr.cells_;
    c.reviewed.checked = !!row.reviewed;
    c.reviewed.title = "reviewed (counts in % of total): " + row.key;
    c.reviewed.setAttribute("aria-label", c.reviewed.title);
    const id = c.example;
    id.replaceChildren(node("code", "", row.key));
    if (row.correct) id.append(" ", node("span", "mldash-correct", "correct"));
    for (const col of columns) {
      if (col.kind === "text") c[col.id].textContent = row[col.id] === undefined ? "" : row[col.id];
    }
    if (c.preview) paintPreview(c.preview, row.preview);
    if (c.suspect) {
      c.suspect.replaceChildren();
      if (row.suspect) {
        const s = node("span", "mldash-suspect", row.suspect.text);
        s.title = row.suspect.title || "";
        c.suspect.appendChild(s);
      }
    }
    const tags = columns.filter((col) => col.kind === "tag");
    tags.forEach((col, i) => {
      const input = tr.tags_[i];
      input.checked = !!(row.ticks || [])[i];
      input.title = col.category + ": " + row.key;
      input.setAttribute("aria-label", input.title);
    });
    tr.comment_ = row.comment || "";
    if (document.activeElement !== c.comment) c.comment.value = tr.comment_;
    c.comment.title = "comment: " + row.key;
    c.comment.setAttribute("aria-label", c.comment.title);
    paintStatus(c.saved, row.status);
  };
  const bestClass = () => (model.get("best_decided") ? "mldash-best" : "mldash-leading");
  const paintHead = (columns, best) => {
    const tr = node("tr");
    for (const col of columns) {
      const th = node("th", "mldash-col-" + col.kind, col.title);
      if (col.tip) th.title = col.tip;
      if (col.kind === "tag" && col.category === best) {
        th.classList.add(bestClass());
        th.title = (col.tip || col.category) + (model.get("best_decided")
          ? ": the category to fix first" : ": leading so far, not yet decided");
      }
      th.scope = "col";
      tr.appendChild(th);
    }
    thead.replaceChildren(tr);
  };
  const paintFoot = (columns, footer, best) => {
    const first = columns.findIndex((col) => col.kind === "tag");
    const tags = columns.filter((col) => col.kind === "tag");
    const rows = [];
    for (const f of footer) {
      const tr = node("tr", "mldash-footer-" + (f.name || ""));
      const head = node("th", "", f.title);
      head.scope = "row";
      const lead = node("td", f.lead_class || "", f.lead);
      lead.colSpan = Math.max(first - 1, 1);
      tr.append(head, lead);
      tags.forEach((col, i) => {
        const cell = (f.cells || [])[i] || {};
        const td = node("td", f.cell_class || "", cell.text);
        if (cell.title) td.title = cell.title;
        if (col.category === best) td.classList.add(bestClass());
        tr.appendChild(td);
      });
      const rest = node("td");
      rest.colSpan = Math.max(columns.length - first - tags.length, 1);
      tr.appendChild(rest);
      rows.push(tr);
    }
    tfoot.replaceChildren(...rows);
  };
  let queued = false;
  const paint = () => {
    queued = false;
    const columns = model.get("columns") || [];
    const rows = model.get("rows") || [];
    const best = model.get("best") || "";
    const now = JSON.stringify(columns);
    if (now !== shape) {
      shape = now;
      tbody.replaceChildren();
    }
    paintHead(columns, best);
    while (tbody.children.length > rows.length) tbody.lastChild.remove();
    while (tbody.children.length < rows.length) tbody.appendChild(buildRow(columns));
    rows.forEach((row, i) => paintRow(tbody.children[i], row, columns));
    paintFoot(columns, model.get("footer") || [], best);
    box.classList.toggle("mldash-empty", rows.length === 0);
    box.dataset.revision = String(model.get("revision"));
  };
  const schedule = () => {
    if (!queued) { queued = true; queueMicrotask(paint); }
  };
  const names = ["columns", "rows", "images", "footer", "best", "best_decided", "revision"];
  for (const n of names) model.on("change:" + n, schedule);
  paint();

  // keyboard-first review: j/k (or down/up) move, 1-9 toggle the n-th category, c comments,
  // Enter marks the row reviewed and moves on; Escape leaves the comment box
  box.tabIndex = 0;
  box.setAttribute("aria-label", "review rows: " + KEYS);
  box.appendChild(node("div", "mldash-key-legend", KEYS));
  let current = -1;
  const select = (i) => {
    const rows = tbody.children;
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, i));
    for (let j = 0; j < rows.length; j++) rows[j].classList.toggle("mldash-current", j === current);
    rows[current].scrollIntoView({ block: "nearest" });
    box.dataset.current = rows[current].dataset.key;
  };
  const onKey = (e) => {
    const inComment = e.target && e.target.type === "text";
    if (inComment) {
      if (e.key === "Escape") { e.target.blur(); box.focus(); e.preventDefault(); }
      return;
    }
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const tr = tbody.children[current];
    if (e.key === "j" || e.key === "ArrowDown") select(current + 1);
    else if (e.key === "k" || e.key === "ArrowUp") select(current - 1);
    else if (/^[1-9]$/.test(e.key) && tr) {
      const input = tr.tags_[Number(e.key) - 1];
      if (!input) return;
      input.checked = !input.checked;
      const category = (model.get("columns") || []).filter((c) => c.kind === "tag")[
        Number(e.key) - 1].category;
      send(tr, "tag", input.checked, category);
    } else if (e.key === "c" && tr) tr.cells_.comment.focus();
    else if (e.key === "Enter" && tr) {
      if (!tr.cells_.reviewed.checked) {
        tr.cells_.reviewed.checked = true;
        send(tr, "reviewed", true);
      }
      select(current + 1);
    } else return;
    e.preventDefault();
  };
  box.addEventListener("keydown", onKey);
  tbody.addEventListener("click", (e) => {
    const tr = e.target.closest("tr");
    if (tr) select(Array.prototype.indexOf.call(tbody.children, tr));
  });
  // the reviewer's name, asked once per browser and remembered there
  const onMsg = (msg) => {
    if (!msg || typeof msg !== "object") return;
    if (msg.event === "remember" && typeof msg.name === "string") {
      try { localStorage.setItem(REVIEWER_KEY, msg.name); } catch (err) { /* private mode */ }
    } else if (msg.event === "focus" && typeof msg.key === "string") {
      const i = Array.prototype.findIndex.call(tbody.children, (r) => r.dataset.key === msg.key);
      if (i >= 0) { select(i); box.focus(); }
    }
  };
  model.on("msg:custom", onMsg);
  if (model.get("ask_reviewer")) {
    let saved = null;
    try { saved = localStorage.getItem(REVIEWER_KEY); } catch (err) { saved = null; }
    if (saved) {
      model.send({ event: "reviewer", name: saved.slice(0, 80) });
    } else {
      const ask = node("form", "mldash-ask-reviewer");
      const label = node("label", "", "Who is reviewing? ");
      const input = node("input");
      input.type = "text";
      input.maxLength = 80;
      input.placeholder = "your name";
      label.appendChild(input);
      const ok = node("button", "", "Save");
      ok.type = "submit";
      ask.append(label, ok);
      ask.addEventListener("submit", (e) => {
        e.preventDefault();
        const name = input.value.trim().slice(0, 80);
        if (!name) return;
        try { localStorage.setItem(REVIEWER_KEY, name); } catch (err) { /* private mode */ }
        model.send({ event: "reviewer", name: name });
        ask.remove();
      });
      box.insertBefore(ask, scroll);
    }
  }
  return () => {
    for (const n of names) model.off("change:" + n, schedule);
    model.off("msg:custom", onMsg);
  };
}
export default { render };
"""

_OK, _ERROR, _MUTED, _BEST = COLORS["test"], COLORS["avoidable_bias"], COLORS["muted"], \
    COLORS["dev"]
#: the highlighted category's text on its tinted cell: the palette's amber darkened so it
#: keeps WCAG AA contrast (4.5:1) on the table's grey header and footer (#b45309 gave 4.32)
_BEST_TEXT = "#92400e"
_CSS = f"""
.mldash-review-table {{
  font-family: {FONT}; font-size: 13px;
  color: var(--jp-ui-font-color1, {COLORS["text"]});
  --mldash-table-bg: var(--jp-layout-color1, #ffffff);
  --mldash-table-line: var(--jp-border-color2, #e5e7eb);
  --mldash-table-head: var(--jp-layout-color2, #f3f4f6);
  --mldash-ok: {_OK}; --mldash-error: {_ERROR}; --mldash-muted: {_MUTED};
  --mldash-best: {_BEST_TEXT}; --mldash-best-bg: rgba(180, 83, 9, 0.12);
}}
body[data-jp-theme-light="false"] .mldash-review-table {{
  color: var(--jp-ui-font-color1, #f3f4f6);
  --mldash-table-bg: var(--jp-layout-color1, #111111);
  --mldash-table-line: var(--jp-border-color2, #374151);
  --mldash-table-head: var(--jp-layout-color2, #1f2937);
  --mldash-ok: {DARK[_OK]}; --mldash-error: {DARK[_ERROR]}; --mldash-muted: {DARK[_MUTED]};
  --mldash-best: {DARK[_BEST]}; --mldash-best-bg: rgba(251, 191, 36, 0.16);
}}
.mldash-review-scroll {{
  /* the page above the table: header, answer, the shares chart (~200 px) and controls */
  max-height: clamp(240px, calc(100vh - 690px), 760px); overflow: auto;
  border: 1px solid var(--mldash-table-line);
  border-radius: 4px; background: var(--mldash-table-bg);
}}
.mldash-review {{ border-collapse: separate; border-spacing: 0; width: 100%; }}
.mldash-review th, .mldash-review td {{
  padding: 3px 6px; border-bottom: 1px solid var(--mldash-table-line); text-align: left;
  vertical-align: middle; background: var(--mldash-table-bg); color: inherit;
}}
.mldash-review thead {{ position: sticky; top: 0; z-index: 2; }}
.mldash-review thead th {{
  background: var(--mldash-table-head); font-weight: 600; white-space: nowrap;
  border-bottom: 2px solid var(--mldash-table-line);
}}
.mldash-review tfoot {{ position: sticky; bottom: 0; z-index: 2; }}
.mldash-review tfoot th, .mldash-review tfoot td {{
  background: var(--mldash-table-head); font-weight: 600; white-space: nowrap;
}}
.mldash-review tfoot tr:first-child > * {{ border-top: 2px solid var(--mldash-table-line); }}
.mldash-review th.mldash-col-tag {{
  max-width: 96px; font-size: 12px; line-height: 1.2;
  white-space: normal; overflow-wrap: break-word;  /* "incorrectly labelled" wraps, whole */
}}
.mldash-review td.mldash-tag, .mldash-review tfoot td.mldash-tally-share,
.mldash-review tfoot td.mldash-tally-ceiling {{ text-align: center; }}
.mldash-review .mldash-best {{ background: var(--mldash-best-bg) !important; }}
.mldash-review th.mldash-best, .mldash-review tfoot .mldash-best {{ color: var(--mldash-best); }}
.mldash-review .mldash-leading {{ outline: 1px dashed var(--mldash-best); outline-offset: -2px; }}
.mldash-review tfoot .mldash-leading {{ color: var(--mldash-best); }}
.mldash-review input[type=checkbox] {{ width: 16px; height: 16px; margin: 0; cursor: pointer; }}
.mldash-review td.mldash-comment {{ min-width: 160px; width: 28%; }}
.mldash-review td.mldash-comment input {{
  width: 100%; box-sizing: border-box; font: inherit; padding: 2px 4px;
  color: inherit; background: var(--mldash-table-bg);
  border: 1px solid var(--mldash-table-line); border-radius: 3px;
}}
.mldash-review td.mldash-col-text {{ white-space: nowrap; }}
.mldash-review td.mldash-col-preview img {{ max-width: 48px; max-height: 48px; display: block; }}
.mldash-review td.mldash-col-preview a {{ color: var(--jp-content-link-color, #2563eb); }}
.mldash-review code {{ font-size: 12px; background: none; color: inherit; white-space: nowrap; }}
.mldash-review .mldash-correct {{ color: var(--mldash-ok); font-size: 85%; }}
.mldash-review .mldash-suspect {{
  color: var(--mldash-error); font-size: 85%; font-weight: 600; white-space: nowrap;
}}
.mldash-review .mldash-saved {{ color: var(--mldash-ok); white-space: nowrap; }}
.mldash-review .mldash-not-saved {{ color: var(--mldash-error); }}
.mldash-review .mldash-muted {{ color: var(--mldash-muted); }}
.mldash-review .mldash-note {{ font-size: 85%; }}
.mldash-review tr.mldash-correct-row td {{ opacity: .85; }}
.mldash-review-table:focus {{ outline: 2px solid var(--mldash-best); outline-offset: 2px; }}
.mldash-review tr.mldash-current > td {{ background: var(--mldash-best-bg); }}
.mldash-key-legend {{ font-size: 12px; color: var(--mldash-muted); margin-top: 4px; }}
.mldash-ask-reviewer {{ margin: 4px 0; }}
.mldash-ask-reviewer input {{ font: inherit; padding: 2px 4px; margin-right: 4px; }}
.mldash-present .mldash-review-table {{ font-size: 17px; }}
.mldash-present .mldash-review-scroll {{ max-height: 70vh; }}
"""


class ReviewTable(KernelOwnedState, anywidget.AnyWidget):
    """The rows of one review page, drawn by the page as one table; edits come back checked.

    Synced state, all plain JSON:

    ``columns``
        ``[{"id", "title", "kind", "tip"?, "category"?}]``; ``kind`` is one of ``reviewed``,
        ``example``, ``text`` (the row's value under ``id``), ``preview``, ``suspect``,
        ``tag`` (one per category, in order), ``comment``, ``saved``.
    ``rows``
        ``[{"key", "correct", <text ids>..., "preview"?, "suspect"?, "reviewed", "ticks",
        "comment", "status"}]``; ``ticks`` aligned with the tag columns, ``preview``
        ``{"kind": "image"|"link"|"text", ...}`` (an image names its entry of ``images`` by
        ``ref``), ``status`` ``{"kind": "saved"|"failed", "text", "title", "note"}``.
    ``images``
        ``{ref: "data:image/...;base64,..."}`` for the page's image previews, apart from the
        rows so that an edit (which sends the rows again) does not send the images again.
    ``footer``
        ``[{"name", "title", "lead", "lead_class", "cell_class", "cells": [{"text",
        "title"}]}]``, cells aligned with the tag columns.
    ``best``, ``best_decided``
        The category to highlight, or "": the one the tally's answer names (decided), or
        the one leading so far (drawn lighter, with a dashed outline).
    """

    _esm = _ESM
    _css = _CSS
    columns = t.List(t.Dict(), help="the table's columns").tag(sync=True)
    rows = t.List(t.Dict(), help="the rows of the page shown").tag(sync=True)
    images = t.Dict(help="preview images of the page shown, by key: data URLs, sent when the "
                         "page changes and not with every edit").tag(sync=True)
    footer = t.List(t.Dict(), help="the '% of total' and ceiling rows").tag(sync=True)
    best = t.Unicode("", help="category highlighted in the header and footer").tag(sync=True)
    best_decided = t.Bool(False, help="whether the highlighted category is the answer (else "
                                      "only the one leading so far)").tag(sync=True)
    max_comment = t.Int(MAX_COMMENT, help="longest comment accepted").tag(sync=True)
    revision = t.Int(0, help="moves after every message from the page: views repaint").tag(
        sync=True)
    ask_reviewer = t.Bool(True, help="ask the page for its reviewer's name (remembered in the "
                                     "browser); off when the name comes from JupyterHub").tag(
        sync=True)

    def __init__(self, on_edit: EditHandler | None = None,
                 on_refused: RefusalHandler | None = None,
                 on_batch: BatchHandler | None = None,
                 on_reviewer: Callable[[str], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("mldash-review-host")
        self._on_reviewer = on_reviewer
        self._on_edit = on_edit
        self._on_refused = on_refused
        self._on_batch = on_batch
        self._inbox: list[Any] = []
        self._drain_scheduled = False
        self._last_message = -float("inf")
        self.on_msg(self._on_custom_msg)

    # -- state ---------------------------------------------------------------------------------
    @property
    def categories(self) -> list[str]:
        """The categories of the tag columns, in order."""
        return [str(c["category"]) for c in self.columns if c.get("kind") == "tag"]

    @property
    def shown_keys(self) -> list[str]:
        """The example ids of the rows shown, top to bottom."""
        return [str(r["key"]) for r in self.rows]

    def row(self, key: str) -> dict[str, Any] | None:
        """The JSON of the row showing ``key`` (None if not shown)."""
        return next((r for r in self.rows if r["key"] == key), None)

    def show(self, *, columns: Sequence[Mapping[str, Any]] | None = None,
             rows: Sequence[Mapping[str, Any]] | None = None,
             images: Mapping[str, str] | None = None,
             footer: Sequence[Mapping[str, Any]] | None = None,
             best: str | None = None, best_decided: bool | None = None) -> None:
        """Assign the parts given, in one message; an unchanged part sends nothing."""
        with self.hold_sync():
            if images is not None and dict(images) != self.images:
                self.images = dict(images)
            for name, value in (("columns", columns), ("rows", rows), ("footer", footer)):
                if value is not None:
                    value = [dict(v) for v in value]
                    if value != getattr(self, name):
                        setattr(self, name, value)
            if best is not None and best != self.best:
                self.best = best
            if best_decided is not None and best_decided != self.best_decided:
                self.best_decided = best_decided

    def update_rows(self, changed: Mapping[str, Mapping[str, Any]]) -> None:
        """Merge ``{key: {field: value}}`` into the rows shown (other keys are ignored)."""
        if not changed:
            return
        rows = [{**r, **changed[r["key"]]} if r["key"] in changed else r for r in self.rows]
        if rows != self.rows:
            self.rows = rows

    def remember_reviewer(self, name: str) -> None:
        """Ask every view to remember the reviewer's name in its browser."""
        self.send({"event": "remember", "name": str(name)[:MAX_REVIEWER]})

    def focus_row(self, key: str) -> None:
        """Ask every view to select the row of ``key`` and take the keyboard."""
        self.send({"event": "focus", "key": str(key)})

    # -- messages from the page ----------------------------------------------------------------
    def _reviewer(self, content: dict) -> bool:
        """A page's remembered reviewer name: one line of at most MAX_REVIEWER printable
        characters, else refused; handled only while the page may name its reviewer."""
        name = content.get("name")
        if set(content) - {"event", "name"} or not isinstance(name, str):
            raise ValueError("a reviewer message holds one name")
        name = name.strip()
        if not name or len(name) > MAX_REVIEWER or not name.isprintable():
            raise ValueError("a reviewer's name is one line of at most "
                             f"{MAX_REVIEWER} printable characters")
        if not self.ask_reviewer or self._on_reviewer is None:
            raise ValueError("this page's reviewer comes from the server")
        self._on_reviewer(name)
        return True

    def receive(self, content: Any) -> bool:
        """Handle one message as the page sends it; True if it reached the edit handler.

        The page is not trusted: a message that is not ``{"event": "edit", "key": <a row
        shown>, "field": "tag"|"reviewed"|"comment", "category": <a tag column> (tags only),
        "value": <bool, or a str of at most MAX_COMMENT characters>}`` is refused with its
        reason and nothing is written.
        """
        try:
            if isinstance(content, dict) and content.get("event") == "reviewer":
                return self._reviewer(content)
            key, field, category, value = self._check(content)
        except ValueError as exc:
            key = content.get("key") if isinstance(content, dict) else None
            with self.hold_sync():
                self.revision += 1
                if self._on_refused is not None:  # with the row, when it is one shown
                    self._on_refused(str(exc), key if key in self.shown_keys else None)
            return False
        with self.hold_sync():  # the row's new state and the repaint in one message
            try:
                if self._on_edit is not None:
                    self._on_edit(key, field, category, value)
            finally:
                self.revision += 1
        return True

    def _check(self, content: Any) -> tuple[str, str, str | None, Any]:
        if not isinstance(content, dict):
            raise ValueError(f"not an object but {type(content).__name__}")
        extra = sorted(str(k)[:40] for k in set(content) - _MESSAGE_FIELDS)
        if extra:
            raise ValueError(f"unknown field(s) {', '.join(map(repr, extra[:5]))}")
        if content.get("event") != "edit":
            raise ValueError(f"unknown event {str(content.get('event'))[:40]!r}")
        key, field, value = content.get("key"), content.get("field"), content.get("value")
        if not isinstance(key, str) or not key or len(key) > MAX_KEY:
            raise ValueError("the example id is missing, not text or too long")
        if key not in self.shown_keys:
            raise ValueError(f"example {key[:80]!r} is not among the rows shown")
        if field not in EDIT_FIELDS:
            raise ValueError(f"unknown field {str(field)[:40]!r}")
        if type(value) is not EDIT_FIELDS[field]:
            raise ValueError(f"a {field} edit takes a {EDIT_FIELDS[field].__name__}, not "
                             f"{type(value).__name__}")
        category = content.get("category")
        if field == "tag":
            if not isinstance(category, str) or category not in self.categories:
                raise ValueError(f"unknown category {str(category)[:80]!r}")
        elif category is not None:
            raise ValueError(f"a {field} edit takes no category")
        if field == "comment" and len(value) > self.max_comment:
            raise ValueError(f"a comment has at most {self.max_comment:,} characters, this one "
                             f"{len(value):,}")
        return key, field, category, value

    def _on_custom_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """Handle a message from the page at once or, within a burst (less than
        :data:`BURST_S` after the previous one), queue it for one batch (:meth:`drain`) when
        the burst pauses or :data:`MAX_QUEUED` messages wait."""
        now = time.monotonic()
        burst, self._last_message = now - self._last_message < BURST_S, now
        self._inbox.append(content)
        if len(self._inbox) >= MAX_QUEUED:
            self.drain()
            return
        if self._drain_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (plain Python): at once
            loop = None
        if loop is None or not burst:
            self.drain()
            return
        self._drain_scheduled = True
        loop.call_later(BURST_S, self._drain_when_quiet)

    def _drain_when_quiet(self) -> None:
        """Drain once the page has paused for :data:`BURST_S`; else look again then."""
        self._drain_scheduled = False
        if not self._inbox:
            return
        if time.monotonic() - self._last_message < BURST_S:
            self._drain_scheduled = True
            asyncio.get_running_loop().call_later(BURST_S, self._drain_when_quiet)
            return
        self.drain()

    def drain(self) -> int:
        """Handle the queued messages from the page as one batch (``on_batch``: in the tally
        grid one store transaction and one repaint); returns how many were handled."""
        batch, self._inbox = self._inbox, []

        def handle() -> None:
            for content in batch:
                self.receive(content)

        if self._on_batch is not None and len(batch) > 1:
            self._on_batch(handle)
        else:
            handle()
        return len(batch)
