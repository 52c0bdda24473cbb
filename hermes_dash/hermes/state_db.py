"""Reading Hermes' own ``state.db``: per-model tokens and Hermes' estimated/actual cost.

Opened read-only (``mode=ro``) so it works while Hermes writes to it (WAL). Columns and
tables differ between Hermes versions, so they are detected, never assumed: newer files
have ``session_model_usage`` (per session and model), older ones only ``sessions``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils


class StateDbError(Exception):
    """state.db is missing, locked, or not a SQLite file."""


@dataclass(frozen=True)
class HermesModelCost:
    """Hermes' view of one model's spend."""

    model: str
    sessions: int
    api_calls: int | None
    input_tokens: int
    output_tokens: int
    estimated_usd: float | None
    actual_usd: float | None


@dataclass(frozen=True)
class HermesTaskUsage:
    """Hermes' own count for one model and task (``main``, ``subagent``, or an auxiliary
    task such as ``title_generation`` or ``compression``) from ``session_model_usage``."""

    model: str
    task: str
    api_calls: int | None
    input_tokens: int
    output_tokens: int
    estimated_usd: float | None
    actual_usd: float | None


def _sum(cols: dict[str, object], name: str, prefix: str = "") -> str:
    """SUM of a column when this version of the file has it, else NULL."""
    return f"SUM({prefix}{name})" if name in cols else "NULL"


def read_model_costs(path: Path, since: float | None = None) -> list[HermesModelCost]:
    """Per-model totals, busiest first; ``since`` filters on session start (unix seconds)."""
    if not path.is_file():
        raise StateDbError(f"no Hermes state.db at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
        db = sqlite_utils.Database(conn)
        tables = set(db.table_names())
        if "session_model_usage" in tables and "sessions" in tables:
            cols = db["session_model_usage"].columns_dict
            sql = (
                f"SELECT u.model, COUNT(DISTINCT u.session_id), "
                f"{_sum(cols, 'api_call_count', 'u.')}, "
                f"{_sum(cols, 'input_tokens', 'u.')}, {_sum(cols, 'output_tokens', 'u.')}, "
                f"{_sum(cols, 'estimated_cost_usd', 'u.')}, {_sum(cols, 'actual_cost_usd', 'u.')} "
                "FROM session_model_usage u JOIN sessions s ON s.id = u.session_id "
                "WHERE (? IS NULL OR s.started_at >= ?) GROUP BY u.model"
            )
        elif "sessions" in tables:
            cols = db["sessions"].columns_dict
            if "model" not in cols:
                raise StateDbError(f"{path}: sessions table has no model column")
            sql = (
                f"SELECT model, COUNT(*), {_sum(cols, 'api_call_count')}, "
                f"{_sum(cols, 'input_tokens')}, {_sum(cols, 'output_tokens')}, "
                f"{_sum(cols, 'estimated_cost_usd')}, {_sum(cols, 'actual_cost_usd')} "
                "FROM sessions WHERE model IS NOT NULL AND (? IS NULL OR started_at >= ?) "
                "GROUP BY model"
            )
        else:
            raise StateDbError(f"{path} does not look like a Hermes state.db")
        rows = conn.execute(sql, (since, since)).fetchall()
        conn.close()
    except sqlite3.Error as exc:
        raise StateDbError(f"cannot read {path}: {exc}") from None
    out = [
        HermesModelCost(
            model=str(m),
            sessions=int(n),
            api_calls=None if calls is None else int(calls),
            input_tokens=int(tin or 0),
            output_tokens=int(tout or 0),
            estimated_usd=None if est is None else float(est),
            actual_usd=None if act is None else float(act),
        )
        for m, n, calls, tin, tout, est, act in rows
    ]
    return sorted(out, key=lambda c: (-(c.api_calls or c.sessions), c.model))


def read_task_usage(path: Path, since: float | None = None) -> list[HermesTaskUsage]:
    """Per (model, task) totals from ``session_model_usage``, auxiliary tasks included;
    [] for a file without that table (older Hermes). Rows count from ``since`` by their
    ``last_seen`` when the file has it, else by their session's start."""
    if not path.is_file():
        raise StateDbError(f"no Hermes state.db at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
        try:
            db = sqlite_utils.Database(conn)
            if "session_model_usage" not in db.table_names():
                return []
            cols = db["session_model_usage"].columns_dict
            task = "COALESCE(NULLIF(u.task, ''), 'main')" if "task" in cols else "'main'"
            if "last_seen" in cols:
                when, join = "u.last_seen", ""
            elif "sessions" in db.table_names():
                when, join = "s.started_at", "JOIN sessions s ON s.id = u.session_id "
            else:
                when, join = "NULL", ""
            sql = (
                f"SELECT u.model, {task}, {_sum(cols, 'api_call_count', 'u.')}, "
                f"{_sum(cols, 'input_tokens', 'u.')}, {_sum(cols, 'output_tokens', 'u.')}, "
                f"{_sum(cols, 'estimated_cost_usd', 'u.')}, {_sum(cols, 'actual_cost_usd', 'u.')} "
                f"FROM session_model_usage u {join}"
                f"WHERE (? IS NULL OR {when} IS NULL OR {when} >= ?) GROUP BY 1, 2"
            )
            rows = conn.execute(sql, (since, since)).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StateDbError(f"cannot read {path}: {exc}") from None
    out = [
        HermesTaskUsage(
            model=str(m),
            task=str(t),
            api_calls=None if calls is None else int(calls),
            input_tokens=int(tin or 0),
            output_tokens=int(tout or 0),
            estimated_usd=None if est is None else float(est),
            actual_usd=None if act is None else float(act),
        )
        for m, t, calls, tin, tout, est, act in rows
    ]
    return sorted(out, key=lambda u: (u.model, u.task != "main", u.task))
