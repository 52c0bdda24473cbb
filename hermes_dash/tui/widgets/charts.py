"""Charts: a PlotextPlot subclass that owns its data and redraws from it."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from hermes_dash.calllog.records import SeriesPoint


def x_axis(series: list[SeriesPoint], end: float) -> tuple[list[float], str]:
    """Time relative to now: minutes for short windows, hours or days otherwise."""
    span = (end - series[0].t) if series else 3600.0
    if span <= 2 * 3600:
        return [(p.t - end) / 60.0 for p in series], "minutes ago"
    if span <= 2 * 86400:
        return [(p.t - end) / 3600.0 for p in series], "hours ago"
    return [(p.t - end) / 86400.0 for p in series], "days ago"


class SeriesChart(PlotextPlot):
    """One measure of a time series as bars (spend per interval, 429s per interval)."""

    def __init__(
        self,
        value: Callable[[SeriesPoint], float],
        title: str,
        color: str,
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._value = value
        self._title = title
        self._color = color
        self._series: list[SeriesPoint] = []
        self._overlay: list[float] | None = None
        self._end = 0.0
        # plotext builds the whole picture on every render (tens of ms): keep the last one
        # until the data, the size or the theme changes.
        self._version = 0
        self._cached: tuple[object, RenderResult] | None = None

    def show(
        self, series: list[SeriesPoint], end: float, overlay: list[float] | None = None
    ) -> None:
        """Keep the (bounded) data and redraw; ``overlay`` is drawn as a line over the bars."""
        self._series, self._end, self._overlay = series, end, overlay
        self.replot()

    def render(self) -> RenderResult:
        """The plot, rebuilt only when something it shows changed."""
        key = (self._version, self.size, self.app.theme)
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, super().render())
        return self._cached[1]

    def replot(self) -> None:
        """Clear, plot, refresh."""
        self._version += 1
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if self._series:
            xs, label = x_axis(self._series, self._end)
            # Full-block bars: a third of the build time of half-block ("hd") ones.
            plt.bar(xs, [self._value(p) for p in self._series], color=self._color)
            if self._overlay is not None:
                plt.plot(xs, self._overlay, marker="braille", color="cyan", label="key usage")
            lo = min(xs)
            ticks = [lo + (0 - lo) * i / 4 for i in range(5)]
            plt.xticks(ticks, [f"{t:.0f}" if abs(lo) >= 4 else f"{t:.1f}" for t in ticks])
            plt.xlabel(label)
        plt.title(self._title)
        self.refresh()
