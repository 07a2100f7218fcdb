"""The Google provider against Google's documented Geocoding answers, on a mocked transport.

Bodies follow "Geocoding responses" in Google's Geocoding API documentation (status values
and the ``results[]`` shape), trimmed to the fields the provider reads plus their neighbours.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pydantic
import pytest

from regiocrm.interfaces.maps import Datum, MapRefused, MapUnavailable, NoResult, Point
from regiocrm.platform.hooks import Hooks
from regiocrm.plugins.maps.google import GoogleProvider, GoogleSettings
from regiocrm.testing import answering

KEY = "AIzaSyTestKey-0123456789abcdefghij"
SETTINGS = GoogleSettings(key=KEY)

TOKYO_STATION = {
    "results": [
        {
            "address_components": [
                {"long_name": "1", "short_name": "1", "types": ["premise"]},
                {"long_name": "Japan", "short_name": "JP", "types": ["country", "political"]},
            ],
            "formatted_address": "1-chōme-9 Marunouchi, Chiyoda City, Tokyo 100-0005, Japan",
            "geometry": {
                "location": {"lat": 35.6812362, "lng": 139.7671248},
                "location_type": "ROOFTOP",
                "viewport": {
                    "northeast": {"lat": 35.6825851802915, "lng": 139.7684737802915},
                    "southwest": {"lat": 35.6798872197085, "lng": 139.7657758197085},
                },
            },
            "place_id": "ChIJC3Cf2PuLGGAROO00ukl8JwA",
            "types": ["establishment", "point_of_interest", "train_station"],
        }
    ],
    "status": "OK",
}
ZERO_RESULTS = {"results": [], "status": "ZERO_RESULTS"}
REQUEST_DENIED = {
    "error_message": "The provided API key is invalid. ",
    "results": [],
    "status": "REQUEST_DENIED",
}
OVER_QUERY_LIMIT = {
    "error_message": "You have exceeded your daily request quota for this API.",
    "results": [],
    "status": "OVER_QUERY_LIMIT",
}
OVER_DAILY_LIMIT = {
    "error_message": "Billing has not been enabled on this project.",
    "results": [],
    "status": "OVER_DAILY_LIMIT",
}
INVALID_REQUEST = {
    "error_message": "Invalid request. Missing the 'address' parameter.",
    "results": [],
    "status": "INVALID_REQUEST",
}
UNKNOWN_ERROR = {"results": [], "status": "UNKNOWN_ERROR"}


@pytest.fixture
def provider() -> GoogleProvider:
    return GoogleProvider()


def test_geocode_sends_the_address_the_region_and_the_key(provider, provider_api) -> None:
    client, recorder = provider_api(answering(TOKYO_STATION))

    provider.geocode("東京駅", market="JP", settings=SETTINGS, client=client)

    request = recorder.requests[0]
    assert request.method == "GET"
    assert str(request.url).startswith("https://maps.googleapis.com/maps/api/geocode/json?")
    assert recorder.query == {"address": ["東京駅"], "region": ["jp"], "key": [KEY]}
    assert KEY not in str(request.headers)


def test_geocode_region_is_the_cctld_of_the_market(provider, provider_api) -> None:
    client, recorder = provider_api(answering(TOKYO_STATION))

    provider.geocode("10 Downing St", market="GB", settings=SETTINGS, client=client)

    assert recorder.query["region"] == ["uk"]


def test_geocode_reads_point_address_and_location_type(provider, provider_api) -> None:
    client, _ = provider_api(answering(TOKYO_STATION))

    place = provider.geocode("東京駅", market="JP", settings=SETTINGS, client=client)

    assert place.point == Point(35.6812362, 139.7671248, Datum.WGS84)
    assert place.address == "1-chōme-9 Marunouchi, Chiyoda City, Tokyo 100-0005, Japan"
    assert place.precision == "ROOFTOP"


def test_reverse_sends_latlng_and_reads_the_first_formatted_address(provider, provider_api) -> None:
    client, recorder = provider_api(answering(TOKYO_STATION))
    point = Point(35.6812362, 139.7671248, Datum.WGS84)

    place = provider.reverse(point, market="JP", settings=SETTINGS, client=client)

    assert recorder.query == {"latlng": ["35.6812362,139.7671248"], "key": [KEY]}
    assert place.point == point
    assert place.address == "1-chōme-9 Marunouchi, Chiyoda City, Tokyo 100-0005, Japan"


@pytest.mark.parametrize("method", ["geocode", "reverse"])
def test_zero_results_is_no_result(provider, provider_api, method: str) -> None:
    client, _ = provider_api(answering(ZERO_RESULTS))

    with pytest.raises(NoResult):
        call(provider, method, client)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (REQUEST_DENIED, "REQUEST_DENIED"),
        (OVER_QUERY_LIMIT, "OVER_QUERY_LIMIT"),
        (OVER_DAILY_LIMIT, "OVER_DAILY_LIMIT"),
    ],
)
def test_key_and_quota_statuses_are_refusals_that_name_the_status(
    provider, provider_api, body: dict[str, Any], status: str
) -> None:
    client, _ = provider_api(answering(body))

    with pytest.raises(MapRefused) as raised:
        provider.geocode("東京駅", market="JP", settings=SETTINGS, client=client)

    assert status in str(raised.value)
    assert body["error_message"].strip() in str(raised.value)
    assert KEY not in str(raised.value)


@pytest.mark.parametrize("body", [INVALID_REQUEST, UNKNOWN_ERROR])
def test_other_statuses_are_unavailable(provider, provider_api, body: dict[str, Any]) -> None:
    client, _ = provider_api(answering(body))

    with pytest.raises(MapUnavailable, match=body["status"]):
        provider.geocode("東京駅", market="JP", settings=SETTINGS, client=client)


def test_an_error_that_echoes_the_key_does_not_leak_it(provider, provider_api) -> None:
    echoed = {**REQUEST_DENIED, "error_message": f"API key {KEY} is not authorized."}
    client, _ = provider_api(answering(echoed))

    with pytest.raises(MapRefused) as raised:
        provider.geocode("東京駅", market="JP", settings=SETTINGS, client=client)

    assert KEY not in str(raised.value)
    assert "***" in str(raised.value)


def test_timeout_is_unavailable_and_hides_the_url(provider, provider_api) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)

    client, _ = provider_api(timeout)

    with pytest.raises(MapUnavailable) as raised:
        provider.geocode("東京駅", market="JP", settings=SETTINGS, client=client)

    assert "ReadTimeout" in str(raised.value)
    assert KEY not in str(raised.value)
    assert raised.value.__cause__ is None


def test_connection_failure_is_unavailable(provider, provider_api) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, _ = provider_api(refused)

    with pytest.raises(MapUnavailable, match="ConnectError"):
        provider.reverse(Point(35.68, 139.76), market="JP", settings=SETTINGS, client=client)


def test_non_json_is_unavailable(provider, provider_api) -> None:
    client, _ = provider_api(
        lambda request: httpx.Response(200, text="<html>captive portal</html>")
    )

    with pytest.raises(MapUnavailable, match="non-JSON"):
        provider.geocode("東京駅", market="JP", settings=SETTINGS, client=client)


def test_server_error_is_unavailable(provider, provider_api) -> None:
    client, _ = provider_api(lambda request: httpx.Response(500, text="Internal Server Error"))

    with pytest.raises(MapUnavailable, match="500"):
        provider.geocode("東京駅", market="JP", settings=SETTINGS, client=client)


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"status": "OK", "results": []},
        {"status": "OK", "results": [{"geometry": {"location": {"lat": "north"}}}]},
        {"status": "OK", "results": [{"geometry": {"location": {"lat": 135.0, "lng": 1.0}}}]},
    ],
)
def test_wrong_shapes_are_unavailable(provider, provider_api, body: Any) -> None:
    client, _ = provider_api(answering(body))

    with pytest.raises(MapUnavailable):
        provider.geocode("東京駅", market="JP", settings=SETTINGS, client=client)


def test_without_a_key_it_refuses_without_calling(provider, provider_api) -> None:
    client, recorder = provider_api(answering(TOKYO_STATION))

    with pytest.raises(MapRefused, match="key"):
        provider.geocode("東京駅", market="JP", settings=GoogleSettings(), client=client)

    assert recorder.requests == []


def test_an_empty_address_is_no_result_without_calling(provider, provider_api) -> None:
    client, recorder = provider_api(answering(TOKYO_STATION))

    with pytest.raises(NoResult):
        provider.geocode("  ", market="JP", settings=SETTINGS, client=client)

    assert recorder.requests == []


def test_configured_needs_a_key(provider) -> None:
    assert provider.configured(SETTINGS)
    assert not provider.configured(GoogleSettings())
    assert not provider.configured(GoogleSettings(key=""))


def test_settings_keep_the_key_secret_and_reject_unknown_keys() -> None:
    assert KEY not in repr(SETTINGS)
    with pytest.raises(pydantic.ValidationError):
        GoogleSettings.model_validate({"key": KEY, "api_key": KEY})


def test_map_link_is_a_maps_url_search_for_the_point(provider) -> None:
    link = provider.map_link(Point(35.6812362, 139.7671248))

    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.google.com", "/maps/search/")
    assert parse_qs(parts.query) == {"api": ["1"], "query": ["35.6812362,139.7671248"]}


def test_the_plugin_registers_the_provider(plugin_manager) -> None:
    # A built-in plugin: registered through the same hook as an installed one.
    providers = Hooks(plugin_manager).map_providers()

    assert isinstance(providers["google"], GoogleProvider)
    assert providers["google"].settings_model is GoogleSettings
    assert providers["google"].datum is Datum.WGS84


def call(provider: GoogleProvider, method: str, client: httpx.Client) -> Any:
    if method == "geocode":
        return provider.geocode("nowhere at all", market="JP", settings=SETTINGS, client=client)
    return provider.reverse(Point(0.0, -160.0), market="JP", settings=SETTINGS, client=client)
