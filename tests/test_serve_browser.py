"""``hermes-dash serve`` in a real headless Chromium (Debian's, driven by Playwright): the
page shows the dashboard's numbers for a demo log, a request without the token is refused
on a non-local bind, and an edit is refused in read-only mode."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hermes_dash.cli.serve import TOKEN_ENV
from hermes_dash.tui import format as fmt

from .browser_terminal import CHROMIUM, CHROMIUM_ARGS, TEE_SCRIPT, PageTerminal, chromium_missing
from .conftest import FAKE_KEY
from .fake_account import MGMT_KEY

TOKEN = "t0ken-for-the-browser-test-4f9c"
CONFIG = """\
# the user's comment stays
model:
  default: openai/gpt-4o-mini
provider_routing:
  sort: price   # cheapest first
  ignore: [deepinfra]
"""


def non_loopback_address() -> str:
    """An address of this machine other machines could reach, else 0.0.0.0 (all)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        address = probe.getsockname()[0]
    except OSError:
        address = "0.0.0.0"
    finally:
        probe.close()
    return "0.0.0.0" if address.startswith("127.") else address


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running ``hermes-dash serve`` and what it was given."""

    process: subprocess.Popen[str]
    url: str
    config: Path
    lines: list[str]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HERMES_HOME"] = str(tmp_path / "home")
    env["HERMES_DASH_SETTINGS"] = str(tmp_path / "settings.json")
    for name in ("OPENROUTER_API_KEY", "OPENROUTER_MANAGEMENT_KEY", TOKEN_ENV):
        env.pop(name, None)
    return env


def _closed_port_url() -> str:
    """An OpenRouter URL nothing answers at (the served dashboard then shows its key,
    masked, beside an offline account)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/api/v1"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    home = tmp_path / "home"
    home.mkdir()
    config = home / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    db = tmp_path / "calls.db"
    env = _env(tmp_path)
    run = [sys.executable, "-m", "hermes_dash"]
    subprocess.run(
        [*run, "demo", "--generate", "1500", "--db", str(db), "--days", "0.5"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    host = non_loopback_address()
    port = free_port(host)
    served_env = dict(env, OPENROUTER_API_KEY=FAKE_KEY, OPENROUTER_MANAGEMENT_KEY=MGMT_KEY)
    served_env["HERMES_DASH_OPENROUTER_URL"] = _closed_port_url()
    proc = subprocess.Popen(
        [*run, "serve", "--host", host, "--port", str(port), "--token", TOKEN, "--db", str(db)],
        env=served_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            ready.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        while "hermes-dash serve: open" not in ready.get(timeout=60):
            pass
        reach = "127.0.0.1" if host == "0.0.0.0" else host
        yield Served(proc, f"http://{reach}:{port}", config, lines)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_without_the_token_every_request_is_refused(served: Served) -> None:
    with httpx.Client(timeout=30) as http:
        for path in ("/", "/ws", "/static/js/textual.js", "/?token=wrong-token-123"):
            r = http.get(served.url + path)
            assert r.status_code == 401, path
            assert "needs its token" in r.text
        ws = http.get(
            served.url + "/ws",
            headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                     "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
        )  # fmt: skip
        assert ws.status_code == 401
        first = http.get(f"{served.url}/?token={TOKEN}")
        assert first.status_code == 302 and first.headers["location"] == "/"
        assert "httponly" in first.headers["set-cookie"].lower()
        page = http.get(served.url + "/", headers={"Cookie": f"hermes_dash_token={TOKEN}"})
        assert page.status_code == 200 and "textual-terminal" in page.text
    # The token is printed once, in the start line, and never again (no access log).
    assert sum(TOKEN in line for line in served.lines) == 1


def test_page_shows_the_dashboard_and_refuses_an_edit(served: Served, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    summary = json.loads(
        subprocess.run(
            [sys.executable, "-m", "hermes_dash", "summary", "--json", "--offline",
             "--db", str(tmp_path / "calls.db")],
            env=_env(tmp_path), capture_output=True, text=True, check=True, timeout=120,
        ).stdout
    )  # fmt: skip
    calls = summary["calls"]
    before = served.config.read_bytes()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            stranger = browser.new_page()
            refused = stranger.goto(served.url + "/", wait_until="domcontentloaded")
            assert refused is not None and refused.status == 401
            assert "needs its token" in stranger.content()

            context = browser.new_context(viewport={"width": 1700, "height": 1000})
            page = context.new_page()
            page.add_init_script(TEE_SCRIPT)
            page.goto(f"{served.url}/?token={TOKEN}", wait_until="domcontentloaded")
            assert "token" not in page.url  # the cookie carries it; the address bar does not
            term = PageTerminal(page)
            # The panels' tables and charts are drawn a frame after the spend figures.
            text = term.wait_for(
                lambda t: (
                    f"over {calls['total']:,} calls" in t
                    and all(title in t for title in ("Spend", "Providers", "Live calls"))
                ),
                "the dashboard's numbers and panels",
            )
            if calls["cost_usd"] is not None:
                assert f"Logged 24h: {fmt.money(calls['cost_usd'])}" in text
            top = summary["providers"][0]
            # The page draws what the stream has brought so far: the providers table may
            # come a frame after the spend panel.
            term.wait_for(
                lambda t: any(
                    top["provider"] in row and f"{top['calls']:,}" in row for row in t.splitlines()
                ),
                "the busiest provider's row",
            )

            page.locator(".textual-terminal").click()
            page.keyboard.press("e")
            term.wait_for(lambda t: "Save" in t and "provider_routing" in t, "the routing editor")
            page.keyboard.press("Control+s")
            shown = term.wait_for(lambda t: "refused" in t, "the refusal")
            assert "read-only" in shown
            # The keys stay on the server: the page only ever got the masked form.
            assert FAKE_KEY.encode() not in term.data and MGMT_KEY.encode() not in term.data
            assert FAKE_KEY[-4:] in text and FAKE_KEY[9:-4] not in text
        finally:
            browser.close()
    assert served.config.read_bytes() == before
