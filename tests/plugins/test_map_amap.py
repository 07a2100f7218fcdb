"""The AMap provider against AMap's documented v3 geocode/regeo answers, on a mocked transport.

Bodies follow lbs.amap.com "地理/逆地理编码" (all values strings, ``location`` "lng,lat",
empty fields as ``[]``) and the "info/infocode" error table.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from regiocrm.interfaces.maps import Datum, Place, Point
from regiocrm.plugins.maps.amap import AmapProvider, AmapSettings
from regiocrm.testing import answering
from regiocrm.testing.maps import Answer, Call, Lookup, MapProviderConformance

KEY = "0123456789abcdef0123456789abcdef"
SETTINGS = AmapSettings(key=KEY)
ADDRESS = "北京市朝阳区阜通东大街6号"
POINT = Point(39.990464, 116.481488, Datum.GCJ02)

GEOCODED = {
    "status": "1",
    "info": "OK",
    "infocode": "10000",
    "count": "1",
    "geocodes": [
        {
            "formatted_address": "北京市朝阳区阜通东大街6号",
            "country": "中国",
            "province": "北京市",
            "citycode": "010",
            "city": "北京市",
            "district": "朝阳区",
            "township": [],
            "neighborhood": {"name": [], "type": []},
            "building": {"name": [], "type": []},
            "adcode": "110105",
            "street": "阜通东大街",
            "number": "6号",
            "location": "116.483038,39.990633",
            "level": "门牌号",
        }
    ],
}
REVERSED = {
    "status": "1",
    "info": "OK",
    "infocode": "10000",
    "regeocode": {
        "formatted_address": "北京市朝阳区望京街道方恒国际中心B座方恒国际",
        "addressComponent": {
            "country": "中国",
            "province": "北京市",
            "city": [],
            "citycode": "010",
            "district": "朝阳区",
            "adcode": "110105",
            "township": "望京街道",
            "towncode": "110105026000",
        },
    },
}


def error(info: str, infocode: str) -> Answer:
    body = {"status": "0", "info": info, "infocode": infocode}
    return Answer(body, says=(infocode, info), name=info)


def geocodes(*found: dict[str, Any]) -> dict[str, Any]:
    return {"status": "1", "count": "1", "geocodes": list(found)}


class TestAmap(MapProviderConformance):
    provider = AmapProvider()
    settings = SETTINGS
    market = "CN"
    address = ADDRESS
    geocoded = Lookup(
        Call(
            "https://restapi.amap.com/v3/geocode/geo",
            {"address": ADDRESS, "output": "JSON", "key": KEY},
        ),
        Answer(GEOCODED),
        Place(Point(39.990633, 116.483038, Datum.GCJ02), "北京市朝阳区阜通东大街6号", "门牌号"),
    )
    nothing = (
        Answer(
            {"status": "1", "info": "OK", "infocode": "10000", "count": "0", "geocodes": []},
            name="count 0",
        ),
    )
    point = POINT
    reversed = Lookup(
        # AMap asks for at most six decimals, longitude first.
        Call(
            "https://restapi.amap.com/v3/geocode/regeo",
            {
                "location": "116.481488,39.990464",
                "extensions": "base",
                "output": "JSON",
                "key": KEY,
            },
        ),
        Answer(REVERSED),
        Place(POINT, "北京市朝阳区望京街道方恒国际中心B座方恒国际"),
    )
    nowhere = (
        Answer(
            {
                "status": "1",
                "info": "OK",
                "infocode": "10000",
                "regeocode": {
                    "formatted_address": [],
                    "addressComponent": {"country": [], "province": [], "city": [], "district": []},
                },
            },
            name="at sea, formatted_address []",
        ),
    )
    refusals = (
        error("INVALID_USER_KEY", "10001"),
        error("SERVICE_NOT_AVAILABLE", "10002"),
        error("DAILY_QUERY_OVER_LIMIT", "10003"),
        error("ACCESS_TOO_FREQUENT", "10004"),
        error("INVALID_USER_IP", "10005"),
        error("USERKEY_PLAT_NOMATCH", "10009"),
        error("CUQPS_HAS_EXCEEDED_THE_LIMIT", "10021"),
        error("USER_DAILY_QUERY_OVER_LIMIT", "10044"),
        error("INSUFFICIENT_ABROAD_PRIVILEGES", "20011"),
    )
    failures = (
        error("GATEWAY_TIMEOUT", "10015"),
        error("SERVER_IS_BUSY", "10016"),
        error("INVALID_PARAMS", "20000"),
        error("UNKNOWN_ERROR", "20003"),
        error("ENGINE_RESPONSE_DATA_ERROR", "30001"),
    )
    server_errors = (Answer(status=502, text="Bad Gateway", says=("502",), name="502"),)
    non_json = "<response><status>1</status>"
    wrong_shapes = (
        Answer({"status": "1", "count": "1"}, name="no geocodes"),
        Answer(geocodes({"location": []}), name="location a list"),
        Answer(geocodes({"location": "39.99,116.48,0"}), name="three numbers"),
        Answer(geocodes({"location": "200.0,39.99"}), name="longitude 200"),
        Answer({"status": 1, "info": "OK"}, name="status a number"),
    )
    reverse_wrong_shapes = (
        Answer({"status": "1", "info": "OK", "infocode": "10000"}, name="no regeocode"),
        Answer(
            {"status": "1", "info": "OK", "infocode": "10000", "regeocode": "北京"},
            name="regeocode a string",
        ),
    )


def test_geocode_reads_empty_fields_as_none(provider_api) -> None:
    empty = {**GEOCODED, "geocodes": [{**GEOCODED["geocodes"][0], "level": []}]}
    client, _ = provider_api(answering(empty))

    place = AmapProvider().geocode(ADDRESS, market="CN", settings=SETTINGS, client=client)

    assert place.precision is None


def test_map_link_is_the_uri_api_marker_lng_first() -> None:
    point = Point(39.990633, 116.483038, Datum.GCJ02)
    provider = AmapProvider()

    assert provider.map_link(point) == "https://uri.amap.com/marker?position=116.483038,39.990633"
    named = parse_qs(urlsplit(provider.map_link(point, title="方恒国际")).query)
    assert named == {"position": ["116.483038,39.990633"], "name": ["方恒国际"]}
