"""The key-limits screen: the account's keys and the hard limits OpenRouter enforces.

Setting a limit goes through the same code as ``hermes-dash budget set``: the key's
before → after is shown and must be confirmed before anything is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Select, Static

from hermes_dash.calllog.signals import last_refusal
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.openrouter.errors import OpenRouterError
from hermes_dash.openrouter.management import LIMIT_RESETS, KeyRecord, ManagementClient
from hermes_dash.services import keybudget as kb
from hermes_dash.services.readonly import READ_ONLY_HINT, ReadOnlyError
from hermes_dash.text import clean
from hermes_dash.tui.screens.dialogs import Dialog, YesNoDialog
from hermes_dash.tui.widgets.table import MeasuredTable


def _money(v: float | None) -> str:
    return "-" if v is None else kb.usd(v)


class SetLimitDialog(Dialog[kb.LimitChange | None]):
    """Amount and reset period for one key; returns the planned change."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, key: KeyRecord) -> None:
        super().__init__()
        self.key = key

    def compose(self) -> ComposeResult:
        with Vertical():
            # Key names and resets come from the server: cleaned of terminal sequences.
            yield Static(
                Text(f"Hard limit for key '{clean(self.key.display_name, 60)}'", style="bold")
            )
            yield Label("Limit (USD)")
            yield Input(f"{self.key.limit:g}" if self.key.limit else "", id="amount")
            yield Label("Resets")
            yield Select(
                [(r, r) for r in LIMIT_RESETS],
                value=self.key.limit_reset if self.key.limit_reset in LIMIT_RESETS else "daily",
                allow_blank=False,
                id="reset",
            )
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Next", variant="primary", id="next")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Next or cancel."""
        if event.button.id == "next":
            self.action_next()
        else:
            self.action_cancel()

    def on_input_submitted(self, _: Input.Submitted) -> None:
        """Enter in the amount means next."""
        self.action_next()

    def action_next(self) -> None:
        """Validate, then return the change for confirmation."""
        text = self.query_one("#amount", Input).value.strip().lstrip("$").replace(",", "")
        reset = str(self.query_one("#reset", Select).value)
        try:
            change = kb.plan_change(self.key, float(text), reset)
        except ValueError:
            self.notify(
                f"enter an amount of USD from {kb.usd(kb.MIN_LIMIT_USD)} to "
                f"{kb.usd(kb.MAX_LIMIT_USD)}",
                severity="error",
                markup=False,
            )
            return
        self.dismiss(change)

    def action_cancel(self) -> None:
        """Change nothing."""
        self.dismiss(None)


class ConfirmLimit(YesNoDialog):
    """Before → after of a key's limit; True to send it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("y", "confirm", "Set")]

    def __init__(self, change: kb.LimitChange) -> None:
        super().__init__()
        self.change = change

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Set this limit?", style="bold"))
            yield Static(Text(clean(self.change.summary())), id="change")
            yield Static(
                Text(
                    "OpenRouter enforces it for every caller of the key (402 once reached).",
                    style="dim",
                )
            )
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Set (y)", variant="primary", id="confirm")


class KeyLimitsScreen(Screen[None]):
    """Every key of the account: usage today/week/month, limit, reset, BYOK."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("l", "set_limit", "Set limit"),
        Binding("r", "reload", "Reload"),
    ]
    CSS_PATH = "keys.tcss"
    COLUMNS = ("key", "hash", "today", "week", "month", "limit", "left", "reset", "next reset")

    def __init__(
        self,
        client: ManagementClient,
        store: CallStore | None,
        clock: Callable[[], float] = time.time,
        *,
        read_only: bool = False,
    ) -> None:
        super().__init__()
        self.client = client
        self.store = store
        self.clock = clock
        self.read_only = read_only
        self.keys: list[KeyRecord] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="info")
        yield MeasuredTable[object](id="keys", cursor_type="row", zebra_stripes=True)
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        """Explain, then list the keys."""
        self.sub_title = "key limits"
        table = self.query_one(DataTable)
        table.add_columns(*self.COLUMNS, "BYOK")
        self._show_refusal()
        if not self.client.has_key:
            self.query_one("#info", Static).update(Text(kb.NO_MANAGEMENT_KEY))
            return
        self.query_one("#info", Static).update(
            Text(
                "Limits here are enforced by OpenRouter itself, for every caller of the key "
                f"(management key {self.client.masked_key}). l sets the selected key's limit."
            )
        )
        self.load_keys()

    def _show_refusal(self) -> None:
        """The newest 402 of the last day, explained by its limit source."""
        if self.store is None:
            return
        now = self.clock()
        try:
            refusal = last_refusal(self.store, now - 86400)
        except CallLogError:
            return
        if refusal is not None:
            why = kb.explain_402(refusal.limit_source, self._reset_of_current(), now)
            self.query_one("#status", Static).update(Text(f"Last 402: {why}", style="red"))

    def _reset_of_current(self) -> str | None:
        resets = {k.limit_reset for k in self.keys if k.limit is not None}
        return resets.pop() if len(resets) == 1 else None

    @work(exclusive=True, group="keys", exit_on_error=False)
    async def load_keys(self) -> None:
        """``GET /keys`` (every page)."""
        try:
            keys = await self.client.list_keys()
        except OpenRouterError as exc:
            self.query_one("#status", Static).update(Text(str(exc), style="red"))
            return
        self.keys = keys
        self._fill()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        now = self.clock()
        for k in self.keys:
            nxt = kb.next_reset(k.limit_reset, now) if k.limit is not None else None
            table.add_row(
                Text(clean(k.display_name, 60) + (" (disabled)" if k.disabled else "")),
                Text(clean(k.hash[:10])),
                _money(k.usage_daily),
                _money(k.usage_weekly),
                _money(k.usage_monthly),
                _money(k.limit),
                _money(k.limit_remaining),
                Text(clean(k.limit_reset or "-", 12)),
                "-" if nxt is None else f"in {kb.until(nxt, now)}",
                _money(k.byok_usage),
                key=k.hash,
            )
        self._show_refusal()

    def selected(self) -> KeyRecord | None:
        """The key under the cursor."""
        table = self.query_one(DataTable)
        if not self.keys or table.cursor_row < 0 or table.cursor_row >= len(self.keys):
            return None
        return self.keys[table.cursor_row]

    def action_reload(self) -> None:
        """List the keys again."""
        if self.client.has_key:
            self.load_keys()

    def action_set_limit(self) -> None:
        """Amount and period, then before → after, then PATCH."""
        if self.read_only:
            self.notify(
                f"setting a key limit refused: {READ_ONLY_HINT}",
                title="Read-only",
                severity="error",
                markup=False,
            )
            return
        key = self.selected()
        if key is None:
            self.notify(
                "no key selected" if self.client.has_key else "needs a management key",
                severity="warning",
            )
            return

        def planned(change: kb.LimitChange | None) -> None:
            if change is None:
                return

            def confirmed(ok: bool | None) -> None:
                if ok:
                    self.apply(change)
                else:
                    self.notify("nothing changed")

            self.app.push_screen(ConfirmLimit(change), confirmed)

        self.app.push_screen(SetLimitDialog(key), planned)

    @work(exclusive=True, group="set-limit", exit_on_error=False)
    async def apply(self, change: kb.LimitChange) -> None:
        """Send the change (the CLI's code); say why in one line when it fails."""
        try:
            updated = await kb.apply_change(self.client, change, read_only=self.read_only)
        except ReadOnlyError as exc:
            self.notify(str(exc), title="Read-only", severity="error", markup=False)
            return
        except OpenRouterError as exc:
            self.notify(str(exc), title="Limit not changed", severity="error", markup=False)
            return
        self.keys = [updated if k.hash == updated.hash else k for k in self.keys]
        self._fill()
        self.notify(
            clean(
                f"key '{updated.display_name}': "
                f"{kb.describe_limit(updated.limit, updated.limit_reset)}"
            ),
            title="Limit set",
            markup=False,
        )

    async def on_unmount(self) -> None:
        """Close the management client's connections."""
        await self.client.aclose()
