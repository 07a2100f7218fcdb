"""``amap``: AMap (高德) geocoding v3, one of the CN pack's providers.

Geocodes and reverse-geocodes in GCJ-02; the core converts to and from WGS-84. It needs a
Web服务 key::

    [maps.amap]
    key = "…"
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.interfaces.maps import MapProvider
from regiocrm.plugins.maps.amap.provider import AmapProvider, AmapSettings

__all__ = ["AmapProvider", "AmapSettings"]


@hookimpl
def register_map_providers() -> list[MapProvider]:
    return [AmapProvider()]
