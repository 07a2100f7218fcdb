"""The Kakao Map provider against Kakao Local's documented answers, on a mocked transport.

Bodies follow Kakao Developers "카카오맵 REST API" (주소로 좌표 변환하기: ``meta`` and
``documents`` with string ``x``/``y``; 좌표로 주소 변환하기: ``road_address`` that may be
``null``) and its errors (``{"errorType", "message"}``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from regiocrm.interfaces.maps import Datum, MapRefused, MapUnavailable, NoResult, Point
from regiocrm.platform.hooks import Hooks
from regiocrm.plugins.maps.kakaomap import KakaoMapProvider, KakaoMapSettings
from regiocrm.testing import answering

KEY = "0123456789abcdef0123456789abcdef"
SETTINGS = KakaoMapSettings(key=KEY)
ADDRESS = "전북 삼성동 100"

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
NOTHING = {"meta": {"total_count": 0, "pageable_count": 0, "is_end": True}, "documents": []}
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
AT_SEA = {"meta": {"total_count": 0}, "documents": []}
WRONG_KEY = {"errorType": "AccessDeniedError", "message": "wrong appKey format"}
DISABLED = {
    "errorType": "NotAuthorizedError",
    "message": "App(regiocrm) disabled OPEN_MAP_AND_LOCAL service.",
}
LIMIT = {"errorType": "RequestThrottled", "message": "API limit has been exceeded."}


@pytest.fixture
def provider() -> KakaoMapProvider:
    return KakaoMapProvider()


def geocode(provider: KakaoMapProvider, client: httpx.Client) -> Any:
    return provider.geocode(ADDRESS, market="KR", settings=SETTINGS, client=client)


def reverse(provider: KakaoMapProvider, client: httpx.Client) -> Any:
    point = Point(37.3943, 126.9274, Datum.WGS84)
    return provider.reverse(point, market="KR", settings=SETTINGS, client=client)


def test_geocode_authenticates_with_kakaoak_only(provider, provider_api) -> None:
    client, recorder = provider_api(answering(SEARCHED))

    geocode(provider, client)

    request = recorder.requests[0]
    url = urlsplit(str(request.url))
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "dapi.kakao.com",
        "/v2/local/search/address.json",
    )
    assert recorder.query == {"query": [ADDRESS]}
    assert request.headers["Authorization"] == f"KakaoAK {KEY}"
    assert KEY not in str(request.url)


def test_geocode_reads_x_as_longitude_and_prefers_the_road_address(provider, provider_api) -> None:
    client, _ = provider_api(answering(SEARCHED))

    place = geocode(provider, client)

    assert place.point == Point(35.97664845766847, 126.99597295767953, Datum.WGS84)
    assert place.address == "전북 익산시 망산길 11-17"
    assert place.precision == "REGION_ADDR"


def test_geocode_without_road_address_uses_address_name(provider, provider_api) -> None:
    regional = {**SEARCHED, "documents": [{**SEARCHED["documents"][0], "road_address": None}]}
    client, _ = provider_api(answering(regional))

    assert geocode(provider, client).address == "전북 익산시 부송동 100"


def test_reverse_request_and_road_address(provider, provider_api) -> None:
    client, recorder = provider_api(answering(REVERSED))

    place = reverse(provider, client)

    assert urlsplit(str(recorder.requests[0].url)).path == "/v2/local/geo/coord2address.json"
    assert recorder.query == {"x": ["126.9274000"], "y": ["37.3943000"], "input_coord": ["WGS84"]}
    assert place.address == "경기도 안양시 만안구 병목안로 107"
    assert place.point == Point(37.3943, 126.9274, Datum.WGS84)


def test_reverse_without_road_address_uses_the_lot_address(provider, provider_api) -> None:
    client, _ = provider_api(answering(NO_ROAD))

    assert reverse(provider, client).address == "경기 안양시 만안구 안양동 1026-8"


def test_no_documents_is_no_result(provider, provider_api) -> None:
    client, _ = provider_api(answering(NOTHING))
    with pytest.raises(NoResult):
        geocode(provider, client)

    client, _ = provider_api(answering(AT_SEA))
    with pytest.raises(NoResult):
        reverse(provider, client)


@pytest.mark.parametrize(("status", "body"), [(401, WRONG_KEY), (403, DISABLED), (429, LIMIT)])
def test_key_service_and_quota_errors_are_refusals(
    provider, provider_api, status: int, body: dict[str, str]
) -> None:
    client, _ = provider_api(answering(body, status))

    with pytest.raises(MapRefused) as raised:
        geocode(provider, client)

    assert f"HTTP {status} {body['errorType']}: {body['message']}" in str(raised.value)


def test_an_error_that_echoes_the_key_does_not_leak_it(provider, provider_api) -> None:
    echoed = {"errorType": "AccessDeniedError", "message": f"wrong appKey({KEY}) format"}
    client, _ = provider_api(answering(echoed, 401))

    with pytest.raises(MapRefused) as raised:
        geocode(provider, client)

    assert KEY not in str(raised.value)
    assert "wrong appKey(***) format" in str(raised.value)


def test_a_bad_request_is_unavailable(provider, provider_api) -> None:
    body = {"errorType": "MissingParameter", "message": "query parameter required"}
    client, _ = provider_api(answering(body, 400))

    with pytest.raises(MapUnavailable, match="MissingParameter"):
        geocode(provider, client)


def test_timeout_is_unavailable(provider, provider_api) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, _ = provider_api(timeout)

    with pytest.raises(MapUnavailable, match="ReadTimeout") as raised:
        geocode(provider, client)

    assert raised.value.__cause__ is None


def test_non_json_is_unavailable(provider, provider_api) -> None:
    client, _ = provider_api(lambda request: httpx.Response(200, text="<html>maintenance</html>"))

    with pytest.raises(MapUnavailable, match="non-JSON"):
        reverse(provider, client)


@pytest.mark.parametrize(
    "response",
    [httpx.Response(500, text="Internal Server Error"), httpx.Response(503, text="")],
)
def test_server_errors_are_unavailable(provider, provider_api, response: httpx.Response) -> None:
    client, _ = provider_api(lambda request: response)

    with pytest.raises(MapUnavailable, match=f"HTTP {response.status_code}"):
        geocode(provider, client)


@pytest.mark.parametrize(
    "body",
    [
        ["documents"],
        {"meta": {"total_count": 1}},
        {"documents": [{"x": "127.0"}]},
        {"documents": [{"x": "127.0", "y": "north"}]},
        {"documents": [{"x": "127.0", "y": "95.0"}]},
    ],
)
def test_wrong_shapes_are_unavailable(provider, provider_api, body: Any) -> None:
    client, _ = provider_api(answering(body))

    with pytest.raises(MapUnavailable):
        geocode(provider, client)


def test_a_reverse_document_without_names_is_unavailable(provider, provider_api) -> None:
    client, _ = provider_api(answering({"documents": [{"road_address": None, "address": None}]}))

    with pytest.raises(MapUnavailable):
        reverse(provider, client)


def test_without_a_key_it_refuses_without_calling(provider, provider_api) -> None:
    client, recorder = provider_api(answering(SEARCHED))

    with pytest.raises(MapRefused):
        provider.geocode(ADDRESS, market="KR", settings=KakaoMapSettings(), client=client)

    assert recorder.requests == []


def test_configured_needs_a_key(provider) -> None:
    assert provider.configured(SETTINGS)
    assert not provider.configured(KakaoMapSettings())
    assert KEY not in repr(SETTINGS)


def test_map_link_is_the_link_map_url(provider) -> None:
    point = Point(37.402056, 127.108212)

    assert provider.map_link(point) == "https://map.kakao.com/link/map/37.402056,127.108212"
    named = provider.map_link(point, title="카카오판교, 아지트")
    assert named.startswith("https://map.kakao.com/link/map/")
    assert unquote(named.removeprefix("https://map.kakao.com/link/map/")) == (
        "카카오판교  아지트,37.402056,127.108212"
    )


def test_the_plugin_registers_the_provider(plugin_manager) -> None:
    # A built-in plugin: registered through the same hook as an installed one.
    provider = Hooks(plugin_manager).map_providers()["kakaomap"]

    assert isinstance(provider, KakaoMapProvider)
    assert provider.datum is Datum.WGS84
    assert provider.settings_model is KakaoMapSettings
