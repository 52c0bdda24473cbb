"""Sending alerts away from the terminal: webhooks (Slack- and Discord-compatible), ntfy,
the desktop, standard output. Each alert once, a recovery message when it clears, and
retries with backoff while a receiver is down (a message leaves the queue only once its
receiver took it, so nothing is sent twice after an outage).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hermes_dash.hermes.files import read_regular_bytes
from hermes_dash.services.alerts import Alert, severity_of
from hermes_dash.text import clean

if TYPE_CHECKING:
    import httpx

#: Retry delays double from this, up to RETRY_MAX_S.
RETRY_BASE_S = 2.0
RETRY_MAX_S = 300.0
#: Messages kept per channel while its receiver is down; the oldest go first.
QUEUE_MAX = 200
SEND_TIMEOUT_S = 10.0
#: The whole of one delivery: a receiver that drips its answer a byte at a time never
#: trips the per-read timeout, and must not hold its channel for ever.
SEND_DEADLINE_S = 30.0
#: Longest message line: session ids and models come from the call log, which any
#: program can write.
TEXT_MAX = 1000
_ALERT_FIELDS = ("key", "severity", "message", "group")
#: A state file larger than this is not one we wrote.
STATE_MAX_BYTES = 1024 * 1024
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
    def message(self) -> str:
        """The alert's message as one clean line: terminal sequences and line breaks in
        a session id or model name never reach a terminal, a phone or a chat."""
        return clean(self.alert.message, TEXT_MAX)

    @property
    def text(self) -> str:
        """The message line."""
        if self.kind == "recovered":
            return f"Recovered: {self.message}"
        return self.message


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
        "message": event.message,
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
    #: A drain is under way: a second one would send the same message twice.
    busy: bool = False
    delivered: int = 0


def load_active(path: Path) -> dict[str, tuple[set[str], Alert]]:
    """The conditions a previous run had reported; nothing when the file is unusable."""
    try:
        # Only a regular file of sane size: a FIFO would block the start for ever, a
        # symlink to /dev/zero would never end.
        data = json.loads(read_regular_bytes(path, limit=STATE_MAX_BYTES).decode("utf-8"))
        return {
            str(cond): (
                {str(k) for k in item["sent"]},
                Alert(
                    str(item["key"]),
                    severity_of(str(item["severity"])),
                    str(item["message"]),
                    str(cond),
                ),
            )
            for cond, item in data["active"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return {}


def load_pending(path: Path) -> list[dict[str, Any]]:
    """Messages a previous run had not delivered yet (its receiver was down)."""
    try:
        raw = read_regular_bytes(path, limit=STATE_MAX_BYTES)
        items = json.loads(raw.decode("utf-8"))["pending"]
        return [i for i in items if isinstance(i, dict)][: QUEUE_MAX * 8]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return []


def save_active(
    path: Path,
    active: dict[str, tuple[set[str], Alert]],
    log: Any,
    pending: list[dict[str, Any]] | None = None,
) -> None:
    """Write the active conditions atomically (a failure only costs a repeat later)."""
    data = {
        "pending": pending or [],
        "active": {
            cond: {
                "sent": sorted(sent),
                "key": a.key,
                "severity": a.severity,
                "message": a.message,
            }
            for cond, (sent, a) in active.items()
        },
    }
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        # O_EXCL | O_NOFOLLOW: a file or symlink planted at the temporary name is never
        # written through (it would overwrite whatever the link points at).
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=1))
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
            self._requeue(load_pending(state_path))

    def _requeue(self, pending: list[dict[str, Any]]) -> None:
        """Queue again what a stopped run still owed a channel: the conditions count as
        sent, so without this a message refused before a restart would never arrive."""
        for item in pending:
            try:
                box = self.outboxes[int(item["channel"])]
                if box.channel.name != item["name"]:
                    continue  # the channels changed between runs
                key, severity, message, group = (str(item.get(f) or "") for f in _ALERT_FIELDS)
                alert = Alert(key, severity_of(severity), message, group)
                box.queue.append(Event(str(item["kind"]), alert, float(item["at"])))
            except (KeyError, TypeError, ValueError, IndexError, OverflowError):
                continue

    def _pending(self) -> list[dict[str, Any]]:
        return [
            {"channel": n, "name": box.channel.name, "kind": e.kind, "at": e.at, **asdict(e.alert)}
            for n, box in enumerate(self.outboxes)
            for e in box.queue
        ]

    def save(self) -> None:
        """Keep the active conditions and the undelivered messages for the next run."""
        if self.state_path is not None:
            save_active(self.state_path, self.active, self._log, self._pending())

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
        if events:
            self.save()
        return events

    def next_due(self) -> float | None:
        """When the earliest queued message may be tried; None when nothing waits."""
        # A channel busy sending is not due: waking for it would spin until it is done.
        times = [b.next_try for b in self.outboxes if b.queue and not b.busy]
        return min(times) if times else None

    async def deliver(self) -> None:
        """Try every channel whose turn it is, in order, stopping at its first failure
        (order is kept; a down receiver is retried with doubling delays)."""
        await asyncio.gather(*(self._drain(b) for b in self.outboxes))

    async def _drain(self, box: _Outbox) -> None:
        if box.busy or not box.queue or self.clock() < box.next_try:
            return
        box.busy = True
        before = box.delivered
        try:
            await self._drain_box(box)
        finally:
            box.busy = False
            if box.delivered != before:
                self.save()  # what was delivered is not owed to the next run

    async def _drain_box(self, box: _Outbox) -> None:
        while box.queue:
            event = box.queue[0]
            try:
                try:
                    await asyncio.wait_for(box.channel.send(event), SEND_DEADLINE_S)
                except TimeoutError:
                    raise DeliveryError(f"no answer within {SEND_DEADLINE_S:g} s") from None
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
            box.delivered += 1
            if box.failures:
                self._log(f"hermes-dash watch: {box.channel.name} is taking messages again")
            box.failures = 0
            box.last_error = None
            box.next_try = 0.0
