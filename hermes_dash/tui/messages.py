"""Messages the workers send to the screens: small dataclasses, one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from hermes_dash.calllog.records import CallRow
from hermes_dash.services.account import AccountState
from hermes_dash.services.dashboard import DashboardData

if TYPE_CHECKING:
    from hermes_dash.services.plugin import PluginStatus


@dataclass
class AccountUpdated(Message):
    """A poll of OpenRouter finished (well or not)."""

    state: AccountState
    polled_at: float


@dataclass
class CallLogUpdated(Message):
    """New call-log rows and, when anything changed, fresh aggregates."""

    data: DashboardData | None
    new_rows: list[CallRow]
    plugin: PluginStatus | None
    version: int  # the app state the aggregates were built from

    def can_replace(self, message: Message) -> bool:
        """A newer update makes an older, unprocessed one without new rows redundant."""
        return isinstance(message, CallLogUpdated) and not message.new_rows


@dataclass
class CallLogFailed(Message):
    """The call log could not be read this time."""

    reason: str
