"""NAVER Cloud Platform Maps (Geocoding v2, Reverse Geocoding v2) as a
:class:`~regiocrm.interfaces.maps.MapProvider`.

Both calls authenticate with the headers ``x-ncp-apigw-api-key-id`` (client ID) and
``x-ncp-apigw-api-key`` (client secret) on ``maps.apigw.ntruss.com``; the key never goes in
the URL. Forward: ``GET /map-geocode/v2/geocode?query=…`` answers ``{"status": "OK", "meta":
{"totalCount", …}, "addresses": [{"roadAddress", "jibunAddress", "englishAddress", "x":
"<lon>", "y": "<lat>", …}], "errorMessage": ""}`` (WGS-84 strings; no hit is ``OK`` with
``totalCount`` 0). Reverse: ``GET /map-reversegeocode/v2/gc?coords=lon,lat&output=json``
with ``orders=roadaddr,addr,legalcode`` (XML is the default output) answers
``{"status": {"code": 0, "name": "ok"}, "results": [{"name":
"roadaddr", "region": {"area1": {"name"}, …}, "land": {"name", "number1", "number2", …}}]}``;
``code`` 3 ("no results") is :class:`~regiocrm.interfaces.maps.NoResult`. The address is
built from the most precise order found (road name, then lot number, then legal dong), which
is also the precision.

The gateway's own errors are HTTP statuses with ``{"error": {"errorCode", "message"}}``: 401
(200 Authentication Failed, 210 Permission Denied) and 429 (400 Quota Exceeded, also sent
when the API is not enabled on the application; 410/420 rate limits) are refusals; 5xx are
:class:`~regiocrm.interfaces.maps.MapUnavailable`. Geocoding takes no country filter, so the
market is not sent.

References: api.ncloud-docs.com "Maps overview" (common headers and error codes),
"Geocoding" and "Reverse Geocoding"; guide.ncloud-docs.com "NAVER Maps app URL Scheme" for
:meth:`NaverProvider.map_link`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from regiocrm.interfaces.maps import (
    Datum,
    MapProvider,
    MapProviderSettings,
    MapRefused,
    MapUnavailable,
    NoResult,
    Place,
    Point,
    fetch,
    json_object,
    redact,
)

API_BASE = "https://maps.apigw.ntruss.com"
GEOCODE_URL = f"{API_BASE}/map-geocode/v2/geocode"
REVERSE_URL = f"{API_BASE}/map-reversegeocode/v2/gc"
KEY_ID_HEADER = "x-ncp-apigw-api-key-id"
KEY_HEADER = "x-ncp-apigw-api-key"
# Most precise first; legalcode still answers near coasts and on new housing land.
ORDERS = ("roadaddr", "addr", "legalcode")
NO_RESULTS_CODE = 3


class NaverSettings(MapProviderSettings):
    """``[maps.naver]``: an application's credentials from the NAVER Cloud console, with
    Geocoding and Reverse Geocoding selected on the application.

    :param key_id: the client ID.
    :param key: the client secret.
    """

    key_id: str | None = None
    key: SecretStr | None = None


class NaverProvider(MapProvider):
    """NAVER: WGS-84, Korea.

    :param appname: what the NAVER Maps URL Scheme's required ``appname`` names: an app's
        package or bundle ID, or a web page's URL.
    """

    name = "naver"
    datum = Datum.WGS84
    settings_model = NaverSettings

    def __init__(self, appname: str = "regiocrm") -> None:
        self.appname = appname

    def secret(self, settings: NaverSettings) -> str:
        """The client secret, once the client ID is there too.

        :raises MapRefused: when either is missing.
        """
        if not (settings.key_id and settings.key and settings.key.get_secret_value()):
            raise MapRefused("naver has no credentials ([maps.naver] key_id and key)")
        return settings.key.get_secret_value()

    def lookup_address(
        self,
        address: str,
        *,
        market: str,
        settings: NaverSettings,
        secret: str,
        client: httpx.Client,
    ) -> Place:
        body = _call(client, GEOCODE_URL, {"query": address}, settings, secret)
        if body.get("status") != "OK":
            detail = f"{body.get('status')}: {body.get('errorMessage', '')}"
            raise MapUnavailable(f"naver failed: {redact(detail, secret)}")
        addresses: Any = body.get("addresses")
        if addresses == []:
            raise NoResult("naver found nothing (totalCount 0)")
        try:
            first = addresses[0]
            point = Point(float(first["y"]), float(first["x"]), self.datum)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise MapUnavailable(f"naver answered an address it cannot read: {exc!r}") from None
        address_text = _text(first.get("roadAddress")) or _text(first.get("jibunAddress"))
        return Place(point, address=address_text)

    def lookup_point(
        self,
        point: Point,
        *,
        market: str,
        settings: NaverSettings,
        secret: str,
        client: httpx.Client,
    ) -> Place:
        params = {
            "coords": f"{point.lon:.7f},{point.lat:.7f}",
            "sourcecrs": "EPSG:4326",
            "orders": ",".join(ORDERS),
            "output": "json",
        }
        body = _call(client, REVERSE_URL, params, settings, secret)
        status = body.get("status")
        code = status.get("code") if isinstance(status, dict) else None
        if code == NO_RESULTS_CODE:
            raise NoResult("naver has no address at that point (no results)")
        if code != 0:
            raise MapUnavailable(f"naver failed: {redact(str(status), secret)}")
        results = body.get("results")
        if not isinstance(results, list):
            raise MapUnavailable("naver answered without results")
        by_order = {r.get("name"): r for r in results if isinstance(r, dict)}
        for order in ORDERS:
            if order in by_order:
                address = _compose(order, by_order[order])
                if address:
                    return Place(point, address=address, precision=order)
        raise NoResult("naver has no address at that point (empty results)")

    def map_link(self, point: Point, *, title: str | None = None) -> str:
        """The NAVER Maps app URL Scheme's place action (``nmap://place``): it opens the
        app, which must be installed; NAVER documents no web URL for a coordinate."""
        query = {
            "lat": str(point.lat),
            "lng": str(point.lon),
            "name": title or f"{point.lat},{point.lon}",
            "appname": self.appname,
        }
        return f"nmap://place?{urlencode(query)}"


def _call(
    client: httpx.Client, url: str, params: dict[str, str], settings: NaverSettings, secret: str
) -> dict[str, Any]:
    """One GET with the key headers, its JSON object. Network failures, 5xx and unreadable
    bodies are :class:`MapUnavailable`; 401 and 429 are :class:`MapRefused`."""
    headers = {
        KEY_ID_HEADER: str(settings.key_id),
        KEY_HEADER: secret,
        "Accept": "application/json",
    }
    response = fetch("naver", secret, lambda: client.get(url, params=params, headers=headers))
    if response.status_code in (401, 403, 429):
        raise MapRefused(f"naver refused: {_gateway_error(response, secret)}")
    if response.status_code >= 500:
        raise MapUnavailable(f"naver failed: {_gateway_error(response, secret)}")
    body = json_object("naver", response, secret)
    if not response.is_success and "status" not in body:
        raise MapUnavailable(f"naver failed: {_gateway_error(response, secret)}")
    return body


def _gateway_error(response: httpx.Response, secret: str) -> str:
    """``HTTP <status> <errorCode> <message>`` from the gateway's error body, or its text."""
    try:
        error = response.json()["error"]
        detail = f"{error.get('errorCode')} {error.get('message')}"
    except (ValueError, KeyError, TypeError, AttributeError):
        detail = response.text
    return redact(f"HTTP {response.status_code} {detail}", secret)


def _compose(order: str, result: dict[str, Any]) -> str | None:
    """A one-line Korean address from a reverse-geocoding result of one order."""
    region = result.get("region") or {}
    land = result.get("land") or {}

    def area(level: int) -> str:
        value = region.get(f"area{level}") or {}
        return str(value.get("name") or "") if isinstance(value, dict) else ""

    number = str(land.get("number1") or "")
    if number and land.get("number2"):
        number = f"{number}-{land['number2']}"
    if order == "roadaddr":
        # 읍/면 belong in a road-name address; a 동 does not.
        town = area(3) if area(3).endswith(("읍", "면")) else ""
        parts = [area(1), area(2), town, str(land.get("name") or ""), number]
    elif order == "addr":
        mountain = "산" if str(land.get("type")) == "2" else ""
        parts = [area(1), area(2), area(3), area(4), mountain + number]
    else:
        parts = [area(1), area(2), area(3), area(4)]
    text = " ".join(part for part in parts if part)
    return text or None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
