"""A lead's life after routing: ``new → contacted → qualified → won``, or ``lost`` on the way.

Each open status gives the dealer a number of business hours for the next step (the pack's
``lead_follow_up_hours``), on the market's calendar with the public holidays of the
dealer's subdivision; a lead nobody followed up in time is overdue. A lead is won only by
converting it: the vehicle sold becomes the customer's, bought from the lead's dealer.
Every step is audited and, for a lead with a customer, goes on the customer's timeline.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from regiocrm.crm.accounts import clock_subdivision
from regiocrm.crm.customers import Customers
from regiocrm.crm.timeline import Step, Timeline
from regiocrm.models import Lead, LeadStatus, Ownership, Vehicle
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.stores import ZonedSession

STEPS: dict[LeadStatus, tuple[LeadStatus, ...]] = {
    LeadStatus.NEW: (LeadStatus.CONTACTED, LeadStatus.LOST),
    LeadStatus.CONTACTED: (LeadStatus.QUALIFIED, LeadStatus.LOST),
    LeadStatus.QUALIFIED: (LeadStatus.WON, LeadStatus.LOST),
    LeadStatus.WON: (),
    LeadStatus.LOST: (),
}
OPEN = (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED)
# ISO 3779: seventeen characters, never I, O or Q (they read as 1 and 0).
VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")


class LeadError(Exception):
    """A lead step that cannot be taken as asked; nothing was stored."""


class UnknownLead(LeadError):
    pass


class Conflict(LeadError):
    """The step contradicts what is stored: another sale of the lead, a vehicle owned."""


@dataclass(frozen=True)
class Sale:
    """What converting a lead takes: the vehicle sold, and the buyer when the lead has none."""

    vin: str
    started_on: date
    make: str | None = None
    model: str | None = None
    model_year: int | None = None
    customer_id: uuid.UUID | None = None


def follow_up_due(
    hooks: Hooks, lead: Lead, start: datetime, *, subdivision: str | None
) -> datetime | None:
    """When the dealer's next step on ``lead`` is due, counted from ``start`` in business
    hours of its market, in the dealer's ``subdivision`` (see :func:`dealer_subdivision`);
    none for a lead without a dealer, closed, or without a target."""
    if lead.dealer_id is None or lead.status not in OPEN:
        return None
    hours = hooks.packs().for_market(lead.market).lead_follow_up_hours.get(lead.status)
    if hours is None:
        return None
    return hooks.due_at(
        market=lead.market, start=start, duration=timedelta(hours=hours), subdivision=subdivision
    )


def dealer_subdivision(session: Session, lead: Lead) -> str | None:
    """The subdivision whose holidays the lead's follow-up clock keeps: its dealer's; none
    for a lead without a dealer."""
    if lead.dealer_id is None:
        return None
    return clock_subdivision(session, lead.dealer_id, lead.market)


def overdue(now: datetime) -> ColumnElement[bool]:
    """The condition of an open lead whose follow-up is late at ``now``."""
    return (Lead.status.in_(OPEN)) & (Lead.follow_up_due_at < now)


class LeadLifecycle:
    """Lead steps inside one session; the caller commits."""

    def __init__(self, session: ZonedSession, hooks: Hooks) -> None:
        self.session = session
        self.hooks = hooks

    def get(self, lead_id: uuid.UUID) -> Lead:
        lead = self.session.get(Lead, lead_id)
        if lead is None:
            raise UnknownLead(f"no lead {lead_id}")
        return lead

    def transition(
        self, lead_id: uuid.UUID, to: LeadStatus, *, actor_id: uuid.UUID | None, reason: str = ""
    ) -> Lead:
        """Move a lead on; ``won`` is reached by :meth:`convert` alone.

        :raises UnknownLead: for no such lead.
        :raises LeadError: for a step the lead cannot take from where it is, ``won`` asked
            directly, or ``lost`` without a reason.
        """
        lead = self.get(lead_id)
        self._check_step(lead, to)
        if to is LeadStatus.WON:
            raise LeadError("a lead is won by converting it into the sale of a vehicle")
        if to is LeadStatus.LOST and not reason.strip():
            raise LeadError("a lost lead needs the reason it was lost")
        previous = lead.status
        lead.status = to
        lead.lost_reason = reason.strip() if to is LeadStatus.LOST else None
        lead.follow_up_due_at = follow_up_due(
            self.hooks, lead, utcnow(), subdivision=dealer_subdivision(self.session, lead)
        )
        self.session.flush()
        self._record(lead, previous, actor_id, reason.strip())
        return lead

    def convert(self, lead_id: uuid.UUID, sale: Sale, *, actor_id: uuid.UUID | None) -> Lead:
        """Win a qualified lead: the vehicle (found by VIN, or added) becomes the customer's,
        sold by the lead's dealer. Converting a won lead again with the same VIN is a retry
        and changes nothing.

        :raises LeadError: for a lead not yet qualified, a malformed VIN, or no buyer.
        :raises Conflict: for a lead won with another vehicle, a buyer other than the
            lead's customer, or a vehicle someone owns.
        :raises regiocrm.crm.customers.UnknownCustomer: for a buyer who does not exist.
        """
        lead = self.get(lead_id)
        vin = sale.vin.strip().upper()
        if not VIN.match(vin):
            raise LeadError(f"{sale.vin!r} is not a VIN: 17 letters and digits, without I, O or Q")
        if lead.status is LeadStatus.WON:
            return self._already_won(lead, vin)
        self._check_step(lead, LeadStatus.WON)
        buyer_id = lead.customer_id or sale.customer_id
        if buyer_id is None:
            raise LeadError("the lead has no customer: say who bought the vehicle (customer_id)")
        if lead.customer_id and sale.customer_id and sale.customer_id != lead.customer_id:
            raise Conflict(f"the lead is customer {lead.customer_id}'s, not {sale.customer_id}'s")
        buyer = Customers(self.session, self.hooks).get(buyer_id)
        vehicle = self.session.scalars(select(Vehicle).where(Vehicle.vin == vin)).first()
        if vehicle is None:
            vehicle = Vehicle(
                market=lead.market,
                vin=vin,
                make=sale.make,
                model=sale.model or lead.vehicle_model,
                model_year=sale.model_year,
            )
            self.session.add(vehicle)
            self.session.flush()
        elif self.session.scalars(
            select(Ownership.id).where(
                Ownership.vehicle_id == vehicle.id, Ownership.ended_on.is_(None)
            )
        ).first():
            raise Conflict(f"vehicle {vin} is owned: its ownership must end before it is sold")
        ownership = Ownership(
            market=lead.market,
            vehicle_id=vehicle.id,
            customer_id=buyer.id,
            dealer_id=lead.dealer_id,
            started_on=sale.started_on,
        )
        self.session.add(ownership)
        self.session.flush()
        previous = lead.status
        lead.status = LeadStatus.WON
        lead.customer_id = buyer.id
        lead.ownership_id = ownership.id
        lead.follow_up_due_at = None
        self.session.flush()
        self._record(lead, previous, actor_id, f"sold {vin}")
        return lead

    def _check_step(self, lead: Lead, to: LeadStatus) -> None:
        allowed = STEPS[lead.status]
        if to not in allowed:
            may = ", ".join(status.value for status in allowed) or "nothing: it is closed"
            raise LeadError(
                f"a {lead.status.value} lead cannot become {to.value}: it may become {may}"
            )

    def _already_won(self, lead: Lead, vin: str) -> Lead:
        ownership = self.session.get(Ownership, lead.ownership_id)
        vehicle = None if ownership is None else self.session.get(Vehicle, ownership.vehicle_id)
        sold = None if vehicle is None else vehicle.vin
        if sold != vin:
            raise Conflict(f"the lead was won with vehicle {sold}, not {vin}")
        return lead

    def _record(
        self, lead: Lead, previous: LeadStatus, actor_id: uuid.UUID | None, reason: str
    ) -> None:
        Timeline(self.session).record_step(
            _step(lead, previous, reason),
            actor_id=actor_id,
            action=f"lead.{lead.status.value}",
            subject_type="lead",
            subject=lead,
            detail={"previous": previous.value},
            personal={"reason": reason},
        )


def _step(lead: Lead, previous: LeadStatus, reason: str) -> Step | None:
    """The lead's step on its customer's timeline; none for a lead without a customer."""
    if lead.customer_id is None:
        return None
    return Step(
        market=lead.market,
        customer_id=lead.customer_id,
        channel="lead",
        touchpoint="lead",
        summary=f"lead {previous.value} → {lead.status.value}{': ' + reason if reason else ''}",
        organization_id=lead.dealer_id,
    )
