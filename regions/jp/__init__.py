"""``jp``: Japan. LINE, family name first with a space, and furigana kept with every name."""

from __future__ import annotations

from regiocrm import DataClass, hookimpl
from regiocrm.interfaces.formats import PersonName, ordered_name
from regiocrm.interfaces.packs import MarketProfile, Pack, PackSpec, PhoneticRule, ResidencyRule

IN_JAPAN = ResidencyRule(zones=("jp",), export_requires=("consent",))


@hookimpl
def register_packs() -> list[PackSpec]:
    return [
        PackSpec.declare(
            code="jp",
            extends="asia",
            name="Japan",
            markets={"JP": MarketProfile(locale="ja_JP")},
            locales=("ja_JP", "en"),
            currency="JPY",
            timezones=("Asia/Tokyo",),
            name_separator=" ",
            phonetic_name=PhoneticRule.FURIGANA,
            channels=("line", "sms", "email"),
            map_providers=("google", "gazetteer"),
            # Japanese buyers return to the dealer who sold them the car, for service and
            # for the next one: a lead from an owner goes there, however far it is.
            leads_to_selling_dealer=True,
            residency=dict.fromkeys(DataClass, IN_JAPAN),
        )
    ]


@hookimpl
def format_name(name: PersonName, market: str, pack: Pack) -> str | None:
    """Furigana follow the name in full-width parentheses, as Japanese forms print them."""
    if pack.code != "jp":
        return None
    written = ordered_name((name.family, name.given), pack.name_order, pack.name_separator)
    reading = ordered_name((name.family_phonetic, name.given_phonetic), pack.name_order, " ")
    return f"{written}（{reading}）" if reading else written
