"""``hermes-dash serve``: the dashboard in a browser, through textual-serve.

Each browser tab gets its own ``hermes-dash`` process (textual-serve starts one per
websocket) running the same dashboard, read-only unless ``--allow-edit``. The server binds
127.0.0.1 unless told otherwise; any other address needs a token. With a token, every
request (page, static files, websocket) must carry it: as ``?token=`` once, which sets an
HttpOnly cookie and redirects to the bare address, or as that cookie afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import ipaddress
import logging
import os
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from hermes_dash.cli.common import refuse_if_read_only
from hermes_dash.cli.errors import RuntimeFailure, UsageError

if TYPE_CHECKING:
    from aiohttp import web

DEFAULT_PORT = 8765
COOKIE = "hermes_dash_token"
TOKEN_ENV = "HERMES_DASH_SERVE_TOKEN"
#: A token shorter than this is guessed too easily to guard a dashboard on a network.
MIN_TOKEN_CHARS = 8
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: Each browser tab runs a dashboard process of its own (about 100 MB): more tabs than this
#: at once are refused rather than letting one client exhaust the machine.
DEFAULT_MAX_TABS = 8


def add_serve_parser(
    p: argparse.ArgumentParser, add_common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The options of ``serve``."""
    add_common(p)
    p.add_argument("--host", default="127.0.0.1", metavar="ADDR", help="default 127.0.0.1")
    p.add_argument("--port", default=str(DEFAULT_PORT), metavar="N", help=f"default {DEFAULT_PORT}")
    p.add_argument(
        "--token",
        metavar="T",
        help=f"required off loopback (or set {TOKEN_ENV}, which keeps it out of ps)",
    )
    p.add_argument(
        "--allow-edit",
        action="store_true",
        help="let the browser save config.yaml, set key limits and budgets",
    )
    p.add_argument(
        "--max-tabs",
        default=str(DEFAULT_MAX_TABS),
        metavar="N",
        help=f"browser tabs open at once, each a dashboard process (default {DEFAULT_MAX_TABS})",
    )
    p.add_argument("--demo", action="store_true", default=argparse.SUPPRESS, help="serve the demo")
    p.set_defaults(handler=cmd_serve)


def bare_host(host: str) -> str:
    """``[::1]`` as the socket layer takes it: ``::1``."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    host = bare_host(host)
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def _max_tabs(text: str) -> int:
    try:
        tabs = int(text)
    except ValueError:
        tabs = 0
    if not 1 <= tabs <= 1000:
        raise UsageError(f"--max-tabs takes a number from 1 to 1000, not {text!r}")
    return tabs


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise UsageError(f"--port takes a number from 1 to 65535, not {text!r}") from None
    if not 1 <= port <= 65535:
        raise UsageError(f"--port takes a number from 1 to 65535, not {port}")
    return port


def app_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs per browser tab: this Python, this package,
    the same data flags, and ``--read-only`` unless edits are allowed. No token in it.
    ``exec``: the tab's process is the dashboard itself, not a shell whose end would leave
    the dashboard running."""
    argv = [sys.executable, "-m", "hermes_dash"]
    for flag in ("hermes_home", "profile", "db", "openrouter_url"):
        value = getattr(args, flag, None)
        if value:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    if getattr(args, "refresh", None) is not None:
        argv += ["--refresh", str(args.refresh)]
    if getattr(args, "demo", False):
        argv.append("--demo")
    if not args.allow_edit:
        argv.append("--read-only")
    return "exec " + shlex.join(argv)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def cookie_value(token: str) -> str:
    """What the cookie holds: a digest of the token, so that any printable token makes a
    valid cookie value and the browser never stores the token itself."""
    return hashlib.sha256(b"hermes-dash serve\0" + token.encode()).hexdigest()


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed: a taken port is one line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _name, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise RuntimeFailure(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}"
        ) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise RuntimeFailure(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}"
        ) from None
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    """``hermes-dash serve``."""
    if args.allow_edit:
        refuse_if_read_only(args, "--allow-edit")
    port = _port(args.port)
    tabs = _max_tabs(args.max_tabs)
    host = bare_host(args.host)
    # Out of the environment each tab's process inherits: no tab needs it.
    from_env = os.environ.pop(TOKEN_ENV, None)
    token = args.token or from_env or None
    if not is_loopback(host) and not token:
        raise UsageError(
            f"--host {args.host} is reachable from other machines: pass --token T (or set "
            f"{TOKEN_ENV}) so that only holders of the token see the dashboard"
        )
    # Spaces around a token are a paste gone wrong, and a token of spaces is no secret.
    if token is not None and (len(token.strip()) < MIN_TOKEN_CHARS or not token.isprintable()):
        raise UsageError(
            f"--token needs at least {MIN_TOKEN_CHARS} printable characters besides spaces"
        )
    sock = bind(host, port)
    server = make_server(app_command(args), host, port, token, edit=args.allow_edit, tabs=tabs)
    server.serve_on(sock)
    return 0


def make_server(
    command: str,
    host: str,
    port: int,
    token: str | None,
    *,
    edit: bool,
    tabs: int = DEFAULT_MAX_TABS,
) -> Any:
    """A textual-serve Server with the token guard (imported here: only ``serve`` needs
    aiohttp)."""
    from aiohttp import web
    from textual_serve.server import Server

    from hermes_dash.cli.serve_tabs import Tabs

    class GuardedServer(Server):
        """textual-serve with a token, an origin check, a bound on open tabs and quiet
        logs."""

        tabs: Tabs

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard(token, loopback_only=is_loopback(host)))
            return app

        def initialize_logging(self) -> None:
            # Plain lines: textual-serve's handler prints each frame's local variables,
            # the token among them.
            logging.basicConfig(level=logging.INFO, format="hermes-dash serve: %(message)s")
            # Access lines would carry ?token= from the first request.
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
            # textual-serve's own failures (a tab that does not start) as one line each.
            logging.getLogger("textual-serve").addFilter(_one_line)

        def serve_on(self, sock: socket.socket) -> None:
            """Serve on a socket bound already (textual-serve's ``serve`` binds only after
            printing, so a taken port would follow an address that does not work)."""
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self.request_exit)
            web.run_app(self._make_app(), sock=sock, handle_signals=False, loop=loop, print=None)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            return await self.tabs.serve(request)

        async def on_shutdown(self, app: web.Application) -> None:
            await self.tabs.close_all()

        async def on_startup(self, app: web.Application) -> None:
            url = _url(host, port) + (f"/?token={quote(token, safe='')}" if token else "/")
            mode = "read-write (--allow-edit)" if edit else "read-only"
            print(f"hermes-dash serve: open {url}  ({mode}; ctrl+c stops)", flush=True)

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            # The page tells the browser where the websocket is: the address it used.
            self.public_url = f"{request.scheme}://{request.host}"
            response: web.StreamResponse = await super().handle_index(request)
            return response

    server = GuardedServer(command, host=host, port=port, title="hermes-dash")
    server.tabs = Tabs(command, tabs, server.download_manager)
    return server


def _one_line(record: logging.LogRecord) -> bool:
    record.exc_info = None
    record.exc_text = None
    return True


def _hostname(netloc: str) -> str | None:
    """The host name in ``netloc``; None when it cannot be read (``[::1``)."""
    try:
        return urlsplit(f"//{netloc}").hostname
    except ValueError:
        return None


def _same_origin(origin: str, host: str) -> bool:
    try:
        return urlsplit(origin).netloc == host
    except ValueError:  # an Origin no browser sends
        return False


Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


def guard(token: str | None, *, loopback_only: bool) -> Any:
    """aiohttp middleware: the token on every request; websockets from this page only;
    on a loopback bind, loopback Host names only (a site whose name points at 127.0.0.1
    cannot drive the dashboard)."""
    from aiohttp import web

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if loopback_only and _hostname(request.host) not in LOOPBACK_NAMES:
            return web.Response(status=403, text="hermes-dash: unknown host name\n")
        origin = request.headers.get("Origin")
        if origin is not None and not _same_origin(origin, request.host):
            return web.Response(status=403, text="hermes-dash: cross-site request refused\n")
        if token is not None:
            given = request.query.get("token")
            if given:
                granted = hmac.compare_digest(given.encode(), token.encode())
            else:
                cookie = request.cookies.get(COOKIE, "")
                granted = hmac.compare_digest(cookie.encode(), cookie_value(token).encode())
            if not granted:
                return web.Response(
                    status=401,
                    text="hermes-dash: this dashboard needs its token: open the address "
                    "printed by 'hermes-dash serve'\n",
                )
            if given is not None and request.path == "/":
                # The cookie carries it from now on; the address bar and history lose it.
                found = web.Response(status=302, headers={"Location": "/"})
                found.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="Strict")
                return found
        response = await handler(request)
        if not response.prepared:  # a websocket has sent its headers already
            # No other site may frame the dashboard and steer clicks or keys into it.
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        return response

    return middleware
