"""``hermes-dash serve``: the dashboard in a browser, through textual-serve.

Each browser tab gets its own ``hermes-dash`` process (textual-serve starts one per
websocket) running the same dashboard, read-only unless ``--allow-edit``. The server binds
127.0.0.1 unless told otherwise; any other address needs a token. With a token, every
request (page, static files, websocket) must carry it: as ``?token=`` once, which sets an
HttpOnly cookie and redirects to the bare address, or as that cookie afterwards.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import os
import shlex
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hermes_dash.cli.errors import UsageError

if TYPE_CHECKING:
    from aiohttp import web

DEFAULT_PORT = 8765
COOKIE = "hermes_dash_token"
TOKEN_ENV = "HERMES_DASH_SERVE_TOKEN"
#: A token shorter than this is guessed too easily to guard a dashboard on a network.
MIN_TOKEN_CHARS = 8
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def add_serve_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register ``serve``."""
    p = sub.add_parser("serve", help="the dashboard in a browser (read-only by default)")
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
    p.add_argument("--demo", action="store_true", default=argparse.SUPPRESS, help="serve the demo")
    p.set_defaults(handler=cmd_serve)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


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
    the same data flags, and ``--read-only`` unless edits are allowed. No token in it."""
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
    return shlex.join(argv)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def cmd_serve(args: argparse.Namespace) -> int:
    """``hermes-dash serve``."""
    port = _port(args.port)
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(args.host) and not token:
        raise UsageError(
            f"--host {args.host} is reachable from other machines: pass --token T (or set "
            f"{TOKEN_ENV}) so that only holders of the token see the dashboard"
        )
    if token is not None and (len(token) < MIN_TOKEN_CHARS or not token.isprintable()):
        raise UsageError(f"--token needs at least {MIN_TOKEN_CHARS} printable characters")
    server = make_server(app_command(args), args.host, port, token, edit=args.allow_edit)
    server.serve()
    return 0


def make_server(command: str, host: str, port: int, token: str | None, *, edit: bool) -> Any:
    """A textual-serve Server with the token guard (imported here: only ``serve`` needs
    aiohttp)."""
    from textual_serve.server import Server

    class GuardedServer(Server):
        """textual-serve with a token, an origin check and quiet access logs."""

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard(token, loopback_only=is_loopback(host)))
            return app

        def initialize_logging(self) -> None:
            super().initialize_logging()
            # Access lines would carry ?token= from the first request.
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

        async def on_startup(self, app: web.Application) -> None:
            url = _url(host, port) + (f"/?token={token}" if token else "/")
            mode = "read-write (--allow-edit)" if edit else "read-only"
            print(f"hermes-dash serve: open {url}  ({mode}; ctrl+c stops)", flush=True)

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            # The page tells the browser where the websocket is: the address it used.
            self.public_url = f"{request.scheme}://{request.host}"
            response: web.StreamResponse = await super().handle_index(request)
            return response

    return GuardedServer(command, host=host, port=port, title="hermes-dash")


Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


def guard(token: str | None, *, loopback_only: bool) -> Any:
    """aiohttp middleware: the token on every request; websockets from this page only;
    on a loopback bind, loopback Host names only (a site whose name points at 127.0.0.1
    cannot drive the dashboard)."""
    from aiohttp import web

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if loopback_only and urlsplit(f"//{request.host}").hostname not in LOOPBACK_NAMES:
            return web.Response(status=403, text="hermes-dash: unknown host name\n")
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return web.Response(status=403, text="hermes-dash: cross-site request refused\n")
        if token is not None:
            given = request.query.get("token")
            supplied = given or request.cookies.get(COOKIE) or ""
            if not hmac.compare_digest(supplied.encode(), token.encode()):
                return web.Response(
                    status=401,
                    text="hermes-dash: this dashboard needs its token: open the address "
                    "printed by 'hermes-dash serve'\n",
                )
            if given is not None and request.path == "/":
                # The cookie carries it from now on; the address bar and history lose it.
                found = web.Response(status=302, headers={"Location": "/"})
                found.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
                return found
        return await handler(request)

    return middleware
