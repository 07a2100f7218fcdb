"""``google``: the Google Geocoding API, the default provider of the JP and AU packs.

Geocodes with the market as a region bias and reverse-geocodes, both in WGS-84. It needs an
API key with the Geocoding API enabled::

    [maps.google]
    key = "…"
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.interfaces.maps import MapProvider
from regiocrm.plugins.maps.google.provider import GoogleProvider, GoogleSettings

__all__ = ["GoogleProvider", "GoogleSettings"]


@hookimpl
def register_map_providers() -> list[MapProvider]:
    return [GoogleProvider()]
