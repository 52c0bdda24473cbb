"""The plotext picture inside a :class:`~hermes_dash.tui.widgets.charts.SeriesChart`
(its own module: importing it loads plotext)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from hermes_dash.tui.widgets.charts import x_axis

if TYPE_CHECKING:
    from hermes_dash.tui.widgets.charts import SeriesChart


class BarPlot(PlotextPlot):
    """Bars of the chart's measure, with an optional line over them."""

    def __init__(self, chart: SeriesChart) -> None:
        super().__init__()
        self.chart = chart
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

    def replot(self) -> None:
        """Clear, plot, refresh."""
        self._version += 1
        chart, plt = self.chart, self.plt
        plt.clear_data()
        plt.clear_figure()
        if chart.series:
            xs, label = x_axis(chart.series, chart.end)
            # Full-block bars: a third of the build time of half-block ("hd") ones.
            values = [chart.value(p) for p in chart.series]
            plt.bar(xs, values, color=chart.color)
            if not any(values) and chart.overlay is None:
                # All zero (no 429s: the usual case): plotext would centre the axis on 0,
                # from -1 to 1; a count or a cost is never negative.
                plt.ylim(0, 1)
            if chart.overlay is not None:
                plt.plot(xs, chart.overlay, marker="braille", color="cyan", label="key usage")
            lo = min(xs)
            ticks = [lo + (0 - lo) * i / 4 for i in range(5)]
            plt.xticks(ticks, [f"{t:.0f}" if abs(lo) >= 4 else f"{t:.1f}" for t in ticks])
            plt.xlabel(label)
        plt.title(chart.chart_title)
        self.refresh()
