"""The Kakao Map provider against Kakao Local's documented answers, on a mocked transport.

Bodies follow Kakao Developers "카카오맵 REST API" (주소로 좌표 변환하기: ``meta`` and
``documents`` with string ``x``/``y``; 좌표로 주소 변환하기: ``road_address`` that may be
``null``) and its errors (``{"errorType", "message"}``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from regiocrm.interfaces.maps import Datum, Place, Point
from regiocrm.plugins.maps.kakaomap import KakaoMapProvider, KakaoMapSettings
from regiocrm.testing import answering
from regiocrm.testing.maps import Answer, Call, Lookup, MapProviderConformance

KEY = "0123456789abcdef0123456789abcdef"
SETTINGS = KakaoMapSettings(key=KEY)
ADDRESS = "전북 삼성동 100"
POINT = Point(37.3943, 126.9274, Datum.WGS84)
AUTHORIZATION = {"Authorization": f"KakaoAK {KEY}"}

SEARCHED = {
    "meta": {"total_count": 1, "pageable_count": 1, "is_end": True},
    "documents": [
        {
            "address_name": "전북 익산시 부송동 100",
            "address_type": "REGION_ADDR",
            "x": "126.99597295767953",
            "y": "35.97664845766847",
            "address": {
                "address_name": "전북 익산시 부송동 100",
                "region_1depth_name": "전북",
                "region_2depth_name": "익산시",
                "region_3depth_name": "부송동",
                "region_3depth_h_name": "삼성동",
                "h_code": "4514069000",
                "b_code": "4514013400",
                "mountain_yn": "N",
                "main_address_no": "100",
                "sub_address_no": "",
                "x": "126.99597295767953",
                "y": "35.97664845766847",
            },
            "road_address": {
                "address_name": "전북 익산시 망산길 11-17",
                "region_1depth_name": "전북",
                "region_2depth_name": "익산시",
                "region_3depth_name": "부송동",
                "road_name": "망산길",
                "underground_yn": "N",
                "main_building_no": "11",
                "sub_building_no": "17",
                "building_name": "",
                "zone_no": "54547",
                "x": "126.99599512792346",
                "y": "35.976749396987046",
            },
        }
    ],
}
REVERSED = {
    "meta": {"total_count": 1},
    "documents": [
        {
            "road_address": {
                "address_name": "경기도 안양시 만안구 병목안로 107",
                "region_1depth_name": "경기",
                "region_2depth_name": "안양시 만안구",
                "region_3depth_name": "안양동",
                "road_name": "병목안로",
                "underground_yn": "N",
                "main_building_no": "107",
                "sub_building_no": "",
                "building_name": "",
                "zone_no": "14012",
            },
            "address": {
                "address_name": "경기 안양시 만안구 안양동 1026-8",
                "region_1depth_name": "경기",
                "region_2depth_name": "안양시 만안구",
                "region_3depth_name": "안양동",
                "mountain_yn": "N",
                "main_address_no": "1026",
                "sub_address_no": "8",
            },
        }
    ],
}
NO_ROAD = {
    "meta": {"total_count": 1},
    "documents": [{"road_address": None, "address": REVERSED["documents"][0]["address"]}],
}


def error(status: int, error_type: str, message: str, name: str) -> Answer:
    body = {"errorType": error_type, "message": message}
    return Answer(body, status, says=(f"HTTP {status} {error_type}: {message}",), name=name)


def found(document: dict[str, Any], name: str) -> Answer:
    return Answer({"documents": [document]}, name=name)


class TestKakaoMap(MapProviderConformance):
    provider = KakaoMapProvider()
    settings = SETTINGS
    market = "KR"
    address = ADDRESS
    geocoded = Lookup(
        Call(
            "https://dapi.kakao.com/v2/local/search/address.json",
            {"query": ADDRESS},
            AUTHORIZATION,
        ),
        Answer(SEARCHED),
        # x is the longitude; the road address is preferred.
        Place(
            Point(35.97664845766847, 126.99597295767953, Datum.WGS84),
            "전북 익산시 망산길 11-17",
            "REGION_ADDR",
        ),
    )
    nothing = (
        Answer(
            {"meta": {"total_count": 0, "pageable_count": 0, "is_end": True}, "documents": []},
            name="no documents",
        ),
    )
    point = POINT
    reversed = Lookup(
        Call(
            "https://dapi.kakao.com/v2/local/geo/coord2address.json",
            {"x": "126.9274000", "y": "37.3943000", "input_coord": "WGS84"},
            AUTHORIZATION,
        ),
        Answer(REVERSED),
        Place(POINT, "경기도 안양시 만안구 병목안로 107"),
    )
    nowhere = (Answer({"meta": {"total_count": 0}, "documents": []}, name="no documents"),)
    refusals = (
        error(401, "AccessDeniedError", "wrong appKey format", "wrong key"),
        error(
            403,
            "NotAuthorizedError",
            "App(regiocrm) disabled OPEN_MAP_AND_LOCAL service.",
            "Kakao Map switched off",
        ),
        error(429, "RequestThrottled", "API limit has been exceeded.", "quota"),
        Answer(
            {"errorType": "AccessDeniedError", "message": f"wrong appKey({KEY}) format"},
            401,
            says=("wrong appKey(***) format",),
            name="an error echoing the key",
        ),
    )
    failures = (error(400, "MissingParameter", "query parameter required", "bad request"),)
    server_errors = (
        Answer(status=500, text="Internal Server Error", says=("HTTP 500",), name="500"),
        Answer(status=503, text="", says=("HTTP 503",), name="503"),
    )
    non_json = "<html>maintenance</html>"
    wrong_shapes = (
        Answer({"meta": {"total_count": 1}}, name="no documents"),
        found({"x": "127.0"}, "no y"),
        found({"x": "127.0", "y": "north"}, "y in words"),
        found({"x": "127.0", "y": "95.0"}, "latitude 95"),
    )
    reverse_wrong_shapes = (
        found({"road_address": None, "address": None}, "a document without names"),
    )


def test_geocode_without_road_address_uses_address_name(provider_api) -> None:
    regional = {**SEARCHED, "documents": [{**SEARCHED["documents"][0], "road_address": None}]}
    client, _ = provider_api(answering(regional))

    place = KakaoMapProvider().geocode(ADDRESS, market="KR", settings=SETTINGS, client=client)

    assert place.address == "전북 익산시 부송동 100"


def test_reverse_without_road_address_uses_the_lot_address(provider_api) -> None:
    lot: dict[str, Any] = {"road_address": None, "address": REVERSED["documents"][0]["address"]}
    client, _ = provider_api(answering({"meta": {"total_count": 1}, "documents": [lot]}))

    place = KakaoMapProvider().reverse(POINT, market="KR", settings=SETTINGS, client=client)

    assert place.address == "경기 안양시 만안구 안양동 1026-8"


def test_map_link_is_the_link_map_url() -> None:
    point = Point(37.402056, 127.108212)
    provider = KakaoMapProvider()

    assert provider.map_link(point) == "https://map.kakao.com/link/map/37.402056,127.108212"
    named = provider.map_link(point, title="카카오판교, 아지트")
    assert named.startswith("https://map.kakao.com/link/map/")
    assert unquote(named.removeprefix("https://map.kakao.com/link/map/")) == (
        "카카오판교  아지트,37.402056,127.108212"
    )
