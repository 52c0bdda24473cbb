"""Small modal dialogs: confirm a config diff, pick a backup to restore."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from hermes_dash.text import clean, clean_lines

ResultT = TypeVar("ResultT")


def colour_diff(diff: str) -> Text:
    """A unified diff with + lines green and - lines red (each line cleaned of control
    characters: config.yaml is outside text)."""
    out = Text()
    for line in clean_lines(diff).splitlines(keepends=True):
        if line.startswith("+") and not line.startswith("+++"):
            out.append(line, style="green")
        elif line.startswith("-") and not line.startswith("---"):
            out.append(line, style="red")
        elif line.startswith("@@"):
            out.append(line, style="cyan")
        else:
            out.append(line, style="dim")
    return out


class Dialog(ModalScreen[ResultT]):
    """A modal box centred over the screen below: every dialog of the app looks the same
    (the rule set is ``Dialog`` in ``app.tcss``); a subclass sets only its width."""


class YesNoDialog(Dialog[bool]):
    """A confirmation with a Cancel and a confirm button (id ``confirm``): escape, ``n``
    or Cancel answer False, ``y`` or the confirm button True; Cancel has the focus."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("n", "cancel", "No", show=False),
        Binding("y", "confirm", "Yes"),
    ]

    def on_mount(self) -> None:
        """Focus the safe choice."""
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Answer."""
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        """Go ahead."""
        self.dismiss(True)

    def action_cancel(self) -> None:
        """Do nothing."""
        self.dismiss(False)


class ConfirmDiff(YesNoDialog):
    """Shows the exact diff of config.yaml; True to write it."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("n", "cancel", "No", show=False),
        Binding("y", "confirm", "Save"),
    ]

    def __init__(self, title: str, diff: str, confirm: str = "Save") -> None:
        super().__init__()
        self.title_text = title
        self.diff = diff
        self.confirm_label = confirm

    #: Rows of the box besides the diff: border, padding, title, buttons and their margin.
    CHROME_ROWS = 9

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(clean(self.title_text), style="bold"))
            with VerticalScroll():
                yield Static(colour_diff(self.diff), id="diff")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(f"{self.confirm_label} (y)", variant="primary", id="confirm")

    def on_mount(self) -> None:
        """Fit the diff to the terminal from the start."""
        super().on_mount()
        self._fit(self.app.size.height)

    def on_resize(self, event: events.Resize) -> None:
        """Fit the diff to the terminal's new height."""
        self._fit(event.size.height)

    def _fit(self, rows: int) -> None:
        # A long diff scrolls within what the box (at most 90 % of the terminal) has left,
        # so the buttons stay on screen whatever the terminal's height.
        room = int(rows * 0.9) - self.CHROME_ROWS
        self.query_one(VerticalScroll).styles.max_height = max(1, min(30, room))


class PickBackup(Dialog[Path | None]):
    """Choose a backup of config.yaml to restore."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, backups: list[Path]) -> None:
        super().__init__()
        self.backups = backups

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Restore config.yaml from a backup[/] (newest first; Enter restores)")
            if self.backups:
                yield OptionList(
                    *[Option(Text(clean(b.name)), id=str(i)) for i, b in enumerate(self.backups)]
                )
            else:
                yield Static("No backups yet: one is taken before every save.")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Restore this one."""
        self.dismiss(self.backups[int(event.option.id or 0)])

    def on_button_pressed(self, _: Button.Pressed) -> None:
        """Cancel."""
        self.dismiss(None)

    def action_cancel(self) -> None:
        """Cancel."""
        self.dismiss(None)
