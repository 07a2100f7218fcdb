"""``gazetteer``: the offline map provider, last in every pack's chain.

It needs no key and no network: it knows the approximate centres of the cities and
districts of each pack market (``places.json``), enough to route a lead to the nearest dealer
when every online provider is unreachable, refuses, or is not configured.
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.interfaces.maps import MapProvider
from regiocrm.plugins.maps.gazetteer.provider import GazetteerProvider


@hookimpl
def register_map_providers() -> list[MapProvider]:
    return [GazetteerProvider()]
