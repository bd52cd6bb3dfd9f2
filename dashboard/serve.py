"""Start, probe and stop the Voila server that shows the dashboard.

The launcher hands the results file to the notebook through environment
variables (``ENV_*`` below); the notebook (``notebooks/dashboard.ipynb``) is
one cell that calls :func:`dashboard.app.app_from_environment`.

Security model, checked against voila 0.5 / jupyter_server 2 sources:

* the browser cannot run code: Voila's kernel manager only lets comm, kernel
  info and shutdown messages through its websocket (``allowed_message_types``
  in ``voila/app.py``, enforced in
  ``jupyter_server/services/kernels/connection/channels.py``), so an
  ``execute_request`` from the page is dropped;
* no file is served: the server root is a temporary directory holding only
  the notebook, and ``/voila/files/`` (the only file route in notebook mode)
  has an allow-list that matches nothing and a deny-list that matches
  everything;
* every server requires a token of at least 32 characters (a generated one by default); it
  reaches Voilà through the environment (:data:`ENV_TOKEN`), never its command line, which
  ``ps`` shows to every local user, and the browser is opened through a private redirect file;
* only the expected ``Host`` names are answered (:func:`allowed_hosts`): a page on another
  site that rebinds its DNS name to 127.0.0.1 gets 403 (:mod:`dashboard.voila_server`).
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
import json
import os
import secrets
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ENV_FILE = "DASHBOARD_FILE"
"""Absolute path of the results file the dashboard opens."""
ENV_HUMAN_LEVEL = "DASHBOARD_HUMAN_LEVEL"
"""Optional JSON object ``{name: error rate}`` of human-level references."""
ENV_STORE = "DASHBOARD_STORE"
"""Optional path of the annotation SQLite store."""
ENV_DATASET_NAME = "DASHBOARD_DATASET_NAME"
"""Display name of the data set (defaults to the file's name)."""
ENV_COLUMNS = "DASHBOARD_COLUMNS"
#: the engine that reads the results ("pandas" when unset; "duckdb" for big data)
ENV_ENGINE = "DASHBOARD_ENGINE"
#: where kernels find the validated table of the file (a folder, or "off"); see dashboard.cache
ENV_CACHE = "DASHBOARD_CACHE"
"""Optional JSON object of loader keywords (``label``, ``score``, ``pos_label``...)."""
ENV_RUNS = "DASHBOARD_RUNS"
"""Optional JSON object naming a project's runs instead of one file: ``{"folder": path}`` or
``{"mlflow": experiment, "tracking_uri": uri, "artifact": name}``."""
ENV_TOKEN = "DASHBOARD_VOILA_TOKEN"
"""The access token, handed to :mod:`dashboard.voila_server`, which removes it from its
environment before starting kernels."""
USER_TOKEN_ENV = "DASHBOARD_TOKEN"
"""Where a user puts their own token for ``serve`` (the README's advice); kept from Voilà's
and so the kernels' environment."""
MIN_TOKEN_LENGTH = 32
"""Shortest access token accepted."""

NOTEBOOK_NAME = "dashboard.ipynb"
NOTEBOOK_TITLE = "ML diagnosis dashboard"
NOTEBOOK_CELL_SOURCE = (
    "from dashboard.app import app_from_environment\n"
    "\n"
    "app_from_environment()"
)
"""The one code cell of the Voila entry point (single source of truth)."""

TEMPLATE_NAME = "mldash"
TEMPLATE_ROOT = Path(__file__).resolve().parent / "templates"
"""Jupyter data directory holding ``nbconvert/templates/mldash``; put first on JUPYTER_PATH."""

PLOTLY_JS = "plotly.min.js"
"""Served as ``/voila/templates/mldash/static/plotly.min.js``: the figures' plotly.js."""

REPO_NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / NOTEBOOK_NAME
"""The notebook in a source checkout; absent from wheel installs."""

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
HEALTH_PATH = "voila/static/voila.js"
DEFAULT_PORT = 8866
"""Voilà's usual port, tried first."""
VOILA_MODULE = "dashboard.voila_server"
"""Voilà with the dashboard's limits (:mod:`dashboard.voila_server`); takes Voilà's options."""
FILE_ALLOW_NOTHING = "(?!)"
"""A regular expression that matches no path: ``/voila/files/`` serves nothing."""

CULL_IDLE_TIMEOUT_S = 60
"""A kernel without a connected page is shut down after this many idle seconds (a closed
page's kernel normally goes at once, through Voilà's shutdown beacon)."""
CULL_INTERVAL_S = 10
MAX_KERNELS = 12
"""Default cap on kernels, i.e. concurrent viewers: each holds ~284 MB with the demo, so 12
fill about 3.6 GB with Voilà's own ~200 MB."""
KERNEL_MANAGER = "dashboard.voila_server.CappedKernelManager"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names a loopback interface.

    Parameters
    ----------
    host : str
        Host name or IP address the server binds to.

    Returns
    -------
    bool
        True for ``localhost`` and 127.0.0.0/8 or ``::1``; False otherwise
        (including ``0.0.0.0`` and ``""``, which bind every interface).
    """
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url(host: str, port: int) -> str:
    """URL of a server bound to ``host``, as seen from this machine.

    Parameters
    ----------
    host : str
        Bound interface; the wildcards ``0.0.0.0``/``""`` and ``::`` map to
        the loopback address of their family.
    port : int
        Port.

    Returns
    -------
    str
        ``http://host:port/``.
    """
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{int(port)}/"


def find_free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a TCP port that is free right now on ``host``.

    Parameters
    ----------
    host : str
        Interface to probe.

    Returns
    -------
    int
        A port number; another process may still take it before Voila binds,
        in which case Voila exits (``port_retries=0``) instead of moving.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """Whether ``port`` can be bound on ``host`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host or "0.0.0.0", port))
        except OSError:
            return False
    return True


def choose_port(host: str, port: int | None = None) -> tuple[int, bool]:
    """The port to serve on: ``port`` when given, else :data:`DEFAULT_PORT` when it is free,
    else a free one. Returns the port and whether it is the one asked for (or the default)."""
    if port is not None:
        return int(port), True
    if port_is_free(host, DEFAULT_PORT):
        return DEFAULT_PORT, True
    return find_free_port(host or "0.0.0.0"), False


def build_notebook() -> dict:
    """Return the Voila entry-point notebook as a notebook-format 4 dict.

    Returns
    -------
    dict
        A one-cell notebook running :data:`NOTEBOOK_CELL_SOURCE`.
    """
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "dashboard",
                "metadata": {},
                "outputs": [],
                "source": NOTEBOOK_CELL_SOURCE.splitlines(keepends=True),
            }
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "title": NOTEBOOK_TITLE,
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_notebook(path: Path) -> Path:
    """Write :func:`build_notebook` to ``path`` as JSON.

    Parameters
    ----------
    path : Path
        Destination ``.ipynb`` file.

    Returns
    -------
    Path
        ``path``.
    """
    path.write_text(json.dumps(build_notebook(), indent=1) + "\n", encoding="utf-8")
    return path


def prepare_root_dir(root_dir: Path) -> Path:
    """Put the entry-point notebook, and nothing else, into ``root_dir``.

    Copies ``notebooks/dashboard.ipynb`` from a source checkout when there is
    one, else writes the same notebook from code.

    Parameters
    ----------
    root_dir : Path
        An existing, preferably empty and private, directory to serve.

    Returns
    -------
    Path
        Path of the notebook inside ``root_dir``.
    """
    target = Path(root_dir) / NOTEBOOK_NAME
    if REPO_NOTEBOOK.is_file():
        shutil.copyfile(REPO_NOTEBOOK, target)
    else:
        write_notebook(target)
    return target


def dashboard_env(
    file: Path | None,
    *,
    human_level: Mapping[str, float] | None = None,
    store: Path | None = None,
    dataset_name: str | None = None,
    columns: Mapping[str, object] | None = None,
    engine: str | None = None,
    cache: Path | str | None = None,
    runs: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """Environment variables that tell the notebook what to show.

    Parameters
    ----------
    file : Path or None
        Results file (or a runs folder); made absolute. None for MLflow runs.
    human_level : Mapping[str, float], optional
        Human-level error rates by name, passed as JSON.
    store : Path, optional
        Annotation SQLite store; made absolute.
    dataset_name : str, optional
        Display name; defaults to the file's name.
    columns : Mapping[str, object], optional
        Loader keywords (column names, ``pos_label``), passed as JSON.
    engine : str, optional
        ``"duckdb"`` to read the results through DuckDB (a file, or a folder of partitions);
        unset or ``"pandas"``: every row in memory.
    cache : Path or str, optional
        The table cache's folder, or ``"off"``; unset: beside the store.
    runs : Mapping, optional
        A project's runs (see :data:`ENV_RUNS`), passed as JSON: the page opens on the
        latest run, with their History one tab away.

    Returns
    -------
    dict[str, str]
        Only the ``DASHBOARD_*`` variables.
    """
    env: dict[str, str] = {}
    if file is not None:
        file = Path(file).resolve()
        env[ENV_FILE] = str(file)
    env[ENV_DATASET_NAME] = dataset_name or (file.name if file is not None else "runs")
    if runs is not None:
        env[ENV_RUNS] = json.dumps(dict(runs))
    if human_level is not None:
        env[ENV_HUMAN_LEVEL] = json.dumps({str(k): float(v) for k, v in human_level.items()})
    if store is not None:
        env[ENV_STORE] = str(Path(store).resolve())
    if columns:
        env[ENV_COLUMNS] = json.dumps({str(k): v for k, v in columns.items()})
    if engine and engine != "pandas":
        env[ENV_ENGINE] = str(engine)
    if cache is not None:
        env[ENV_CACHE] = str(Path(cache).resolve()) if str(cache) != "off" else "off"
    return env


#: seconds Voilà waits for a page's last output after its cell finished (nbclient's default 4)
IOPUB_TIMEOUT_S = 120


def voila_argv(
    notebook: Path,
    *,
    port: int,
    host: str = "127.0.0.1",
    root_dir: Path,
    preheat: bool = False,
    theme: str = "light",
    cull_idle_timeout: int = CULL_IDLE_TIMEOUT_S,
    extra_hosts: Sequence[str] = (),
    max_kernels: int = MAX_KERNELS,
    cull_interval: int = CULL_INTERVAL_S,
) -> list[str]:
    """Command line that serves ``notebook`` with Voila.

    Parameters
    ----------
    notebook : Path
        The entry-point notebook, inside ``root_dir``.
    port : int
        TCP port; Voila exits rather than pick another one.
    host : str
        Interface to bind.
    root_dir : Path
        Directory Voila serves; should hold only the notebook.
    preheat : bool
        Keep one kernel that already ran the notebook ready for the next page
        (one idle kernel's memory, ~250 MB with the demo; the page opens on a built
        dashboard instead of loading the file first).
    theme : str
        ``"light"``, ``"dark"`` or ``"auto"`` (the browser's ``prefers-color-scheme``).
    cull_idle_timeout : int
        Seconds after which an idle kernel without a page is shut down (a kernel no page has
        connected to yet is kept while a page may still be connecting; see
        ``CappedKernelManager.connect_grace`` in :mod:`dashboard.voila_server`).
    extra_hosts : Sequence[str]
        Host names answered besides those of :func:`allowed_hosts`.
    max_kernels : int
        Most kernels (pages) at once; one more page gets a "full" notice.
    cull_interval : int
        Seconds between two passes of the culler.

    Returns
    -------
    list[str]
        ``[sys.executable, "-m", "dashboard.voila_server", ...]``; the token is
        not on it (see :data:`ENV_TOKEN`).

    Raises
    ------
    ValueError
        If the notebook is not inside ``root_dir``.
    """
    notebook = Path(notebook).resolve()
    root_dir = Path(root_dir).resolve()
    if not notebook.is_relative_to(root_dir):
        raise ValueError(f"notebook {notebook} is not inside root_dir {root_dir}")
    argv = [
        sys.executable,
        "-m",
        VOILA_MODULE,
        str(notebook),
        "--no-browser",
        f"--port={int(port)}",
        "--Voila.port_retries=0",
        f"--Voila.ip={host}",
        f"--Voila.root_dir={root_dir}",
        f"--template={TEMPLATE_NAME}",
        f"--theme={theme}",
        # the URL query (?template=, ?theme=) must not switch to a template that
        # loads from a CDN or shows code
        "--VoilaConfiguration.allow_template_override=NO",
        "--VoilaConfiguration.allow_theme_override=NO",
        "--VoilaConfiguration.strip_sources=True",
        "--VoilaConfiguration.show_tracebacks=False",
        # /voila/files/ serves nothing: nothing is allowed, everything denied
        # (one --X=item per list item: traitlets 5 deprecates --X=[...])
        f"--VoilaConfiguration.file_allowlist={FILE_ALLOW_NOTHING}",
        "--VoilaConfiguration.file_denylist=.*",
        # the figures draw with the template's plotly.js (dashboard/widgets/figure.py): the
        # plotly labextension (its own 4.8 MB plotly.js) has nothing to render here
        "--VoilaConfiguration.extension_denylist=jupyterlab-plotly",
        f"--VoilaConfiguration.multi_kernel_manager_class={KERNEL_MANAGER}",
        f"--CappedKernelManager.max_kernels={int(max_kernels)}",
        f"--MappingKernelManager.cull_idle_timeout={int(cull_idle_timeout)}",
        f"--MappingKernelManager.cull_interval={int(cull_interval)}",
        "--MappingKernelManager.cull_connected=False",
        # a page's output (the dashboard's widget) may reach Voilà seconds after its cell
        # finished when many kernels start at once on few cores: nbclient's default 4 s wait
        # dropped it, and the page stayed blank (ten viewers arriving together, issue 21)
        f"--VoilaExecutor.iopub_timeout={IOPUB_TIMEOUT_S}",
    ]
    # one --X=item per list item (traitlets 5 deprecates --X=[...])
    argv += [f"--DashboardVoila.allowed_hosts={h}" for h in allowed_hosts(host, extra_hosts)]
    if preheat:
        argv += ["--preheat_kernel=True", "--pool_size=1"]
    return argv


def make_token() -> str:
    """Return a fresh random access token (``secrets.token_urlsafe(32)``, 43 characters)."""
    return secrets.token_urlsafe(32)


def resolve_token(token: str | None = None) -> str:
    """The token a server uses: ``token``, or a new one from :func:`make_token` when empty.

    Raises
    ------
    ValueError
        If ``token`` is shorter than :data:`MIN_TOKEN_LENGTH` characters.
    """
    if not token:
        return make_token()
    if len(token) < MIN_TOKEN_LENGTH or token != token.strip():
        raise ValueError(f"the access token must be at least {MIN_TOKEN_LENGTH} characters "
                         "without surrounding spaces (leave it out to get a generated one)")
    return token


def machine_addresses() -> list[str]:
    """Names and addresses other machines may use to reach this one (hostname, FQDN, the IP of
    the interface that routes outwards); never raises."""
    names: list[str] = []
    with contextlib.suppress(OSError):
        names += [socket.gethostname(), socket.getfqdn()]
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: a UDP connect sends no packet
        names.append(sock.getsockname()[0])
    for name in list(names):
        with contextlib.suppress(OSError, UnicodeError):
            names += [info[4][0] for info in socket.getaddrinfo(name, None)]
    return list(dict.fromkeys(n.lower() for n in names if n and not is_loopback(n)))


def allowed_hosts(host: str, extra: Sequence[str] = ()) -> list[str]:
    """``Host`` names a server bound to ``host`` answers (other names get 403).

    Loopback names always; the bound name when it is a specific interface; for the wildcards
    ``0.0.0.0``/``::``/``""`` this machine's names and addresses (:func:`machine_addresses`);
    and ``extra``. IPv6 addresses are listed bare and in brackets.
    """
    names = ["localhost", "127.0.0.1", "::1"]
    if host not in ("", "0.0.0.0", "::"):
        names.append(host.strip("[]").lower())
    elif not is_loopback(host):
        names += machine_addresses()
    names += [str(e).strip().strip("[]").lower() for e in extra if str(e).strip()]
    out: list[str] = []
    for name in dict.fromkeys(names):
        out.append(name)
        if ":" in name:
            out.append(f"[{name}]")
    return out


def public_url(host: str, port: int, token: str) -> str:
    """The URL to give colleagues for a server bound to ``host`` (with the token)."""
    if host in ("", "0.0.0.0", "::"):
        reachable = [a for a in machine_addresses() if ":" not in a]
        name = next((a for a in reachable if a.replace(".", "").isdigit()),
                    reachable[0] if reachable else socket.gethostname())
    else:
        name = host
    return base_url(name, port) + f"?token={token}"


def browser_redirect_file(url: str, folder: Path) -> Path:
    """A 0600 HTML file in ``folder`` that sends the browser to ``url``.

    Opening this file instead of the URL keeps the token off the browser's command line.
    """
    target = Path(folder) / "open-dashboard.html"
    quoted = json.dumps(url)
    text = (f"<!doctype html><meta charset='utf-8'><title>ML diagnosis dashboard</title>"
            f"<meta http-equiv='refresh' content='0;url={html.escape(url, quote=True)}'>"
            f"<script>location.replace({quoted})</script>"
            f"<a href='{html.escape(url, quote=True)}'>Open the dashboard</a>")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(target, 0o600)
    return target


def plotly_static_root(base: Path | None = None) -> Path:
    """A Jupyter data directory whose ``nbconvert/templates/mldash/static/`` holds plotly.js.

    Voila serves a template's ``static/`` folders, from every directory on the Jupyter data
    path, at ``/voila/templates/<template>/static/`` (with ``?v=`` the browser caches the file
    for good). The file is the plotly package's own ``package_data/plotly.min.js``, copied into
    the user's data folder (the package folder may be read-only) when missing or changed.
    """
    import plotly  # the kernel's plotly: the same version the figure widget asks for

    source = Path(plotly.__file__).resolve().parent / "package_data" / PLOTLY_JS
    root = base or Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
                        ) / "ml-diagnosis-dashboard" / "jupyter"
    static = root / "nbconvert" / "templates" / TEMPLATE_NAME / "static"
    target = static / PLOTLY_JS
    stat = source.stat()
    if not (target.exists() and target.stat().st_size == stat.st_size
            and target.stat().st_mtime >= stat.st_mtime):
        static.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    return root


def voila_process_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the Voila process and, through it, its kernels.

    Puts :data:`TEMPLATE_ROOT` first on ``JUPYTER_PATH`` (Voila 0.5 has no
    command-line option for template search paths; it searches the Jupyter
    data path), then :func:`plotly_static_root` (the template's plotly.js),
    and this package's parent directory on ``PYTHONPATH`` when it
    is a source checkout, so the kernel imports the same ``dashboard``.

    Parameters
    ----------
    extra : Mapping[str, str], optional
        Variables to add, e.g. from :func:`dashboard_env`.

    Returns
    -------
    dict[str, str]
        A copy of ``os.environ`` with the additions, without the access token
        (:data:`USER_TOKEN_ENV`, :data:`ENV_TOKEN`): Voilà copies its environment into every
        kernel's, and a kernel's ``/proc/<pid>/environ`` is readable by its user.
    """
    env = {k: v for k, v in os.environ.items() if k not in (USER_TOKEN_ENV, ENV_TOKEN)}
    env.update(extra or {})
    env["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(TEMPLATE_ROOT), str(plotly_static_root()), env.get("JUPYTER_PATH", ""))
        if p
    )
    package_parent = str(Path(__file__).resolve().parents[1])
    site_dirs = {str(Path(p).resolve()) for p in site.getsitepackages()}
    if package_parent not in site_dirs:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_parent, env.get("PYTHONPATH", "")) if p
        )
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def hub_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a JupyterHub spawner adds to a user's server so it serves the dashboard.

    The :func:`voila_process_env` additions only (``JUPYTER_PATH`` for the ``mldash``
    template and its plotly.js, ``PYTHONPATH`` for a source checkout) plus ``extra``, e.g.
    :func:`dashboard_env`'s ``DASHBOARD_*`` variables: for ``c.Spawner.environment`` in a
    ``jupyterhub_config.py`` (``examples/jupyterhub/``). The kernels then see the Hub's
    ``JUPYTERHUB_USER``, which the tally grid records as the reviewer.
    """
    full = voila_process_env(extra)
    return {k: v for k, v in full.items() if os.environ.get(k) != v or k in (extra or {})}


def start_voila(
    notebook: Path,
    *,
    port: int,
    host: str = "127.0.0.1",
    token: str,
    root_dir: Path,
    env: Mapping[str, str] | None = None,
    preheat: bool = False,
    log_path: Path | None = None,
    extra_hosts: Sequence[str] = (),
    max_kernels: int = MAX_KERNELS,
    theme: str = "light",
    cull_idle_timeout: int = CULL_IDLE_TIMEOUT_S,
    cull_interval: int = CULL_INTERVAL_S,
) -> subprocess.Popen:
    """Start Voila on ``notebook`` in the background.

    Parameters
    ----------
    notebook, port, host, root_dir, preheat, extra_hosts, max_kernels, theme, \
cull_idle_timeout, cull_interval
        As in :func:`voila_argv`.
    token : str
        Access token (see :func:`resolve_token`); passed in the environment.
    env : Mapping[str, str], optional
        Extra environment (the ``DASHBOARD_*`` variables).
    log_path : Path, optional
        File that receives Voila's output; by default it is discarded.

    Returns
    -------
    subprocess.Popen
        The server process, in its own process group.
    """
    token = resolve_token(token) if token else ""
    if not token:
        raise ValueError("a token is required (use resolve_token())")
    argv = voila_argv(
        notebook, port=port, host=host, root_dir=root_dir, preheat=preheat,
        extra_hosts=extra_hosts, max_kernels=max_kernels, theme=theme,
        cull_idle_timeout=cull_idle_timeout, cull_interval=cull_interval,
    )
    # the log is private (0600): it names the data, and Voilà's own lines may hold URLs
    out = (os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
           if log_path is not None else subprocess.DEVNULL)
    try:
        return subprocess.Popen(
            argv,
            env={**voila_process_env(env), ENV_TOKEN: token},
            cwd=str(root_dir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        if log_path is not None:
            out.close()


def wait_until_up(
    base_url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None
) -> None:
    """Poll ``/voila/static/voila.js`` until the server answers.

    The notebook page itself is not probed: every load starts a kernel.

    Parameters
    ----------
    base_url : str
        ``http://host:port/``.
    timeout : float
        Seconds to wait.
    proc : subprocess.Popen, optional
        The server process; if it exits, stop waiting at once.

    Raises
    ------
    RuntimeError
        If the process exits first.
    TimeoutError
        If the server does not answer within ``timeout``.
    """
    url = base_url.rstrip("/") + "/" + HEALTH_PATH
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"Voila exited with code {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"Voila did not answer {url} within {timeout} s")
        time.sleep(0.1)


def stop_voila(proc: subprocess.Popen, timeout: float = 10.0) -> int | None:
    """Stop the server: SIGTERM (Voila then shuts its kernels down), then kill.

    Parameters
    ----------
    proc : subprocess.Popen
        Process from :func:`start_voila`.
    timeout : float
        Seconds to wait after SIGTERM before killing its process group.

    Returns
    -------
    int or None
        The exit code.
    """
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=timeout)


@dataclass
class RunningDashboard:
    """A started dashboard server; stop it with :meth:`stop` or a ``with`` block."""

    proc: subprocess.Popen
    base_url: str
    token: str
    root_dir: Path
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """URL to open, with the token."""
        return self.base_url + f"?token={self.token}"

    def stop(self) -> None:
        """Stop the server and remove its temporary root directory."""
        stop_voila(self.proc)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RunningDashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def launch_dashboard(
    file: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    token: str | None = None,
    human_level: Mapping[str, float] | None = None,
    store: Path | None = None,
    dataset_name: str | None = None,
    preheat: bool = True,
    timeout: float = 60.0,
    log_path: Path | None = None,
    extra_hosts: Sequence[str] = (),
    max_kernels: int = MAX_KERNELS,
    columns: Mapping[str, object] | None = None,
    engine: str | None = None,
    cache: Path | str | None = None,
    theme: str = "light",
    cull_idle_timeout: int = CULL_IDLE_TIMEOUT_S,
    cull_interval: int = CULL_INTERVAL_S,
    runs: Mapping[str, object] | None = None,
) -> RunningDashboard:
    """Serve the dashboard for one results file and wait until it answers.

    Makes a private temporary root directory holding only the notebook.

    Parameters
    ----------
    file : Path, optional
        Results file to show (or the folder of ``runs``; None for MLflow runs).
    host : str
        Interface to bind.
    port : int, optional
        Port; a free one by default (the CLI tries :data:`DEFAULT_PORT` first).
    token : str, optional
        Access token of at least 32 characters; generated by default.
    human_level, store, dataset_name
        As in :func:`dashboard_env`.
    preheat : bool
        As in :func:`voila_argv`; on by default: the page then opens on a built dashboard,
        which reads the reviews again (or the file, if it changed) when it is shown
        (:class:`dashboard.app.PreheatedApp`).
    timeout : float
        Seconds to wait for the server.
    log_path : Path, optional
        Where Voila's output goes.
    extra_hosts : Sequence[str]
        More ``Host`` names to answer (see :func:`allowed_hosts`).
    max_kernels : int
        Most concurrent pages (kernels).
    columns : Mapping[str, object], optional
        Loader keywords, as in :func:`dashboard_env`.
    engine, cache : str, optional
        As in :func:`dashboard_env`.
    theme : str
        As in :func:`voila_argv`.
    cull_idle_timeout, cull_interval : int
        As in :func:`voila_argv` (tests shorten them to replay a cull race in seconds).
    runs : Mapping, optional
        As in :func:`dashboard_env`: a project's runs instead of one file.

    Returns
    -------
    RunningDashboard
        The running server.
    """
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port}: a TCP port is between 1 and 65535")
    token = resolve_token(token)
    tmp = tempfile.TemporaryDirectory(prefix="mldash-")
    root_dir = Path(tmp.name)
    notebook = prepare_root_dir(root_dir)
    port = port or find_free_port(host or "0.0.0.0")
    env = dashboard_env(file, human_level=human_level, store=store, dataset_name=dataset_name,
                        columns=columns, engine=engine, cache=cache, runs=runs)
    try:
        proc = start_voila(
            notebook, port=port, host=host, token=token, root_dir=root_dir, env=env,
            preheat=preheat, log_path=log_path, extra_hosts=extra_hosts,
            max_kernels=max_kernels, theme=theme, cull_idle_timeout=cull_idle_timeout,
            cull_interval=cull_interval,
        )
    except BaseException:
        tmp.cleanup()
        raise
    running = RunningDashboard(proc, base_url(host, port), token, root_dir, tmp)
    try:
        wait_until_up(running.base_url, timeout=timeout, proc=proc)
    except BaseException:
        running.stop()
        raise
    return running
