"""The storage forecast as a chart: the geometry of a server-rendered SVG, worked out here so
the template only draws it (the console's policy allows no chart script).

Each organization gets a row: a bar of the share of its quota used so far, and below it a
runway from today to the day its quota runs out, ending in a point on that day. Runways
share one time scale, a year or the furthest day shown if later, so rows compare at a
glance; the table beside the chart gives the same figures exactly.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

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
# A year at least, so that a quota running out next week does not fill the whole width.
MIN_SCALE_DAYS = 365
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

    :param used_width: the used bar's width (capped at the chart's), ``None`` with no quota.
    :param runway_width: the runway's width to the day the quota runs out, ``None`` when it
        does not run out within the forecast.
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
    def point_x(self) -> float | None:
        """Where the runway's point is: the day the quota runs out."""
        return None if self.runway_width is None else PLOT_X + self.runway_width

    @property
    def point_y(self) -> float:
        return self.runway_y + BAR / 2


@dataclass(frozen=True)
class StorageChart:
    """The chart's rows, in the report's order (the soonest to run out first), and the
    number of days its full width stands for."""

    bars: tuple[StorageBar, ...]
    scale_days: int
    width: int = WIDTH
    plot_x: int = PLOT_X
    plot_width: int = PLOT_WIDTH
    bar_height: int = BAR

    @property
    def height(self) -> int:
        return max(len(self.bars), 1) * ROW_HEIGHT


def storage_chart(report: StorageReport) -> StorageChart:
    """The chart of ``report``'s forecasts."""
    days = [_days_left(forecast, report.today) for forecast in report.forecasts]
    scale = max([MIN_SCALE_DAYS, *(left for left in days if left is not None)])
    bars = []
    for row, (forecast, left) in enumerate(zip(report.forecasts, days, strict=True)):
        share = None if not forecast.quota_mib else forecast.used_mib / forecast.quota_mib
        bars.append(
            StorageBar(
                forecast=forecast,
                label=fit(forecast.organization),
                top=row * ROW_HEIGHT,
                used_share=share,
                used_width=None if share is None else round(min(share, 1.0) * PLOT_WIDTH, 2),
                days_left=left,
                runway_width=None if left is None else round(left / scale * PLOT_WIDTH, 2),
            )
        )
    return StorageChart(tuple(bars), scale)


def _days_left(forecast: StorageForecast, today: date) -> int | None:
    return None if forecast.runs_out_on is None else (forecast.runs_out_on - today).days
