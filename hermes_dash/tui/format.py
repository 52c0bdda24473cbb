"""Formatting numbers, times and outside text for the screens.

Text the dashboard did not write itself (names and messages from OpenRouter, the call log,
state.db, config.yaml, file names) is never markup: it goes on screen through :func:`lit` or
as a ``$variable`` of :func:`markup`, cleaned of terminal control by
:func:`hermes_dash.text.clean`.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.content import Content

from hermes_dash.text import clean

#: A line of a multi-line view: our own markup (str), or content built from outside text.
Line = str | Content | Text

#: The longest piece of outside text a line or a cell shows (the rest ends in …).
MAX_SHOWN = 200


def lit(value: object, limit: int | None = MAX_SHOWN) -> Text:
    """Outside text shown literally: ``[b]`` stays ``[b]``, control characters go."""
    return Text(clean(value, limit), end="")


def short(value: object, limit: int = 40) -> str:
    """Outside text cut for a place with little room (a name in a list)."""
    return clean(value, limit)


def join_lines(lines: list[Line]) -> Content:
    """Lines as one piece of content: ``str`` lines are our own markup, ``Content`` lines
    were built with :func:`markup` or :func:`lit` (rich ``Text`` is accepted too)."""
    return Content("\n").join(
        Content.from_rich_text(line)
        if isinstance(line, Text)
        else line
        if isinstance(line, Content)
        else Content.from_markup(line)
        for line in lines
    )


def markup(template: str, **values: object) -> Content:
    """Our own markup ``template`` with outside text in it as ``$name`` variables: the
    values are inserted literally (cleaned, bounded), never parsed as markup."""
    return Content.from_markup(template, **{k: clean(v, MAX_SHOWN) for k, v in values.items()})


#: Amounts from this up are no spend but someone's error: written short (``$1.00e+15``),
#: not in a line of digits that breaks the layout.
VAST_USD = 1e12


def money(v: float | None, digits: int = 2) -> str:
    """``$1,234.56`` or ``-``."""
    if v is None:
        return "-"
    return f"${v:.2e}" if abs(v) >= VAST_USD else f"${v:,.{digits}f}"


def percent(v: float | None) -> str:
    """``87 %`` or ``-``."""
    return "-" if v is None else f"{v:,.0f} %"


def rate(v: float | None) -> str:
    """``$0.95/h`` or ``-``."""
    if v is None:
        return "-"
    if abs(v) >= VAST_USD:
        return f"${v:.2e}/h"
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
