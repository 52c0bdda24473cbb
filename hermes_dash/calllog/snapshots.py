"""OpenRouter account polls kept in the call log (``account_snapshots``), so the spend
chart and the burn rate survive restarts."""

from __future__ import annotations

import sqlite3

from hermes_dash.calllog.connection import CallLogConnection, describe
from hermes_dash.calllog.records import AccountSnapshot, Window

#: The stored columns, in :attr:`AccountSnapshot.STORED` order.
_COLUMNS = (
    "taken_at, label, usage, usage_daily, usage_weekly, usage_monthly, limit_usd, "
    "limit_remaining, limit_reset, credits_total, credits_used, is_free_tier"
)


class AccountSnapshots:
    """The account polls of one call-log connection."""

    def __init__(self, db: CallLogConnection) -> None:
        self.db = db

    def add(self, snap: AccountSnapshot) -> None:
        """Record one account poll."""
        try:
            self.db.query(
                f"INSERT INTO account_snapshots ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    snap.taken_at,
                    snap.label,
                    snap.usage,
                    snap.usage_daily,
                    snap.usage_weekly,
                    snap.usage_monthly,
                    snap.limit,
                    snap.limit_remaining,
                    snap.limit_reset,
                    snap.credits_total,
                    snap.credits_used,
                    None if snap.is_free_tier is None else int(snap.is_free_tier),
                ),
            )
        except sqlite3.Error as exc:
            raise describe(exc, self.db.path) from None

    def in_window(self, window: Window, limit: int = 2000) -> list[AccountSnapshot]:
        """Account polls in the window, oldest first (thinned to at most ``limit``)."""
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM account_snapshots WHERE taken_at >= ? AND taken_at <= ? "
            "ORDER BY taken_at",
            (window.start, window.end),
        )
        if len(rows) > limit:
            step = len(rows) / limit
            rows = [rows[int(i * step)] for i in range(limit)] + [rows[-1]]
        return [AccountSnapshot.from_row(r) for r in rows]

    def at(self, t: float, *, before: bool) -> AccountSnapshot | None:
        """The last poll with a usage figure at or before ``t`` (``before``), or the first
        one at or after it."""
        op, order = ("<=", "DESC") if before else (">=", "ASC")
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM account_snapshots WHERE taken_at {op} ? "
            f"AND usage IS NOT NULL ORDER BY taken_at {order} LIMIT 1",
            (t,),
        )
        return AccountSnapshot.from_row(rows[0]) if rows else None
