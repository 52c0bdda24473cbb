"""The routing editor shows exactly what config.yaml holds and never changes a key the
user did not touch: every combination of set and unset keys, through the real screen."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hermes_dash.routing.rules import DATA_COLLECTION, SORTS, RoutingRules
from hermes_dash.tui.screens.dialogs import ConfirmDiff
from hermes_dash.tui.screens.routing import RoutingScreen
from hermes_dash.tui.screens.routing_form import FIELDS, FormValues, draft_rules

from .tui_helpers import Notices, frozen_app, frozen_session, settle, wait_for, wait_for_screen

#: A value for each key when it is set, in the forms a hand-written config uses.
SET_VALUES: dict[str, list[str]] = {
    "sort": ["sort: price", "sort: fastest"],  # a valid and a misspelt value
    "only": ["only: [together, deepinfra]", "only: deepinfra"],  # unsorted; a plain string
    "ignore": ["ignore:\n    - fireworks  # slow"],
    "order": ["order: [novita, deepinfra]"],
    "require_parameters": ["require_parameters: true", "require_parameters: false"],
    "data_collection": ["data_collection: deny"],
    "models": ["models: {x/y: {sort: latency}}  # a key we do not know"],
}


def config_text(lines: list[str] | None) -> str:
    """A config whose provider_routing holds these lines (None: no block at all)."""
    text = "model: {default: deepseek/deepseek-chat-v3.1}\n"
    if lines is None:
        return text
    if not lines:
        return text + "provider_routing: {}\n"
    return text + "provider_routing:\n" + "".join(f"  {line}\n" for line in lines)


def combinations() -> list[list[str] | None]:
    """Every key set or unset (first value), plus the odd forms of each key alone."""
    out: list[list[str] | None] = [None]
    keys = list(SET_VALUES)
    for mask in itertools.product((False, True), repeat=len(keys)):
        out.append([SET_VALUES[k][0] for k, on in zip(keys, mask, strict=True) if on])
    for k in keys:
        for odd in SET_VALUES[k][1:]:
            out.append([odd])
            out.append([SET_VALUES["only"][0], odd, SET_VALUES["data_collection"][0]])
    out.append(["only: [deepinfra, deepinfra]"])  # listed twice: shown, kept, flagged
    return out


async def load(pilot: Any, screen: RoutingScreen) -> None:
    screen.doc = None
    screen._filled = None
    screen.fill_error = None
    screen.load()
    await wait_for(
        pilot,
        lambda: screen.doc is not None and (screen._filled or screen.fill_error),
        "the editor to load",
    )


async def open_editor(pilot: Any, app: Any) -> RoutingScreen:
    await settle(pilot, app)
    await pilot.press("e")
    screen = await wait_for_screen(pilot, RoutingScreen)
    await load(pilot, screen)
    return screen


def rules_in(path: Path) -> RoutingRules:
    return RoutingRules.from_block(yaml.safe_load(path.read_text()).get("provider_routing") or {})


#: The combinations are tried in this many parts, so parallel workers share them.
PARTS = 4


def test_the_parts_hold_every_combination() -> None:
    cases = combinations()
    assert len(cases) > 64
    parts = [cases[part::PARTS] for part in range(PARTS)]
    assert sorted(repr(c) for part in parts for c in part) == sorted(map(repr, cases))


@pytest.mark.parametrize("part", range(PARTS))
async def test_every_combination_is_shown_as_written_and_saving_unedited_writes_nothing(
    tmp_path: Path, part: int
) -> None:
    session = frozen_session(tmp_path, calls=200)
    config = session.settings.paths.config
    app = frozen_app(session)
    cases = combinations()[part::PARTS]
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        screen = await open_editor(pilot, app)
        for lines in cases:
            config.write_text(config_text(lines))
            before = config.read_bytes(), os.stat(config).st_mtime_ns
            await load(pilot, screen)
            assert screen.fill_error is None, (lines, screen.fill_error)
            rules = rules_in(config)
            shown = screen.form_values()
            assert shown == FormValues.showing(rules), lines
            # in particular the lists and the switch hold exactly the file's values
            assert shown.only == set(rules.only) and shown.ignore == set(rules.ignore)
            assert shown.order == rules.order
            assert shown.require_parameters is (rules.require_parameters is True)
            draft, changed = screen.draft_and_changes()
            assert changed == () and draft == rules, lines
            app.clear_notifications()
            said = len(notices.seen)
            await pilot.press("ctrl+s")  # answered with "no change" or why it is not saved
            await wait_for(pilot, lambda n=said: len(notices.seen) > n, "the answer to ctrl+s")
            assert not isinstance(app.screen, ConfirmDiff), lines
            assert (config.read_bytes(), os.stat(config).st_mtime_ns) == before, lines


async def test_changing_one_field_writes_only_that_key(tmp_path: Path) -> None:
    session = frozen_session(tmp_path, calls=200)
    config = session.settings.paths.config
    text = (
        "model: {default: deepseek/deepseek-chat-v3.1}\n"
        "provider_routing:\n"
        "  only: [together, deepinfra]\n"
        "  order: deepinfra\n"  # a plain string where a list belongs: left alone
        "  require_parameters: true\n"
        "  models: {x/y: {sort: latency}}\n"
    )
    config.write_text(text)
    app = frozen_app(session)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_editor(pilot, app)
        assert screen.form_values().require_parameters is True
        screen.query_one("#sort").focus()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("down", "enter")  # past the blank prompt: price
        await pilot.pause()
        draft, changed = screen.draft_and_changes()
        assert changed == ("sort",) and draft.sort == "price"
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ConfirmDiff)
        await pilot.press("y")
        await wait_for(pilot, lambda: config.read_text() != text, "the write")
    assert config.read_text() == text.replace(
        "  models: {x/y: {sort: latency}}\n", "  models: {x/y: {sort: latency}}\n  sort: price\n"
    )


async def test_a_form_that_cannot_be_filled_says_so_and_blocks_saving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = frozen_session(tmp_path, calls=200)
    config = session.settings.paths.config
    before = config.read_bytes()

    def half_filled(self: RoutingScreen, rules: RoutingRules) -> None:
        raise RuntimeError("a widget refused its value")

    monkeypatch.setattr(RoutingScreen, "_fill_widgets", half_filled)
    app = frozen_app(session)
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        screen = await open_editor(pilot, app)
        assert screen.fill_error is not None
        assert "a widget refused its value" in str(screen.query_one("#where").render())
        await wait_for(pilot, lambda: any("cannot edit" in m for m in notices.messages()))
        # an edit, then save: refused, nothing written
        screen.query_one("#sort").focus()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("down", "enter")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDiff)
        assert config.read_bytes() == before


async def test_a_fifo_config_neither_hangs_the_editor_nor_quitting(tmp_path: Path) -> None:
    session = frozen_session(tmp_path, calls=200)
    config = session.settings.paths.config
    config.unlink()
    os.mkfifo(config)
    app = frozen_app(session)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        # the recorder's status reads config.yaml in a thread
        await wait_for(pilot, lambda: app.plugin is not None, "the recorder's status")
        assert app.plugin is not None and not app.plugin.enabled
        await pilot.press("e")
        where = (await wait_for_screen(pilot, RoutingScreen)).query_one("#where")
        await wait_for(pilot, lambda: "FIFO" in str(where.render()), "the refusal")
        await pilot.press("escape", "q")
        await pilot.pause()
    assert app.return_code in (0, None)


async def test_an_alias_bomb_is_refused_by_the_editor(tmp_path: Path) -> None:
    from .test_files_safety import BOMB

    session = frozen_session(tmp_path, calls=200)
    config = session.settings.paths.config
    config.write_text(BOMB + "provider_routing:\n  only: *i\n")
    before = config.read_bytes()
    app = frozen_app(session)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        started = time.monotonic()
        await pilot.press("e")
        where = (await wait_for_screen(pilot, RoutingScreen)).query_one("#where")
        await wait_for(pilot, lambda: "refused" in str(where.render()), "the refusal")
        assert time.monotonic() - started < 10
        assert "alias bomb" in str(where.render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDiff)
    assert config.read_bytes() == before


# -- the same rule, over the pure form logic ----------------------------------------------

slugs = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=4).map(tuple)
rules_strategy = st.builds(
    RoutingRules,
    sort=st.sampled_from([None, *SORTS, "fastest"]),
    only=slugs,
    ignore=slugs,
    order=slugs,
    require_parameters=st.sampled_from([None, True, False]),
    data_collection=st.sampled_from([None, *DATA_COLLECTION, "maybe"]),
)


@settings(max_examples=300, deadline=None)
@given(
    original=rules_strategy,
    edits=st.fixed_dictionaries(
        {},
        optional={
            "sort": st.sampled_from([None, *SORTS]),
            "only": st.frozensets(st.sampled_from(["a", "b", "c", "e"])),
            "ignore": st.frozensets(st.sampled_from(["a", "b", "c", "e"])),
            "order": slugs,
            "require_parameters": st.booleans(),
            "data_collection": st.sampled_from([None, *DATA_COLLECTION]),
        },
    ),
)
def test_untouched_fields_keep_the_files_values(
    original: RoutingRules, edits: dict[str, Any]
) -> None:
    filled = FormValues.showing(original)
    now = FormValues(**{f: edits.get(f, getattr(filled, f)) for f in FIELDS})
    ticked = {name: sorted(getattr(now, name)) for name in ("only", "ignore")}
    draft, changed = draft_rules(original, filled, now, ticked)
    assert set(changed) == {f for f in FIELDS if getattr(now, f) != getattr(filled, f)}
    for f in FIELDS:
        if f not in changed:
            assert getattr(draft, f) == getattr(original, f)
    for name in ("only", "ignore"):
        if name in changed:
            assert set(getattr(draft, name)) == getattr(now, name)
            kept = [s for s in getattr(original, name) if s in getattr(now, name)]
            assert list(getattr(draft, name))[: len(set(kept))] == list(dict.fromkeys(kept))
    if "require_parameters" in changed:
        assert draft.require_parameters is now.require_parameters
