"""The dashboard behind a real JupyterHub (issue 23, item 6).

``examples/jupyterhub/jupyterhub_config.py`` runs as it ships: JupyterHub (pip) with its proxy
``configurable-http-proxy`` (npm, ``tests/browser/node_modules``; ``.ci/run`` installs it),
the DummyAuthenticator with a password, and one single-user server per user showing the
dashboard. Two users sign in from two browser contexts and each ticks a box on the Error
analysis tab: the annotation store holds each tick under its Hub user. Requests without a Hub
login, and a user's login on another user's server, reach no dashboard.

Everything listens on free loopback ports; every wait is bounded; the Hub, its proxy and the
users' servers are stopped at teardown (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, expect
from test_app import PAGE_TIMEOUT_MS, TALLY, show_grid

from dashboard.annotations import AnnotationStore
from dashboard.metrics.tally import MISLABELLED
from dashboard.serve import ENV_FILE, ENV_STORE, NOTEBOOK_NAME, find_free_port

REPO = Path(__file__).resolve().parents[2]
HUB_CONFIG = REPO / "examples" / "jupyterhub" / "jupyterhub_config.py"
PROXY = Path(os.environ.get("DASHBOARD_CHP") or REPO / "tests" / "browser" / "node_modules"
             / ".bin" / "configurable-http-proxy")
USERS = ("ana", "ben")
PASSWORD = "a shared password for the test hub"
HUB_START_TIMEOUT_S = 120.0
STORE_TIMEOUT_S = 60.0
DASHBOARD_PATH = f"voila/render/{NOTEBOOK_NAME}"

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("jupyterhub") is None,
                       reason="jupyterhub is not installed: pip install -e '.[test]'"),
    pytest.mark.skipif(not PROXY.is_file(),
                       reason=f"no configurable-http-proxy at {PROXY}: npm ci --prefix "
                       "tests/browser (or set DASHBOARD_CHP)"),
]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _get(url: str, *, follow: bool) -> tuple[int, str, str]:
    """Status, final URL (or the Location of a redirect not followed) and body of a GET sent
    with no cookie and no token."""
    opener = (urllib.request.build_opener() if follow
              else urllib.request.build_opener(_NoRedirect))
    try:
        with opener.open(url, timeout=30) as resp:
            return resp.status, resp.geturl(), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        return exc.code, exc.headers.get("Location") or exc.geturl(), body


@dataclass
class Hub:
    proc: subprocess.Popen
    url: str  # the proxy's public URL, ending in /
    store: Path
    dataset: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the proxy, the users' servers, their kernels)."""
    import psutil

    with contextlib.suppress(psutil.Error):
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    return []


def _stop(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM the Hub (it stops the proxy and the servers it spawned), wait, then SIGKILL
    whatever of its process tree is left."""
    import psutil

    tree = _descendants(proc.pid)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    left = []
    for pid in tree:
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(pid)
            p.terminate()
            left.append(p)
    _gone, alive = psutil.wait_procs(left, timeout=10)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """JupyterHub on free loopback ports, configured by ``examples/jupyterhub``."""
    work = tmp_path_factory.mktemp("hub")
    rng = np.random.default_rng(23)
    n = 120
    label = rng.integers(0, 2, n)
    score = np.where(rng.random(n) < 0.3, 1 - label, label) * 0.8 + 0.1
    results = work / "team.parquet"
    pd.DataFrame({"id": [f"e{i}" for i in range(n)],
                  "split": np.where(np.arange(n) < 40, "train", "dev"),
                  "label": label, "score": score}).to_parquet(results)
    store = work / "reviews.sqlite"
    public, hub_port, api_port = (find_free_port("127.0.0.1") for _ in range(3))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DASHBOARD_", "JUPYTERHUB_", "CONFIGPROXY_"))}
    env.update({
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
        "PYTHONUNBUFFERED": "1",
        ENV_FILE: str(results),
        ENV_STORE: str(store),
        "DASHBOARD_HUB_ROOT": str(work / "served"),
        "DASHBOARD_HUB_USERS": ",".join(USERS),
        "DASHBOARD_HUB_PASSWORD": PASSWORD,
    })
    argv = [
        sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG),
        f"--JupyterHub.bind_url=http://127.0.0.1:{public}",
        f"--JupyterHub.hub_bind_url=http://127.0.0.1:{hub_port}",
        f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{api_port}",
        f"--ConfigurableHTTPProxy.command={PROXY}",
        f"--JupyterHub.db_url=sqlite:///{work / 'jupyterhub.sqlite'}",
        f"--JupyterHub.cookie_secret_file={work / 'jupyterhub_cookie_secret'}",
        f"--JupyterHub.pid_file={work / 'jupyterhub.pid'}",
    ]
    log_path = work / "jupyterhub.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, env=env, cwd=work, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    running = Hub(proc, f"http://127.0.0.1:{public}/", store, results.name, log_path)
    try:
        deadline = time.monotonic() + HUB_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterHub exited ({proc.returncode}):\n{running.log()}")
            with contextlib.suppress(OSError):
                if _get(running.url + "hub/api", follow=False)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"JupyterHub did not answer within {HUB_START_TIMEOUT_S} s"
                                   f":\n{running.log()[-4000:]}")
            time.sleep(0.5)
        yield running
    finally:
        _stop(proc)
        print(f"--- jupyterhub log {log_path} ---\n{running.log()[-6000:]}")


def _sign_in(page: Page, hub: Hub, user: str) -> None:
    """Sign in on the Hub's login page; the Hub starts the user's server, which opens on the
    dashboard."""
    page.goto(hub.url + "hub/login", timeout=PAGE_TIMEOUT_MS)
    page.fill("#username_input", user)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{user}/{DASHBOARD_PATH}*", timeout=PAGE_TIMEOUT_MS)


def _assert_reaches_no_dashboard(hub: Hub, user: str) -> None:
    """Without a Hub login the user's dashboard and API answer a redirect to the Hub's login
    or 403, never the page."""
    page_url = hub.url + f"user/{user}/{DASHBOARD_PATH}"
    status, where, body = _get(page_url, follow=False)
    assert status in (302, 303, 403), (status, where)
    assert "mldash" not in body
    if status != 403:
        assert where.startswith((hub.url + "hub/", "/hub/")), where
    status, where, body = _get(page_url, follow=True)  # to its end: the Hub's login form
    assert where.startswith(hub.url + "hub/login"), (status, where)
    assert "mldash" not in body and 'id="password_input"' in body
    for api in (f"user/{user}/api/kernels", f"user/{user}/api/contents"):
        status, where, _body = _get(hub.url + api, follow=False)
        assert status == 403 or (status in (302, 303) and "/hub/" in where), (api, status)


def test_each_tick_is_stored_under_its_hub_user(hub: Hub, browser: Browser) -> None:
    # before anyone signed in (no server yet) and after (servers running): no login, no page
    _assert_reaches_no_dashboard(hub, "ana")
    contexts, pages, ticked = [], {}, {}
    try:
        for i, user in enumerate(USERS):
            context = browser.new_context()
            contexts.append(context)
            # a name the browser remembers (or a page forges) is not the reviewer behind the Hub
            context.add_init_script(
                "try { localStorage.setItem('mldash-reviewer', 'mallory'); } catch (e) {}")
            page = context.new_page()
            page.on("pageerror", lambda exc, u=user: pytest.fail(f"{u}'s page: {exc}"))
            pages[user] = page
            _sign_in(page, hub, user)
            show_grid(page)
            expect(page.locator(f"{TALLY} .mldash-reviewer")).to_contain_text(
                f"Reviewing as {user} (JupyterHub)", timeout=PAGE_TIMEOUT_MS)
            assert page.locator(f"{TALLY} .mldash-ask-reviewer input").count() == 0
            # each user ticks a row of their own (ana row 1, ben row 2) as mislabelled
            row = page.locator(f"{TALLY} .mldash-review-table tbody tr").nth(i)
            box = row.locator("td.mldash-tag input").first  # the first category
            expect(page.locator(f"{TALLY} th.mldash-col-tag").first).to_contain_text("labe")
            box.check(timeout=PAGE_TIMEOUT_MS)
            expect(box).to_be_checked()
            ticked[user] = row.get_attribute("data-key")
        assert ticked["ana"] != ticked["ben"]
        # the ticks reach the store, each under its Hub user
        deadline = time.monotonic() + STORE_TIMEOUT_S
        while True:
            store = AnnotationStore(hub.store, dataset=hub.dataset)
            try:
                reviews = store.reviews()
            finally:
                store.close()
            values = reviews[reviews["category"] == MISLABELLED].dropna(subset=["value"])
            values = values[values["value"].astype(bool)]
            got = {(r.reviewer, r.example_id) for r in values.itertuples()}
            if got >= {(u, k) for u, k in ticked.items()} or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert got == {(u, k) for u, k in ticked.items()}, (got, ticked)
        assert set(reviews["reviewer"]) <= set(USERS)
        # signed in as ana, ben's server is out of reach
        page = pages["ana"]
        response = page.goto(hub.url + f"user/ben/{DASHBOARD_PATH}", timeout=PAGE_TIMEOUT_MS)
        assert response is not None and response.status == 403, response
        assert page.locator(TALLY).count() == 0
    finally:
        for context in contexts:
            context.close()
    _assert_reaches_no_dashboard(hub, "ana")
    _assert_reaches_no_dashboard(hub, "ben")
