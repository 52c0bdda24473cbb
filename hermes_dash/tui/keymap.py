"""Every key of the dashboard in one table.

The app's and the dashboard's bindings, the command palette, the help screen and the
README's key table (a test compares it) are all made from :data:`KEYS`: a key added here
shows up everywhere, and nowhere else needs editing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual.binding import Binding, BindingType

#: Where a key is bound: on the app (every screen) or on the dashboard screen only.
Scope = Literal["app", "dashboard"]

#: How the help and the README write a key Textual names otherwise.
_SHOWN = {"question_mark": "?"}


@dataclass(frozen=True)
class Command:
    """One key, the action it runs, and how the footer and the palette name it."""

    key: str
    """Textual's name of the key (``question_mark``)."""
    action: str
    """The action, run on the app (or on the dashboard for a dashboard-scoped row)."""
    title: str
    """The command palette's title; empty keeps it out of the palette (Textual has one)."""
    help: str = ""
    """The palette's line under the title."""
    footer: str | None = None
    """The footer's label; None keeps the key out of the footer."""

    @property
    def action_name(self) -> str:
        """The action without its arguments (``window`` for ``window('1h')``)."""
        return self.action.split("(", 1)[0]


@dataclass(frozen=True)
class KeyRow:
    """One row of the help screen and of the README's key table."""

    does: str
    commands: tuple[Command, ...] = ()
    scope: Scope = "app"
    dashboard_only: bool = False
    """Whether it acts on the dashboard only (from another screen it does nothing)."""
    keys: tuple[str, ...] = ()
    """Keys Textual binds itself (``ctrl+p``), for a row without commands."""

    @property
    def shown_keys(self) -> str:
        """The key column: ```1` `2` `3` `4```."""
        keys = [c.key for c in self.commands] or list(self.keys)
        return " ".join(f"`{_SHOWN.get(k, k)}`" for k in keys)


def _window(key: str, name: str) -> Command:
    return Command(key, f"window('{name}')", f"Window: {name}", f"Show the last {name} (key {key})")


# The order of the rows is the order of the footer, the help and the README.
KEYS: tuple[KeyRow, ...] = (
    KeyRow(
        "window: 1 h, 24 h, 7 d, 30 d",
        (_window("1", "1h"), _window("2", "24h"), _window("3", "7d"), _window("4", "30d")),
        dashboard_only=True,
    ),
    KeyRow("quit", (Command("q", "quit", "", footer="Quit"),)),
    KeyRow(
        "refresh now: poll OpenRouter, re-read the call log",
        (
            Command(
                "r",
                "refresh",
                "Refresh now",
                "Poll OpenRouter and re-read the call log",
                "Refresh",
            ),
        ),
    ),
    KeyRow(
        "routing editor for `provider_routing` in config.yaml",
        (
            Command(
                "e", "routing", "Routing editor", "Edit provider_routing in config.yaml", "Routing"
            ),
        ),
        dashboard_only=True,
    ),
    KeyRow(
        "calls browser: the whole log (one row per attempt) with filters (model, provider, "
        "status, session) and the detail of one call: its task, endpoint, time to first "
        'token, and for a retried call "1 call, 3 attempts, 2.90 s waiting on 429s, 50 ms '
        'on the wire"',
        (Command("c", "calls", "Calls browser", "Every logged call, with filters", "Calls"),),
        dashboard_only=True,
    ),
    KeyRow(
        "budgets and alerts: daily and monthly budgets, runway alert",
        (
            Command(
                "b", "settings", "Budgets", "Daily and monthly budgets, runway alert", "Budgets"
            ),
        ),
        dashboard_only=True,
    ),
    KeyRow(
        "key limits: every key of the account, its usage and hard limit; `l` sets a limit",
        (
            Command(
                "k",
                "key_limits",
                "Key limits",
                "The account's keys and the limits OpenRouter enforces",
                "Key limits",
            ),
        ),
        dashboard_only=True,
    ),
    KeyRow(
        "account: every key's usage and limit, the last 30 days per model and upstream "
        "(`/activity`), and today's spend that `/activity` does not hold yet",
        (
            Command(
                "a",
                "account",
                "Account",
                "Every key of the account and its last 30 days per model and upstream",
                "Account",
            ),
        ),
        dashboard_only=True,
    ),
    KeyRow(
        "cost by source: cron jobs, platforms, CLI, subagents, auxiliary tasks; Enter "
        "drills in to sessions",
        (
            Command(
                "o",
                "sources",
                "Cost by source",
                "Cron jobs, platforms, subagents, tasks; drill to sessions",
                "Sources",
            ),
        ),
        dashboard_only=True,
    ),
    KeyRow(
        "cost check: our logged cost per model beside Hermes' own estimate and actual "
        "cost, and Hermes' own calls per task (main, subagent, title generation, "
        "compression…) from `state.db`'s `session_model_usage`",
        (
            Command(
                "h",
                "cost_check",
                "Cost check",
                "Logged cost beside Hermes' own numbers",
                "Cost check",
            ),
        ),
        dashboard_only=True,
    ),
    KeyRow(
        "install the recorder plugin into the Hermes home and enable it, after a "
        "confirmation showing the config.yaml diff (`y` installs, `n` or escape changes "
        "nothing)",
        (
            Command(
                "i",
                "install_recorder",
                "Install the recorder",
                "Copy the recorder plugin into the Hermes home and enable it (shows the "
                "config.yaml diff first)",
            ),
        ),
        dashboard_only=True,
    ),
    KeyRow(
        "dark / light theme",
        (Command("t", "toggle_theme", "Toggle dark/light", "Switch the theme"),),
    ),
    KeyRow(
        "sort the providers table by its next column",
        (
            Command(
                "s",
                "sort_providers",
                "Sort providers",
                "Sort the providers table by its next column",
                "Sort providers",
            ),
        ),
        scope="dashboard",
        dashboard_only=True,
    ),
    KeyRow(
        "help: these keys",
        (Command("question_mark", "help", "Help", "Keys and where the numbers come from", "Help"),),
    ),
    KeyRow("command palette: every action by name", keys=("ctrl+p",)),
)

#: Actions that change what the dashboard shows or open a screen over it: from any
#: other screen they would stack copies of screens or act on a dashboard out of sight.
DASHBOARD_ACTIONS = frozenset(
    c.action_name for row in KEYS if row.dashboard_only for c in row.commands
)


def bindings(scope: Scope) -> list[BindingType]:
    """The bindings of one scope, in the table's order."""
    return [
        Binding(c.key, c.action, c.footer or c.title, show=c.footer is not None)
        for row in KEYS
        if row.scope == scope
        for c in row.commands
    ]


def markdown_rows() -> list[str]:
    """The key table as Markdown rows (the help screen's, and the README's)."""
    return [f"| {row.shown_keys} | {row.does} |" for row in KEYS]
