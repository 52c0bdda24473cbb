"""The help screen: what each key does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# hermes-dash keys

| key | does |
|---|---|
| `1` `2` `3` `4` | time window: 1 h, 24 h, 7 d, 30 d |
| `r` | refresh now (poll OpenRouter, re-read the call log) |
| `c` | calls browser: every logged call, with filters |
| `e` | routing editor for `provider_routing` in config.yaml |
| `b` | settings: daily and monthly budgets, runway alert |
| `o` | cost by source: cron jobs, platforms, CLI, subagents, auxiliary tasks; Enter drills in |
| `k` | key limits: the account's keys and the hard limits OpenRouter enforces |
| `a` | account: every key's usage, the last 30 days per model and upstream (`/activity`) |
| `h` | cost check: logged cost per model beside Hermes' own estimate and bill |
| `t` | switch between dark and light theme |
| `s` | sort the providers table by the next column |
| `ctrl+p` | command palette: every action by name |
| `?` | this help |
| `q` | quit |

Data: OpenRouter `/key` and `/credits` every 30 s (`--refresh`), the call log every
1.5 s. When OpenRouter fails, the last good numbers stay on screen marked **STALE**.
"""


class HelpScreen(ModalScreen[None]):
    """Keys and where the numbers come from."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 76; height: auto; max-height: 90%; border: thick $primary;
        background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Markdown(HELP)
