"""Tests of dashboard.serve without a browser: command line, tokens, notebook, template."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import ipywidgets
import nbformat
import pytest

from dashboard import serve
from dashboard.app import app_from_environment
from dashboard.serve import (
    ENV_DATASET_NAME,
    ENV_FILE,
    ENV_HUMAN_LEVEL,
    ENV_STORE,
    NOTEBOOK_CELL_SOURCE,
    REPO_NOTEBOOK,
    TEMPLATE_NAME,
    TEMPLATE_ROOT,
    voila_argv,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root(tmp_path: Path) -> tuple[Path, Path]:
    root_dir = tmp_path / "root"
    root_dir.mkdir()
    return root_dir, serve.prepare_root_dir(root_dir)


def option(argv: list[str], name: str) -> list[str]:
    """Values of ``--name=value`` options in argv."""
    prefix = f"--{name}="
    return [a[len(prefix):] for a in argv if a.startswith(prefix)]


# --------------------------------------------------------------------------- voila_argv


def test_argv_for_loopback_host(root: tuple[Path, Path]) -> None:
    root_dir, nb = root
    argv = voila_argv(nb, port=8123, root_dir=root_dir)
    assert argv[:4] == [sys.executable, "-m", serve.VOILA_MODULE, str(nb.resolve())]
    assert "--no-browser" in argv
    assert option(argv, "port") == ["8123"]
    assert option(argv, "Voila.port_retries") == ["0"]
    assert option(argv, "Voila.ip") == ["127.0.0.1"]
    assert option(argv, "Voila.root_dir") == [str(root_dir.resolve())]
    assert option(argv, "template") == [TEMPLATE_NAME]
    assert option(argv, "theme") == ["light"]
    assert option(argv, "VoilaConfiguration.allow_template_override") == ["NO"]
    assert option(argv, "VoilaConfiguration.allow_theme_override") == ["NO"]
    assert option(argv, "VoilaConfiguration.show_tracebacks") == ["False"]
    assert option(argv, "VoilaConfiguration.file_allowlist") == [serve.FILE_ALLOW_NOTHING]
    assert option(argv, "VoilaConfiguration.file_denylist") == [".*"]
    assert int(option(argv, "MappingKernelManager.cull_idle_timeout")[0]) > 0
    assert int(option(argv, "MappingKernelManager.cull_interval")[0]) > 0
    # a page's output arriving late under load is waited for, not dropped (a blank page)
    assert int(option(argv, "VoilaExecutor.iopub_timeout")[0]) >= 60
    assert not [a for a in argv[4:] if "token" in a.lower()]
    assert not [a for a in argv[4:] if "preheat" in a or "pool_size" in a]


def test_token_is_never_on_the_command_line(root: tuple[Path, Path]) -> None:
    root_dir, nb = root
    for host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "192.168.1.10"):
        argv = voila_argv(nb, port=1, host=host, root_dir=root_dir)
        assert not [a for a in argv if "token=" in a.lower()], host
        assert option(argv, "Voila.ip") == [host]


@pytest.mark.parametrize(
    ("host", "expected", "refused"),
    [("127.0.0.1", {"localhost", "127.0.0.1", "::1", "[::1]"}, {"attacker.example", "0.0.0.0"}),
     ("::1", {"localhost", "::1", "[::1]"}, {"attacker.example"}),
     ("192.168.1.10", {"192.168.1.10", "localhost"}, {"attacker.example"})],
)
def test_allowed_hosts(root: tuple[Path, Path], host: str, expected: set[str],
                       refused: set[str]) -> None:
    root_dir, nb = root
    argv = voila_argv(nb, port=1, host=host, root_dir=root_dir, extra_hosts=["Alias.Lan"])
    names = set(option(argv, "DashboardVoila.allowed_hosts"))
    assert expected <= names and "alias.lan" in names
    assert not names & refused


def test_wildcard_host_answers_this_machines_names() -> None:
    names = serve.allowed_hosts("0.0.0.0")
    assert "localhost" in names and "0.0.0.0" not in names
    assert set(serve.machine_addresses()) <= set(names)
    url = serve.public_url("0.0.0.0", 8866, "t" * 40)
    assert url.endswith(":8866/?token=" + "t" * 40)
    assert "127.0.0.1" not in url and "0.0.0.0" not in url


def test_resolve_token() -> None:
    generated = serve.resolve_token(None)
    assert len(generated) >= serve.MIN_TOKEN_LENGTH
    assert serve.resolve_token("") != generated
    good = "x" * 32
    assert serve.resolve_token(good) == good
    for short in ("abc", "x" * 31, " " + "x" * 40):
        with pytest.raises(ValueError, match="at least 32 characters"):
            serve.resolve_token(short)


def test_browser_redirect_file_is_private(tmp_path: Path) -> None:
    url = "http://127.0.0.1:1/?token=" + "a" * 43
    page = serve.browser_redirect_file(url, tmp_path)
    assert page.stat().st_mode & 0o777 == 0o600
    assert url in page.read_text()


def test_argv_preheat(root: tuple[Path, Path]) -> None:
    root_dir, nb = root
    argv = voila_argv(nb, port=1, root_dir=root_dir, preheat=True)
    assert "--preheat_kernel=True" in argv
    assert "--pool_size=1" in argv


def test_argv_rejects_notebook_outside_root(tmp_path: Path) -> None:
    nb = serve.write_notebook(tmp_path / "elsewhere.ipynb")
    (tmp_path / "root").mkdir()
    with pytest.raises(ValueError, match="not inside root_dir"):
        voila_argv(nb, port=1, root_dir=tmp_path / "root")


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True),
     ("[::1]", True), ("0.0.0.0", False), ("", False), ("::", False), ("10.0.0.1", False),
     ("localhost.example.org", False)],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert serve.is_loopback(host) is expected


def test_base_url() -> None:
    assert serve.base_url("127.0.0.1", 8866) == "http://127.0.0.1:8866/"
    assert serve.base_url("0.0.0.0", 1) == "http://127.0.0.1:1/"
    assert serve.base_url("::1", 1) == "http://[::1]:1/"
    assert serve.base_url("::", 1) == "http://[::1]:1/"


def test_find_free_port_is_bindable() -> None:
    import socket

    port = serve.find_free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --------------------------------------------------------------------------- notebook


def test_repo_notebook_cell_is_the_constant() -> None:
    assert REPO_NOTEBOOK == REPO_ROOT / "notebooks" / "dashboard.ipynb"
    nb = nbformat.read(REPO_NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(nb.cells) == 1 and len(code) == 1
    assert code[0].source == NOTEBOOK_CELL_SOURCE
    assert not code[0].outputs


def test_built_notebook_equals_the_repo_notebook(tmp_path: Path) -> None:
    written = serve.write_notebook(tmp_path / "nb.ipynb")
    nbformat.validate(nbformat.read(written, as_version=4))
    assert json.loads(written.read_text()) == json.loads(REPO_NOTEBOOK.read_text())


def test_prepare_root_dir_holds_only_the_notebook(tmp_path: Path, monkeypatch) -> None:
    nb = serve.prepare_root_dir(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [serve.NOTEBOOK_NAME]
    assert nb.read_bytes() == REPO_NOTEBOOK.read_bytes()
    # wheel installs have no notebooks/ directory: the notebook is written from code
    monkeypatch.setattr(serve, "REPO_NOTEBOOK", tmp_path / "missing.ipynb")
    other = tmp_path / "wheel"
    other.mkdir()
    nb2 = serve.prepare_root_dir(other)
    assert json.loads(nb2.read_text()) == json.loads(REPO_NOTEBOOK.read_text())


# --------------------------------------------------------------------------- environment


def test_dashboard_env(tmp_path: Path) -> None:
    env = serve.dashboard_env(Path("results.csv"), human_level={"doctor": 0.05},
                              store=Path("notes.sqlite"), dataset_name="Dev set")
    assert env[ENV_FILE] == str(Path("results.csv").resolve())
    assert json.loads(env[ENV_HUMAN_LEVEL]) == {"doctor": 0.05}
    assert env[ENV_STORE] == str(Path("notes.sqlite").resolve())
    assert env[ENV_DATASET_NAME] == "Dev set"
    minimal = serve.dashboard_env(tmp_path / "r.parquet")
    assert set(minimal) == {ENV_FILE, ENV_DATASET_NAME}
    assert minimal[ENV_DATASET_NAME] == "r.parquet"


def test_hub_environment_holds_the_additions_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a JupyterHub spawner adds (examples/jupyterhub): the DASHBOARD_* variables and the
    template's JUPYTER_PATH, not the Hub's own environment, and never the access token."""
    monkeypatch.setenv("MLDASH_UNRELATED", "1")
    monkeypatch.setenv(serve.USER_TOKEN_ENV, "x" * 40)
    env = serve.hub_environment(serve.dashboard_env(Path("/data/r.parquet"), store=Path("/s.db")))
    assert env[ENV_FILE] == "/data/r.parquet" and env[serve.ENV_STORE] == "/s.db"
    assert env["JUPYTER_PATH"].split(os.pathsep)[0] == str(TEMPLATE_ROOT)
    assert "MLDASH_UNRELATED" not in env and serve.USER_TOKEN_ENV not in env
    assert serve.ENV_TOKEN not in env


def test_process_env_finds_the_template_and_the_package() -> None:
    env = serve.voila_process_env({ENV_FILE: "/x.csv"})
    assert env[ENV_FILE] == "/x.csv"
    assert env["JUPYTER_PATH"].split(os.pathsep)[0] == str(TEMPLATE_ROOT)
    code = (
        "import voila.paths as p, voila.utils as u, dashboard.serve as s, sys;"
        "paths = p.collect_template_paths(['voila', 'nbconvert'], 'mldash', prune=True);"
        "print(paths[0]); print(u.get_data_dir()); print(s.__file__)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd="/").stdout.splitlines()
    assert out[0] == str(TEMPLATE_ROOT / "nbconvert" / "templates" / TEMPLATE_NAME)
    # the template must not hide Voila's own data directory (themes, schemas)
    assert (Path(out[1]) / "themes").is_dir(), out[1]
    assert Path(out[2]).resolve() == Path(serve.__file__).resolve()


def test_template_is_package_data_and_local_only() -> None:
    tdir = TEMPLATE_ROOT / "nbconvert" / "templates" / TEMPLATE_NAME
    assert json.loads((tdir / "conf.json").read_text())["base_template"] == "lab"
    text = (tdir / "index.html.j2").read_text()
    assert "http://" not in text and "https://" not in text
    assert "Loading results…" in text
    assert not (TEMPLATE_ROOT / "voila").exists()


# --------------------------------------------------------------------------- process control


def test_wait_until_up_reports_an_exited_process() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(RuntimeError, match="code 3"):
        serve.wait_until_up("http://127.0.0.1:9/", timeout=5, proc=proc)


def test_wait_until_up_times_out() -> None:
    port = serve.find_free_port()
    with pytest.raises(TimeoutError):
        serve.wait_until_up(f"http://127.0.0.1:{port}/", timeout=0.3)


def test_stop_voila_terminates_and_kills() -> None:
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                              start_new_session=True)
    assert serve.stop_voila(polite, timeout=5) == -15
    stubborn = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
         "print('ready', flush=True); time.sleep(60)"],
        start_new_session=True, stdout=subprocess.PIPE,
    )
    assert stubborn.stdout.readline() == b"ready\n"
    assert serve.stop_voila(stubborn, timeout=0.5) == -9
    stubborn.stdout.close()


@pytest.mark.slow
def test_launch_dashboard_serves_voila_js(tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text("y_true,y_pred\n1,1\n")
    with serve.launch_dashboard(csv, log_path=tmp_path / "voila.log") as running:
        assert len(running.token) >= 32
        assert running.url == running.base_url + "?token=" + running.token
        # the token reaches Voilà through its environment, not its command line
        cmdline = Path(f"/proc/{running.proc.pid}/cmdline").read_bytes()
        assert running.token.encode() not in cmdline
        # a failed request is logged without the token, in a private log
        missing = (running.base_url + "api/kernels/00000000-0000-0000-0000-000000000000"
                   "?token=" + running.token)
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(missing)
        log = tmp_path / "voila.log"
        assert log.stat().st_mode & 0o777 == 0o600
        assert serve.wait_until_up(running.base_url) is None
        assert "404 GET" in log.read_text() and running.token not in log.read_text()
        with urllib.request.urlopen(running.base_url + serve.HEALTH_PATH) as resp:
            assert resp.status == 200
        root_dir = running.root_dir
        assert [p.name for p in root_dir.iterdir()] == [serve.NOTEBOOK_NAME]
    assert running.proc.poll() is not None
    assert not root_dir.exists()


# --------------------------------------------------------------------------- app contract


def test_app_without_file_shows_the_demo_and_how_to_point_it_at_a_file() -> None:
    widget = app_from_environment({})
    assert type(widget).__name__ == "DashboardApp"
    hint = widget.children[0]
    assert isinstance(hint, ipywidgets.HTML)
    assert ENV_FILE in hint.value and "python -m dashboard serve" in hint.value
    assert widget.results.schema.source.endswith("cat_results.parquet")


def test_app_with_missing_file_shows_a_message(tmp_path: Path) -> None:
    missing = tmp_path / "nope <b>.csv"
    widget = app_from_environment({ENV_FILE: str(missing)})
    assert isinstance(widget, ipywidgets.HTML)
    assert "nope &lt;b&gt;.csv" in widget.value


def test_theme_option_reaches_voila(root: tuple[Path, Path]) -> None:
    """serve --theme light|dark|auto (default auto) is Voila's --theme; the template resolves
    auto in the browser."""
    from dashboard.cli import build_parser

    root_dir, nb = root
    for theme in ("light", "dark", "auto"):
        assert option(voila_argv(nb, port=1, root_dir=root_dir, theme=theme), "theme") == [theme]
    assert build_parser().parse_args(["serve", "x.csv"]).theme == "auto"
    assert build_parser().parse_args(["serve", "x.csv", "--theme", "dark"]).theme == "dark"
