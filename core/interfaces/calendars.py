"""Business calendars: when a market works, for service-level clocks.

Public holidays come from the ``holidays`` library, including substituted working days
(mainland China works some weekends to bridge holidays). A call-centre calendar can run
around the clock, and then nothing is skipped.

Where a country's holidays differ between its subdivisions (Australia's states), an
organization's clock runs on its own subdivision's calendar, and the market's clock (no
organization) stops on the days that are holidays in every subdivision: Boxing Day
observed on Monday 28 December 2026 is one, though the library's national calendar has no
observed days for Australia; the King's Birthday, in June in most states but not in
Queensland or Western Australia, is not.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
import pycountry

from regiocrm.interfaces.packs import BusinessHours

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


@lru_cache(maxsize=32)
def iso_subdivisions(country: str) -> tuple[str, ...]:
    """The ISO 3166-2 subdivisions of ``country`` by their codes' suffix (``NSW`` for
    AU-NSW), sorted; none for a country ISO 3166-2 does not divide."""
    # pycountry's Subdivisions.get (by country) overrides the typed Database.get untyped.
    found = pycountry.subdivisions.get(country_code=country)  # type: ignore[no-untyped-call]
    return tuple(sorted(s.code.split("-", 1)[1] for s in found or ()))


def subdivision_code(country: str, value: str) -> str | None:
    """``value`` as the suffix of an ISO 3166-2 subdivision of ``country`` (``nsw`` and
    ``AU-NSW`` are both ``NSW`` in AU); None when ``country`` has no such subdivision."""
    code = value.strip().upper().removeprefix(f"{country}-")
    return code if code in iso_subdivisions(country) else None


def public_holidays(country: str, subdivision: str | None) -> holidays.HolidayBase:
    """The public holidays a clock in ``country`` stops on.

    With a ``subdivision`` the ``holidays`` library knows: the country's and that
    subdivision's own. With one it does not (Tokyo has none of its own): the country's.
    Without one: the days that are holidays in every ISO 3166-2 subdivision the library
    knows, which for a country whose holidays do not vary is its national calendar.
    """
    national = holidays.country_holidays(country)
    if subdivision is not None:
        known = (*national.subdivisions, *national.subdivisions_aliases)
        if subdivision in known:
            return holidays.country_holidays(country, subdiv=subdivision)
        return national
    with_own = tuple(s for s in iso_subdivisions(country) if s in national.subdivisions)
    if not with_own:
        return national
    return HolidaysInEvery(country, with_own)


class HolidaysInEvery(holidays.HolidayBase):
    """The holidays common to every one of ``subdivisions`` of ``country``, filled in a
    year at a time as days are asked about, like any ``holidays`` calendar.

    A weekend day is a working day when every subdivision works it.
    """

    def __init__(self, country: str, subdivisions: tuple[str, ...]) -> None:
        self.country = country
        self.in_every = subdivisions
        self.weekend = holidays.country_holidays(country).weekend
        super().__init__()

    def _populate(self, year: int) -> None:
        days, workdays = _common_days(self.country, self.in_every, year)
        self.update(dict(days))
        self.weekend_workdays = self.weekend_workdays | workdays


@lru_cache(maxsize=64)
def _common_days(
    country: str, subdivisions: tuple[str, ...], year: int
) -> tuple[tuple[tuple[date, str], ...], frozenset[date]]:
    """One year of :class:`HolidaysInEvery`: immutable, so that every clock of the process
    shares what building the subdivisions' calendars (milliseconds each) found."""
    calendars = [holidays.country_holidays(country, subdiv=s, years=year) for s in subdivisions]
    first, *others = calendars
    days = tuple(
        (day, name) for day, name in sorted(first.items()) if all(day in c for c in others)
    )
    workdays = frozenset.intersection(*(frozenset(c.weekend_workdays) for c in calendars))
    return days, workdays
