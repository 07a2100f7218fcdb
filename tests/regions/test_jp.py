"""The jp pack: Japan."""

from __future__ import annotations

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


def test_address_from_prefecture_down_with_postal_mark(regiocrm_hooks: Hooks) -> None:
    address = Address(
        postal_code="100-0005",
        region="東京都",
        city="千代田区",
        district="丸の内",
        street="1-9-1",
        building="グラントウキョウノースタワー",
        recipient="山田 太郎",
    )
    assert regiocrm_hooks.format_address(address=address, market="JP") == (
        "〒100-0005\n東京都千代田区丸の内1-9-1\nグラントウキョウノースタワー\n山田 太郎"
    )


def test_no_lone_postal_mark_without_a_postal_code(regiocrm_hooks: Hooks) -> None:
    address = Address(region="大阪府", city="大阪市")
    assert regiocrm_hooks.format_address(address=address, market="JP") == "大阪府大阪市"


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
