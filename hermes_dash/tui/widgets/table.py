"""A light read-only table for the dashboard panels, drawn line by line.

The dashboard's tables only show rows: no cursor, no editing. Drawing them as one strip of
segments per visible line costs a fraction of a cell-by-cell table, which matters on the
first frame and on every refresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hermes_dash.text import clean

#: A cell: its text, or its text and a Rich style ("bold red").
Cell = str | tuple[str, str]
#: Spaces between columns.
GAP = 2
#: The widest a cell is drawn: a huge name from outside must not make a column miles wide.
MAX_CELL = 120


def cell_text(cell: Cell) -> str:
    """The text of a cell."""
    return cell if isinstance(cell, str) else cell[0]


def _safe(cell: Cell) -> Cell:
    if isinstance(cell, str):
        return clean(cell, MAX_CELL)
    return clean(cell[0], MAX_CELL), cell[1]


class TextTable(ScrollView):
    """A header row that stays put, zebra-striped rows, columns as wide as their widest
    cell; numeric columns are right-aligned. Scrolls when the rows do not fit."""

    COMPONENT_CLASSES = {"text-table--header", "text-table--even-row"}

    DEFAULT_CSS = """
    TextTable { background: $surface; color: $foreground; height: 1fr; scrollbar-size-vertical: 1; }
    TextTable > .text-table--header { text-style: bold; background: $panel; color: $foreground; }
    TextTable > .text-table--even-row { background: $surface-lighten-1 50%; }
    TextTable:dark > .text-table--even-row { background: $surface-darken-1 40%; }
    """

    class HeaderClicked(Message):
        """The user clicked a column's header."""

        def __init__(self, table: TextTable, column: str) -> None:
            super().__init__()
            self.table = table
            self.column = column

    def __init__(
        self, columns: Sequence[str], *, right: Iterable[str] = (), id: str | None = None
    ) -> None:
        super().__init__(id=id)
        # Read-only views: taking focus would scroll a small screen away from the top.
        self.can_focus = False
        self.columns = tuple(columns)
        self._right = {self.columns.index(c) for c in right}
        self._rows: list[tuple[Cell, ...]] = []
        self._widths = [cell_len(c) for c in self.columns]
        self._styles: dict[str, Style] = {}

    @property
    def row_count(self) -> int:
        """How many rows the table holds."""
        return len(self._rows)

    def get_row_at(self, index: int) -> tuple[str, ...]:
        """The texts of one row."""
        return tuple(cell_text(c) for c in self._rows[index])

    def set_rows(self, rows: Iterable[Sequence[Cell]]) -> None:
        """Replace every row. Cells are drawn as plain text, never markup; they are cleaned
        of control characters here, since segments go to the terminal as they are."""
        self._rows = [tuple(_safe(c) for c in r) for r in rows]
        widths = [cell_len(c) for c in self.columns]
        for row in self._rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], cell_len(cell_text(cell)))
        self._widths = widths
        self.virtual_size = Size(self._full_width, len(self._rows) + 1)
        self.refresh()

    @property
    def _full_width(self) -> int:
        return sum(self._widths) + GAP * (len(self._widths) - 1)

    def _style(self, spec: str) -> Style:
        style = self._styles.get(spec)
        if style is None:
            style = self._styles[spec] = Style.parse(spec)
        return style

    def _line(self, cells: Sequence[Cell], base: Style) -> list[Segment]:
        segments = []
        for i, (cell, width) in enumerate(zip(cells, self._widths, strict=True)):
            text, spec = (cell, "") if isinstance(cell, str) else cell
            fill = " " * (width - cell_len(text))
            if i:
                segments.append(Segment(" " * GAP, base))
            padded = f"{fill}{text}" if i in self._right else f"{text}{fill}"
            segments.append(Segment(padded, base + self._style(spec) if spec else base))
        return segments

    def render_line(self, y: int) -> Strip:
        """The header on the first line, then the rows from the scroll position."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        # Lines carry the widget's own colours: nothing fills them in behind a line.
        plain = self.rich_style
        if y == 0:
            base = self.get_component_rich_style("text-table--header")
            segments = self._line(self.columns, base)
        else:
            index = y - 1 + scroll_y
            if index >= len(self._rows):
                return Strip.blank(width, plain)
            even = index % 2 == 1
            base = self.get_component_rich_style("text-table--even-row") if even else plain
            segments = self._line(self._rows[index], base)
        strip = Strip(segments, self._full_width).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, base)

    def on_click(self, event: events.Click) -> None:
        """A click on the header names its column."""
        offset = event.get_content_offset(self)
        if offset is None or offset.y != 0:
            return
        x = offset.x + self.scroll_offset.x
        for column, w in zip(self.columns, self._widths, strict=True):
            x -= w + GAP
            if x < 0:
                self.post_message(self.HeaderClicked(self, column))
                return
