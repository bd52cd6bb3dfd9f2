"""Closed and reloaded pages give their kernels back (issue 13, item 4).

Thirty pages are opened, reloaded and closed one after another in headless Chromium; every
kernel must be shut down by the page's beacon (not left to the culler), and the server's
kernels and memory must come back to where they were before the first page: the one
preheated kernel the server keeps ready (the default), refilled after each page takes it.
The figures measured are printed (``pytest -s``): the memory of one kernel is what sets the
number of concurrent viewers per 4 GB.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dashboard import serve
from tests.server_probe import children, rss_mb, tree_rss_mb, wait_for

PAGES = 30
APP = ".widget-tab .mldash-waterfall .js-plotly-plot svg.main-svg, .mldash-message"
PAGE_TIMEOUT_MS = 120_000


def _kernels(pid: int) -> int:
    """Kernel processes under the server (ipykernel_launcher children)."""
    count = 0
    for child in children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        count += b"ipykernel" in cmdline
    return count


def _settled(pid: int, kernels: int, timeout: float = 120) -> float:
    """Wait until the server has ``kernels`` kernels and its memory stops moving; that memory."""
    last = [-1e9]

    def still() -> bool:
        if _kernels(pid) != kernels:
            return False
        now, before = tree_rss_mb(pid), last[0]
        last[0] = now
        return abs(now - before) < 5

    assert wait_for(still, timeout=timeout, interval=2), \
        f"{_kernels(pid)} kernels, not {kernels}, or memory still moving after {timeout} s"
    return last[0]


def _shown(page: Page, what: str, log: Path, shots: Path) -> None:
    """Wait for the page's first figure; on a timeout say which page, what it showed and
    what the server logged, with a screenshot, so a failure on CI can be understood."""
    try:
        page.locator(APP).first.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
    except PlaywrightTimeout:
        shot = shots / f"{what.replace(' ', '_')}.png"
        page.screenshot(path=str(shot))
        text = page.locator("body").inner_text()[:600]
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise AssertionError(f"{what}: no figure after {PAGE_TIMEOUT_MS / 1000:.0f} s "
                             f"(screenshot {shot}); page text: {text!r}\nserver log:\n"
                             f"{tail}") from None


@pytest.mark.slow
def test_thirty_pages_give_their_kernels_back(browser: Browser, tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text("id,split,label,score\n" + "".join(
        f"{i},{'dev' if i % 3 else 'test'},{i % 2},{(i * 37 % 100) / 100}\n"
        for i in range(200)))
    log = tmp_path / "voila.log"
    with serve.launch_dashboard(csv, log_path=log, store=tmp_path / "s.sqlite") as running:
        pid = running.proc.pid
        pooled = 1  # the preheated kernel, ready before any page
        baseline_tree = _settled(pid, pooled)
        baseline_server = rss_mb(pid)
        context = browser.new_context()
        peak_kernels, kernel_mb = 0, []
        try:
            for i in range(PAGES):
                page = context.new_page()
                page.goto(running.url, wait_until="commit")
                _shown(page, f"page {i + 1}", log, tmp_path)
                assert page.locator(".mldash-message").count() == 0
                if i == 0:
                    kernel_mb.append(_settled(pid, pooled + 1) - baseline_tree)
                page.reload(wait_until="commit")
                _shown(page, f"page {i + 1} reloaded", log, tmp_path)
                peak_kernels = max(peak_kernels, _kernels(pid))
                page.close(run_before_unload=True)
        finally:
            context.close()
        assert wait_for(lambda: _kernels(pid) == pooled, timeout=120), \
            f"{_kernels(pid)} kernels left after {PAGES} closed pages (one is kept ready)"
        _settled(pid, pooled)
        text = log.read_text(errors="replace")
        shut = len(re.findall(r"Kernel shutdown: ", text))
        culled = len(re.findall(r"Culling '", text))
        grown = rss_mb(pid) - baseline_server
        tree = tree_rss_mb(pid)
        print(f"\n{PAGES} pages opened, reloaded and closed: {shut} kernels shut down by the "
              f"page's beacon, {culled} culled, peak {peak_kernels} kernels at once; one "
              f"dashboard kernel {kernel_mb[0]:.0f} MB; Voilà {baseline_server:.0f} -> "
              f"{rss_mb(pid):.0f} MB, with kernels {baseline_tree:.0f} -> {tree:.0f} MB")
        assert culled == 0, "a closed or reloaded page left its kernel to the culler"
        assert shut >= 2 * PAGES
        assert peak_kernels <= pooled + 2  # the page's, its refill, the reload's
        assert tree - baseline_tree < 100, f"memory did not come back: {tree:.0f} MB"
        assert grown < 100


# ------------------------------------------------------------------ issue 21, item 1
#
# The preheated kernel's idle clock starts at its preheat run: after a quiet minute the first
# page took a kernel the next cull pass (every 10 s) shut down before the page's websocket
# connected, and the page stayed blank (a Python repr, websocket retries). The race needs only
# an idle time longer than the cull timeout, so these servers cull after TEST_CULL_S seconds
# (every second) and sit idle 1.5 times that: 9 s standing for the 90 s against 60 s.
# DASHBOARD_TEST_CULL_S=60 replays the issue's own timings.

TEST_CULL_S = int(os.environ.get("DASHBOARD_TEST_CULL_S", "6"))
GONE = ".mldash-kernel-gone"
DRAWN_OR_GONE = f"{APP}, {GONE}"
FIGURES = ".widget-tab .mldash-waterfall .js-plotly-plot svg.main-svg"
VIEWERS = 10


def _small_csv(folder: Path) -> Path:
    csv = folder / "r.csv"
    csv.write_text("id,split,label,score\n" + "".join(
        f"{i},{'dev' if i % 3 else 'test'},{i % 2},{(i * 37 % 100) / 100}\n"
        for i in range(200)))
    return csv


def _pool_filled(log: Path) -> bool:
    return "is filled with" in log.read_text(errors="replace")


def _drawn(page: Page, what: str, log: Path, shots: Path, timeout_ms: int) -> None:
    """Wait for the page's figures (or the kernel-gone notice), then require the figures."""
    with contextlib.suppress(PlaywrightTimeout):
        page.locator(DRAWN_OR_GONE).first.wait_for(state="visible", timeout=timeout_ms)
    if page.locator(FIGURES).count() and not page.locator(GONE).count():
        return
    shot = shots / f"{what.replace(' ', '_')}.png"
    page.screenshot(path=str(shot))
    text = page.locator("body").inner_text()[:600]
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    raise AssertionError(f"{what}: no figure (screenshot {shot}); page text: {text!r}\n"
                         f"server log:\n{tail}")


def test_first_page_after_an_idle_server_draws_in_a_throttled_browser(
        browser: Browser, tmp_path: Path) -> None:
    log = tmp_path / "voila.log"
    with serve.launch_dashboard(_small_csv(tmp_path), log_path=log, store=tmp_path / "s.sqlite",
                                cull_idle_timeout=TEST_CULL_S, cull_interval=1) as running:
        assert wait_for(lambda: _pool_filled(log), timeout=120), "no preheated kernel"
        time.sleep(1.5 * TEST_CULL_S)  # the server sits idle: the ready kernel's clock runs
        context = browser.new_context()
        try:
            page = context.new_page()
            context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": 6})
            page.goto(running.url, wait_until="commit")
            _drawn(page, "throttled page after idle", log, tmp_path, PAGE_TIMEOUT_MS)
            assert page.locator(".mldash-message").count() == 0
            assert "Culling '" not in log.read_text(errors="replace")
        finally:
            context.close()


def test_a_page_whose_kernel_is_gone_says_so_and_reloads(browser: Browser,
                                                          tmp_path: Path) -> None:
    log = tmp_path / "voila.log"
    with serve.launch_dashboard(_small_csv(tmp_path), log_path=log,
                                store=tmp_path / "s.sqlite") as running:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(running.url, wait_until="commit")
            _drawn(page, "page", log, tmp_path, PAGE_TIMEOUT_MS)
            kernel_id = page.evaluate("JSON.parse(document.getElementById("
                                      "'jupyter-config-data').textContent).kernelId")
            request = urllib.request.Request(
                running.base_url + f"api/kernels/{kernel_id}?token={running.token}",
                method="DELETE")
            with urllib.request.urlopen(request, timeout=60) as resp:
                assert resp.status == 204
            notice = page.locator(GONE)
            notice.wait_for(state="visible", timeout=60_000)
            body = page.locator("body").inner_text()
            assert "lost its connection" in notice.inner_text()
            assert "App(" not in body and "children=" not in body  # never a Python repr
            notice.get_by_role("button", name="Reload").click()
            _drawn(page, "reloaded page", log, tmp_path, PAGE_TIMEOUT_MS)
        finally:
            context.close()


@pytest.mark.slow
def test_ten_viewers_arriving_together_all_draw(browser: Browser, tmp_path: Path) -> None:
    log = tmp_path / "voila.log"
    with serve.launch_dashboard(_small_csv(tmp_path), log_path=log, store=tmp_path / "s.sqlite",
                                cull_idle_timeout=TEST_CULL_S, cull_interval=1) as running:
        assert wait_for(lambda: _pool_filled(log), timeout=120), "no preheated kernel"
        time.sleep(1.5 * TEST_CULL_S)
        contexts = [browser.new_context() for _ in range(VIEWERS)]
        try:
            pages = [c.new_page() for c in contexts]
            started = time.monotonic()
            for page in pages:
                page.goto(running.url, wait_until="commit")
            for i, page in enumerate(pages):
                _drawn(page, f"viewer {i + 1}", log, tmp_path, 5 * PAGE_TIMEOUT_MS)
            print(f"\n{VIEWERS} viewers drawn {time.monotonic() - started:.0f} s after they "
                  f"arrived (cull after {TEST_CULL_S} s)")
            assert "Culling '" not in log.read_text(errors="replace")
        finally:
            for context in contexts:
                context.close()
