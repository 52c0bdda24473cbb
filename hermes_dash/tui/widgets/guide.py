"""Words for an empty panel: what is missing before it can show anything, and the exact
command (or key) that fixes it, from the same checks as ``hermes-dash doctor``."""

from __future__ import annotations

from textual.content import Content

from hermes_dash.services.checks import Check, first_steps
from hermes_dash.tui import format as fmt

#: Checks the dashboard's ``i`` key fixes (it does what ``plugin install`` does).
INSTALL_FIXES = frozenset({"recorder_installed", "recorder_enabled", "recorder_version"})

#: Steps shown at most in a panel: the first ones are the ones to do first.
MAX_STEPS = 3


def _step(check: Check, with_key: bool, detailed: bool) -> list[fmt.Line]:
    mark = "[b red]✗[/]" if check.status == "fail" else "[b yellow]![/]"
    # The short form names the check only: the detailed one is on the same screen.
    detail = ": $detail" if detailed else ""
    lines: list[fmt.Line] = [
        fmt.markup(f"{mark} [b]$title[/]{detail}", title=check.title, detail=check.detail)
    ]
    if check.fix:
        key = "   [dim]or press[/] [b]i[/] [dim]to do it now[/]" if with_key else ""
        lines.append(fmt.markup(f"    [b cyan]$fix[/]{key}", fix=check.fix))
    return lines


def guide(checks: list[Check] | None, window: str, *, detailed: bool) -> Content:
    """The words for a panel with nothing logged in ``window``: the steps still to do
    (all of them when ``detailed``, else the first that keeps calls from being logged),
    or how to see further back."""
    steps = first_steps(checks or [])
    if not detailed:
        # A short panel names what keeps calls from being logged: a missing key does not.
        steps = [c for c in steps if c.id != "key"]
    lines: list[fmt.Line] = [f"[b]Nothing logged in the last {window}.[/]"]
    if not steps:
        lines.append(
            "The recorder is in place: calls appear here as Hermes makes them. "
            "[b]4[/] shows the last 30 days."
        )
        return fmt.join_lines(lines)
    for check in steps[: MAX_STEPS if detailed else 1]:
        lines += _step(check, check.id in INSTALL_FIXES, detailed)
    if detailed:
        lines.append("[dim]hermes-dash doctor checks all of it.[/]")
    return fmt.join_lines(lines)
