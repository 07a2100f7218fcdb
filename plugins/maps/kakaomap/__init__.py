"""``kakaomap``: Kakao Local address search and coordinate-to-address, one of the KR pack's
providers (the ``kakao`` plugin is the KakaoTalk channel).

Geocodes and reverse-geocodes in WGS-84. It needs the app's REST API key, with Kakao Map
switched on in the app's settings::

    [maps.kakaomap]
    key = "…"
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.interfaces.maps import MapProvider
from regiocrm.plugins.maps.kakaomap.provider import KakaoMapProvider, KakaoMapSettings

__all__ = ["KakaoMapProvider", "KakaoMapSettings"]


@hookimpl
def register_map_providers() -> list[MapProvider]:
    return [KakaoMapProvider()]
