"""The offline gazetteer: bundled place names per market, matched in an address."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

import httpx

from regiocrm.geo.datums import great_circle_km
from regiocrm.interfaces.maps import Datum, MapProvider, NoResult, Place, Point

# A point farther than this from every known place has no address here.
REVERSE_RADIUS_KM = 30.0


@dataclass(frozen=True)
class KnownPlace:
    names: tuple[str, ...]
    point: Point
    level: str
    within: str | None

    @property
    def label(self) -> str:
        return f"{self.within}{self.names[0]}" if self.within else self.names[0]


class GazetteerProvider(MapProvider):
    """Finds the most specific known place an address names: "上海市浦东新区张江路" is the
    Pudong district, not the city of Shanghai, because 浦东新区 is the longer match."""

    name = "gazetteer"
    datum = Datum.WGS84
    offline = True

    @cached_property
    def places(self) -> dict[str, list[KnownPlace]]:
        data: dict[str, Any] = json.loads(
            (files(__package__) / "places.json").read_text(encoding="utf-8")
        )
        return {
            market: [
                KnownPlace(
                    tuple(entry["names"]),
                    Point(entry["lat"], entry["lon"]),
                    entry["level"],
                    entry.get("within"),
                )
                for entry in entries
            ]
            for market, entries in data.items()
            if not market.startswith("_")
        }

    def lookup_address(
        self, address: str, *, market: str, settings: Any, secret: str, client: httpx.Client
    ) -> Place:
        text = address.casefold()
        matches = [
            (len(name), place)
            for place in self.places.get(market, [])
            for name in place.names
            if name.casefold() in text
        ]
        if not matches:
            raise NoResult(f"no place of {market} known to the gazetteer in {address!r}")
        _length, best = max(matches, key=lambda match: match[0])
        return Place(best.point, best.label, best.level)

    def lookup_point(
        self, point: Point, *, market: str, settings: Any, secret: str, client: httpx.Client
    ) -> Place:
        known = self.places.get(market, [])
        nearest = min(known, key=lambda place: great_circle_km(place.point, point), default=None)
        if nearest is None or great_circle_km(nearest.point, point) > REVERSE_RADIUS_KM:
            raise NoResult(f"no place of {market} known to the gazetteer near {point}")
        return Place(nearest.point, nearest.label, nearest.level)

    def map_link(self, point: Point) -> str:
        query = urlencode({"mlat": f"{point.lat:.6f}", "mlon": f"{point.lon:.6f}"})
        return f"https://www.openstreetmap.org/?{query}#map=14/{point.lat:.6f}/{point.lon:.6f}"
