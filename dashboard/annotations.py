"""The annotation store: every review tick and comment, kept safe in an embedded SQLite file.

One file can serve several datasets and several writers at once (several kernels on one Voilà
server). The design choices, and why:

* **Durable on return.** Each ``set_*`` call is one ``BEGIN IMMEDIATE`` … ``COMMIT``
  transaction in WAL mode with ``synchronous=FULL``; it returns only after the commit, so an
  edit the UI shows as saved survives a killed kernel.
* **No lost update.** Writers take SQLite's write lock in turn (``busy_timeout`` makes the
  others wait instead of failing); each edit touches one (example, category) cell, so two
  people ticking different boxes of one row never overwrite each other. Two edits of the same
  cell: the last committed wins, and both stay in the append-only ``edits`` log.
* **Nothing is deleted.** An untick is a new value and a new log row; a removed category is
  hidden, its tags kept, and adding the name again restores it.
* **Tags follow examples.** A store holds named datasets (:func:`dataset_name`: the results
  file's name by default) and keys every review by example id (the Results ``key`` column).
  Re-exporting the results with more rows, fewer rows or a new split keeps every review whose
  example is still there; the others stay in the file and :class:`ReviewSession` says how
  many (:attr:`ReviewSession.notice`). Stores written before names were used keyed datasets
  by a hash of every id (:attr:`Results.fingerprint`); the first session on such a store
  moves the best-matching hashed dataset to the name, keeping every row.

:func:`sync_results` merges the store into a :class:`~dashboard.results.Results` (tags given
in the results file are the base, store edits win) and :class:`ReviewSession` applies edits
store-first, then to the model; the tally grid uses both, and so can scripts.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dashboard.errors import DashboardError
from dashboard.io import boolish, canonical_category
from dashboard.metrics.agreement import cohen_kappa
from dashboard.metrics.tally import MISLABELLED

if TYPE_CHECKING:
    from dashboard.results import Results

__all__ = [
    "DEFAULT_STORE_NAME",
    "SCHEMA_VERSION",
    "AnnotationStore",
    "Edit",
    "ReviewSession",
    "SyncResult",
    "default_author",
    "dataset_name",
    "default_store_for",
    "default_store_path",
    "user_data_dir",
    "file_tags",
    "neutralise_cell",
    "neutralise_frame",
    "restore_cell",
    "restore_frame",
    "safe_filename",
    "sync_results",
]

#: version of the tables below; a store written by a newer version is refused, not misread
SCHEMA_VERSION = 2  # 2: one value per reviewer (reviews), resolutions, assignments
#: file name of the default store, in the folder of the results file
DEFAULT_STORE_NAME = "annotations.sqlite"
#: position of "incorrectly labelled": after every category the reviewer adds
_MISLABELLED_POSITION = 1_000_000
#: how stores written before named datasets named them: Results.fingerprint, 16 hex digits
_LEGACY_DATASET = re.compile(r"[0-9a-f]{16}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL,
    name TEXT NOT NULL,
    origin TEXT,                 -- the results-file column it came from, if any
    position INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    removed_at TEXT,
    removed_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS categories_active_name
    ON categories(dataset, name) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS categories_origin
    ON categories(dataset, origin) WHERE origin IS NOT NULL;
CREATE TABLE IF NOT EXISTS tags (
    dataset TEXT NOT NULL,
    example_id TEXT NOT NULL,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    value INTEGER,               -- the resolved value: 1 ticked, 0 not ticked, NULL cleared
    author TEXT NOT NULL,
    at TEXT NOT NULL,
    version INTEGER NOT NULL,
    conflict INTEGER NOT NULL DEFAULT 0,  -- reviewers disagree and nobody reconciled them
    PRIMARY KEY (dataset, example_id, category_id)
);
CREATE TABLE IF NOT EXISTS reviews (  -- each reviewer's own value: nobody overwrites anyone
    dataset TEXT NOT NULL,
    example_id TEXT NOT NULL,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    reviewer TEXT NOT NULL,
    value INTEGER,
    at TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (dataset, example_id, category_id, reviewer)
);
CREATE TABLE IF NOT EXISTS resolutions (  -- a disagreement reconciled, and by whom
    dataset TEXT NOT NULL,
    example_id TEXT NOT NULL,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    value INTEGER,
    by TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (dataset, example_id, category_id)
);
CREATE TABLE IF NOT EXISTS assignments (  -- who reviews which example of the sample
    dataset TEXT NOT NULL,
    example_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    position INTEGER NOT NULL,
    overlap INTEGER NOT NULL,    -- 1: reviewed twice, for agreement
    PRIMARY KEY (dataset, example_id, reviewer)
);
CREATE TABLE IF NOT EXISTS comments (
    dataset TEXT NOT NULL,
    example_id TEXT NOT NULL,
    text TEXT NOT NULL,
    author TEXT NOT NULL,
    at TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (dataset, example_id)
);
CREATE TABLE IF NOT EXISTS edits (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL,
    at TEXT NOT NULL,
    author TEXT NOT NULL,
    action TEXT NOT NULL,        -- tag, comment, add_category, restore_category, ...
    example_id TEXT,
    category_id INTEGER,
    category TEXT,
    old TEXT,
    new TEXT
);
CREATE INDEX IF NOT EXISTS edits_example ON edits(dataset, example_id);
"""

#: the tables of reviewers' own values, resolutions and shares of the sample
_PER_REVIEWER = ("reviews", "resolutions", "assignments")

#: CSV columns that describe an example instead of tagging it (the grid's export has them)
_NOT_TAGS = frozenset({"label", "prediction", "predicted", "score", "correct", "split", "model",
                       "weight", "author", "at"})

_LOG_COLUMNS = ["seq", "at", "author", "action", "example_id", "category", "old", "new"]


def default_author() -> str:
    """The author recorded with each edit unless one is given: ``$USER``, else "reviewer"."""
    return os.environ.get("USER") or os.environ.get("USERNAME") or "reviewer"


def _store_error(path: object, what: str, exc: BaseException) -> DashboardError:
    """A SQLite error as the package's one error type: one line naming the store."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return DashboardError(f"{what} ({detail})", file=str(path))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _tag_value(value: Any) -> int | None:
    """A tag value as stored: 1, 0 or None (cleared); anything else is refused."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)) or value in (0, 1):
        return int(bool(value))
    raise DashboardError(f"a tag is True, False or None, got {value!r}")


def _text(value: int | None) -> str | None:
    return None if value is None else ("true" if value else "false")


@dataclass(frozen=True)
class Edit:
    """One committed edit: what changed, who changed it when, and what it replaced."""

    seq: int
    dataset: str
    action: str
    example_id: str | None
    category: str | None
    old: Any
    new: Any
    author: str
    at: str
    version: int = 1
    previous_author: str | None = None
    previous_at: str | None = None


# -- CSV cells a spreadsheet would run -----------------------------------------------------------
#: first characters that make Excel, LibreOffice or Google Sheets read a cell as a formula
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """A text cell a spreadsheet shows as text: ``'`` before a formula trigger (and before a
    leading ``'``, so :func:`restore_cell` gives back exactly the value). Non-text is as is."""
    if isinstance(value, str) and value and (value[0] in FORMULA_TRIGGERS or value[0] == "'"):
        return "'" + value
    return value


def restore_cell(value: Any) -> Any:
    """Undo :func:`neutralise_cell` (a cell read back from an exported CSV)."""
    if (isinstance(value, str) and len(value) > 1 and value[0] == "'"
            and (value[1] in FORMULA_TRIGGERS or value[1] == "'")):
        return value[1:]
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell, column name and index label neutralised."""
    out = frame.copy()
    for column in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[column])
                or pd.api.types.is_bool_dtype(out[column])):
            out[column] = out[column].map(neutralise_cell).astype(object)
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    if not pd.api.types.is_numeric_dtype(out.index):
        out.index = out.index.map(neutralise_cell)
    out.index.name = neutralise_cell(out.index.name)
    return out


def write_safe_csv(frame: pd.DataFrame, path: str | Path, *, index: bool = True) -> Path:
    """Write ``frame`` as CSV a spreadsheet reads as text: every cell neutralised
    (:func:`neutralise_frame`) and every text cell quoted.

    Quoting keeps a carriage return or line feed inside its cell: unquoted, a comment
    ``note\\r=1+1`` became a new spreadsheet row starting with a live ``=1+1`` (issue 21), and
    did not read back. :meth:`AnnotationStore.import_csv` reads the file back exactly."""
    target = Path(path)
    neutralise_frame(frame).to_csv(target, index=index, quoting=csv.QUOTE_NONNUMERIC)
    return target


def restore_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`neutralise_frame` on a frame read with ``dtype=str``."""
    out = frame.copy()
    out.columns = [restore_cell(str(c)) for c in out.columns]
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(restore_cell)
    return out


def safe_filename(text: str, *, limit: int = 120) -> str:
    """``text`` as one file name: path separators and characters file systems or shells
    dislike become ``_``; never empty, never ``.``/``..``, at most ``limit`` characters."""
    name = re.sub(r"[^\w.@+=,-]+", "_", str(text), flags=re.UNICODE).strip("._") or "file"
    return name[:limit]


class AnnotationStore:
    """Review tags, comments and categories of datasets, in one SQLite file.

    Parameters
    ----------
    path : str or Path
        The SQLite file (created if missing); an existing folder means
        ``folder / "annotations.sqlite"``. ``":memory:"`` gives a private, volatile store.
    dataset : str
        The dataset's name, normally :func:`dataset_name` (the results file's name); reviews
        are keyed by example id within it. Every read and write of this object is limited
        to it.
    author : str, optional
        Recorded with every edit (default :func:`default_author`); may be changed later.
    timeout : float
        Seconds a writer waits for another writer's transaction before giving up.
    check : bool
        Run :meth:`check` (integrity and a test write) on opening; every SQLite error, then
        and later, is raised as a :class:`DashboardError` naming the file.

    Examples
    --------
    >>> store = AnnotationStore(":memory:", dataset="demo")
    >>> store.add_category("blurry")
    'blurry'
    >>> store.set_tag("img-1", "blurry", True).new
    True
    >>> store.tags().columns.tolist()
    ['example_id', 'blurry', 'incorrectly labelled']
    """

    def __init__(self, path: str | Path, *, dataset: str, author: str | None = None,
                 timeout: float = 30.0, check: bool = True) -> None:
        dataset = str(dataset).strip()
        if not dataset:
            raise DashboardError("an annotation store needs a dataset identity")
        if str(path) != ":memory:":
            p = Path(path).expanduser()
            if p.is_dir():
                p = p / DEFAULT_STORE_NAME
            if not p.parent.is_dir():
                raise DashboardError("the folder of the annotation store does not exist",
                                     file=str(p))
            path = p.resolve()
        self.path = path
        self.dataset = dataset
        self.author = author or default_author()
        self.timeout = float(timeout)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._depth = 0
        self._writing = False
        self._commits = 0  # this object's write transactions (see version)
        self._init_schema()
        if check:
            self.check()

    # -- connection and transactions -------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        """The open connection; reopened in a forked child (a connection must not be shared)."""
        if self._conn is None or self._pid != os.getpid():
            try:
                conn = sqlite3.connect(str(self.path), timeout=self.timeout,
                                       isolation_level=None, check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal" and str(self.path) != ":memory:":
                    raise DashboardError(f"could not switch the store to WAL mode ({mode})",
                                         file=str(self.path))
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA foreign_keys = ON")
            except sqlite3.Error as exc:
                raise _store_error(self.path, "cannot open the annotation store", exc) from None
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction: ``BEGIN IMMEDIATE`` for writes (the write lock up front, so two
        writers never deadlock upgrading a read), a plain snapshot for reads. A read inside
        another transaction of this object joins it."""
        with self._lock:
            conn = self._connection()
            if self._depth:
                if write and not self._writing:
                    raise RuntimeError("a write cannot nest inside a read transaction")
                self._depth += 1
                savepoint = f"mldash_{self._depth}"
                if write:  # all or nothing within the outer transaction too
                    conn.execute(f"SAVEPOINT {savepoint}")
                try:
                    yield conn
                except BaseException:
                    if write:
                        with suppress(sqlite3.Error):
                            conn.execute(f"ROLLBACK TO {savepoint}")
                            conn.execute(f"RELEASE {savepoint}")
                    raise
                else:
                    if write:
                        conn.execute(f"RELEASE {savepoint}")
                finally:
                    self._depth -= 1
                return
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.Error as exc:
                raise _store_error(self.path, "the annotation store is busy or unavailable; "
                                   "nothing was saved, try again", exc) from None
            self._depth, self._writing = 1, write
            try:
                yield conn
            except BaseException as exc:
                with suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _store_error(self.path, "the annotation store failed"
                                       + ("; nothing was saved" if write else ""), exc) from None
                raise
            else:
                try:
                    conn.execute("COMMIT")
                    if write:
                        self._commits += 1
                except sqlite3.Error as exc:
                    with suppress(sqlite3.Error):
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                    raise _store_error(self.path, "could not save to the annotation store; "
                                       "nothing was saved, try again", exc) from None
            finally:
                self._depth, self._writing = 0, False

    def version(self) -> tuple[int, int]:
        """Changes as seen from here: SQLite's ``data_version`` (moves when another
        connection commits) and this object's own commits. Equal versions, equal contents:
        views re-read the store only when it moved (a threshold move does not)."""
        with self._lock:
            conn = self._connection()
            try:
                other = int(conn.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error as exc:
                raise _store_error(self.path, "cannot read the annotation store", exc) from None
            return other, self._commits

    def batch(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction around several edits: one commit (one fsync) for a burst of
        edits from a page instead of one each; each edit inside stays all or nothing (a
        savepoint), and nothing is saved if the commit fails."""
        return self._transaction(write=True)

    def check(self) -> None:
        """Refuse a damaged or unwritable store before anyone reviews into it.

        Runs SQLite's ``quick_check`` and commits a test write (one row of ``health``); raises
        :class:`DashboardError` naming the file otherwise. ``:memory:`` stores pass.
        """
        with self._transaction(write=False) as conn:
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
        if problems != ["ok"]:
            found = " ".join("; ".join(map(str, problems)).split())[:200]
            raise DashboardError(f"the annotation store is damaged (SQLite quick_check: {found}"
                                 "); restore it from a backup or start a new one with --store",
                                 file=str(self.path))
        try:
            with self._transaction(write=True) as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, "
                             "at TEXT NOT NULL, author TEXT NOT NULL)")
                conn.execute("INSERT OR REPLACE INTO health(id, at, author) VALUES (1, ?, ?)",
                             (_now(), self.author))
        except DashboardError as exc:
            raise DashboardError(f"the annotation store cannot be written ({exc}); check its "
                                 "permissions and free space, or choose another with --store",
                                 file=str(self.path)) from None

    def _init_schema(self) -> None:
        with self._transaction(write=True) as conn:
            old_tags = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                    "name = 'tags'").fetchone() is not None
            if old_tags and "conflict" not in {r[1] for r in conn.execute(
                    "PRAGMA table_info(tags)")}:  # a version 1 store: one value per example
                conn.execute("ALTER TABLE tags ADD COLUMN conflict INTEGER NOT NULL DEFAULT 0")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            if row[0] is None:
                conn.execute("INSERT INTO schema_version(version) VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise DashboardError(f"the store has schema version {row[0]}, newer than this "
                                     f"dashboard's {SCHEMA_VERSION}: upgrade the dashboard",
                                     file=str(self.path))
            elif row[0] < SCHEMA_VERSION:  # each version 1 value becomes its author's review
                conn.execute("INSERT OR IGNORE INTO reviews(dataset, example_id, category_id, "
                             "reviewer, value, at, version) SELECT dataset, example_id, "
                             "category_id, author, value, at, version FROM tags")
                conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
            self._ensure_category(conn, MISLABELLED, origin=MISLABELLED,
                                  position=_MISLABELLED_POSITION)

    def close(self) -> None:
        """Close the connection (the store reopens it on the next call)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AnnotationStore {str(self.path)!r} dataset={self.dataset!r}>"

    # -- dataset identity ----------------------------------------------------------------------
    def _has_reviews(self, conn: sqlite3.Connection, dataset: str) -> bool:
        return conn.execute(
            "SELECT EXISTS(SELECT 1 FROM tags WHERE dataset = ?) OR EXISTS(SELECT 1 FROM comments "
            "WHERE dataset = ?) OR EXISTS(SELECT 1 FROM categories WHERE dataset = ? AND "
            "(origin IS NULL OR origin != ?))",
            (dataset, dataset, dataset, MISLABELLED)).fetchone()[0] == 1

    def adopt_legacy_dataset(self, keys: Collection[str] | Callable[[list[str]], Collection[str]],
                             fingerprint: str | Callable[[], str] | None = None) -> str | None:
        """Move the reviews of a hash-named dataset (older stores) to this store's name.

        Only when this name holds no review yet. Candidates are datasets named by a 16-digit
        hash (:attr:`Results.fingerprint`); ``fingerprint`` wins if present, else the one whose
        reviewed ids overlap ``keys`` most (none without overlap). Every row moves (tags,
        comments, categories, the edit log), one transaction. Returns the old name or None.
        ``keys`` may be a function of the ids asked about (the known ones) and ``fingerprint``
        one of nothing: both cost a pass over every row, paid only when a candidate exists.
        """
        if callable(keys):
            known = keys
        else:
            have = keys if isinstance(keys, (set, frozenset)) else frozenset(map(str, keys))

            def known(ids: list[str]) -> list[str]:
                return [i for i in ids if i in have]
        with self._transaction(write=True) as conn:
            if self._has_reviews(conn, self.dataset):
                return None
            legacy = [d for (d,) in conn.execute(
                "SELECT DISTINCT dataset FROM categories WHERE dataset != ?", (self.dataset,))
                if _LEGACY_DATASET.fullmatch(d) and self._has_reviews(conn, d)]
            if not legacy:
                return None
            fingerprint = fingerprint() if callable(fingerprint) else fingerprint
            if fingerprint in legacy:
                chosen = fingerprint
            else:
                def overlap(d: str) -> int:
                    ids = conn.execute("SELECT example_id FROM tags WHERE dataset = ? UNION "
                                       "SELECT example_id FROM comments WHERE dataset = ?",
                                       (d, d)).fetchall()
                    return len(known([i for (i,) in ids]))

                best = max(legacy, key=overlap)
                chosen = best if overlap(best) > 0 else None
            if chosen is None:
                return None
            # this name holds only its automatic "incorrectly labelled" category: drop it, so
            # the old dataset's own one (with its tags) takes the name
            conn.execute("DELETE FROM edits WHERE dataset = ?", (self.dataset,))
            conn.execute("DELETE FROM categories WHERE dataset = ?", (self.dataset,))
            for table in ("categories", "tags", "comments", "edits", *_PER_REVIEWER):
                conn.execute(f"UPDATE {table} SET dataset = ? WHERE dataset = ?",
                             (self.dataset, chosen))
            self._log(conn, _now(), "rename_dataset", old=chosen, new=self.dataset)
        return chosen

    def follow_reviews_of(self, keys: Callable[[list[str]], Collection[str]], *,
                          min_share: float = 0.5) -> str | None:
        """Bind this store to another named dataset that reviewed these examples.

        Only when this name holds no review yet. A dataset is named after its results file, so
        the same results exported under a new file name found none of their reviews (issue
        21); the data is recognised by its example ids instead: among the store's other
        datasets, the one with the most reviewed ids that ``keys`` (a function of the ids
        asked about, returning the known ones) knows, when that is at least ``min_share`` of
        its reviewed ids. Nothing is moved, so the old file still finds its reviews, and new
        reviews join them. Returns the dataset followed, or None.
        """
        with self._transaction(write=False) as conn:
            if self._has_reviews(conn, self.dataset):
                return None
            names = [d for (d,) in conn.execute(
                "SELECT dataset FROM tags UNION SELECT dataset FROM comments")
                if d != self.dataset and not _LEGACY_DATASET.fullmatch(d)]
            best, best_hits = None, 0
            for name in sorted(names):
                ids = [i for (i,) in conn.execute(
                    "SELECT example_id FROM tags WHERE dataset = ? UNION "
                    "SELECT example_id FROM comments WHERE dataset = ?", (name, name))]
                hits = len(keys(ids))
                if hits > best_hits and hits >= min_share * len(ids):
                    best, best_hits = name, hits
        if best is not None:
            self.dataset = best
        return best

    # -- categories --------------------------------------------------------------------------
    def _active(self, conn: sqlite3.Connection) -> list[tuple[int, str, str | None]]:
        return conn.execute(
            "SELECT id, name, origin FROM categories WHERE dataset = ? AND removed_at IS NULL "
            "ORDER BY position, id", (self.dataset,)).fetchall()

    def _category_id(self, conn: sqlite3.Connection, name: str) -> int:
        row = conn.execute("SELECT id FROM categories WHERE dataset = ? AND name = ? AND "
                           "removed_at IS NULL", (self.dataset, name)).fetchone()
        if row is None:
            raise DashboardError(f"unknown category {name!r}; add it first")
        return int(row[0])

    def _log(self, conn: sqlite3.Connection, at: str, action: str, *,
             example_id: str | None = None, category_id: int | None = None,
             category: str | None = None, old: str | None = None, new: str | None = None) -> int:
        cur = conn.execute(
            "INSERT INTO edits(dataset, at, author, action, example_id, category_id, category, "
            "old, new) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.dataset, at, self.author, action, example_id, category_id, category, old, new))
        return int(cur.lastrowid)

    def _ensure_category(self, conn: sqlite3.Connection, name: str, *,
                         origin: str | None = None,
                         position: int | None = None) -> tuple[str, bool]:
        """Add (or restore) a category inside a transaction: its canonical name, and whether it
        was a removed one brought back (with its tags)."""
        name = canonical_category(str(name).strip())
        if not name:
            raise DashboardError("a category needs a name")
        if conn.execute("SELECT 1 FROM categories WHERE dataset = ? AND name = ? AND "
                        "removed_at IS NULL", (self.dataset, name)).fetchone():
            return name, False
        at = _now()
        removed = conn.execute(
            "SELECT id FROM categories WHERE dataset = ? AND name = ? AND removed_at IS NOT NULL "
            "ORDER BY removed_at DESC, id DESC LIMIT 1", (self.dataset, name)).fetchone()
        if removed is not None:  # nothing is lost: adding a removed name brings it back
            conn.execute("UPDATE categories SET removed_at = NULL, removed_by = NULL WHERE id = ?",
                         (removed[0],))
            self._log(conn, at, "restore_category", category_id=removed[0], category=name,
                      new=name)
            return name, True
        if position is None:
            row = conn.execute("SELECT MAX(position) FROM categories WHERE dataset = ? AND "
                               "position < ?", (self.dataset, _MISLABELLED_POSITION)).fetchone()
            position = 0 if row[0] is None else int(row[0]) + 1
        cur = conn.execute(
            "INSERT INTO categories(dataset, name, origin, position, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?)", (self.dataset, name, origin, position, at, self.author))
        self._log(conn, at, "add_category", category_id=cur.lastrowid, category=name, new=name)
        return name, False

    def categories(self) -> tuple[str, ...]:
        """The active categories, in the order they were added ("incorrectly labelled" last)."""
        with self._transaction(write=False) as conn:
            return tuple(name for _, name, _ in self._active(conn))

    def add_category(self, name: str) -> str:
        """Add a category (or restore a removed one with its tags); returns the name used."""
        return self._add_category(name)[0]

    def _add_category(self, name: str) -> tuple[str, bool]:
        with self._transaction(write=True) as conn:
            return self._ensure_category(conn, name)

    def rename_category(self, old: str, new: str) -> str:
        """Rename a category; its tags keep their values. Returns the new name."""
        new = canonical_category(str(new).strip())
        if old == MISLABELLED:
            raise DashboardError(f"{MISLABELLED!r} is always present and cannot be renamed")
        with self._transaction(write=True) as conn:
            cid = self._category_id(conn, old)
            if not new or conn.execute(
                    "SELECT 1 FROM categories WHERE dataset = ? AND name = ? AND removed_at IS "
                    "NULL", (self.dataset, new)).fetchone():
                raise DashboardError(f"cannot rename {old!r} to {new!r}: empty or taken")
            conn.execute("UPDATE categories SET name = ? WHERE id = ?", (new, cid))
            self._log(conn, _now(), "rename_category", category_id=cid, category=new, old=old,
                      new=new)
        return new

    def remove_category(self, name: str) -> None:
        """Hide a category; its tags are kept and come back if the name is added again."""
        if name == MISLABELLED:
            raise DashboardError(f"{MISLABELLED!r} is always present and cannot be removed")
        with self._transaction(write=True) as conn:
            cid = self._category_id(conn, name)
            at = _now()
            conn.execute("UPDATE categories SET removed_at = ?, removed_by = ? WHERE id = ?",
                         (at, self.author, cid))
            self._log(conn, at, "remove_category", category_id=cid, category=name, old=name)

    def adopt_categories(self, columns: Sequence[str]) -> dict[str, str | None]:
        """Map category columns of a results file to the store's categories.

        A column the store has never seen becomes a category (remembering the column as its
        origin); a column whose category was renamed maps to the new name; one whose category
        was removed maps to None. One transaction.
        """
        out: dict[str, str | None] = {}
        with self._transaction(write=True) as conn:
            for column in columns:
                row = conn.execute("SELECT name, removed_at FROM categories WHERE dataset = ? "
                                   "AND origin = ?", (self.dataset, column)).fetchone()
                if row is None:
                    taken = conn.execute("SELECT 1 FROM categories WHERE dataset = ? AND name = "
                                         "? AND removed_at IS NULL",
                                         (self.dataset, column)).fetchone()
                    if taken:  # a reviewer added this name before the file brought it
                        conn.execute("UPDATE categories SET origin = ? WHERE dataset = ? AND "
                                     "name = ? AND removed_at IS NULL",
                                     (column, self.dataset, column))
                        out[column] = column
                    else:
                        out[column] = self._ensure_category(conn, column, origin=column)[0]
                else:
                    out[column] = None if row[1] is not None else row[0]
        return out

    # -- writes --------------------------------------------------------------------------------
    def _write_tag(self, conn: sqlite3.Connection, example_id: str, category: str,
                   value: int | None, at: str) -> Edit:
        """Store this reviewer's own value, then the example's resolved value: a
        reconciliation if one was made, else the reviewers' common value, else a conflict
        (no value until someone reconciles it)."""
        cid = self._category_id(conn, category)
        prev = conn.execute("SELECT value, at, version FROM reviews WHERE dataset = ? AND "
                            "example_id = ? AND category_id = ? AND reviewer = ?",
                            (self.dataset, example_id, cid, self.author)).fetchone()
        last = conn.execute("SELECT author, at FROM tags WHERE dataset = ? AND example_id = ? "
                            "AND category_id = ?", (self.dataset, example_id, cid)).fetchone()
        version = 1 if prev is None else int(prev[2]) + 1
        conn.execute(
            "INSERT INTO reviews(dataset, example_id, category_id, reviewer, value, at, version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dataset, example_id, category_id, "
            "reviewer) DO UPDATE SET value = excluded.value, at = excluded.at, "
            "version = excluded.version",
            (self.dataset, example_id, cid, self.author, value, at, version))
        self._resolve(conn, example_id, cid, at)
        old = None if prev is None else prev[0]
        seq = self._log(conn, at, "tag", example_id=example_id, category_id=cid,
                        category=category, old=_text(old), new=_text(value))
        return Edit(seq=seq, dataset=self.dataset, action="tag", example_id=example_id,
                    category=category, old=None if old is None else bool(old),
                    new=None if value is None else bool(value), author=self.author, at=at,
                    version=version, previous_author=None if last is None else last[0],
                    previous_at=None if last is None else last[1])

    def _resolve(self, conn: sqlite3.Connection, example_id: str, cid: int, at: str) -> None:
        """The resolved values of one example into ``tags``, from the reviews: every category
        of it, since a reviewer who reviewed an example answered each category (an unticked
        one reads False), so one answer can agree or conflict with another reviewer's on a
        category this reviewer never touched. A reconciliation wins. ``cid``, the category
        just written, always gets its row."""
        answers: dict[int, dict[str, int]] = {}
        for c, reviewer, v in conn.execute(
                "SELECT r.category_id, r.reviewer, r.value FROM reviews r JOIN categories k ON "
                "k.id = r.category_id WHERE r.dataset = ? AND r.example_id = ? AND r.value IS "
                "NOT NULL AND k.removed_at IS NULL", (self.dataset, example_id)):
            answers.setdefault(int(c), {})[reviewer] = int(v)
        reviewers = {r for given in answers.values() for r in given}
        fixed = dict(conn.execute("SELECT category_id, value FROM resolutions WHERE dataset = ? "
                                  "AND example_id = ?", (self.dataset, example_id)).fetchall())
        rows = {int(c): (v, int(k)) for c, v, k in conn.execute(
            "SELECT category_id, value, conflict FROM tags WHERE dataset = ? AND example_id = ?",
            (self.dataset, example_id))}
        for c in {cid, *answers, *fixed, *rows}:
            if c in fixed:
                value, conflict = fixed[c], 0
            else:
                given = {answers.get(c, {}).get(r, 0) for r in reviewers}
                conflict = int(len(given) > 1)
                value = next(iter(given)) if len(given) == 1 and c in answers else None
            if rows.get(c) == (value, conflict) and c != cid:
                continue
            conn.execute(
                "INSERT INTO tags(dataset, example_id, category_id, value, author, at, "
                "version, conflict) VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(dataset, "
                "example_id, category_id) DO UPDATE SET value = excluded.value, author = "
                "excluded.author, at = excluded.at, version = tags.version + 1, conflict = "
                "excluded.conflict", (self.dataset, example_id, c, value, self.author, at,
                                      conflict))

    def _write_comment(self, conn: sqlite3.Connection, example_id: str, text: str,
                       at: str) -> Edit:
        prev = conn.execute("SELECT text, author, at, version FROM comments WHERE dataset = ? "
                            "AND example_id = ?", (self.dataset, example_id)).fetchone()
        version = 1 if prev is None else int(prev[3]) + 1
        conn.execute(
            "INSERT INTO comments(dataset, example_id, text, author, at, version) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(dataset, example_id) DO UPDATE SET "
            "text = excluded.text, author = excluded.author, at = excluded.at, "
            "version = excluded.version",
            (self.dataset, example_id, text, self.author, at, version))
        seq = self._log(conn, at, "comment", example_id=example_id,
                        old=None if prev is None else prev[0], new=text)
        return Edit(seq=seq, dataset=self.dataset, action="comment", example_id=example_id,
                    category=None, old=None if prev is None else prev[0], new=text,
                    author=self.author, at=at, version=version,
                    previous_author=None if prev is None else prev[1],
                    previous_at=None if prev is None else prev[2])

    @staticmethod
    def _example(example_id: Any) -> str:
        key = str(example_id)
        if not key:
            raise DashboardError("an example id must not be empty")
        return key

    def set_tag(self, example_id: str, category: str, value: bool | None) -> Edit:
        """Tick (True), untick (False) or clear (None) one category of one example.

        Returns after the edit is committed to disk.
        """
        key, stored = self._example(example_id), _tag_value(value)
        with self._transaction(write=True) as conn:
            return self._write_tag(conn, key, category, stored, _now())

    def set_tags(self, example_id: str, values: Mapping[str, bool | None]) -> list[Edit]:
        """Several categories of one example in one transaction (all saved or none)."""
        key = self._example(example_id)
        stored = {c: _tag_value(v) for c, v in values.items()}
        at = _now()
        with self._transaction(write=True) as conn:
            return [self._write_tag(conn, key, c, v, at) for c, v in stored.items()]

    def set_comment(self, example_id: str, text: str) -> Edit:
        """Set (or with "" clear) the comment of one example; returns after the commit."""
        key = self._example(example_id)
        with self._transaction(write=True) as conn:
            return self._write_comment(conn, key, str(text), _now())

    # -- reads -----------------------------------------------------------------------------------
    def tag_records(self) -> pd.DataFrame:
        """Every stored tag of the active categories, cleared ones (value NA) included.

        Columns: example_id, category, value (nullable boolean), author, at, version.
        """
        return self._records(
            "SELECT t.example_id, c.name, t.value, t.author, t.at, t.version FROM tags t "
            "JOIN categories c ON c.id = t.category_id WHERE t.dataset = ? AND "
            "c.removed_at IS NULL ORDER BY t.example_id, c.position, c.id",
            ["example_id", "category", "value", "author", "at", "version"])

    def _records(self, query: str, columns: list[str]) -> pd.DataFrame:
        """Rows of a query on this dataset (its one parameter) as a frame whose ``value``
        column holds nullable booleans: tags, reviewers' values, reconciliations."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(query, (self.dataset,)).fetchall()
        frame = pd.DataFrame(rows, columns=columns)
        frame["value"] = _tag_array(frame["value"])
        return frame

    def tags(self) -> pd.DataFrame:
        """One row per reviewed example: ``example_id``, then one column per category.

        Values are nullable booleans, the resolved ones (reviewers agree, or a reconciliation);
        a reviewed example (one with any value) reads False for the categories never ticked,
        and examples whose tags were all cleared are left out, as are examples still in
        conflict (:meth:`conflicts`): the tally waits for them.
        """
        with self._transaction(write=False) as conn:
            cats = [name for _, name, _ in self._active(conn)]
            rows = conn.execute(
                "SELECT t.example_id, c.name, t.value FROM tags t JOIN categories c ON "
                "c.id = t.category_id WHERE t.dataset = ? AND c.removed_at IS NULL AND "
                "t.example_id NOT IN (SELECT x.example_id FROM tags x JOIN categories k ON "
                "k.id = x.category_id WHERE x.dataset = ? AND x.conflict = 1 AND "
                "k.removed_at IS NULL)", (self.dataset, self.dataset)).fetchall()
        return _wide(pd.DataFrame(rows, columns=["example_id", "category", "value"]), cats)

    # -- a team of reviewers -------------------------------------------------------------------
    def resolved(self, example_id: str) -> tuple[dict[str, bool | None], bool]:
        """One example's resolved values by active category, and whether reviewers disagree
        on any of them (then the example waits out of the tally)."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT c.name, t.value, t.conflict FROM tags t JOIN categories c ON c.id = "
                "t.category_id WHERE t.dataset = ? AND t.example_id = ? AND c.removed_at IS "
                "NULL", (self.dataset, self._example(example_id))).fetchall()
        return ({name: None if v is None else bool(v) for name, v, _ in rows},
                any(bool(c) for _, _, c in rows))

    def has_reviewed(self, example_id: str, reviewer: str | None = None) -> bool:
        """Whether a reviewer (default this store's author) gave the example any value."""
        reviewer = self.author if reviewer is None else str(reviewer)
        with self._transaction(write=False) as conn:
            return conn.execute(
                "SELECT EXISTS(SELECT 1 FROM reviews WHERE dataset = ? AND example_id = ? AND "
                "reviewer = ? AND value IS NOT NULL)",
                (self.dataset, self._example(example_id), reviewer)).fetchone()[0] == 1

    def reviews(self) -> pd.DataFrame:
        """Every reviewer's own values: example_id, category, reviewer, value, at."""
        return self._records(
            "SELECT r.example_id, c.name, r.reviewer, r.value, r.at FROM reviews r JOIN "
            "categories c ON c.id = r.category_id WHERE r.dataset = ? AND c.removed_at IS "
            "NULL ORDER BY r.example_id, c.position, c.id, r.reviewer",
            ["example_id", "category", "reviewer", "value", "at"])

    def conflicts(self) -> pd.DataFrame:
        """One row per (example, category) where reviewers disagree and nobody reconciled
        them: ``example_id``, ``category`` and one column per reviewer with their value."""
        with self._transaction(write=False) as conn:
            pairs = conn.execute(
                "SELECT t.example_id, c.name FROM tags t JOIN categories c ON c.id = "
                "t.category_id WHERE t.dataset = ? AND t.conflict = 1 AND c.removed_at IS NULL "
                "ORDER BY t.example_id, c.position, c.id", (self.dataset,)).fetchall()
        if not pairs:
            return pd.DataFrame(columns=["example_id", "category"])
        wanted = pd.DataFrame(pairs, columns=["example_id", "category"])
        given = self.reviews().dropna(subset=["value"])
        mine = given.merge(wanted, on=["example_id", "category"])
        wide = mine.pivot(index=["example_id", "category"], columns="reviewer", values="value")
        wide.columns.name = None
        out = wanted.merge(wide.reset_index(), on=["example_id", "category"], how="left")
        for reviewer in wide.columns:
            out[reviewer] = out[reviewer].astype("boolean")
        return out

    def reconcile(self, example_id: str, category: str, value: bool | None) -> Edit:
        """Record how a disagreement is resolved (by this store's author), so the example
        counts again; the reviewers' own values stay as they were."""
        key, stored = self._example(example_id), _tag_value(value)
        at = _now()
        with self._transaction(write=True) as conn:
            cid = self._category_id(conn, category)
            prev = conn.execute("SELECT value FROM tags WHERE dataset = ? AND example_id = ? AND "
                                "category_id = ?", (self.dataset, key, cid)).fetchone()
            conn.execute(
                "INSERT INTO resolutions(dataset, example_id, category_id, value, by, at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(dataset, example_id, category_id) DO "
                "UPDATE SET value = excluded.value, by = excluded.by, at = excluded.at",
                (self.dataset, key, cid, stored, self.author, at))
            self._resolve(conn, key, cid, at)
            old = None if prev is None else prev[0]
            seq = self._log(conn, at, "reconcile", example_id=key, category_id=cid,
                            category=category, old=_text(old), new=_text(stored))
        return Edit(seq=seq, dataset=self.dataset, action="reconcile", example_id=key,
                    category=category, old=None if old is None else bool(old),
                    new=None if stored is None else bool(stored), author=self.author, at=at,
                    version=1, previous_author=None, previous_at=None)

    def resolutions(self) -> pd.DataFrame:
        """The reconciliations made: example_id, category, value, by, at."""
        return self._records(
            "SELECT r.example_id, c.name, r.value, r.by, r.at FROM resolutions r JOIN "
            "categories c ON c.id = r.category_id WHERE r.dataset = ? ORDER BY r.at",
            ["example_id", "category", "value", "by", "at"])

    def agreement(self) -> pd.DataFrame:
        """Cohen's κ per category on the examples two reviewers both reviewed.

        Indexed by category: ``n_double`` (examples with two reviewers' answers), ``kappa``,
        ``kappa_low``, ``kappa_high`` (95%, see :func:`dashboard.metrics.agreement.cohen_kappa`),
        ``disagreements`` and ``not_well_defined`` (the whole interval below 0.6). A reviewer
        who reviewed an example answered every category (unticked reads False). With more
        than two reviewers on an example, the first two by name are compared.
        """
        given = self.reviews().dropna(subset=["value"])
        with self._transaction(write=False) as conn:
            cats = [name for _, name, _ in self._active(conn)]
        rows = []
        reviewed = given[["example_id", "reviewer"]].drop_duplicates()
        pairs = reviewed.sort_values(["example_id", "reviewer"]).groupby("example_id")[
            "reviewer"].apply(list)
        pairs = pairs[pairs.map(len) >= 2]
        answers = given.set_index(["example_id", "reviewer", "category"])["value"]
        for c in cats:
            first, second = [], []
            for example, names in pairs.items():
                a = answers.get((example, names[0], c), False)
                b = answers.get((example, names[1], c), False)
                first.append(bool(a) if a is not pd.NA else False)
                second.append(bool(b) if b is not pd.NA else False)
            k = cohen_kappa(np.asarray(first, dtype=bool), np.asarray(second, dtype=bool))
            rows.append({"category": c, "n_double": k.n, "kappa": k.kappa,
                         "kappa_low": k.low, "kappa_high": k.high,
                         "disagreements": k.disagreements, "not_well_defined": k.clearly_low})
        return pd.DataFrame(rows).set_index("category")

    def assign(self, keys: Sequence[str], reviewers: Sequence[str], *, overlap: float = 0.2,
               seed: int = 0) -> dict[str, list[str]]:
        """Split a review sample among reviewers: even, disjoint shares plus an ``overlap``
        share of examples reviewed by two of them (for :meth:`agreement`).

        Deterministic: the same keys (in any order), reviewers and seed give the same shares.
        The overlap examples go to pairs of reviewers in turn; every other example to one
        reviewer, so each share differs from the others by at most one or two examples.
        Saved in the store (replacing this dataset's previous assignment); returns
        ``{reviewer: [keys]}`` in review order.
        """
        names = list(dict.fromkeys(str(r).strip() for r in reviewers if str(r).strip()))
        if not names:
            raise DashboardError("assign needs at least one reviewer")
        if not 0.0 <= float(overlap) <= 1.0:
            raise DashboardError(f"overlap must be between 0 and 1, got {overlap}")
        unique = sorted({self._example(k) for k in keys})
        order = pd.util.hash_array(np.asarray(unique, dtype=object),
                                   hash_key=f"mldash-as{int(seed) % 10**7:07d}")  # 16 bytes
        ordered = [unique[i] for i in np.argsort(order, kind="stable")]
        doubled = round(float(overlap) * len(ordered)) if len(names) > 1 else 0
        shares: dict[str, list[tuple[str, int]]] = {r: [] for r in names}
        load = dict.fromkeys(names, 0)
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
        for i, key in enumerate(ordered[:doubled]):
            a, b = pairs[i % len(pairs)]
            for r in (a, b):
                shares[r].append((key, 1))
                load[r] += 1
        for key in ordered[doubled:]:  # the least loaded reviewer next, ties by name order
            r = min(names, key=lambda n: (load[n], names.index(n)))
            shares[r].append((key, 0))
            load[r] += 1
        with self._transaction(write=True) as conn:
            conn.execute("DELETE FROM assignments WHERE dataset = ?", (self.dataset,))
            conn.executemany(
                "INSERT INTO assignments(dataset, example_id, reviewer, position, overlap) "
                "VALUES (?, ?, ?, ?, ?)",
                [(self.dataset, key, r, pos, dup) for r, items in shares.items()
                 for pos, (key, dup) in enumerate(items)])
            self._log(conn, _now(), "assign", new=f"{len(ordered)} examples to "
                      f"{', '.join(names)}, overlap {float(overlap):g}, seed {int(seed)}")
        return {r: [k for k, _ in items] for r, items in shares.items()}

    def assignment(self, reviewer: str | None = None) -> pd.DataFrame:
        """A reviewer's share (default this store's author): example_id, overlap, done (this
        reviewer gave a value to any category), in review order."""
        reviewer = self.author if reviewer is None else str(reviewer)
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT a.example_id, a.overlap, EXISTS(SELECT 1 FROM reviews r WHERE "
                "r.dataset = a.dataset AND r.example_id = a.example_id AND r.reviewer = "
                "a.reviewer AND r.value IS NOT NULL) FROM assignments a WHERE a.dataset = ? "
                "AND a.reviewer = ? ORDER BY a.position", (self.dataset, reviewer)).fetchall()
        frame = pd.DataFrame(rows, columns=["example_id", "overlap", "done"])
        return frame.astype({"overlap": bool, "done": bool})

    def progress(self, reviewer: str | None = None) -> str | None:
        """"your 34 of 100 (12 done)", or None when the reviewer has no share."""
        mine = self.assignment(reviewer)
        if mine.empty:
            return None
        with self._transaction(write=False) as conn:
            total = conn.execute("SELECT COUNT(DISTINCT example_id) FROM assignments WHERE "
                                 "dataset = ?", (self.dataset,)).fetchone()[0]
        return f"your {len(mine):,} of {int(total):,} ({int(mine['done'].sum()):,} done)"

    def next_for(self, reviewer: str | None = None) -> str | None:
        """The next example of the reviewer's share that they have not reviewed yet."""
        mine = self.assignment(reviewer)
        left = mine[~mine["done"]]
        return None if left.empty else str(left["example_id"].iloc[0])

    def comments(self) -> dict[str, str]:
        """Non-empty comments by example id."""
        with self._transaction(write=False) as conn:
            rows = conn.execute("SELECT example_id, text FROM comments WHERE dataset = ? AND "
                                "text != '' ORDER BY example_id", (self.dataset,)).fetchall()
        return dict(rows)

    def comment_records(self) -> pd.DataFrame:
        """Every comment with its author, time and version (cleared ones as "")."""
        with self._transaction(write=False) as conn:
            rows = conn.execute("SELECT example_id, text, author, at, version FROM comments "
                                "WHERE dataset = ? ORDER BY example_id",
                                (self.dataset,)).fetchall()
        return pd.DataFrame(rows, columns=["example_id", "text", "author", "at", "version"])

    def history(self, example_id: str | None = None) -> pd.DataFrame:
        """The append-only edit log (oldest first), optionally for one example."""
        sql = f"SELECT {', '.join(_LOG_COLUMNS)} FROM edits WHERE dataset = ?"
        args: tuple[Any, ...] = (self.dataset,)
        if example_id is not None:
            sql += " AND example_id = ?"
            args += (str(example_id),)
        with self._transaction(write=False) as conn:
            rows = conn.execute(sql + " ORDER BY seq", args).fetchall()
        # object columns, so a missing value reads None (pandas' str dtype would make it NaN)
        return pd.DataFrame({c: pd.Series([r[i] for r in rows], dtype=np.int64 if c == "seq"
                                          else object) for i, c in enumerate(_LOG_COLUMNS)})

    # -- CSV -------------------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> Path:
        """Write the tags and comments as CSV: example_id, one column per category, comment.

        Text cells are quoted and those a spreadsheet would run as a formula neutralised
        (:func:`write_safe_csv`); :meth:`import_csv` undoes it."""
        with self._transaction(write=False):  # one snapshot for both reads
            tags, comments = self.tags(), self.comments()
        ids = sorted(set(tags["example_id"]) | set(comments))
        out = tags.set_index("example_id").reindex(ids)
        out.insert(len(out.columns), "comment", [comments.get(i, "") for i in ids])
        out.index.name = "example_id"
        return write_safe_csv(out, path)

    def import_csv(self, path: str | Path | IO[bytes], *, id_column: str | None = None) -> int:
        """Read tags (boolean columns) and comments (a ``comment`` column) from a CSV file
        (a path or a binary file object, e.g. an upload).

        The id column is ``id_column``, else ``example_id``, ``key`` or ``id``, else the first
        column. Columns that describe the example rather than tag it (label, prediction, score,
        correct, split, model, weight: what the grid's export adds) are ignored. Categories
        missing from the store are added; empty cells are skipped, and so are values equal to
        the stored ones. One transaction: all or nothing. Returns the number of edits written.
        """
        source = str(path) if isinstance(path, (str, Path)) else getattr(path, "name", "<csv>")
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except (OSError, ValueError) as exc:
            raise DashboardError(f"could not read the tags CSV: {exc}", file=source) from None
        df = restore_frame(df)  # exports neutralise cells a spreadsheet would run
        if df.empty:
            return 0
        if id_column is None:
            id_column = next((c for c in ("example_id", "key", "id") if c in df.columns),
                             df.columns[0])
        if id_column not in df.columns:
            raise DashboardError("missing id column", file=source, column=id_column)
        if df[id_column].isna().any():
            raise DashboardError("missing example id", file=source, column=id_column,
                                 row=int(np.flatnonzero(df[id_column].isna())[0]) + 1)
        comment_col = next((c for c in df.columns if str(c).strip().lower() in
                            ("comment", "comments")), None)
        columns: dict[str, pd.Series] = {}
        for c in df.columns:
            if (c in (id_column, comment_col) or str(c).strip().lower() in _NOT_TAGS
                    or df[c].isna().all()):
                continue
            parsed = boolish(df[c])
            if parsed is None:
                bad = df[c].dropna()
                raise DashboardError("tag columns hold True/False (or yes/no, 1/0, x) or nothing; "
                                     f"found {bad.iloc[0]!r}", file=source, column=str(c),
                                     row=int(bad.index[0]) + 1)
            columns[str(c)] = parsed
        ids = df[id_column].astype(str).to_numpy()
        written = 0
        at = _now()
        with self._transaction(write=True) as conn:
            current = {(e, c): v for e, c, v in conn.execute(
                "SELECT t.example_id, c.name, t.value FROM tags t JOIN categories c ON "
                "c.id = t.category_id WHERE t.dataset = ? AND c.removed_at IS NULL",
                (self.dataset,))}
            for column, values in columns.items():
                name = self._ensure_category(conn, column)[0]
                for key, value in zip(ids, values, strict=True):
                    if value is pd.NA:
                        continue
                    stored = int(bool(value))
                    if current.get((key, name), -1) != stored:
                        self._write_tag(conn, key, name, stored, at)
                        written += 1
            if comment_col is not None:
                existing = dict(conn.execute("SELECT example_id, text FROM comments WHERE "
                                             "dataset = ?", (self.dataset,)).fetchall())
                for key, text in zip(ids, df[comment_col], strict=True):
                    if isinstance(text, str) and existing.get(key) != text:
                        self._write_comment(conn, key, text, at)
                        written += 1
        return written


def _tag_array(values: pd.Series) -> pd.arrays.BooleanArray:
    """Stored values (1, 0, None; NaN once pandas has seen a None) as nullable booleans."""
    return pd.array([None if pd.isna(v) else bool(v) for v in values], dtype="boolean")


def _wide(records: pd.DataFrame, categories: Sequence[str]) -> pd.DataFrame:
    """Long (example_id, category, value) records as the wide ``tags()`` frame."""
    cats = list(categories)
    if records.empty:
        empty = pd.DataFrame({c: pd.array([], dtype="boolean") for c in cats})
        empty.insert(0, "example_id", pd.Series([], dtype=object))
        return empty
    long = records.assign(value=_tag_array(records["value"]))
    wide = long.pivot(index="example_id", columns="category", values="value")
    wide = wide.reindex(columns=cats).astype("boolean")
    wide = wide[wide.notna().any(axis=1).to_numpy()].fillna(False).sort_index()
    wide.columns.name = None
    return wide.rename_axis("example_id").reset_index()


# -- binding a store to a Results model -----------------------------------------------------------
PACKAGE_DIR = Path(__file__).resolve().parent
"""The installed package: a store never goes inside it (it may be read-only, and is shared)."""
BUNDLED_DEMO = PACKAGE_DIR / "data" / "demo" / "cat_results.parquet"


def user_data_dir() -> Path:
    """The user's data folder for this program (``$XDG_DATA_HOME`` or ``~/.local/share``)."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "ml-diagnosis-dashboard"


def default_store_for(results_file: str | Path | None) -> Path:
    """The annotation store ``serve``, ``report`` and the tally grid use for a results file.

    ``<name>.annotations.sqlite`` beside the file; an ``annotations.sqlite`` there written by
    earlier versions is kept using when it exists and the new name does not. Files inside the
    installed package (the bundled demo: ``demo.annotations.sqlite``) or in a folder that
    cannot be written use the user's data folder (:func:`user_data_dir`). Without a file
    (results built from a frame or an estimator): ``annotations.sqlite`` in the user's data
    folder too, so a notebook leaves its folder (a clone) as it was.
    """
    if results_file is None:
        return user_data_dir() / DEFAULT_STORE_NAME
    path = Path(results_file).resolve()
    name = ("demo" if path == BUNDLED_DEMO else path.stem) + ".annotations.sqlite"
    folder = path.parent
    if folder.is_relative_to(PACKAGE_DIR) or not os.access(folder, os.W_OK):
        return user_data_dir() / name
    if not (folder / name).exists() and (folder / DEFAULT_STORE_NAME).exists():
        return folder / DEFAULT_STORE_NAME
    return folder / name


def other_stores(store: str | Path) -> list[Path]:
    """Annotation stores beside ``store`` (``*.annotations.sqlite``, ``annotations.sqlite``):
    where reviews of the same data saved under another file name are, when ``store`` (a
    results file's default) is new (issue 21)."""
    store = Path(store)
    try:
        found = [*store.parent.glob("*.annotations.sqlite"), store.parent / DEFAULT_STORE_NAME]
    except OSError:
        return []
    return sorted(p for p in set(found) if p != store and p.is_file())


def default_store_path(results: Results) -> Path:
    """Where the store of ``results`` lives by default (:func:`default_store_for` its file)."""
    base = results.schema.base_dir
    return default_store_for(None if base is None else
                             Path(base) / Path(results.schema.source).name)


def dataset_name(results: Results) -> str:
    """The name reviews of ``results`` are kept under: the results file's name (``name`` of
    :meth:`Results.from_frame` otherwise), so a re-export of the same file finds them."""
    return str(results.name or "results")


def _open_store(results: Results, store: AnnotationStore | str | Path | None,
                author: str | None) -> AnnotationStore:
    if store is None:
        store = default_store_path(results)
        store.parent.mkdir(parents=True, exist_ok=True)  # the user data folder, the first time
    if not isinstance(store, AnnotationStore):
        return AnnotationStore(store, dataset=dataset_name(results), author=author)
    if store.dataset != dataset_name(results) and store.dataset != results.fingerprint:
        raise DashboardError(f"the annotation store is bound to dataset {store.dataset!r} but "
                             f"these results are dataset {dataset_name(results)!r}: tags of one "
                             "dataset never go to another", file=str(store.path))
    if author:
        store.author = author
    return store


@dataclass(frozen=True)
class SyncResult:
    """What :func:`sync_results` loaded: reviewed examples, comments, ids the results lack."""

    reviewed: int
    comments: int
    unknown_ids: tuple[str, ...]


def file_tags(results: Results) -> pd.DataFrame:
    """The review tags given in the results file (the base that store edits override)."""
    # Results has no public accessor for them: they are its initial tags
    return results.file_tags


def sync_results(results: Results, store: AnnotationStore, *, base: pd.DataFrame | None = None,
                 keys: Collection[str] | None = None) -> SyncResult:
    """Load the store into ``results.tags`` and ``results.comments`` (replacing them).

    The tags given in the results file are the base; the store's categories decide the
    columns (renamed file columns follow their new name, removed ones disappear), and every
    stored edit, a cleared value included, wins over the file. A reviewed example reads False
    in the categories nobody ticked. Ids the results do not hold are left out and reported.
    ``base`` (:func:`file_tags`) may be given to save recomputing it on every refresh, and
    ``keys`` (a set of the results' example keys) to check ids against instead of the results.
    """
    base = file_tags(results) if base is None else base
    mapping = store.adopt_categories(list(base.columns))
    base = base[[c for c in base.columns if mapping.get(c)]]
    base = base.rename(columns={c: mapping[c] for c in base.columns})
    records = store.tag_records()
    cats = list(store.categories())
    ids = records["example_id"].tolist()
    stored_comments = store.comments()
    # only the ids the store holds are looked up: one pass over the rows, no set of them all
    known = keys if keys is not None else results.known_keys([*ids, *stored_comments])
    is_known = np.fromiter((k in known for k in ids), dtype=bool, count=len(ids))
    unknown = sorted({k for k, ok in zip(ids, is_known, strict=True) if not ok})
    records = records[is_known]
    base_keys = base.index.astype(str)
    rows = base_keys.append(pd.Index(pd.unique(records["example_id"]))).unique()
    merged = base.set_axis(base_keys).reindex(index=rows, columns=cats).astype("boolean")
    for category, group in records.groupby("category", sort=False):
        merged.loc[group["example_id"].to_numpy(), category] = group["value"].array
    merged = merged[merged.notna().any(axis=1).to_numpy()].fillna(False)
    merged.index.name = "key"
    merged.columns.name = None
    current = results.tags
    if not (merged.index.equals(current.index) and list(merged.columns) ==
            list(current.columns) and merged.equals(current)):
        results.tags = merged
    comments = {k: v for k, v in stored_comments.items() if k in known}
    if comments != results.comments:
        results.comments = comments
    return SyncResult(reviewed=len(merged), comments=len(comments), unknown_ids=tuple(unknown))


class ReviewSession:
    """Review edits applied to the store first (durably), then to the Results model.

    Parameters
    ----------
    results : Results
        The model whose ``tags`` and ``comments`` follow the store.
    store : AnnotationStore, str, Path or None
        A store for :func:`dataset_name` of ``results``, or a path for one (default
        :func:`default_store_path`).
    author : str, optional
        Recorded with each edit.

    Every method validates its input against the results, writes to the store (returning only
    after the commit) and only then updates ``results``: the model never shows an edit the
    store does not have. Opening a session moves the reviews of an older, hash-named dataset
    to the name (:meth:`AnnotationStore.adopt_legacy_dataset`); :attr:`notice` says so, and
    how many reviewed examples these results no longer hold.
    """

    def __init__(self, results: Results, store: AnnotationStore | str | Path | None = None, *,
                 author: str | None = None) -> None:
        self.results = results
        self.defaulted = store is None
        self.store = _open_store(results, store, author)
        self._base = file_tags(results)
        self.adopted_from = self.store.adopt_legacy_dataset(
            results.known_keys, lambda: results.fingerprint)
        self.followed = None
        if self.adopted_from is None and not isinstance(store, AnnotationStore):
            self.followed = self.store.follow_reviews_of(results.known_keys)
        self.last_sync = self.sync()

    @property
    def notice(self) -> str:
        """What a reviewer should know about this store ("" when nothing): where it is when it
        was chosen by default, reviews moved from an older store layout, reviewed examples
        these results no longer hold."""
        parts = []
        if self.defaulted:
            parts.append(f"Reviews are saved in {self.store.path}.")
        if self.followed:
            parts.append(f"These results hold the examples reviewed as {self.followed!r} (the "
                         f"same data under another file name): its reviews, in "
                         f"{self.store.path}, are shown, and new ones are saved with them.")
        if self.adopted_from:
            parts.append(f"Reviews saved under the earlier dataset id {self.adopted_from} now "
                         f"follow {self.store.dataset!r} by example id.")
        missing = len(self.last_sync.unknown_ids)
        if missing:
            parts.append(f"{missing} reviewed example{'s' if missing != 1 else ''} in "
                         f"{self.store.path} {'are' if missing != 1 else 'is'} not in these "
                         "results (kept in the store; they come back if the examples do).")
        return " ".join(parts)

    def sync(self) -> SyncResult:
        """Reload the store (others' edits included) into the results."""
        self.last_sync = sync_results(self.results, self.store, base=self._base)
        return self.last_sync

    def _check(self, key: str, category: str | None = None) -> str:
        key = str(key)
        if not self.results.has_key(key):
            raise DashboardError(f"unknown example {key!r}")
        if category is not None and category not in self.results.categories:
            raise DashboardError(f"unknown category {category!r}; add it first")
        return key

    def set_tag(self, key: str, category: str, value: bool | None) -> Edit:
        """Tick, untick or clear one box: store (durable), then results (the resolved
        review: another reviewer's answer may agree, or conflict and hold the example out)."""
        key = self._check(key, category)
        edit = self.store.set_tag(key, category, value)
        self._apply(key)
        return edit

    def _apply(self, key: str) -> None:
        """The store's resolved review of one example into the results."""
        values, conflict = self.store.resolved(key)
        if conflict:
            self.results.clear_review(key)
        else:
            self.results.set_review(key, values)

    def reconcile(self, key: str, category: str, value: bool | None) -> Edit:
        """Resolve reviewers' disagreement on one box (recorded with who did it)."""
        key = self._check(key, category)
        edit = self.store.reconcile(key, category, value)
        self._apply(key)
        return edit

    def is_reviewed(self, key: str) -> bool:
        tags = self.results.tags
        return bool(key in tags.index and tags.loc[key].notna().any())

    def set_reviewed(self, key: str, reviewed: bool) -> list[Edit]:
        """Mark an example reviewed with nothing ticked, or clear its whole review.

        A reviewed example counts in the tally's denominator even when no category applies.
        """
        key = self._check(key)
        if bool(reviewed) == self.store.has_reviewed(key):  # this reviewer's own review
            return []
        if reviewed:
            edits = self.store.set_tags(key, {MISLABELLED: False})
        else:
            edits = self.store.set_tags(key, {c: None for c in self.results.categories})
        self._apply(key)
        return edits

    def set_comment(self, key: str, text: str) -> Edit:
        """Set an example's comment: store (durable), then results."""
        key = self._check(key)
        edit = self.store.set_comment(key, text)
        if text:
            self.results.set_comment(key, text)
        elif key in self.results.comments:
            self.results.comments = {k: v for k, v in self.results.comments.items() if k != key}
        return edit

    def add_category(self, name: str) -> str:
        """Add a category (a removed one comes back with its tags); returns the name used."""
        name, restored = self.store._add_category(name)
        if restored:
            self.sync()
        elif name in self.results.categories:
            return name
        else:
            self.results.add_category(name)
        return name

    def rename_category(self, old: str, new: str) -> str:
        new = self.store.rename_category(old, new)
        self.results.rename_category(old, new)
        return new

    def remove_category(self, name: str) -> None:
        self.store.remove_category(name)
        self.results.remove_category(name)
