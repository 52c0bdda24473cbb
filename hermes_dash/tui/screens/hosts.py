"""Choosing the fleet's host: every host, or one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from hermes_dash.tui import format as fmt
from hermes_dash.tui.screens.dialogs import Dialog

#: The option that means every host (no host label can be empty: Prometheus drops it).
ALL_HOSTS = ""


class HostPicker(Dialog[str | None]):
    """A list of the hosts Prometheus knows; returns one, ALL_HOSTS, or None (cancel)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    CSS_PATH = "hosts.tcss"

    def __init__(self, label: str, hosts: list[str], current: str | None) -> None:
        super().__init__()
        self.label = label
        self.hosts = hosts
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(fmt.markup("Show [b]$label[/]:", label=self.label))
            options = [Option("all hosts", id="all")]
            # Host names come from Prometheus' labels: shown literally.
            options += [Option(fmt.lit(h), id=f"h{i}") for i, h in enumerate(self.hosts)]
            picker = OptionList(*options, id="hosts")
            if self.current in self.hosts:
                picker.highlighted = 1 + self.hosts.index(self.current)
            yield picker

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Return the host chosen."""
        option_id = event.option.id or "all"
        self.dismiss(ALL_HOSTS if option_id == "all" else self.hosts[int(option_id[1:])])
