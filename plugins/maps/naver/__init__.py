"""``naver``: NAVER Cloud Platform Maps geocoding, one of the KR pack's providers.

Geocodes and reverse-geocodes in WGS-84. It needs an application's client ID and secret,
with Geocoding and Reverse Geocoding selected on the application (else NAVER answers 429)::

    [maps.naver]
    key_id = "…"
    key = "…"
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.interfaces.maps import MapProvider
from regiocrm.plugins.maps.naver.provider import NaverProvider, NaverSettings

__all__ = ["NaverProvider", "NaverSettings"]


@hookimpl
def register_map_providers() -> list[MapProvider]:
    return [NaverProvider()]
