"""Charts: a widget that owns a time series and draws it with plotext once armed.

plotext takes tens of milliseconds to import and to build a picture, so a chart is blank
on the dashboard's first frame and draws itself as soon as the app arms it, right after
that frame is on screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.widget import Widget

from hermes_dash.calllog.records import SeriesPoint

if TYPE_CHECKING:
    from hermes_dash.tui.widgets.plot import BarPlot, Bars


def x_unit(series: list[SeriesPoint], end: float) -> tuple[float, str]:
    """Seconds per unit of the x axis and its label: minutes for short windows, hours or
    days otherwise."""
    span = (end - series[0].t) if series else 3600.0
    if span <= 2 * 3600:
        return 60.0, "minutes ago"
    if span <= 2 * 86400:
        return 3600.0, "hours ago"
    return 86400.0, "days ago"


def x_axis(series: list[SeriesPoint], end: float) -> tuple[list[float], str]:
    """Time relative to now, in the unit :func:`x_unit` picks."""
    unit, label = x_unit(series, end)
    return [(p.t - end) / unit for p in series], label


class SeriesChart(Widget):
    """One measure of a time series as bars (spend per interval, 429s per interval)."""

    # Not laid out at all until armed: the first frame has less to draw.
    DEFAULT_CSS = """
    SeriesChart { height: 1fr; display: none; }
    SeriesChart.-armed { display: block; }
    """

    def __init__(
        self,
        value: Callable[[SeriesPoint], float],
        title: str,
        color: str,
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.value = value
        self.chart_title = title
        self.color = color
        self.series: list[SeriesPoint] = []
        self.overlay: list[float] | None = None
        #: Times (unix seconds) drawn as vertical marks: the routing changes.
        self.marks: tuple[float, ...] = ()
        self.end = 0.0
        self._plot: BarPlot | None = None

    @property
    def armed(self) -> bool:
        """Whether the chart draws (it is blank until armed)."""
        return self._plot is not None

    def show(
        self,
        series: list[SeriesPoint],
        end: float,
        overlay: list[float] | None = None,
        marks: tuple[float, ...] = (),
    ) -> None:
        """Keep the (bounded) data and redraw; ``overlay`` is drawn as a line over the bars,
        ``marks`` (unix seconds) as vertical lines."""
        self.series, self.end, self.overlay, self.marks = series, end, overlay, marks
        if self._plot is not None:
            self._plot.replot(self._bars())

    def arm(self) -> None:
        """Load plotext and draw from now on."""
        if self._plot is None:
            from hermes_dash.tui.widgets.plot import BarPlot

            self._plot = BarPlot()
            self.mount(self._plot)
            self.add_class("-armed")
            self._plot.replot(self._bars())

    def _bars(self) -> Bars:
        """The picture of the data held now (plot.py draws it, knowing nothing of this)."""
        from hermes_dash.tui.widgets.plot import Bars

        xs, label = x_axis(self.series, self.end) if self.series else ([], "")
        values = [self.value(p) for p in self.series]
        unit = x_unit(self.series, self.end)[0]
        marks = tuple((t - self.end) / unit for t in self.marks if self.series)
        title = self.chart_title + (" · │ routing change" if marks else "")
        return Bars(title, self.color, xs, values, label, self.overlay, marks)
