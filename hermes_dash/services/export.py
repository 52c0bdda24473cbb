"""Writing call-log rows as CSV or JSON (the calls browser's rows, for spreadsheets)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import TextIO

from hermes_dash.calllog.records import CallRow
from hermes_dash.text import clean_data, csv_cell


def write_csv(rows: Iterable[CallRow], out: TextIO) -> int:
    """CSV with a header line; returns the number of rows written. Text cells are cleaned
    of control characters and kept from being read as formulas; numbers stay numbers."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CallRow.COLUMNS)
    n = 0
    for row in rows:
        writer.writerow([csv_cell(getattr(row, c)) for c in CallRow.COLUMNS])
        n += 1
    return n


def write_json(rows: Iterable[CallRow], out: TextIO) -> int:
    """A JSON array of objects, streamed row by row (text cleaned of control characters);
    returns the number of rows."""
    n = 0
    out.write("[")
    for row in rows:
        out.write(",\n" if n else "\n")
        out.write(json.dumps(clean_data(row.as_dict())))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n
