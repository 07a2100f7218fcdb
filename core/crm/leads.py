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

from regiocrm.crm.customers import Customers
from regiocrm.crm.lead_lifecycle import dealer_subdivision, follow_up_due
from regiocrm.geo.chain import MapChain, NotLocated
from regiocrm.geo.datums import convert, great_circle_km
from regiocrm.geo.routing import Nearest, NearestIndex
from regiocrm.interfaces.maps import Datum, Point
from regiocrm.models import Lead, LeadStatus, Organization, OrganizationKind, Ownership
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.stores import ZonedSession, after_commit

# ``located_by`` of a lead at the very address of one of the deployment's dealers.
DEALER_ADDRESS = "dealer address"


@dataclass(frozen=True)
class NewLead:
    """What a lead takes: an address or a point to route it by, or the dealer it is for
    (``dealer_id``: a vehicle's servicing dealer, which the lead goes to unrouted)."""

    market: str
    address: str | None = None
    point: Point | None = None
    customer_id: uuid.UUID | None = None
    source: str | None = None
    vehicle_model: str | None = None
    dealer_id: uuid.UUID | None = None


@dataclass
class DealerLocator:
    """The nearest-dealer index of each market, rebuilt only when that market's dealers
    change (a new dealer, a move, one closing), which a cheap aggregate query tells."""

    _indexes: dict[str, tuple[tuple[int, object], NearestIndex[uuid.UUID]]] = field(
        default_factory=dict
    )
    _lock: Lock = field(default_factory=Lock)

    def nearest(
        self, session: ZonedSession, market: str, point: Point
    ) -> Nearest[uuid.UUID] | None:
        """The nearest active dealer of ``market`` with a location, or None.

        :raises regiocrm.geo.datums.NoEquivalent: for a point with no WGS-84 equivalent.
        """
        return self.index(session, market).nearest(convert(point, Datum.WGS84))

    def index(self, session: ZonedSession, market: str) -> NearestIndex[uuid.UUID]:
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
        self, session: ZonedSession, hooks: Hooks, chain: MapChain, locator: DealerLocator
    ) -> None:
        self.session = session
        self.hooks = hooks
        self.chain = chain
        self.locator = locator

    def create(self, new: NewLead) -> Lead:
        """Place the lead, route it to the nearest dealer, store it; ``lead_created`` fires
        once it is committed.

        :raises ValueError: for a lead with neither an address nor a point, or an empty one,
            nor a dealer it is for; or a dealer that is not an active dealer of its market.
        :raises regiocrm.interfaces.packs.PackError: for a market no pack serves.
        :raises regiocrm.geo.datums.NoEquivalent: for a point with no WGS-84 equivalent.
        """
        pack = self.hooks.packs().for_market(new.market)
        if new.dealer_id is not None:
            return self._store(self._for_dealer(new))
        if new.point is None and (new.address is None or not new.address.strip()):
            raise ValueError("a lead needs an address or a point")
        owner = (
            None
            if new.customer_id is None
            else Customers(self.session, self.hooks).get(new.customer_id)
        )
        lead = Lead(
            market=new.market,
            status=LeadStatus.NEW,
            customer_id=owner.id if owner else None,
            source=new.source,
            vehicle_model=new.vehicle_model,
            address=new.address,
        )
        point = None if new.point is None else convert(new.point, Datum.WGS84)
        if point is None and new.address is not None:
            point, lead.located_by = self._dealer_at(new.market, new.address), DEALER_ADDRESS
        if point is None and new.address is not None:
            try:
                located = self.chain.geocode(new.address, new.market)
            except NotLocated as exc:
                lead.located_by, lead.unassigned_reason = None, str(exc)
            else:
                point, lead.located_by = located.point, located.provider
        if point is not None:
            lead.latitude, lead.longitude = point.lat, point.lon
        seller = None
        if owner is not None and pack.leads_to_selling_dealer:
            seller = self._selling_dealer(owner.id, new.market)
        if seller is not None:
            lead.dealer_id = seller.id
            if point is not None and seller.latitude is not None and seller.longitude is not None:
                distance = great_circle_km(point, Point(seller.latitude, seller.longitude))
                lead.distance_km = round(distance, 3)
        elif point is not None:
            nearest = self.locator.nearest(self.session, new.market, point)
            if nearest is None:
                lead.unassigned_reason = f"no active dealer of {new.market} has a location"
            else:
                lead.dealer_id, lead.distance_km = nearest.key, round(nearest.km, 3)
        return self._store(lead)

    def _for_dealer(self, new: NewLead) -> Lead:
        """A lead for the dealer it names, placed where the dealer is."""
        dealer = self.session.get(Organization, new.dealer_id)
        if (
            dealer is None
            or dealer.kind is not OrganizationKind.DEALER
            or dealer.market != new.market
            or not dealer.active
        ):
            raise ValueError(f"{new.dealer_id} is no active dealer of {new.market}")
        located = dealer.latitude is not None and dealer.longitude is not None
        owner = (
            None
            if new.customer_id is None
            else Customers(self.session, self.hooks).get(new.customer_id)
        )
        return Lead(
            market=new.market,
            status=LeadStatus.NEW,
            customer_id=None if owner is None else owner.id,
            source=new.source,
            vehicle_model=new.vehicle_model,
            address=new.address or dealer.address,
            latitude=dealer.latitude,
            longitude=dealer.longitude,
            located_by=DEALER_ADDRESS if located else None,
            dealer_id=dealer.id,
            distance_km=0.0 if located else None,
        )

    def _store(self, lead: Lead) -> Lead:
        """Set the lead's follow-up, store it, and announce it once committed."""
        lead.follow_up_due_at = follow_up_due(
            self.hooks, lead, utcnow(), subdivision=dealer_subdivision(self.session, lead)
        )
        self.session.add(lead)
        self.session.flush()
        after_commit(
            self.session,
            lambda: self.hooks.lead_created(
                lead_id=lead.id, market=lead.market, dealer_id=lead.dealer_id
            ),
        )
        return lead

    def _dealer_at(self, market: str, address: str) -> Point | None:
        """The location of a dealer of the market at exactly this address: the deployment's
        own knowledge, asked before any map provider."""
        row = self.session.execute(
            select(Organization.latitude, Organization.longitude)
            .where(
                Organization.kind == OrganizationKind.DEALER,
                Organization.market == market,
                Organization.address == address.strip(),
                Organization.latitude.is_not(None),
                Organization.longitude.is_not(None),
            )
            .limit(1)
        ).first()
        if row is None or row.latitude is None or row.longitude is None:
            return None
        return Point(row.latitude, row.longitude)

    def _selling_dealer(self, customer_id: uuid.UUID, market: str) -> Organization | None:
        """The active dealer of the market that sold the customer (or a record merged into
        them) the vehicle they have owned most recently and still own.

        Ownerships are the customer's crm data and dealers are in the directory (home
        zone): they are read apart, never joined.
        """
        customers = Customers(self.session, self.hooks)
        sellers = self.session.scalars(
            select(Ownership.dealer_id)
            .where(
                Ownership.customer_id.in_(customers.merge_set(customer_id)),
                Ownership.ended_on.is_(None),
                Ownership.dealer_id.is_not(None),
            )
            .order_by(Ownership.started_on.desc(), Ownership.id.desc())
        ).all()
        if not sellers:
            return None
        dealers = {
            dealer.id: dealer
            for dealer in self.session.scalars(
                select(Organization).where(
                    Organization.id.in_(sellers),
                    Organization.market == market,
                    Organization.active,
                )
            )
        }
        return next((dealers[seller] for seller in sellers if seller in dealers), None)
