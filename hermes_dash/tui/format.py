"""Formatting numbers and times for the screens."""

from __future__ import annotations

import time


def money(v: float | None, digits: int = 2) -> str:
    """``$1,234.56`` or ``-``."""
    return "-" if v is None else f"${v:,.{digits}f}"


def percent(v: float | None) -> str:
    """``87 %`` or ``-``."""
    return "-" if v is None else f"{v:,.0f} %"


def rate(v: float | None) -> str:
    """``$0.95/h`` or ``-``."""
    if v is None:
        return "-"
    return f"${v:,.4f}/h" if v < 1 else f"${v:,.2f}/h"


def hours(v: float | None) -> str:
    """A duration in hours, as h or days."""
    if v is None:
        return "-"
    if v >= 72:
        return f"{v / 24:,.1f} days"
    return f"{v:,.1f} h"


def seconds(v: float | None) -> str:
    """A latency."""
    if v is None:
        return "-"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def clock(ts: float | None) -> str:
    """Local wall-clock time of a timestamp."""
    if ts is None:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(ts))


def ago(ts: float | None, now: float) -> str:
    """``12 s ago``."""
    if ts is None:
        return "never"
    d = max(0.0, now - ts)
    if d < 90:
        return f"{d:.0f} s ago"
    if d < 5400:
        return f"{d / 60:.0f} min ago"
    return f"{d / 3600:.1f} h ago"


def tokens(n: int | None) -> str:
    """``12.3k``."""
    if n is None:
        return "-"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 10_000:
        return f"{n / 1e3:.0f}k"
    if n >= 1000:
        return f"{n / 1e3:.1f}k"
    return str(n)
