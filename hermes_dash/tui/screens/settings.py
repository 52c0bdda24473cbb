"""The settings screen: budgets and the runway alert."""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.validation import Function
from textual.widgets import Button, Input, Label, Static

from hermes_dash.services.settings import UserSettings
from hermes_dash.tui.screens.dialogs import Dialog


def parse_amount(text: str) -> float | None:
    """'' means no budget; otherwise a positive number (a leading $ is fine)."""
    text = text.strip().lstrip("$").replace(",", "")
    if not text:
        return None
    value = float(text)
    if value <= 0:
        raise ValueError("must be more than 0")
    return value


def _valid(text: str) -> bool:
    try:
        parse_amount(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Field:
    """One editable number: declared once, drawn and read from this."""

    name: str
    label: str
    hint: str


FIELDS = (
    Field("daily_budget_usd", "Daily budget (USD)", "warn at 80 % and 100 % of a UTC day's spend"),
    Field(
        "monthly_budget_usd", "Monthly budget (USD)", "warn at 80 % and 100 % of a month's spend"
    ),
    Field("runway_alert_hours", "Runway alert (hours)", "warn when the money left lasts less"),
)


class SettingsScreen(Dialog[UserSettings | None]):
    """Edit budgets; returns the new settings, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]
    CSS_PATH = "settings.tcss"

    def __init__(self, current: UserSettings) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Budgets and alerts[/]  (empty = off)")
            for f in FIELDS:
                value = getattr(self.current, f.name)
                yield Label(f.label)
                yield Input(
                    "" if value is None else f"{value:g}",
                    id=f.name,
                    validators=[Function(_valid, "enter a positive number, or leave empty")],
                )
                yield Static(f.hint, classes="hint")
            with Horizontal(id="buttons", classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", variant="primary", id="save")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Save or cancel."""
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        """Validate every field, then return the new settings."""
        result = replace(self.current)
        for f in FIELDS:
            widget = self.query_one(f"#{f.name}", Input)
            try:
                setattr(result, f.name, parse_amount(widget.value))
            except ValueError:
                widget.focus()
                self.notify(
                    f"{f.label}: enter a positive number, or leave it empty", severity="error"
                )
                return
        self.dismiss(result)

    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)
