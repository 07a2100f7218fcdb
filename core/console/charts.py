"""The storage forecast as a chart: the geometry of a server-rendered SVG, worked out here so
the template only draws it (the console's policy allows no chart script).

Each organization gets a row: a bar of the share of its quota used so far, and below it a
runway from today to the day its quota runs out, ending in a point on that day. Runways
share one time scale, the coming year, so rows compare at a glance and a quota that lasts
decades does not shrink next month's to nothing: a runway past the year runs off the edge,
ending in an arrow. The table beside the chart gives the same figures exactly.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from regiocrm.services.storage import StorageForecast, StorageReport

WIDTH = 400
# The bars' left edge and length: room either side for the point at a runway's end.
PLOT_X = 8
PLOT_WIDTH = WIDTH - 2 * PLOT_X
ROW_HEIGHT = 84
# Where, within a row, the bars sit (their height is BAR).
USED_Y = 22
RUNWAY_Y = 58
BAR = 12
# The runways' scale: what matters to plan for is the coming year.
SCALE_DAYS = 365
# A bar of some use, however small its share, stays visible; none stays empty.
MIN_USED_WIDTH = 2.0
# The arrow ending a runway that runs past the year.
ARROW = 8
# Above the rows: the year's axis, its first and last day named.
AXIS_HEIGHT = 30
# Label width in half-ems: a wide (CJK) character counts two, at the chart's font size.
LABEL_UNITS = 48


def fit(text: str, units: int = LABEL_UNITS) -> str:
    """``text`` cut to ``units`` half-ems with an ellipsis, since SVG text does not wrap."""
    used = 0
    for position, character in enumerate(text):
        used += 2 if unicodedata.east_asian_width(character) in "WF" else 1
        if used > units:
            return text[: max(position - 1, 0)] + "…"
    return text


@dataclass(frozen=True)
class StorageBar:
    """One organization's row.

    :param used_width: the used bar's width (capped at the chart's; at least
        :data:`MIN_USED_WIDTH` for any use), ``None`` with no quota.
    :param runway_width: the runway's width to the day the quota runs out, or to the arrow at
        the chart's edge when that is past the year; ``None`` when it does not run out within
        the forecast.
    """

    forecast: StorageForecast
    label: str
    top: int
    used_share: float | None
    used_width: float | None
    days_left: int | None
    runway_width: float | None

    @property
    def used_y(self) -> int:
        return self.top + USED_Y

    @property
    def runway_y(self) -> int:
        return self.top + RUNWAY_Y

    @property
    def beyond(self) -> bool:
        """Whether the quota runs out after the chart's year."""
        return self.days_left is not None and self.days_left > SCALE_DAYS

    @property
    def point_x(self) -> float | None:
        """Where the runway's point is: the day the quota runs out."""
        return None if self.runway_width is None else PLOT_X + self.runway_width

    @property
    def point_y(self) -> float:
        return self.runway_y + BAR / 2

    @property
    def arrow(self) -> str:
        """The points of the arrow ending a runway past the year, at the chart's edge."""
        base = PLOT_X + PLOT_WIDTH - ARROW
        tip = WIDTH - 1
        return f"{base},{self.runway_y - 3} {tip},{self.point_y} {base},{self.runway_y + BAR + 3}"


@dataclass(frozen=True)
class StorageChart:
    """The chart's rows, in the report's order (the soonest to run out first), below an
    axis of the year from ``today`` their runways are drawn on."""

    bars: tuple[StorageBar, ...]
    today: date
    scale_days: int = SCALE_DAYS
    width: int = WIDTH
    plot_x: int = PLOT_X
    plot_width: int = PLOT_WIDTH
    bar_height: int = BAR
    axis_height: int = AXIS_HEIGHT

    @property
    def year_end(self) -> date:
        return self.today + timedelta(days=self.scale_days)

    @property
    def ticks(self) -> tuple[float, ...]:
        """Where the axis marks today and each quarter of the year."""
        return tuple(round(PLOT_X + PLOT_WIDTH * quarter / 4, 2) for quarter in range(5))

    @property
    def height(self) -> int:
        return self.axis_height + max(len(self.bars), 1) * ROW_HEIGHT


def storage_chart(report: StorageReport) -> StorageChart:
    """The chart of ``report``'s forecasts."""
    bars = []
    for row, forecast in enumerate(report.forecasts):
        share = None if not forecast.quota_mib else forecast.used_mib / forecast.quota_mib
        left = _days_left(forecast, report.today)
        bars.append(
            StorageBar(
                forecast=forecast,
                label=fit(forecast.organization),
                top=AXIS_HEIGHT + row * ROW_HEIGHT,
                used_share=share,
                used_width=None if share is None else _used_width(share),
                days_left=left,
                runway_width=None if left is None else _runway_width(left),
            )
        )
    return StorageChart(tuple(bars), report.today)


def _used_width(share: float) -> float:
    width = round(min(share, 1.0) * PLOT_WIDTH, 2)
    return max(width, MIN_USED_WIDTH) if share > 0 else 0.0


def _runway_width(days_left: int) -> float:
    if days_left > SCALE_DAYS:
        return float(PLOT_WIDTH - ARROW)
    return round(days_left / SCALE_DAYS * PLOT_WIDTH, 2)


def _days_left(forecast: StorageForecast, today: date) -> int | None:
    return None if forecast.runs_out_on is None else (forecast.runs_out_on - today).days
