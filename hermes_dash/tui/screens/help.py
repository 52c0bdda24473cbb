"""The help screen: what each key does (made from the key table)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown

from hermes_dash.tui.keymap import markdown_rows
from hermes_dash.tui.screens.dialogs import Dialog

HELP = "\n".join(
    [
        "# hermes-dash keys",
        "",
        "| key | does |",
        "|---|---|",
        *markdown_rows(),
        "",
        "Data: OpenRouter `/key` and `/credits` every 30 s (`--refresh`), the call log every",
        "1.5 s. When OpenRouter fails, the last good numbers stay on screen marked **STALE**.",
        "",
    ]
)


class HelpScreen(Dialog[None]):
    """Keys and where the numbers come from."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    CSS_PATH = "help.tcss"

    def compose(self) -> ComposeResult:
        with Vertical(), VerticalScroll():
            yield Markdown(HELP)
