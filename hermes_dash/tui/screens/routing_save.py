"""Saving and restoring in the routing editor: every write shows its diff first, goes
through the safe writer with a backup, and is recorded in the routing history."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hermes_dash.hermes.config import ConfigError
from hermes_dash.hermes.writer import list_backups
from hermes_dash.routing.rules import errors_in, validate
from hermes_dash.services import routing as svc
from hermes_dash.services import routing_data as data
from hermes_dash.services.readonly import READ_ONLY_HINT, ReadOnlyError
from hermes_dash.text import clean
from hermes_dash.tui.screens.dialogs import ConfirmDiff, PickBackup

if TYPE_CHECKING:
    from collections.abc import Callable

    from hermes_dash.routing.history import RoutingHistory
    from hermes_dash.tui.screens.routing import RoutingScreen


def _refused(screen: RoutingScreen, exc: ReadOnlyError) -> None:
    screen.notify(str(exc), title="Read-only", severity="error", markup=False)


def _history_problem(screen: RoutingScreen, problem: str | None) -> None:
    """The write stands; say why the routing history could not record it."""
    if problem:
        screen.notify(clean(problem), title="Changes", severity="warning", markup=False)


def save_with_confirmation(screen: RoutingScreen) -> None:
    """Validate, show the exact diff, write after confirmation."""
    if screen.settings.read_only:  # said before the diff, not after the user confirms
        _refused(screen, ReadOnlyError(f"saving config.yaml refused: {READ_ONLY_HINT}"))
        return
    if screen.doc is None:
        screen.notify("config.yaml could not be read: nothing to save", severity="error")
        return
    if screen.fill_error is not None or not screen.form_ready:
        screen.notify(
            screen.fill_error or "the form is still loading",
            title="Not saved",
            severity="error",
            markup=False,
        )
        return
    draft, changed = screen.draft_and_changes()
    errors = errors_in(validate(draft, screen.known))
    if errors:
        screen.notify(
            clean("; ".join(map(str, errors))),
            title="Not saved",
            severity="error",
            markup=False,
        )
        return
    if not changed:
        screen.notify("No change to save.")
        return
    try:
        proposal = svc.propose_routing(screen.doc, draft, changed)
    except ConfigError as exc:
        screen.notify(clean(exc), title="Not saved", severity="error", markup=False)
        return
    if not proposal.changed:
        screen.notify("No change to save.")
        return

    def confirmed(ok: bool | None) -> None:
        if not ok:
            return

        def write(history: RoutingHistory) -> str:
            backup = svc.save(
                proposal, screen.settings.paths, history, "editor",
                read_only=screen.settings.read_only,
            )  # fmt: skip
            name = backup.name if backup else "none (new file)"
            return f"Saved. Backup: {name}. {svc.RESTART_NOTE}"

        _write(screen, write, "Not saved")

    screen.app.push_screen(ConfirmDiff(f"Write {screen.config_path}?", proposal.diff()), confirmed)


def restore_with_pick(screen: RoutingScreen) -> None:
    """Pick a backup and put it back."""
    if screen.settings.read_only:
        _refused(screen, ReadOnlyError(f"restoring config.yaml refused: {READ_ONLY_HINT}"))
        return

    def chosen(backup: Path | None) -> None:
        if backup is None:
            return

        def write(history: RoutingHistory) -> str:
            svc.restore(
                backup, screen.config_path, screen.settings.paths, history, "editor restore",
                read_only=screen.settings.read_only,
            )  # fmt: skip
            return f"Restored {backup.name}. {svc.RESTART_NOTE}"

        _write(screen, write, "Not restored")

    screen.app.push_screen(PickBackup(list_backups(screen.settings.paths.backups)), chosen)


def _write(screen: RoutingScreen, write: Callable[[RoutingHistory], str], failure: str) -> None:
    """Run one confirmed write of config.yaml (it records itself in the history), say how
    it went, and reload the form from the file."""
    history = data.history_for(screen.settings)
    try:
        done = write(history)
    except ReadOnlyError as exc:
        _refused(screen, exc)
        return
    except ConfigError as exc:
        screen.notify(clean(exc), title=failure, severity="error", markup=False)
        return
    screen.notify(clean(done), title="provider_routing", timeout=8, markup=False)
    _history_problem(screen, history.problem)
    screen.load()
