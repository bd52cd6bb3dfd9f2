"""Closed and reloaded pages give their kernels back (issue 13, item 4).

Thirty pages are opened, reloaded and closed one after another in headless Chromium; every
kernel must be shut down by the page's beacon (not left to the culler), and the server's
kernels and memory must come back to where they were before the first page. The figures
measured are printed (``pytest -s``): the memory of one kernel is what sets the number of
concurrent viewers per 4 GB.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser

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


@pytest.mark.slow
def test_thirty_pages_give_their_kernels_back(browser: Browser, tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text("id,split,label,score\n" + "".join(
        f"{i},{'dev' if i % 3 else 'test'},{i % 2},{(i * 37 % 100) / 100}\n"
        for i in range(200)))
    log = tmp_path / "voila.log"
    with serve.launch_dashboard(csv, log_path=log, store=tmp_path / "s.sqlite") as running:
        pid = running.proc.pid
        baseline_server, baseline_tree = rss_mb(pid), tree_rss_mb(pid)
        assert _kernels(pid) == 0
        context = browser.new_context()
        peak_kernels, kernel_mb = 0, []
        try:
            for i in range(PAGES):
                page = context.new_page()
                page.goto(running.url, wait_until="commit")
                page.locator(APP).first.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
                assert page.locator(".mldash-message").count() == 0
                if i == 0:
                    kernel_mb.append(tree_rss_mb(pid) - rss_mb(pid))
                page.reload(wait_until="commit")
                page.locator(APP).first.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
                peak_kernels = max(peak_kernels, _kernels(pid))
                page.close(run_before_unload=True)
        finally:
            context.close()
        assert wait_for(lambda: _kernels(pid) == 0, timeout=120), \
            f"{_kernels(pid)} kernels left after {PAGES} closed pages"
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
        assert peak_kernels <= 2
        assert tree - baseline_tree < 100, f"memory did not come back: {tree:.0f} MB"
        assert grown < 100
