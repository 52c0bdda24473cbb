"""The routing editor's what-if line: what the last 7 days would have cost under a draft.

It reads the call log (a 7-day breakdown), so it runs in a worker thread, after the form
has rested a moment, and only the newest draft's answer is shown.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import get_current_worker

from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.openrouter.records import Endpoint
from hermes_dash.routing.rules import RoutingRules
from hermes_dash.routing.simulate import WhatIf
from hermes_dash.services import routing as svc
from hermes_dash.text import clean
from hermes_dash.tui import format as fmt

#: How long the form must rest before the call log is read: a burst of key presses
#: (ticking a list, typing slugs) costs one read, for the last state.
DEBOUNCE_S = 0.3


class WhatIfLine(Static):
    """One line: the model's logged cost beside the cost at the draft's first choice."""

    def __init__(self, store: CallStore, *, id: str) -> None:
        super().__init__("", id=id)
        self.store = store
        self._timer: Timer | None = None
        #: Drafts asked about so far; an answer is shown only if none was asked since.
        self.asked = 0
        #: What-ifs computed (tests count the work a change costs).
        self.computed = 0

    def ask(self, model: str, endpoints: list[Endpoint], draft: RoutingRules, now: float) -> None:
        """Compute for this draft once the form rests; an older draft's answer is dropped."""
        self.settle(Text("What-if: computing…", style="dim"))
        asked = self.asked
        self._timer = self.set_timer(
            DEBOUNCE_S, lambda: self.compute(model, endpoints, draft, now, asked)
        )

    def settle(self, text: Text | str) -> None:
        """Show ``text``; anything still being computed is for an older draft now."""
        if self._timer is not None:
            self._timer.stop()
        self.asked += 1
        self.update(text)

    @work(thread=True, exclusive=True, group="whatif", exit_on_error=False)
    def compute(
        self,
        model: str,
        endpoints: list[Endpoint],
        draft: RoutingRules,
        now: float,
        asked: int,
    ) -> None:
        """The 7-day breakdown, off the UI thread, from the inputs given (the form may
        change meanwhile)."""
        worker = get_current_worker()
        try:
            answer: WhatIf | str | None = svc.what_if_for(self.store, model, endpoints, draft, now)
        except CallLogError as exc:
            answer = clean(f"What-if: the call log cannot be read: {exc}")
        self.computed += 1
        if not worker.is_cancelled:
            self.app.call_from_thread(self._done, answer, asked)

    def _done(self, answer: WhatIf | str | None, asked: int) -> None:
        # A newer draft asked since (its answer follows), or the editor was closed.
        if asked == self.asked and self.is_attached:
            self.update(describe(answer))


def describe(answer: WhatIf | str | None) -> Text | str:
    """The line for an answer: a result, no data, no eligible provider, or why it failed."""
    if isinstance(answer, str):
        return Text(answer, style="red")
    if answer is None:
        return "What-if: no logged calls to this model in the last 7 days."
    if answer.draft_usd is None:
        return "[red]What-if: these rules leave no eligible provider for this model.[/]"
    delta = answer.draft_usd - answer.actual_usd
    sign = "+" if delta >= 0 else "-"
    return fmt.lit(
        f"What-if, last 7 days of {answer.model}: logged {fmt.money(answer.actual_usd)}; at "
        f"first choice {answer.first_choice}: {fmt.money(answer.draft_usd)} "
        f"({sign}{fmt.money(abs(delta))})",
        None,
    )
