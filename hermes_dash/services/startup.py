"""The dashboard's start-up in one place: why its first frame already shows the numbers.

The sequence, each step kept because ``benchmarks/bench_tui.py`` shows it pays (the
README's speed section has the figures, and those of the steps that were dropped):

1. ``hermes-dash`` imports only what the dashboard needs: every other command's module
   (and its options) loads when that command is named (``cli.COMMANDS``).
2. It opens the call log and calls :func:`prefetch_first` *before* it imports the user
   interface: the first read (a screenful of the newest calls and the window's
   aggregates) runs on a thread while Textual and the screens are imported (SQLite works
   outside the GIL, and importing reads files, which lets the thread run): the read was
   done before the imports in every measured start.
3. The interface is imported inside :func:`interface_imports`: with the garbage collector
   off, as those tens of thousands of objects live as long as the app (this saves about
   3 % of the instructions to the first frame); then they are frozen out of the
   collector's way, and it runs as usual.
4. The app's ``on_mount`` calls :func:`take_first_read` and draws its first frame with
   the result. It waits at most :data:`FIRST_READ_WAIT_S`: a file another process holds
   locked must not hold the first frame up; the app's worker then reads as usual. That
   frame holds the header, the panels' numbers, the alerts and the status line; the two
   tables (and Textual's DataTable with them) join right after it, with the rows read for
   it, in slots that keep their places.
5. After that frame the app arms the charts (plotext loads then), then starts polling
   OpenRouter and the recorder's state (httpx, OpenRouter's record parsers and the YAML
   parsers load on first use; a test keeps the list of what the first frame imports
   honest).

A shorter thread switch interval during the first read was measured too and dropped:
the read finished before the imports with and without it. So was keeping the collector
off from the start to the first frame: 1.7 % fewer instructions, not worth a
process-wide setting spread over modules.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass

from hermes_dash.calllog.records import CallRow
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.services.dashboard import DashboardData, build_dashboard, live_tail_start

#: How long the first frame waits for the call log's first read.
FIRST_READ_WAIT_S = 0.25


@dataclass(frozen=True)
class FirstRead:
    """What the dashboard's first frame shows: the newest calls and the aggregates."""

    rows: list[CallRow]
    data: DashboardData
    last_id: int
    """The id the next read continues after."""


def read_first(store: CallStore, window_name: str, now: float) -> FirstRead:
    """The newest calls for the live table and the aggregates, before any account poll."""
    rows, last = store.tail(live_tail_start(store))
    return FirstRead(rows, build_dashboard(store, window_name, now, None), last)


def prefetch_first(store: CallStore, window_name: str, now: float) -> Future[FirstRead]:
    """Start :func:`read_first` on a thread and return its future (step 2)."""
    future: Future[FirstRead] = Future()

    def run() -> None:
        try:
            future.set_result(read_first(store, window_name, now))
        except BaseException as exc:  # handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=run, name="hermes-dash-first-read", daemon=True).start()
    return future


def take_first_read(
    started: Future[FirstRead] | None, store: CallStore, window_name: str, now: float
) -> FirstRead:
    """The first read for the first frame (step 4): the prefetched one when there is one,
    else read now; either way waiting at most :data:`FIRST_READ_WAIT_S` for a lock.
    Raises :class:`CallLogError` when that is not enough (or the read failed)."""
    if started is not None:
        try:
            return started.result(timeout=FIRST_READ_WAIT_S)
        except FutureTimeout:
            raise CallLogError("the first read is slow") from None
    with store.patience(FIRST_READ_WAIT_S):
        return read_first(store, window_name, now)


@contextmanager
def interface_imports() -> Iterator[None]:
    """Import the interface inside this block (step 3): the collector is off meanwhile,
    then what was imported is frozen (never collected again: it lives as long as the app)
    and collection resumes for everything made from then on."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
