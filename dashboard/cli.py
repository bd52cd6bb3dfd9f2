"""``python -m dashboard``: serve the dashboard with Voilà, or regenerate the demo data.

Composition only: it validates the results file (so a bad file gets one clear message, not a
traceback from inside a kernel), then hands it to :mod:`dashboard.serve`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import time
import webbrowser
from pathlib import Path
from typing import Any

from dashboard.errors import DashboardError, did_you_mean
from dashboard.io import read_human_level, read_sidecar

DEMO_DIR = Path(__file__).resolve().parent / "data" / "demo"


MAX_SIZE_DEFAULT = 1 << 30
"""Largest results file read without ``--max-size`` (1 GiB: ~25M rows of a plain CSV)."""
_SAMPLE_BYTES = 1 << 20


def parse_size(text: str) -> int:
    """``"1.5GB"``, ``"800M"``, ``"0"`` (no limit) or a byte count, as bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not match:
        raise DashboardError(f"--max-size: expected a size such as 500MB or 2GB, got {text!r}")
    return int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " "))


def _available_memory() -> int | None:
    """Bytes of memory available to a new process (Linux ``MemAvailable``), if known."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_input(path: Path, max_size: int, engine: str = "pandas") -> None:
    """Refuse, before reading it, a results file too big or too odd to load sensibly.

    Over ``max_size`` bytes (0: no limit), or a text file whose first MiB is mostly blank or
    delimiter-only lines, or one whose estimated in-memory size exceeds the memory
    available: one :class:`DashboardError` naming the file and the way to override. The
    size checks are for holding every row (pandas); DuckDB and Dask read out of core.
    """
    if not path.is_file():
        return  # the loader says what is wrong with it
    if engine != "pandas":
        max_size = 0
    size = path.stat().st_size
    if max_size and size > max_size:
        raise DashboardError(f"the file is {size / 2**30:.1f} GiB, more than the "
                             f"{max_size / 2**30:.1f} GiB read without asking; pass "
                             "--max-size 0 (or a larger size) to load it anyway", file=str(path))
    if path.suffix.lower() not in (".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json"):
        return
    sample, lines = _text_sample(path)
    if len(lines) < 2:
        if size > _SAMPLE_BYTES:
            raise DashboardError("the first MiB holds no complete row (a line longer than "
                                 "1 MiB): not a results table", file=str(path))
        return
    empty = sum(1 for line in lines[1:] if not line.strip(b" ,;\t\r\"{}[]"))
    if empty > 0.5 * (len(lines) - 1):
        raise DashboardError(f"{empty:,} of the first {len(lines) - 1:,} rows are empty: "
                             "export the results without blank rows", file=str(path))
    rows, need = _text_load_estimate(path, sample, lines)
    free = _available_memory()
    if max_size and free is not None and need > free:
        raise DashboardError(f"loading ~{rows:,.0f} rows would need ~{need / 2**30:.1f} GiB, "
                             f"more than the {free / 2**30:.1f} GiB available; pass "
                             "--engine duckdb to read it out of core, or --max-size 0 to try "
                             "anyway", file=str(path))


def _text_sample(path: Path) -> tuple[bytes, list[bytes]]:
    """A text file's first MiB and its complete lines."""
    with open(path, "rb") as f:
        sample = f.read(_SAMPLE_BYTES)
    lines = sample.splitlines()[:-1] if len(sample) == _SAMPLE_BYTES else sample.splitlines()
    return sample, lines


def _text_load_estimate(path: Path, sample: bytes, lines: list[bytes]) -> tuple[float, float]:
    """Rows of a text file (from its first MiB's line lengths) and a pandas load's bytes."""
    rows = path.stat().st_size / max(1.0, len(sample) / len(lines))
    columns = lines[0].count(b"\t" if path.suffix.lower() == ".tsv" else b",") + 1
    return rows, rows * (columns * 16 + 120)  # 8-byte values, one text id, indexes, copies


def check_sidecar(path: Path) -> None:
    """Refuse a ``<results>.json`` sidecar that cannot be read or is not a JSON object (the
    loader ignores such a file silently); warn about an unreadable ``demo.json`` beside it."""
    sidecar = path.with_suffix(".json")
    if sidecar != path and sidecar.exists():
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise DashboardError(f"cannot read the sidecar ({exc.__class__.__name__}: "
                                 f"{getattr(exc, 'strerror', None) or exc})",
                                 file=str(sidecar)) from None
        except ValueError as exc:
            raise DashboardError(f"the sidecar is not valid JSON ({exc})",
                                 file=str(sidecar)) from None
        if not isinstance(data, dict):
            raise DashboardError("the sidecar must be a JSON object with title, human_level "
                                 f"and models; found a JSON {type(data).__name__}",
                                 file=str(sidecar))
    demo = path.parent / "demo.json"
    if demo.exists() and demo != path:
        try:
            data = json.loads(demo.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not an object")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"warning: {demo}: ignored, cannot be read as a sidecar ({exc})",
                  file=sys.stderr)


#: a pandas load's peak memory per byte of the columns as Arrow (measured at 10M rows: 2.2 GB
#: for 336 MiB of text ids, int64 labels and float64 scores; it then holds ~1.7x)
PANDAS_PEAK_PER_ARROW_BYTE = 7


def estimated_load_bytes(path: Path) -> int | None:
    """A pandas load's estimated peak memory for a results file (None: cannot tell).

    Parquet: from its metadata (rows, columns, uncompressed sizes), read without the data;
    text: from the first MiB's rows, as :func:`check_input` does."""
    if not path.is_file():
        return None
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq

            meta = pq.read_metadata(path)
        except Exception:  # noqa: BLE001 - not readable as Parquet: the loader says why
            return None
        raw = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        arrow = max(raw, 8 * meta.num_rows * meta.num_columns)
        return PANDAS_PEAK_PER_ARROW_BYTE * arrow
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return None
    sample, lines = _text_sample(path)
    if len(lines) < 2:
        return None
    return int(_text_load_estimate(path, sample, lines)[1])


def choose_engine(path: Path, requested: str) -> tuple[str, str | None]:
    """The engine to read ``path`` with, and why when ``"auto"`` chose DuckDB.

    ``auto`` (the default) is DuckDB for a folder of partitions, or for a file whose pandas
    load would need more than half the memory available (a starting server loads it twice
    at once: the launcher's check and the first page's kernel), when DuckDB is installed;
    pandas otherwise. Pandas holds every row and so has every view; measured at 10^7 rows it
    also reaches the first figure sooner (4.3 s against DuckDB's 6.7 s).
    """
    if requested != "auto":
        return requested, None
    if path.is_dir():
        return "duckdb", "a folder of partitions is read through DuckDB"
    need, free = estimated_load_bytes(path), _available_memory()
    if need is None or free is None or 2 * need <= free:
        return "pandas", None
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return "pandas", None  # check_input then refuses it, naming the way out
    return "duckdb", (f"holding every row would need ~{need / 2**30:.1f} GiB at load, more "
                      f"than half the {free / 2**30:.1f} GiB available: reading it through "
                      "DuckDB (aggregates out of core, a sample of rows); --engine pandas "
                      "holds every row")


def check_engine(path: Path, engine: str) -> None:
    """A folder needs an engine that reads partitions; a glob is refused for a folder."""
    if any(ch in str(path) for ch in "*?["):
        raise DashboardError("give the folder of partitions rather than a pattern (the "
                             "annotation store is named after it)", file=str(path))
    if engine == "pandas" and path.is_dir():
        raise DashboardError("is a folder: pass --engine duckdb to read its partitions",
                             file=str(path))


def _resolve_engine(path: Path, args: argparse.Namespace) -> str:
    """:func:`choose_engine` then :func:`check_engine`; says when auto chose DuckDB. A
    ``--scheduler`` makes auto mean Dask."""
    requested = args.engine
    if requested == "auto" and getattr(args, "scheduler", None):
        requested = "dask"
    engine, why = choose_engine(path, requested)
    check_engine(path, engine)
    if why:
        print(f"note: {why}")
    return engine


def check_port(port: int | None) -> None:
    """Refuse a port outside 1-65535 (``None``: the default)."""
    if port is not None and not 1 <= port <= 65535:
        raise DashboardError(f"--port {port}: a TCP port is between 1 and 65535")


_HOST_NAME = re.compile(r"(?i)^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
                        r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$")
#: a Dask scheduler address: [scheme://]host:port, or an in-process one (inproc://ip/pid/n)
_SCHEDULER = re.compile(r"^(?:inproc://\S+|(?:[a-z][a-z0-9+.-]*://)?(?:\[[0-9a-fA-F:.]+\]|"
                        r"[^\s/:\[\]]+):\d{1,5}/?)$")


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def check_serve_options(args: argparse.Namespace) -> None:
    """Refuse, before anything starts, serve options that cannot work: a --host this machine
    cannot listen on, a --allow-host that is no host name, a --max-kernels below 1, a
    --timeout that is not a positive number (each was a traceback or a server whose every
    page got 503; issue 21)."""
    import math
    import socket

    if args.max_kernels is not None and args.max_kernels < 1:
        raise DashboardError(f"--max-kernels {args.max_kernels}: at least 1 page must fit")
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise DashboardError(f"--timeout {args.timeout:g}: seconds to wait for Voilà, a "
                             "positive number")
    for name in args.allow_host or ():
        if not (_HOST_NAME.match(name) or _is_ip(name)):
            raise DashboardError(f"--allow-host {name!r}: one host name or IP address (no "
                                 "wildcard); repeat the option for more")
    host = args.host
    if host not in ("", "0.0.0.0", "::") and not (_HOST_NAME.match(host) or _is_ip(host)):
        raise DashboardError(f"--host {host!r}: an interface's IP address or name, such as "
                             "127.0.0.1 or 0.0.0.0")
    reason: object = "no address"
    try:
        infos = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except OSError as exc:
        infos, reason = [], getattr(exc, "strerror", None) or exc
    for family, _, _, _, address in infos:  # as tornado: one address that binds is enough
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.bind(address)
            return
        except OSError as exc:
            reason = getattr(exc, "strerror", None) or exc
    raise DashboardError(f"--host {host!r}: cannot listen there ({reason}); give one of this "
                         "machine's addresses, such as 127.0.0.1 or 0.0.0.0")


def check_scheduler(address: str | None) -> None:
    """Refuse a --scheduler that is not a scheduler address (``tcp://host:port``,
    ``host:port`` or an in-process ``inproc://`` one) at once: Dask otherwise tried to reach
    it for a minute."""
    if address is not None and not _SCHEDULER.match(address.strip()):
        raise DashboardError(f"--scheduler {address!r}: a Dask scheduler address such as "
                             "tcp://10.0.0.5:8786")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def open_in_browser(page: Path) -> bool:
    """Open ``page`` in the user's browser; when none can be opened (a server, a container),
    say so in one line instead of leaving the user waiting for a window."""
    try:
        opened = webbrowser.open(page.as_uri())
    except webbrowser.Error:
        opened = False
    if not opened:
        print("No browser could be opened here: open the URL above in yours.", flush=True)
    return opened


def default_store(results_file: Path) -> Path:
    """The annotation store ``serve`` and ``report`` use for a results file by default: the
    tally grid's too (:func:`dashboard.annotations.default_store_for`)."""
    from dashboard.annotations import default_store_for

    store = default_store_for(results_file)
    store.parent.mkdir(parents=True, exist_ok=True)
    return store


COLUMN_OPTIONS = ("label", "score", "prediction", "split", "id", "model")
"""Loader keywords set by ``--<name>-col``."""


def loader_columns(args: argparse.Namespace) -> dict[str, Any]:
    """The loader keywords the column options and ``--pos-label`` ask for (only those given)."""
    columns = {name: getattr(args, f"{name}_col") for name in COLUMN_OPTIONS
               if getattr(args, f"{name}_col", None)}
    if getattr(args, "pos_label", None) is not None:
        columns["pos_label"] = args.pos_label
    if getattr(args, "class_names", None):
        columns["class_names"] = class_names_option(args.class_names)
    if getattr(args, "tag_cols", None):
        columns["categories"] = [c.strip() for c in args.tag_cols.split(",") if c.strip()]
    if getattr(args, "scheduler", None):
        if getattr(args, "engine", "pandas") != "dask":
            raise DashboardError("--scheduler is for --engine dask")
        check_scheduler(args.scheduler)
        columns["scheduler"] = args.scheduler
    return columns


def class_names_option(text: str) -> dict[str, str]:
    """Parse ``--class-names "0=not cat,1=cat"`` (label=name pairs) into label -> name."""
    names: dict[str, str] = {}
    for part in text.split(","):
        label, sep, name = part.partition("=")
        if not sep or not label.strip() or not name.strip():
            raise DashboardError(f"--class-names {text!r}: each entry is label=name, as in "
                                 "'0=not cat,1=cat'")
        if label.strip() in names:
            raise DashboardError(f"--class-names {text!r}: label {label.strip()!r} is named "
                                 "twice")
        if name.strip() in names.values():
            raise DashboardError(f"--class-names {text!r}: two labels are called "
                                 f"{name.strip()!r}; the views could not tell them apart")
        names[label.strip()] = name.strip()
    return names


def with_sidecar_names(columns: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The loader keywords with the sidecar's class names and tag columns unless
    ``--class-names`` or ``--tag-cols`` gave some."""
    if meta.get("class_names") and "class_names" not in columns:
        columns = {**columns, "class_names": meta["class_names"]}
    if meta.get("tags") and "categories" not in columns:
        columns = {**columns, "categories": list(meta["tags"])}
    return columns


def human_level_option(text: str | None) -> Any:
    """Parse ``--human-level``; a bare number above 1 is refused with the percentage it
    probably means ("2" -> "did you mean 2%?")."""
    if not text:
        return None
    try:
        value = read_human_level(text)
    except DashboardError:
        raise  # already one line naming the option and, for "2", the percentage meant
    except (ValueError, TypeError) as exc:
        raise DashboardError(f"--human-level {text!r}: {exc}; use 0.02, 2% or "
                             "'person=3%,experts=0.5%'") from None
    rates = value.items() if isinstance(value, dict) else [(None, value)]
    for name, rate in rates:
        if not 0.0 <= float(rate) <= 1.0:
            raw = f"{rate:g}"
            hint = f"; did you mean {raw}%?" if 1.0 < float(rate) <= 100.0 else ""
            where = f" ({name})" if name else ""
            raise DashboardError(f"--human-level {text!r}{where}: an error rate is between 0 "
                                 f"and 1, got {raw}{hint}")
    return value


_VALIDATE_CHILD = """
import json, sys
from dashboard.cli import _runs_summary, _summary
from dashboard.errors import DashboardError
args = json.loads(sys.argv[1])
try:
    if args.get("runs"):
        out = _runs_summary(args["runs"], args["human_level"], args["columns"],
                            args.get("cache"))
    else:
        out = _summary(args["path"], args["human_level"], args["columns"], args["engine"],
                       args.get("cache"))
except (DashboardError, ValueError, OSError) as exc:
    print(str(exc), file=sys.stderr)
    raise SystemExit(2) from None
print(json.dumps(out))
"""


def _summary(path: str | Path, human_level: Any, columns: dict[str, Any],
             engine: str = "pandas", cache: str | None = None) -> dict[str, Any]:
    """Load the results once and return what the launcher prints (runs in a child process).

    With a table cache this load is the one that validates the file and saves its table, so
    the page kernels starting meanwhile map it instead of each reading the file."""
    from dashboard.results import Results

    results = Results.from_dataset(Path(path), engine=engine, human_level=human_level,
                                   cache=cache, **columns)
    return {"rows": results.rows_total, "models": [str(m) for m in results.models],
            "notes": [str(n) for n in results.schema.notes]}


def _runs_summary(source: dict[str, Any], human_level: Any, columns: dict[str, Any],
                  cache: str | None = None) -> dict[str, Any]:
    """Read every run once (an unreadable one is named now, not in the page; with a table
    cache, each run's table is saved for the page's kernels) and return what the launcher
    prints (runs in a child process)."""
    from dashboard.app import open_runs

    runs = open_runs(source, human_level, columns, cache=cache)
    runs.history()
    latest = runs[runs.latest]
    return {"rows": latest.rows_total, "models": [str(m) for m in latest.models],
            "notes": [str(n) for n in (*runs.notes, *latest.schema.notes)],
            "runs": list(runs.names), "latest": runs.latest}


#: a source at least this big is validated while the server starts and preheats its first
#: page, not before: at 10M rows each load takes ~6 s, and in turn they made the page wait
#: for two (15 s from the URL to the first figure; 9 s overlapped). Smaller sources are
#: validated first, so a bad file is refused before any server starts.
OVERLAP_BYTES = 64 * 2**20


class _Validation:
    """The source loaded once in a child process (:func:`_validate`), started now, awaited
    with :meth:`result`; the launcher keeps no copy of the data."""

    def __init__(self, path: Path, human_level: Any, columns: dict[str, Any] | None = None,
                 engine: str = "pandas", cache: Path | None = None,
                 runs: dict[str, Any] | None = None) -> None:
        import subprocess

        from dashboard.serve import voila_process_env

        self.path = path
        request = json.dumps({"path": str(path), "human_level": human_level,
                              "columns": columns or {}, "engine": engine,
                              "cache": str(cache) if cache else None, "runs": runs})
        # files, not pipes: nobody reads the child while the server starts; both are closed
        # by result() or cancel()
        self._out = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self._err = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-c", _VALIDATE_CHILD, request],
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, text=True, env=voila_process_env())

    def result(self) -> dict[str, Any]:
        """The row count, the models and the loader's notes; DashboardError with the
        loader's message when the source cannot be used."""
        code = self.proc.wait()
        self._out.seek(0)
        self._err.seek(0)
        out, err = self._out.read(), self._err.read().strip()
        self._out.close()
        self._err.close()
        if code == 2:
            raise DashboardError(err.splitlines()[-1] if err else f"cannot read {self.path}")
        if code != 0:
            tail = "\n".join(err.splitlines()[-5:])
            raise RuntimeError(f"validating {self.path} failed (exit {code}):\n{tail}")
        return json.loads(out.strip().splitlines()[-1])

    def cancel(self) -> None:
        """Stop the child (the server could not start)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._out.close()
        self._err.close()


def _validate(path: Path, human_level: Any, columns: dict[str, Any] | None = None,
              engine: str = "pandas") -> dict[str, Any]:
    """Load the source in a child process so errors surface here, in plain words, and the
    launcher keeps no copy of the data while the server runs (the kernels load their own).

    Returns the row count, the models and the loader's notes; raises DashboardError with the
    loader's message when the file cannot be used.
    """
    return _Validation(path, human_level, columns, engine).result()


def _source_bytes(path: Path) -> int:
    """Bytes of a results file, or of every file in a folder of partitions."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.is_file() else 0


def _note_other_stores(results_file: Path, store: Path) -> None:
    """Say where reviews may be when a results file has no store of its own yet: its name
    is new (a re-export as results_v2.parquet), and other stores sit beside it."""
    from dashboard.annotations import other_stores

    found = other_stores(store)
    if found:
        names = ", ".join(str(p) for p in found[:3]) + (" …" if len(found) > 3 else "")
        print(f"note: no reviews saved for {results_file.name} yet; stores of other results "
              f"are beside it ({names}): --store FILE continues one (reviews follow the "
              "examples by id)")


def _check_store(store: Path, results_file: Path) -> None:
    """Open the annotation store once: a damaged or unwritable one is refused now, in one
    line naming it, rather than at the first tick in the page."""
    from dashboard.annotations import AnnotationStore

    if not store.parent.is_dir():
        raise DashboardError(f"the folder of the annotation store does not exist: {store.parent}")
    AnnotationStore(store, dataset=results_file.name).close()


def cmd_serve(args: argparse.Namespace) -> int:
    from dashboard import serve
    from dashboard.app import table_cache

    check_port(args.port)
    check_serve_options(args)
    token = serve.resolve_token(args.token or os.environ.get(serve.USER_TOKEN_ENV))
    source = runs_source(args)
    if source is not None:
        return _serve_runs(args, source, token)
    path = Path(args.file) if args.file else DEMO_DIR / "cat_results.parquet"
    args.engine = _resolve_engine(path, args)
    check_input(path, parse_size(args.max_size), args.engine)
    check_sidecar(path)
    meta = read_sidecar(path)
    human_level = human_level_option(args.human_level)
    if human_level is None:
        human_level = meta.get("human_level")
    if isinstance(human_level, int | float) and not isinstance(human_level, bool):
        human_level = {"human level": float(human_level)}  # a sidecar's 0 is a JSON int
    columns = with_sidecar_names(loader_columns(args), meta)
    if not path.exists():  # before a store is made for it
        raise DashboardError("file not found", file=str(path))
    store = Path(args.store) if args.store else default_store(path)
    if not args.store and not store.exists():
        _note_other_stores(path, store)
    _check_store(store, path)
    started = time.perf_counter()
    cache = table_cache(path, store, args.cache)
    validation = _Validation(path, human_level, columns, args.engine, cache)
    overlap = args.preheat and _source_bytes(path) >= OVERLAP_BYTES

    def loaded() -> None:
        summary = validation.result()
        models = summary["models"]  # a lone model's name is only the default "model"
        print(f"Loaded {path} ({summary['rows']:,} rows"
              + (f", models {', '.join(models)}" if len(models) > 1 else "")
              + f") in {time.perf_counter() - started:.1f} s")
        for note in summary["notes"]:
            print(f"note: {note}")

    if not overlap:
        loaded()
    return _launch_and_wait(
        args, token, store, validation, loaded if overlap else None, f"Dashboard for {path.name}",
        dict(file=path, human_level=human_level, store=store,
             dataset_name=meta.get("title") or path.name, columns=columns, engine=args.engine,
             cache=cache or "off"))


def runs_source(args: argparse.Namespace) -> dict[str, Any] | None:
    """The project's runs the command's source names, or None for one results file.

    ``mlflow:EXPERIMENT`` (with ``--tracking-uri``, ``--artifact``); a folder with
    ``--runs``; or, with ``--engine auto``, a folder whose files are runs rather than
    partitions of one table (:func:`dashboard.runs.looks_like_runs`: a sidecar's
    ``run_order``, or two files holding the same examples), said in a note.
    """
    text = args.file or ""
    tracking, artifact = getattr(args, "tracking_uri", None), getattr(args, "artifact", None)
    if text.startswith("mlflow:"):
        experiment = text[len("mlflow:"):].strip()
        if not experiment:
            raise DashboardError("mlflow:EXPERIMENT needs the experiment's name or id")
        return {"mlflow": experiment, "tracking_uri": tracking, "artifact": artifact}
    if tracking or artifact:
        raise DashboardError("--tracking-uri and --artifact are for an MLflow source: "
                             "mlflow:EXPERIMENT")
    if not text:
        return None
    path = Path(text)
    if getattr(args, "runs", False):
        if not path.is_dir():
            raise DashboardError("--runs needs a folder with one results file per run",
                                 file=str(path))
        return {"folder": str(path.resolve())}
    if path.is_dir() and args.engine == "auto" and not getattr(args, "scheduler", None):
        from dashboard.runs import looks_like_runs

        is_runs, why = looks_like_runs(path)
        if is_runs:
            print(f"note: {path} is read as runs, one results file each ({why}); "
                  "--engine duckdb reads it as partitions of one table")
            return {"folder": str(path.resolve())}
    return None


def _open_runs_here(source: dict[str, Any], args: argparse.Namespace) -> Any:
    """The runs, listed without reading them (the launcher holds no data); with a table
    cache beside their store (``--cache`` as for one file)."""
    from dashboard.app import open_runs, table_cache

    runs = open_runs(source, human_level_option(args.human_level), loader_columns(args),
                     getattr(args, "store", None))
    runs.cache = table_cache(Path(runs.origin), runs.store, getattr(args, "cache", None))
    return runs


def _serve_runs(args: argparse.Namespace, source: dict[str, Any], token: str) -> int:
    """``serve`` for a project's runs: every run read once in a child process (a bad one is
    named before the server starts), then the page of the latest with its History."""
    from dashboard.annotations import AnnotationStore
    from dashboard.app import table_cache

    runs = _open_runs_here(source, args)
    store = Path(args.store) if args.store else Path(runs.store)
    if not args.store:
        store.parent.mkdir(parents=True, exist_ok=True)  # the user data folder, for MLflow
    if not store.parent.is_dir():
        raise DashboardError(f"the folder of the annotation store does not exist: "
                             f"{store.parent}")
    AnnotationStore(store, dataset=runs.dataset_name(runs.latest)).close()
    human_level = human_level_option(args.human_level)
    columns = loader_columns(args)
    started = time.perf_counter()
    cache = table_cache(Path(runs.origin), store, args.cache)
    validation = _Validation(Path(runs.origin), human_level, columns, cache=cache,
                             runs=source)
    summary = validation.result()
    print(f"Loaded {len(summary['runs'])} runs from {runs.origin} "
          f"({', '.join(summary['runs'])}) in {time.perf_counter() - started:.1f} s; the page "
          f"opens on {summary['latest']} ({summary['rows']:,} rows), the History one tab away")
    for note in summary["notes"]:
        print(f"note: {note}")
    folder = Path(source["folder"]) if "folder" in source else None
    return _launch_and_wait(
        args, token, store, validation, None, f"Dashboard of {len(summary['runs'])} runs",
        dict(file=folder, human_level=human_level, store=store,
             dataset_name=folder.name if folder else f"mlflow:{source['mlflow']}",
             columns=columns, cache=cache or "off", runs=source))


def _launch_and_wait(args: argparse.Namespace, token: str, store: Path,
                     validation: _Validation, loaded: Any, what: str,
                     launch: dict[str, Any]) -> int:
    """Start Voilà for the page ``launch`` describes, say where it is, open the browser, and
    wait until Ctrl+C or the server exits. ``loaded`` (when the source is validated while
    the server starts) prints the validation's summary once the server is up."""
    from dashboard import serve

    port, preferred_free = serve.choose_port(args.host, args.port)
    if not preferred_free:
        print(f"Port {serve.DEFAULT_PORT} is in use; serving on port {port} instead.")
    log_path = Path(tempfile.gettempdir()) / f"mldash-voila-{os.getpid()}.log"
    try:
        running = serve.launch_dashboard(
            host=args.host, port=port, token=token, preheat=args.preheat,
            timeout=args.timeout, log_path=log_path, extra_hosts=args.allow_host or (),
            max_kernels=serve.MAX_KERNELS if args.max_kernels is None else args.max_kernels,
            theme=args.theme, **launch,
        )
    except (RuntimeError, TimeoutError) as exc:
        validation.cancel()
        tail = log_path.read_text(errors="replace").splitlines()[-15:] if log_path.exists() \
            else []
        raise RuntimeError("\n".join([f"{exc}; Voilà's last lines ({log_path}):", *tail])) \
            from None
    except BaseException:
        validation.cancel()
        raise
    if loaded is not None:
        try:
            loaded()
        except BaseException:
            running.stop()
            raise
    print(f"{what} at {running.url}")
    if not serve.is_loopback(args.host):
        port = int(running.base_url.rstrip("/").rsplit(":", 1)[1])
        print("It is reachable from other machines; give colleagues this URL (the token is "
              f"required): {serve.public_url(args.host, port, running.token)}")
    print(f"Annotations are saved in {store}; Voilà's log is {log_path}. "
          "Press Ctrl+C to stop.", flush=True)
    private = tempfile.TemporaryDirectory(prefix="mldash-open-")  # 0700: the token stays ours
    if not args.no_browser:
        # a 0600 redirect file keeps the token off the browser's command line
        open_in_browser(serve.browser_redirect_file(running.url, Path(private.name)))
    # Voilà runs in its own session: stop it on SIGTERM/SIGHUP too, not only on Ctrl+C
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        while running.proc.poll() is None:
            time.sleep(0.5)
        print(f"Voilà exited with code {running.proc.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Stopping…")
        return 0
    finally:
        running.stop()
        private.cleanup()


def _report_runs(args: argparse.Namespace, source: dict[str, Any]) -> int:
    """``report RUNS --compare A B``: what changed between two runs (default: the two
    latest), with their waterfalls side by side."""
    from dashboard.report import write_comparison_report

    runs = _open_runs_here(source, args)
    if args.no_store:
        runs.store = None
        print("Reviews: only the tags in the results files (--no-store)")
    elif args.store and not Path(args.store).is_file():
        raise DashboardError("no annotation store there (serve creates it)", file=args.store)
    else:
        found = runs.store is not None and Path(runs.store).is_file()
        print(f"Reviews from {runs.store}" if found else
              f"Reviews: none saved yet ({runs.store} does not exist)")
    if args.compare:
        before, after = args.compare
    elif len(runs) >= 2:
        before, after = runs.names[-2], runs.names[-1]
    else:
        raise DashboardError(f"only one run ({runs.latest}): a comparison needs two",
                             file=runs.origin)
    for name in (before, after):
        runs.where(name)  # an unknown run: one line naming the runs there are
    if before == after:
        raise DashboardError(f"--compare {before} {after}: name two different runs")
    out = write_comparison_report(runs, before, after, args.output, png_dir=args.png)
    print(runs.what_changed(before, after))
    print(f"Wrote {out} ({out.stat().st_size / 1e6:.1f} MB; opens offline)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from dashboard.annotations import ReviewSession, default_store_for
    from dashboard.app import table_cache
    from dashboard.report import write_report
    from dashboard.results import Results

    source = runs_source(args)
    if source is not None:
        return _report_runs(args, source)
    if args.compare:
        raise DashboardError("--compare needs a project's runs: a folder of runs (--runs) or "
                             "mlflow:EXPERIMENT", file=args.file)
    path = Path(args.file)
    args.engine = _resolve_engine(path, args)
    check_input(path, parse_size(args.max_size), args.engine)
    check_sidecar(path)
    meta = read_sidecar(path)
    human_level = human_level_option(args.human_level)
    if human_level is None:
        human_level = meta.get("human_level")
    store = Path(args.store) if args.store else default_store_for(path)
    results = Results.from_dataset(path, engine=args.engine, human_level=human_level,
                                   metadata=meta.get("models"),
                                   cache=table_cache(path, store, args.cache),
                                   **with_sidecar_names(loader_columns(args), meta))
    for note in results.schema.notes:
        print(f"note: {note}")
    if args.no_store:
        print("Reviews: only the tags in the results file (--no-store)")
    else:
        store = Path(args.store) if args.store else default_store_for(path)
        if args.store and not store.is_file():
            raise DashboardError("no annotation store there (serve creates it)", file=str(store))
        if store.is_file():
            session = ReviewSession(results, store)
            print(f"Reviews from {store}: {session.last_sync.reviewed} reviewed examples, "
                  f"{session.last_sync.comments} comments")
            if session.followed:
                print(f"note: these results hold the examples reviewed as "
                      f"{session.followed!r} in {store}: those reviews are counted")
            if session.last_sync.unknown_ids:
                print(f"note: {len(session.last_sync.unknown_ids)} reviewed examples in the "
                      "store are not in these results")
            session.store.close()
        else:
            print(f"Reviews: none saved yet ({store} does not exist)")
            if not args.store:
                _note_other_stores(path, store)
    if args.model:
        results.model = args.model
    if args.task:  # before the threshold: each task keeps its own
        if args.task not in results.tasks:
            known = ", ".join(map(repr, results.tasks)) or "none: the results are single-task"
            raise DashboardError(f"--task {args.task!r}: no such task"
                                 f"{did_you_mean(args.task, results.tasks)}; the tasks are "
                                 f"{known}", file=str(path))
        results.task = args.task
    if args.threshold is not None:
        results.threshold = args.threshold
    out = write_report(results, args.output, title=meta.get("title") or path.name,
                       png_dir=args.png)
    print(f"Wrote {out} ({out.stat().st_size / 1e6:.1f} MB; opens offline)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from dashboard.demo import write_demo

    path = write_demo(Path(args.directory) if args.directory else DEMO_DIR)
    print(f"Wrote the demo results to {path}")
    return 0


def _add_loader_options(parser: argparse.ArgumentParser) -> None:
    """The options that tell the loader how to read the results table."""
    for name, what in (("label", "true class"), ("score", "positive-class score"),
                       ("prediction", "hard prediction"), ("split", "split name"),
                       ("id", "example id"), ("model", "model name")):
        parser.add_argument(f"--{name}-col", default=None, metavar="COLUMN",
                            help=f"column holding the {what} (default: {name})")
    parser.add_argument("--pos-label", default=None, metavar="CLASS",
                        help="the positive class, when labels are not 0/1 or False/True")
    parser.add_argument("--class-names", default=None, metavar="LABEL=NAME,...",
                        help="names the views show for the labels, e.g. '0=not cat,1=cat' "
                             "(default: the sidecar's class_names, else the labels)")
    parser.add_argument("--tag-cols", default=None, metavar="COLUMN,...",
                        help="columns holding review ticks (True/False on reviewed rows), e.g. "
                             "'dog,blurry' (default: the sidecar's tags, else the columns "
                             "named tag:<category>); any other column is metadata")


def _add_engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=("auto", "pandas", "duckdb", "dask"),
                        default="auto",
                        help="pandas holds every row in memory; duckdb computes the "
                        "aggregates out of core and keeps a sample of rows (big files, "
                        "folders of partitions; pip install duckdb); dask does the same on a "
                        "Dask cluster (see --scheduler); auto (default): duckdb for a folder "
                        "or a file that would not fit in half the memory, else pandas")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="with --engine dask: the distributed scheduler, e.g. "
                        "tcp://10.0.0.5:8786 (default: Dask's local threads)")
    parser.add_argument("--cache", default=None, metavar="DIR|off",
                        help="where the validated table is kept once per version of the "
                        "file, so each page, the report and later runs open it without "
                        "reading the file again (default: .mldash-cache beside the "
                        "annotation store; off: read the file every time)")


def _add_runs_options(parser: argparse.ArgumentParser) -> None:
    """The options of a project's runs (a folder of runs, or an MLflow experiment)."""
    parser.add_argument("--runs", action="store_true",
                        help="read the folder as runs, one results file each (found by itself "
                             "when a sidecar gives a run_order or two files hold the same "
                             "examples)")
    parser.add_argument("--tracking-uri", default=None, metavar="URI",
                        help="with mlflow:EXPERIMENT: the tracking server, database URI or "
                             "mlruns folder (default: $MLFLOW_TRACKING_URI, else ./mlruns)")
    parser.add_argument("--artifact", default=None, metavar="PATH",
                        help="with mlflow:EXPERIMENT: the artifact holding each run's results "
                             "(default: results.parquet, results.csv, else the run's one "
                             "Parquet or CSV artifact)")


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (exit status 2) instead of the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print ``error: <message>`` and where to read the usage, then exit with status 2."""
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser: serve, report and demo."""
    parser = _Parser(prog="python -m dashboard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve the dashboard for a results file with Voilà")
    s.add_argument("file", nargs="?", help="CSV, Parquet or JSON Lines results, a folder of "
                   "runs (one results file each), mlflow:EXPERIMENT, or with --engine duckdb "
                   "a folder of Parquet partitions (default: demo)")
    _add_engine_option(s)
    _add_runs_options(s)
    s.add_argument("--port", type=int, default=None,
                   help="port (default 8866, or a free one when 8866 is taken)")
    s.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (0.0.0.0: every interface, for a team)")
    s.add_argument("--token", default=None,
                   help="access token, at least 32 characters (default: $DASHBOARD_TOKEN, else "
                        "a generated one); prefer $DASHBOARD_TOKEN: other users see options in ps")
    s.add_argument("--allow-host", action="append", metavar="NAME",
                   help="another Host name the server answers to (e.g. a DNS alias); repeatable")
    s.add_argument("--human-level", default=None,
                   help="human-level error: 0.01, 1%%, 'person=3%%,experts=0.5%%' or JSON")
    s.add_argument("--store", default=None,
                   help="annotation SQLite file (default: <results>.annotations.sqlite next to "
                        "the results file, or in the user data folder for the demo)")
    _add_loader_options(s)
    s.add_argument("--no-browser", action="store_true", help="do not open a browser")
    s.add_argument("--theme", choices=("light", "dark", "auto"), default="auto",
                   help="colours of the page: light, dark, or auto (the default: follows the "
                        "browser's prefers-color-scheme, as the report does)")
    s.add_argument("--preheat", dest="preheat", action="store_true", default=True,
                   help="keep one kernel ready with the notebook run, so a page opens on a "
                        "built dashboard (the default; one idle kernel, ~250 MB; the page "
                        "reads the reviews again, or the file if it changed, when it opens)")
    s.add_argument("--no-preheat", dest="preheat", action="store_false",
                   help="start each page's kernel when the page opens (saves the idle "
                        "kernel's memory; the first page takes longer)")
    s.add_argument("--max-kernels", type=int, default=None, metavar="N",
                   help="most pages open at once, one kernel each (~240-290 MB); default 12, "
                        "about 13 per 4 GB of memory")
    s.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for Voilà")
    s.add_argument("--max-size", default="1GB", metavar="SIZE",
                   help="refuse larger results files (default 1GB; 0: no limit)")
    s.set_defaults(func=cmd_serve)

    rp = sub.add_parser("report", help="write a self-contained HTML diagnosis")
    rp.add_argument("file", help="CSV, Parquet or JSON Lines results, a folder of runs, "
                    "mlflow:EXPERIMENT, or with --engine duckdb a folder of Parquet partitions")
    _add_engine_option(rp)
    _add_runs_options(rp)
    rp.add_argument("--compare", nargs=2, default=None, metavar=("RUN_A", "RUN_B"),
                    help="with runs: what changed from RUN_A to RUN_B, their waterfalls side "
                         "by side (default: the two latest runs)")
    rp.add_argument("-o", "--output", default="diagnosis.html", help="HTML file to write")
    rp.add_argument("--human-level", default=None, help="as for serve")
    rp.add_argument("--store", default=None,
                    help="annotation store whose reviews the report counts (default: the one "
                         "serve uses for this file)")
    rp.add_argument("--no-store", action="store_true",
                    help="count only the tags in the results file")
    _add_loader_options(rp)
    rp.add_argument("--model", default=None, help="model to report (default: the first)")
    rp.add_argument("--task", default=None,
                    help="task to report, for multi-task results (default: the first)")
    rp.add_argument("--threshold", type=float, default=None, help="decision threshold")
    rp.add_argument("--max-size", default="1GB", metavar="SIZE",
                    help="refuse larger results files (default 1GB; 0: no limit)")
    rp.add_argument("--png", default=None, metavar="DIR",
                    help="also write one PNG per figure into DIR (needs Chromium)")
    rp.set_defaults(func=cmd_report)

    d = sub.add_parser("demo", help="regenerate the bundled demo data (seeded)")
    d.add_argument("directory", nargs="?", help="where to write it (default: the package's)")
    d.set_defaults(func=cmd_demo)
    return parser


_API_TO_OPTION = {"(pos_label=...)": "(--pos-label CLASS)"}


def command_line_words(message: str) -> str:
    """A loader message with Python keywords it suggests replaced by the matching options."""
    for api, option in _API_TO_OPTION.items():
        message = message.replace(api, option)
    return message


def main(argv: list[str] | None = None) -> int:
    """Run the command line; bad input prints one line and exits with status 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DashboardError as exc:
        print(f"error: {command_line_words(str(exc))}", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
