"""Baidu Maps web service geocoding v3 as a :class:`~regiocrm.interfaces.maps.MapProvider`.

Forward: ``GET https://api.map.baidu.com/geocoding/v3/?address=…&output=json&ret_coordtype=bd09ll&ak=…``
answers ``{"status": 0, "result": {"location": {"lng", "lat"}, "precise", "confidence",
"comprehension", "level"}}`` in BD-09 (``bd09ll``). It returns no formatted address, so a
forward :class:`~regiocrm.interfaces.maps.Place` has ``address=None`` and ``level``
(``门址``, ``道路``…) as its precision. Reverse: ``GET https://api.map.baidu.com/reverse_geocoding/v3/?location=lat,lng&coordtype=bd09ll&output=json&ak=…``
answers ``result.formatted_address``. ``output=json`` is always sent: the default is XML.

``status`` is an integer, 0 for success. "Nothing found" is ``{"status": 1, "msg":
"Internal Service Error:无相关结果", "results": []}``: status 1 is also Baidu's internal error,
so only that message means :class:`~regiocrm.interfaces.maps.NoResult`. 3 (verify failure),
4 (quota), 5 (bad ``ak``), 9 (permission) and 101 to 499 (missing ``ak``, unknown or disabled
app, IP/SN check, service not enabled for the ``ak``, daily/total quota, concurrency) are
refusals.

The market is not sent: ``city`` takes a city name, and a market is a country.

Not supported: keys that use SN signing (``sn``/``sk``). Configure the ``ak`` with an IP
whitelist instead.

References: lbsyun.baidu.com "地理编码" and "全球逆地理编码" (webservice-geocoding,
webservice-geocoding-abroad), the web API appendix "服务状态码", and the URI API
"marker" page for :meth:`BaiduProvider.map_link`.
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

GEOCODE_URL = "https://api.map.baidu.com/geocoding/v3/"
REVERSE_URL = "https://api.map.baidu.com/reverse_geocoding/v3/"
MARKER_URL = "https://api.map.baidu.com/marker"
NO_RESULT_MESSAGE = "无相关结果"


class BaiduSettings(ApiKeySettings):
    """``[maps.baidu]``.

    :param key: a server ``ak`` (IP whitelist, not SN signing) with the 地理编码 and
        逆地理编码 services enabled.
    """


class BaiduProvider(MapProvider):
    """Baidu: BD-09 (``bd09ll``) in and out, mainland China."""

    name = "baidu"
    datum = Datum.BD09
    settings_model = BaiduSettings

    def lookup_address(
        self,
        address: str,
        *,
        market: str,
        settings: BaiduSettings,
        secret: str,
        client: httpx.Client,
    ) -> Place:
        params = {"address": address, "ret_coordtype": "bd09ll", "output": "json", "ak": secret}
        result = _result(_call(client, GEOCODE_URL, params, secret), secret)
        try:
            location = result["location"]
            point = Point(float(location["lat"]), float(location["lng"]), self.datum)
            level = result.get("level")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MapUnavailable(f"baidu answered a result it cannot read: {exc!r}") from None
        return Place(point, address=None, precision=level if isinstance(level, str) else None)

    def lookup_point(
        self,
        point: Point,
        *,
        market: str,
        settings: BaiduSettings,
        secret: str,
        client: httpx.Client,
    ) -> Place:
        params = {
            "location": f"{point.lat:.7f},{point.lon:.7f}",
            "coordtype": "bd09ll",
            "output": "json",
            "ak": secret,
        }
        result = _result(_call(client, REVERSE_URL, params, secret), secret)
        address = result.get("formatted_address") if isinstance(result, dict) else None
        if not isinstance(address, str):
            raise MapUnavailable("baidu answered a result without formatted_address")
        if not address:
            raise NoResult("baidu has no address at that point")
        return Place(point, address=address)

    def map_link(self, point: Point, *, title: str | None = None) -> str:
        """Baidu's URI API marker page; ``title`` labels the marker (default: the point)."""
        location = f"{point.lat},{point.lon}"
        query = {
            "location": location,
            "title": title or location,
            "content": title or location,
            "output": "html",
            "coord_type": "bd09ll",
            "src": "webapp.regiocrm.crm",
        }
        return f"{MARKER_URL}?{urlencode(query, safe=',')}"


def _call(client: httpx.Client, url: str, params: dict[str, str], key: str) -> dict[str, Any]:
    """One GET, its JSON object. Network failures, 5xx and unreadable bodies are
    :class:`MapUnavailable`; the ``ak`` never reaches a message (the request URL carries it,
    so the transport error is not chained)."""
    response = fetch("baidu", key, lambda: client.get(url, params=params))
    if response.status_code in (401, 403, 429):
        raise MapRefused(f"baidu answered {response.status_code}: {redact(response.text, key)}")
    if not response.is_success:
        raise MapUnavailable(f"baidu answered {response.status_code}: {redact(response.text, key)}")
    return json_object("baidu", response, key)


def _result(body: dict[str, Any], key: str) -> Any:
    status = body.get("status")
    message = body.get("msg") or body.get("message") or ""
    detail = redact(f"status {status}: {message}", key)
    if status == 0:
        if "result" not in body:
            raise MapUnavailable("baidu answered status 0 without a result")
        return body["result"]
    if status == 1 and NO_RESULT_MESSAGE in str(message):
        raise NoResult(f"baidu found nothing ({detail})")
    if isinstance(status, int) and (status in (3, 4, 5, 9) or 100 <= status < 500):
        raise MapRefused(f"baidu refused: {detail}")
    raise MapUnavailable(f"baidu failed: {detail}")
