"""What starting the dashboard loads before its first frame, and what it leaves for later."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from hermes_dash.openrouter.client import OpenRouterClient

#: Every command's module (and the demo's wiring) but the dashboard's own.
COMMANDS = "summary generate routing routing_data plugin budget account watch metrics doctor serve"
#: What the first frame does not need: the HTTP stack, the chart library and the YAML
#: parsers load after it (on the first poll, the first chart, the first edit); the other
#: commands' code when one of them is named; OpenRouter's record parsers with the first
#: answer; the email package (an HTTP date in Retry-After) when one comes.
LATER = (
    "httpx",
    "plotext",
    "textual_plotext",
    "yaml",
    "ruamel",
    "sqlite_utils",
    *(f"hermes_dash.cli.{name}" for name in [*COMMANDS.split(), "demo"]),
    "hermes_dash.openrouter.records",
    "hermes_dash.openrouter.management",
    "hermes_dash.services.keybudget",
    "hermes_dash.routing.suggest",
    "email.utils",
    "secrets",
)


def test_starting_the_dashboard_leaves_the_heavy_libraries_for_later() -> None:
    code = (
        "import json, sys\n"
        "import hermes_dash.cli, hermes_dash.tui.launch\n"
        "hermes_dash.cli.build_parser().parse_args([])\n"
        f"print(json.dumps([m for m in {LATER!r} if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []


async def test_the_http_pool_is_built_on_the_first_request() -> None:
    built = []

    def transport() -> httpx.MockTransport:
        built.append(True)
        return httpx.MockTransport(lambda r: httpx.Response(200, json={"data": []}))

    client = OpenRouterClient("sk-or-v1-" + "1" * 64, transport=transport)
    await client.aclose()  # closing an unused client builds nothing
    assert built == []
    assert await client.providers() == []
    assert await client.models() == []
    assert built == [True]  # once, then reused
    await client.aclose()


def test_the_interface_is_imported_with_the_collector_off_and_it_resumes_after() -> None:
    """The one interpreter knob of the start-up is scoped: collection resumes after the
    block, an import that fails included, with what was imported frozen."""
    code = (
        "import gc, json\n"
        "from hermes_dash.services.startup import interface_imports\n"
        "seen = []\n"
        "with interface_imports():\n"
        "    seen.append(gc.isenabled())\n"
        "    import textual.app\n"
        "try:\n"
        "    with interface_imports():\n"
        "        import no_such_module_here\n"
        "except ImportError:\n"
        "    pass\n"
        "print(json.dumps([seen[0], gc.isenabled(), gc.get_freeze_count() > 0]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [False, True, True]


def test_a_command_gets_its_options_when_it_is_named() -> None:
    """Commands load on use: their help and their options are still all there."""
    run = [sys.executable, "-m", "hermes_dash"]
    out = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for name in ("summary", "routing", "budget", "watch", "doctor", "serve"):
        assert name in out.stdout
    out = subprocess.run([*run, "routing", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "suggest" in out.stdout and "restore" in out.stdout
    out = subprocess.run(
        [*run, "budget", "set", "--weekly", "5", "--no-such-flag"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "--no-such-flag" in out.stderr
