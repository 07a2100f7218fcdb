"""Geocoding through a market's chain of map providers, with datums handled at the edge.

A pack names its market's providers in order (``map_providers``: ``amap``, ``baidu``,
``gazetteer`` for China). A provider that is not configured is passed over; one that fails,
times out, refuses or finds nothing hands over to the next; the answer says which provider
gave it and what the others said. Points go in and come out in WGS-84: each provider gets
and gives its own datum (:mod:`regiocrm.geo.datums` converts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from regiocrm.geo.datums import convert
from regiocrm.interfaces.maps import Datum, MapError, MapProvider, Place, Point
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings


class NotLocated(Exception):
    """Every provider of the chain failed; ``reasons`` says what each answered."""

    def __init__(self, what: str, reasons: list[str]) -> None:
        detail = "; ".join(reasons) or "no map provider is configured for the market"
        super().__init__(f"{what} could not be located: {detail}")
        self.reasons = reasons


@dataclass(frozen=True)
class Located:
    """Where a provider placed an address or a point.

    :param point: in WGS-84, whatever the provider's datum.
    :param provider: the provider that answered.
    :param passed_over: what each provider before it answered instead.
    """

    point: Point
    address: str | None
    precision: str | None
    provider: str
    passed_over: tuple[str, ...] = ()


class MapChain:
    """The deployment's map providers, asked in each market's order."""

    def __init__(self, hooks: Hooks, settings: RegiocrmSettings, client: httpx.Client) -> None:
        self.hooks = hooks
        self.settings = settings
        self.client = client
        self.providers = hooks.map_providers()

    def chain(self, market: str) -> list[MapProvider]:
        """The market's providers that are installed and configured, in the pack's order.

        :raises regiocrm.interfaces.packs.PackError: for a market no pack serves.
        """
        names = self.hooks.packs().for_market(market).map_providers
        return [
            provider
            for name in names
            if (provider := self.providers.get(name)) is not None
            and provider.configured(self._settings_of(provider))
        ]

    def geocode(self, address: str, market: str) -> Located:
        """The point an address names, from the first provider of the chain that knows.

        :raises ValueError: for an empty address.
        :raises NotLocated: when no provider could place it.
        """
        if not address.strip():
            raise ValueError("the address is empty")

        def ask(provider: MapProvider) -> Place:
            return provider.geocode(
                address, market=market, settings=self._settings_of(provider), client=self.client
            )

        return self._first(market, f"address {address!r}", ask)

    def reverse(self, point: Point, market: str) -> Located:
        """The address at a point, from the first provider of the chain that knows.

        :raises NotLocated: when no provider has an address there.
        """

        def ask(provider: MapProvider) -> Place:
            return provider.reverse(
                convert(point, provider.datum),
                market=market,
                settings=self._settings_of(provider),
                client=self.client,
            )

        return self._first(market, f"point {point.lat:.6f},{point.lon:.6f}", ask)

    def map_link(self, point: Point, market: str) -> str | None:
        """A link to the point on the market's first map, in that map's datum."""
        chain = self.chain(market)
        return chain[0].map_link(convert(point, chain[0].datum)) if chain else None

    def _first(self, market: str, what: str, ask: Any) -> Located:
        passed_over: list[str] = []
        for provider in self.chain(market):
            try:
                place: Place = ask(provider)
            except MapError as exc:
                passed_over.append(f"{provider.name}: {exc}")
                continue
            return Located(
                convert(place.point, Datum.WGS84),
                place.address,
                place.precision,
                provider.name,
                tuple(passed_over),
            )
        raise NotLocated(what, passed_over)

    def _settings_of(self, provider: MapProvider) -> Any:
        return getattr(self.settings.maps, provider.name, None)
