"""Widgets of the routing form: the ``order`` list and the findings under each field."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Label, ListItem, ListView, Static

from hermes_dash.routing.rules import Issue
from hermes_dash.text import clean
from hermes_dash.tui import format as fmt


class OrderList(ListView):
    """The ``order`` list: reorder with ctrl+up/down (or [ and ]), delete removes."""

    BINDINGS = [
        Binding("ctrl+up,left_square_bracket", "move(-1)", "Move up"),
        Binding("ctrl+down,right_square_bracket", "move(1)", "Move down"),
        Binding("delete,backspace", "remove", "Remove"),
    ]

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)
        self.slugs: list[str] = []

    def set_slugs(self, slugs: list[str], index: int | None = None) -> None:
        """Replace the items."""
        self.slugs = list(slugs)
        self.clear()
        self.extend(ListItem(Label(fmt.lit(f"{i + 1}. {s}"))) for i, s in enumerate(self.slugs))
        if self.slugs:
            self.index = min(index or 0, len(self.slugs) - 1)

    def action_move(self, step: int) -> None:
        """Swap the highlighted provider with its neighbour."""
        i = self.index
        if i is None or not 0 <= i + step < len(self.slugs):
            return
        s = self.slugs
        s[i], s[i + step] = s[i + step], s[i]
        self.set_slugs(s, i + step)
        self.post_message(self.Changed())

    def action_remove(self) -> None:
        """Drop the highlighted provider."""
        if self.index is not None and self.slugs:
            del self.slugs[self.index]
            self.set_slugs(self.slugs, self.index)
            self.post_message(self.Changed())

    class Changed(Message):
        """The order changed."""


class FieldIssues(Static):
    """The validation findings for one field, shown right under it (empty when fine)."""

    DEFAULT_CSS = "FieldIssues { height: auto; }"

    def __init__(self, field: str) -> None:
        super().__init__("", id=f"issues-{field}")
        self.field = field

    def show(self, issues: list[Issue]) -> None:
        """Replace the findings."""
        lines = [
            Text(
                clean(f"{'✗' if i.severity == 'error' else '!'} {i.message}"),
                style="bold red" if i.severity == "error" else "yellow",
            )
            for i in issues
        ]
        self.update(Text("\n").join(lines))
