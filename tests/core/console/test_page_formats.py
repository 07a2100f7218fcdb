"""What a console page's reader reads: times in their market's time zone, dates, numbers and
money in their language, as CLDR writes them (expected values written out by hand, not
copied from the code under test)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from babel import Locale

from regiocrm.console.pages import Formats, formats
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.services.application import Application
from regiocrm.services.callers import SYSTEM
from regiocrm.services.signin import Visitor

# 15:30 UTC on 1 March 2026: already the 2nd in Tokyo and Seoul, still the 1st in Taipei.
MOMENT = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)


def reading(locale: str, timezone: str) -> Formats:
    return Formats(Locale.parse(locale), timezone)


@pytest.mark.parametrize(
    ("locale", "timezone", "written"),
    [
        ("ja_JP", "Asia/Tokyo", "2026/03/02 0:30:00"),
        ("ko_KR", "Asia/Seoul", "2026. 3. 2. 오전 12:30:00"),
        ("zh_Hant_TW", "Asia/Taipei", "2026年3月1日 晚上11:30:00"),
        ("zh_Hans_CN", "Asia/Shanghai", "2026年3月1日 23:30:00"),
        ("en_AU", "Australia/Sydney", "2 Mar 2026, 2:30:00\u202fam"),
    ],
)
def test_a_time_is_shown_in_the_markets_zone_and_language(
    locale: str, timezone: str, written: str
) -> None:
    assert reading(locale, timezone).when(MOMENT) == written


def test_a_naive_time_from_sqlite_is_read_as_utc() -> None:
    tokyo = reading("ja_JP", "Asia/Tokyo")
    naive = MOMENT.replace(tzinfo=None)
    assert tokyo.when(naive) == "2026/03/02 0:30:00"
    assert tokyo.iso(naive) == "2026-03-01T15:30:00+00:00"
    assert tokyo.when(None) == ""


@pytest.mark.parametrize(
    ("locale", "written"),
    [
        ("ko_KR", "2026. 3. 1."),
        ("ja_JP", "2026/03/01"),
        ("zh_Hant_HK", "2026年3月1日"),
        ("en", "Mar 1, 2026"),
    ],
)
def test_a_day_in_each_language(locale: str, written: str) -> None:
    assert reading(locale, "UTC").day(date(2026, 3, 1)) == written


@pytest.mark.parametrize(
    ("locale", "amount", "currency", "written"),
    [
        # The yen and the won have no minor unit: no decimals are shown.
        ("ja_JP", "1234567", "JPY", "￥1,234,567"),
        ("ko_KR", "35000000", "KRW", "₩35,000,000"),
        ("zh_Hant_TW", "1234.5", "TWD", "$1,234.50"),
        ("zh_Hant_HK", "1234.5", "HKD", "HK$1,234.50"),
        ("zh_Hans_CN", "1234.5", "CNY", "¥1,234.50"),
    ],
)
def test_money_in_the_markets_currency_and_language(
    locale: str, amount: str, currency: str, written: str
) -> None:
    assert reading(locale, "UTC").money(Decimal(amount), currency) == written


def test_numbers_and_how_far_away_a_moment_is() -> None:
    assert reading("en", "UTC").number(Decimal("1234567.5")) == "1,234,567.5"
    assert reading("ja_JP", "Asia/Tokyo").relative(MOMENT, MOMENT - timedelta(hours=3)) == (
        "3 時間後"
    )
    assert reading("zh_Hans_CN", "UTC").relative(MOMENT - timedelta(days=2), MOMENT) == "2天前"
    assert reading("ko_KR", "UTC").relative(MOMENT, MOMENT - timedelta(hours=3)) == "3시간 후"


@pytest.fixture
def application(settings: RegiocrmSettings, regiocrm_hooks: Hooks) -> Iterator[Application]:
    app = Application.open(settings, regiocrm_hooks)
    yield app
    app.close()


@pytest.mark.parametrize(
    ("market", "timezone"), [("JP", "Asia/Tokyo"), ("TW", "Asia/Taipei"), ("XX", "UTC")]
)
def test_a_readers_times_are_in_their_markets_zone(
    application: Application, market: str, timezone: str
) -> None:
    visitor = Visitor(SYSTEM, None, market)
    assert formats(application, Locale.parse("ja"), visitor).timezone == timezone
    assert formats(application, Locale.parse("ja"), None).timezone == "UTC"
