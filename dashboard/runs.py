"""A project's runs: one results file per run, from a folder or an MLflow experiment.

``Runs.from_folder(path)`` takes every results file of a folder (ordered by a ``run_order``
field in its ``<name>.json`` sidecar, else by modification time, then by name);
``Runs.from_mlflow(experiment)`` takes each finished run's results artifact through MLflow's
own client. A run's :class:`~dashboard.results.Results` is built the first time it is asked
for (``runs[name]``), through the public ``Results.from_file``, so whatever that caches, a
run caches too.

:meth:`Runs.history` is the long table the History view draws; :meth:`Runs.compare` tests
what changed between two runs (:mod:`dashboard.metrics.change`); :meth:`Runs.category_shares`
compares the review categories' shares of the reviewed errors, the reviews of each run found
in the annotation store by its example ids (as a re-exported file finds its reviews).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from dashboard.annotations import DEFAULT_STORE_NAME, ReviewSession, safe_filename, user_data_dir
from dashboard.errors import DashboardError, did_you_mean
from dashboard.io import read_sidecar
from dashboard.metrics.change import (
    SPLIT_LABELS,
    Change,
    RunChange,
    compare_levels_and_gaps,
    share_changes,
    shares_sentence,
)
from dashboard.metrics.gaps import GAP_NAMES
from dashboard.results import Results

__all__ = ["RESULT_SUFFIXES", "RunSource", "Runs", "UnknownRunError"]

#: the file types a folder's runs may be (a ``.json`` beside a run is its sidecar)
RESULT_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".jsonl", ".ndjson")
#: the artifact names an MLflow run's results file is looked for under, in order
MLFLOW_ARTIFACTS = ("results.parquet", "results.csv")
_MLFLOW_SUFFIXES = (".parquet", ".pq", ".csv")


class UnknownRunError(DashboardError, KeyError):
    """A run name the runs do not hold (a KeyError too, so ``name in runs`` works)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass
class RunSource:
    """Where one run's results file is: a local path, or a function that fetches it."""

    name: str
    where: str
    order: tuple[Any, ...]
    path: Path | None = None
    fetch: Callable[[], Path] | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def local_path(self) -> Path:
        if self.path is None:
            assert self.fetch is not None
            self.path = self.fetch()
        return self.path


class Runs(Mapping[str, Results]):
    """The runs of a project, oldest first; ``runs[name]`` is that run's Results.

    Parameters
    ----------
    sources : list of RunSource
        The runs, in order.
    origin : str
        What they were read from (a folder, ``mlflow:EXPERIMENT``), for messages and titles.
    human_level : optional
        Every run's human-level reference (default: each run's sidecar's, else none).
    store : path, optional
        The annotation store whose reviews the category shares count (default: the
        folder's ``annotations.sqlite``); not created by reading.
    columns : mapping, optional
        Loader keywords for every run (``label``, ``score``, ``pos_label``...).
    """

    def __init__(self, sources: list[RunSource], *, origin: str, human_level: Any = None,
                 store: str | Path | None = None, columns: Mapping[str, Any] | None = None,
                 notes: tuple[str, ...] = ()) -> None:
        if not sources:
            raise DashboardError("no runs", file=origin)
        self._sources = {s.name: s for s in sources}
        self.origin = origin
        self.human_level = human_level
        self.store = None if store is None else Path(store)
        self.columns = dict(columns or {})
        self.notes = tuple(notes)
        #: the table cache each run's file is read through (``Results.from_file(cache=)``)
        self.cache: Path | None = None
        self._loaded: dict[str, Results] = {}
        self._reviews_synced: set[str] = set()
        self._history: pd.DataFrame | None = None
        self._compared: dict[tuple[str, str, str], RunChange] = {}

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def from_folder(cls, path: str | Path, *, human_level: Any = None,
                    store: str | Path | None = None, **columns: Any) -> Runs:
        """Every results file of a folder (not its subfolders) as one run, named by its file.

        Order: each run's sidecar ``run_order`` (a number) when every run has one, else the
        files' modification times, ties broken by name. ``store`` defaults to the folder's
        ``annotations.sqlite`` (the user data folder's ``<folder>.runs.annotations.sqlite``
        when the folder cannot be written).
        """
        folder = Path(path)
        if not folder.exists():
            raise DashboardError("folder not found", file=str(folder))
        if not folder.is_dir():
            raise DashboardError("is a file, not a folder of runs", file=str(folder))
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and not p.name.startswith(".") and _is_results_file(p))
        if not files:
            raise DashboardError("no results files in the folder (one .parquet, .csv or "
                                 ".jsonl per run)", file=str(folder))
        orders: dict[Path, float] = {}
        for f in files:
            meta = read_sidecar(f)
            if "run_order" in meta:
                value = meta["run_order"]
                if isinstance(value, bool) or not isinstance(value, int | float) or \
                        not math.isfinite(float(value)):
                    raise DashboardError(f"run_order must be a number, got {value!r}",
                                         file=str(f.with_suffix(".json")), column="run_order")
                orders[f] = float(value)
        if orders and len(orders) < len(files):
            missing = [f.name for f in files if f not in orders]
            raise DashboardError(f"some runs have a run_order in their sidecar and "
                                 f"{len(missing)} do not ({', '.join(missing[:3])}"
                                 f"{' …' if len(missing) > 3 else ''}): give every run one, or "
                                 "none to order them by modification time", file=str(folder))
        if orders:
            seen: dict[float, Path] = {}
            for f, value in orders.items():
                if value in seen:
                    raise DashboardError(f"{seen[value].name} and {f.name} have the same "
                                         f"run_order {value:g}", file=str(folder),
                                         column="run_order")
                seen[value] = f
        names = _unique_names([f.stem for f in files], [f.name for f in files])
        sources = [RunSource(name=name, where=str(f), path=f,
                             order=(orders[f],) if orders else (f.stat().st_mtime_ns, f.name))
                   for name, f in zip(names, files, strict=True)]
        sources.sort(key=lambda s: (s.order, s.name))
        if store is None:
            store = default_runs_store(folder)
        return cls(sources, origin=str(folder), human_level=human_level, store=store,
                   columns=columns)

    @classmethod
    def from_mlflow(cls, experiment: str, tracking_uri: str | None = None,
                    artifact: str | None = None, *, human_level: Any = None,
                    store: str | Path | None = None, **columns: Any) -> Runs:
        """Each finished run of an MLflow experiment (name or id), oldest start first.

        A run's results file is its artifact ``results.parquet``, else ``results.csv``, else
        its one Parquet or CSV artifact at the root; ``artifact`` names another (a path
        within the run's artifacts). ``tracking_uri``: a tracking server, a database URI or
        a local ``mlruns`` folder (default: ``$MLFLOW_TRACKING_URI``, else ``./mlruns`` when
        it exists, else MLflow's default). Needs MLflow (``pip install
        'ml-diagnosis-dashboard[mlflow]'``).
        """
        sources, notes, uri = _mlflow_sources(str(experiment), tracking_uri, artifact)
        if store is None:
            store = user_data_dir() / (f"mlflow-{safe_filename(str(experiment))}"
                                       ".annotations.sqlite")
        return cls(sources, origin=f"mlflow:{experiment}", human_level=human_level,
                   store=store, columns=columns, notes=notes + (f"MLflow tracking URI {uri}",))

    # -- the mapping ---------------------------------------------------------------------------
    def _check(self, name: str) -> None:
        if name not in self._sources:
            raise UnknownRunError(f"no run {name!r}{did_you_mean(name, self._sources)}; the "
                                  f"runs are {', '.join(self._sources)}")

    def __getitem__(self, name: str) -> Results:
        """The run's Results, read the first time it is asked for."""
        self._check(name)
        if name not in self._loaded:
            self._loaded[name] = self._load(self._sources[name])
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __contains__(self, name: object) -> bool:
        return name in self._sources

    def __repr__(self) -> str:
        return f"Runs({self.origin!r}: {', '.join(self._sources)})"

    @property
    def names(self) -> tuple[str, ...]:
        """The runs' names, oldest first."""
        return tuple(self._sources)

    @property
    def latest(self) -> str:
        return self.names[-1]

    def where(self, name: str) -> str:
        """Where a run's results are (a file, or an MLflow run and artifact)."""
        self._check(name)
        return self._sources[name].where

    def dataset_name(self, name: str) -> str:
        """The name the run's reviews are kept under in a store: its file's name (an MLflow
        run's: ``<run>:<artifact>``), as :func:`dashboard.annotations.dataset_name` says."""
        self._check(name)
        source = self._sources[name]
        if source.facts.get("dataset"):
            return str(source.facts["dataset"])
        return source.path.name if source.path is not None else name

    def is_loaded(self, name: str) -> bool:
        """Whether the run's Results have been built yet (they are built when first used)."""
        return name in self._loaded

    def _load(self, source: RunSource) -> Results:
        try:
            path = source.local_path()
            meta = read_sidecar(path)
            human = self.human_level if self.human_level is not None else \
                meta.get("human_level")
            if isinstance(human, int | float) and not isinstance(human, bool):
                human = {"human level": float(human)}
            loader = {"class_names": meta.get("class_names"), **self.columns}
            if meta.get("tags") and "categories" not in loader:
                loader["categories"] = list(meta["tags"])  # type: ignore[call-overload]
            results = Results.from_file(path, human_level=human, metadata=meta.get("models"),
                                        cache=self.cache, **loader)
        except DashboardError as exc:
            text = str(exc)
            if source.path is not None and str(source.path) in text and \
                    source.where == str(source.path):
                raise DashboardError(f"run {source.name}: {text}") from None
            raise DashboardError(f"run {source.name} ({source.where}): {text}") from None
        except OSError as exc:
            raise DashboardError(f"run {source.name}: cannot read it "
                                 f"({exc.strerror or exc})", file=source.where) from None
        if source.facts.get("dataset"):
            results.name = source.facts["dataset"]
        self._sync_reviews(source.name, results)
        return results

    # -- reviews ------------------------------------------------------------------------------
    def _sync_reviews(self, name: str, results: Results) -> None:
        """Load the store's reviews of this run's examples into its tags (found by name, or
        by example ids under another run's name). An absent store is not created."""
        if self.store is None or not self.store.is_file():
            return
        session = ReviewSession(results, self.store)
        session.store.close()
        self._reviews_synced.add(name)

    def refresh_reviews(self) -> None:
        """Read the store again into every run read so far (reviews saved since count)."""
        for name, results in self._loaded.items():
            self._sync_reviews(name, results)
        self._history = None

    # -- what the history shows --------------------------------------------------------------
    def _levels(self, name: str) -> dict[str, tuple[int, int]]:
        table = self[name].error_rates(weighted=False)
        return {s: (int(round(row.errors)), int(row.n)) for s, row in table.iterrows()}

    def _paired(self, before: str, after: str, splits: list[str]) -> dict[str, tuple[int, int]]:
        """Per split whose examples are the same in both runs, McNemar's discordant counts
        (wrong only in ``before``, wrong only in ``after``)."""
        rb, ra = self[before], self[after]
        out = {}
        for split in splits:
            kb = rb.rows(split)["key"].to_numpy(dtype=object)
            ka = ra.rows(split)["key"].to_numpy(dtype=object)
            if kb.size != ka.size or kb.size == 0:
                continue
            common, ib, ia = np.intersect1d(kb, ka, return_indices=True)
            if common.size != kb.size:
                continue
            cb, ca = rb.correct(split)[ib], ra.correct(split)[ia]
            out[split] = (int(np.count_nonzero(~cb & ca)), int(np.count_nonzero(cb & ~ca)))
        return out

    def compare(self, before: str, after: str) -> RunChange:
        """Each split's error and each gap from run ``before`` to run ``after``, tested (paired
        McNemar where a split holds the same examples in both, else Fisher) and Holm-adjusted
        as one family; ``.sentence`` says what changed and what did not."""
        rb, ra = self[before], self[after]
        key = (before, after, f"{rb.model}|{rb.threshold}|{ra.model}|{ra.threshold}")
        if key in self._compared:
            return self._compared[key]
        lb, la = self._levels(before), self._levels(after)
        shared = [s for s in lb if s in la]
        gb, ga = rb.gaps(weighted=False), ra.gaps(weighted=False)
        change = compare_levels_and_gaps(
            lb, la, paired=self._paired(before, after, shared), steps_before=gb.steps,
            steps_after=ga.steps, human_before=gb.human, human_after=ga.human,
            names=(before, after))
        self._compared[key] = change
        return change

    def what_changed(self, before: str, after: str) -> str:
        """The sentence naming what changed significantly between two runs and what did not."""
        return self.compare(before, after).sentence

    def category_shares(self, before: str, after: str, split: str = "dev") -> pd.DataFrame:
        """Each review category's share of the reviewed errors in two runs, for categories
        reviewed in both (ticked at least once in either); Fisher-tested, Holm-adjusted.

        The table's ``attrs``: ``sentence`` ("blurry: 61% of reviewed errors at run3 → 22%
        at run5 (a significant fall); dev error 8.5% → 6.1%."), ``reviewed`` per run.
        """
        counts: dict[str, dict[str, tuple[int, int]]] = {}
        reviewed = {}
        for name in (before, after):
            r = self[name]
            if split not in r.splits:
                counts[name] = {}
                reviewed[name] = 0
                continue
            tally = r.tally(split)
            reviewed[name] = int(tally.attrs["reviewed"])
            counts[name] = {str(c): (int(row["count"]), reviewed[name])
                            for c, row in tally.iterrows()}
        cats = [c for c in counts[before] if c in counts[after]
                and (counts[before][c][0] or counts[after][c][0])]
        changes = share_changes({c: counts[before][c] for c in cats},
                                {c: counts[after][c] for c in cats})
        error = self.compare(before, after).get("level", split)
        table = pd.DataFrame([{
            "category": c.key, "before": c.before, "after": c.after,
            "count_before": counts[before][c.key][0], "count_after": counts[after][c.key][0],
            "reviewed_before": reviewed[before], "reviewed_after": reviewed[after],
            "p_value": c.p_value, "significant": c.significant} for c in changes],
            columns=["category", "before", "after", "count_before", "count_after",
                     "reviewed_before", "reviewed_after", "p_value", "significant"])
        table.attrs.update({"sentence": shares_sentence(changes, before=before, after=after,
                                                         error=error),
                            "reviewed": reviewed, "split": split})
        return table

    def history(self) -> pd.DataFrame:
        """One row per run and level (a split's error) or gap, oldest run first.

        Columns: ``run``, ``order`` (0 = oldest), ``kind`` (``"level"`` or ``"gap"``),
        ``split`` (the split of a level row, the gap's name on a gap row: ``variance``...),
        ``label``, ``n``, ``errors``, ``error`` (the error, or the gap's size), ``error_low``,
        ``error_high`` (Wilson 95% for a level, Newcombe for a gap), the change from the
        previous run (``p_value`` Holm-adjusted over that comparison, ``significant``,
        ``test``), and each run's ``model``, ``threshold`` and dev ``f1`` at it, and its
        best-F1 dev threshold (``best_threshold``, ``best_f1``). Unweighted, at each run's
        current model and threshold.
        """
        if self._history is not None:
            return self._history
        rows: list[dict[str, Any]] = []
        previous: str | None = None
        for order, name in enumerate(self.names):
            r = self[name]
            run_facts = _run_facts(r)
            change = self.compare(previous, name) if previous is not None else None
            table = r.error_rates(weighted=False)
            gaps = r.gaps(weighted=False)

            def tested(kind: str, key: str, change: RunChange | None = change
                       ) -> dict[str, Any]:
                c: Change | None = change.get(kind, key) if change is not None else None
                if c is None or math.isnan(c.p_value):
                    return {"p_value": math.nan, "significant": False, "test": ""}
                return {"p_value": c.p_value, "significant": c.significant, "test": c.test}
            for split, row in table.iterrows():
                rows.append({"run": name, "order": order, "kind": "level", "split": split,
                             "label": SPLIT_LABELS.get(str(split), str(split)),
                             "n": int(row.n), "errors": float(row.errors),
                             "error": float(row.error), "error_low": float(row.ci_low),
                             "error_high": float(row.ci_high),
                             **tested("level", str(split)), **run_facts})
            for gap in GAP_NAMES:
                value = getattr(gaps, gap)
                if value is None:
                    continue
                lo, hi = gaps.intervals.get(gap, (math.nan, math.nan))
                rows.append({"run": name, "order": order, "kind": "gap", "split": gap,
                             "label": gaps.label(gap), "n": math.nan, "errors": math.nan,
                             "error": float(value), "error_low": lo, "error_high": hi,
                             **tested("gap", gap), **run_facts})
            previous = name
        self._history = pd.DataFrame(rows, columns=list(_HISTORY_COLUMNS))
        self._history.attrs.update({"origin": self.origin, "runs": list(self.names)})
        return self._history

    def forget(self) -> None:
        """Drop the history and comparisons computed so far (after a run's threshold or model
        was changed: they are recomputed at the new state)."""
        self._history = None
        self._compared.clear()


_HISTORY_COLUMNS = ("run", "order", "kind", "split", "label", "n", "errors", "error",
                    "error_low", "error_high", "p_value", "significant", "test", "model",
                    "threshold", "f1", "best_threshold", "best_f1")


def _run_facts(r: Results) -> dict[str, Any]:
    """A run's model, threshold and dev F1 at it, and its best-F1 dev threshold."""
    facts: dict[str, Any] = {"model": str(r.model), "threshold": math.nan, "f1": math.nan,
                             "best_threshold": math.nan, "best_f1": math.nan}
    if "dev" not in r.splits:
        return facts
    try:
        if r.has_scores and r.schema.kind == "binary_score":
            point = r.operating_point("dev")
            best = r.best_threshold("dev", "f1")
            facts.update({"threshold": float(r.threshold), "f1": float(point.f1)})
            if best is not None:
                facts.update({"best_threshold": float(best.threshold),
                              "best_f1": float(best.f1)})
        else:
            facts["f1"] = float(r.class_f1("dev").macro)
    except DashboardError:  # one class only in dev: F1 undefined, the levels still stand
        pass
    return facts


def folder_stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """``(name, mtime_ns, size)`` of every run file and sidecar of a folder: tells a run
    added, removed or rewritten (and not a review saved in the folder's store)."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and (
        _is_results_file(p) or p.suffix.lower() == ".json"))
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)


def _is_results_file(p: Path) -> bool:
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".zip", ".xz", ".zst"):
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in RESULT_SUFFIXES


def _unique_names(stems: list[str], fallbacks: list[str]) -> list[str]:
    """Run names: the stems, or the full file names where two stems are equal."""
    return [fallback if stems.count(stem) > 1 else stem
            for stem, fallback in zip(stems, fallbacks, strict=True)]


def default_runs_store(folder: Path) -> Path:
    """A runs folder's annotation store: its ``annotations.sqlite`` (each run's file finds
    it too, as its default store when it has none of its own), or the user data folder's
    ``<folder>.runs.annotations.sqlite`` when the folder cannot be written."""
    folder = Path(folder).resolve()
    if os.access(folder, os.W_OK):
        return folder / DEFAULT_STORE_NAME
    return user_data_dir() / f"{safe_filename(folder.name)}.runs.annotations.sqlite"


def looks_like_runs(folder: Path) -> tuple[bool, str]:
    """Whether a folder holds runs (one whole results table each) rather than partitions of
    one table, and why. Runs: a sidecar gives a ``run_order``, or two files hold the same
    example (split and id). Partitions hold each example once, in subfolders or not."""
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and _is_results_file(p))
    if len(files) < 2:
        return False, "fewer than two results files"
    if any(p.is_dir() and not p.name.startswith(".") for p in folder.iterdir()):
        return False, "it has subfolders (partitions)"
    for f in files:
        with contextlib.suppress(DashboardError):
            if "run_order" in read_sidecar(f):
                return True, f"{f.with_suffix('.json').name} gives a run_order"
    keys = [_example_keys(f) for f in files[:2]]
    if keys[0] is None or keys[1] is None:
        return False, ("no id and split columns to tell runs from partitions (--runs reads "
                       "the folder as runs)")
    if keys[0] & keys[1]:
        return True, f"{files[0].name} and {files[1].name} hold the same examples"
    return False, "the files hold different examples (partitions of one table)"


def _example_keys(path: Path) -> set[tuple[str, str]] | None:
    """(split, id) of every row of a results file, read from those two columns only."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            if "id" not in names or "split" not in names:
                return None  # row numbers would match in runs and partitions alike
            frame = pd.read_parquet(path, columns=["split", "id"])
        elif path.suffix.lower() in (".csv", ".tsv"):
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            head = pd.read_csv(path, sep=sep, nrows=0).columns
            if "id" not in head or "split" not in head:
                return None
            frame = pd.read_csv(path, sep=sep, usecols=["split", "id"], dtype=str)
        else:
            return None
    except Exception:  # noqa: BLE001 - unreadable here: the loader names the problem later
        return None
    return set(zip(frame["split"].astype(str), frame["id"].astype(str), strict=True))


# -- MLflow ----------------------------------------------------------------------------------
@contextlib.contextmanager
def _mlflow_env() -> Iterator[None]:
    """Let MLflow read a local ``mlruns`` folder (3.x refuses its file store unless told) and
    keep its download progress bars out of the dashboard's output, for the calls made here."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_ALLOW_FILE_STORE",
                                             "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")}
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def tracking_uri_of(tracking_uri: str | None) -> str | None:
    """A tracking URI from what a user gives: a URI as it is, a folder as a ``file:`` URI;
    by default ``$MLFLOW_TRACKING_URI``, else ``./mlruns`` when it exists (else None:
    MLflow's default)."""
    if tracking_uri is None:
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        return Path("mlruns").resolve().as_uri() if Path("mlruns").is_dir() else None
    text = str(tracking_uri)
    if "://" in text or text.startswith(("databricks", "file:")):
        return text
    folder = Path(text).expanduser()
    if not folder.is_dir():
        raise DashboardError("no MLflow tracking folder (mlruns) there", file=str(folder))
    return folder.resolve().as_uri()


def _local_dir(uri: str) -> Path | None:
    """The folder a ``file:`` URI names (None for any other scheme)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    return None


def _mlflow_sources(experiment: str, tracking_uri: str | None, artifact: str | None
                    ) -> tuple[list[RunSource], tuple[str, ...], str]:
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise DashboardError("reading MLflow runs needs MLflow: pip install "
                             "'ml-diagnosis-dashboard[mlflow]' (mlflow-skinny)") from None
    uri = tracking_uri_of(tracking_uri)
    if uri is not None:
        local = _local_dir(uri)
        if local is not None and not local.is_dir():
            raise DashboardError("no MLflow tracking folder (mlruns) there", file=str(local))
    notes: list[str] = []
    with _mlflow_env():
        try:
            client = MlflowClient(tracking_uri=uri)
            uri = str(client.tracking_uri)
            exp = client.get_experiment_by_name(experiment)
            if exp is None and experiment.isdigit():
                with contextlib.suppress(MlflowException):
                    exp = client.get_experiment(experiment)
            if exp is None:
                known = [e.name for e in client.search_experiments()]
                raise DashboardError(
                    f"MLflow experiment {experiment!r} not found at {uri}"
                    f"{did_you_mean(experiment, known)}; the experiments there: "
                    f"{', '.join(known) or 'none'}")
            runs = list(client.search_runs([exp.experiment_id],
                                           order_by=["attributes.start_time ASC"],
                                           max_results=5000))
        except MlflowException as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DashboardError(f"MLflow at {uri}: {first}") from None
        sources: list[RunSource] = []
        skipped = []
        for run in runs:
            info = run.info
            if info.status != "FINISHED":
                skipped.append(f"{info.run_name or info.run_id} ({info.status.lower()})")
                continue
            label = info.run_name or info.run_id[:8]
            chosen = _choose_artifact(client, info.run_id, label, artifact)
            sources.append(_mlflow_source(client, info, label, chosen))
    if skipped:
        notes.append(f"runs not finished, left out: {', '.join(skipped)}")
    if not sources:
        raise DashboardError(f"MLflow experiment {experiment!r} has no finished run",
                             file=uri)
    names = [s.name for s in sources]
    for s in sources:
        if names.count(s.name) > 1:
            s.name = f"{s.name} ({s.facts['run_id'][:8]})"
    for s in sources:
        s.facts["dataset"] = f"{s.name}:{s.facts['artifact']}"
    return sources, tuple(notes), uri


def _choose_artifact(client: Any, run_id: str, label: str, artifact: str | None) -> str:
    """The run's results artifact: ``artifact`` if given (it must exist), else
    ``results.parquet``/``results.csv``, else its one Parquet or CSV file at the root."""
    root = [a for a in client.list_artifacts(run_id) if not a.is_dir]
    names = [a.path for a in root]
    where = f"MLflow run {label} ({run_id})"
    if artifact is not None:
        parent = str(Path(artifact).parent)
        listed = names if parent in ("", ".") else \
            [a.path for a in client.list_artifacts(run_id, parent) if not a.is_dir]
        if artifact not in listed:
            raise DashboardError(f"{where} has no artifact {artifact!r}; its artifacts: "
                                 f"{', '.join(names) or 'none'}")
        return artifact
    for name in MLFLOW_ARTIFACTS:
        if name in names:
            return name
    tables = [n for n in names if Path(n).suffix.lower() in _MLFLOW_SUFFIXES]
    if len(tables) == 1:
        return tables[0]
    if not tables:
        raise DashboardError(f"{where} has no results artifact: no results.parquet or "
                             "results.csv, nor a Parquet or CSV file at its root (its "
                             f"artifacts: {', '.join(names) or 'none'}); name one with "
                             "artifact= (--artifact)")
    raise DashboardError(f"{where} has {len(tables)} Parquet or CSV artifacts at its root "
                         f"({', '.join(tables)}): name the results with artifact= "
                         "(--artifact)")


def _mlflow_source(client: Any, info: Any, label: str, artifact: str) -> RunSource:
    """A run's source: its artifact read in place when the artifact store is a local folder,
    else downloaded (once, into a temporary folder) when the run is first read."""
    local = _local_dir(str(info.artifact_uri))
    path = None
    if local is not None and (local / artifact).is_file():
        path = local / artifact

    def fetch() -> Path:
        target = Path(tempfile.mkdtemp(prefix="mldash-mlflow-"))
        with _mlflow_env():
            return Path(client.download_artifacts(info.run_id, artifact, str(target)))
    return RunSource(name=label, where=f"MLflow run {label} ({info.run_id}), {artifact}",
                     order=(info.start_time or 0, label), path=path,
                     fetch=None if path is not None else fetch,
                     facts={"run_id": info.run_id, "artifact": artifact})
