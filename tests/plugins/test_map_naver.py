"""The NAVER provider against NAVER Cloud Maps' documented answers, on a mocked transport.

Bodies follow api.ncloud-docs.com "Geocoding" and "Reverse Geocoding" (``status``,
``meta``, ``addresses``; ``status.code``/``results[].region``/``land``) and the "Maps
overview" gateway errors (``{"error": {"errorCode", "message", "details"}}``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from regiocrm.interfaces.maps import Datum, Place, Point
from regiocrm.plugins.maps.naver import NaverProvider, NaverSettings
from regiocrm.testing import answering
from regiocrm.testing.maps import Answer, Call, Lookup, MapProviderConformance

KEY_ID = "abcd1234ef"
KEY = "NaverClientSecret0123456789abcdefGHIJ"
SETTINGS = NaverSettings(key_id=KEY_ID, key=KEY)
ADDRESS = "분당구 불정로 6"
POINT = Point(37.3595963, 127.1054328, Datum.WGS84)
# The key never goes in the URL.
KEY_HEADERS = {"x-ncp-apigw-api-key-id": KEY_ID, "x-ncp-apigw-api-key": KEY}

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


def gateway_error(status: int, code: str, message: str, details: str) -> Answer:
    body = {"error": {"errorCode": code, "message": message, "details": details}}
    return Answer(body, status, says=(f"HTTP {status}", f"{code} {message}"), name=message)


def addresses(*found: dict[str, Any], name: str) -> Answer:
    return Answer({"status": "OK", "addresses": list(found)}, name=name)


class TestNaver(MapProviderConformance):
    provider = NaverProvider()
    settings = SETTINGS
    market = "KR"
    address = ADDRESS
    geocoded = Lookup(
        Call(
            "https://maps.apigw.ntruss.com/map-geocode/v2/geocode", {"query": ADDRESS}, KEY_HEADERS
        ),
        Answer(GEOCODED),
        # x is the longitude; the road address is preferred.
        Place(POINT, "경기도 성남시 분당구 불정로 6 NAVER그린팩토리"),
    )
    nothing = (
        Answer(
            {
                "status": "OK",
                "meta": {"totalCount": 0, "page": 1, "count": 0},
                "addresses": [],
                "errorMessage": "",
            },
            name="totalCount 0",
        ),
    )
    point = POINT
    reversed = Lookup(
        Call(
            "https://maps.apigw.ntruss.com/map-reversegeocode/v2/gc",
            {
                "coords": "127.1054328,37.3595963",
                "sourcecrs": "EPSG:4326",
                "orders": "roadaddr,addr,legalcode",
                "output": "json",
            },
            KEY_HEADERS,
        ),
        Answer(REVERSED),
        # The road-name address comes first.
        Place(POINT, "경기도 성남시 분당구 불정로 6", "roadaddr"),
    )
    nowhere = (
        Answer(
            {
                "status": {
                    "code": 3,
                    "name": "no results",
                    "message": "요청한 데이타의 결과가 없습니다.",
                },
                "results": [],
            },
            name="no results",
        ),
    )
    refusals = (
        gateway_error(401, "200", "Authentication Failed", "Invalid authentication information."),
        gateway_error(429, "400", "Quota Exceeded", "Quota Exceeded."),
    )
    failures = (
        Answer(
            {"status": "INVALID_REQUEST", "errorMessage": "query is INVALID"},
            400,
            says=("INVALID_REQUEST",),
            name="invalid request",
        ),
    )
    server_errors = (
        Answer(
            {"error": {"errorCode": "500", "message": "Endpoint Error"}},
            500,
            says=("HTTP 500",),
            name="500",
        ),
        Answer(status=504, text="Gateway Timeout", says=("HTTP 504",), name="504"),
    )
    # The gc default output is XML; a non-JSON body is not an answer.
    non_json = "<response><status>"
    wrong_shapes = (
        addresses({"x": "127.1"}, name="no y"),
        addresses({"x": "east", "y": "37.3"}, name="x in words"),
        Answer({"status": "OK"}, name="no addresses"),
    )
    reverse_wrong_shapes = (
        Answer({"status": {"code": 0, "name": "ok", "message": "done"}}, name="no results"),
        Answer(
            {"status": {"code": 0, "name": "ok", "message": "done"}, "results": "roadaddr"},
            name="results a string",
        ),
    )
    unconfigured = (NaverSettings(), NaverSettings(key=KEY), NaverSettings(key_id=KEY_ID))


def test_geocode_falls_back_to_the_jibun_address(provider_api) -> None:
    jibun_only = {**GEOCODED, "addresses": [{**GEOCODED["addresses"][0], "roadAddress": ""}]}
    client, _ = provider_api(answering(jibun_only))

    place = NaverProvider().geocode(ADDRESS, market="KR", settings=SETTINGS, client=client)

    assert place.address == "경기도 성남시 분당구 정자동 178-1 NAVER그린팩토리"


def reverse(client: Any) -> Place:
    return NaverProvider().reverse(POINT, market="KR", settings=SETTINGS, client=client)


def test_reverse_falls_back_to_lot_number_then_legal_dong(provider_api) -> None:
    client, _ = provider_api(answering({"status": OK, "results": [ADDR, LEGALCODE]}))
    assert reverse(client).address == "경기도 성남시 분당구 정자동 178-1"

    client, _ = provider_api(answering({"status": OK, "results": [LEGALCODE]}))
    place = reverse(client)
    assert (place.address, place.precision) == ("경기도 성남시 분당구 정자동", "legalcode")


def test_a_mountain_lot_is_written_with_san(provider_api) -> None:
    mountain = {**ADDR, "land": {**ADDR["land"], "type": "2", "number2": ""}}
    client, _ = provider_api(answering({"status": OK, "results": [mountain]}))

    assert reverse(client).address == "경기도 성남시 분당구 정자동 산178"


def test_map_link_is_the_app_url_scheme_place_action() -> None:
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
