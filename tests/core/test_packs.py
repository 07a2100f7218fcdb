"""Packs as data: validation, inheritance, and the packs CLI's contract for tools."""

from __future__ import annotations

import json

import pytest

from regiocrm import hookimpl
from regiocrm.interfaces.packs import MarketProfile, NameOrder, PackError, PackSpec, resolve_packs
from regiocrm.models import DataClass, LeadStatus, LicenceTier, Priority
from regiocrm.platform.hooks import Hooks


def spec(code: str, **values: object) -> PackSpec:
    return PackSpec.declare(code=code, **values)


def test_builtin_packs_extend_the_template(regiocrm_hooks: Hooks) -> None:
    packs = regiocrm_hooks.packs()
    assert {pack.code: pack.extends for pack in packs} == {
        "asia": None,
        "cn": "asia",
        "jp": "asia",
        "kr": "asia",
        "au": "asia",
    }
    assert list(packs.get("cn").markets) == ["CN", "HK", "TW"]
    assert packs.for_market("HK").code == "cn"
    assert packs.market("TW").currency == "TWD"
    assert packs.market("HK").locale == "zh_Hant_HK"


def test_a_pack_inherits_what_it_does_not_set(regiocrm_hooks: Hooks) -> None:
    packs = regiocrm_hooks.packs()
    asia, cn, au = packs.get("asia"), packs.get("cn"), packs.get("au")
    assert cn.name_order is asia.name_order is NameOrder.FAMILY_FIRST
    assert cn.business_hours == asia.business_hours
    assert cn.storage_quotas_mib == asia.storage_quotas_mib
    assert au.name_order is NameOrder.GIVEN_FIRST
    assert au.call_centre_24x7 is asia.call_centre_24x7 is True
    assert cn.chain == ("cn", "asia")


def test_tables_merge_key_by_key() -> None:
    base = spec(
        "base",
        name="Base",
        locales=("en",),
        timezones=("UTC",),
        name_order="family_first",
        name_separator="",
        phonetic_name="none",
        business_hours={},
        call_centre_24x7=False,
        channels=("sms",),
        map_providers=("gazetteer",),
        residency={c: {"zones": ("main",)} for c in DataClass},
        storage_quotas_mib={"full": 100, "community": 10},
    )
    child = spec(
        "child",
        extends="base",
        residency={"financial": {"zones": ("vault",)}},
        storage_quotas_mib={"community": 5},
        case_targets={"urgent": {"response_hours": 0.5, "resolution_hours": 4}},
        lead_follow_up_hours={"new": 2},
    )
    packs = resolve_packs([base, child])
    assert packs["base"].lead_follow_up_hours == {}
    assert packs["child"].lead_follow_up_hours == {LeadStatus.NEW: 2}
    assert packs["base"].case_targets == {}
    assert packs["child"].case_targets[Priority.URGENT].response_hours == 0.5
    assert packs["child"].residency[DataClass.FINANCIAL].zones == ("vault",)
    assert packs["child"].residency[DataClass.CRM].zones == ("main",)
    assert packs["child"].storage_quotas_mib == {LicenceTier.FULL: 100, LicenceTier.COMMUNITY: 5}


def test_a_root_pack_must_define_everything() -> None:
    with pytest.raises(PackError, match="'base2' extends nothing and leaves locales, timezones"):
        resolve_packs([spec("base2", name="x")])


def test_markets_are_never_inherited(register_plugin, regiocrm_hooks: Hooks) -> None:
    class JapanDealerEdition:
        @hookimpl
        def register_packs(self) -> list[PackSpec]:
            return [spec("jp_dealers", extends="jp", channels=("line",))]

    register_plugin(JapanDealerEdition())
    packs = regiocrm_hooks.packs()
    assert packs.get("jp_dealers").markets == {}
    assert packs.get("jp_dealers").currency == "JPY"
    assert packs.for_market("JP").code == "jp"


def test_unknown_parent_is_named() -> None:
    with pytest.raises(PackError, match=r"pack 'th' extends unknown pack 'sea' \(known: th\)"):
        resolve_packs([spec("th", extends="sea")])


def test_a_pack_declaring_address_format_is_warned_and_loads() -> None:
    """Addresses follow Google's data since 0.2: a pack written before still loads."""
    with pytest.warns(DeprecationWarning, match="'old': address_format is ignored"):
        old = spec("old", extends="asia", address_format="{street}")
    assert "address_format" not in old.model_dump()


def test_a_cycle_is_named() -> None:
    with pytest.raises(PackError, match=r"extends itself: aa -> bb -> aa"):
        resolve_packs([spec("aa", extends="bb"), spec("bb", extends="aa")])


def test_a_duplicate_code_is_refused() -> None:
    with pytest.raises(PackError, match="registered twice"):
        resolve_packs([spec("dup", extends="x"), spec("dup", extends="y")])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"locales": ("xx_YY",)}, "pack 'bad': locales: 'xx_YY' is not a locale Babel knows"),
        ({"currency": "YEN"}, "pack 'bad': currency: 'YEN' is not an ISO 4217 currency code"),
        (
            {"timezones": ("Asia/Atlantis",)},
            "pack 'bad': timezones: 'Asia/Atlantis' is not an IANA time zone",
        ),
        (
            {"markets": {"XX": {"locale": "en"}}},
            "pack 'bad': markets: 'XX' is not an ISO 3166-1 alpha-2",
        ),
        (
            {"markets": {"JP": {"locale": "ja_JP", "timezone": "Mars/Base"}}},
            "pack 'bad': markets.JP.timezone:",
        ),
        (
            {"storage_quotas_mib": {"full": 0}},
            "pack 'bad': storage_quotas_mib: storage quotas are positive",
        ),
        ({"colour": "red"}, "pack 'bad': colour: Extra inputs are not permitted"),
    ],
    ids=[
        "locale",
        "currency",
        "timezone",
        "country",
        "market-timezone",
        "quota",
        "unknown",
    ],
)
def test_an_invalid_value_names_pack_field_and_value(
    values: dict[str, object], expected: str
) -> None:
    with pytest.raises(PackError) as exc:
        spec("bad", extends="asia", **values)
    assert str(exc.value).startswith(expected)


def test_a_market_belongs_to_one_pack(register_plugin, regiocrm_hooks: Hooks) -> None:
    class Rival:
        @hookimpl
        def register_packs(self) -> list[PackSpec]:
            return [
                spec(
                    "jp2",
                    extends="asia",
                    markets={"JP": MarketProfile(locale="ja_JP")},
                    currency="JPY",
                    timezones=("Asia/Tokyo",),
                )
            ]

    register_plugin(Rival())
    with pytest.raises(PackError, match="market JP is claimed by packs 'jp' and 'jp2'"):
        regiocrm_hooks.packs()


def test_a_pack_extending_another_may_take_over_one_of_its_markets(
    register_plugin, regiocrm_hooks: Hooks
) -> None:
    class HongKong:
        @hookimpl
        def register_packs(self) -> list[PackSpec]:
            return [
                spec(
                    "hk",
                    extends="cn",
                    markets={
                        "HK": MarketProfile(
                            locale="zh_Hant_HK", currency="HKD", timezone="Asia/Hong_Kong"
                        )
                    },
                    channels=("whatsapp", "sms"),
                )
            ]

    register_plugin(HongKong())
    packs = regiocrm_hooks.packs()
    assert packs.for_market("HK").code == "hk"
    assert packs.for_market("HK").channels == ("whatsapp", "sms")
    assert set(packs.get("cn").markets) == {"CN", "TW"}
    assert packs.market("HK").currency == "HKD"
    assert packs.get("hk").phonetic_name is packs.get("cn").phonetic_name, "the rest inherited"


def test_hook_register_packs(register_plugin, regiocrm_hooks: Hooks) -> None:
    class Thailand:
        @hookimpl
        def register_packs(self) -> list[PackSpec]:
            return [
                spec(
                    "th",
                    extends="asia",
                    name="Thailand",
                    markets={"TH": {"locale": "th_TH"}},
                    locales=("th_TH", "en"),
                    currency="THB",
                    timezones=("Asia/Bangkok",),
                    name_order="given_first",
                    name_separator=" ",
                )
            ]

    register_plugin(Thailand())
    th = regiocrm_hooks.packs().for_market("TH")
    assert (th.code, th.extends, th.currency) == ("th", "asia", "THB")
    assert th.market("TH").timezone == "Asia/Bangkok"
    assert th.channels == regiocrm_hooks.packs().get("asia").channels


CONTRACT = {
    "code",
    "extends",
    "markets",
    "locales",
    "currency",
    "timezones",
    "channels",
    "map_providers",
}


def test_packs_list_json_contract(regiocrm_cli) -> None:
    result = regiocrm_cli("packs", "list", "--json")
    assert result.exit_code == 0
    packs = {pack["code"]: pack for pack in json.loads(result.stdout)}
    assert set(packs) == {"asia", "cn", "jp", "kr", "au"}
    for pack in packs.values():
        assert set(pack) >= CONTRACT
    assert packs["cn"]["markets"] == ["CN", "HK", "TW"]
    assert packs["kr"]["currency"] == "KRW"
    assert packs["au"]["timezones"][0] == "Australia/Sydney"
    assert packs["jp"]["channels"] == ["line", "sms", "email"]
    assert packs["cn"]["map_providers"] == ["amap", "baidu", "gazetteer"]
    assert packs["asia"]["extends"] is None


def test_packs_show_json_is_resolved(regiocrm_cli) -> None:
    result = regiocrm_cli("packs", "show", "kr", "--json")
    assert result.exit_code == 0
    kr = json.loads(result.stdout)
    assert set(kr) >= CONTRACT
    # Inherited from the template, not declared by the kr pack:
    assert kr["name_order"] == "family_first"
    assert kr["business_hours"] == {"days": [0, 1, 2, 3, 4], "opens": "09:00", "closes": "18:00"}
    assert kr["storage_quotas_mib"] == {"full": 102400, "community": 10240}


def test_packs_diff_shows_what_jp_changes_from_asia(regiocrm_cli) -> None:
    result = regiocrm_cli("packs", "diff", "jp", "--json")
    assert result.exit_code == 0
    diff = json.loads(result.stdout)
    assert (diff["pack"], diff["against"]) == ("jp", "asia")
    changes = {change["field"]: (change["value"], change["against"]) for change in diff["changes"]}
    assert changes["currency"] == ("JPY", None)
    assert changes["phonetic_name"] == ("furigana", "none")
    assert changes["name_separator"] == (" ", "")
    assert changes["channels"] == (["line", "sms", "email"], ["sms", "email"])
    assert changes["residency.financial.zones"] == (["jp"], ["main"])
    assert "name_order" not in changes
    assert "business_hours.opens" not in changes


def test_packs_diff_against_another_pack(regiocrm_cli) -> None:
    result = regiocrm_cli("packs", "diff", "kr", "--against", "cn", "--json")
    changes = {c["field"] for c in json.loads(result.stdout)["changes"]}
    assert {"markets", "currency", "channels", "residency.financial.zones"} <= changes
    assert "locales" in changes
    assert "name_order" not in changes


def test_packs_diff_of_the_template_needs_a_pack_to_compare(regiocrm_cli) -> None:
    result = regiocrm_cli("packs", "diff", "asia")
    assert result.exit_code == 2
    assert "--against" in result.stderr


def test_unknown_pack_lists_the_known_ones(regiocrm_cli) -> None:
    result = regiocrm_cli("packs", "show", "xx")
    assert result.exit_code == 2
    assert result.stderr == "Error: unknown pack 'xx' (known packs: asia, au, cn, jp, kr)\n"


def test_a_broken_pack_fails_the_packs_commands_clearly(regiocrm_cli, register_plugin) -> None:
    class Broken:
        @hookimpl
        def register_packs(self) -> list[PackSpec]:
            return [spec("vn", extends="asia", currency="VNDX")]

    register_plugin(Broken())
    result = regiocrm_cli("packs", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: pack 'vn': currency: 'VNDX' is not an ISO 4217")
