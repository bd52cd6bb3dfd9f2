"""Real-browser tests of the serving infrastructure, on a small harness notebook.

:mod:`dashboard.serve` serves a notebook of the tests' own (a title, a slider and one plotly
bar, reading ``DASHBOARD_FILE`` like the real entry point) so that these tests check the
launcher, the template and Voila's security settings independently of the dashboard's views;
``tests/browser/test_app.py`` tests the real app.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from dashboard.serve import ENV_DATASET_NAME, ENV_FILE

if TYPE_CHECKING:
    from conftest import StartServer, VoilaServer

FIGURE_TIMEOUT_MS = 90_000
BAR = ".js-plotly-plot .bars .point path"
BAR_TEXT = ".js-plotly-plot .bars .point text.bartext"
SLIDER_HANDLE = ".widget-slider .noUi-handle"


@pytest.fixture(scope="module")
def results_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny results file outside the server's root directory."""
    path = tmp_path_factory.mktemp("results") / "small_results.csv"
    path.write_text("y_true,y_pred,score\n1,1,0.9\n0,1,0.6\n1,0,0.2\n0,0,0.1\n")
    return path


HARNESS_CELL = """\
import html, os
from pathlib import Path
import ipywidgets as widgets
import plotly.graph_objects as go

def harness_app():
    path = Path(os.environ["DASHBOARD_FILE"])
    name = os.environ.get("DASHBOARD_DATASET_NAME", path.name)
    rows = sum(1 for _ in path.open()) - 1
    title = widgets.HTML(f"<h2 class='mldash-title'>{html.escape(name)}</h2>"
                         f"<p class='mldash-subtitle'>{html.escape(str(path))}: {rows} rows</p>")
    slider = widgets.IntSlider(value=3, min=0, max=10, description="Value")
    fig = go.FigureWidget(
        data=[go.Bar(x=["value"], y=[3], text=["3"], textposition="outside",
                     cliponaxis=False)],
        layout=go.Layout(height=320, width=480, yaxis=dict(range=[0, 11])))
    def on_change(change):
        with fig.batch_update():
            fig.data[0].y = [change["new"]]
            fig.data[0].text = [str(change["new"])]
    slider.observe(on_change, names="value")
    return widgets.VBox([title, slider, fig])

harness_app()
"""


@pytest.fixture(scope="module")
def harness_notebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The harness notebook: one code cell, titled like the real entry point."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(HARNESS_CELL)]
    nb.metadata["title"] = "ML diagnosis dashboard"
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    path = tmp_path_factory.mktemp("harness") / "dashboard.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def server(module_voila_server: StartServer, results_csv: Path,
           harness_notebook: Path) -> VoilaServer:
    """One loopback server for the module: no token."""
    return module_voila_server(
        {ENV_FILE: str(results_csv), ENV_DATASET_NAME: "Small <test> set"},
        notebook=harness_notebook,
    )


def open_dashboard(page: Page, url: str) -> float:
    """Load the page and wait for the bar; return seconds from navigation to drawn bar."""
    start = time.monotonic()
    page.goto(url, wait_until="commit")
    page.locator(BAR).first.wait_for(state="visible", timeout=FIGURE_TIMEOUT_MS)
    return time.monotonic() - start


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET without following redirects."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_page_renders_title_and_figure(server, page_guard, screenshot, results_csv,
                                       record_property) -> None:
    page = page_guard.page
    page.goto(server.url(), wait_until="commit")
    loading = page.locator("#loading")
    expect(loading).to_be_visible(timeout=30_000)
    expect(page.locator("#loading_text")).to_have_text("Loading results…")
    screenshot(page, "loading", full_page=False)

    start = time.monotonic()
    page.locator(BAR).first.wait_for(state="visible", timeout=FIGURE_TIMEOUT_MS)
    record_property("seconds_to_figure_after_loading", round(time.monotonic() - start, 2))

    # the title is escaped text, not markup
    expect(page.locator(".mldash-title")).to_have_text("Small <test> set")
    expect(page.locator(".mldash-subtitle")).to_contain_text(str(results_csv))
    expect(page.locator(".mldash-subtitle")).to_contain_text("4 rows")
    expect(page.locator(BAR_TEXT)).to_have_text("3")
    # the loading indicator is gone once the cells are shown
    expect(loading).to_have_count(0)
    expect(page.locator("#rendered_cells")).to_be_visible()
    # the notebook's code and prompts are not in the page
    assert "harness_app" not in page.content()
    expect(page.locator(".jp-InputPrompt:visible, .jp-OutputPrompt:visible")).to_have_count(0)
    assert page.title() == "ML diagnosis dashboard"
    screenshot(page, "rendered")


def test_slider_key_press_changes_the_bar(server, page_guard, screenshot) -> None:
    page = page_guard.page
    open_dashboard(page, server.url())
    bar, text = page.locator(BAR).first, page.locator(BAR_TEXT).first
    expect(text).to_have_text("3")
    d_before = bar.get_attribute("d")

    handle = page.locator(SLIDER_HANDLE)
    handle.focus()
    handle.press("ArrowRight")
    expect(page.locator(".widget-slider .widget-readout")).to_have_text("4")
    expect(text).to_have_text("4")  # SVG text: read with text_content, not inner_text
    expect(bar).not_to_have_attribute("d", d_before)
    d_after = bar.get_attribute("d")

    # the bar got taller: its top edge (smallest y in the path) moved up
    def top(d: str) -> float:
        return min(float(v) for v in re.findall(r"V([\d.]+)", d))

    assert top(d_after) < top(d_before)
    handle.press("ArrowLeft")
    handle.press("ArrowLeft")
    expect(text).to_have_text("2")
    screenshot(page, "after-slider")


def test_no_request_leaves_the_machine(server, page_guard) -> None:
    page = page_guard.page
    open_dashboard(page, server.url())
    # Voila's stock template links Font Awesome on a CDN: the mldash template does not
    assert not [u for u in page_guard.requests if "fontawesome" in u or "jsdelivr" in u]
    expect(page.locator("link[href*='fontawesome'], link[href*='cdn']")).to_have_count(0)
    sources = page.eval_on_selector_all(
        "link[href], script[src]", "els => els.map(e => e.href || e.src)"
    )
    assert sources
    assert [u for u in sources if not u.startswith((server.base_url, "data:"))] == []
    # ... and Font Awesome icons still draw, from the copy bundled in voila-style.js
    family = page.evaluate(
        """async () => {
            const i = document.createElement('i');
            i.className = 'fa fa-check';
            document.body.appendChild(i);
            await document.fonts.load('900 16px "Font Awesome 5 Free"');
            const family = getComputedStyle(i).fontFamily;
            const loaded = document.fonts.check('900 16px "Font Awesome 5 Free"');
            i.remove();
            return family + (loaded ? ' [loaded]' : ' [missing]');
        }"""
    )
    assert "Font Awesome" in family and family.endswith("[loaded]"), family
    assert page_guard.requests, "the guard saw no request at all"
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in page_guard.websockets)
    # page_guard asserts at teardown that every request stayed on 127.0.0.1


def test_url_cannot_switch_template_or_theme(server) -> None:
    status, _headers, body = http_get(server.url("?template=lab&theme=dark"))
    html = body.decode()
    assert status == 200
    assert "mldash-spinner" in html
    assert "cdn.jsdelivr.net" not in html
    assert "theme-dark" not in html


@pytest.mark.parametrize(
    "path",
    [
        "voila/files/dashboard.ipynb",
        "voila/files/../../../../etc/passwd",
        "voila/files/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "voila/files/%2Fetc%2Fpasswd",
        "voila/files//etc/passwd",
        "voila/files/x.png",
        "etc/passwd",
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "files/etc/passwd",
        "api/contents/dashboard.ipynb",
        "voila/static/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "voila/templates/lab/static/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "voila/templates/..%2F..%2F..%2F..%2F..%2Fetc/static/passwd",
    ],
)
def test_no_file_outside_the_notebook_is_served(server, path: str) -> None:
    url = server.url(path)
    for _ in range(3):  # follow Voila's redirects to /voila/files/ by hand
        status, headers, body = http_get(url)
        if status not in (301, 302) or "Location" not in headers:
            break
        url = server.base_url.rstrip("/") + headers["Location"]
    assert b"root:" not in body
    assert b"app_from_environment" not in body
    if "/templates/" in path:
        # Voila's TemplateStaticFileHandler asserts on the path shape: 500, no file
        assert status in (403, 404, 500), status
    else:
        assert status in (403, 404), status


def test_data_file_is_not_served_by_path(server, results_csv: Path) -> None:
    for path in (f"voila/files/{results_csv}", f"voila/files/{results_csv.name}"):
        status, _headers, body = http_get(server.url(path))
        assert status in (403, 404), (path, status)
        assert b"y_true" not in body


def test_execute_request_from_the_page_is_dropped(server, page_guard, tmp_path: Path) -> None:
    page = page_guard.page
    open_dashboard(page, server.url())
    marker = tmp_path / "executed.txt"
    kernel_id = page.evaluate(
        "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
    )
    seen = page.evaluate(
        """async ([kernelId, marker]) => {
            const ws = new WebSocket(
              `ws://${location.host}/api/kernels/${kernelId}/channels?session_id=probe-${Date.now()}`);
            const seen = [];
            ws.onmessage = (ev) => {
              if (typeof ev.data !== 'string') return;
              const m = JSON.parse(ev.data);
              seen.push({type: m.header.msg_type, parent: (m.parent_header || {}).msg_id || null});
            };
            await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
            const send = (type, content, id) => ws.send(JSON.stringify({
              header: {msg_id: id, username: 'probe', session: 'probe', msg_type: type,
                       version: '5.3', date: new Date().toISOString()},
              parent_header: {}, metadata: {}, content, channel: 'shell', buffers: []}));
            send('execute_request', {code: `open(${JSON.stringify(marker)}, 'w').write('x')`,
                 silent: false, store_history: false, user_expressions: {},
                 allow_stdin: false, stop_on_error: true}, 'probe-exec');
            // sent after the execute request on the same channel: its reply proves the
            // socket works and that the kernel would have handled the execute first
            send('kernel_info_request', {}, 'probe-info');
            const t0 = Date.now();
            while (!seen.some(s => s.parent === 'probe-info' && s.type === 'kernel_info_reply')
                   && Date.now() - t0 < 20000) {
              await new Promise(r => setTimeout(r, 50));
            }
            await new Promise(r => setTimeout(r, 1000));
            ws.close();
            return seen;
        }""",
        [kernel_id, str(marker)],
    )
    assert {"type": "kernel_info_reply", "parent": "probe-info"} in seen, seen
    assert not [s for s in seen if s["parent"] == "probe-exec"], seen
    assert not marker.exists()
    assert 'Received message of type "execute_request", which is not allowed' in server.log()


def test_non_loopback_host_requires_the_token(voila_server, results_csv: Path, page_guard,
                                              screenshot, harness_notebook: Path) -> None:
    srv = voila_server({ENV_FILE: str(results_csv)}, host="0.0.0.0",
                       notebook=harness_notebook)
    assert srv.token and len(srv.token) >= 32
    assert srv.base_url.startswith("http://127.0.0.1:")

    status, headers, body = http_get(srv.url(with_token=False))
    assert status in (302, 403), status
    assert "/login" in headers.get("Location", "/login")
    assert b"jupyter-config-data" not in body
    status, _headers, _body = http_get(srv.url("?token=wrong", with_token=False))
    assert status in (302, 403), status
    status, _headers, _body = http_get(srv.url("api/kernels", with_token=False))
    assert status in (302, 403), status

    status, _headers, body = http_get(srv.url())
    assert status == 200
    assert b"jupyter-config-data" in body

    # in the browser, the token in the URL opens the page and its kernel websocket
    page = page_guard.page
    open_dashboard(page, srv.url())
    expect(page.locator(".mldash-title")).to_have_text(results_csv.name)
    screenshot(page, "with-token")


def test_missing_results_file_shows_a_message(voila_server, tmp_path: Path, page_guard,
                                              screenshot) -> None:
    missing = tmp_path / "does-not-exist.csv"
    srv = voila_server({ENV_FILE: str(missing)})
    page = page_guard.page
    page.goto(srv.url(), wait_until="commit")
    message = page.locator(".mldash-message")
    expect(message).to_be_visible(timeout=FIGURE_TIMEOUT_MS)
    expect(message).to_contain_text(str(missing))
    expect(page.locator(".jp-OutputArea-output[data-mime-type*='error']")).to_have_count(0)
    assert "Traceback" not in page.content()
    screenshot(page, "missing-file")


def test_guard_sees_a_request_off_the_machine(server, page_guard) -> None:
    """The no-external-request check is not vacuous: an off-machine fetch is recorded."""
    page = page_guard.page
    page.route("http://192.0.2.1/**", lambda route: route.abort())  # never reaches the network
    page.goto(server.url("voila/static/voila.js"))
    page.evaluate("fetch('http://192.0.2.1/probe.css').catch(() => null)")
    deadline = time.monotonic() + 10
    while not page_guard.external_requests() and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert page_guard.external_requests() == ["http://192.0.2.1/probe.css"]
    with pytest.raises(AssertionError, match="left this machine"):
        page_guard.check()
    # forget the deliberate request (and the console error of its abort) for teardown
    page_guard.requests.remove("http://192.0.2.1/probe.css")
    page_guard.console_errors.clear()


def test_root_dir_holds_only_the_notebook(server) -> None:
    # the root directory holds the notebook and nothing else
    assert [p.name for p in server.root_dir.iterdir()] == ["dashboard.ipynb"]
    nb = json.loads((server.root_dir / "dashboard.ipynb").read_text())
    assert len(nb["cells"]) == 1
