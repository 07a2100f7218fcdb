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
            import_columns={
                "이름": "full_name",
                "성명": "full_name",
                "고객명": "full_name",
                "성": "family_name",
                "회사명": "company_name",
                "휴대폰": "phone",
                "휴대전화": "phone",
                "휴대폰번호": "phone",
                "전화번호": "phone",
                "연락처": "phone",
                "이메일": "email",
                "고객번호": "dealer_ref",
                "차대번호": "vin",
                "제조사": "make",
                "차종": "model",
                "모델": "model",
                "연식": "model_year",
                "출고일": "purchased_on",
                "구매일": "purchased_on",
                "계약유형": "contract_kind",
                "계약상태": "contract_status",
                "계약번호": "reference",
                "시작일": "starts_on",
                "종료일": "ends_on",
                "만기일": "ends_on",
                "금액": "amount",
                "통화": "currency",
            },
            # Excel's Korean code page: Unified Hangul Code, a superset of EUC-KR.
            file_encodings=("cp949",),
            map_providers=("naver", "kakaomap", "gazetteer"),
            residency=dict.fromkeys(
                DataClass, ResidencyRule(zones=("kr",), export_requires=("consent",))
            ),
        )
    ]
