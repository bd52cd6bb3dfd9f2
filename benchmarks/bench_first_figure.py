"""Where the time to the first figure goes, measured from a real Chromium.

    python benchmarks/bench_first_figure.py [FILE] [--loads 3] [-- extra serve options]

(from the repository root; Debian's Chromium at /usr/bin/chromium or $DASHBOARD_CHROMIUM)

Starts ``python -m dashboard serve FILE --no-browser`` (the demo by default) exactly as a user
does, then opens the printed URL ``--loads`` times in headless Chromium and prints, per load
and as medians, the milliseconds from navigation start to: the HTML's first byte, the DOM
ready, the kernel's websocket opening, its first frame, plotly.js loaded, the header drawn,
and the waterfall drawn (its plotly div holds bars); plus the bytes received over the
websocket and over HTTP before the waterfall was drawn. The server's own start (command to
URL printed) is printed once, and at the end each live kernel's resident memory against the
file's columns as Arrow (Parquet only). Timings are printed, never asserted: machines are
noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
URL = re.compile(r"(http://127\.0\.0\.1:\d+/\S*)")
WATERFALL_DRAWN = """() => {
  const d = document.querySelector('.mldash-waterfall .js-plotly-plot');
  return !!(d && d.querySelector('.bars .point path'));
}"""
STEPS = ("first byte", "DOM ready", "ws open", "ws 1st frame", "plotly.js", "header",
         "waterfall")


def start_server(file: Path, extra: list[str]) -> tuple[subprocess.Popen, str, float]:
    """The serve command; returns the process, the URL it printed and how long that took."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dashboard", "serve", str(file),
                             "--no-browser", *extra], cwd=str(REPO), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        found = URL.search(line)
        if found and "Dashboard for" in line:
            return proc, found.group(1), time.perf_counter() - t0
    raise RuntimeError(f"serve exited with {proc.wait()} before printing its URL")


def one_load(browser, url: str) -> dict[str, float]:  # noqa: ANN001 - playwright's Browser
    """Open the page once; return the milliseconds of each step and the bytes received."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    marks: dict[str, float] = {}
    sizes = {"ws": 0, "http": 0}
    done = {"flag": False}

    def on_ws(ws) -> None:  # noqa: ANN001
        marks.setdefault("ws open", time.perf_counter())

        def frame(payload) -> None:  # noqa: ANN001
            marks.setdefault("ws 1st frame", time.perf_counter())
            if not done["flag"]:
                sizes["ws"] += len(payload)
        ws.on("framereceived", frame)

    def on_response(response) -> None:  # noqa: ANN001
        if "plotly" in response.url and ".js" in response.url:
            marks.setdefault("plotly.js", time.perf_counter())
        if not done["flag"]:
            # redirects and aborted requests have no body
            with contextlib.suppress(Exception):
                sizes["http"] += len(response.body())

    page.on("websocket", on_ws)
    page.on("response", on_response)
    start = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector(".mldash-header .mldash-diagnosis", timeout=300_000)
    marks["header"] = time.perf_counter()
    page.wait_for_function(WATERFALL_DRAWN, timeout=300_000)
    marks["waterfall"] = time.perf_counter()
    done["flag"] = True
    nav = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                        " return [n.responseStart, n.domContentLoadedEventEnd]; }")
    out = {k: (v - start) * 1000 for k, v in marks.items()}
    out["first byte"], out["DOM ready"] = nav
    out["ws KB"] = sizes["ws"] / 1e3
    out["http KB"] = sizes["http"] / 1e3
    page.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?",
                        default=str(REPO / "dashboard" / "data" / "demo" / "cat_results.parquet"))
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds to wait after the last load before reading the "
                        "kernels' memory")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    proc, url, started = start_server(Path(args.file), extra)
    print(f"server: URL printed {started:.1f} s after the command started")
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for i in range(args.loads):
                rows.append(one_load(browser, url))
                print(f"load {i + 1}: waterfall drawn at {rows[-1]['waterfall']:,.0f} ms")
            time.sleep(args.settle)  # each page's first view finishes (it frees its scratch)
            kernels = kernel_memory(proc.pid)  # the pages are still open: their kernels live
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    print(" " * 6 + " ".join(f"{s[:12]:>12}" for s in (*STEPS, "ws KB", "http KB")))
    for i, row in enumerate(rows, 1):
        print(f"{i:>5} " + " ".join(f"{row.get(s, float('nan')):>12,.0f}"
                                    for s in (*STEPS, "ws KB", "http KB")))
    med = {s: statistics.median(r.get(s, float("nan")) for r in rows)
           for s in (*STEPS, "ws KB", "http KB")}
    print("median (ms from navigation start):")
    print("  " + ", ".join(f"{s} {med[s]:,.0f}" for s in STEPS))
    print(f"  bytes before the waterfall: websocket {med['ws KB']:,.0f} KB, "
          f"HTTP {med['http KB']:,.0f} KB")
    arrow = arrow_mb(Path(args.file))
    for pid, mb in kernels:
        ratio = f" ({mb / arrow:.2f}x the columns' Arrow size, {arrow:,.0f} MB)" if arrow else ""
        print(f"kernel {pid}: {mb:,.0f} MB resident{ratio}")


def kernel_memory(server_pid: int) -> list[tuple[int, float]]:
    """Resident MB of each kernel (an ipykernel process) under the server's process."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, todo = [], [server_pid]
    while todo:
        pid = todo.pop()
        for child, parent in parents.items():
            if parent == pid:
                todo.append(child)
                with contextlib.suppress(OSError):
                    if b"ipykernel" in Path(f"/proc/{child}/cmdline").read_bytes():
                        status = Path(f"/proc/{child}/status").read_text()
                        kb = next(int(line.split()[1]) for line in status.splitlines()
                                  if line.startswith("VmRSS:"))
                        found.append((child, kb / 1024))
    return sorted(found)


def arrow_mb(path: Path) -> float:
    """MB of the file's columns as Arrow (what the issue's budget is measured against)."""
    if path.suffix.lower() not in (".parquet", ".pq"):
        return 0.0
    import pyarrow.parquet as pq

    return pq.read_table(path).nbytes / 2**20


if __name__ == "__main__":
    main()
