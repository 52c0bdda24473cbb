"""Hostile text and the outside sources that carry it: call-log rows written with sqlite3,
a Hermes state.db built with sqlite3, config.yaml values, OpenRouter answers."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from hermes_dash.calllog.store import CallStore

from .conftest import call
from .fakeserver import CREDITS_BODY, KEY_BODY, Reply, prefixed

#: Markup that crashed a screen (``[/]``), made a live link, or ran an action on click.
MARKUP = ("[/]", "[link=http://x]a[/link]", "[@click=app.screenshot('x')]")
#: Terminal control: OSC 52 (clipboard), OSC 2 (window title), CSI (clear screen), C1 CSI, NUL,
#: DEL, and bidi overrides/isolates that reorder what a terminal draws after them.
CONTROL = (
    "\x1b]52;c;aGVsbG8=\x07",
    "\x1b]2;title\x07",
    "\x1b[2J",
    "\x9b31m",
    "\x00",
    "\x7f",
    "\u202e",
    "\u2066",
    "\u200f",
)
#: Every hostile piece in one string; shown, it must read exactly as the markup pieces.
EVIL = "".join(MARKUP) + "".join(CONTROL)
SHOWN = "".join(MARKUP)
#: Far longer than anything a screen or a table line should draw.
HUGE = "W" * 200_000

#: A raw control character in output: C0 except newline, DEL, C1, lone surrogates, bidi
#: marks, embeddings, overrides and isolates.
RAW_CONTROL = re.compile(
    r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def hostile_call_log(path: Path, now: float) -> None:
    """A call log whose every text column carries hostile text (inserted with sqlite3
    directly, as any other writer could), plus one row with huge names."""
    CallStore(path).close()  # the schema, rollup triggers included
    conn = sqlite3.connect(path)
    cols = (
        "started_at, ended_at, session_id, task_id, platform, provider, base_url_host, model, "
        "upstream, generation_id, status, http_status, error_reason, retry_count, latency_s, "
        "input_tokens, output_tokens, cost_usd, cost_source, finish_reason"
    )
    e, h = EVIL, HUGE
    tail = (0.5, 100, 10, 0.01, "openrouter")  # latency, tokens in/out, cost, source
    rows = [
        # A 429: the rate-limit panel names its model and upstream.
        (
            now - 120,
            now - 119,
            e,
            e,
            e,
            "openrouter",
            e,
            f"evil/{e}",
            e,
            e,
            "error",
            429,
            e,
            1,
            *tail,
            e,
        ),
        (now - 60, now - 59, e, e, e, e, e, f"evil/{e}", e, e, "ok", 200, None, 0, *tail, e),
        (now - 30, now - 29, h, h, h, "openrouter", h, h, h, h, "ok", 200, None, 0, *tail, h),
    ]
    conn.executemany(f"INSERT INTO calls ({cols}) VALUES ({', '.join('?' * 20)})", rows)
    conn.commit()
    conn.close()


def hostile_state_db(path: Path, now: float, *, hostile: bool = True) -> None:
    """A Hermes state.db (sessions table) whose model names are hostile (or plain)."""
    evil, huge = (EVIL, HUGE) if hostile else ("openai/gpt-4o-mini", "z-ai/glm-4.6")
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, model TEXT, billing_provider TEXT, "
        "input_tokens INTEGER, output_tokens INTEGER, estimated_cost_usd REAL, "
        "actual_cost_usd REAL, api_call_count INTEGER, started_at REAL, ended_at REAL)"
    )
    conn.executemany(
        "INSERT INTO sessions VALUES (?, ?, ?, 10, 5, 0.5, 0.4, 3, ?, ?)",
        [("s1", f"evil/{evil}", evil, now - 600, now - 500), ("s2", huge, huge, now - 60, None)],
    )
    conn.commit()
    conn.close()


#: config.yaml with hostile values (YAML double-quoted escapes give the raw characters).
HOSTILE_CONFIG = r"""# my settings
model:
  default: "evil/[/][link=http://x]a[/link][@click=app.screenshot('x')]\e]2;title\a\x9b31m\0"
provider_routing:
  sort: "price"
  only: ["[link=http://x]a[/link]", "deepinfra"]
  ignore: ["[@click=app.screenshot('x')]\e]52;c;aGVsbG8=\a"]
  order: ["[/]\x9b31m", "deepinfra"]
  data_collection: "deny"
"""


#: The same keys with plain values.
PLAIN_CONFIG = """model:
  default: "openai/gpt-4o-mini"
provider_routing:
  sort: "price"
  order: ["deepinfra"]
  data_collection: "deny"
"""


def plain_call_log(path: Path, now: float) -> None:
    """Three ordinary calls, one of them a 429."""
    CallStore(path).insert(
        [
            call(now - 120, http_status=429, status="error", cost_usd=0.0),
            call(now - 60),
            call(now - 30),
        ]
    )


def plain_routes() -> dict[str, object]:
    """OpenRouter answering normally."""
    endpoint = {
        "provider_name": "DeepInfra",
        "tag": "deepinfra",
        "quantization": "fp8",
        "pricing": {"prompt": "0.000001", "completion": "0.000002"},
    }
    return prefixed(
        {
            "/key": Reply(200, KEY_BODY),
            "/credits": Reply(200, CREDITS_BODY),
            "/providers": Reply(200, {"data": [{"name": "DeepInfra", "slug": "deepinfra"}]}),
            "*": Reply(200, {"data": {"endpoints": [endpoint]}}),
        }
    )


def hostile_routes(message_status: int = 429) -> dict[str, object]:
    """OpenRouter answers full of hostile text: an error message on /key, names and labels
    in /providers, the model's endpoints and /generation."""
    evil_error = {"error": {"code": message_status, "message": f"slow down {EVIL} now"}}
    endpoint = {
        "provider_name": f"Evil {EVIL}",
        "tag": f"evil/{EVIL}",
        "quantization": EVIL,
        "pricing": {"prompt": "0.000001", "completion": "0.000002"},
        "uptime_last_30m": 99.0,
        "latency_last_30m": {"p50": 300},
        "throughput_last_30m": {"p50": 50},
        "status": 0,
    }
    return prefixed(
        {
            "/key": Reply(message_status, evil_error),
            "/credits": Reply(200, CREDITS_BODY),
            "/providers": Reply(
                200,
                {
                    "data": [
                        {"name": f"Evil {EVIL}", "slug": f"evil{EVIL}"},
                        {"name": "DeepInfra", "slug": "deepinfra"},
                        {"name": HUGE, "slug": HUGE},
                    ]
                },
            ),
            "/models": Reply(200, {"data": [{"id": f"evil/{EVIL}", "name": EVIL}]}),
            "/generation": Reply(
                200, {"data": {"provider_name": f"Up {EVIL}", "total_cost": 0.5, "model": EVIL}}
            ),
            # Anything else: the model's endpoints (the path holds the hostile model name).
            "*": Reply(200, {"data": {"endpoints": [endpoint]}}),
        }
    )


def key_body_with_label(label: str) -> dict[str, object]:
    """A good /key answer whose label is hostile."""
    data = dict(KEY_BODY["data"])  # type: ignore[arg-type]
    data["label"] = label
    return {"data": data}
