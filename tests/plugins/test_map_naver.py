"""The NAVER provider against NAVER Cloud Maps' documented answers, on a mocked transport.

Bodies follow api.ncloud-docs.com "Geocoding" and "Reverse Geocoding" (``status``,
``meta``, ``addresses``; ``status.code``/``results[].region``/``land``) and the "Maps
overview" gateway errors (``{"error": {"errorCode", "message", "details"}}``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from regiocrm.interfaces.maps import Datum, MapRefused, MapUnavailable, NoResult, Point
from regiocrm.platform.hooks import Hooks
from regiocrm.plugins.maps.naver import NaverProvider, NaverSettings
from regiocrm.testing import answering

KEY_ID = "abcd1234ef"
KEY = "NaverClientSecret0123456789abcdefGHIJ"
SETTINGS = NaverSettings(key_id=KEY_ID, key=KEY)
ADDRESS = "분당구 불정로 6"

GEOCODED = {
    "status": "OK",
    "meta": {"totalCount": 1, "page": 1, "count": 1},
    "addresses": [
        {
            "roadAddress": "경기도 성남시 분당구 불정로 6 NAVER그린팩토리",
            "jibunAddress": "경기도 성남시 분당구 정자동 178-1 NAVER그린팩토리",
            "englishAddress": (
                "6, Buljeong-ro, Bundang-gu, Seongnam-si, Gyeonggi-do, Republic of Korea"
            ),
            "addressElements": [
                {"types": ["SIDO"], "longName": "경기도", "shortName": "경기도", "code": ""},
                {"types": ["POSTAL_CODE"], "longName": "13561", "shortName": "", "code": ""},
            ],
            "x": "127.1054328",
            "y": "37.3595963",
            "distance": 0.0,
        }
    ],
    "errorMessage": "",
}
NOTHING = {
    "status": "OK",
    "meta": {"totalCount": 0, "page": 1, "count": 0},
    "addresses": [],
    "errorMessage": "",
}
INVALID_REQUEST = {"status": "INVALID_REQUEST", "errorMessage": "query is INVALID"}


def area(name: str) -> dict[str, Any]:
    return {"name": name, "coords": {"center": {"crs": "EPSG:4326", "x": 0.0, "y": 0.0}}}


REGION = {
    "area0": {"name": "kr", "coords": {"center": {"crs": "", "x": 0.0, "y": 0.0}}},
    "area1": {**area("경기도"), "alias": "경기"},
    "area2": area("성남시 분당구"),
    "area3": area("정자동"),
    "area4": area(""),
}
LEGALCODE = {
    "name": "legalcode",
    "code": {"id": "4113510300", "type": "L", "mappingId": "02135103"},
    "region": REGION,
}
ADDR = {
    "name": "addr",
    "code": {"id": "4113510300", "type": "L", "mappingId": "02135103"},
    "region": REGION,
    "land": {
        "type": "1",
        "number1": "178",
        "number2": "1",
        "addition0": {"type": "", "value": ""},
        "name": "",
        "coords": {"center": {"crs": "", "x": 0.0, "y": 0.0}},
    },
}
ROADADDR = {
    "name": "roadaddr",
    "code": {"id": "4113510300", "type": "L", "mappingId": "02135103"},
    "region": REGION,
    "land": {
        "type": "",
        "number1": "6",
        "number2": "",
        "addition0": {"type": "building", "value": "NAVER그린팩토리"},
        "addition1": {"type": "zipcode", "value": "13561"},
        "name": "불정로",
        "coords": {"center": {"crs": "", "x": 0.0, "y": 0.0}},
    },
}
OK = {"code": 0, "name": "ok", "message": "done"}
REVERSED = {"status": OK, "results": [ROADADDR, ADDR, LEGALCODE]}
NO_RESULTS = {
    "status": {"code": 3, "name": "no results", "message": "요청한 데이타의 결과가 없습니다."},
    "results": [],
}
AUTH_FAILED = {
    "error": {
        "errorCode": "200",
        "message": "Authentication Failed",
        "details": "Invalid authentication information.",
    }
}
QUOTA_EXCEEDED = {
    "error": {"errorCode": "400", "message": "Quota Exceeded", "details": "Quota Exceeded."}
}
ENDPOINT_ERROR = {"error": {"errorCode": "500", "message": "Endpoint Error"}}


@pytest.fixture
def provider() -> NaverProvider:
    return NaverProvider()


def geocode(provider: NaverProvider, client: httpx.Client) -> Any:
    return provider.geocode(ADDRESS, market="KR", settings=SETTINGS, client=client)


def reverse(provider: NaverProvider, client: httpx.Client) -> Any:
    point = Point(37.3595963, 127.1054328, Datum.WGS84)
    return provider.reverse(point, market="KR", settings=SETTINGS, client=client)


def test_geocode_authenticates_with_headers_only(provider, provider_api) -> None:
    client, recorder = provider_api(answering(GEOCODED))

    geocode(provider, client)

    request = recorder.requests[0]
    url = urlsplit(str(request.url))
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "maps.apigw.ntruss.com",
        "/map-geocode/v2/geocode",
    )
    assert recorder.query == {"query": [ADDRESS]}
    assert request.headers["x-ncp-apigw-api-key-id"] == KEY_ID
    assert request.headers["x-ncp-apigw-api-key"] == KEY
    assert KEY not in str(request.url)


def test_geocode_reads_x_as_longitude_and_prefers_the_road_address(provider, provider_api) -> None:
    client, _ = provider_api(answering(GEOCODED))

    place = geocode(provider, client)

    assert place.point == Point(37.3595963, 127.1054328, Datum.WGS84)
    assert place.address == "경기도 성남시 분당구 불정로 6 NAVER그린팩토리"


def test_geocode_falls_back_to_the_jibun_address(provider, provider_api) -> None:
    jibun_only = {**GEOCODED, "addresses": [{**GEOCODED["addresses"][0], "roadAddress": ""}]}
    client, _ = provider_api(answering(jibun_only))

    assert geocode(provider, client).address == "경기도 성남시 분당구 정자동 178-1 NAVER그린팩토리"


def test_reverse_request(provider, provider_api) -> None:
    client, recorder = provider_api(answering(REVERSED))

    reverse(provider, client)

    request = recorder.requests[0]
    assert urlsplit(str(request.url)).path == "/map-reversegeocode/v2/gc"
    assert recorder.query == {
        "coords": ["127.1054328,37.3595963"],
        "sourcecrs": ["EPSG:4326"],
        "orders": ["roadaddr,addr,legalcode"],
        "output": ["json"],
    }
    assert request.headers["x-ncp-apigw-api-key"] == KEY


def test_reverse_builds_the_road_name_address_first(provider, provider_api) -> None:
    client, _ = provider_api(answering(REVERSED))

    place = reverse(provider, client)

    assert place.address == "경기도 성남시 분당구 불정로 6"
    assert place.precision == "roadaddr"


def test_reverse_falls_back_to_lot_number_then_legal_dong(provider, provider_api) -> None:
    client, _ = provider_api(answering({"status": OK, "results": [ADDR, LEGALCODE]}))
    assert reverse(provider, client).address == "경기도 성남시 분당구 정자동 178-1"

    client, _ = provider_api(answering({"status": OK, "results": [LEGALCODE]}))
    place = reverse(provider, client)
    assert (place.address, place.precision) == ("경기도 성남시 분당구 정자동", "legalcode")


def test_a_mountain_lot_is_written_with_san(provider, provider_api) -> None:
    mountain = {**ADDR, "land": {**ADDR["land"], "type": "2", "number2": ""}}
    client, _ = provider_api(answering({"status": OK, "results": [mountain]}))

    assert reverse(provider, client).address == "경기도 성남시 분당구 정자동 산178"


def test_no_addresses_is_no_result(provider, provider_api) -> None:
    client, _ = provider_api(answering(NOTHING))

    with pytest.raises(NoResult):
        geocode(provider, client)


def test_reverse_no_results_is_no_result(provider, provider_api) -> None:
    client, _ = provider_api(answering(NO_RESULTS))

    with pytest.raises(NoResult):
        reverse(provider, client)


@pytest.mark.parametrize(
    ("status", "body", "text"),
    [
        (401, AUTH_FAILED, "200 Authentication Failed"),
        (429, QUOTA_EXCEEDED, "400 Quota Exceeded"),
    ],
)
def test_gateway_auth_and_quota_errors_are_refusals(
    provider, provider_api, status: int, body: Any, text: str
) -> None:
    client, _ = provider_api(answering(body, status))

    with pytest.raises(MapRefused) as raised:
        geocode(provider, client)

    assert f"HTTP {status}" in str(raised.value)
    assert text in str(raised.value)
    assert KEY not in str(raised.value)


def test_invalid_request_is_unavailable(provider, provider_api) -> None:
    client, _ = provider_api(answering(INVALID_REQUEST, 400))

    with pytest.raises(MapUnavailable, match="INVALID_REQUEST"):
        geocode(provider, client)


def test_timeout_is_unavailable(provider, provider_api) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, _ = provider_api(timeout)

    with pytest.raises(MapUnavailable, match="ReadTimeout"):
        reverse(provider, client)


def test_non_json_is_unavailable(provider, provider_api) -> None:
    # The gc default output is XML; a non-JSON body is not an answer.
    client, _ = provider_api(lambda request: httpx.Response(200, text="<response><status>"))

    with pytest.raises(MapUnavailable, match="non-JSON"):
        reverse(provider, client)


@pytest.mark.parametrize(
    "response",
    [httpx.Response(500, json=ENDPOINT_ERROR), httpx.Response(504, text="Gateway Timeout")],
)
def test_server_errors_are_unavailable(provider, provider_api, response: httpx.Response) -> None:
    client, _ = provider_api(lambda request: response)

    with pytest.raises(MapUnavailable, match=f"HTTP {response.status_code}"):
        geocode(provider, client)


@pytest.mark.parametrize(
    "body",
    [
        ["OK"],
        {"status": "OK", "addresses": [{"x": "127.1"}]},
        {"status": "OK", "addresses": [{"x": "east", "y": "37.3"}]},
        {"status": "OK"},
    ],
)
def test_wrong_shapes_are_unavailable(provider, provider_api, body: Any) -> None:
    client, _ = provider_api(answering(body))

    with pytest.raises(MapUnavailable):
        geocode(provider, client)


def test_without_credentials_it_refuses_without_calling(provider, provider_api) -> None:
    client, recorder = provider_api(answering(GEOCODED))

    for settings in (NaverSettings(), NaverSettings(key=KEY), NaverSettings(key_id=KEY_ID)):
        with pytest.raises(MapRefused):
            provider.geocode(ADDRESS, market="KR", settings=settings, client=client)

    assert recorder.requests == []


def test_configured_needs_both_the_id_and_the_secret(provider) -> None:
    assert provider.configured(SETTINGS)
    assert not provider.configured(NaverSettings(key_id=KEY_ID))
    assert not provider.configured(NaverSettings(key=KEY))
    assert KEY not in repr(SETTINGS)


def test_map_link_is_the_app_url_scheme_place_action(provider) -> None:
    link = NaverProvider(appname="com.example.crm").map_link(
        Point(37.3595963, 127.1054328), title="그린팩토리"
    )

    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc) == ("nmap", "place")
    assert parse_qs(parts.query) == {
        "lat": ["37.3595963"],
        "lng": ["127.1054328"],
        "name": ["그린팩토리"],
        "appname": ["com.example.crm"],
    }


def test_the_plugin_registers_the_provider(plugin_manager) -> None:
    # A built-in plugin: registered through the same hook as an installed one.
    provider = Hooks(plugin_manager).map_providers()["naver"]

    assert isinstance(provider, NaverProvider)
    assert provider.datum is Datum.WGS84
    assert provider.settings_model is NaverSettings
