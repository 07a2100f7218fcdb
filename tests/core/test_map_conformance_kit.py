"""The map-provider conformance kit on a provider from outside regiocrm: one that keeps to
the contract passes, registered by its own plugin, and one that shows its key fails."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from regiocrm import hookimpl
from regiocrm.interfaces.maps import (
    ApiKeySettings,
    Datum,
    MapProvider,
    MapRefused,
    MapUnavailable,
    NoResult,
    Place,
    Point,
    fetch,
    json_object,
    redact,
)
from regiocrm.testing.maps import Answer, Call, Lookup, MapProviderConformance

pytest_plugins = ["pytester"]

KEY = "th-maps-key-0123456789"
URL = "https://maps.example.com/geocode"


class ThaiMapsSettings(ApiKeySettings):
    """``[maps.thaimaps]``."""


class ThaiMaps(MapProvider):
    """A provider as a third party writes one: a key in the query, ``{"status", "results"}``."""

    name = "thaimaps"
    datum = Datum.WGS84
    settings_model = ThaiMapsSettings

    def lookup_address(
        self, address: str, *, market: str, settings: Any, secret: str, client: httpx.Client
    ) -> Place:
        result = self.ask(client, {"q": address, "key": secret}, secret)
        return Place(Point(result["lat"], result["lng"], self.datum), result.get("label"))

    def lookup_point(
        self, point: Point, *, market: str, settings: Any, secret: str, client: httpx.Client
    ) -> Place:
        result = self.ask(client, {"at": f"{point.lat},{point.lon}", "key": secret}, secret)
        return Place(point, result["label"])

    def map_link(self, point: Point) -> str:
        return f"https://maps.example.com/?at={point.lat},{point.lon}"

    def ask(self, client: httpx.Client, params: dict[str, str], secret: str) -> dict[str, Any]:
        response = fetch(self.name, secret, lambda: client.get(URL, params=params))
        if response.status_code == 403:
            raise MapRefused(f"thaimaps refused: {redact(response.text, secret)}")
        if not response.is_success:
            raise MapUnavailable(f"thaimaps answered {response.status_code}")
        body = json_object(self.name, response, secret)
        if body.get("status") == "none":
            raise NoResult("thaimaps found nothing")
        try:
            [result] = body["results"]
            float(result["lat"]), float(result["lng"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MapUnavailable(f"thaimaps answered what it cannot read: {exc!r}") from None
        return dict(result)


class ThaiMapsPlugin:
    @hookimpl
    def register_map_providers(self) -> list[MapProvider]:
        return [ThaiMaps()]


# --8<-- [start:map_conformance]
FOUND = {"status": "ok", "results": [{"lat": 13.7465, "lng": 100.5348, "label": "Siam"}]}


class TestThaiMaps(MapProviderConformance):
    provider = ThaiMaps()
    settings = ThaiMapsSettings(key=SecretStr(KEY))
    market = "TH"
    address = "Siam Paragon"
    geocoded = Lookup(
        Call(URL, {"q": "Siam Paragon", "key": KEY}),
        Answer(FOUND),
        Place(Point(13.7465, 100.5348), "Siam"),
    )
    nothing = (Answer({"status": "none"}, name="none"),)
    point = Point(13.7465, 100.5348)
    reversed = Lookup(
        Call(URL, {"at": "13.7465,100.5348", "key": KEY}), Answer(FOUND), Place(point, "Siam")
    )
    nowhere = (Answer({"status": "none"}, name="none"),)
    refusals = (Answer(text="key refused", status=403, says=("key refused",), name="403"),)
    failures = (Answer({"status": "error"}, name="error"),)
    wrong_shapes = (Answer({"status": "ok", "results": []}, name="no results"),)
    reverse_wrong_shapes = wrong_shapes
    plugin = ThaiMapsPlugin()


# --8<-- [end:map_conformance]


LEAKY = """
from regiocrm.interfaces.maps import MapRefused
from test_map_conformance_kit import ThaiMaps, TestThaiMaps


class LeakyMaps(ThaiMaps):
    def ask(self, client, params, secret):
        raise MapRefused(f"thaimaps refused the key {secret}")


class TestLeaky(TestThaiMaps):
    provider = LeakyMaps()
"""


def test_a_provider_that_shows_its_key_fails_the_kit(pytester: pytest.Pytester) -> None:
    pytester.syspathinsert(__file__.rpartition("/")[0])
    pytester.makepyfile(test_leaky=LEAKY)

    recorder = pytester.inline_run("-p", "no:cacheprovider", "-k", "Leaky")

    failed = {report.nodeid.split("::")[-1] for report in recorder.getfailures()}
    assert "test_key_and_quota_errors_are_refusals[403-geocode]" in failed
    assert "test_reads_the_place_in_the_providers_datum[geocode]" in failed
