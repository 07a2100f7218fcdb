"""The Google provider against Google's documented Geocoding answers, on a mocked transport.

Bodies follow "Geocoding responses" in Google's Geocoding API documentation (status values
and the ``results[]`` shape), trimmed to the fields the provider reads plus their neighbours.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from regiocrm.interfaces.maps import Datum, Place, Point
from regiocrm.plugins.maps.google import GoogleProvider, GoogleSettings
from regiocrm.testing import answering
from regiocrm.testing.maps import Answer, Call, Lookup, MapProviderConformance

KEY = "AIzaSyTestKey-0123456789abcdefghij"
SETTINGS = GoogleSettings(key=KEY)
GEOCODE_URL = "https://maps.googleapis.com/maps/api/geocode/json"
MARUNOUCHI = "1-chōme-9 Marunouchi, Chiyoda City, Tokyo 100-0005, Japan"
TOKYO_STATION = {
    "results": [
        {
            "address_components": [
                {"long_name": "1", "short_name": "1", "types": ["premise"]},
                {"long_name": "Japan", "short_name": "JP", "types": ["country", "political"]},
            ],
            "formatted_address": MARUNOUCHI,
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
ZERO_RESULTS = Answer({"results": [], "status": "ZERO_RESULTS"}, name="ZERO_RESULTS")


def status(name: str, message: str | None = None) -> Answer:
    body = {"results": [], "status": name}
    if message is None:
        return Answer(body, says=(name,), name=name)
    return Answer({**body, "error_message": message}, says=(name, message.strip()), name=name)


def located(location: dict[str, Any], name: str) -> Answer:
    return Answer({"status": "OK", "results": [{"geometry": {"location": location}}]}, name=name)


class TestGoogle(MapProviderConformance):
    provider = GoogleProvider()
    settings = SETTINGS
    market = "JP"
    address = "東京駅"
    geocoded = Lookup(
        Call(GEOCODE_URL, {"address": "東京駅", "region": "jp", "key": KEY}),
        Answer(TOKYO_STATION),
        Place(Point(35.6812362, 139.7671248, Datum.WGS84), MARUNOUCHI, "ROOFTOP"),
    )
    nothing = (ZERO_RESULTS,)
    point = Point(35.6812362, 139.7671248, Datum.WGS84)
    reversed = Lookup(
        Call(GEOCODE_URL, {"latlng": "35.6812362,139.7671248", "key": KEY}),
        Answer(TOKYO_STATION),
        Place(point, MARUNOUCHI),
    )
    nowhere = (ZERO_RESULTS,)
    refusals = (
        status("REQUEST_DENIED", "The provided API key is invalid. "),
        status("OVER_QUERY_LIMIT", "You have exceeded your daily request quota for this API."),
        status("OVER_DAILY_LIMIT", "Billing has not been enabled on this project."),
        Answer(
            {
                "results": [],
                "status": "REQUEST_DENIED",
                "error_message": f"API key {KEY} is not authorized.",
            },
            says=("***",),
            name="an error echoing the key",
        ),
    )
    failures = (
        status("INVALID_REQUEST", "Invalid request. Missing the 'address' parameter."),
        status("UNKNOWN_ERROR"),
    )
    non_json = "<html>captive portal</html>"
    wrong_shapes = (
        Answer({"status": "OK", "results": []}, name="OK without results"),
        located({"lat": "north"}, "latitude in words"),
        located({"lat": 135.0, "lng": 1.0}, "latitude 135"),
    )
    reverse_wrong_shapes = (
        Answer({"status": "OK", "results": [{"types": ["street_address"]}]}, name="no address"),
        Answer({"status": "OK", "results": "Marunouchi"}, name="results a string"),
    )
    unconfigured = (GoogleSettings(), GoogleSettings(key=""))


def test_geocode_region_is_the_cctld_of_the_market(provider_api) -> None:
    client, recorder = provider_api(answering(TOKYO_STATION))

    GoogleProvider().geocode("10 Downing St", market="GB", settings=SETTINGS, client=client)

    assert recorder.query["region"] == ["uk"]


def test_map_link_is_a_maps_url_search_for_the_point() -> None:
    link = GoogleProvider().map_link(Point(35.6812362, 139.7671248))

    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.google.com", "/maps/search/")
    assert parse_qs(parts.query) == {"api": ["1"], "query": ["35.6812362,139.7671248"]}
