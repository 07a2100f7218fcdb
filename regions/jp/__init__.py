"""``jp``: Japan. LINE, family name first with a space, and furigana kept with every name."""

from __future__ import annotations

from regiocrm import DataClass, hookimpl
from regiocrm.interfaces.formats import PersonName, ordered_name
from regiocrm.interfaces.packs import (
    MarketProfile,
    Pack,
    PackSpec,
    PhoneticRule,
    ResidencyRule,
    VinRule,
)

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
            import_columns={
                "氏名": "full_name",
                "顧客名": "full_name",
                "姓": "family_name",
                "名": "given_name",
                "フリガナ": "full_name_phonetic",
                "セイ": "family_name_phonetic",
                "メイ": "given_name_phonetic",
                "会社名": "company_name",
                "電話番号": "phone",
                "携帯電話": "phone",
                "携帯番号": "phone",
                "メール": "email",
                "メールアドレス": "email",
                "顧客番号": "dealer_ref",
                "顧客コード": "dealer_ref",
                "車台番号": "vin",
                "メーカー": "make",
                "車名": "model",
                "車種": "model",
                "年式": "model_year",
                "納車日": "purchased_on",
                "購入日": "purchased_on",
                "契約種別": "contract_kind",
                "契約状態": "contract_status",
                "契約番号": "reference",
                "開始日": "starts_on",
                "終了日": "ends_on",
                "満了日": "ends_on",
                "金額": "amount",
                "通貨": "currency",
            },
            # Excel's "Shift_JIS" is Windows code page 932 (NEC and IBM extensions included).
            file_encodings=("cp932",),
            # Domestic cars carry a chassis number (車台番号), not a 17-character VIN.
            vin_rule=VinRule.CHASSIS,
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
