"""Writing call-log rows as CSV or JSON (the calls browser's rows, for spreadsheets)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import TextIO

from hermes_dash.calllog.records import CallRow


def write_csv(rows: Iterable[CallRow], out: TextIO) -> int:
    """CSV with a header line; returns the number of rows written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CallRow.COLUMNS)
    n = 0
    for row in rows:
        writer.writerow(
            ["" if v is None else v for v in (getattr(row, c) for c in CallRow.COLUMNS)]
        )
        n += 1
    return n


def write_json(rows: Iterable[CallRow], out: TextIO) -> int:
    """A JSON array of objects, streamed row by row; returns the number of rows."""
    n = 0
    out.write("[")
    for row in rows:
        out.write(",\n" if n else "\n")
        out.write(json.dumps(row.as_dict()))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n
