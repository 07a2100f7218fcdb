"""``cn``: Greater China (mainland China, Hong Kong and Taiwan as their own markets).

WeChat is the channel, AMap then Baidu the maps (Google is unavailable on the mainland),
and financial-services customer data must be hosted in China.
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.models import DataClass
from regiocrm.packs import MarketProfile, PackSpec, PhoneticRule, ResidencyRule


@hookimpl
def register_packs() -> list[PackSpec]:
    in_china_or_japan = ResidencyRule(zones=("cn", "jp"), export_requires=("consent", "assessment"))
    return [
        PackSpec.declare(
            code="cn",
            extends="asia",
            name="Greater China",
            markets={
                "CN": MarketProfile(locale="zh_Hans_CN", currency="CNY", timezone="Asia/Shanghai"),
                "HK": MarketProfile(locale="zh_Hant_HK", currency="HKD", timezone="Asia/Hong_Kong"),
                "TW": MarketProfile(locale="zh_Hant_TW", currency="TWD", timezone="Asia/Taipei"),
            },
            locales=("zh_Hans_CN", "zh_Hant_HK", "zh_Hant_TW", "en"),
            currency="CNY",
            timezones=("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei"),
            phonetic_name=PhoneticRule.PINYIN,
            channels=("wechat", "sms", "email"),
            map_providers=("amap", "baidu", "gazetteer"),
            residency={
                DataClass.IDENTITY: in_china_or_japan,
                DataClass.CRM: in_china_or_japan,
                DataClass.TELEMATICS: in_china_or_japan,
                DataClass.AUDIT: in_china_or_japan,
                DataClass.FINANCIAL: ResidencyRule(
                    zones=("cn",), export_requires=("consent", "assessment")
                ),
            },
        )
    ]
