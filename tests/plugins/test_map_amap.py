"""The AMap provider against AMap's documented v3 geocode/regeo answers, on a mocked transport.

Bodies follow lbs.amap.com "地理/逆地理编码" (all values strings, ``location`` "lng,lat",
empty fields as ``[]``) and the "info/infocode" error table.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from regiocrm.interfaces.maps import Datum, MapRefused, MapUnavailable, NoResult, Point
from regiocrm.platform.hooks import Hooks
from regiocrm.plugins.maps.amap import AmapProvider, AmapSettings
from regiocrm.testing import answering

KEY = "0123456789abcdef0123456789abcdef"
SETTINGS = AmapSettings(key=KEY)
ADDRESS = "北京市朝阳区阜通东大街6号"

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
NOTHING = {"status": "1", "info": "OK", "infocode": "10000", "count": "0", "geocodes": []}
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
AT_SEA = {
    "status": "1",
    "info": "OK",
    "infocode": "10000",
    "regeocode": {
        "formatted_address": [],
        "addressComponent": {"country": [], "province": [], "city": [], "district": []},
    },
}


def error(info: str, infocode: str) -> dict[str, str]:
    return {"status": "0", "info": info, "infocode": infocode}


@pytest.fixture
def provider() -> AmapProvider:
    return AmapProvider()


def geocode(provider: AmapProvider, client: httpx.Client) -> Any:
    return provider.geocode(ADDRESS, market="CN", settings=SETTINGS, client=client)


def reverse(provider: AmapProvider, client: httpx.Client) -> Any:
    point = Point(39.990464, 116.481488, Datum.GCJ02)
    return provider.reverse(point, market="CN", settings=SETTINGS, client=client)


def test_geocode_request(provider, provider_api) -> None:
    client, recorder = provider_api(answering(GEOCODED))

    geocode(provider, client)

    url = urlsplit(str(recorder.requests[0].url))
    assert (url.scheme, url.netloc, url.path) == ("https", "restapi.amap.com", "/v3/geocode/geo")
    assert recorder.query == {"address": [ADDRESS], "output": ["JSON"], "key": [KEY]}
    assert KEY not in str(recorder.requests[0].headers)


def test_geocode_reads_lng_lat_string_as_a_gcj02_point(provider, provider_api) -> None:
    client, _ = provider_api(answering(GEOCODED))

    place = geocode(provider, client)

    assert place.point == Point(39.990633, 116.483038, Datum.GCJ02)
    assert place.address == "北京市朝阳区阜通东大街6号"
    assert place.precision == "门牌号"


def test_geocode_reads_empty_fields_as_none(provider, provider_api) -> None:
    empty = {**GEOCODED, "geocodes": [{**GEOCODED["geocodes"][0], "level": []}]}
    client, _ = provider_api(answering(empty))

    assert geocode(provider, client).precision is None


def test_reverse_sends_lng_first_with_six_decimals(provider, provider_api) -> None:
    client, recorder = provider_api(answering(REVERSED))

    place = reverse(provider, client)

    assert urlsplit(str(recorder.requests[0].url)).path == "/v3/geocode/regeo"
    assert recorder.query == {
        "location": ["116.481488,39.990464"],
        "extensions": ["base"],
        "output": ["JSON"],
        "key": [KEY],
    }
    assert place.address == "北京市朝阳区望京街道方恒国际中心B座方恒国际"
    assert place.point.datum is Datum.GCJ02


def test_count_zero_is_no_result(provider, provider_api) -> None:
    client, _ = provider_api(answering(NOTHING))

    with pytest.raises(NoResult):
        geocode(provider, client)


def test_an_empty_list_address_is_no_result(provider, provider_api) -> None:
    client, _ = provider_api(answering(AT_SEA))

    with pytest.raises(NoResult):
        reverse(provider, client)


@pytest.mark.parametrize(
    ("info", "infocode"),
    [
        ("INVALID_USER_KEY", "10001"),
        ("SERVICE_NOT_AVAILABLE", "10002"),
        ("DAILY_QUERY_OVER_LIMIT", "10003"),
        ("ACCESS_TOO_FREQUENT", "10004"),
        ("INVALID_USER_IP", "10005"),
        ("USERKEY_PLAT_NOMATCH", "10009"),
        ("CUQPS_HAS_EXCEEDED_THE_LIMIT", "10021"),
        ("USER_DAILY_QUERY_OVER_LIMIT", "10044"),
        ("INSUFFICIENT_ABROAD_PRIVILEGES", "20011"),
    ],
)
def test_key_and_quota_infocodes_are_refusals(
    provider, provider_api, info: str, infocode: str
) -> None:
    client, _ = provider_api(answering(error(info, infocode)))

    with pytest.raises(MapRefused) as raised:
        geocode(provider, client)

    assert infocode in str(raised.value)
    assert info in str(raised.value)
    assert KEY not in str(raised.value)


@pytest.mark.parametrize(
    ("info", "infocode"),
    [
        ("GATEWAY_TIMEOUT", "10015"),
        ("SERVER_IS_BUSY", "10016"),
        ("INVALID_PARAMS", "20000"),
        ("UNKNOWN_ERROR", "20003"),
        ("ENGINE_RESPONSE_DATA_ERROR", "30001"),
    ],
)
def test_transient_and_parameter_infocodes_are_unavailable(
    provider, provider_api, info: str, infocode: str
) -> None:
    client, _ = provider_api(answering(error(info, infocode)))

    with pytest.raises(MapUnavailable, match=infocode):
        reverse(provider, client)


def test_timeout_is_unavailable_and_hides_the_url(provider, provider_api) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out: {request.url}", request=request)

    client, _ = provider_api(timeout)

    with pytest.raises(MapUnavailable, match="ReadTimeout") as raised:
        geocode(provider, client)

    assert KEY not in str(raised.value)
    assert raised.value.__cause__ is None


def test_non_json_is_unavailable(provider, provider_api) -> None:
    client, _ = provider_api(
        lambda request: httpx.Response(200, text="<response><status>1</status>")
    )

    with pytest.raises(MapUnavailable, match="non-JSON"):
        geocode(provider, client)


def test_server_error_is_unavailable(provider, provider_api) -> None:
    client, _ = provider_api(lambda request: httpx.Response(502, text="Bad Gateway"))

    with pytest.raises(MapUnavailable, match="502"):
        geocode(provider, client)


@pytest.mark.parametrize(
    "body",
    [
        ["1"],
        {"status": "1", "count": "1"},
        {"status": "1", "count": "1", "geocodes": [{"location": []}]},
        {"status": "1", "count": "1", "geocodes": [{"location": "39.99,116.48,0"}]},
        {"status": "1", "count": "1", "geocodes": [{"location": "200.0,39.99"}]},
        {"status": 1, "info": "OK"},
    ],
)
def test_wrong_shapes_are_unavailable(provider, provider_api, body: Any) -> None:
    client, _ = provider_api(answering(body))

    with pytest.raises(MapUnavailable):
        geocode(provider, client)


def test_without_a_key_it_refuses_without_calling(provider, provider_api) -> None:
    client, recorder = provider_api(answering(GEOCODED))

    with pytest.raises(MapRefused):
        provider.geocode(ADDRESS, market="CN", settings=AmapSettings(), client=client)

    assert recorder.requests == []


def test_configured_needs_a_key(provider) -> None:
    assert provider.configured(SETTINGS)
    assert not provider.configured(AmapSettings())


def test_map_link_is_the_uri_api_marker_lng_first(provider) -> None:
    point = Point(39.990633, 116.483038, Datum.GCJ02)

    assert provider.map_link(point) == "https://uri.amap.com/marker?position=116.483038,39.990633"
    named = parse_qs(urlsplit(provider.map_link(point, title="方恒国际")).query)
    assert named == {"position": ["116.483038,39.990633"], "name": ["方恒国际"]}


def test_the_plugin_registers_the_provider(plugin_manager) -> None:
    # A built-in plugin: registered through the same hook as an installed one.
    provider = Hooks(plugin_manager).map_providers()["amap"]

    assert isinstance(provider, AmapProvider)
    assert provider.datum is Datum.GCJ02
    assert provider.settings_model is AmapSettings
