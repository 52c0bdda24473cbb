"""Read-only mode: ``hermes-dash serve`` without ``--allow-edit`` runs the dashboard so that
nothing it does changes a file or an OpenRouter key.

The refusal lives in the services that write (the routing writer and restore, a key's
limit, the user's settings), so hiding a key in the interface is never the only guard.
"""

from __future__ import annotations

READ_ONLY_HINT = "this dashboard is read-only (served without --allow-edit): nothing was changed"


class ReadOnlyError(Exception):
    """A write refused because the dashboard runs read-only."""


def refuse_if_read_only(read_only: bool, what: str) -> None:
    """Raise ReadOnlyError naming ``what`` when writes are off."""
    if read_only:
        raise ReadOnlyError(f"{what} refused: {READ_ONLY_HINT}")
