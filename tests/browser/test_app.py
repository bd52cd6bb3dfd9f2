"""The served dashboard in a real browser, launched the way a user launches it.

``python -m dashboard serve FILE --port N --no-browser --store S`` runs as a subprocess on a
copy of the demo data in a temporary folder (so the annotation store lands there too); the
page is driven with Playwright through the ``page_guard`` fixture, which fails a test on any
console error, dialog, or request that leaves 127.0.0.1. Every number the page must show is
computed here with the same :class:`~dashboard.results.Results` model and compared as text.

One module-scoped CLI server serves the tests that do not interfere (each page load starts its
own kernel, so only the store is shared); the tests that restart servers or need other data
start their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from playwright.sync_api import Page, WebSocket, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from dashboard import Results
from dashboard.io import read_sidecar
from dashboard.serve import (
    ENV_DATASET_NAME,
    ENV_FILE,
    ENV_HUMAN_LEVEL,
    ENV_STORE,
    find_free_port,
    launch_dashboard,
)
from dashboard.widgets.format import pct, pp

if TYPE_CHECKING:
    from conftest import PageGuard, StartServer

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "dashboard" / "data" / "demo"
DEMO_FILE = "cat_results.parquet"
PAGE_TIMEOUT_MS = 120_000
CLI_START_TIMEOUT_S = 120.0

WATERFALL = ".mldash-waterfall"
# the waterfall in its tab (presentation mode keeps it there)
TAB_WATERFALL = f".widget-tab {WATERFALL}"
WATERFALL_BAR = f"{TAB_WATERFALL} .js-plotly-plot .bars .point path"
WATERFALL_TEXT = f"{TAB_WATERFALL} .js-plotly-plot .textpoint text"
DIAGNOSIS = ".mldash-header .mldash-diagnosis"
FACTS = ".mldash-header .mldash-facts"
TALLY = ".mldash-tally"
TAG_BOX = f"{TALLY} .mldash-tag input[type=checkbox]"
SHARE = f"{TALLY} .mldash-tally-share"
TALLY_CHART_BAR = f"{TALLY} .mldash-tally-chart .js-plotly-plot .bars .point path"
COMMENT = f"{TALLY} .mldash-comment input"
EXPLORER = ".mldash-explorer"
EXPLORER_FIGURE = f"{EXPLORER} .js-plotly-plot"
SLIDER_HANDLE = f"{EXPLORER} .widget-slider .noUi-handle"
SLIDER_READOUT = f"{EXPLORER} .widget-slider .widget-readout"
MESSAGE = ".mldash-message"
XSS = "<img src=x onerror=alert(1)>"


# --------------------------------------------------------------------------- data and servers


def copy_demo(dest: Path) -> Path:
    """Copy the demo data (results, sidecar, images) into ``dest``; return the results file."""
    shutil.copytree(DEMO, dest)
    return dest / DEMO_FILE


def demo_results(path: Path) -> Results:
    """The model the page builds for ``path``: same sidecar human level and metadata."""
    meta = read_sidecar(path)
    return Results.from_file(path, human_level=meta.get("human_level"),
                             metadata=meta.get("models"))


def waterfall_labels(results: Results) -> list[str]:
    """The level and gap labels the waterfall prints for the model's current state."""
    report = results.gaps()
    errors = results.error_rates()["error"]
    return [pct(v) for v in errors] + [pp(v) for v in report.gaps().values() if v is not None]


def child_env() -> dict[str, str]:
    """Environment of a CLI subprocess: this checkout first on ``PYTHONPATH``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHBOARD_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class CliServer:
    """``python -m dashboard serve`` running in its own process group."""

    proc: subprocess.Popen
    port: int
    file: Path
    store: Path
    lines: list[str] = field(default_factory=list)
    url: str = ""

    def output(self) -> str:
        """What the command printed so far."""
        return "".join(self.lines)

    def voila_pid(self) -> int | None:
        """Pid of the Voilà server the command started (its child)."""
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*"):
            for pid in (task / "children").read_text().split():
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if any(b"voila" in part for part in cmdline):  # dashboard.voila_server
                    return int(pid)
        return None


def start_cli(file: Path, store: Path, *extra: str) -> CliServer:
    """Run the serve command on a free port; return once it printed the dashboard's URL."""
    port = find_free_port()
    argv = [sys.executable, "-m", "dashboard", "serve", str(file), "--port", str(port),
            "--no-browser", "--store", str(store), *extra]
    proc = subprocess.Popen(argv, cwd=str(file.parent), env=child_env(), text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    server = CliServer(proc, port, file, store)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            server.lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + CLI_START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = re.search(r"^Dashboard for .* at (\S+)$", server.output(), re.MULTILINE)
        if found:
            server.url = found.group(1)
            return server
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    stop_cli(server)
    raise RuntimeError(f"the serve command printed no URL:\n{server.output()}")


def stop_cli(server: CliServer, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
    """Stop the command like Ctrl+C does (it then stops Voilà); kill its group if it hangs."""
    if server.proc.poll() is None:
        server.proc.send_signal(sig)
        try:
            server.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=timeout)
    return server.proc.returncode


def stop_pid(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM one process this test started (a Voilà server), then SIGKILL if it lingers."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or "Z" in _state(pid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    """The serve command on a copy of the demo data, for the tests that do not interfere."""
    base = tmp_path_factory.mktemp("app")
    file = copy_demo(base / "data")
    (base / "store").mkdir()
    server = start_cli(file, base / "store" / "annotations.sqlite")
    try:
        yield server
    finally:
        stop_cli(server)
        print(f"--- serve output ---\n{server.output()[-4000:]}")


# --------------------------------------------------------------------------- page helpers


def open_app(page: Page, url: str) -> None:
    """Load the page and wait until the waterfall's bars are drawn."""
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(url, wait_until="commit")
    wait_for_app(page)


def wait_for_app(page: Page) -> None:
    """Wait for the waterfall's bars, or fail at once with the page's error message."""
    page.locator(f"{WATERFALL_BAR}, {MESSAGE}").first.wait_for(state="visible",
                                                               timeout=PAGE_TIMEOUT_MS)
    message = page.locator(MESSAGE)
    assert message.count() == 0, message.first.text_content()


def allow_unload_errors(guard: PageGuard) -> None:
    """Accept the console errors that leaving (reloading) a page causes under Voilà 0.5.

    Voilà's shutdown beacon used to get 403 for lack of an ``_xsrf`` cookie
    (voila-dashboards/voila#1458); the page handler of :mod:`dashboard.voila_server` sets
    it, so a 403 there is an error again.
    """
    # leaving the page closes its kernel connection first; a figure re-fitting during the
    # unload (plotly's relayout handler) then finds nothing to send its new size to
    guard.allow_console_error(r"^Could not send widget sync message Error: Cannot send")


def show_tab(page: Page, name: str) -> None:
    """Select one of the dashboard's tabs by its title."""
    tab = page.locator(".lm-TabBar-tab", has_text=name)
    tab.click()
    expect(tab).to_have_class(re.compile(r"\blm-mod-current\b"))


def show_grid(page: Page) -> None:
    """Show the error-analysis tab and wait for the grid's rows.

    The grid's views are created after the waterfall's and, on a loaded machine, can take
    longer than an assertion's default 5 s to reach the page: wait as long as for the page.
    """
    show_tab(page, "Error analysis")
    page.locator(f"{TALLY} .mldash-tag input").first.wait_for(state="visible",
                                                              timeout=PAGE_TIMEOUT_MS)


def wait_for_fit(page: Page, view: str, timeout_ms: float = 10_000) -> None:
    """Wait until the first visible figure in ``view`` spans 80% of it (it re-fits a moment
    after its tab shows); return quietly on timeout, for the caller to measure and report."""
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(
            """(view) => {
                const v = Array.from(document.querySelectorAll(view))
                    .find(e => e.offsetParent !== null);
                // the view's figures side by side (the explorer: curves and matrix)
                const boxes = v ? Array.from(v.querySelectorAll('.js-plotly-plot svg.main-svg'))
                    .map(f => f.getBoundingClientRect()).filter(b => b.width > 0) : [];
                if (!boxes.length) return false;
                const width = Math.max(...boxes.map(b => b.right))
                    - Math.min(...boxes.map(b => b.left));
                return width >= 0.8 * v.getBoundingClientRect().width;
            }""", arg=view, timeout=timeout_ms)


def svg_texts(page: Page, selector: str) -> list[str]:
    """Text of SVG nodes (``inner_text`` raises on SVG)."""
    return [t or "" for t in page.locator(selector).all_text_contents()]


def expect_waterfall(page: Page, results: Results) -> None:
    """The waterfall in the page prints exactly the labels ``results`` gives."""
    for label in waterfall_labels(results):
        expect(page.locator(WATERFALL_TEXT, has_text=label).first).to_be_attached()


def first_row(page: Page) -> tuple[str, list[str]]:
    """Key of the grid's first row and its category names, from the boxes' tooltips.

    Shows the error-analysis tab and waits for the grid (:func:`show_grid`).
    """
    show_grid(page)
    titles = page.locator(f"{TALLY} .mldash-tag input").evaluate_all(
        "els => els.map(e => e.title)")
    key = titles[0].rsplit(": ", 1)[1]
    cats = [t.rsplit(": ", 1)[0] for t in titles if t.endswith(f": {key}")]
    return key, cats


def tag_box(page: Page, key: str, category: str) -> Any:
    """The checkbox of one row and category."""
    return page.locator(f"{TALLY} .mldash-tag input[type=checkbox][title='{category}: {key}']")


@dataclass
class WsMeter:
    """Bytes the page's kernel websocket carries, frame by frame."""

    frames: list[tuple[float, str, int, Any]] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        def on_ws(ws: WebSocket) -> None:
            if "/channels" not in ws.url:
                return
            ws.on("framereceived", lambda data: self._add("in", data))
            ws.on("framesent", lambda data: self._add("out", data))
        page.on("websocket", on_ws)

    def _add(self, direction: str, data: str | bytes) -> None:
        size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8"))
        self.frames.append((time.monotonic(), direction, size, data))

    def mark(self) -> int:
        return len(self.frames)

    def settle(self, page: Page, quiet_s: float = 0.8, timeout_s: float = 20.0) -> None:
        """Wait until no frame arrived for ``quiet_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            page.wait_for_timeout(100)
            last = self.frames[-1][0] if self.frames else 0.0
            if time.monotonic() - last >= quiet_s:
                return

    def since(self, mark: int, direction: str = "in") -> list[tuple[float, str, int, Any]]:
        return [f for f in self.frames[mark:] if f[1] == direction]


def describe_frame(data: str | bytes) -> str:
    """Short summary of one Jupyter websocket frame: message type and comm state keys."""
    try:
        if isinstance(data, bytes):
            # v1.kernel.websocket.jupyter.org: offsets, then channel, header, parent, meta, content
            n = int.from_bytes(data[:8], "little")
            offsets = [int.from_bytes(data[8 * (i + 1):8 * (i + 2)], "little") for i in range(n)]
            parts = [data[offsets[i]:offsets[i + 1]] for i in range(min(n - 1, 5))]
            header, content = json.loads(parts[1]), json.loads(parts[4])
        else:
            msg = json.loads(data)
            header, content = msg["header"], msg["content"]
        state = content.get("data", {}).get("state", {})
        return f"{header['msg_type']} {sorted(state)}"[:160]
    except (ValueError, KeyError, IndexError, TypeError):
        return "?"


# --------------------------------------------------------------------------- 1, 5: the page


def test_cli_prints_the_url_and_the_three_views_render(cli_server: CliServer,
                                                       page_guard: PageGuard,
                                                       screenshot: Callable[..., Path]) -> None:
    # a token is always required: the printed URL carries it
    assert re.fullmatch(rf"http://127\.0\.0\.1:{cli_server.port}/\?token=[\w-]{{32,}}",
                        cli_server.url), cli_server.url
    out = cli_server.output()
    assert f"Loaded {cli_server.file}" in out
    assert f"Annotations are saved in {cli_server.store}" in out
    results = demo_results(cli_server.file)
    page = page_guard.page
    open_app(page, cli_server.url)

    # header: title and the diagnosis, as the model words it
    expect(page.locator(".mldash-header .mldash-title")).to_have_text("Cat detector (demo)")
    expect(page.locator(DIAGNOSIS)).to_have_text(results.gaps().headline)
    expect(page.locator(DIAGNOSIS)).to_contain_text("Focus on data mismatch")
    expect(page.locator(FACTS)).to_contain_text("threshold 0.5")
    # 1. the waterfall: 5 levels + 4 gaps, every label the model gives
    assert page.locator(WATERFALL_BAR).count() >= 9
    expect_waterfall(page, results)
    wait_for_fit(page, TAB_WATERFALL)
    screenshot(page, "waterfall", full_page=False)

    # 2. the tally grid: rows with one checkbox per category, previews from the data folder
    key, cats = first_row(page)
    assert cats == list(results.categories)
    expect(tag_box(page, key, cats[0])).to_be_visible()
    assert page.locator(TAG_BOX).count() >= 10 * len(cats)
    expect(page.locator(f"{TALLY} img").first).to_be_visible()
    expect(page.locator(SHARE)).to_have_count(len(cats))
    # every category header shows its whole name (it wraps; "incorrectly labe…" before)
    clipped = page.locator(f"{TALLY} th.mldash-col-tag").evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth + 1 || "
        "getComputedStyle(e).textOverflow === 'ellipsis').map(e => e.textContent)")
    assert clipped == []
    # above the grid: the report's chart of the shares, one bar per category
    expect(page.locator(TALLY_CHART_BAR)).to_have_count(len(cats))
    page.set_viewport_size({"width": 1280, "height": 1600})
    wait_for_fit(page, TALLY)
    screenshot(page, "error-analysis", full_page=False)

    # 3. the explorer: curves and confusion matrix side by side, at the page's width
    show_tab(page, "Threshold & models")
    figure = page.locator(EXPLORER_FIGURE).first
    expect(figure.locator("svg.main-svg").first).to_be_visible()
    expect(figure.locator(".legendtext", has_text=re.compile(r"^precision$")).first) \
        .to_be_attached()
    expect(figure.locator(".legendtext", has_text=re.compile(r"^F1$")).first).to_be_attached()
    expect(figure.locator(".legendtext", has_text=re.compile(r"^trace \d+$"))).to_have_count(0)
    page.set_viewport_size({"width": 1280, "height": 1300})
    wait_for_fit(page, EXPLORER)
    screenshot(page, "explorer", full_page=False)

    # 5. nothing left this machine; the kernel's websocket is on 127.0.0.1
    assert page_guard.requests
    assert page_guard.websockets
    assert all(u.startswith(f"ws://127.0.0.1:{cli_server.port}/") for u in page_guard.websockets)
    assert page_guard.external_requests() == []


def test_figures_use_the_width_of_their_view(cli_server: CliServer, page_guard: PageGuard) -> None:
    """A figure drawn at plotly's default 700 px in a wide view crowds its panels together."""
    page = page_guard.page
    open_app(page, cli_server.url)
    widths = {}
    for tab, view in (("Gap waterfall", TAB_WATERFALL), ("Threshold & models", EXPLORER)):
        show_tab(page, tab)
        figure = f"{view} .js-plotly-plot svg.main-svg"
        expect(page.locator(figure).first).to_be_visible()
        wait_for_fit(page, view)
        boxes = [b for b in (f.bounding_box() for f in page.locator(figure).all()) if b]
        panel = page.locator(view).first.bounding_box()
        assert boxes and panel is not None
        width = max(b["x"] + b["width"] for b in boxes) - min(b["x"] for b in boxes)
        widths[tab] = (round(width), round(panel["width"]))
    narrow = {tab: w for tab, w in widths.items() if w[0] < 0.8 * w[1]}
    assert not narrow, f"figure width vs its view's width (px): {narrow}"


def test_loading_line_names_the_file(tmp_path: Path, page_guard: PageGuard,
                                    screenshot: Callable[..., Path]) -> None:
    """While the kernel imports and reads the file, the page says which file it is loading
    (without a preheated kernel: with one, the page opens with the file already read)."""
    server = start_cli(copy_demo(tmp_path / "data"), tmp_path / "s.sqlite", "--no-preheat")
    try:
        page = page_guard.page
        page.set_viewport_size({"width": 1280, "height": 600})
        # the line may show for a moment only (the app builds in well under a second now):
        # record every text it had, from the first mutation on
        page.add_init_script("""
          window.__loadingTexts = [];
          new MutationObserver(() => {
            document.querySelectorAll('.mldash-loading-text').forEach(
              (e) => window.__loadingTexts.push(e.textContent));
          }).observe(document, {subtree: true, childList: true, characterData: true});
        """)
        page.goto(server.url, wait_until="commit")
        wait_for_app(page)
        texts = page.evaluate("() => window.__loadingTexts")
        assert any(DEMO_FILE in t for t in texts), texts[:5]
        screenshot(page, "loaded", full_page=False)
        expect(page.locator(".mldash-loading-text")).to_have_count(0)
        page.goto("about:blank")
    finally:
        stop_cli(server)


# --------------------------------------------------------------------------- 2: threshold


def test_threshold_move_updates_the_waterfall_and_header(cli_server: CliServer,
                                                         page_guard: PageGuard,
                                                         screenshot: Callable[..., Path],
                                                         record_property: Callable) -> None:
    results = demo_results(cli_server.file)
    page = page_guard.page
    meter = WsMeter()
    meter.attach(page)
    open_app(page, cli_server.url)
    expect_waterfall(page, results)
    before_text = svg_texts(page, WATERFALL_TEXT)
    before_d = page.locator(WATERFALL_BAR).evaluate_all("els => els.map(e => e.getAttribute('d'))")
    dev_label = pct(results.error_rates().loc["dev", "error"])

    # "Jump to best": the best-F1 dev threshold
    show_tab(page, "Threshold & models")
    best = results.best_threshold("dev", optimize="f1")
    assert best is not None
    page.get_by_role("button", name="Jump to best").click()
    results.threshold = float(best.threshold)
    expect(page.locator(FACTS)).to_contain_text(f"threshold {results.threshold:.3g}")
    show_tab(page, "Gap waterfall")
    expect_waterfall(page, results)
    new_dev_label = pct(results.error_rates().loc["dev", "error"])
    assert new_dev_label != dev_label
    expect(page.locator(WATERFALL_TEXT, has_text=new_dev_label).first).to_be_attached()
    assert svg_texts(page, WATERFALL_TEXT) != before_text
    after_d = page.locator(WATERFALL_BAR).evaluate_all("els => els.map(e => e.getAttribute('d'))")
    assert after_d != before_d  # the bars moved, not only their labels
    expect(page.locator(f"{TAB_WATERFALL} .js-plotly-plot .gtitle")) \
        .not_to_contain_text("threshold 0.50")
    screenshot(page, "after-jump-to-best", full_page=False)

    # the keyboard on the slider handle: one step, and measure what the kernel sends for it
    show_tab(page, "Threshold & models")
    readout = page.locator(SLIDER_READOUT)
    start = readout.text_content() or ""
    handle = page.locator(SLIDER_HANDLE)
    handle.focus()
    meter.settle(page)
    mark = meter.mark()
    handle.press("ArrowLeft")
    expect(readout).not_to_have_text(start)
    # the exact value the slider sent (the readout rounds it to 3 decimals)
    moved = float(handle.get_attribute("aria-valuetext") or "nan")
    expect(page.locator(FACTS)).to_contain_text(f"threshold {moved:.3g}")
    meter.settle(page)
    received = meter.since(mark, "in")
    sent = meter.since(mark, "out")
    total = sum(size for _, _, size, _ in received)
    record_property("ws_bytes_received_per_slider_move", total)
    record_property("ws_frames_received_per_slider_move", len(received))
    record_property("ws_bytes_sent_per_slider_move", sum(s for _, _, s, _ in sent))
    largest = sorted(received, key=lambda f: -f[2])[:5]
    kinds: dict[str, list[int]] = {}
    for _, _, size, data in received:
        kinds.setdefault(describe_frame(data), []).append(size)
    print(f"one slider move: {len(received)} frames, {total} bytes from the kernel: "
          + "; ".join(f"{len(v)} x {k} ({sum(v)} B)" for k, v in
                      sorted(kinds.items(), key=lambda kv: -sum(kv[1]))))
    assert total < 100_000, [f"{s} B {describe_frame(d)}" for _, _, s, d in largest]

    # the waterfall followed the keyboard move too; the explorer drops the slider's binary
    # float noise (a keyboard step lands on the 0.001 grid), so the page is at round(moved, 4)
    results.threshold = round(moved, 4)
    show_tab(page, "Gap waterfall")
    expect_waterfall(page, results)


def test_keyboard_step_lands_on_the_threshold_the_page_shows(cli_server: CliServer,
                                                              page_guard: PageGuard) -> None:
    """After a key press the page reads "threshold 0.574": the numbers must be those at 0.574.

    The demo's scores lie on a 0.001 grid, so a threshold a hair above the one shown (float
    noise of the slider's own arithmetic, 0.575 - 0.001 = 0.5740000000000001 in JavaScript)
    predicts the examples scored exactly 0.574 negative although "positive iff score >=
    threshold" and the threshold reads 0.574.
    """
    results = demo_results(cli_server.file)
    page = page_guard.page
    open_app(page, cli_server.url)
    show_tab(page, "Threshold & models")
    page.get_by_role("button", name="Jump to best").click()
    best = results.best_threshold("dev", optimize="f1")
    assert best is not None
    expect(page.locator(FACTS)).to_contain_text(f"threshold {best.threshold:.3g}")
    handle = page.locator(SLIDER_HANDLE)
    handle.focus()
    handle.press("ArrowLeft")
    readout = page.locator(SLIDER_READOUT)
    expect(readout).not_to_have_text(f"{best.threshold:.3f}")
    shown = float(readout.text_content() or "nan")
    expect(page.locator(FACTS)).to_contain_text(f"threshold {shown:.3g}")
    sent = handle.get_attribute("aria-valuetext")
    results.threshold = shown
    show_tab(page, "Gap waterfall")
    dev = pct(results.error_rates().loc["dev", "error"])
    texts = svg_texts(page, WATERFALL_TEXT)
    assert dev in texts, (f"threshold shown {shown}, sent {sent}: dev error at {shown} is {dev}; "
                          f"the waterfall shows {texts}")


# --------------------------------------------------------------------------- report download


def test_download_report_of_the_current_state(cli_server: CliServer, page_guard: PageGuard,
                                              tmp_path: Path,
                                              screenshot: Callable[..., Path]) -> None:
    results = demo_results(cli_server.file)
    page = page_guard.page
    open_app(page, cli_server.url)
    # one click builds the report and saves it (it used to take a second, on a link)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Download report").click()
    download = info.value
    link = page.locator(".mldash-report-link a[download]")
    expect(link).to_have_text(re.compile(r"^Save cat-detector-demo-diagnosis\.html$"))
    expect(page.locator(".mldash-report-status")).to_contain_text("model A, threshold 0.5")
    screenshot(page, "report-link", full_page=False)
    assert download.suggested_filename == "cat-detector-demo-diagnosis.html"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert results.gaps().headline in text
    assert "Cat detector (demo)" in text
    assert saved.stat().st_size > 1_000_000  # plotly.js inlined: it opens offline


# --------------------------------------------------------------------------- 3: ticks persist


def test_tick_survives_reload_and_server_restart(tmp_path: Path, page_guard: PageGuard,
                                                 screenshot: Callable[..., Path]) -> None:
    file = copy_demo(tmp_path / "data")
    store = tmp_path / "store" / "annotations.sqlite"
    store.parent.mkdir()
    meta = read_sidecar(file)

    def launch() -> Any:
        return launch_dashboard(file, store=store, human_level=meta["human_level"],
                                dataset_name=str(meta["title"]), timeout=120)

    results = demo_results(file)
    page = page_guard.page
    allow_unload_errors(page_guard)
    running = launch()
    try:
        open_app(page, running.url)
        key, cats = first_row(page)
        category = next(c for c in cats if not tag_box(page, key, c).is_checked())
        index = cats.index(category)
        share = page.locator(SHARE).nth(index)
        before = pct(results.tally("dev").loc[category, "share"], 0)
        expect(share).to_have_text(before)

        tag_box(page, key, category).check()
        results.set_tag(key, category, True)
        after = pct(results.tally("dev").loc[category, "share"], 0)
        assert after != before
        expect(share).to_have_text(after)
        expect(page.locator(f"{TALLY} .mldash-saved").first).to_be_visible()
        assert store.exists()

        page.reload(wait_until="commit")
        wait_for_app(page)
        show_grid(page)
        expect(tag_box(page, key, category)).to_be_checked()
        expect(page.locator(SHARE).nth(index)).to_have_text(after)
        page.goto("about:blank")  # leave before the server goes away
    finally:
        running.stop()  # SIGTERM to Voilà
    assert running.proc.returncode is not None

    running = launch()
    try:
        open_app(page, running.url)
        show_grid(page)
        expect(tag_box(page, key, category)).to_be_checked()
        expect(page.locator(SHARE).nth(index)).to_have_text(after)
        screenshot(page, "after-restart", full_page=False)
        page.locator(SHARE).nth(index).scroll_into_view_if_needed()
        screenshot(page, "footer-after-restart", full_page=False)
        page.goto("about:blank")
    finally:
        running.stop()


# --------------------------------------------------------------------------- 4: comment markup


def test_comment_with_markup_shows_as_text(cli_server: CliServer, page_guard: PageGuard,
                                           screenshot: Callable[..., Path]) -> None:
    page = page_guard.page
    allow_unload_errors(page_guard)
    open_app(page, cli_server.url)
    show_grid(page)
    comment = page.locator(COMMENT).first
    comment.fill(XSS)
    comment.press("Enter")  # the box sends on Enter (continuous_update=False)
    expect(page.locator(f"{TALLY} .mldash-saved").first).to_be_visible()
    expect(page.locator("img[src='x']")).to_have_count(0)
    screenshot(page, "comment", full_page=False)

    page.reload(wait_until="commit")
    wait_for_app(page)
    show_grid(page)
    expect(page.locator(COMMENT).first).to_have_value(XSS)
    expect(page.locator("img[src='x']")).to_have_count(0)
    screenshot(page, "comment-after-reload", full_page=False)
    assert "onerror=alert" not in page.content()
    # page_guard fails the test at teardown if alert() ever fired


# --------------------------------------------------------------------------- 7: presenting


def test_presentation_mode(cli_server: CliServer, page_guard: PageGuard,
                           screenshot: Callable[..., Path]) -> None:
    page = page_guard.page
    open_app(page, cli_server.url)
    font_size = "e => parseFloat(getComputedStyle(e).fontSize)"
    # the header, the tab labels and the error analysis' answer sentence grow together
    grown = [DIAGNOSIS, ".lm-TabBar-tab", f"{TALLY} .mldash-answer [role=status]"]
    normal = [float(page.locator(sel).first.evaluate(font_size)) for sel in grown]
    page.get_by_role("button", name="Present").click()
    expect(page.locator(".mldash.mldash-present")).to_have_count(1)
    large = [float(page.locator(sel).first.evaluate(font_size)) for sel in grown]
    assert all(b >= 1.5 * a for a, b in zip(normal, large, strict=True)), (normal, large)

    views = [WATERFALL, TALLY, EXPLORER]

    def visible() -> list[str]:
        return [v for v in views if page.locator(v).filter(visible=True).count()]

    # one view at a time, in the tabs (kept, reachable by keyboard); meeting controls only
    expect(page.locator(".lm-TabBar")).to_be_visible()
    expect(page.locator(f"{WATERFALL} .bars .point path").filter(visible=True).first) \
        .to_be_visible()
    assert visible() == [WATERFALL]
    expect(page.locator(f"{WATERFALL} .mldash-secondary").first).to_be_hidden()
    wait_for_fit(page, WATERFALL)
    screenshot(page, "presenting", full_page=False)

    # the error analysis presents its chart, not the spreadsheet
    show_tab(page, "Error analysis")
    expect(page.locator(TALLY_CHART_BAR).first).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(page.locator(TAG_BOX).first).to_be_hidden()
    assert visible() == [TALLY]
    wait_for_fit(page, TALLY)
    screenshot(page, "presenting-error-analysis", full_page=False)
    show_tab(page, "Threshold & models")
    expect(page.locator(f"{EXPLORER_FIGURE} svg.main-svg").first).to_be_visible()
    assert visible() == [EXPLORER]
    expect(page.locator(SLIDER_HANDLE)).to_be_visible()
    wait_for_fit(page, EXPLORER)
    screenshot(page, "presenting-explorer", full_page=False)

    page.get_by_role("button", name="Present").click()
    expect(page.locator(".mldash-present")).to_have_count(0)
    expect(page.locator(".lm-TabBar")).to_be_visible()
    expect(page.locator(f"{EXPLORER} .mldash-secondary").first).to_be_visible()


# --------------------------------------------------------------------------- 6: the report


def test_report_opens_offline_with_its_figures(tmp_path: Path, page: Page,
                                               screenshot: Callable[..., Path]) -> None:
    file = copy_demo(tmp_path / "data")
    out = tmp_path / "out.html"
    done = subprocess.run([sys.executable, "-m", "dashboard", "report", str(file), "-o", str(out)],
                          cwd=str(tmp_path), env=child_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"Wrote {out}" in done.stdout
    errors: list[str] = []
    requests: list[str] = []
    # a quiet console: no error, and no warning either (plotly's "Invalid color specifier"
    # is a console.trace)
    page.on("console", lambda m: errors.append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning", "trace") else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (errors.append(f"dialog {d.message}"), d.dismiss()))
    page.set_viewport_size({"width": 1200, "height": 1000})
    page.goto(out.as_uri())
    plots = page.locator(".js-plotly-plot")
    # waterfall, tally, confusion matrix, curves; mismatch drivers, ROC, reliability
    expect(plots).to_have_count(7)
    for i in range(7):
        expect(plots.nth(i).locator("svg.main-svg").first).to_be_visible()
    for name in ("waterfall", "tally", "confusion", "explorer", "mismatch", "roc",
                 "calibration"):
        points = page.locator(f"#{name}").evaluate(
            "d => d.data.reduce((a, t) => a + (t.x || t.z || []).length, 0)")
        assert points > 0, name  # not a blank figure
    expect(page.locator("#waterfall .bars .point path").first).to_be_attached()
    expect(page.locator(".headline")).to_have_text(demo_results(file).gaps().headline)
    screenshot(page, "report", full_page=True)
    assert not errors, errors
    assert requests and all(u.startswith(("file:", "data:")) for u in requests), requests


# --------------------------------------------------------------------------- 8: bad files


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=str(cwd),
                          env=child_env(), capture_output=True, text=True, timeout=120)


def test_serve_missing_file_prints_one_error_line(tmp_path: Path) -> None:
    done = run_cli("serve", "missing.csv", "--no-browser", "--port", str(find_free_port()),
                   cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert "missing.csv" in lines[0]


def test_serve_nan_score_names_column_and_row(tmp_path: Path) -> None:
    bad = tmp_path / "nan_score.csv"
    bad.write_text("id,label,score,split\na,1,0.9,dev\nb,0,0.2,dev\nc,1,,dev\n")
    done = run_cli("serve", str(bad), "--no-browser", "--port", str(find_free_port()),
                   cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert "nan_score.csv" in lines[0]
    assert "'score'" in lines[0] and "row 3" in lines[0]


def test_bad_file_served_anyway_shows_the_message_in_the_page(
        voila_server: StartServer, tmp_path: Path, page_guard: PageGuard,
        screenshot: Callable[..., Path]) -> None:
    """Bypassing the command's check, the page itself names the column and row."""
    bad = tmp_path / "nan_score.csv"
    bad.write_text("id,label,score,split\na,1,0.9,dev\nb,0,0.2,dev\nc,1,,dev\n")
    srv = voila_server({ENV_FILE: str(bad), ENV_DATASET_NAME: "bad"})
    page = page_guard.page
    page.goto(srv.url(), wait_until="commit")
    message = page.locator(MESSAGE)
    expect(message).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(message).to_contain_text(str(bad))
    expect(message).to_contain_text("'score'")
    expect(message).to_contain_text("row 3")
    assert "Traceback" not in page.content()
    screenshot(page, "bad-file", full_page=False)


def test_serve_with_a_store_in_a_missing_folder(tmp_path: Path, page_guard: PageGuard) -> None:
    """``--store`` naming a folder that does not exist: refuse at once, or create it.

    Printing the URL and "Annotations are saved in ..." and then showing an error in the page
    misleads: the user learns about it only in the browser.
    """
    file = copy_demo(tmp_path / "data")
    store = tmp_path / "no-such-folder" / "annotations.sqlite"
    try:
        server = start_cli(file, store)
    except RuntimeError as exc:  # it refused: one error line naming the folder, status 2
        assert "Traceback" not in str(exc)
        assert "error:" in str(exc) and str(store.parent) in str(exc)
        return
    try:
        page = page_guard.page
        open_app(page, server.url)  # fails with the page's message if the store is unusable
        page.goto("about:blank")
    finally:
        stop_cli(server)


# --------------------------------------------------------------------------- files opened

AUDIT_HOOK = '''\
"""Test probe: log every file this process opens under $MLDASH_WATCH to $MLDASH_OPEN_LOG."""
import os
import sys

_LOG = os.environ.get("MLDASH_OPEN_LOG")
_WATCH = os.environ.get("MLDASH_WATCH")
_busy = []


def _hook(event, args):
    if _busy or event not in ("open", "os.listdir", "os.scandir", "sqlite3.connect"):
        return
    if not args or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    _busy.append(1)
    try:
        path = os.path.abspath(os.fsdecode(args[0]))
        if path.startswith(_WATCH):
            with open(_LOG, "a", encoding="utf-8") as fh:
                fh.write(f"{os.getpid()}\\t{event}\\t{path}\\n")
    except Exception:
        pass
    finally:
        _busy.pop()


if _LOG and _WATCH:
    sys.addaudithook(_hook)
'''


def test_previews_are_read_only_under_the_results_folder(voila_server: StartServer,
                                                         tmp_path: Path, page_guard: PageGuard,
                                                         screenshot: Callable[..., Path]) -> None:
    case = tmp_path / "case"
    folder = case / "results"
    file = copy_demo(folder)
    secret = case / "outside.png"
    shutil.copyfile(DEMO / "images" / "cat_01.png", secret)  # a real image, just outside
    # every dev row of the copy points its preview outside the results folder
    df = pd.read_parquet(file)
    dev = df["split"].eq("dev") & df["preview"].notna()
    escapes = ["../outside.png", str(secret), "images/../../outside.png"]
    df.loc[dev, "preview"] = [escapes[i % 3] for i in range(int(dev.sum()))]
    df.to_parquet(file)
    store = case / "store" / "annotations.sqlite"
    store.parent.mkdir()
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(AUDIT_HOOK)
    log = tmp_path / "opened.log"
    meta = read_sidecar(file)
    srv = voila_server({
        ENV_FILE: str(file), ENV_STORE: str(store), ENV_DATASET_NAME: "escapes",
        ENV_HUMAN_LEVEL: json.dumps(meta["human_level"]),
        "PYTHONPATH": os.pathsep.join(p for p in (str(hook_dir), os.environ.get("PYTHONPATH"))
                                      if p),
        "MLDASH_OPEN_LOG": str(log), "MLDASH_WATCH": str(case),
    })
    page = page_guard.page
    open_app(page, srv.url())
    show_grid(page)
    refused = page.locator(TALLY, has_text="not shown: outside the results folder")
    expect(refused).to_be_visible()
    expect(page.locator(f"{TALLY} img:visible")).to_have_count(0)
    screenshot(page, "previews-refused", full_page=False)

    opened = [line.split("\t") for line in log.read_text().splitlines()]
    paths = {Path(p) for _pid, _event, p in opened}
    # the probe works: the kernel's reads of the sidecar and the store are logged (pyarrow
    # reads the Parquet file natively, past Python's audit hooks)
    assert folder / "demo.json" in paths and store in paths
    allowed = [folder, store.parent]
    outside = sorted(str(p) for p in paths
                     if not any(p == a or p.is_relative_to(a) for a in allowed))
    assert outside == [], outside
    assert not [p for p in paths if p.name == "outside.png"]
    # in the store's folder: the store, and the table cache kept beside it (issue 22)
    cache = store.parent / ".mldash-cache"
    assert not [p for p in paths if p.parent == store.parent and not p.name.startswith(
        store.name) and p != cache]


# --------------------------------------------------------------------------- stopping


def test_sigterm_to_the_serve_command_stops_voila(tmp_path: Path) -> None:
    """``kill <pid>`` (SIGTERM: systemd, docker stop) must not leave Voilà running."""
    file = copy_demo(tmp_path / "data")
    server = start_cli(file, tmp_path / "annotations.sqlite")
    voila = server.voila_pid()
    try:
        assert voila is not None
        assert stop_cli(server, signal.SIGTERM) is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and Path(f"/proc/{voila}").exists() \
                and _state(voila) != "Z":
            time.sleep(0.2)
        alive = Path(f"/proc/{voila}").exists() and _state(voila) != "Z"
        assert not alive, f"Voilà (pid {voila}) still serves port {server.port} after SIGTERM"
    finally:
        if voila is not None:
            stop_pid(voila)
