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
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from regiocrm.crm.accounts import clock_subdivision
from regiocrm.crm.contracts import Contracts, NewContract
from regiocrm.crm.customers import Customers
from regiocrm.crm.timeline import Step, Timeline
from regiocrm.models import ContractKind, ContractStatus, Lead, LeadStatus, Ownership, Vehicle
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import _, to_minor_units
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
    """A lead step that cannot be taken as asked; nothing was stored.

    :param field: the input at fault (``reason``, ``vin``, ``price``, ``started_on``,
        ``customer_id``), so a form can show the reason beside it; ``None`` when the step
        itself is refused.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownLead(LeadError):
    pass


class Conflict(LeadError):
    """The step contradicts what is stored: another sale of the lead, a vehicle owned."""


@dataclass(frozen=True)
class Sale:
    """What converting a lead takes: the vehicle sold, and the buyer when the lead has none.

    :param started_on: the day of the sale, the buyer's ownership's first; not after today
        in the lead's market.
    :param price: what the buyer paid, in the market's currency; given, the sale is also
        kept as an active sales contract of the buyer with the lead's dealer.
    """

    vin: str
    started_on: date
    make: str | None = None
    model: str | None = None
    model_year: int | None = None
    customer_id: uuid.UUID | None = None
    price: Decimal | None = None


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


def is_overdue(lead: Lead, now: datetime) -> bool:
    """Whether ``lead`` is open and its follow-up late at ``now`` (:func:`overdue` in
    Python, for a lead already read)."""
    due = lead.follow_up_due_at
    if due is None or lead.status not in OPEN:
        return False
    # SQLite hands back the naive UTC times PostgreSQL hands back aware.
    return (due if due.tzinfo else due.replace(tzinfo=UTC)) < now


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
            raise LeadError(_("a lead is won by converting it into the sale of a vehicle"))
        if to is LeadStatus.LOST and not reason.strip():
            raise LeadError(_("a lost lead needs the reason it was lost"), field="reason")
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
        sold by the lead's dealer, and the price, when given, a sales contract. Converting a
        won lead again with the same VIN is a retry and changes nothing.

        :raises LeadError: for a lead not yet qualified, a malformed VIN, no buyer, a sale
            dated after today, or a price not above zero or finer than the currency allows.
        :raises Conflict: for a lead won with another vehicle, a buyer other than the
            lead's customer, or a vehicle someone owns.
        :raises regiocrm.crm.customers.UnknownCustomer: for a buyer who does not exist.
        """
        lead = self.get(lead_id)
        vin = sale.vin.strip().upper()
        if not VIN.match(vin):
            raise LeadError(
                _("{vin!r} is not a VIN: 17 letters and digits, without I, O or Q").format(
                    vin=sale.vin
                ),
                field="vin",
            )
        if lead.status is LeadStatus.WON:
            return self._already_won(lead, vin)
        self._check_step(lead, LeadStatus.WON)
        currency = self._check_sale(lead, sale)
        buyer_id = lead.customer_id or sale.customer_id
        if buyer_id is None:
            raise LeadError(
                _("the lead has no customer: say who bought the vehicle (customer_id)"),
                field="customer_id",
            )
        if lead.customer_id and sale.customer_id and sale.customer_id != lead.customer_id:
            raise Conflict(
                _("the lead is customer {lead}'s, not {buyer}'s").format(
                    lead=lead.customer_id, buyer=sale.customer_id
                ),
                field="customer_id",
            )
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
            raise Conflict(
                _("vehicle {vin} is owned: its ownership must end before it is sold").format(
                    vin=vin
                ),
                field="vin",
            )
        ownership = Ownership(
            market=lead.market,
            vehicle_id=vehicle.id,
            customer_id=buyer.id,
            dealer_id=lead.dealer_id,
            started_on=sale.started_on,
        )
        self.session.add(ownership)
        self.session.flush()
        if sale.price is not None:
            Contracts(self.session, self.hooks).create(
                NewContract(
                    customer_id=buyer.id,
                    market=lead.market,
                    kind=ContractKind.SALES,
                    starts_on=sale.started_on,
                    status=ContractStatus.ACTIVE,
                    vehicle_id=vehicle.id,
                    organization_id=lead.dealer_id,
                    amount=sale.price,
                    currency=currency,
                ),
                actor_id=actor_id,
            )
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
            may = ", ".join(status.value for status in allowed) or _("nothing: it is closed")
            raise LeadError(
                _("a {status} lead cannot become {to}: it may become {may}").format(
                    status=lead.status.value, to=to.value, may=may
                )
            )

    def _check_sale(self, lead: Lead, sale: Sale) -> str:
        """Refuse a sale dated after today where the lead is, or a price not above zero or
        finer than the market's currency allows; the currency the price is in."""
        market = self.hooks.packs().market(lead.market)
        today = datetime.now(ZoneInfo(market.timezone)).date()
        if sale.started_on > today:
            raise LeadError(
                _("the sale cannot be dated after today ({today})").format(today=today),
                field="started_on",
            )
        if sale.price is None:
            return market.currency
        if not sale.price.is_finite() or sale.price <= 0:
            raise LeadError(_("a sale's price is more than zero"), field="price")
        try:
            to_minor_units(sale.price, market.currency)
        except ValueError:
            raise LeadError(
                _("{price} is finer than the smallest unit of {currency}").format(
                    price=sale.price, currency=market.currency
                ),
                field="price",
            ) from None
        return market.currency

    def _already_won(self, lead: Lead, vin: str) -> Lead:
        ownership = self.session.get(Ownership, lead.ownership_id)
        vehicle = None if ownership is None else self.session.get(Vehicle, ownership.vehicle_id)
        sold = None if vehicle is None else vehicle.vin
        if sold != vin:
            raise Conflict(
                _("the lead was won with vehicle {sold}, not {vin}").format(sold=sold, vin=vin),
                field="vin",
            )
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
