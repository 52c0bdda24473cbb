"""The dashboard panels' tables: Textual's DataTable, filled whole from the latest data.

A panel's rows are replaced at once on every refresh (the newest calls, the providers of
the window), so the table takes rows as plain cells and keeps the cursor where it was.
The cursor shows only while the table has the focus: the panels read as views until the
user tabs into one to scroll it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from hermes_dash.text import clean

#: A cell: its text, or its text and a Rich style ("bold red").
Cell = str | tuple[str, str]
#: The widest a cell is drawn: a huge name from outside must not make a column miles wide.
MAX_CELL = 120


def cell_text(cell: Cell, right: bool = False) -> Text:
    """A cell as DataTable shows it: literal text (never markup), cleaned of control
    characters and cut to MAX_CELL, in its style, right-aligned for a number."""
    text, style = (cell, "") if isinstance(cell, str) else cell
    return Text(clean(text, MAX_CELL), style=style, justify="right" if right else "left")


CellT = TypeVar("CellT")


class MeasuredTable(DataTable[CellT]):
    """Textual's DataTable, drawn afresh once it has measured its new rows.

    DataTable sizes its columns when the app is next idle, and caches the lines it draws
    under keys that hold no column width. A picture taken after the rows were measured
    still showed cells cut to their headers' width (seen in snapshot runs under load), so
    the caches are dropped once the widths are known. Every table of the interface is one
    of these."""

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        super()._update_dimensions(new_rows)
        self._clear_caches()
        self.refresh()


class PanelTable(MeasuredTable[Text]):
    """Zebra-striped rows under a fixed header, columns as wide as their widest cell,
    numeric columns right-aligned; focus, a row cursor and keyboard scrolling are
    DataTable's own."""

    DEFAULT_CSS = """
    PanelTable { height: 1fr; scrollbar-size-vertical: 1; }
    """

    def __init__(
        self, columns: Sequence[str], *, right: Iterable[str] = (), id: str | None = None
    ) -> None:
        super().__init__(id=id, zebra_stripes=True, cursor_type="row", show_cursor=False)
        self._names = tuple(columns)
        self._right = set(right)
        #: Whether the table is mounted: a panel's data given before is drawn then.
        self.on_screen = False

    def _ensure_columns(self) -> None:
        # DataTable measures a column as it is added, which needs the running app: a
        # table built before the app runs gets its columns on its first rows or mount.
        if not self.columns:
            for name in self._names:
                self.add_column(cell_text(name, name in self._right), key=name)

    def on_mount(self) -> None:
        """The header, even before any row; then the rows given meanwhile."""
        self._ensure_columns()
        self.on_screen = True
        self.redraw()

    def redraw(self) -> None:
        """Draw the rows of the data given so far (a panel that keeps its data says how)."""

    def set_rows(self, rows: Iterable[Sequence[Cell]]) -> None:
        """Replace every row. Cells are plain text, never markup, cleaned of control
        characters; the cursor stays on the same line."""
        self._ensure_columns()
        keys = [str(c.key.value) for c in self.ordered_columns]
        cells = [
            [cell_text(cell, key in self._right) for cell, key in zip(row, keys, strict=True)]
            for row in rows
        ]
        cursor = self.cursor_row
        self.clear()
        self.add_rows(cells)
        if cells and cursor:
            self.move_cursor(row=min(cursor, len(cells) - 1), animate=False, scroll=False)

    def on_focus(self) -> None:
        """Show the cursor while the user works in the table."""
        self.show_cursor = True

    def on_blur(self) -> None:
        """A view again."""
        self.show_cursor = False
