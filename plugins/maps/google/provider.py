"""The Google Geocoding API (``maps/api/geocode/json``) as a
:class:`~regiocrm.interfaces.maps.MapProvider`.

Forward: ``GET https://maps.googleapis.com/maps/api/geocode/json?address=…&region=…&key=…``;
reverse: the same endpoint with ``latlng=lat,lng``. Every answer carries a ``status``:
``OK`` with ``results[].formatted_address`` and ``geometry.location`` (numbers, WGS-84) and
``geometry.location_type`` (``ROOFTOP``, ``RANGE_INTERPOLATED``, ``GEOMETRIC_CENTER``,
``APPROXIMATE``); ``ZERO_RESULTS``; ``OVER_QUERY_LIMIT``, ``OVER_DAILY_LIMIT`` and
``REQUEST_DENIED`` (key, billing or quota, with an ``error_message``); ``INVALID_REQUEST``
and ``UNKNOWN_ERROR``.

The market is sent as ``region``, Google's ccTLD-style bias (``uk`` for the United Kingdom),
not as ``components=country:XX``, which would drop a customer's address abroad.

Maps URLs (``https://www.google.com/maps/search/?api=1&query=lat,lng``) need no key.

References: Google Maps Platform "Geocoding API: geocoding requests", "Reverse geocoding",
"Geocoding responses" (status codes) and "Maps URLs: get started".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

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

GEOCODE_URL = "https://maps.googleapis.com/maps/api/geocode/json"
MAPS_URL = "https://www.google.com/maps/search/"

# Statuses that mean the key, its billing or its quota: the deployment must act.
REFUSED = frozenset({"OVER_QUERY_LIMIT", "OVER_DAILY_LIMIT", "REQUEST_DENIED"})
# ISO 3166 codes whose ccTLD differs; Google's ``region`` takes the ccTLD.
CCTLD = {"GB": "uk"}


class GoogleSettings(ApiKeySettings):
    """``[maps.google]``.

    :param key: an API key with the Geocoding API enabled.
    """


class GoogleProvider(MapProvider):
    """Google: WGS-84, worldwide (not reachable from mainland China)."""

    name = "google"
    datum = Datum.WGS84
    settings_model = GoogleSettings

    def lookup_address(
        self,
        address: str,
        *,
        market: str,
        settings: GoogleSettings,
        secret: str,
        client: httpx.Client,
    ) -> Place:
        params = {"address": address, "region": CCTLD.get(market.upper(), market.lower())}
        result = _first_result(_call(client, {**params, "key": secret}, secret), secret)
        try:
            location = result["geometry"]["location"]
            point = Point(float(location["lat"]), float(location["lng"]), self.datum)
            return Place(
                point,
                address=_text(result.get("formatted_address")),
                precision=_text(result["geometry"].get("location_type")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MapUnavailable(f"google answered a result it cannot read: {exc!r}") from None

    def lookup_point(
        self,
        point: Point,
        *,
        market: str,
        settings: GoogleSettings,
        secret: str,
        client: httpx.Client,
    ) -> Place:
        params = {"latlng": f"{point.lat:.7f},{point.lon:.7f}", "key": secret}
        result = _first_result(_call(client, params, secret), secret)
        address = _text(result.get("formatted_address")) if isinstance(result, dict) else None
        if not address:
            raise MapUnavailable("google answered a result without formatted_address")
        return Place(point, address=address)

    def map_link(self, point: Point) -> str:
        return (
            f"{MAPS_URL}?{urlencode({'api': '1', 'query': f'{point.lat},{point.lon}'}, safe=',')}"
        )


def _call(client: httpx.Client, params: dict[str, str], key: str) -> Any:
    """One GET, its JSON body. Network failures, 5xx and unreadable bodies are
    :class:`MapUnavailable`; the key never reaches a message (the request URL carries it,
    so the transport error is not chained)."""
    response = fetch("google", key, lambda: client.get(GEOCODE_URL, params=params))
    if response.status_code in (401, 403, 429):
        raise MapRefused(f"google answered {response.status_code}: {redact(response.text, key)}")
    if not response.is_success:
        raise MapUnavailable(
            f"google answered {response.status_code}: {redact(response.text, key)}"
        )
    return json_object("google", response, key)


def _first_result(body: dict[str, Any], key: str) -> Any:
    status = body.get("status")
    detail = redact(f"{status}: {body.get('error_message', '')}".rstrip(": "), key)
    if status == "OK":
        results = body.get("results")
        if isinstance(results, list) and results:
            return results[0]
        raise MapUnavailable("google answered OK without results")
    if status == "ZERO_RESULTS":
        raise NoResult("google found nothing (ZERO_RESULTS)")
    if status in REFUSED:
        raise MapRefused(f"google refused: {detail}")
    raise MapUnavailable(f"google failed: {detail}")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
