"""Entry point of the served notebook: build the dashboard from the environment.

The launcher (:mod:`dashboard.serve`) sets the ``DASHBOARD_*`` variables; the
notebook's only cell is ``app_from_environment()``.

Composition only: the results file is loaded into :class:`~dashboard.results.Results`, shown
by :class:`~dashboard.widgets.dashboard.Dashboard`, and a "Download report" bar offers the
self-contained report of :mod:`dashboard.report` as a data-URI link. Bad input shows one
escaped message, never a traceback.

Loading in Voilà: Voilà (without progressive rendering) sends a cell's outputs only when the
cell has finished, and its template shows "Loading results…" until then, so a widget shown
early inside the cell is never seen. On a live Voilà page (``VOILA_PREHEAT=False``) the cell
therefore returns at once a light :class:`DeferredApp` reading "Loading <file>…"; the heavy
imports, the file and the views are loaded when the page has drawn it (the frontend reports
the view through the widget's ``_view_count``), with the message naming each step. A
preheated Voilà kernel (``VOILA_PREHEAT=True``, the launcher's default) builds everything
ahead of time inside a :class:`PreheatedApp`, which reads the review store again (or the
whole file, if it changed) when a page first shows it. Elsewhere (JupyterLab, nbclient)
everything is built before returning.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from dashboard.serve import (
    ENV_CACHE,
    ENV_COLUMNS,
    ENV_DATASET_NAME,
    ENV_ENGINE,
    ENV_FILE,
    ENV_HUMAN_LEVEL,
    ENV_RUNS,
    ENV_STORE,
)

if TYPE_CHECKING:
    from dashboard.results import Results
    from dashboard.runs import Runs
    from dashboard.widgets.dashboard import Dashboard

ENV_VOILA_PREHEAT = "VOILA_PREHEAT"
"""Set by Voilà in its kernels: ``"False"`` for a page's own kernel, ``"True"`` when preheated."""

_SPINNER_STYLE = """<style>
.mldash-loading { display: flex; align-items: center; gap: 12px; padding: 24px 8px;
                  font-size: 15px; }
.mldash-loading-spinner { width: 22px; height: 22px; border-radius: 50%;
                          border: 3px solid rgba(128,128,128,.3); border-top-color: #2563eb;
                          animation: mldash-loading-spin .9s linear infinite; }
@keyframes mldash-loading-spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .mldash-loading-spinner { animation-duration: 3s; } }
</style>"""


NO_VIEW_TEXT = ("The dashboard cannot be drawn: this page is not connected to its kernel. "
                "Reload the page.")
"""What a page shows in place of the dashboard when its widgets cannot be drawn."""


class _OneLineText:
    """A widget whose plain-text form is :data:`NO_VIEW_TEXT`, not a Python repr.

    A front end shows the text form when it cannot draw the widget (its kernel is gone);
    a repr such as ``PreheatedApp(children=(DashboardApp(...`` means nothing to a user."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        bundle = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        if bundle:
            bundle["text/plain"] = NO_VIEW_TEXT
        return bundle


def _close_page_widget(comm: Any, _msg: dict) -> None:
    """Close a widget comm the page opened, creating nothing."""
    comm.close()


def refuse_widgets_from_the_page() -> None:
    """Make the kernel close every widget the page asks it to create.

    Every widget of the dashboard is created by the kernel; ipywidgets would otherwise build
    any registered model, with any state, for whoever holds the page's websocket (issue 21).
    The page keeps reading and updating the kernel's widgets (``jupyter.widget.control`` and
    the widgets' own comms)."""
    from ipywidgets import comm as widget_comm

    manager = widget_comm.get_comm_manager()
    if manager is not None:
        manager.register_target("jupyter.widget", _close_page_widget)


def message_widget(title: str, detail: str) -> widgets.HTML:
    """A plain, escaped message box shown instead of a traceback.

    Parameters
    ----------
    title : str
        One-line summary.
    detail : str
        What went wrong and what to do.

    Returns
    -------
    ipywidgets.HTML
        Widget with the CSS class ``mldash-message``.
    """
    box = widgets.HTML(
        f"<div role='alert' style='padding:12px 16px;border-left:4px solid #c62828;"
        f"background:#fdecea;color:#1f2937'><b>{html.escape(title)}</b><br>"
        f"{html.escape(detail)}</div>"
    )
    box.add_class("mldash-message")
    return box


def loading_html(text: str) -> str:
    """Markup of the loading line: a CSS spinner and the escaped ``text``."""
    return (f"{_SPINNER_STYLE}<div class='mldash-loading' role='status' aria-live='polite'>"
            f"<div class='mldash-loading-spinner' aria-hidden='true'></div>"
            f"<span class='mldash-loading-text'>{html.escape(text)}</span></div>")


def _parse_human_level(raw: str | None) -> dict[str, float] | None:
    if not raw:
        return None
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object {name: error rate}")
    return {str(k): float(v) for k, v in value.items()}


def _size(path: Path) -> str:
    try:
        return f"{path.stat().st_size / 1e6:.1f} MB"
    except OSError:
        return "size unknown"


def report_filename(title: str) -> str:
    """File name offered for the report: a lower-case slug of ``title`` + ``-diagnosis.html``."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "results"
    return f"{slug}-diagnosis.html"


class DashboardApp(_OneLineText, widgets.VBox):
    """The served page: a "Download report" bar above the :class:`Dashboard`.

    Parameters
    ----------
    results : Results
        The shared model.
    store : str or Path, optional
        Annotation SQLite store (default: beside the results file).
    title : str, optional
        Display name of the data set.
    """

    def __init__(self, results: Results, *, store: str | Path | None = None,
                 title: str | None = None,
                 extra_views: tuple[tuple[str, widgets.Widget], ...] = (),
                 **kwargs: Any) -> None:
        from dashboard.widgets.dashboard import Dashboard

        self.results = results
        self.title = title or results.name
        self.dashboard: Dashboard = Dashboard(
            results, store=None if store is None else str(store), title=self.title,
            extra_views=extra_views)  # eager: a tab switch shows a drawn, current view
        self.report_button = widgets.Button(
            description="Download report", icon="download",
            tooltip="Build a self-contained HTML diagnosis of the current view (opens offline)",
            layout=widgets.Layout(width="auto"))
        self.report_button.add_class("mldash-report-button")
        self.report_link = widgets.HTML(layout=widgets.Layout(margin="0 12px"))
        self.report_link.add_class("mldash-report-link")
        self.report_status = widgets.HTML()
        self.report_status.add_class("mldash-report-status")
        self.report_bytes = 0
        from dashboard.widgets.download import Download

        self.downloader = Download()  # the click that builds the report also saves it
        bar = widgets.HBox([self.report_status, self.report_link, self.report_button,
                            self.downloader],
                           layout=widgets.Layout(align_items="center",
                                                 justify_content="flex-end", width="100%"))
        bar.add_class("mldash-report-bar")
        super().__init__([bar, self.dashboard], **kwargs)
        self.add_class("mldash-app")
        self.report_button.on_click(self._on_report_click)
        results.observe(self._on_results_change,
                        names=["threshold", "model", "positive_class", "human_reference",
                               "weighted", "tags"])

    def _on_report_click(self, _button: widgets.Button | None = None) -> None:
        self.build_report()

    def refresh_reviews(self) -> None:
        """Read the annotation store again: ticks and comments saved since appear."""
        self.dashboard.tally_grid.refresh()

    def _on_results_change(self, change: dict) -> None:
        # a report describes the state it was built in: drop a link that no longer matches
        if self.report_link.value:
            self.report_link.value = ""
            self.report_bytes = 0
            self.report_status.value = ("<span style='opacity:.75'>The view changed: download "
                                        "the report again for the new state.</span>")

    def build_report(self) -> str:
        """Build the report of the current state and offer it as a download link.

        Returns
        -------
        str
            The report's HTML ("" when building failed; the status line says why).
        """
        from dashboard.report import build_report

        self.report_button.disabled = True
        self.report_link.value = ""
        self.report_status.value = "Building the report…"
        try:
            started = time.perf_counter()
            text = build_report(self.results, title=self.title)
            data = text.encode("utf-8")
            self.report_bytes = len(data)
            name = report_filename(self.title)
            href = "data:text/html;charset=utf-8;base64," + base64.b64encode(data).decode("ascii")
            self.downloader.save(data, name, "text/html")
            # the same file again, should the browser have held the download back
            self.report_link.value = (
                f"<a href='{href}' download='{html.escape(name, quote=True)}' "
                "class='mldash-report-download' style='color:#2563eb;font-weight:600;"
                f"text-decoration:underline'>Save {html.escape(name)}</a>")
            r = self.results
            state = f"model {r.model}" + (f", threshold {r.threshold:.3g}" if r.has_scores
                                          else "")
            self.report_status.value = (
                "<span style='opacity:.75'>" + html.escape(
                    f"Report of {state} downloaded: {len(data) / 1e6:.1f} MB, built in "
                    f"{time.perf_counter() - started:.1f} s.") + "</span>")
            return text
        except Exception as exc:  # noqa: BLE001 - shown in the page, not the kernel log
            self.report_bytes = 0
            self.report_status.value = (f"<span style='color:#dc2626'>Could not build the "
                                        f"report: {html.escape(str(exc))}</span>")
            return ""
        finally:
            self.report_button.disabled = False


def table_cache(path: Path, store: str | Path | None = None, setting: str | None = None
                ) -> Path | None:
    """Where the validated table of ``path`` is cached (see :mod:`dashboard.cache`):
    ``setting`` when it names a folder, nowhere when it is ``"off"``, else a folder beside
    the annotation store (``store``, or the file's default store), so every page's kernel,
    the report and the CLI open the same copy."""
    if setting is not None and str(setting).strip().lower() in ("off", "no", "0", "false"):
        return None
    if setting:
        return Path(setting)
    from dashboard.annotations import default_store_for
    from dashboard.cache import CACHE_DIR_NAME

    base = Path(store) if store else default_store_for(path)
    return base.resolve().parent / CACHE_DIR_NAME


def load_results(path: Path, human_level: Mapping[str, float] | float | None = None,
                 columns: Mapping[str, Any] | None = None, engine: str = "pandas",
                 cache: Path | None = None) -> Results:
    """Read the results file with the per-model facts of its sidecar (``read_sidecar``).

    Parameters
    ----------
    path : Path
        Results file.
    human_level : mapping or float, optional
        Human-level references; by default the sidecar's.
    columns : mapping, optional
        Loader keywords (column names, ``pos_label``) from the command line.
    engine : str
        ``"pandas"`` (every row in memory) or ``"duckdb"`` (aggregates and a sample; the path
        may be a folder of partitions).
    cache : Path, optional
        The table cache's folder (:func:`table_cache`); None reads the file every time.

    Returns
    -------
    Results
        The model.
    """
    from dashboard.io import read_sidecar
    from dashboard.results import Results

    meta = read_sidecar(path)
    if human_level is None:
        human_level = meta.get("human_level")  # type: ignore[assignment]
    loader = {"class_names": meta.get("class_names"), **dict(columns or {})}
    if meta.get("tags") and "categories" not in loader:  # review tags the sidecar declares
        loader["categories"] = list(meta["tags"])  # type: ignore[call-overload]
    if engine != "pandas":
        return Results.from_dataset(path, engine=engine, human_level=human_level,
                                    metadata=meta.get("models"), cache=cache, **loader)
    return Results.from_file(path, human_level=human_level, metadata=meta.get("models"),
                             cache=cache, **loader)


def build_app(path: Path, *, human_level: Mapping[str, float] | None = None,
              store: str | Path | None = None, title: str | None = None,
              progress: Callable[[str], None] | None = None,
              columns: Mapping[str, Any] | None = None,
              engine: str = "pandas", cache: Path | None = None) -> widgets.Widget:
    """Load ``path`` and compose the page; a message widget when the input cannot be used.

    Parameters
    ----------
    path : Path
        Results file.
    human_level : mapping, optional
        Human-level references (default: the sidecar's).
    store : str or Path, optional
        Annotation store.
    title : str, optional
        Display name.
    progress : callable, optional
        Called with a sentence before each slow step.
    columns : mapping, optional
        Loader keywords, as in :func:`load_results`.
    engine, cache : str, Path
        As in :func:`load_results`.

    Returns
    -------
    ipywidgets.Widget
        A :class:`DashboardApp`, or a ``mldash-message`` HTML widget.
    """
    from dashboard.errors import DashboardError
    from dashboard.io import release_scratch

    say = progress or (lambda _text: None)
    try:
        say(f"Reading {path.name} ({_size(path)})…")
        results = load_results(path, human_level, columns, engine, cache)
    except DashboardError as exc:
        return message_widget(f"Cannot use the results file {path}.", str(exc))
    except OSError as exc:
        return message_widget(f"Cannot open the results file {path}.", exc.strerror or str(exc))
    except Exception as exc:  # noqa: BLE001 - the page shows a message, not a traceback
        return message_widget(f"Cannot read the results file {path}.",
                              f"{type(exc).__name__}: {exc}")
    try:
        say(f"Building the views of {path.name} ({results.rows_total:,} rows)…")
        app = DashboardApp(results, store=store, title=title)
        release_scratch()  # the first curves' sorts: give the kernel's scratch back
        return app
    except (DashboardError, OSError) as exc:
        where = f" with the annotation store {store}" if store else ""
        return message_widget(f"Cannot show {path.name}{where}.", str(exc))
    except Exception as exc:  # noqa: BLE001 - the page shows a message, not a traceback
        return message_widget(f"Cannot show {path.name}.", f"{type(exc).__name__}: {exc}")


HISTORY_VIEW = "History"
"""The tab of a project's runs: levels and gaps over runs, and what changed."""


class RunsApp(DashboardApp):
    """The page of a project's runs: the latest run's dashboard, with its History one tab
    away (:class:`~dashboard.widgets.history.HistoryView`, which reads the other runs when
    first shown).

    Parameters
    ----------
    runs : Runs
        The runs; the page shows the latest.
    store : str or Path, optional
        Annotation store (default: the runs' store).
    title : str, optional
        Display name of the project.
    """

    def __init__(self, runs: Runs, *, store: str | Path | None = None,
                 title: str | None = None, **kwargs: Any) -> None:
        from dashboard.widgets.history import HistoryView

        self.runs = runs
        latest = runs.latest
        self.history = HistoryView(runs, shown=latest, active=False)
        name = title or Path(runs.origin).name or runs.origin
        super().__init__(runs[latest], store=store if store is not None else runs.store,
                         title=f"{name} · {latest} (the latest of {len(runs)} runs)",
                         extra_views=((HISTORY_VIEW, self.history),), **kwargs)

    def refresh_reviews(self) -> None:
        super().refresh_reviews()
        self.history.refresh_reviews()


def open_runs(source: Mapping[str, Any], human_level: Any = None,
              columns: Mapping[str, Any] | None = None,
              store: str | Path | None = None, *, cache: str | Path | None = None) -> Runs:
    """The runs a :data:`~dashboard.serve.ENV_RUNS` object names (``{"folder": path}`` or
    ``{"mlflow": experiment, "tracking_uri": ..., "artifact": ...}``); ``cache``: the table
    cache each run's file is read through (:func:`table_cache`), None: none."""
    from dashboard.errors import DashboardError
    from dashboard.runs import Runs

    columns = dict(columns or {})
    if "folder" in source:
        runs = Runs.from_folder(source["folder"], human_level=human_level, store=store,
                                **columns)
    elif "mlflow" in source:
        runs = Runs.from_mlflow(str(source["mlflow"]), source.get("tracking_uri"),
                                source.get("artifact"), human_level=human_level, store=store,
                                **columns)
    else:
        raise DashboardError(f"{ENV_RUNS} names neither a folder nor an MLflow experiment")
    runs.cache = None if cache is None else Path(cache)
    return runs


def build_runs_app(source: Mapping[str, Any], *, human_level: Mapping[str, float] | None = None,
                   store: str | Path | None = None, title: str | None = None,
                   progress: Callable[[str], None] | None = None,
                   columns: Mapping[str, Any] | None = None,
                   cache: str | Path | None = None) -> widgets.Widget:
    """Read the runs and compose their page; a message widget when they cannot be used.
    ``cache``: the table cache (:func:`table_cache`, "off" or None: read every file)."""
    from dashboard.errors import DashboardError

    say = progress or (lambda _text: None)
    where = source.get("folder") or f"mlflow:{source.get('mlflow')}"
    try:
        runs = open_runs(source, human_level, columns, store)
        runs.cache = table_cache(Path(runs.origin), store or runs.store,
                                 None if cache is None else str(cache))
        say(f"Reading {runs.latest}, the latest of {len(runs)} runs…")
        runs[runs.latest]
    except DashboardError as exc:
        return message_widget(f"Cannot use the runs in {where}.", str(exc))
    except Exception as exc:  # noqa: BLE001 - the page shows a message, not a traceback
        return message_widget(f"Cannot read the runs in {where}.",
                              f"{type(exc).__name__}: {exc}")
    try:
        say(f"Building the views of {runs.latest}…")
        return RunsApp(runs, store=store, title=title)
    except (DashboardError, OSError) as exc:
        return message_widget(f"Cannot show the runs in {where}.", str(exc))
    except Exception as exc:  # noqa: BLE001 - the page shows a message, not a traceback
        return message_widget(f"Cannot show the runs in {where}.",
                              f"{type(exc).__name__}: {exc}")


class _FirstView(_OneLineText, widgets.VBox):
    """A box that calls :meth:`first_view` once, when a front end first draws it.

    The frontend counts the widget's views in ``_view_count`` (an ipywidgets trait that is
    tracked once set to 0); the first view's message runs :meth:`first_view` in the kernel,
    after the page has its widget state. Counting stops afterwards.
    """

    def __init__(self, children: tuple[widgets.Widget, ...], **kwargs: Any) -> None:
        super().__init__(children, **kwargs)
        self._seen = False
        self.observe(self._on_view_count_change, names="_view_count")
        self._view_count = 0

    def _on_view_count_change(self, change: dict) -> None:
        if (change["new"] or 0) > 0 and not self._seen:
            self._seen = True
            self.first_view()
            self._view_count = None  # stop counting views
            from dashboard.io import release_scratch

            release_scratch()  # what loading or refreshing freed: ~190 MB at 10M rows

    def first_view(self) -> None:
        """What to do when the page first shows the widget."""


class DeferredApp(_FirstView):
    """A "Loading <file>…" line that becomes the dashboard once the page has drawn it.

    Parameters
    ----------
    build : callable
        Builds the page; receives a ``progress(text)`` callback that updates the line.
    text : str
        The first loading sentence.

    Notes
    -----
    Call :meth:`load` directly where no frontend draws the widget.
    """

    def __init__(self, build: Callable[[Callable[[str], None]], widgets.Widget], text: str,
                 **kwargs: Any) -> None:
        self._build = build
        self.loading = widgets.HTML(loading_html(text))
        self.loading.add_class("mldash-loading-line")
        self.content: widgets.Widget | None = None
        super().__init__((self.loading,), **kwargs)
        self.add_class("mldash-deferred")

    def first_view(self) -> None:
        self.load()

    def _progress(self, text: str) -> None:
        value = loading_html(text)
        if self.loading.value != value:
            self.loading.value = value

    def load(self) -> widgets.Widget:
        """Build the page now (once) and show it in place of the loading line."""
        if self.content is None:
            try:
                self.content = self._build(self._progress)
            except Exception as exc:  # noqa: BLE001 - the page shows a message
                self.content = message_widget("Cannot show the dashboard.",
                                              f"{type(exc).__name__}: {exc}")
            self.children = (self.content,)
        return self.content


def file_stamp(path: Path | None) -> tuple[int, int] | None:
    """``(mtime_ns, size)`` of a file, ``None`` when it cannot be read: tells a changed file."""
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class PreheatedApp(_FirstView):
    """The page built ahead of time in a preheated kernel, brought up to date when shown.

    Voilà runs the notebook in a spare kernel before anyone asks, so a page opens on a built
    dashboard; but the kernel may have waited minutes since. When the page first draws it:
    if the results file changed meanwhile (a new export), the page is built again from it;
    otherwise only the review store is read again, so ticks and comments saved since (by
    this reviewer on an earlier page, or by others) are shown, not the ones of when the
    kernel started.

    Parameters
    ----------
    build : callable
        Builds the page, as for :class:`DeferredApp`.
    path : Path
        The results file, whose change triggers a rebuild.
    """

    def __init__(self, build: Callable[[Callable[[str], None]], widgets.Widget],
                 path: Path | None, *, stamp: Callable[[], Any] | None = None,
                 **kwargs: Any) -> None:
        self._build = build
        self._path = path
        #: what tells a changed source (default: the file's modification time and size)
        self._stamp_of = stamp or (lambda: file_stamp(path))
        self._stamp = self._stamp_of()
        self.content: widgets.Widget = build(lambda _text: None)
        self.rebuilt = False
        super().__init__((self.content,), **kwargs)
        self.add_class("mldash-preheated")

    def first_view(self) -> None:
        self.freshen()

    def freshen(self) -> None:
        """Rebuild from a changed results file, else reload the reviews from the store."""
        try:
            stamp = self._stamp_of()
            if stamp != self._stamp:
                old, self._stamp = self.content, stamp
                self.content = self._build(lambda _text: None)
                self.children = (self.content,)
                self.rebuilt = True
                old.close()
            elif isinstance(self.content, DashboardApp):
                self.content.refresh_reviews()
        except Exception as exc:  # noqa: BLE001 - the page shows a message
            self.content = message_widget("Cannot show the dashboard.",
                                          f"{type(exc).__name__}: {exc}")
            self.children = (self.content,)


DEMO_FILE = Path(__file__).resolve().parent / "data" / "demo" / "cat_results.parquet"
"""The bundled demo, shown when no ``DASHBOARD_FILE`` names a results file."""
DEMO_TITLE = "Cat detector (demo)"
DEMO_HINT = (f"Showing the bundled demo. For your results, set {ENV_FILE}=results.parquet "
             "before starting Jupyter, or run: python -m dashboard serve results.parquet")


def _with_hint(app: widgets.Widget, hint: str) -> widgets.Widget:
    """``app`` under one muted line (the page says where its data come from and how to
    change it), for a notebook run without the launcher's environment."""
    line = widgets.HTML(f"<div class='mldash-hint' style='opacity:.8;font-size:13px;"
                        f"margin:2px 0 6px 0'>{html.escape(hint)}</div>")
    if isinstance(app, DashboardApp):
        app.children = (line, *app.children)
    return app


def app_from_environment(environ: Mapping[str, str] | None = None, *,
                         defer: bool | None = None) -> widgets.Widget:
    """Build the dashboard for the file named by ``DASHBOARD_FILE``.

    Parameters
    ----------
    environ : Mapping[str, str], optional
        Variables to read; ``os.environ`` by default.
    defer : bool, optional
        Return a :class:`DeferredApp` that loads once the page shows it; by default only in
        a live Voilà page (``VOILA_PREHEAT`` is ``"False"``).

    Returns
    -------
    ipywidgets.Widget
        The dashboard (:class:`DashboardApp` or :class:`DeferredApp`), or a message widget
        when the input cannot be used.
    """
    env = os.environ if environ is None else environ
    refuse_widgets_from_the_page()
    if env.get(ENV_RUNS):
        return _runs_from_environment(env, defer)
    raw_file = env.get(ENV_FILE, "")
    hint = ""
    if not raw_file:  # a notebook run as it is (JupyterLab, nbclient): the bundled demo
        raw_file = str(DEMO_FILE)
        hint = DEMO_HINT
    path = Path(raw_file)
    title = env.get(ENV_DATASET_NAME) or (DEMO_TITLE if hint else path.name)
    try:
        human_level = _parse_human_level(env.get(ENV_HUMAN_LEVEL))
    except (ValueError, TypeError) as exc:
        return message_widget(f"Bad {ENV_HUMAN_LEVEL} value.", str(exc))
    store = env.get(ENV_STORE) or None
    try:
        columns = json.loads(env.get(ENV_COLUMNS) or "{}")
        if not isinstance(columns, dict):
            raise ValueError("expected a JSON object of loader keywords")
    except ValueError as exc:
        return message_widget(f"Bad {ENV_COLUMNS} value.", str(exc))
    engine = env.get(ENV_ENGINE) or "pandas"
    if not (path.is_file() or engine != "pandas" and path.is_dir()):
        return message_widget(f"Cannot open the results file {path}.",
                              "No such file." if not path.exists() else "It is not a file.")
    cache = table_cache(path, store, env.get(ENV_CACHE))

    def build(progress: Callable[[str], None]) -> widgets.Widget:
        return build_app(path, human_level=human_level, store=store, title=title,
                         progress=progress, columns=columns, engine=engine, cache=cache)

    if hint:
        return _with_hint(build(lambda _text: None), hint)
    preheated = env.get(ENV_VOILA_PREHEAT)
    if defer is None:
        defer = preheated == "False"
    if defer:
        return DeferredApp(build, f"Loading {path.name} ({_size(path)})…")
    if preheated == "True":
        return PreheatedApp(build, path)
    return build(lambda _text: None)


def _runs_from_environment(env: Mapping[str, str], defer: bool | None) -> widgets.Widget:
    """:func:`app_from_environment` for a project's runs (``DASHBOARD_RUNS``)."""
    try:
        source = json.loads(env[ENV_RUNS])
        if not isinstance(source, dict):
            raise ValueError("expected a JSON object naming a folder or an MLflow experiment")
        human_level = _parse_human_level(env.get(ENV_HUMAN_LEVEL))
        columns = json.loads(env.get(ENV_COLUMNS) or "{}")
        if not isinstance(columns, dict):
            raise ValueError("expected a JSON object of loader keywords")
    except (ValueError, TypeError) as exc:
        return message_widget("Bad dashboard settings for the runs.", str(exc))
    store = env.get(ENV_STORE) or None
    title = env.get(ENV_DATASET_NAME) or None
    folder = Path(source["folder"]) if source.get("folder") else None

    def build(progress: Callable[[str], None]) -> widgets.Widget:
        return build_runs_app(source, human_level=human_level, store=store, title=title,
                              progress=progress, columns=columns, cache=env.get(ENV_CACHE))

    preheated = env.get(ENV_VOILA_PREHEAT)
    if defer is None:
        defer = preheated == "False"
    if defer:
        return DeferredApp(build, f"Loading the runs of {title or folder or 'MLflow'}…")
    if preheated == "True":
        return PreheatedApp(build, folder, stamp=lambda: _runs_stamp(folder))
    return build(lambda _text: None)


def _runs_stamp(folder: Path | None) -> Any:
    """Each run file's and sidecar's name, time and size (a run added, removed or rewritten;
    not a review saved in the folder's store); None for MLflow runs or an unreadable folder."""
    if folder is None:
        return None
    from dashboard.runs import folder_stamp

    try:
        return folder_stamp(folder)
    except OSError:
        return None
