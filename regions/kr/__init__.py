"""``kr``: Korea. KakaoTalk, Naver then Kakao maps, names written without a space."""

from __future__ import annotations

from regiocrm import DataClass, hookimpl
from regiocrm.interfaces.packs import MarketProfile, PackSpec, ResidencyRule


@hookimpl
def register_packs() -> list[PackSpec]:
    return [
        PackSpec.declare(
            code="kr",
            extends="asia",
            name="Korea",
            markets={"KR": MarketProfile(locale="ko_KR")},
            locales=("ko_KR", "en"),
            currency="KRW",
            timezones=("Asia/Seoul",),
            channels=("kakao", "sms", "email"),
            map_providers=("naver", "kakaomap", "gazetteer"),
            residency=dict.fromkeys(
                DataClass, ResidencyRule(zones=("kr",), export_requires=("consent",))
            ),
        )
    ]
