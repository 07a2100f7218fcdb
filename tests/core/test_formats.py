"""Names, addresses and calendars through the hooks: the template's data-driven answers,
a plugin's override, and the calendar's edge cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from regiocrm import hookimpl
from regiocrm.interfaces.calendars import BusinessCalendar, Service
from regiocrm.interfaces.formats import Address, PersonName
from regiocrm.interfaces.packs import BusinessHours, Pack, PackError, PackSpec
from regiocrm.models import DataClass
from regiocrm.platform.hooks import Hooks, NoAnswer
from regiocrm.platform.plugins import get_plugin_manager


def test_hook_format_name(register_plugin, regiocrm_hooks: Hooks) -> None:
    class Formal:
        @hookimpl
        def format_name(self, name: PersonName, market: str, pack: Pack) -> str | None:
            return f"{name.family}様" if market == "JP" else None

    register_plugin(Formal())
    assert regiocrm_hooks.format_name(name=PersonName("山田", "太郎"), market="JP") == "山田様"
    assert regiocrm_hooks.format_name(name=PersonName("김", "민준"), market="KR") == "김민준"


def test_hook_format_address(register_plugin, regiocrm_hooks: Hooks) -> None:
    class OneLine:
        @hookimpl
        def format_address(self, address: Address, market: str, pack: Pack) -> str | None:
            assert pack.code == "au"
            return ", ".join(filter(None, [address.street, address.city]))

    register_plugin(OneLine())
    address = Address(street="1 Martin Place", city="Sydney")
    assert regiocrm_hooks.format_address(address=address, market="AU") == "1 Martin Place, Sydney"


def test_an_impl_without_latin_is_not_asked_for_latin_script(
    register_plugin, regiocrm_hooks: Hooks
) -> None:
    """One written for 0.1 keeps answering in the country's script, and leaves latin script
    to an implementation that knows it (here the template) rather than answer in kanji."""

    class Kanji:
        @hookimpl
        def format_address(self, address: Address, market: str, pack: Pack) -> str | None:
            return f"{address.region}様方"

    class Latin:
        @hookimpl
        def format_address(
            self, address: Address, market: str, pack: Pack, latin: bool
        ) -> str | None:
            return "latin" if latin else None

    address = Address(region="東京都", street="千代田区丸の内1-9-1", postal_code="100-0005")
    register_plugin(Kanji())
    assert regiocrm_hooks.format_address(address=address, market="JP") == "東京都様方"
    assert "TOKYO" in regiocrm_hooks.format_address(address=address, market="JP", latin=True)
    register_plugin(Latin())
    assert regiocrm_hooks.format_address(address=address, market="JP", latin=True) == "latin"
    assert regiocrm_hooks.format_address(address=address, market="JP") == "東京都様方"


def test_hook_business_calendar(register_plugin, regiocrm_hooks: Hooks) -> None:
    class SaturdayDealers:
        @hookimpl
        def business_calendar(
            self, market: str, pack: Pack, service: Service
        ) -> BusinessCalendar | None:
            if market != "KR" or service is not Service.OFFICE:
                return None
            hours = BusinessHours(days=(0, 1, 2, 3, 4, 5), opens=time(10), closes=time(19))
            return BusinessCalendar(ZoneInfo("Asia/Seoul"), hours, None)

    register_plugin(SaturdayDealers())
    start = datetime(2026, 10, 9, 18, 0, tzinfo=ZoneInfo("Asia/Seoul"))  # a Friday
    due = regiocrm_hooks.due_at(market="KR", start=start, duration=timedelta(hours=2))
    assert due == datetime(2026, 10, 10, 11, 0, tzinfo=ZoneInfo("Asia/Seoul"))


def test_hook_business_calendar_is_asked_for_an_organizations_subdivision(
    register_plugin, regiocrm_hooks: Hooks
) -> None:
    """A plugin that takes ``subdivision`` (added in 0.2) is told whose clock it is; the
    one above, written before, still answers for the market."""
    asked: list[str | None] = []

    class TasmanianNightShift:
        @hookimpl
        def business_calendar(
            self, market: str, pack: Pack, service: Service, subdivision: str | None
        ) -> BusinessCalendar | None:
            asked.append(subdivision)
            if subdivision != "TAS":
                return None
            return BusinessCalendar(ZoneInfo("Australia/Hobart"), None, None)

    register_plugin(TasmanianNightShift())
    start = datetime(2026, 12, 25, 22, 0, tzinfo=ZoneInfo("Australia/Hobart"))
    hour = timedelta(hours=1)
    assert regiocrm_hooks.due_at(market="AU", start=start, duration=hour, subdivision="TAS") == (
        start + hour
    )
    assert regiocrm_hooks.due_at(market="AU", start=start, duration=hour) > start + hour
    assert asked == ["TAS", None]


def test_a_market_no_pack_serves(regiocrm_hooks: Hooks) -> None:
    with pytest.raises(
        PackError, match=r"no pack serves market 'TH' \(served: AU, CN, HK, JP, KR, TW\)"
    ):
        regiocrm_hooks.format_name(name=PersonName("x", "y"), market="TH")


class Solo:
    """A root pack of its own, for a deployment that runs without the asia template."""

    @hookimpl
    def register_packs(self) -> list[PackSpec]:
        return [
            PackSpec.declare(
                code="solo",
                name="Singapore",
                markets={"SG": {"locale": "en_SG"}},
                locales=("en_SG",),
                currency="SGD",
                timezones=("Asia/Singapore",),
                name_order="given_first",
                name_separator=" ",
                phonetic_name="none",
                business_hours={},
                call_centre_24x7=False,
                channels=("sms",),
                map_providers=("gazetteer",),
                residency={c: {"zones": ("main",)} for c in DataClass},
                storage_quotas_mib={"full": 1, "community": 1},
            )
        ]


def test_without_the_template_nobody_answers() -> None:
    builtin_packs = [f"regiocrm.regions.{code}" for code in ("asia", "cn", "jp", "kr", "au")]
    hooks = Hooks(get_plugin_manager(entry_points=False, blocked=builtin_packs))
    hooks.pm.register(Solo())
    assert [pack.code for pack in hooks.packs()] == ["solo"]
    with pytest.raises(NoAnswer, match="no plugin answered format_address"):
        hooks.format_address(address=Address(street="1 Raffles Place"), market="SG")


def test_calendar_refuses_naive_and_negative_input() -> None:
    calendar = BusinessCalendar(ZoneInfo("Asia/Tokyo"), BusinessHours(), None)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.due(datetime(2026, 1, 5, 9), timedelta(hours=1))
    with pytest.raises(ValueError, match="negative"):
        calendar.due(datetime(2026, 1, 5, 9, tzinfo=UTC), timedelta(hours=-1))


def test_calendar_starting_outside_hours_begins_at_opening() -> None:
    calendar = BusinessCalendar(ZoneInfo("Asia/Tokyo"), BusinessHours(), None)
    start = datetime(2026, 1, 5, 6, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # Monday before opening
    assert calendar.due(start, timedelta(minutes=30)) == datetime(2026, 1, 5, 0, 30, tzinfo=UTC)
    assert calendar.is_business_day(date(2026, 1, 5))
    assert not calendar.is_business_day(date(2026, 1, 4))


def test_business_hours_must_close_after_opening() -> None:
    with pytest.raises(ValueError, match="close after they open"):
        BusinessHours(opens=time(18), closes=time(9))
