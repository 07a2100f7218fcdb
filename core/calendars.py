"""Business calendars: when a market works, for service-level clocks.

Public holidays come from the ``holidays`` library, including substituted working days
(mainland China works some weekends to bridge holidays). A call-centre calendar can run
around the clock, and then nothing is skipped.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from regiocrm.packs import BusinessHours

# A due time further away than this means the calendar can never be open (bad data).
HORIZON_DAYS = 3 * 366


class Service(enum.StrEnum):
    """Whose clock runs: an office or dealer keeps business hours; a call centre may not."""

    OFFICE = "office"
    CALL_CENTRE = "call_centre"


@dataclass(frozen=True)
class BusinessCalendar:
    """Business hours in a time zone, less public holidays; ``hours=None`` is 24×7."""

    timezone: ZoneInfo
    hours: BusinessHours | None
    public_holidays: holidays.HolidayBase | None

    def is_business_day(self, day: date) -> bool:
        if self.hours is None:
            return True
        calendar = self.public_holidays
        if calendar is not None and day in calendar:
            return False
        if day.weekday() in self.hours.days:
            return True
        # A weekend day the country declared a working day, to make up for a bridge holiday.
        return (
            calendar is not None
            and day.weekday() in calendar.weekend
            and calendar.is_working_day(day)
        )

    def due(self, start: datetime, duration: timedelta) -> datetime:
        """When ``duration`` of business time has passed after ``start``, in UTC.

        :raises ValueError: for a naive ``start``, a negative duration, or a due time past
            the end of the calendar (the last moment of the year 9999).
        """
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if duration < timedelta(0):
            raise ValueError("duration must not be negative")
        try:
            return self._due(start, duration)
        except OverflowError:
            raise ValueError(
                f"{duration} of business time from {start.isoformat()} ends past 9999-12-31,"
                " the last day the calendar holds"
            ) from None

    def _due(self, start: datetime, duration: timedelta) -> datetime:
        if self.hours is None:
            return (start + duration).astimezone(ZoneInfo("UTC"))
        remaining = duration
        cursor = start.astimezone(self.timezone)
        day = cursor.date()
        for _ in range(HORIZON_DAYS):
            if self.is_business_day(day):
                opens = datetime.combine(day, self.hours.opens, self.timezone)
                closes = datetime.combine(day, self.hours.closes, self.timezone)
                begin = max(cursor, opens)
                if begin < closes:
                    if remaining <= closes - begin:
                        return (begin + remaining).astimezone(ZoneInfo("UTC"))
                    remaining -= closes - begin
            day += timedelta(days=1)
            cursor = datetime.combine(day, time(0), self.timezone)
        raise ValueError(f"no business time within {HORIZON_DAYS} days")
