"""Outside text made safe to show: no terminal control, bounded length.

Everything the dashboard shows that it did not write itself (OpenRouter's answers, the
call log, Hermes' state.db and config.yaml, file names) goes through :func:`clean` before it
reaches a terminal, a table cell or a file meant for people. A control character in such
text is never data the user wants to see: an ESC sequence can rewrite the clipboard (OSC 52)
or the window title (OSC 2), or move the cursor and break the layout.

Standard library only: the recorder, the core packages and the interface all use it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

#: Terminal sequences as a whole (so their parameters do not linger on screen as noise):
#: CSI (``ESC [`` or C1 ``0x9b``), OSC/DCS/SOS/PM/APC strings up to their terminator, and
#: two-character ESC sequences. A string's body stops at any control character and is
#: bounded, so no input makes the scan more than linear.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]{0,64}[\x20-\x2f]{0,16}[\x40-\x7e]"
    r"|(?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f])[^\x00-\x1f\x7f-\x9f]{0,4096}(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[\x20-\x2f]{0,8}[\x30-\x7e]"
)
#: Line breaks and tabs become a space: the words stay apart on one line.
_SPACE = re.compile(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]")
#: Whatever is left of C0, DEL and C1 (a lone ESC among them), and the bidi marks,
#: embeddings, overrides and isolates: a terminal that honours them draws the rest of the
#: line reversed or moved, so a model name can make "$0.50" read as "$05.0".
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: Lone surrogates (from JSON ``"\ud800"``) cannot be encoded for a terminal or a file.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
#: Characters a spreadsheet reads as the start of a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

ELLIPSIS = "…"


def clean(value: object, limit: int | None = None) -> str:
    """``value`` as one line of printable text: terminal sequences and control characters
    removed, line breaks and tabs turned into spaces, lone surrogates replaced; cut to
    ``limit`` characters (ending in …) when given. Printable Unicode is kept as it is."""
    text = value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > 4 * limit + 64:
        # A huge string is cut before the regular expressions run over it.
        text = text[: 4 * limit + 64]
    if not text.isprintable():
        text = _SEQUENCE.sub("", text)
        text = _SPACE.sub(" ", text)
        text = _CONTROL.sub("", text)
        text = _SURROGATE.sub("\ufffd", text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + ELLIPSIS
    return text


def clean_lines(text: str) -> str:
    """Several lines (a diff, a detail view): each one cleaned, the line breaks kept."""
    ends_with_newline = text.endswith("\n")
    out = "\n".join(clean(line) for line in text.splitlines())
    return out + "\n" if ends_with_newline else out


def clean_data(value: Any, limit: int | None = None) -> Any:
    """A JSON-like value with every string in it (keys too) cleaned; numbers that JSON
    cannot carry (NaN, infinities) become None. Other values are returned as they are."""
    if isinstance(value, str):
        return clean(value, limit)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {
            (clean(k, limit) if isinstance(k, str) else k): clean_data(v, limit)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [clean_data(v, limit) for v in value]
    return value


def csv_cell(value: object) -> object:
    """One CSV cell: text cleaned and, when a spreadsheet would read it as a formula
    (``=``, ``+``, ``-``, ``@``, tab, CR first), prefixed with ``'``; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    formula = value.startswith(_FORMULA_START)
    text = clean(value)
    if formula or text.lstrip().startswith(_FORMULA_START):
        return "'" + text
    return text


def shown_url(url: str) -> str:
    """``url`` fit to show: a password in it (basic auth of a proxy in front of OpenRouter
    or Prometheus) left out, control characters removed."""
    from urllib.parse import urlsplit, urlunsplit  # not needed for the first frame

    parts = urlsplit(url)
    if parts.password is None:
        return clean(url, 200)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username}@{host}" if parts.username else host
    return clean(urlunsplit(parts._replace(netloc=netloc)), 200)
