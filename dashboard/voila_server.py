"""The Voilà server the launcher runs: Voilà with the dashboard's own safety limits.

``python -m dashboard.voila_server NOTEBOOK [voila options]`` is ``python -m voila`` with
these changes (each one closes a hole found by probing voila 0.5.13 / jupyter_server 2.21;
the pinned voila 0.5.8 differs from 0.5.13 in none of the code these touch):

* **Kernel websocket frames are checked before they are read.** jupyter_server's v1
  deserializer and Voilà's binary header reader trust the offset count a frame claims: one
  16-byte frame claiming 2**64-1 offsets blocks the server's only thread while its memory
  grows without bound, and Voilà's reader mistakes every legacy-protocol binary message for a
  v1 one the same way. :class:`GuardedKernelWebsocketHandler` refuses (and closes on) frames
  whose offsets do not fit inside the frame, reads outgoing headers with the same bounded
  parser, and caps a message at :data:`MAX_MESSAGE_BYTES`.
* **No code, traceback or printed output reaches the page.** The websocket keeps
  ``execute_input``, ``error`` and ``stream`` messages from it (:data:`KEPT_FROM_PAGE`): a
  bogus widget message made the kernel send a traceback naming server paths.
* **Only the expected Host names are answered.** Voilà sets ``allow_remote_access=True``, so
  a site whose DNS name is rebound to 127.0.0.1 could load the page, open its kernel's
  websocket and untick tags. Every route is registered for the names in
  :attr:`DashboardVoila.allowed_hosts` only; any other ``Host`` gets a one-line 403.
* **Kernels are counted.** Every page load starts a kernel (~250 MB with the dashboard): at
  :attr:`CappedKernelManager.max_kernels` the page is a short "full, try again" notice (503)
  instead of one more kernel. The page also gets Jupyter's ``_xsrf`` cookie, which Voilà's
  shutdown beacon sends back when the page is closed or reloaded; without it the beacon got
  403 (voila#1458) and the kernel lived until the culler found it.
* **A token is always required**, read from the ``DASHBOARD_VOILA_TOKEN`` environment variable
  (never the command line, which ``ps`` shows to every local user) and removed from the
  environment before kernels start.

Nothing here is imported by the dashboard's other modules: :mod:`dashboard.serve` names this
module on the command line it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import html
import ipaddress
import json
import logging
import os
import re
import struct
import sys
import tempfile
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import tornado.httputil
import tornado.web
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.logout import LogoutHandler
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from traitlets import Int, List, Unicode
from voila.app import Voila
from voila.static_file_handler import TemplateStaticFileHandler
from voila.tornado.handler import TornadoVoilaHandler
from voila.tornado.kernel_websocket_handler import VoilaKernelWebsocketHandler

from dashboard.serve import ENV_TOKEN, MIN_TOKEN_LENGTH, USER_TOKEN_ENV

V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"
"""Subprotocol name of jupyter_server's binary v1 kernel websocket protocol."""
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Largest websocket message the server reads (tornado's default is 10 MiB; a tags CSV
uploaded through the tally grid travels in one message)."""
MAX_BUFFERS = 1024
"""Most binary buffers one kernel message may carry."""
_V1_MIN_OFFSETS = 3  # channel start, channel end (= header start), header end


def v1_offsets(frame: bytes, *, min_offsets: int = _V1_MIN_OFFSETS) -> tuple[int, ...] | None:
    """The offsets of a v1-protocol frame, or None when the frame does not hold what it claims.

    A v1 frame is an 8-byte little-endian offset count ``n``, ``n`` 8-byte offsets, then the
    channel name and the message parts they delimit. The count is checked against the frame's
    length before any offset is read, so a forged count costs nothing.
    """
    if len(frame) < 8:
        return None
    count = int.from_bytes(frame[:8], "little")
    if not min_offsets <= count <= MAX_BUFFERS + 6 or 8 * (count + 1) > len(frame):
        return None
    offsets = struct.unpack_from(f"<{count}Q", frame, 8)
    if offsets[0] < 8 * (count + 1) or offsets[-1] > len(frame):
        return None
    if any(b < a for a, b in zip(offsets, offsets[1:], strict=False)):
        return None
    return offsets


def legacy_offsets(frame: bytes) -> tuple[int, ...] | None:
    """The buffer offsets of a legacy-protocol binary frame, or None when they do not fit.

    A legacy frame is a 4-byte big-endian buffer count, 4-byte big-endian offsets, then the
    JSON message and its binary buffers.
    """
    if len(frame) < 4:
        return None
    count = struct.unpack_from("!i", frame)[0]
    if not 1 <= count <= MAX_BUFFERS + 1 or 4 * (count + 1) > len(frame):
        return None
    offsets = struct.unpack_from(f"!{count}I", frame, 4)
    if offsets[0] < 4 * (count + 1) or offsets[-1] > len(frame):
        return None
    if any(b < a for a, b in zip(offsets, offsets[1:], strict=False)):
        return None
    return offsets


def read_header(message: bytes, *, v1: bool) -> dict[str, Any] | None:
    """The header of a binary kernel message in either protocol, read within its bounds."""
    try:
        if v1:
            offsets = v1_offsets(message)
            if offsets is None:
                return None
            header = json.loads(message[offsets[1]:offsets[2]].decode("utf-8"))
        else:
            offsets = legacy_offsets(message)
            if offsets is None:
                return None
            end = offsets[1] if len(offsets) > 1 else len(message)
            header = json.loads(message[offsets[0]:end].decode("utf-8")).get("header")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return header if isinstance(header, dict) else None


KEPT_FROM_PAGE = frozenset({"execute_input", "error", "stream"})
"""Kernel message types never sent to the page: the code it runs (``execute_input``), and
tracebacks and printed output (``error``; ``stream``, where a failing widget handler or comm
open writes its traceback), which show server paths and library versions. The page draws
widgets only; its template hides output text anyway."""


class GuardedKernelWebsocketHandler(VoilaKernelWebsocketHandler):
    """Voilà's kernel websocket with frames checked before jupyter_server deserializes them."""

    @property
    def _v1(self) -> bool:
        return self.selected_subprotocol == V1_PROTOCOL

    def check_origin(self, origin: str | None = None) -> bool:
        """A websocket opened by a browser (it sends an ``Origin``) must come from a page of
        this server, with the token in its URL too: jupyter_server skips the Origin check for
        a token-authenticated request, so a page on any site holding the token could connect
        (issue 21). A client that sends no Origin (a script) is judged by its token alone."""
        origin = self.get_origin() if origin is None else origin
        if origin is not None and urlsplit(origin.lower()).netloc != self.request.host.lower():
            self.log.warning("Refusing a kernel websocket from the origin %r", origin[:200])
            return False
        return super().check_origin(origin)

    @property
    def max_message_size(self) -> int:
        """Tornado closes the socket (code 1009) on a larger message."""
        return int(self.settings.get("websocket_max_message_size", MAX_MESSAGE_BYTES))

    def on_message(self, ws_message: str | bytes) -> None:
        """Pass a well-formed frame on; close the socket on a malformed one."""
        if isinstance(ws_message, bytes):
            ok = (v1_offsets(ws_message, min_offsets=6) if self._v1
                  else legacy_offsets(ws_message)) is not None
        else:
            ok = not self._v1
        if not ok:
            self.log.warning("Closing a kernel websocket that sent a malformed %s frame "
                             "(%d bytes)", "v1" if self._v1 else "legacy", len(ws_message))
            self.close(1003, "malformed kernel message")
            return
        super().on_message(ws_message)

    def write_message(self, message: bytes | str | dict[str, Any],
                      binary: bool = False) -> Any:
        """Send a kernel message to the page, except those in :data:`KEPT_FROM_PAGE` (the
        code, tracebacks and the kernel's printed output)."""
        if isinstance(message, bytes):
            header = read_header(message, v1=self._v1)
        elif isinstance(message, dict):
            header = message.get("header")
        elif isinstance(message, str) and any(f'"{t}"' in message for t in KEPT_FROM_PAGE):
            try:
                header = json.loads(message).get("header")
            except (ValueError, AttributeError):
                header = None
        else:
            header = None
        if isinstance(header, dict) and header.get("msg_type") in KEPT_FROM_PAGE:
            self.log.debug("Kept a kernel %r message from the page", header.get("msg_type"))
            return None
        # skip Voilà's own reader, which is the unbounded one
        return super(VoilaKernelWebsocketHandler, self).write_message(message, binary)


FULL_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Dashboard full</title></head><body style="font-family:sans-serif;margin:3em;max-width:40em">
<h1>The dashboard is full</h1>
<p>{viewers} people have it open, as many as this server allows. Try again in a minute: a
closed page frees its place at once, a page left without a connection within a minute.</p>
</body></html>
"""


_TOKEN_PARAM = re.compile(r"(?:(?<=[?&])|^)token=[^&#\s]*&?")


def release_memory() -> None:
    """Collect cycles and return freed heap pages to the system (glibc's ``malloc_trim``).

    Each page leaves ~2 MB of freed but held heap in the server (measured over 25 preheated
    pages: 197 -> 245 MB); trimming after each kernel shutdown keeps the server near its
    start size. Elsewhere than glibc this only collects."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class CappedKernelManager(AsyncMappingKernelManager):
    """Jupyter's kernel manager with at most :attr:`max_kernels` kernels (0: no limit), whose
    kernels never see the access token (Voilà puts the page's URL in their environment).

    The preheated kernel Voilà keeps ready counts toward the cap. A page may take it even
    at the cap; the refill that follows then waits for a kernel to be shut down instead of
    failing (a refused refill would stay in Voilà's pool as a failed start that the next
    page gets, and the pool would never refill)."""

    max_kernels = Int(0, config=True, help="Most kernels at once (0: no limit).")
    connect_grace = Int(60, config=True, help=(
        "Seconds after the server last sent a page during which a kernel no page has "
        "connected to yet is not culled (a slow browser may still be opening its websocket)."))
    _refilling = 0  # preheat refills starting a kernel (not waiting for a place)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: ids of kernels being started: a starting kernel is listed part of the time only
        self._reserved: set[str] = set()
        #: kernels a page has connected to at least once
        self._connected_once: set[str] = set()
        #: pages being sent now, and when the last one was sent (monotonic seconds)
        self.pages_in_flight = 0
        self.last_page_sent = -float("inf")

    def page_started(self) -> None:
        """Note that a page is being sent: its kernel is not yet connected to."""
        self.pages_in_flight += 1

    def page_sent(self) -> None:
        """Note that a page has been sent: its browser now loads and connects."""
        self.pages_in_flight = max(0, self.pages_in_flight - 1)
        self.last_page_sent = time.monotonic()

    def notify_connect(self, kernel_id: str) -> None:
        """Count a websocket connection, and remember that the kernel had one."""
        super().notify_connect(kernel_id)
        self._connected_once.add(kernel_id)

    def may_still_be_connecting(self, kernel_id: str) -> bool:
        """Whether a page may still be connecting to ``kernel_id``: no page has connected to
        it yet, and a page is being sent or was sent less than :attr:`connect_grace` ago.

        A preheated kernel's idle clock starts at its preheat run, so a page taking it after
        a quiet minute got a kernel the next cull pass shut down before the page's websocket
        connected (issue 21); a busy server delays fresh kernels' pages the same way."""
        if kernel_id in self._connected_once:
            return False
        if self.pages_in_flight:
            return True
        return time.monotonic() - self.last_page_sent < self.connect_grace

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        """Jupyter's cull, except for a kernel a page may still be connecting to."""
        kernel = self._kernels.get(kernel_id)
        dead = getattr(kernel, "execution_state", None) == "dead"
        if not dead and self.may_still_be_connecting(kernel_id):
            return
        await super().cull_kernel_if_idle(kernel_id)

    def at_capacity(self) -> bool:
        """Whether one more kernel would exceed :attr:`max_kernels`."""
        running = len(set(self.list_kernel_ids()) | self._reserved)
        return bool(self.max_kernels) and running >= self.max_kernels

    def _pool_lists(self) -> dict[str, list]:
        """Voilà's preheated kernel pools (notebook -> start tasks); empty without preheat."""
        pools = getattr(self, "_pools", None)
        return pools if isinstance(pools, dict) else {}

    def prune_pools(self) -> None:
        """Drop preheat starts that failed (refused at the cap) from Voilà's pools."""
        for pool in self._pool_lists().values():
            pool[:] = [task for task in pool
                       if not (task.done() and (task.cancelled() or task.exception()))]

    def has_kernel_for_page(self) -> bool:
        """Whether a preheated kernel is ready for a page, or starting (not waiting for a
        place under the cap)."""
        self.prune_pools()
        ready = any(task.done() for pool in self._pool_lists().values() for task in pool)
        return ready or self._refilling > 0

    def page_is_refused(self) -> bool:
        """Whether a new page would find no kernel: at the cap with none preheated for it."""
        return self.at_capacity() and not self.has_kernel_for_page()

    async def start_kernel(self, *args: Any, **kwargs: Any) -> str:
        """Start a kernel, or raise 503 when the server holds :attr:`max_kernels` already
        (a preheat refill waits for a place instead)."""
        env = kwargs.get("env")
        refill = isinstance(env, dict) and env.get("VOILA_PREHEAT") == "True"
        while refill and kwargs.get("kernel_id") is None and self.at_capacity():
            await asyncio.sleep(0.25)
        if kwargs.get("kernel_id") is None and self.at_capacity():
            raise tornado.web.HTTPError(503, "the dashboard is full (%d kernels)",
                                        self.max_kernels)
        if isinstance(env, dict):  # Voilà copies the page's URL, token included, into it
            kwargs["env"] = {k: _TOKEN_PARAM.sub("", v) if isinstance(v, str) else v
                             for k, v in env.items()}
        if kwargs.get("kernel_id") is not None:  # a restart: no new place taken
            return await super().start_kernel(*args, **kwargs)
        kernel_id = kwargs["kernel_id"] = str(uuid.uuid4())
        self._reserved.add(kernel_id)  # no await since the check: no other start slips in
        self._refilling += refill
        try:
            return await super().start_kernel(*args, **kwargs)
        finally:
            self._reserved.discard(kernel_id)
            self._refilling -= refill

    async def shutdown_kernel(self, kernel_id: str, *args: Any, **kwargs: Any) -> None:
        """Shut a kernel down, refill a preheat pool the cap had left empty, and give the
        memory the page's objects held back to the system, so a long-running team server's
        size follows its open pages."""
        await super().shutdown_kernel(kernel_id, *args, **kwargs)
        self._connected_once.discard(kernel_id)
        self.prune_pools()
        fill = getattr(self, "fill_if_needed", None)
        if fill is not None:
            for notebook, pool in self._pool_lists().items():
                if not pool and not self.at_capacity():
                    fill(delay=0, notebook_name=notebook)
        release_memory()


class DashboardPageHandler(TornadoVoilaHandler):
    """The notebook page: a "full" notice at the kernel cap; the ``_xsrf`` cookie set."""

    @tornado.web.authenticated
    async def get(self, path: str | None = None) -> None:
        """Serve the page, or the "full" notice (503) when no kernel can be started."""
        refused = getattr(self.kernel_manager, "page_is_refused", None)
        if refused is not None and refused():
            self.set_status(503)
            self.set_header("Retry-After", "60")
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(FULL_PAGE.format(viewers=html.escape(str(self.kernel_manager.max_kernels))))
            return
        # Voilà's shutdown beacon posts the _xsrf cookie back; reading the token sets it
        self.xsrf_token  # noqa: B018
        started = getattr(self.kernel_manager, "page_started", None)
        if started is None:
            await super().get(path)
            return
        started()
        try:
            await super().get(path)
        finally:
            self.kernel_manager.page_sent()


DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


def _is_remote_ip(name: str) -> bool:
    try:
        return not ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_pattern(hosts: list[str] | tuple[str, ...]) -> str:
    """A tornado host pattern matching exactly ``hosts`` (case-insensitive) and 127.0.0.0/8."""
    names = "|".join(re.escape(h.lower()) for h in hosts)
    return rf"(?i)^(?:{names}|127\.\d{{1,3}}\.\d{{1,3}}\.\d{{1,3}})$"


_TOKEN_VALUE = re.compile(r"(token=)[^&\s\"'#]+")


def scrub_logs(secret: str) -> None:
    """Make every log record of this process hide ``secret`` and any ``token=`` value.

    Tornado logs the URI of a failed request (``404 GET /api/kernels/...?token=...``), and
    the log file may be readable by others.
    """
    base = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = _TOKEN_VALUE.sub(r"\1[secret]", record.getMessage())
        except Exception:  # noqa: BLE001 - a bad format string is logging's to report
            return record
        if secret:
            message = message.replace(secret, "[secret]")
        record.msg, record.args = message, None
        return record

    logging.setLogRecordFactory(factory)


class ForbiddenHostHandler(tornado.web.RequestHandler):
    """The answer to a request whose ``Host`` the server does not serve: 403, one line."""

    def prepare(self) -> None:
        """Refuse every method the same way."""
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"403: this dashboard does not answer to the host name "
                    f"{self.request.host_name!r} (DNS rebinding protection)\n")


#: URL paths whose responses are public static files, safe to compress
_STATIC_PATH = re.compile(r"/(static|labextensions)/")


class StaticGzip(tornado.web.GZipContentEncoding):
    """gzip for static files only: a page or an API answer holding a secret is never
    compressed, so its length tells an observer nothing (the BREACH attack)."""

    def __init__(self, request: tornado.httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        if not _STATIC_PATH.search(request.path):
            self._gzipping = False


def plain_error(handler: tornado.web.RequestHandler, status_code: int, **kwargs: Any) -> None:
    """An error page in one plain line: jupyter_server's HTML error template needs a
    ``static_path`` setting Voilà does not have, so every such page (a 404 among them) became a
    500 with a traceback in the log (issue 21)."""
    handler.set_header("Content-Type", "text/plain; charset=utf-8")
    handler.finish(f"{status_code}: {handler._reason}\n")


class PlainLogoutHandler(LogoutHandler):
    """``/logout``: forget the login cookie and say so in one line (jupyter_server's page
    failed with a 500, as above)."""

    @allow_unauthenticated
    def get(self) -> None:
        """Clear the login cookie; one line."""
        self.identity_provider.clear_login_cookie(self)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("Logged out: open the dashboard's URL with its token to come back.\n")


class SafeTemplateStaticFileHandler(TemplateStaticFileHandler):
    """Voilà's template static files, with a path outside ``<template>/static/`` a 404
    (Voilà's own split of such a path raised, a 500)."""

    @staticmethod
    def _check(path: str) -> None:
        for parts in (path.split("/", 2), os.path.normpath(path).split(os.path.sep, 2)):
            if len(parts) != 3 or parts[1] != "static" or parts[0] in ("", ".", ".."):
                raise tornado.web.HTTPError(404)

    def parse_url_path(self, path: str) -> str:
        """Voilà's parse, or 404 for a path that is not ``<template>/static/<file>``."""
        self._check(path)
        return super().parse_url_path(path)

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        """Voilà's lookup, or 404 for a path that names no template's static file."""
        cls._check(path)
        return super().get_absolute_path(root, path)


class CaseInsensitiveHosts(tornado.web.Application):
    """Tornado's application with the request's Host lower-cased before anything reads it:
    host names are case-insensitive, and jupyter_server's check refused ``LOCALHOST``."""

    def find_handler(self, request: Any, **kwargs: Any) -> Any:
        """Lower-case the Host, then route as tornado does."""
        request.host = request.host.lower()
        request.host_name = request.host_name.lower()
        return super().find_handler(request, **kwargs)


class DashboardVoila(Voila):
    """Voilà with the guarded websocket handler, a message size cap, Host names limited to
    :attr:`allowed_hosts` and a token from the environment."""

    allowed_hosts = List(Unicode(), list(DEFAULT_HOSTS), config=True,
                         help="Host header names answered; others get 403.")

    def initialize(self, argv: Any = None) -> None:
        """Voilà's set-up, then the token taken out of the environment (required) and out of
        every log line."""
        super().initialize(argv)
        JupyterHandler.write_error = plain_error  # type: ignore[method-assign]
        token = os.environ.pop(ENV_TOKEN, "")
        os.environ.pop(USER_TOKEN_ENV, None)  # kernels copy this process's environment
        if len(token) < MIN_TOKEN_LENGTH:
            sys.exit(f"{ENV_TOKEN} must hold an access token of at least {MIN_TOKEN_LENGTH} "
                     "characters")
        self.token = token
        scrub_logs(token)

    def init_settings(self) -> dict[str, Any]:
        """Voilà's tornado settings plus the websocket message size cap."""
        settings = super().init_settings()
        settings.setdefault("websocket_max_message_size", MAX_MESSAGE_BYTES)
        # gzip the static files (plotly.js 4.8 MB -> 1.5 MB, Voila's bundles, CSS; they keep
        # their cache headers), not the pages and API answers that carry tokens (BREACH);
        # Application(**settings) takes this as its output transforms
        settings.setdefault("transforms", [StaticGzip])
        # jupyter_server's own Host check too, where it can express the allowed names: it
        # takes any loopback IP and names in local_hostnames, but no other IP address
        names = [h.strip("[]") for h in self.allowed_hosts]
        settings["local_hostnames"] = names
        settings["allow_remote_access"] = any(_is_remote_ip(n) for n in names)
        return settings

    def init_handlers(self) -> list:
        """Voilà's handlers with the kernel websocket replaced by the guarded one."""
        replaced = {VoilaKernelWebsocketHandler: GuardedKernelWebsocketHandler,
                    TornadoVoilaHandler: DashboardPageHandler,
                    LogoutHandler: PlainLogoutHandler,
                    TemplateStaticFileHandler: SafeTemplateStaticFileHandler}
        handlers = []
        for spec in super().init_handlers():
            if isinstance(spec, tuple) and len(spec) >= 2 and spec[1] in replaced:
                spec = (spec[0], replaced[spec[1]], *spec[2:])
            handlers.append(spec)
        return handlers

    def start(self) -> None:
        """Voilà's ``start`` with every route bound to :attr:`allowed_hosts` (and a 403 for
        other names) instead of to any host."""
        self.connection_dir = tempfile.mkdtemp(prefix="voila_", dir=self.connection_dir_root)
        self.log.info("Storing connection files in %s.", self.connection_dir)
        settings = self.init_settings()
        self.app = CaseInsensitiveHosts(**settings)
        self.app.settings.update(self.tornado_settings)
        self.app.add_handlers(host_pattern(self.allowed_hosts), self.init_handlers())
        self.app.add_handlers(r".*$", [(r".*", ForbiddenHostHandler)])
        self.log.info("Answering the host names %s", ", ".join(self.allowed_hosts))
        self.listen()


main = DashboardVoila.launch_instance
"""Entry point: ``python -m dashboard.voila_server`` takes ``python -m voila``'s arguments."""

if __name__ == "__main__":
    main()
