"""Leads: placed on the map and routed to the nearest active dealer of their market.

A lead comes with an address, a point, or both. An address is geocoded through the market's
chain of map providers; a point may be given in any datum and is stored in WGS-84. The lead
goes to the nearest active dealer of its market by great-circle distance. When nothing can
place it (every provider failed) or no dealer of the market has a location, the lead is
kept, unassigned, with the reason: never lost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from threading import Lock

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from regiocrm.geo import convert
from regiocrm.geocoding import MapChain, NotLocated
from regiocrm.hooks import Hooks
from regiocrm.maps import Datum, Point
from regiocrm.models import Lead, Organization, OrganizationKind
from regiocrm.routing import Nearest, NearestIndex
from regiocrm.stores import after_commit


@dataclass(frozen=True)
class NewLead:
    market: str
    address: str | None = None
    point: Point | None = None
    customer_id: uuid.UUID | None = None
    source: str | None = None
    vehicle_model: str | None = None


@dataclass
class DealerLocator:
    """The nearest-dealer index of each market, rebuilt only when that market's dealers
    change (a new dealer, a move, one closing), which a cheap aggregate query tells."""

    _indexes: dict[str, tuple[tuple[int, object], NearestIndex[uuid.UUID]]] = field(
        default_factory=dict
    )
    _lock: Lock = field(default_factory=Lock)

    def nearest(self, session: Session, market: str, point: Point) -> Nearest[uuid.UUID] | None:
        """The nearest active dealer of ``market`` with a location, or None."""
        return self.index(session, market).nearest(convert(point, Datum.WGS84))

    def index(self, session: Session, market: str) -> NearestIndex[uuid.UUID]:
        dealers = (
            Organization.kind == OrganizationKind.DEALER,
            Organization.market == market,
            Organization.active,
            Organization.latitude.is_not(None),
            Organization.longitude.is_not(None),
        )
        count, last_change = session.execute(
            select(func.count(), func.max(Organization.updated)).where(*dealers)
        ).one()
        signature = (int(count), last_change)
        with self._lock:
            cached = self._indexes.get(market)
            if cached is not None and cached[0] == signature:
                return cached[1]
        rows = session.execute(
            select(Organization.id, Organization.latitude, Organization.longitude).where(*dealers)
        )
        index = NearestIndex(
            [
                (dealer, Point(lat, lon))
                for dealer, lat, lon in rows
                if lat is not None and lon is not None  # as the query asks: typed for mypy
            ]
        )
        with self._lock:
            self._indexes[market] = (signature, index)
        return index


class Leads:
    """Lead operations inside one session; the caller commits."""

    def __init__(
        self, session: Session, hooks: Hooks, chain: MapChain, locator: DealerLocator
    ) -> None:
        self.session = session
        self.hooks = hooks
        self.chain = chain
        self.locator = locator

    def create(self, new: NewLead) -> Lead:
        """Place the lead, route it to the nearest dealer, store it; ``lead_created`` fires
        once it is committed.

        :raises ValueError: for a lead with neither an address nor a point, or an empty one.
        :raises regiocrm.packs.PackError: for a market no pack serves.
        """
        self.hooks.packs().for_market(new.market)
        if new.point is None and (new.address is None or not new.address.strip()):
            raise ValueError("a lead needs an address or a point")
        lead = Lead(
            market=new.market,
            customer_id=new.customer_id,
            source=new.source,
            vehicle_model=new.vehicle_model,
            address=new.address,
        )
        point = None if new.point is None else convert(new.point, Datum.WGS84)
        if point is None and new.address is not None:
            try:
                located = self.chain.geocode(new.address, new.market)
            except NotLocated as exc:
                lead.unassigned_reason = str(exc)
            else:
                point, lead.located_by = located.point, located.provider
        if point is not None:
            lead.latitude, lead.longitude = point.lat, point.lon
            nearest = self.locator.nearest(self.session, new.market, point)
            if nearest is None:
                lead.unassigned_reason = f"no active dealer of {new.market} has a location"
            else:
                lead.dealer_id, lead.distance_km = nearest.key, round(nearest.km, 3)
        self.session.add(lead)
        self.session.flush()
        after_commit(
            self.session,
            lambda: self.hooks.lead_created(
                lead_id=lead.id, market=lead.market, dealer_id=lead.dealer_id
            ),
        )
        return lead
