"""Cost by source: which cron job, gateway platform, CLI, subagent, auxiliary task,
session or profile the window's money went to (``summary --by``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hermes_dash.calllog.attribution import ACTIVE_HOURS, Part, parts
from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.services.settings import UserSettings

BY_CHOICES = ("source", "session", "platform", "task", "profile")
#: Hermes names a cron run's session ``cron_{job_id}_{YYYYmmdd_HHMMSS}``.
_CRON = re.compile(r"^cron_(?P<job>.+?)(?:_\d{8}_\d{6})?$")
#: Platforms that mean the user's own terminal.
_LOCAL_PLATFORMS = {"", "cli", "local", "tui"}


def source_of(session_id: str | None, platform: str | None, task: str | None) -> str:
    """cron:JOB, gateway:PLATFORM, cli, subagent or auxiliary:TASK."""
    if task and task != "main":
        return "subagent" if task == "subagent" else f"auxiliary:{task}"
    cron = _CRON.match(session_id or "")
    if cron:
        return f"cron:{cron.group('job')}"
    if platform == "cron":
        return "cron"
    if (platform or "").lower() in _LOCAL_PLATFORMS:
        return "cli"
    return f"gateway:{platform}"


KEYS: dict[str, Callable[[Part], str]] = {
    "source": lambda p: source_of(p.session_id, p.platform, p.task),
    "session": lambda p: p.session_id or "(no session)",
    "platform": lambda p: p.platform or "(unknown)",
    "task": lambda p: p.task or "(unknown)",
}


@dataclass
class Entry:
    """One line of the breakdown."""

    key: str
    calls: int = 0
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    rate_limited: int = 0
    overnight_cost_usd: float = 0.0
    sessions: int = 0

    @property
    def tokens(self) -> int:
        """Input and output tokens."""
        return self.input_tokens + self.output_tokens

    def add(self, p: Part) -> None:
        """Count one group in."""
        self.calls += p.calls
        self.attempts += p.attempts
        self.input_tokens += p.input_tokens
        self.output_tokens += p.output_tokens
        self.cost_usd += p.cost_usd
        self.rate_limited += p.rate_limited
        self.overnight_cost_usd += p.overnight_cost_usd
        self.sessions += 1 if p.session_id else 0


def group(groups: list[Part], key: Callable[[Part], str]) -> list[Entry]:
    """Entries by key, most expensive first (then busiest)."""
    out: dict[str, Entry] = {}
    for p in groups:
        k = key(p)
        out.setdefault(k, Entry(k)).add(p)
    return sorted(out.values(), key=lambda e: (-e.cost_usd, -e.calls, e.key))


def active_hours(prefs: UserSettings) -> tuple[int, int]:
    """The user's active hours [from, to) from the settings, sanitised."""
    start, end = prefs.active_hours_from, prefs.active_hours_to
    if start is None or end is None or not 0 <= start < end <= 24:
        return ACTIVE_HOURS
    return int(start), int(end)


def describe_overnight(active: tuple[int, int]) -> str:
    """'outside 07:00-24:00 local'."""
    return f"outside {active[0]:02d}:00-{active[1]:02d}:00 local"


def breakdown(
    store: CallStore, window: Window, by: str, active: tuple[int, int] = ACTIVE_HOURS
) -> list[Entry]:
    """The window's calls of one call log, grouped ``by`` source/session/platform/task."""
    return group(parts(store, window, active), KEYS[by])


def profile_breakdown(
    stores: dict[str, CallStore], window: Window, active: tuple[int, int] = ACTIVE_HOURS
) -> list[Entry]:
    """One entry per profile (each profile keeps its own call log)."""
    out = []
    for name, store in stores.items():
        entry = Entry(name)
        for p in parts(store, window, active):
            entry.add(p)
        out.append(entry)
    return sorted(out, key=lambda e: (-e.cost_usd, -e.calls, e.key))


def breakdown_json(entries: list[Entry]) -> list[dict[str, object]]:
    """The ``breakdown`` list of ``summary --json --by``: share is of the window's cost
    (of its calls when nothing was billed)."""
    total_cost = sum(e.cost_usd for e in entries)
    total_calls = sum(e.calls for e in entries)
    out: list[dict[str, object]] = []
    for e in entries:
        if total_cost > 0:
            share = e.cost_usd / total_cost
        else:
            share = e.calls / total_calls if total_calls else 0.0
        out.append(
            {
                "key": e.key,
                "calls": e.calls,
                "attempts": e.attempts,
                "tokens": e.tokens,
                "input_tokens": e.input_tokens,
                "output_tokens": e.output_tokens,
                "cost_usd": round(e.cost_usd, 6),
                "rate_limited": e.rate_limited,
                "share": round(share, 6),
                "overnight_cost_usd": round(e.overnight_cost_usd, 6),
            }
        )
    return out
