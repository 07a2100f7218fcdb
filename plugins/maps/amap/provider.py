"""AMap (高德) web service geocoding v3 as a :class:`~regiocrm.interfaces.maps.MapProvider`.

Forward: ``GET https://restapi.amap.com/v3/geocode/geo?address=…&output=JSON&key=…``
answers ``{"status": "1", "info": "OK", "infocode": "10000", "count": "1", "geocodes":
[{"formatted_address", "location": "lng,lat", "level", …}]}``; reverse: ``GET
https://restapi.amap.com/v3/geocode/regeo?location=lng,lat&extensions=base&output=JSON&key=…``
answers ``{"status": "1", …, "regeocode": {"formatted_address", "addressComponent"}}``.
Every value is a string, ``location`` is longitude first, points are GCJ-02, and an empty
field comes back as ``[]`` instead of ``""`` (``"formatted_address": []`` at sea).

A failure is ``status: "0"`` with ``info`` and ``infocode``: 10001 to 10014 and 10019 to 10099
(bad or expired key, service not enabled for the key, daily or per-second limits, IP
whitelist, signature) and 20011 (no abroad permission) are refusals; 10015 to 10017 (gateway
timeout, busy, resource unavailable), 2xxxx parameter errors and 3xxxx engine errors are
:class:`~regiocrm.interfaces.maps.MapUnavailable`.

The market is not sent: ``city`` takes a city, and a market is a country.

References: lbs.amap.com Web服务 "地理/逆地理编码" and "错误码说明 (info/infocode)", and
the URI API "标注" (``uri.amap.com/marker``) for :meth:`AmapProvider.map_link`.
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

GEOCODE_URL = "https://restapi.amap.com/v3/geocode/geo"
REVERSE_URL = "https://restapi.amap.com/v3/geocode/regeo"
MARKER_URL = "https://uri.amap.com/marker"
# 10015 GATEWAY_TIMEOUT, 10016 SERVER_IS_BUSY, 10017 RESOURCE_UNAVAILABLE: AMap's own trouble.
TRANSIENT = frozenset({"10015", "10016", "10017"})
# 20011 INSUFFICIENT_ABROAD_PRIVILEGES: the key may not look abroad.
REFUSED_EXTRA = frozenset({"20011"})


class AmapSettings(ApiKeySettings):
    """``[maps.amap]``.

    :param key: a Web服务 (web service) key; a JS-API key is refused with 10009.
    """


class AmapProvider(MapProvider):
    """AMap: GCJ-02 in and out, mainland China."""

    name = "amap"
    datum = Datum.GCJ02
    settings_model = AmapSettings

    def lookup_address(
        self,
        address: str,
        *,
        market: str,
        settings: AmapSettings,
        secret: str,
        client: httpx.Client,
    ) -> Place:
        params = {"address": address, "output": "JSON", "key": secret}
        body = _call(client, GEOCODE_URL, params, secret)
        geocodes: Any = body.get("geocodes")
        if geocodes == [] or body.get("count") == "0":
            raise NoResult("amap found nothing (count 0)")
        try:
            first = geocodes[0]
            lon, lat = (float(part) for part in first["location"].split(","))
            point = Point(lat, lon, self.datum)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise MapUnavailable(f"amap answered a geocode it cannot read: {exc!r}") from None
        return Place(
            point,
            address=_text(first.get("formatted_address")),
            precision=_text(first.get("level")),
        )

    def lookup_point(
        self,
        point: Point,
        *,
        market: str,
        settings: AmapSettings,
        secret: str,
        client: httpx.Client,
    ) -> Place:
        params = {
            # AMap asks for at most six decimals, longitude first.
            "location": f"{point.lon:.6f},{point.lat:.6f}",
            "extensions": "base",
            "output": "JSON",
            "key": secret,
        }
        regeocode = _call(client, REVERSE_URL, params, secret).get("regeocode")
        if not isinstance(regeocode, dict) or "formatted_address" not in regeocode:
            raise MapUnavailable("amap answered a regeo without regeocode.formatted_address")
        address = _text(regeocode["formatted_address"])
        if address is None:
            raise NoResult("amap has no address at that point")
        return Place(point, address=address)

    def map_link(self, point: Point, *, title: str | None = None) -> str:
        """AMap's URI API marker page; ``title`` names the marker."""
        query = {"position": f"{point.lon},{point.lat}"}
        if title:
            query["name"] = title
        return f"{MARKER_URL}?{urlencode(query, safe=',')}"


def _call(client: httpx.Client, url: str, params: dict[str, str], key: str) -> dict[str, Any]:
    """One GET, its JSON object once ``status`` is ``"1"``. Network failures, 5xx and
    unreadable bodies are :class:`MapUnavailable`; the key never reaches a message (the
    request URL carries it, so the transport error is not chained)."""
    response = fetch("amap", key, lambda: client.get(url, params=params))
    if response.status_code in (401, 403, 429):
        raise MapRefused(f"amap answered {response.status_code}: {redact(response.text, key)}")
    if not response.is_success:
        raise MapUnavailable(f"amap answered {response.status_code}: {redact(response.text, key)}")
    body = json_object("amap", response, key)
    status, infocode = body.get("status"), str(body.get("infocode", ""))
    if status == "1":
        return body
    detail = redact(f"infocode {infocode}: {body.get('info', '')}", key)
    if status != "0":
        raise MapUnavailable(f"amap answered an unknown status {redact(repr(status), key)}")
    if infocode in REFUSED_EXTRA or (
        infocode.startswith("100") and infocode != "10000" and infocode not in TRANSIENT
    ):
        raise MapRefused(f"amap refused: {detail}")
    raise MapUnavailable(f"amap failed: {detail}")


def _text(value: Any) -> str | None:
    """A string field, or None for AMap's empty ``[]`` (and for ``""``)."""
    return value if isinstance(value, str) and value else None
