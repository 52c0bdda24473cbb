"""The account screen: every key of the OpenRouter account and its last 30 days per model
and upstream (management key), with today's spend that ``/activity`` cannot hold yet.

The same view as ``hermes-dash summary --account``, from the same service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.openrouter.errors import OpenRouterError
from hermes_dash.openrouter.management import ManagementClient
from hermes_dash.services import accountview as av
from hermes_dash.services import keybudget as kb
from hermes_dash.text import clean
from hermes_dash.tui.widgets.table import MeasuredTable


def _money(v: float | None) -> str:
    return "unknown" if v is None else kb.usd(v)


def _count(v: int | None) -> str:
    return "?" if v is None else f"{v:,}"


class AccountScreen(Screen[None]):
    """Keys with usage and limits, 30 days per model and upstream, and today's gap."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload"),
    ]
    CSS_PATH = "account.tcss"
    KEY_COLUMNS = ("key", "today", "week", "month", "limit", "left", "reset", "state")
    ACTIVITY_COLUMNS = (
        "model",
        "upstream",
        "days",
        "requests",
        "spend",
        "prompt tok",
        "completion tok",
        "reasoning tok",
    )

    def __init__(
        self,
        client: ManagementClient,
        store: CallStore | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.client = client
        self.store = store
        self.clock = clock
        self.view: av.AccountView | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="info")
        yield Static(Text("Keys of the account"), classes="title")
        yield MeasuredTable[object](id="keys", cursor_type="row", zebra_stripes=True)
        yield Static(Text("Last 30 completed UTC days"), id="activity-title", classes="title")
        yield MeasuredTable[object](id="activity", cursor_type="row", zebra_stripes=True)
        yield Static(id="gap")
        yield Footer()

    def on_mount(self) -> None:
        """Explain, then ask OpenRouter."""
        self.sub_title = "account"
        self.query_one("#keys", DataTable).add_columns(*self.KEY_COLUMNS)
        self.query_one("#activity", DataTable).add_columns(*self.ACTIVITY_COLUMNS)
        info = self.query_one("#info", Static)
        if not self.client.has_key:
            info.update(Text(kb.NO_MANAGEMENT_KEY))
            return
        info.update(
            Text(
                f"Every key of the account (management key {self.client.masked_key}); one key "
                "per machine or profile shows each as its own row. r reloads."
            )
        )
        self.query_one("#gap", Static).update(Text("Asking OpenRouter for /keys and /activity…"))
        self.load()

    def action_reload(self) -> None:
        """Ask OpenRouter again (what is on screen stays until the answer comes)."""
        if self.client.has_key:
            self.load()

    @work(exclusive=True, group="account", exit_on_error=False)
    async def load(self) -> None:
        """``/keys`` and ``/activity``; the call log's today off the UI thread."""
        try:
            keys, rows = await av.fetch_account(self.client)
            view = await asyncio.to_thread(av.build_view, keys, rows, self.clock(), self.store)
        except TimeoutError:
            self._failed("OpenRouter did not answer /keys and /activity in time")
            return
        except (OpenRouterError, CallLogError) as exc:
            self._failed(str(exc))
            return
        self.view = view
        self._fill(view)

    def _failed(self, message: str) -> None:
        """Say why once; the last good numbers stay on screen."""
        kept = " (showing the last good answer)" if self.view is not None else ""
        self.notify(message + kept, title="Account not loaded", severity="error", markup=False)

    def _fill(self, view: av.AccountView) -> None:
        keys = self.query_one("#keys", DataTable)
        keys.clear()
        for k in view.keys:
            keys.add_row(
                Text(clean(k.display_name, 40)),
                _money(k.usage_daily),
                _money(k.usage_weekly),
                _money(k.usage_monthly),
                "none" if k.limit is None else _money(k.limit),
                "-" if k.limit is None else _money(k.limit_remaining),
                Text(clean(k.limit_reset or "-", 12)),
                "disabled" if k.disabled else "active",
                key=k.hash,
            )
        table = self.query_one("#activity", DataTable)
        table.clear()
        for g in view.activity:
            table.add_row(
                Text(clean(g.model, 48)),
                Text(clean(g.upstream or "-", 24)),
                str(g.days),
                _count(g.requests),
                _money(g.usage_usd),
                _count(g.prompt_tokens),
                _count(g.completion_tokens),
                _count(g.reasoning_tokens),
            )
        span = f"{view.first_day} to {view.last_day}" if view.first_day else "no days yet"
        self.query_one("#activity-title", Static).update(
            Text(
                f"Last 30 completed UTC days ({span}): {_money(view.activity_usd)} billed, "
                "per model and upstream"
            )
        )
        self.query_one("#gap", Static).update(Text(view.gap.note()))

    async def on_unmount(self) -> None:
        """Close the management client's connections."""
        await self.client.aclose()
