"""Aggregate answers kept between polls and brought up to date from the new rows only.

A poll asks the same questions every second or two: the latency histograms of a day's
rollup, the chart's hourly sums, the month's 429s. Their answers change only where calls
were added, so an answer is kept with the newest call id it covers, and the next ask adds
what the calls with newer ids (whenever they started: late rows too) contribute, read
through the primary key. Writes through the store drop every kept answer; a row another
program re-labels or deletes shows once an answer is read afresh, every :data:`KEEP_S`,
except the newest call an answer saw: deleted, it is read afresh at once, since SQLite
gives that id to the next call, which the new ids would never bring.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hermes_dash.calllog.connection import CallLogConnection

#: Answers kept at once (a 30-day window's poll asks about a dozen).
KEPT_ANSWERS = 48
#: A kept answer is read afresh after this long, so a row another program re-labels or
#: deletes in its period shows within this time.
KEEP_S = 300.0


@dataclass
class _Kept:
    """One answer up to call id ``seen``: its rows, and number columns per key columns
    once new calls had to be added (an answer asked once, as by ``summary``, never
    pays for building that index)."""

    seen: int
    read_at: float
    rows: list[tuple[Any, ...]] | None
    sums: dict[tuple[Any, ...], list[Any]] | None = None
    #: The start time of call ``seen``: another call that took its id has another one.
    mark: Any = None


class KeptAnswers:
    """Answers of ``GROUP BY`` queries over a period [p0, p1), kept up to date.

    Each query comes as a pair: ``sql`` answers it for (p0, p1) from whatever tables it
    likes; ``delta_sql`` answers it from the ``calls`` rows for (p0, p1, after id, up to
    id), so the two must count a row the same way. Both return rows of ``width`` key
    columns followed by numbers to add up.
    """

    def __init__(self, db: CallLogConnection, clock: Callable[[], float] = time.monotonic):
        self.db = db
        self.clock = clock
        self._kept: OrderedDict[tuple[str, int, int], _Kept] = OrderedDict()

    def forget(self) -> None:
        """Drop every kept answer (after a write, or when the file was replaced)."""
        self._kept.clear()

    def rows(self, sql: str, delta_sql: str, p0: int, p1: int, width: int) -> list[tuple[Any, ...]]:
        """The rows of the answer over [p0, p1), kept or read, with new calls added (the
        list is shared with later asks: read it, never change it)."""
        key = (sql, p0, p1)
        now = self.clock()
        entry = self._kept.get(key)
        if entry is None or now - entry.read_at >= KEEP_S or self._mark(entry.seen) != entry.mark:
            # The newest id and the answer from one snapshot: a call committed between the
            # two reads would otherwise be counted twice (or never).
            with self.db.snapshot():
                seen = self.db.max_id()
                mark = self._mark(seen)
                found = self.db.query(sql, (p0, p1))
            entry = _Kept(seen, now, found, mark=mark)
            self._kept[key] = entry
            while len(self._kept) > KEPT_ANSWERS:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
            newest = self.db.max_id()
            if newest > entry.seen:
                delta = self.db.query(delta_sql, (p0, p1, entry.seen, newest))
                if delta:
                    if entry.sums is None:
                        entry.sums = {}
                        _add(entry.sums, entry.rows or [], width)
                    _add(entry.sums, delta, width)
                    entry.rows = None
                entry.seen = newest
        if entry.rows is None:
            assert entry.sums is not None
            entry.rows = [(*k, *v) for k, v in entry.sums.items()]
        return entry.rows

    def _mark(self, row_id: int) -> Any:
        """The start time of call ``row_id``, None when there is none (one primary-key
        read: a poll asks a dozen answers)."""
        found = self.db.query("SELECT started_at FROM calls WHERE id = ?", (row_id,))
        return found[0][0] if found else None


def _add(sums: dict[tuple[Any, ...], list[Any]], rows: list[tuple[Any, ...]], width: int) -> None:
    """Add rows (key columns, then numbers) into ``sums``; a key seen twice adds up."""
    for r in rows:
        values = sums.setdefault(tuple(r[:width]), [0] * (len(r) - width))
        for i, v in enumerate(r[width:]):
            values[i] += v
