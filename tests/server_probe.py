"""Helpers for tests that probe a running dashboard server over raw HTTP and websockets."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from dashboard import serve

V1 = "v1.kernel.websocket.jupyter.org"


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """Every descendant process of ``pid`` (kernels of a Voilà server)."""
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        try:
            kids = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            kids = []
        for kid in map(int, kids):
            found.append(kid)
            frontier.append(kid)
    return found


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB."""
    return rss_mb(pid) + sum(rss_mb(c) for c in children(pid))


def get(url: str, *, headers: dict[str, str] | None = None,
        timeout: float = 60.0) -> tuple[int, str]:
    """Status and body of a GET (HTTP errors are answers too)."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def answers(running: serve.RunningDashboard, timeout: float = 20.0) -> bool:
    """Whether the server serves its health file within ``timeout`` seconds."""
    try:
        status, _ = get(running.base_url + serve.HEALTH_PATH, timeout=timeout)
    except (OSError, TimeoutError):
        return False
    return status == 200


def open_page(running: serve.RunningDashboard) -> tuple[str, str]:
    """Load the dashboard page (starting a kernel): its kernel id and its HTML."""
    status, html = get(running.url, timeout=120)
    assert status == 200, html[:500]
    match = re.search(r'"kernelId":\s*"([0-9a-f-]{36})"', html)
    assert match, "no kernel id in the page"
    return match.group(1), html


def ws_url(running: serve.RunningDashboard, kernel_id: str) -> str:
    """The kernel websocket URL of ``kernel_id``, token included."""
    parts = urlsplit(running.base_url)
    url = f"ws://{parts.netloc}/api/kernels/{kernel_id}/channels?session_id=probe"
    return url + (f"&token={running.token}" if running.token else "")


def wait_for(predicate, timeout: float, interval: float = 0.5) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def raw_request(running: serve.RunningDashboard, path: str, headers: dict[str, str], *,
                timeout: float = 60.0) -> int:
    """Status code of a hand-written GET (so Host and Origin can be anything)."""
    import socket

    parts = urlsplit(running.base_url)
    lines = [f"GET {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()),
             "Connection: close" if "Upgrade" not in headers else "", "", ""]
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall("\r\n".join(x for x in lines[:-2] if x).encode() + b"\r\n\r\n")
        status_line = sock.makefile("rb").readline().decode("latin-1")
    return int(status_line.split()[1])


def upgrade_headers(host: str, origin: str | None) -> dict[str, str]:
    """Headers of a websocket upgrade request from ``origin`` to ``host``."""
    headers = {"Host": host, "Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}
    if origin:
        headers["Origin"] = origin
    return headers


def login_cookie(running: serve.RunningDashboard, kernel_id: str) -> str:
    """The ``Cookie`` header value a browser gets after one request with the token."""
    url = running.base_url + f"api/kernels/{kernel_id}?token={running.token}"
    with urllib.request.urlopen(url, timeout=60) as resp:
        cookies = resp.headers.get_all("Set-Cookie") or []
    assert cookies, "no login cookie"
    return "; ".join(c.split(";", 1)[0] for c in cookies)
