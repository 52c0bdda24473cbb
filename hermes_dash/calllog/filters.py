"""The calls browser's and ``export``'s filters, and the SQL that applies them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from hermes_dash.calllog.records import Window

#: The calls browser's and export's status filter: any, successes, errors, 429s only.
StatusFilter = Literal["", "ok", "error", "429"]


@dataclass
class CallFilter:
    """Filters of the calls browser and of ``export``; empty fields match everything."""

    model: str = ""
    provider: str = ""
    status: StatusFilter = ""
    session: str = ""
    window: Window | None = None


def filter_sql(flt: CallFilter) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (empty when nothing is filtered) and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    if flt.window is not None:
        clauses.append("started_at >= ? AND started_at <= ?")
        params += [flt.window.start, flt.window.end]
    for col, value in (("model", flt.model), ("session_id", flt.session)):
        if value:
            clauses.append(f"{col} = ?")
            params.append(value)
    if flt.provider:
        clauses.append("(provider = ? OR upstream = ?)")
        params += [flt.provider, flt.provider]
    if flt.status == "429":
        clauses.append("http_status = 429")
    elif flt.status in ("ok", "error"):
        clauses.append("status = ?")
        params.append(flt.status)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
