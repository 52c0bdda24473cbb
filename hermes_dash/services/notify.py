"""Sending alerts away from the terminal: webhooks (Slack- and Discord-compatible), ntfy,
the desktop, standard output. Each alert once, a recovery message when it clears, and
retries with backoff while a receiver is down (a message leaves the queue only once its
receiver took it, so nothing is sent twice after an outage).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hermes_dash.hermes.files import read_regular_bytes
from hermes_dash.services.alerts import Alert
from hermes_dash.text import clean

if TYPE_CHECKING:
    import httpx

#: Retry delays double from this, up to RETRY_MAX_S.
RETRY_BASE_S = 2.0
RETRY_MAX_S = 300.0
#: Messages kept per channel while its receiver is down; the oldest go first.
QUEUE_MAX = 200
SEND_TIMEOUT_S = 10.0
#: Discord refuses longer ``content``.
DISCORD_MAX = 2000


@dataclass(frozen=True)
class Event:
    """An alert raised, or a condition recovered."""

    kind: str  # 'alert' | 'recovered'
    alert: Alert
    at: float

    @property
    def title(self) -> str:
        """A short title for channels that have one."""
        if self.kind == "recovered":
            return "hermes-dash: recovered"
        return "hermes-dash: " + ("ALERT" if self.alert.severity == "error" else "warning")

    @property
    def text(self) -> str:
        """The message line."""
        if self.kind == "recovered":
            return f"Recovered: {self.alert.message}"
        return self.alert.message


class DeliveryError(Exception):
    """A receiver did not take a message (down, refused, timed out)."""


class Channel(Protocol):
    """Somewhere alerts go."""

    name: str

    async def send(self, event: Event) -> None:
        """Deliver one event or raise DeliveryError."""


def webhook_body(event: Event) -> dict[str, Any]:
    """One body both Slack (``text``) and Discord (``content``) accept, with the alert's
    fields for any other receiver."""
    line = f"{event.title}: {event.text}"
    return {
        "text": line,
        "content": line[:DISCORD_MAX],
        "username": "hermes-dash",
        "event": event.kind,
        "key": clean(event.alert.key, 1000),  # a loop's key holds its session id
        "severity": event.alert.severity,
        "message": event.alert.message,
        "at": dt.datetime.fromtimestamp(event.at, dt.UTC).isoformat(),
    }


async def _post(http: httpx.AsyncClient, url: str, **kw: Any) -> None:
    import httpx

    try:
        response = await http.post(url, **kw)
    except httpx.HTTPError as exc:
        raise DeliveryError(type(exc).__name__) from None
    if response.status_code >= 300:
        raise DeliveryError(f"HTTP {response.status_code}")


@dataclass
class WebhookChannel:
    """A Slack or Discord incoming webhook, or any URL that takes JSON."""

    url: str
    http: httpx.AsyncClient
    name: str = "webhook"

    async def send(self, event: Event) -> None:
        """POST the JSON body."""
        await _post(self.http, self.url, json=webhook_body(event))


@dataclass
class NtfyChannel:
    """An ntfy topic URL (``https://ntfy.sh/TOPIC`` or a self-hosted server)."""

    url: str
    http: httpx.AsyncClient
    name: str = "ntfy"

    async def send(self, event: Event) -> None:
        """ntfy's HTTP format: the message as the body, the rest in headers."""
        if event.kind == "recovered":
            priority, tags = "low", "white_check_mark"
        elif event.alert.severity == "error":
            priority, tags = "high", "rotating_light"
        else:
            priority, tags = "default", "warning"
        headers = {
            "Title": event.title,
            "Priority": priority,
            "Tags": tags,
            "Content-Type": "text/plain; charset=utf-8",
        }
        await _post(self.http, self.url, content=event.text.encode("utf-8"), headers=headers)


@dataclass
class DesktopChannel:
    """``notify-send`` on a Linux desktop."""

    command: str
    name: str = "desktop"

    @classmethod
    def find(cls) -> DesktopChannel | None:
        """The channel when ``notify-send`` exists here."""
        path = shutil.which("notify-send")
        return cls(path) if path else None

    async def send(self, event: Event) -> None:
        """Run notify-send; a failure to show is a failure to deliver."""
        urgency = "critical" if event.alert.severity == "error" else "normal"
        if event.kind == "recovered":
            urgency = "low"
        try:
            proc = await asyncio.create_subprocess_exec(
                self.command, "-a", "hermes-dash", "-u", urgency, event.title, event.text,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            code = await asyncio.wait_for(proc.wait(), SEND_TIMEOUT_S)
        except (OSError, TimeoutError):
            raise DeliveryError("notify-send failed") from None
        if code != 0:
            raise DeliveryError(f"notify-send exited {code}")


@dataclass
class StdoutChannel:
    """One line per event on standard output (for logs, journald, cron mail)."""

    name: str = "stdout"

    async def send(self, event: Event) -> None:
        """Print the line."""
        stamp = dt.datetime.fromtimestamp(event.at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        mark = "OK" if event.kind == "recovered" else event.alert.severity.upper()
        print(f"{stamp}Z {mark:<7} {event.text}", flush=True)
        sys.stdout.flush()


@dataclass
class _Outbox:
    channel: Channel
    queue: deque[Event] = field(default_factory=lambda: deque(maxlen=QUEUE_MAX))
    failures: int = 0
    next_try: float = 0.0
    last_error: str | None = None


def load_active(path: Path) -> dict[str, tuple[set[str], Alert]]:
    """The conditions a previous run had reported; nothing when the file is unusable."""
    try:
        data = json.loads(read_regular_bytes(path).decode("utf-8"))  # a FIFO never blocks
        return {
            str(cond): (
                {str(k) for k in item["sent"]},
                Alert(str(item["key"]), str(item["severity"]), str(item["message"]), str(cond)),
            )
            for cond, item in data["active"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def save_active(path: Path, active: dict[str, tuple[set[str], Alert]], log: Any) -> None:
    """Write the active conditions atomically (a failure only costs a repeat later)."""
    data = {
        "active": {
            cond: {
                "sent": sorted(sent),
                "key": a.key,
                "severity": a.severity,
                "message": a.message,
            }
            for cond, (sent, a) in active.items()
        }
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log(f"hermes-dash watch: cannot save {path.name} ({exc.strerror})")


class Notifier:
    """Turns each evaluation's alerts into events and delivers them to every channel."""

    def __init__(
        self,
        channels: list[Channel],
        *,
        retry_base_s: float = RETRY_BASE_S,
        retry_max_s: float = RETRY_MAX_S,
        clock: Any = time.time,
        log: Any = None,
        state_path: Path | None = None,
    ):
        self.outboxes = [_Outbox(c) for c in channels]
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.clock = clock
        #: condition -> the keys already sent in its current episode, and its latest alert
        self.active: dict[str, tuple[set[str], Alert]] = {}
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        #: Where the active conditions survive a restart (systemd, cron): what was sent
        #: before is not sent again, and what cleared meanwhile still gets its recovery.
        self.state_path = state_path
        if state_path is not None:
            self.active = load_active(state_path)

    def observe(self, alerts: list[Alert]) -> list[Event]:
        """Queue what is new and what recovered since the last evaluation."""
        now = self.clock()
        events: list[Event] = []
        seen: set[str] = set()
        for alert in alerts:
            seen.add(alert.condition)
            sent, _ = self.active.get(alert.condition, (set(), alert))
            if alert.key not in sent:
                sent.add(alert.key)
                events.append(Event("alert", alert, now))
            self.active[alert.condition] = (sent, alert)
        for condition in [c for c in self.active if c not in seen]:
            _, last = self.active.pop(condition)
            events.append(Event("recovered", last, now))
        for box in self.outboxes:
            box.queue.extend(events)
        if events and self.state_path is not None:
            save_active(self.state_path, self.active, self._log)
        return events

    def next_due(self) -> float | None:
        """When the earliest queued message may be tried; None when nothing waits."""
        times = [b.next_try for b in self.outboxes if b.queue]
        return min(times) if times else None

    async def deliver(self) -> None:
        """Try every channel whose turn it is, in order, stopping at its first failure
        (order is kept; a down receiver is retried with doubling delays)."""
        await asyncio.gather(*(self._drain(b) for b in self.outboxes))

    async def _drain(self, box: _Outbox) -> None:
        if not box.queue or self.clock() < box.next_try:
            return
        while box.queue:
            event = box.queue[0]
            try:
                await box.channel.send(event)
            except DeliveryError as exc:
                box.failures += 1
                delay = min(self.retry_max_s, self.retry_base_s * 2 ** (box.failures - 1))
                box.next_try = self.clock() + delay
                if str(exc) != box.last_error:
                    self._log(
                        f"hermes-dash watch: {box.channel.name} did not take a message "
                        f"({exc}); retrying with backoff"
                    )
                box.last_error = str(exc)
                return
            box.queue.popleft()
            if box.failures:
                self._log(f"hermes-dash watch: {box.channel.name} is taking messages again")
            box.failures = 0
            box.last_error = None
            box.next_try = 0.0
