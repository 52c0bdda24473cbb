"""Messages the workers send to the screens: small dataclasses, one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from hermes_dash.services.account import AccountState
from hermes_dash.services.dashboard import LogRead

if TYPE_CHECKING:
    from hermes_dash.services.checks import Check
    from hermes_dash.services.plugin import PluginStatus


@dataclass
class AccountUpdated(Message):
    """A poll of OpenRouter finished (well or not)."""

    state: AccountState
    polled_at: float


@dataclass
class CallLogUpdated(Message):
    """A call-log read finished: new rows and, when anything changed, fresh aggregates."""

    read: LogRead
    plugin: PluginStatus | None
    #: doctor's checks that need no network, made with the plugin's state (else None).
    checks: list[Check] | None = None


@dataclass
class CallLogFailed(Message):
    """The call log could not be read this time."""

    reason: str
