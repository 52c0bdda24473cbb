"""The plotext picture inside a chart widget (its own module: importing it loads plotext).

It knows nothing of the chart that holds it: the chart hands it the numbers to draw.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import RenderResult
from textual_plotext import PlotextPlot


@dataclass(frozen=True)
class Bars:
    """What one picture shows: bars over an x axis, and an optional line over them."""

    title: str
    color: str
    xs: list[float]
    values: list[float]
    x_label: str
    overlay: list[float] | None = None
    marks: tuple[float, ...] = ()
    """x positions of vertical lines (routing changes)."""


class BarPlot(PlotextPlot):
    """Bars of a measure, with an optional line over them."""

    def __init__(self) -> None:
        super().__init__()
        # plotext builds the whole picture on every render (tens of ms): keep the last one
        # until the data, the size or the theme changes.
        self._version = 0
        self._cached: tuple[object, RenderResult] | None = None

    def render(self) -> RenderResult:
        """The plot, rebuilt only when something it shows changed."""
        key = (self._version, self.size, self.app.theme)
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, super().render())
        return self._cached[1]

    def replot(self, bars: Bars) -> None:
        """Clear, plot ``bars``, refresh."""
        self._version += 1
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if bars.xs:
            # Full-block bars: a third of the build time of half-block ("hd") ones.
            plt.bar(bars.xs, bars.values, color=bars.color)
            if not any(bars.values) and bars.overlay is None:
                # All zero (no 429s: the usual case): plotext would centre the axis on 0,
                # from -1 to 1; a count or a cost is never negative.
                plt.ylim(0, 1)
            if bars.overlay is not None:
                plt.plot(bars.xs, bars.overlay, marker="braille", color="cyan", label="key usage")
            for x in bars.marks:
                plt.vline(x, "magenta")
            lo = min(bars.xs)
            ticks = [lo + (0 - lo) * i / 4 for i in range(5)]
            plt.xticks(ticks, [f"{t:.0f}" if abs(lo) >= 4 else f"{t:.1f}" for t in ticks])
            plt.xlabel(bars.x_label)
        plt.title(bars.title)
        self.refresh()
