"""Building the app on frozen demo data for snapshot and Pilot tests, and waiting on
conditions instead of fixed pauses."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from .frozen import FROZEN_NOW, frozen_app, frozen_session, settle

__all__ = [
    "FROZEN_NOW",
    "freeze_cursors",
    "frozen_app",
    "frozen_session",
    "settle",
    "tables_settled",
    "wait_for",
]

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
    await pilot.pause()


def freeze_cursors(pilot: Pilot[None]) -> None:
    """Stop every input's cursor from blinking, so a snapshot does not depend on when
    it was taken."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False


def tables_settled(pilot: Pilot[None]) -> bool:
    """Whether every table on the screen has measured its new rows: a table sizes its
    columns when the app is next idle, which on a busy machine can come after the rows
    are there (a picture taken between shows cut-off cells)."""
    return all(
        not t._require_update_dimensions and not t._new_rows
        for t in pilot.app.screen.query(DataTable)
    )
