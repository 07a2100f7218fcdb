"""The Baidu provider against Baidu's documented geocoding v3 answers, on a mocked transport.

Bodies follow lbsyun.baidu.com "地理编码" / "全球逆地理编码" return tables and the web API
appendix's status codes; the "no result" body is the one Baidu sends for an address it
cannot place (``status`` 1, ``msg`` "Internal Service Error:无相关结果").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from regiocrm.interfaces.maps import Datum, MapRefused, MapUnavailable, NoResult, Point
from regiocrm.platform.hooks import Hooks
from regiocrm.plugins.maps.baidu import BaiduProvider, BaiduSettings
from regiocrm.testing import answering

AK = "E4805d16520de693a3fe707cdc962045"
SETTINGS = BaiduSettings(key=AK)
ADDRESS = "北京市海淀区上地十街10号"

GEOCODED = {
    "status": 0,
    "result": {
        "location": {"lng": 116.3084202915042, "lat": 40.05703033345938},
        "precise": 1,
        "confidence": 80,
        "comprehension": 100,
        "level": "门址",
    },
}
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
AT_SEA = {
    "status": 0,
    "result": {
        "location": {"lng": 123.0, "lat": 30.0},
        "formatted_address": "",
        "business": "",
        "addressComponent": {"country": "", "province": "", "city": "", "district": ""},
        "pois": [],
        "cityCode": 0,
    },
}
NOTHING = {"status": 1, "msg": "Internal Service Error:无相关结果", "results": []}
INTERNAL = {"status": 1, "message": "服务器内部错误"}
BAD_AK = {"status": 200, "message": "APP不存在，AK有误请检查再重试"}
NOT_ENABLED = {"status": 240, "message": "APP 服务被禁用"}
DAILY_QUOTA = {"status": 302, "message": "天配额超限，限制访问"}
QUOTA = {"status": 4, "message": "Quota Failure"}
CONCURRENCY = {"status": 401, "message": "当前并发量已经超过约定并发配额，限制访问"}
MISSING_PARAMETER = {
    "status": 2,
    "msg": "Request Parameter Error: lack address or location",
    "results": [],
}


@pytest.fixture
def provider() -> BaiduProvider:
    return BaiduProvider()


def geocode(provider: BaiduProvider, client: httpx.Client) -> Any:
    return provider.geocode(ADDRESS, market="CN", settings=SETTINGS, client=client)


def reverse(provider: BaiduProvider, client: httpx.Client) -> Any:
    point = Point(39.9164647, 116.4101156, Datum.BD09)
    return provider.reverse(point, market="CN", settings=SETTINGS, client=client)


def test_geocode_asks_for_json_in_bd09ll(provider, provider_api) -> None:
    client, recorder = provider_api(answering(GEOCODED))

    geocode(provider, client)

    url = urlsplit(str(recorder.requests[0].url))
    assert (url.scheme, url.netloc, url.path) == ("https", "api.map.baidu.com", "/geocoding/v3/")
    assert recorder.query == {
        "address": [ADDRESS],
        "ret_coordtype": ["bd09ll"],
        "output": ["json"],
        "ak": [AK],
    }
    assert AK not in str(recorder.requests[0].headers)


def test_geocode_reads_a_bd09_point_and_the_level(provider, provider_api) -> None:
    client, _ = provider_api(answering(GEOCODED))

    place = geocode(provider, client)

    assert place.point == Point(40.05703033345938, 116.3084202915042, Datum.BD09)
    assert place.precision == "门址"
    assert place.address is None  # geocoding v3 returns no formatted address


def test_reverse_sends_lat_lng_in_bd09ll_and_reads_formatted_address(
    provider, provider_api
) -> None:
    client, recorder = provider_api(answering(REVERSED))

    place = reverse(provider, client)

    url = urlsplit(str(recorder.requests[0].url))
    assert url.path == "/reverse_geocoding/v3/"
    assert recorder.query == {
        "location": ["39.9164647,116.4101156"],
        "coordtype": ["bd09ll"],
        "output": ["json"],
        "ak": [AK],
    }
    assert place.address == "北京市东城区东长安街"
    assert place.point == Point(39.9164647, 116.4101156, Datum.BD09)


def test_nothing_found_is_no_result(provider, provider_api) -> None:
    client, _ = provider_api(answering(NOTHING))

    with pytest.raises(NoResult, match="无相关结果"):
        geocode(provider, client)


def test_an_empty_formatted_address_is_no_result(provider, provider_api) -> None:
    client, _ = provider_api(answering(AT_SEA))

    with pytest.raises(NoResult):
        reverse(provider, client)


@pytest.mark.parametrize("body", [BAD_AK, NOT_ENABLED, DAILY_QUOTA, QUOTA, CONCURRENCY])
def test_key_quota_and_service_statuses_are_refusals(
    provider, provider_api, body: dict[str, Any]
) -> None:
    client, _ = provider_api(answering(body))

    with pytest.raises(MapRefused) as raised:
        geocode(provider, client)

    assert f"status {body['status']}" in str(raised.value)
    assert body["message"] in str(raised.value)
    assert AK not in str(raised.value)


@pytest.mark.parametrize("body", [INTERNAL, MISSING_PARAMETER])
def test_internal_and_parameter_errors_are_unavailable(provider, provider_api, body: Any) -> None:
    client, _ = provider_api(answering(body))

    with pytest.raises(MapUnavailable, match=f"status {body['status']}"):
        geocode(provider, client)


def test_a_message_that_echoes_the_ak_does_not_leak_it(provider, provider_api) -> None:
    client, _ = provider_api(answering({"status": 200, "message": f"APP不存在 ak={AK}"}))

    with pytest.raises(MapRefused) as raised:
        geocode(provider, client)

    assert AK not in str(raised.value)


def test_timeout_is_unavailable_and_hides_the_url(provider, provider_api) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out: {request.url}", request=request)

    client, _ = provider_api(timeout)

    with pytest.raises(MapUnavailable, match="ReadTimeout") as raised:
        geocode(provider, client)

    assert AK not in str(raised.value)
    assert raised.value.__cause__ is None


def test_non_json_is_unavailable(provider, provider_api) -> None:
    # Baidu's default output is XML; a body that is not JSON is not an answer.
    xml = "<GeocoderSearchResponse><status>0</status></GeocoderSearchResponse>"
    client, _ = provider_api(lambda request: httpx.Response(200, text=xml))

    with pytest.raises(MapUnavailable, match="non-JSON"):
        geocode(provider, client)


def test_server_error_is_unavailable(provider, provider_api) -> None:
    client, _ = provider_api(lambda request: httpx.Response(500, text="Internal Server Error"))

    with pytest.raises(MapUnavailable, match="500"):
        reverse(provider, client)


@pytest.mark.parametrize(
    "body",
    [
        ["status", 0],
        {"status": 0},
        {"status": 0, "result": {"location": {"lng": "东经"}}},
        {"status": 0, "result": {"location": {"lng": 116.3, "lat": 400.0}}},
    ],
)
def test_wrong_shapes_are_unavailable(provider, provider_api, body: Any) -> None:
    client, _ = provider_api(answering(body))

    with pytest.raises(MapUnavailable):
        geocode(provider, client)


def test_without_a_key_it_refuses_without_calling(provider, provider_api) -> None:
    client, recorder = provider_api(answering(GEOCODED))

    with pytest.raises(MapRefused):
        provider.geocode(ADDRESS, market="CN", settings=BaiduSettings(), client=client)

    assert recorder.requests == []


def test_configured_needs_a_key(provider) -> None:
    assert provider.configured(SETTINGS)
    assert not provider.configured(BaiduSettings())
    assert AK not in repr(SETTINGS)


def test_map_link_is_the_uri_api_marker_in_bd09ll(provider) -> None:
    link = provider.map_link(Point(39.9164647, 116.4101156, Datum.BD09), title="天安门")

    parts = urlsplit(link)
    assert (parts.netloc, parts.path) == ("api.map.baidu.com", "/marker")
    query = parse_qs(parts.query)
    assert query["location"] == ["39.9164647,116.4101156"]
    assert query["title"] == ["天安门"]
    assert query["output"] == ["html"]
    assert query["coord_type"] == ["bd09ll"]


def test_the_plugin_registers_the_provider(plugin_manager) -> None:
    # A built-in plugin: registered through the same hook as an installed one.
    provider = Hooks(plugin_manager).map_providers()["baidu"]

    assert isinstance(provider, BaiduProvider)
    assert provider.datum is Datum.BD09
    assert provider.settings_model is BaiduSettings
