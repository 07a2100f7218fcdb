"""Kakao Local (주소 검색, 좌표→주소) as a :class:`~regiocrm.interfaces.maps.MapProvider`.

Both calls send ``Authorization: KakaoAK <REST API key>``; the key never goes in the URL.
Forward: ``GET https://dapi.kakao.com/v2/local/search/address.json?query=…`` answers
``{"meta": {"total_count", "pageable_count", "is_end"}, "documents": [{"address_name",
"address_type": "REGION|ROAD|REGION_ADDR|ROAD_ADDR", "x": "<lon>", "y": "<lat>", "address":
{…}, "road_address": {"address_name", "zone_no", …} | null}]}``. Reverse: ``GET
https://dapi.kakao.com/v2/local/geo/coord2address.json?x=<lon>&y=<lat>&input_coord=WGS84``
answers ``{"meta": {"total_count"}, "documents": [{"road_address": {…} | null, "address":
{"address_name", …}}]}``. Points are WGS-84 strings; no hit is an empty ``documents``.

Errors are HTTP statuses with ``{"errorType", "message"}``: 401 (a bad key), 403 (e.g.
``NotAuthorizedError`` "App(…) disabled OPEN_MAP_AND_LOCAL service." when Kakao Map is not
switched on for the app, required for apps created since 2024-12-01) and 429 (quota) are
refusals; 5xx are :class:`~regiocrm.interfaces.maps.MapUnavailable`. The API takes no
country filter, so the market is not sent.

References: Kakao Developers "카카오맵 REST API" (local dev-guide: 주소로 좌표 변환하기,
좌표로 주소 변환하기), "REST API error codes", and the Kakao Maps web guide's link URLs
(``map.kakao.com/link/map``) for :meth:`KakaoMapProvider.map_link`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

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

API_BASE = "https://dapi.kakao.com/v2/local"
SEARCH_URL = f"{API_BASE}/search/address.json"
REVERSE_URL = f"{API_BASE}/geo/coord2address.json"
LINK_URL = "https://map.kakao.com/link/map/"


class KakaoMapSettings(ApiKeySettings):
    """``[maps.kakaomap]``.

    :param key: the app's REST API key, with Kakao Map switched on for the app.
    """


class KakaoMapProvider(MapProvider):
    """Kakao Map: WGS-84, Korea."""

    name = "kakaomap"
    datum = Datum.WGS84
    settings_model = KakaoMapSettings

    def lookup_address(
        self,
        address: str,
        *,
        market: str,
        settings: KakaoMapSettings,
        secret: str,
        client: httpx.Client,
    ) -> Place:
        documents = _documents(_call(client, SEARCH_URL, {"query": address}, secret))
        if not documents:
            raise NoResult("kakaomap found nothing (no documents)")
        try:
            first = documents[0]
            point = Point(float(first["y"]), float(first["x"]), self.datum)
        except (KeyError, TypeError, ValueError) as exc:
            raise MapUnavailable(f"kakaomap answered a document it cannot read: {exc!r}") from None
        road = first.get("road_address")
        address_text = (_text(road.get("address_name")) if isinstance(road, dict) else None) or (
            _text(first.get("address_name"))
        )
        return Place(point, address=address_text, precision=_text(first.get("address_type")))

    def lookup_point(
        self,
        point: Point,
        *,
        market: str,
        settings: KakaoMapSettings,
        secret: str,
        client: httpx.Client,
    ) -> Place:
        params = {"x": f"{point.lon:.7f}", "y": f"{point.lat:.7f}", "input_coord": "WGS84"}
        documents = _documents(_call(client, REVERSE_URL, params, secret))
        if not documents:
            raise NoResult("kakaomap has no address at that point (no documents)")
        first = documents[0]
        for kind in ("road_address", "address"):
            part = first.get(kind) if isinstance(first, dict) else None
            if isinstance(part, dict) and _text(part.get("address_name")):
                return Place(point, address=part["address_name"])
        raise MapUnavailable("kakaomap answered a document without an address_name")

    def map_link(self, point: Point, *, title: str | None = None) -> str:
        """Kakao Map's link URL ``/link/map/[name,]lat,lng``; ``title`` names the marker
        (commas dropped: they separate the parts)."""
        where = f"{point.lat},{point.lon}"
        if title:
            where = f"{quote(title.replace(',', ' '), safe='')},{where}"
        return f"{LINK_URL}{where}"


def _call(client: httpx.Client, url: str, params: dict[str, str], secret: str) -> Any:
    """One GET with the ``KakaoAK`` header, its JSON body. Network failures, 5xx and
    unreadable bodies are :class:`MapUnavailable`; 401, 403 and 429 are :class:`MapRefused`."""
    headers = {"Authorization": f"KakaoAK {secret}"}
    response = fetch("kakaomap", secret, lambda: client.get(url, params=params, headers=headers))
    if not response.is_success:
        detail = redact(f"HTTP {response.status_code} {_error(response)}", secret)
        if response.status_code in (401, 403, 429):
            raise MapRefused(f"kakaomap refused: {detail}")
        raise MapUnavailable(f"kakaomap failed: {detail}")
    return json_object("kakaomap", response, secret)


def _documents(body: Any) -> list[Any]:
    documents = body.get("documents") if isinstance(body, dict) else None
    if not isinstance(documents, list):
        raise MapUnavailable("kakaomap answered without documents")
    return documents


def _error(response: httpx.Response) -> str:
    """``<errorType>: <message>`` from Kakao's error body, or the body's text."""
    try:
        body = response.json()
        return f"{body['errorType']}: {body['message']}"
    except (ValueError, KeyError, TypeError):
        return response.text


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
