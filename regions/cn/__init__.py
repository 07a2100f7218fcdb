"""``cn``: Greater China (mainland China, Hong Kong and Taiwan as their own markets).

WeChat is the channel, AMap then Baidu the maps (Google is unavailable on the mainland).

Residency follows the rollout the pack comes from. Mainland data was hosted in Japan, the
regional hub, and may move to China: every class may live in ``cn`` or ``jp``, except
financial-services data, which PBOC rules keep in China. Taking mainland personal data
elsewhere needs the person's separate consent (PIPL art. 39) and a CAC-route assessment
(art. 38). Hong Kong and Taiwan have no localisation rule and are served from the hub:
their data lives in ``jp`` (or ``cn`` if the deployment chooses) and its export needs the
person's consent. Engineering defaults, not legal advice: the competence centre confirms
them per deployment and narrows them with ``[residency.restrict.<MARKET>]``.
"""

from __future__ import annotations

from regiocrm import DataClass, hookimpl
from regiocrm.interfaces.packs import MarketProfile, PackSpec, PhoneticRule, ResidencyRule
from regiocrm.interfaces.terms import Priority

MAINLAND_EXPORT = ("consent", "assessment")
FROM_THE_HUB = dict.fromkeys(
    DataClass, ResidencyRule(zones=("jp", "cn"), export_requires=("consent",))
)


@hookimpl
def register_packs() -> list[PackSpec]:
    in_china_or_japan = ResidencyRule(zones=("cn", "jp"), export_requires=MAINLAND_EXPORT)
    return [
        PackSpec.declare(
            code="cn",
            extends="asia",
            name="Greater China",
            markets={
                "CN": MarketProfile(locale="zh_Hans_CN", currency="CNY", timezone="Asia/Shanghai"),
                "HK": MarketProfile(
                    locale="zh_Hant_HK",
                    currency="HKD",
                    timezone="Asia/Hong_Kong",
                    residency=FROM_THE_HUB,
                ),
                "TW": MarketProfile(
                    locale="zh_Hant_TW",
                    currency="TWD",
                    timezone="Asia/Taipei",
                    residency=FROM_THE_HUB,
                ),
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
                DataClass.FINANCIAL: ResidencyRule(zones=("cn",), export_requires=MAINLAND_EXPORT),
            },
            # Most of the mainland's connected cars are new-energy vehicles: a battery that
            # runs hot is a case to answer at once, over the template's lamps.
            warning_lamp_priorities={"battery_thermal": Priority.URGENT},
        )
    ]
