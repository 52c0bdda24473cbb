"""Outside text on every screen: markup shows as typed, terminal control never gets through.

Hostile text comes in through every real source at once: a fake OpenRouter on 127.0.0.1, a
call log written with sqlite3, a state.db built with sqlite3 and config.yaml values.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rich.segment import Segment
from textual.widgets import DataTable, Select, SelectionList

from hermes_dash.calllog.store import CallFilter, CallStore
from hermes_dash.hermes.paths import HermesPaths, Secrets
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.services.enrich import MAX_UPSTREAM_CHARS, Enricher
from hermes_dash.services.settings import DashSettings, UserSettings
from hermes_dash.tui.app import HermesDashApp, make_app
from hermes_dash.tui.screens.calls import CallsScreen
from hermes_dash.tui.screens.costcheck import CostCheckScreen
from hermes_dash.tui.screens.routing import OrderList, RoutingScreen

from .conftest import FAKE_KEY, call
from .fakeserver import CREDITS_BODY, KEY_BODY, FakeOpenRouter, Reply, prefixed
from .hostile import (
    EVIL,
    HOSTILE_CONFIG,
    MARKUP,
    PLAIN_CONFIG,
    RAW_CONTROL,
    SHOWN,
    hostile_call_log,
    hostile_routes,
    hostile_state_db,
    plain_call_log,
    plain_routes,
)
from .tui_helpers import Notices, wait_for

NOW = time.time()


def _app(home: Path, db: Path, url: str) -> HermesDashApp:
    settings = DashSettings(
        paths=HermesPaths(home),
        db_path=db,
        openrouter_url=url,
        secrets=Secrets(FAKE_KEY, None),
        user_settings_path=home / "settings.json",
    )
    api = OpenRouterClient(FAKE_KEY, base_url=url, timeout=5.0)
    return make_app(settings, api, CallStore(db), clock=lambda: NOW, prefs=UserSettings())


def _settled(app: HermesDashApp) -> bool:
    """The first read and poll have landed and the aggregates on screen reflect both."""
    return app.data is not None and app.last_poll is not None and not app.stale_aggregates


def _detail_of_cursor_row(screen: CallsScreen) -> bool:
    """Whether the detail pane shows the whole of the call under the table's cursor."""
    row = screen.query_one(DataTable).cursor_row
    return (
        row < len(screen.rows)
        and screen.detail_of == screen.rows[row].id
        and screen.detail_complete
    )


def _segments(app: HermesDashApp) -> list[list[Segment]]:
    """What the terminal gets for the current screen, toasts included, line by line."""
    return [list(strip) for strip in app.screen._compositor.render_strips()]


def _screen_lines(app: HermesDashApp) -> list[str]:
    return ["".join(s.text for s in line) for line in _segments(app)]


def _assert_safe(app: HermesDashApp, where: str) -> None:
    """No raw control character is drawn; no drawn text links anywhere or runs an action
    that came from the data."""
    for line in _segments(app):
        for seg in line:
            assert not RAW_CONTROL.search(seg.text), (where, seg.text)
            style = seg.style
            if style is None:
                continue
            assert not (style.link and "http://x" in style.link), (where, seg)
            meta = style.meta or {}
            assert "screenshot" not in str(meta.get("@click", "")), (where, seg)


SOURCES = ("openrouter", "call log", "state.db", "config.yaml")


@pytest.fixture(params=[*SOURCES, "all"])
def hostile(request: pytest.FixtureRequest) -> set[str]:
    """Which sources carry hostile text: one at a time (so each screen's defence is tested
    on its own), then all at once."""
    return set(SOURCES) if request.param == "all" else {request.param}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostile: set[str]) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    config = HOSTILE_CONFIG if "config.yaml" in hostile else PLAIN_CONFIG
    (home / "config.yaml").write_text(config, encoding="utf-8")
    hostile_state_db(home / "state.db", NOW, hostile="state.db" in hostile)
    if "call log" in hostile:
        hostile_call_log(home / "calls.db", NOW)
    else:
        plain_call_log(home / "calls.db", NOW)
    # An action run from a click would write its file in the working folder.
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return home


async def test_hostile_text_is_shown_literally_on_every_screen(
    home: Path, hostile: set[str]
) -> None:
    config_before = (home / "config.yaml").read_bytes()
    state_before = (home / "state.db").read_bytes()
    routes = hostile_routes() if "openrouter" in hostile else plain_routes()
    with FakeOpenRouter(routes) as srv:
        app = _app(home, home / "calls.db", srv.url)
        actions: list[object] = []
        app.action_screenshot = lambda *a, **k: actions.append(a)  # type: ignore[method-assign]
        notices = Notices()
        async with app.run_test(size=(220, 60), message_hook=notices) as pilot:
            await wait_for(pilot, lambda: _settled(app), "data")
            if "openrouter" in hostile:
                # The server's message in the spend panel and its toast, word for word.
                assert app.account.status != "ok"
                spend = app.screen.query_one("#spend-stats").render()
                assert SHOWN in str(spend), spend
                await wait_for(pilot, lambda: any(SHOWN in m for m in notices.messages()))
            if "call log" in hostile:
                rate = str(app.screen.query_one("#rate-stats").render())
                assert f"evil/{SHOWN}" in rate
            if hostile & {"openrouter", "call log"}:
                await wait_for(pilot, lambda: any(SHOWN in ln for ln in _screen_lines(app)))
            lines = _screen_lines(app)
            _assert_safe(app, "dashboard")
            # Click on every drawn character of the hostile text: nothing runs.
            for y, line in enumerate(lines):
                x = line.find("[@click")
                if x >= 0:
                    await pilot.click(offset=(x + 2, y))
            assert actions == []

            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, CallsScreen), "calls browser")
            screen = app.screen
            table = screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 3, "calls table")
            for key in ("down", "up", "down"):
                await pilot.press(key)
            await wait_for(pilot, lambda: _detail_of_cursor_row(screen), "the call's detail")
            if "call log" in hostile:
                detail = str(screen.query_one("#detail").render())
                assert detail.count(SHOWN) >= 4 and "#" in detail, detail
                model_filter = screen.query_one("#f-model", Select)
                prompts = [str(prompt) for prompt, _ in model_filter._options]
                assert f"evil/{SHOWN}" in prompts
            _assert_safe(app, "calls browser")
            await pilot.press("escape")

            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, CostCheckScreen), "cost check")
            ct = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: ct.row_count >= 2, "cost check rows")
            if "state.db" in hostile:
                cells = [str(ct.get_row_at(i)[0]) for i in range(ct.row_count)]
                assert f"evil/{SHOWN}" in cells
            _assert_safe(app, "cost check")
            await pilot.press("escape")

            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, RoutingScreen), "routing editor")
            rs = app.screen
            assert isinstance(rs, RoutingScreen)
            # The form is filled in one go once config.yaml and OpenRouter's lists are read.
            await wait_for(pilot, lambda: bool(rs.query_one(OrderList).slugs), "form filled")
            only = rs.query_one("#only", SelectionList)
            only_prompts = [
                str(only.get_option_at_index(i).prompt) for i in range(only.option_count)
            ]
            if "config.yaml" in hostile:
                where = str(rs.query_one("#where").render())
                assert f"model evil/{SHOWN}" in where, where
                assert MARKUP[1] in only_prompts
            if "openrouter" in hostile:
                assert f"evil{SHOWN}" in only_prompts
                preview = rs.query_one("#preview", DataTable)
                await wait_for(pilot, lambda: preview.row_count == 1, "route preview")
                assert str(preview.get_row_at(0)[1]) == f"Evil {SHOWN}"
                assert str(preview.get_row_at(0)[7]) == SHOWN
            _assert_safe(app, "routing editor")
            said = len(notices.seen)
            await pilot.press("ctrl+s")  # invalid slugs: a toast says why, nothing written
            await wait_for(pilot, lambda: len(notices.seen) > said, "the answer to ctrl+s")
            _assert_safe(app, "routing editor, save")
            assert app.is_running
    assert actions == []
    assert list(Path.cwd().iterdir()) == []
    assert (home / "config.yaml").read_bytes() == config_before
    assert (home / "state.db").read_bytes() == state_before


async def test_a_log_named_with_brackets_shows_by_its_name(tmp_path: Path) -> None:
    """``calls[old].db`` and a home folder named with brackets, literally, in the status
    line and the header."""
    home = tmp_path / "hermes[old][b]"
    home.mkdir()
    db = home / "calls[old].db"
    CallStore(db).insert([call(NOW - 10)])
    routes = prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY)})
    with FakeOpenRouter(routes) as srv:
        app = _app(home, db, srv.url)
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: _settled(app), "data")
            status = str(app.screen.query_one("#status").render())
            assert "log calls[old].db" in status, status
            lines = _screen_lines(app)
            assert "hermes[old][b]" in lines[0], lines[0]


async def test_generation_answers_are_stored_sane(tmp_path: Path) -> None:
    """A hostile /generation answer is cleaned before it is stored (and so before it is shown
    on every later start); an impossible cost is not stored as billed."""
    db = tmp_path / "calls.db"
    store = CallStore(db)
    store.insert(
        [
            call(NOW - 50, generation_id="gen-1", cost_usd=None, cost_source=None),
            call(NOW - 40, generation_id="gen-2", cost_usd=None, cost_source=None),
            call(NOW - 30, generation_id="gen-3", cost_usd=None, cost_source=None),
        ]
    )
    answers = {
        "gen-1": {"provider_name": f"Up {EVIL}" + "x" * 10_000, "total_cost": 0.25},
        "gen-2": {"provider_name": "Fine", "total_cost": -5.0},
        "gen-3": {"provider_name": "Fine", "total_cost": 1e300},
    }

    def generation(path: str, _headers: dict[str, str]) -> Reply:
        return Reply(200, {"data": answers[path.rsplit("=", 1)[-1]]})

    routes = prefixed(
        {
            "/generation": generation,
            "/models": Reply(
                200,
                {
                    "data": [
                        {"id": "openai/gpt-4o-mini", "pricing": {"prompt": 1e-6, "completion": 0}}
                    ]
                },
            ),
        }
    )
    with FakeOpenRouter(routes) as srv:
        api = OpenRouterClient(FAKE_KEY, base_url=srv.url, timeout=5.0)
        priced = await Enricher(store, api).run_once()
        await api.aclose()
    assert priced == 3
    rows = {r.generation_id: r for r in store.iter_calls(CallFilter())}
    up = rows["gen-1"].upstream or ""
    assert up.startswith(f"Up {SHOWN}") and len(up) <= MAX_UPSTREAM_CHARS
    assert not RAW_CONTROL.search(up)
    assert rows["gen-1"].cost_usd == 0.25 and rows["gen-1"].cost_source == "openrouter"
    for gen in ("gen-2", "gen-3"):
        # Not billed as the server said: priced from /models instead; the upstream it
        # named is a sane name and is kept.
        assert rows[gen].cost_source == "estimate" and rows[gen].cost_usd == pytest.approx(1e-4)
        assert rows[gen].upstream == "Fine"
    store.close()
