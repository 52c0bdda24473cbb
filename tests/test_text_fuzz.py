"""Fuzz: random strings of markup, terminal sequences, control characters, lone surrogates
and printable Unicode through the formatting path of the screens and of the CLI, then through
the running dashboard itself."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import re
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hermes_dash.calllog.records import CallRow
from hermes_dash.calllog.store import CallStore
from hermes_dash.cli import _fail
from hermes_dash.cli.summary import print_summary_table
from hermes_dash.hermes.paths import HermesPaths, Secrets
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.services.export import write_csv, write_json
from hermes_dash.services.settings import DashSettings, UserSettings
from hermes_dash.text import ELLIPSIS, clean, clean_data, csv_cell
from hermes_dash.tui import format as fmt
from hermes_dash.tui.app import make_app
from hermes_dash.tui.screens.calls import CallsScreen, describe
from hermes_dash.tui.widgets.table import cell_text

from .conftest import FAKE_KEY, call
from .fakeserver import CREDITS_BODY, FakeOpenRouter, Reply, prefixed
from .hostile import CONTROL, MARKUP, RAW_CONTROL
from .tui_helpers import wait_for, wait_for_screen

PIECES = (
    *MARKUP,
    *CONTROL,
    "\x1b",
    "\x1b[",
    "\x1b]",
    "\x9d",
    "\x9c",
    "\x1b\\",
    "\x07",
    "$x",
    "$",
    "\\",
    "[b]",
    "[/b]",
    "[Old]",
    "[on red]",
    "[$x]",
    "\ud800",
    "\n",
    "\t",
    "\r",
    "\u2028",
    "=",
    "+",
    "-",
    "@",
)
CHARS = st.sampled_from(list("ab[]/@=$\\ é漢🙂\x00\x1b\x07\x7f\x85\x9b\x9c\t\n"))
hostile_text = st.lists(
    st.one_of(st.text(alphabet=CHARS, max_size=6), st.sampled_from(PIECES)), max_size=14
).map("".join)

TEXT_COLUMNS = (
    "session_id",
    "platform",
    "provider",
    "base_url_host",
    "model",
    "upstream",
    "generation_id",
    "status",
    "error_reason",
    "cost_source",
    "finish_reason",
)


def row_of(text: str) -> CallRow:
    values: dict[str, object] = {c: None for c in CallRow.COLUMNS}
    values.update({c: text for c in TEXT_COLUMNS})
    values.update(id=1, started_at=1_700_000_000.0, http_status=429, cost_usd=-0.5)
    return CallRow(**values)  # type: ignore[arg-type]


@given(hostile_text)
@settings(max_examples=400, deadline=None)
def test_clean_leaves_printable_text_only(text: str) -> None:
    out = clean(text)
    assert not RAW_CONTROL.search(out) and "\n" not in out
    assert clean(out) == out
    if text.isprintable():
        assert out == text  # printable Unicode, markup included, is kept as it is
    short = clean(text, 10)
    assert len(short) <= 10 and (short == out or short.endswith(ELLIPSIS))


@given(hostile_text)
@settings(max_examples=300, deadline=None)
def test_screen_formatting_shows_text_literally(text: str) -> None:
    shown = clean(text, fmt.MAX_SHOWN)
    assert fmt.lit(text).plain == shown
    content = fmt.markup("[b]$v[/b] and $w", v=text, w=text)
    assert content.plain == f"{shown} and {shown}"
    assert all(str(span.style) == "b" for span in content.spans)
    detail = describe(row_of(text))
    assert not RAW_CONTROL.search(detail.plain)
    assert f"  {shown}  status" in detail.plain
    for span in detail.spans:
        assert "link" not in str(span.style) and "@click" not in str(span.style)
    cell = cell_text((text, "red"))
    assert not RAW_CONTROL.search(cell.plain) and cell.style == "red"


@given(hostile_text)
@settings(max_examples=300, deadline=None)
def test_cli_formatting_prints_no_control(text: str) -> None:
    summary = {
        "window": text,
        "generated_at": text,
        "account": {
            "status": "ok",
            "label": text,
            **dict.fromkeys(
                ("usage", "usage_daily", "usage_monthly", "balance", "limit_remaining"), 1.0
            ),
        },
        "calls": {
            "total": 1,
            "attempts": 2,
            "errors": 1,
            "rate_limited": 1,
            "cost_usd": float("nan"),
            "unpriced": 1,
        },
        "burn_rate_usd_per_hour": float("inf"),
        "runway_hours": None,
        "providers": [
            {"provider": text, "endpoint": text, "upstream": text, "calls": 1, "rate_limited": 0}
            | {"latency_p50_s": 0.5, "latency_p95_s": None, "ttft_p50_s": 0.1}
            | {"cost_usd": 0.1, "unpriced": 0}
        ],
        "models": [{"model": text, "calls": 1, "rate_limited": 0, "cost_usd": 0.1, "unpriced": 0}],
        "routing": {text: [text]},
        "rate_limits": {
            "rate_limited": 1,
            "openrouter_429": 0,
            "upstream_429": {text: 1},
            "payment_required_402": {text: 1},
            "last_402": {"at": text, "limit_source": text, "message": text},
        },
        "reconciliation": {
            "billed_usd": 1.0,
            "logged_usd": 0.5,
            "coverage_pct": 50.0,
            "difference_usd": 0.5,
            "difference_is": text,
        },
    }
    cleaned = clean_data(summary)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_summary_table(cleaned)
    assert not RAW_CONTROL.search(out.getvalue())
    assert clean(text, 42) in out.getvalue()
    dumped = json.dumps(cleaned, indent=2, ensure_ascii=False)  # strict JSON: no NaN
    assert not RAW_CONTROL.search(dumped) and json.loads(dumped)["runway_hours"] is None

    buf = io.StringIO()
    write_csv([row_of(text)], buf)
    assert not RAW_CONTROL.search(buf.getvalue())
    (record,) = csv.DictReader(io.StringIO(buf.getvalue()))
    for column in TEXT_COLUMNS:
        assert record[column] == csv_cell(text)
        assert not record[column].lstrip().startswith(("=", "+", "-", "@")) or record[
            column
        ].startswith("'")
    assert record["cost_usd"] == "-0.5"
    buf = io.StringIO()
    write_json([row_of(text)], buf)
    assert json.loads(buf.getvalue())[0]["model"] == clean(text)

    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit):
        _fail(text, 1)
    assert not RAW_CONTROL.search(err.getvalue().rstrip("\n"))


async def _drive(texts: list[str], root: Path, url: str) -> None:
    """The dashboard and the calls browser on a call log made of ``texts``."""
    now = time.time()
    db = root / "calls.db"
    store = CallStore(db)
    store.insert(
        [
            call(now - 10 * (i + 1), **dict.fromkeys(("model", "upstream", "session_id"), t))
            | {"http_status": 429 if i == 0 else 200, "status": "error" if i == 0 else "ok"}
            for i, t in enumerate(texts)
        ]
    )
    settings_ = DashSettings(
        paths=HermesPaths(root),
        db_path=db,
        openrouter_url=url,
        secrets=Secrets(FAKE_KEY, None),
        user_settings_path=root / "s.json",
    )
    api = OpenRouterClient(FAKE_KEY, base_url=url, timeout=5.0)
    app = make_app(settings_, api, store, clock=lambda: now, prefs=UserSettings())
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(
            pilot,
            lambda: app.data is not None and app.last_poll is not None and not app.stale_aggregates,
            "the first read and poll",
        )
        _no_control_on_screen(app)
        await pilot.press("c")
        screen = await wait_for_screen(pilot, CallsScreen)
        await wait_for(pilot, lambda: screen.rows, "the first page")
        await pilot.press("down")
        await wait_for(pilot, lambda: screen.detail_of == screen.rows[1].id, "the second call")
        _no_control_on_screen(app)
        assert app.is_running
    store.close()


def _no_control_on_screen(app: object) -> None:
    for strip in app.screen._compositor.render_strips():  # type: ignore[attr-defined]
        for seg in strip:
            assert not RAW_CONTROL.search(seg.text), seg.text


@pytest.fixture(scope="module")
def server() -> object:
    routes = prefixed(
        {"/key": Reply(200, {"data": {"usage": 1.0}}), "/credits": Reply(200, CREDITS_BODY)}
    )
    with FakeOpenRouter(routes) as srv:
        yield srv


#: SQLite cannot store lone surrogates: the call log never holds them.
storable_text = hostile_text.filter(lambda t: bool(t) and not re.search("[\ud800-\udfff]", t))


@given(texts=st.lists(storable_text, min_size=4, max_size=4))
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_running_dashboard_survives_random_text(
    texts: list[str], server: FakeOpenRouter
) -> None:
    with tempfile.TemporaryDirectory() as root:
        asyncio.run(_drive(texts, Path(root), server.url))


@pytest.mark.parametrize(
    "text",
    ["\x9d" * 200_000, ("\x1b]" + "a" * 5000) * 40, "\x1b[\x9b" * 100_000, "\x1b[" + "1" * 200_000],
    ids=["c1-starts", "unterminated-osc", "csi-starts", "long-csi"],
)
def test_huge_hostile_strings_clean_in_linear_time(text: str) -> None:
    # Linear work takes tens of milliseconds here; a quadratic scan would take minutes.
    started = time.perf_counter()
    out = clean(text)
    assert time.perf_counter() - started < 2.0
    assert not RAW_CONTROL.search(out)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\x1b]52;c;aGVsbG8=\x07b", "ab"),  # OSC 52 (clipboard), BEL-terminated
        ("a\x1b]2;title\x1b\\b", "ab"),  # OSC 2 (window title), ST-terminated
        ("a\x1b[2Jb\x1b[31;1mc", "abc"),  # CSI
        ("a\x9b31mb\x9d0;t\x9cc", "abc"),  # C1 CSI and C1 OSC
        ("a\x1bcb\x1b(Bc", "abc"),  # two-character ESC sequences
        ("a\x1b", "a"),  # a lone ESC
        ("a\x00b\x7fc\x85d", "abc d"),  # NUL and DEL go; NEL is a line break
        ("line 1\nline 2\tend\r", "line 1 line 2 end "),
        ("bad \ud800 half", "bad \ufffd half"),
        ("[/] [link=http://x]a[/link] 漢 🙂 é", "[/] [link=http://x]a[/link] 漢 🙂 é"),
    ],
)
def test_clean_examples(text: str, shown: str) -> None:
    assert clean(text) == shown


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "' =1"),
        ("\r=1", "' =1"),
        ("ok", "ok"),
        (-1.5, -1.5),
        (3, 3),
        (None, ""),
    ],
)
def test_csv_cell_examples(value: object, cell: object) -> None:
    assert csv_cell(value) == cell
