"""Building the app on frozen demo data for snapshot and Pilot tests, and waiting on
conditions instead of fixed pauses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from rich.text import Text
from textual.message import Message
from textual.notifications import Notification, Notify
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Input

from hermes_dash.tui.app import HermesDashApp

from .frozen import FROZEN_NOW, frozen_app, frozen_session, settle

__all__ = [
    "FROZEN_NOW",
    "Notices",
    "first_run_app",
    "first_run_settled",
    "freeze_cursors",
    "frozen_app",
    "frozen_session",
    "settle",
    "tables_settled",
    "wait_for",
    "wait_for_screen",
    "wait_for_workers",
]

AnyScreen = TypeVar("AnyScreen", bound=Screen[object])

#: How long a condition may take on a busy machine before the test fails.
WAIT_LIMIT_S = 30.0


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], object], what: str = "condition"
) -> None:
    """Let the app run until ``condition()`` is true; fail after WAIT_LIMIT_S.

    Waiting on the state a test needs, not on a fixed pause, keeps tests both quick on an
    idle machine and steady on a loaded one.
    """
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)
    # Let the screen handle what is queued (no idle wait: an app with a thread at work is
    # never idle, and waiting for it to be would cost up to a second a call).
    await pilot.pause(0)


async def wait_for_screen(pilot: Pilot[None], kind: type[AnyScreen]) -> AnyScreen:
    """Wait until the app shows a screen of this kind (a key's screen is pushed once the
    key has travelled through the app, which on a busy machine is later), and return it."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, kind), kind.__name__)
    screen = pilot.app.screen
    assert isinstance(screen, kind)
    return screen


async def wait_for_workers(pilot: Pilot[None]) -> None:
    """Wait until every worker the app has started so far has finished (a screen's
    loads, the reads and polls): what they found is then on screen."""
    await wait_for(
        pilot, lambda: all(w.is_finished for w in pilot.app.workers), "the workers to finish"
    )


def freeze_cursors(pilot: Pilot[None]) -> None:
    """Stop every input's cursor from blinking, so a snapshot does not depend on when
    it was taken."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False


def tables_settled(pilot: Pilot[None]) -> bool:
    """Whether every table on the screen has measured its rows: a table sizes its columns
    when the app is next idle, which on a busy machine can come after the rows are there
    (a picture taken between shows cut-off cells). Checked on the widths themselves too:
    each column is at least as wide as its widest cell."""
    for t in pilot.app.screen.query(DataTable):
        if t._require_update_dimensions or t._new_rows or t._updated_cells:
            return False
        for i, column in enumerate(t.ordered_columns):
            widest = max(
                (Text.from_markup(c).cell_len if isinstance(c, str) else _cells(c)
                 for c in (t.get_row_at(r)[i] for r in range(t.row_count))),
                default=0,
            )  # fmt: skip
            if column.content_width < widest:
                return False
    return True


def _cells(cell: object) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


def first_run_app(root: Path, state: str) -> HermesDashApp:
    """The real app over a Hermes home in a first-run state (see demo.firstrun), on the
    frozen clock: no calls logged, the fake OpenRouter answering for the key."""
    from hermes_dash.demo.firstrun import first_run_session
    from hermes_dash.services.settings import UserSettings
    from hermes_dash.tui.app import make_app

    s = first_run_session(root, state, FROZEN_NOW)
    # As frozen_app: no second poll or pricing round by itself, whatever the test's pace.
    settings = replace(s.settings, refresh_s=3600.0, enrich_s=3600.0)
    return make_app(settings, s.api, s.store, clock=lambda: FROZEN_NOW, prefs=UserSettings())


def first_run_settled(app: HermesDashApp) -> bool:
    """Whether the checks, the first read and (with a key) the first poll are on screen."""
    return (
        app.checks is not None
        and app.data is not None
        and not app.stale_aggregates
        and (app.last_poll is not None or not app.api.has_key)
        and app.dashboard.spend.has_class("-guide")
        and "recorder …" not in str(app.dashboard.status.render())
    )


class Notices:
    """Every notification the app raised, in order: pass one as ``run_test``'s
    ``message_hook`` and it sees each ``Notify`` message the app handles.

    Textual's own list of notifications is private and forgets a toast once it times
    out (on a busy machine, before the test looks); this one keeps them all.
    """

    def __init__(self) -> None:
        self.seen: list[Notification] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.seen.append(message.notification)

    def messages(self) -> list[str]:
        """The text of every notification so far."""
        return [n.message for n in self.seen]

    def clear(self) -> None:
        """Forget what was said so far (start-up notices, say)."""
        self.seen.clear()
