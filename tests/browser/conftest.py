"""Harness for real-browser tests: headless Chromium (pytest-playwright) against Voila.

* Chromium comes from ``$DASHBOARD_CHROMIUM`` (default ``/usr/bin/chromium``);
  without it every test here is skipped with the reason. Never ``playwright
  install``: its download fails on these machines.
* ``voila_server`` / ``module_voila_server`` start :func:`dashboard.serve.start_voila`
  on a free port and stop it with SIGTERM at teardown.
* ``page_guard`` records console errors, page errors, dialogs and every request,
  and fails the test at teardown on any error, dialog, or request that leaves
  this machine.
* ``screenshot`` saves named PNGs under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Page

from dashboard.serve import (
    base_url,
    find_free_port,
    prepare_root_dir,
    resolve_token,
    start_voila,
    stop_voila,
    wait_until_up,
)

BROWSER_DIR = Path(__file__).resolve().parent
REPO_ROOT = BROWSER_DIR.parents[1]
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path(os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome-error"})
SERVER_START_TIMEOUT_S = 60.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser ``browser``; skip them all without Chromium."""
    skip = pytest.mark.skip(
        reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium "
        "(or set DASHBOARD_CHROMIUM)"
    )
    for item in items:
        if not Path(str(item.path)).resolve().is_relative_to(BROWSER_DIR):
            continue
        item.add_marker(pytest.mark.browser)
        if not CHROMIUM.is_file():
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright's launch arguments plus the Debian Chromium and its flags."""
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


# --------------------------------------------------------------------------- servers


@dataclass
class VoilaServer:
    """A Voila process serving one notebook from a private root directory."""

    proc: subprocess.Popen
    base_url: str
    token: str
    root_dir: Path
    log_path: Path

    def url(self, path: str = "", *, with_token: bool = True) -> str:
        """Absolute URL of ``path`` on the server, with ``?token=`` when one is set."""
        url = self.base_url + path.lstrip("/")
        if with_token and self.token:
            url += ("&" if "?" in url else "?") + f"token={self.token}"
        return url

    def log(self) -> str:
        """What Voila has written so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class _Servers:
    """Starts servers for one fixture scope and stops them all at its end."""

    def __init__(self, tmp_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_factory
        self.started: list[VoilaServer] = []

    def start(
        self,
        env: Mapping[str, str] | None = None,
        *,
        notebook: Path | None = None,
        host: str = "127.0.0.1",
        token: str | None = None,
        preheat: bool = False,
        timeout: float = SERVER_START_TIMEOUT_S,
    ) -> VoilaServer:
        work = self._tmp.mktemp("voila")
        root_dir = work / "root"  # holds only the notebook
        root_dir.mkdir()
        if notebook is None:
            nb = prepare_root_dir(root_dir)
        else:
            nb = root_dir / Path(notebook).name
            shutil.copyfile(notebook, nb)
        token = resolve_token(token)
        port = find_free_port(host or "0.0.0.0")
        log_path = work / "voila.log"
        proc = start_voila(
            nb, port=port, host=host, token=token, root_dir=root_dir, env=env,
            preheat=preheat, log_path=log_path,
        )
        server = VoilaServer(proc, base_url(host, port), token, root_dir, log_path)
        self.started.append(server)
        try:
            wait_until_up(server.base_url, timeout=timeout, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n--- voila log ---\n{server.log()}") from exc
        return server

    def stop_all(self) -> None:
        for server in self.started:
            stop_voila(server.proc)
            # shown by pytest only when a test of this scope failed
            print(f"--- voila log {server.log_path} ---\n{server.log()[-4000:]}")
        self.started.clear()


StartServer = Callable[..., VoilaServer]


@pytest.fixture
def voila_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServer]:
    """Factory ``start(env, *, notebook=None, host=..., token=None, preheat=False)``.

    Returns a :class:`VoilaServer` once ``/voila/static/voila.js`` answers; every
    server started is stopped with SIGTERM when the test ends. Without
    ``notebook`` it serves the dashboard's entry point (``notebooks/dashboard.ipynb``).
    """
    servers = _Servers(tmp_path_factory)
    try:
        yield servers.start
    finally:
        servers.stop_all()


@pytest.fixture(scope="module")
def module_voila_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServer]:
    """Like ``voila_server``, but servers live until the test module ends."""
    servers = _Servers(tmp_path_factory)
    try:
        yield servers.start
    finally:
        servers.stop_all()


# --------------------------------------------------------------------------- page guard


def is_local_url(url: str) -> bool:
    """True for URLs that stay on this machine (loopback hosts, data:, blob:, about:)."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return (parts.hostname or "") in LOCAL_HOSTS


@dataclass
class PageGuard:
    """What a page did: console errors, page errors, dialogs and request URLs."""

    page: Page | None
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    allowed_console_errors: list[re.Pattern[str]] = field(default_factory=list)

    def allow_console_error(self, pattern: str) -> None:
        """Accept console errors matching ``pattern`` (a regex) for this test."""
        self.allowed_console_errors.append(re.compile(pattern))

    def external_requests(self) -> list[str]:
        """Requests and websockets that left 127.0.0.1/localhost."""
        return [u for u in [*self.requests, *self.websockets] if not is_local_url(u)]

    def unexpected_console_errors(self) -> list[str]:
        """Console errors not accepted by :meth:`allow_console_error`."""
        return [
            m for m in self.console_errors
            if not any(p.search(m) for p in self.allowed_console_errors)
        ]

    def check(self) -> None:
        """Assert no console/page error, no dialog, no request off this machine."""
        problems = []
        if errors := self.unexpected_console_errors():
            problems.append(f"console errors: {errors}")
        if self.page_errors:
            problems.append(f"page errors: {self.page_errors}")
        if self.dialogs:
            problems.append(f"dialogs: {self.dialogs}")
        if external := self.external_requests():
            problems.append(f"requests left this machine: {external}")
        assert not problems, "; ".join(problems)


@pytest.fixture
def page_guard(page: Page) -> Iterator[PageGuard]:
    """The ``page`` fixture, watched; the test fails at teardown on any problem.

    Dialogs (``alert``, ``confirm``, ``prompt``) are dismissed and count as failures.
    """
    guard = PageGuard(page)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            guard.console_errors.append(f"{msg.text} @ {msg.location.get('url', '')}")

    def on_dialog(dialog: Dialog) -> None:
        if dialog.type != "beforeunload":
            guard.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda exc: guard.page_errors.append(str(exc)))
    page.on("dialog", on_dialog)
    page.on("request", lambda req: guard.requests.append(req.url))
    page.on("websocket", lambda ws: guard.websockets.append(ws.url))
    yield guard
    guard.check()


# --------------------------------------------------------------------------- screenshots


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """``test-artifacts/screenshots/`` at the repository root (git-ignored)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


@pytest.fixture
def screenshot(screenshot_dir: Path, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """Helper ``screenshot(page, name, full_page=True) -> Path``.

    Files are named ``<test name>--<name>.png`` and overwritten on each run.
    """

    def save(page: Page, name: str, *, full_page: bool = True) -> Path:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{request.node.name}--{name}")
        path = screenshot_dir / f"{stem}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return save
