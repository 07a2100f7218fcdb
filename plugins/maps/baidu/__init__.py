"""``baidu``: Baidu Maps geocoding v3, one of the CN pack's providers.

Geocodes and reverse-geocodes in BD-09 (``bd09ll``); the core converts to and from WGS-84.
It needs a server ``ak`` checked by IP whitelist (SN-signed keys are not supported)::

    [maps.baidu]
    key = "…"
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.interfaces.maps import MapProvider
from regiocrm.plugins.maps.baidu.provider import BaiduProvider, BaiduSettings

__all__ = ["BaiduProvider", "BaiduSettings"]


@hookimpl
def register_map_providers() -> list[MapProvider]:
    return [BaiduProvider()]
