"""A kernel a page may still be connecting to is not culled (issue 21, item 1).

Driven without a server: the culler's decision on a kernel that has sat idle far longer
than the cull timeout, as the preheated kernel has when the first page after a quiet minute
takes it. The real-browser check (an idle server, a throttled browser) is in
``tests/browser/test_kernel_lifecycle.py``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from jupyter_server._tz import utcnow

from dashboard.app import NO_VIEW_TEXT, DashboardApp, PreheatedApp
from dashboard.voila_server import CappedKernelManager


def _run(coro: Any) -> Any:
    """``asyncio.run`` in a thread of its own: in a whole-suite run the browser tests'
    Playwright (its sync API) keeps an event loop running in this thread for the session."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _manager_with_stale_kernel() -> tuple[CappedKernelManager, list[str]]:
    """A manager holding one kernel idle for ten minutes, never connected; its shutdowns."""
    km = CappedKernelManager(cull_idle_timeout=60)
    km._kernels["k"] = SimpleNamespace(
        execution_state="idle", last_activity=utcnow() - timedelta(minutes=10),
        kernel_spec=SimpleNamespace(metadata={}), kernel_name="python3")
    km._kernel_connections["k"] = 0
    shut: list[str] = []

    async def shutdown_kernel(kernel_id: str, *args: object, **kwargs: object) -> None:
        shut.append(kernel_id)

    km.shutdown_kernel = shutdown_kernel  # type: ignore[method-assign]
    return km, shut


def test_kernel_is_kept_while_its_page_is_sent_and_then_connecting() -> None:
    km, shut = _manager_with_stale_kernel()
    km.page_started()  # the page that took the stale kernel is being sent
    _run(km.cull_kernel_if_idle("k"))
    assert shut == []
    km.page_sent()  # sent: its browser now loads the scripts and connects
    _run(km.cull_kernel_if_idle("k"))
    assert shut == []


def test_kernel_without_a_page_is_still_culled() -> None:
    km, shut = _manager_with_stale_kernel()
    _run(km.cull_kernel_if_idle("k"))  # no page sent since the server started
    assert shut == ["k"]
    km, shut = _manager_with_stale_kernel()
    km.connect_grace = 0
    km.page_started()
    km.page_sent()
    _run(km.cull_kernel_if_idle("k"))  # the grace has passed: a curl's kernel goes
    assert shut == ["k"]


def test_connected_kernel_follows_jupyters_rules() -> None:
    km, shut = _manager_with_stale_kernel()
    km.page_started()
    km.notify_connect("k")
    _run(km.cull_kernel_if_idle("k"))
    assert shut == []  # connected: cull_connected is False
    km.notify_disconnect("k")
    _run(km.cull_kernel_if_idle("k"))
    assert shut == ["k"]  # it had its page, which left: no grace


def test_dead_kernel_is_culled_even_during_the_grace() -> None:
    km, shut = _manager_with_stale_kernel()
    km._kernels["k"].execution_state = "dead"
    km.page_started()
    _run(km.cull_kernel_if_idle("k"))
    assert shut == ["k"]


def test_a_page_that_cannot_draw_the_dashboard_shows_a_sentence_not_a_repr(
        demo_path: object) -> None:
    from dashboard.app import build_app

    preheated = PreheatedApp(lambda _p: build_app(demo_path), demo_path)
    for widget in (preheated, preheated.content):
        assert isinstance(widget, PreheatedApp | DashboardApp)
        text = widget._repr_mimebundle_()["text/plain"]
        assert text == NO_VIEW_TEXT
        assert "(" not in text and "Reload" in text
