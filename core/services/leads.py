"""Leads for front ends: routed to the nearest dealer, listed, read and followed up to a
sale by a caller who sees them.

A lead is seen by those who see its market and dealer (:func:`regiocrm.crm.access.holds`);
one outside the caller's scope is answered as one that does not exist. Every lead shown is
a read, audited with its reader.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from regiocrm.crm import audit
from regiocrm.crm.access import holds, sees
from regiocrm.crm.customers import Customers, UnknownCustomer
from regiocrm.crm.lead_lifecycle import STEPS, LeadLifecycle, Sale, UnknownLead, is_overdue, overdue
from regiocrm.crm.leads import Leads, NewLead
from regiocrm.interfaces.maps import Point
from regiocrm.interfaces.terms import LeadStatus
from regiocrm.models import Customer, Lead, Organization
from regiocrm.models.base import utcnow
from regiocrm.platform.stores import ZonedSession
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.customer_views import CustomerView
from regiocrm.services.listing import Listing

# The follow-up due soonest first.
LEADS = Listing(Lead, Lead.market, Lead.dealer_id, (Lead.follow_up_due_at, Lead.id), "lead")
# As a dealer works them: the overdue first (their due times are past), then the follow-up
# due soonest, then those with nothing due, whichever end the database puts nulls at.
WORKLIST = Listing(
    Lead,
    Lead.market,
    Lead.dealer_id,
    (Lead.follow_up_due_at.is_(None), Lead.follow_up_due_at, Lead.id),
    "lead",
)


@dataclass(frozen=True)
class DealerView:
    """A dealer a lead goes to: where it is."""

    id: uuid.UUID
    name: str
    subdivision: str | None
    address: str | None
    lat: float | None
    lon: float | None

    @classmethod
    def of(cls, dealer: Organization) -> DealerView:
        return cls(
            dealer.id,
            dealer.name,
            dealer.subdivision,
            dealer.address,
            dealer.latitude,
            dealer.longitude,
        )

    def as_json(self) -> dict[str, Any]:
        return {**vars(self), "id": str(self.id)}


@dataclass(frozen=True)
class LeadView:
    """A lead as front ends show it, with the dealer it was routed to."""

    id: uuid.UUID
    market: str
    status: str
    address: str | None
    lat: float | None
    lon: float | None
    located_by: str | None
    dealer: DealerView | None
    distance_km: float | None
    unassigned_reason: str | None
    customer_id: uuid.UUID | None
    vehicle_model: str | None
    follow_up_due_at: datetime | None
    lost_reason: str | None
    ownership_id: uuid.UUID | None

    @classmethod
    def of(cls, session: ZonedSession, lead: Lead) -> LeadView:
        dealer = None if lead.dealer_id is None else session.get_one(Organization, lead.dealer_id)
        return cls(
            id=lead.id,
            market=lead.market,
            status=lead.status.value,
            address=lead.address,
            lat=lead.latitude,
            lon=lead.longitude,
            located_by=lead.located_by,
            dealer=None if dealer is None else DealerView.of(dealer),
            distance_km=lead.distance_km,
            unassigned_reason=lead.unassigned_reason,
            customer_id=lead.customer_id,
            vehicle_model=lead.vehicle_model,
            follow_up_due_at=lead.follow_up_due_at,
            lost_reason=lead.lost_reason,
            ownership_id=lead.ownership_id,
        )

    def as_json(self) -> dict[str, Any]:
        """Ids and moments as strings, the dealer as an object."""
        return {
            **vars(self),
            "id": str(self.id),
            "dealer": None if self.dealer is None else self.dealer.as_json(),
            "customer_id": None if self.customer_id is None else str(self.customer_id),
            "follow_up_due_at": (
                None if self.follow_up_due_at is None else self.follow_up_due_at.isoformat()
            ),
            "ownership_id": None if self.ownership_id is None else str(self.ownership_id),
        }


@dataclass(frozen=True)
class LeadAtHand:
    """A lead as a dealer works it: whether its follow-up is late, the steps it may take
    next (``won`` by converting it), the channel it came from, the currency a sale of it is
    priced in, and its customer with the identities to reach them on (``None`` for a lead
    without one, or whose customer the caller does not see)."""

    lead: LeadView
    overdue: bool
    steps: tuple[str, ...]
    source: str | None
    currency: str
    customer: CustomerView | None

    @property
    def phone(self) -> str | None:
        """The customer's number to call, a verified one first."""
        return None if self.customer is None else self.customer.phone


@dataclass(frozen=True)
class NearestDealer:
    dealer: DealerView
    distance_km: float

    def as_json(self) -> dict[str, Any]:
        return {"dealer": self.dealer.as_json(), "distance_km": self.distance_km}


class LeadService:
    """What a caller may do with leads; each method one transaction, committed before it
    returns.

    Every method but :meth:`nearest_dealer` raises :class:`~regiocrm.crm.access.Forbidden`
    for a role that reads no customer data.
    """

    def __init__(self, app: Application) -> None:
        self.app = app

    def create(self, caller: Caller, new: NewLead) -> LeadView:
        """Store a lead and route it to the nearest active dealer of its market; one that
        cannot be placed is kept unassigned, with the reason. ``lead_created`` fires once
        it is committed.

        :raises ValueError: for a lead with neither an address nor a point.
        :raises regiocrm.crm.customers.UnknownCustomer: for a customer the caller does not
            see, or no such customer.
        :raises regiocrm.interfaces.packs.PackError: for a market no pack serves.
        :raises regiocrm.geo.datums.NoEquivalent: for a point with no WGS-84 equivalent.
        """
        caller.scope.require_customers()
        with self.app.transaction() as session:
            if new.customer_id is not None:
                Customers(session, self.app.hooks).visible(new.customer_id, caller.scope)
            lead = Leads(session, self.app.hooks, self.app.maps, self.app.dealers).create(new)
            return LeadView.of(session, lead)

    def find(
        self,
        caller: Caller,
        *,
        dealer_id: uuid.UUID | None = None,
        status: LeadStatus | None = None,
        overdue_only: bool = False,
        limit: int,
    ) -> list[LeadView]:
        """The leads the caller sees, the follow-up due soonest first; with
        ``overdue_only``, the open ones whose follow-up is late. Each read is audited."""
        with self.app.transaction() as session:
            found = LEADS.rows(
                session,
                caller,
                equal={Lead.dealer_id: dealer_id, Lead.status: status},
                where=[overdue(utcnow())] if overdue_only else [],
                limit=limit,
            )
            return [LeadView.of(session, lead) for lead in found]

    def worklist(
        self, caller: Caller, *, status: LeadStatus | None = None, limit: int
    ) -> list[LeadAtHand]:
        """The leads the caller sees as a dealer works them: the overdue first, then the
        follow-up due soonest, then those with nothing due; each with its customer at hand.
        Every lead and customer shown is a read, audited."""
        with self.app.transaction() as session:
            found = WORKLIST.rows(session, caller, equal={Lead.status: status}, limit=limit)
            return self._at_hand(session, caller, found)

    def at_hand(self, caller: Caller, lead_id: uuid.UUID) -> LeadAtHand:
        """One lead the caller sees, with its customer at hand, to work it; the reads are
        audited.

        :raises UnknownLead: for no such lead, and alike for one outside the scope.
        """
        with self.app.transaction() as session:
            lead = self._visible(session, caller, lead_id)
            audit.record_reads(
                session, actor_id=caller.user_id, subject_type="lead", subjects=[lead]
            )
            [view] = self._at_hand(session, caller, [lead])
            return view

    def get(self, caller: Caller, lead_id: uuid.UUID) -> LeadView:
        """One lead the caller sees, with its dealer; the read is audited.

        :raises UnknownLead: for no such lead, and alike for one outside the scope.
        """
        with self.app.transaction() as session:
            lead = self._visible(session, caller, lead_id)
            audit.record_reads(
                session, actor_id=caller.user_id, subject_type="lead", subjects=[lead]
            )
            return LeadView.of(session, lead)

    def transition(
        self, caller: Caller, lead_id: uuid.UUID, to: LeadStatus, *, reason: str = ""
    ) -> LeadView:
        """Move a lead the caller sees on: ``contacted``, ``qualified``, or ``lost`` with
        its reason. Audited, and on the customer's timeline.

        :raises UnknownLead: for no such lead, or one outside the scope.
        :raises regiocrm.crm.lead_lifecycle.LeadError: for a step the lead cannot take.
        """
        with self.app.transaction() as session:
            self._visible(session, caller, lead_id)
            lead = LeadLifecycle(session, self.app.hooks).transition(
                lead_id, to, actor_id=caller.user_id, reason=reason
            )
            return LeadView.of(session, lead)

    def convert(self, caller: Caller, lead_id: uuid.UUID, sale: Sale) -> LeadView:
        """Win a qualified lead the caller sees with the sale of a vehicle; the same sale
        again changes nothing.

        :raises UnknownLead: for no such lead, or one outside the scope.
        :raises regiocrm.crm.lead_lifecycle.Conflict: for a lead won with another vehicle,
            another buyer, or a vehicle someone owns.
        :raises regiocrm.crm.lead_lifecycle.LeadError: for a lead not qualified, a
            malformed VIN, or no buyer.
        :raises regiocrm.crm.customers.UnknownCustomer: for a buyer the caller does not
            see, or no such customer.
        """
        with self.app.transaction() as session:
            self._visible(session, caller, lead_id)
            if sale.customer_id is not None:
                Customers(session, self.app.hooks).visible(sale.customer_id, caller.scope)
            lead = LeadLifecycle(session, self.app.hooks).convert(
                lead_id, sale, actor_id=caller.user_id
            )
            return LeadView.of(session, lead)

    def nearest_dealer(self, caller: Caller, market: str, point: Point) -> NearestDealer | None:
        """The nearest active dealer of ``market`` with a location to a point in any datum,
        for any caller (dealers' locations are no one's personal data); ``None`` when no
        dealer of the market has one.

        :raises regiocrm.geo.datums.NoEquivalent: for a point with no WGS-84 equivalent.
        """
        with self.app.transaction() as session:
            nearest = self.app.dealers.nearest(session, market, point)
            if nearest is None:
                return None
            dealer = session.get_one(Organization, nearest.key)
            return NearestDealer(DealerView.of(dealer), round(nearest.km, 3))

    def _at_hand(
        self, session: ZonedSession, caller: Caller, leads: list[Lead]
    ) -> list[LeadAtHand]:
        """The leads with their customers, each customer shown a read, audited once."""
        customers = Customers(session, self.app.hooks)
        shown: dict[uuid.UUID, Customer] = {}
        for customer_id in {lead.customer_id for lead in leads if lead.customer_id is not None}:
            try:
                customer = customers.get(customer_id)
            except UnknownCustomer:
                continue
            if sees(session, caller.scope, customer):
                shown[customer_id] = customer
        survivors = list({customer.id: customer for customer in shown.values()}.values())
        audit.record_reads(
            session, actor_id=caller.user_id, subject_type="customer", subjects=survivors
        )
        views = {id_: CustomerView.of(customers, customer) for id_, customer in shown.items()}
        now = utcnow()
        packs = self.app.hooks.packs()
        return [
            LeadAtHand(
                lead=LeadView.of(session, lead),
                overdue=is_overdue(lead, now),
                steps=tuple(step.value for step in STEPS[lead.status]),
                source=lead.source,
                currency=packs.market(lead.market).currency,
                customer=None if lead.customer_id is None else views.get(lead.customer_id),
            )
            for lead in leads
        ]

    def _visible(self, session: ZonedSession, caller: Caller, lead_id: uuid.UUID) -> Lead:
        caller.scope.require_customers()
        lead = session.get(Lead, lead_id)
        if lead is None or not holds(caller.scope, lead.market, lead.dealer_id):
            raise UnknownLead(f"no lead {lead_id}")
        return lead
