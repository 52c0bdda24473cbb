"""The start-up baseline: a Textual app that shows one label, launched like the dashboard."""

from textual.app import App, ComposeResult
from textual.widgets import Label


class Bare(App[None]):
    """One label."""

    def compose(self) -> ComposeResult:
        yield Label("hello")


if __name__ == "__main__":
    Bare().run()
