"""The Baidu provider against Baidu's documented geocoding v3 answers, on a mocked transport.

Bodies follow lbsyun.baidu.com "地理编码" / "全球逆地理编码" return tables and the web API
appendix's status codes; the "no result" body is the one Baidu sends for an address it
cannot place (``status`` 1, ``msg`` "Internal Service Error:无相关结果").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from regiocrm.interfaces.maps import Datum, Place, Point
from regiocrm.plugins.maps.baidu import BaiduProvider, BaiduSettings
from regiocrm.testing.maps import Answer, Call, Lookup, MapProviderConformance

AK = "E4805d16520de693a3fe707cdc962045"
ADDRESS = "北京市海淀区上地十街10号"
POINT = Point(39.9164647, 116.4101156, Datum.BD09)

REVERSED = {
    "status": 0,
    "result": {
        "location": {"lng": 116.41011559999995, "lat": 39.91646468998556},
        "formatted_address": "北京市东城区东长安街",
        "business": "天安门,前门,王府井",
        "addressComponent": {
            "country": "中国",
            "country_code": 0,
            "country_code_iso": "CHN",
            "country_code_iso2": "CN",
            "province": "北京市",
            "city": "北京市",
            "city_level": 2,
            "district": "东城区",
            "town": "",
            "adcode": "110101",
            "street": "东长安街",
            "street_number": "",
            "direction": "",
            "distance": "",
        },
        "pois": [],
        "roads": [],
        "poiRegions": [],
        "sematic_description": "",
        "cityCode": 131,
    },
}


def status(code: int, message: str, name: str, field: str = "message") -> Answer:
    return Answer({"status": code, field: message}, says=(f"status {code}", message), name=name)


def located(location: dict[str, Any], name: str) -> Answer:
    return Answer({"status": 0, "result": {"location": location}}, name=name)


class TestBaidu(MapProviderConformance):
    provider = BaiduProvider()
    settings = BaiduSettings(key=AK)
    market = "CN"
    address = ADDRESS
    geocoded = Lookup(
        Call(
            "https://api.map.baidu.com/geocoding/v3/",
            {"address": ADDRESS, "ret_coordtype": "bd09ll", "output": "json", "ak": AK},
        ),
        Answer(
            {
                "status": 0,
                "result": {
                    "location": {"lng": 116.3084202915042, "lat": 40.05703033345938},
                    "precise": 1,
                    "confidence": 80,
                    "comprehension": 100,
                    "level": "门址",
                },
            }
        ),
        # Geocoding v3 returns no formatted address.
        Place(Point(40.05703033345938, 116.3084202915042, Datum.BD09), None, "门址"),
    )
    nothing = (
        Answer(
            {"status": 1, "msg": "Internal Service Error:无相关结果", "results": []},
            says=("无相关结果",),
            name="无相关结果",
        ),
    )
    point = POINT
    reversed = Lookup(
        Call(
            "https://api.map.baidu.com/reverse_geocoding/v3/",
            {
                "location": "39.9164647,116.4101156",
                "coordtype": "bd09ll",
                "output": "json",
                "ak": AK,
            },
        ),
        Answer(REVERSED),
        Place(POINT, "北京市东城区东长安街"),
    )
    nowhere = (
        Answer(
            {
                "status": 0,
                "result": {
                    "location": {"lng": 123.0, "lat": 30.0},
                    "formatted_address": "",
                    "business": "",
                    "addressComponent": {"country": "", "province": "", "city": "", "district": ""},
                    "pois": [],
                    "cityCode": 0,
                },
            },
            name="at sea, empty formatted_address",
        ),
    )
    refusals = (
        status(200, "APP不存在，AK有误请检查再重试", "bad ak"),
        status(240, "APP 服务被禁用", "service disabled"),
        status(302, "天配额超限，限制访问", "daily quota"),
        status(4, "Quota Failure", "quota"),
        status(401, "当前并发量已经超过约定并发配额，限制访问", "concurrency"),
        Answer({"status": 200, "message": f"APP不存在 ak={AK}"}, name="a message echoing the ak"),
    )
    failures = (
        status(1, "服务器内部错误", "internal error"),
        status(2, "Request Parameter Error: lack address or location", "bad request", "msg"),
    )
    # Baidu's default output is XML; a body that is not JSON is not an answer.
    non_json = "<GeocoderSearchResponse><status>0</status></GeocoderSearchResponse>"
    wrong_shapes = (
        Answer({"status": 0}, name="no result"),
        located({"lng": "东经"}, "longitude in words"),
        located({"lng": 116.3, "lat": 400.0}, "latitude 400"),
    )
    reverse_wrong_shapes = (
        Answer({"status": 0}, name="no result"),
        Answer({"status": 0, "result": "东城区"}, name="result a string"),
    )


def test_map_link_is_the_uri_api_marker_in_bd09ll() -> None:
    link = BaiduProvider().map_link(Point(39.9164647, 116.4101156, Datum.BD09), title="天安门")

    parts = urlsplit(link)
    assert (parts.netloc, parts.path) == ("api.map.baidu.com", "/marker")
    query = parse_qs(parts.query)
    assert query["location"] == ["39.9164647,116.4101156"]
    assert query["title"] == ["天安门"]
    assert query["output"] == ["html"]
    assert query["coord_type"] == ["bd09ll"]
