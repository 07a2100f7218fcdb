"""Customers for front ends: registered, found, read with their timeline, bound, merged,
asked for consent and written to, by a caller who sees them.

Every read of a customer's personal data goes to the audit trail with the reader. A
customer outside the caller's scope is answered as one that does not exist; a customer
that was merged is answered with the survivor.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, select

from regiocrm.crm import audit
from regiocrm.crm.access import Forbidden, rows_in, sees
from regiocrm.crm.cases import OPEN
from regiocrm.crm.customers import Customers, MergeRefused, NewConsent, NewCustomer
from regiocrm.crm.timeline import Position, Timeline
from regiocrm.interfaces.channels import ChannelRegistry, IdentityRef
from regiocrm.messaging.outbound import Messaging, NotDelivered
from regiocrm.models import (
    Case,
    Consent,
    Contract,
    Customer,
    Interaction,
    Lead,
    Ownership,
    Vehicle,
)
from regiocrm.platform.stores import ZonedSession
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.cases import CaseView
from regiocrm.services.contracts import ContractView
from regiocrm.services.customer_views import CustomerTelematics, CustomerView, vehicles_shown
from regiocrm.services.leads import LeadView

# How many of each of a customer's records their one view shows; the timeline goes on a
# page at a time.
OVERVIEW_ROWS = 50


@dataclass(frozen=True)
class CustomerPage:
    """Customers in id order, and the id the next page starts after (``None``: the last)."""

    items: list[CustomerView]
    next: uuid.UUID | None


@dataclass(frozen=True)
class EntryView:
    """One entry of a customer's timeline."""

    id: uuid.UUID
    channel: str
    direction: str
    touchpoint: str
    occurred_at: datetime
    text: str | None
    summary: str | None
    external_id: str | None
    failure: str | None = None
    """Why a message sent did not reach the customer; ``None`` for every other entry."""

    @classmethod
    def of(cls, entry: Interaction) -> EntryView:
        return cls(
            entry.id,
            entry.channel,
            entry.direction.value,
            entry.touchpoint,
            entry.occurred_at,
            entry.text,
            entry.summary,
            entry.external_id,
            entry.failure,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            **{field.name: getattr(self, field.name) for field in fields(self)},
            "id": str(self.id),
            "occurred_at": self.occurred_at.isoformat(),
        }


@dataclass(frozen=True)
class TimelinePage:
    """Timeline entries oldest first, and the position the next page starts after."""

    items: list[EntryView]
    next: Position | None


@dataclass(frozen=True)
class ConsentView:
    """A consent entry recorded."""

    customer_id: uuid.UUID
    purpose: str
    channel: str
    action: str
    source: str | None

    def as_json(self) -> dict[str, Any]:
        return {**vars(self), "customer_id": str(self.customer_id)}


@dataclass(frozen=True)
class ConsentEntry:
    """One entry of a customer's consent ledger; ``in_force`` for the latest of its purpose
    and channel."""

    purpose: str
    channel: str
    action: str
    occurred_at: datetime
    source: str | None
    in_force: bool


@dataclass(frozen=True)
class OwnershipView:
    """A vehicle the customer owns or owned, and since when."""

    id: uuid.UUID
    vehicle_id: uuid.UUID
    vin: str | None
    make: str | None
    model: str | None
    model_year: int | None
    dealer_id: uuid.UUID | None
    started_on: date
    ended_on: date | None


@dataclass(frozen=True)
class CustomerOverview:
    """Everything a customer's one view shows, read in one transaction.

    :param timeline: newest first; its ``next`` is where older entries go on.
    :param last_channel: the channel the customer last wrote on (a reply's default).
    :param channels: the channels a reply could go out on: those with a configured account
        that the customer last wrote on or holds an identity for.
    """

    customer: CustomerView
    consents: tuple[ConsentEntry, ...]
    ownerships: tuple[OwnershipView, ...]
    contracts: tuple[ContractView, ...]
    open_cases: tuple[CaseView, ...]
    leads: tuple[LeadView, ...]
    timeline: TimelinePage
    last_channel: str | None
    channels: tuple[str, ...]
    telematics: CustomerTelematics


@dataclass(frozen=True)
class SentView:
    """A message sent, as it went on the timeline."""

    id: uuid.UUID
    channel: str
    touchpoint: str
    external_id: str | None
    occurred_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {**vars(self), "id": str(self.id), "occurred_at": self.occurred_at.isoformat()}


class CustomerService:
    """What a caller may do with customers; each method one transaction, committed before
    it returns.

    Every method raises :class:`~regiocrm.crm.access.Forbidden` for a role that reads no
    customer data, and those naming a customer raise
    :class:`~regiocrm.crm.customers.UnknownCustomer` for no such customer, and alike for
    one the caller does not see.
    """

    def __init__(self, app: Application) -> None:
        self.app = app

    def create(
        self,
        caller: Caller,
        details: NewCustomer,
        identities: Sequence[IdentityRef] = (),
        consents: Sequence[NewConsent] = (),
    ) -> CustomerView:
        """Register a customer with their identities and consents, as a dealer enters one.
        A dealer's or wholesaler's customer goes on the timeline as registered at their
        organization, which links the customer to it.

        :raises regiocrm.interfaces.packs.PackError: for a market no pack serves.
        :raises Forbidden: for a market outside the caller's.
        :raises regiocrm.interfaces.identities.InvalidIdentity: for an identity that is not
            one of its kind.
        :raises regiocrm.crm.customers.IdentityTaken: for an identity someone holds, named
            only to a caller who sees them.
        """
        scope = caller.scope
        scope.require_customers()
        self.app.hooks.packs().for_market(details.market)
        if scope.markets is not None and details.market not in scope.markets:
            raise Forbidden(
                f"a {scope.role.value} registers customers of {', '.join(sorted(scope.markets))}"
                f" only, not of {details.market}"
            )
        with self.app.transaction() as session:
            customers = Customers(session, self.app.hooks)
            customer = customers.create(details, identities, actor_id=caller.user_id, scope=scope)
            customers.add_consents(customer, consents)
            if caller.works_for_a_partner and caller.organization_id is not None:
                Timeline(session).registration(
                    market=customer.market,
                    customer_id=customer.id,
                    organization_id=caller.organization_id,
                )
            return CustomerView.of(customers, customer)

    def find(self, caller: Caller, identity: IdentityRef, market: str | None) -> list[CustomerView]:
        """The customer an identity belongs to, if the caller sees them (none or one),
        normalised in ``market`` (default: the deployment's); the read is audited.

        :raises regiocrm.interfaces.identities.InvalidIdentity: for a value that is not an
            identity of its kind.
        """
        caller.scope.require_customers()
        with self.app.transaction() as session:
            customers = Customers(session, self.app.hooks)
            found = customers.find(identity, market or self.app.settings.deployment.market)
            if found is None or not sees(session, caller.scope, found):
                return []
            return self._read(session, customers, caller, [found])

    def page(self, caller: Caller, *, after: uuid.UUID | None, limit: int) -> CustomerPage:
        """The customers the caller sees, by id, ``limit`` at a time after the id
        ``after``; each read is audited."""
        with self.app.transaction() as session:
            customers = Customers(session, self.app.hooks)
            found = customers.listing(caller.scope, after=after, limit=limit + 1)
            more = len(found) > limit
            items = self._read(session, customers, caller, found[:limit])
            return CustomerPage(items, items[-1].id if more else None)

    def get(self, caller: Caller, customer_id: uuid.UUID) -> CustomerView:
        """One customer (or the survivor it was merged into), with every identity; the
        read is audited."""
        with self.app.transaction() as session:
            customers = Customers(session, self.app.hooks)
            customer = customers.visible(customer_id, caller.scope)
            [view] = self._read(session, customers, caller, [customer])
            return view

    def timeline(
        self, caller: Caller, customer_id: uuid.UUID, *, after: Position | None, limit: int
    ) -> TimelinePage:
        """``limit`` entries of the customer's timeline and of the records merged into
        them, oldest first, after the position ``after``; the read is audited."""
        with self.app.transaction() as session:
            customers = Customers(session, self.app.hooks)
            customer = customers.visible(customer_id, caller.scope)
            page = Timeline(session).page(
                customers.merge_set(customer.id), limit=limit, after=after
            )
            audit.record(
                session,
                actor_id=caller.user_id,
                action="customer.timeline_read",
                subject_type="customer",
                subject=customer,
            )
            return TimelinePage([EntryView.of(entry) for entry in page.entries], page.next)

    def overview(
        self,
        caller: Caller,
        customer_id: uuid.UUID,
        *,
        before: Position | None = None,
        limit: int = OVERVIEW_ROWS,
    ) -> CustomerOverview:
        """The customer's one view (or the survivor's, for a record merged away): names
        and identities, consents, vehicles (with their latest mileage and events),
        contracts, open cases, leads and ``limit`` timeline entries newest first, before
        ``before``. Cases, leads, contracts and
        ownerships are those the caller's scope holds, as their own listings say. Audited
        as one read (``customer.overview_read``) naming every record shown.
        """
        scope = caller.scope
        with self.app.transaction() as session:
            customers = Customers(session, self.app.hooks)
            customer = customers.visible(customer_id, scope)
            merged = customers.merge_set(customer.id)
            view = CustomerView.of(customers, customer)
            cases = session.scalars(
                select(Case)
                .where(
                    Case.customer_id.in_(merged),
                    Case.status.in_(OPEN),
                    rows_in(scope, Case.market, Case.organization_id),
                )
                .order_by(Case.due_at, Case.id)
                .limit(OVERVIEW_ROWS)
            ).all()
            leads = session.scalars(
                select(Lead)
                .where(Lead.customer_id.in_(merged), rows_in(scope, Lead.market, Lead.dealer_id))
                .order_by(Lead.follow_up_due_at, Lead.id)
                .limit(OVERVIEW_ROWS)
            ).all()
            contracts = session.scalars(
                select(Contract)
                .where(
                    Contract.customer_id.in_(merged),
                    rows_in(scope, Contract.market, Contract.organization_id),
                )
                .order_by(Contract.ends_on, Contract.id)
                .limit(OVERVIEW_ROWS)
            ).all()
            timeline = Timeline(session)
            page = timeline.latest(merged, limit=limit, before=before)
            ownerships = _ownerships(
                session, rows_in(scope, Ownership.market, Ownership.dealer_id), merged
            )
            last_channel = timeline.last_inbound_channel(merged)
            telematics = CustomerTelematics.read(
                session, self.app.hooks, vehicles_shown(ownerships)
            )
            audit.record(
                session,
                actor_id=caller.user_id,
                action="customer.overview_read",
                subject_type="customer",
                subject=customer,
                detail={
                    "cases": " ".join(str(case.id) for case in cases),
                    "leads": " ".join(str(lead.id) for lead in leads),
                    "contracts": " ".join(str(contract.id) for contract in contracts),
                    "timeline_entries": len(page.entries),
                    "vehicle_events": len(telematics.events),
                },
            )
            return CustomerOverview(
                customer=view,
                consents=_consents(session, merged),
                ownerships=ownerships,
                contracts=tuple(ContractView.of(contract) for contract in contracts),
                open_cases=tuple(CaseView.of(case) for case in cases),
                leads=tuple(LeadView.of(session, lead) for lead in leads),
                timeline=TimelinePage([EntryView.of(entry) for entry in page.entries], page.next),
                last_channel=last_channel,
                channels=_reply_channels(self.app.channels, view, last_channel),
                telematics=telematics,
            )

    def bind_identity(
        self, caller: Caller, customer_id: uuid.UUID, identity: IdentityRef, *, verified: bool
    ) -> CustomerView:
        """Bind an identity to a customer, as an agent confirms it; where it belongs to
        another customer the two are merged, and the survivor is returned. The caller must
        see both.

        :raises regiocrm.interfaces.identities.InvalidIdentity: for a value that is not an
            identity of its kind.
        :raises MergeRefused: when the identity belongs to a customer the caller does not
            see; nothing is bound or merged, and the refusal is audited.
        """
        with self.app.transaction() as session, _refusals_kept(session):
            customers = Customers(session, self.app.hooks)
            resolution = customers.bind(
                customer_id,
                identity,
                actor_id=caller.user_id,
                scope=caller.scope,
                verified=verified,
            )
            return CustomerView.of(customers, customers.get(resolution.customer_id))

    def merge(
        self, caller: Caller, customer_id: uuid.UUID, other_id: uuid.UUID, *, reason: str
    ) -> CustomerView:
        """Merge ``other_id`` into the customer, which survives with every identity.

        :raises MergeRefused: for an ``other_id`` the caller does not see, or that is no
            customer at all; nothing is merged, and the refusal is audited.
        :raises regiocrm.crm.customers.CustomerError: when they are one customer already.
        """
        with self.app.transaction() as session, _refusals_kept(session):
            customers = Customers(session, self.app.hooks)
            survivor = customers.merge(
                customer_id, other_id, reason=reason, actor_id=caller.user_id, scope=caller.scope
            )
            return CustomerView.of(customers, survivor)

    def record_consent(
        self, caller: Caller, customer_id: uuid.UUID, consent: NewConsent
    ) -> ConsentView:
        """Append a consent grant or withdrawal; the latest entry per purpose and channel
        holds. Audited."""
        with self.app.transaction() as session:
            customers = Customers(session, self.app.hooks)
            customer = customers.visible(customer_id, caller.scope)
            customers.add_consents(customer, [consent])
            audit.record(
                session,
                actor_id=caller.user_id,
                action=f"consent.{consent.action.value}",
                subject_type="customer",
                subject=customer,
                detail={"purpose": consent.purpose, "channel": consent.channel},
            )
            return ConsentView(
                customer.id, consent.purpose, consent.channel, consent.action.value, consent.source
            )

    def send_message(
        self,
        caller: Caller,
        customer_id: uuid.UUID,
        text: str,
        *,
        channel: str | None,
        purpose: str,
    ) -> SentView:
        """Send a message on ``channel``, or on the one the customer last wrote on, as the
        caller's organization; it goes on the customer's timeline.

        :raises regiocrm.messaging.outbound.NoConsent: without the customer's consent for
            ``purpose`` on that channel.
        :raises regiocrm.messaging.outbound.NoRoute: when no configured account can reach
            them.
        :raises regiocrm.messaging.outbound.NotDelivered: when the provider refuses or
            keeps failing; the attempt stays on the timeline as failed, with the reason.
        """
        with self.app.transaction() as session, _failures_kept(session):
            customers = Customers(session, self.app.hooks)
            customer = customers.visible(customer_id, caller.scope)
            messaging = Messaging(session, self.app.channels, self.app.http_client)
            entry = messaging.send(
                customer,
                customers.merge_set(customer.id),
                text,
                channel=channel,
                purpose=purpose,
                organization_id=caller.organization_id,
            )
            return SentView(
                entry.id, entry.channel, entry.touchpoint, entry.external_id, entry.occurred_at
            )

    def _read(
        self,
        session: ZonedSession,
        customers: Customers,
        caller: Caller,
        found: Sequence[Customer],
    ) -> list[CustomerView]:
        """The customers shown to the caller, each read audited."""
        audit.record_reads(
            session, actor_id=caller.user_id, subject_type="customer", subjects=found
        )
        return [CustomerView.of(customers, customer) for customer in found]


@contextmanager
def _refusals_kept(session: ZonedSession) -> Iterator[None]:
    """Commit the audit record of a refused merge, which nothing else in the transaction
    changed, before the refusal rolls the transaction back."""
    try:
        yield
    except MergeRefused:
        session.commit()
        raise


@contextmanager
def _failures_kept(session: ZonedSession) -> Iterator[None]:
    """Commit the failed attempt a refused send put on the timeline, which is all the
    transaction changed, before the refusal rolls it back."""
    try:
        yield
    except NotDelivered:
        session.commit()
        raise


def _consents(session: ZonedSession, merged: Sequence[uuid.UUID]) -> tuple[ConsentEntry, ...]:
    """The customer's consent ledger, newest first, the entry in force per purpose and
    channel marked."""
    rows = session.scalars(
        select(Consent)
        .where(Consent.customer_id.in_(merged))
        .order_by(Consent.occurred_at.desc(), Consent.id.desc())
        .limit(OVERVIEW_ROWS)
    ).all()
    seen: set[tuple[str, str]] = set()
    entries = []
    for row in rows:
        key = (row.purpose, row.channel)
        entries.append(
            ConsentEntry(
                row.purpose,
                row.channel,
                row.action.value,
                row.occurred_at,
                row.source,
                key not in seen,
            )
        )
        seen.add(key)
    return tuple(entries)


def _ownerships(
    session: ZonedSession, within: ColumnElement[bool], merged: Sequence[uuid.UUID]
) -> tuple[OwnershipView, ...]:
    """The customer's ownerships the caller's scope holds, newest first, with their
    vehicles (read apart: residency may keep them in different zones)."""
    owned = session.scalars(
        select(Ownership)
        .where(Ownership.customer_id.in_(merged), within)
        .order_by(Ownership.started_on.desc(), Ownership.id.desc())
        .limit(OVERVIEW_ROWS)
    ).all()
    vehicles = {
        vehicle.id: vehicle
        for vehicle in session.scalars(
            select(Vehicle).where(Vehicle.id.in_([row.vehicle_id for row in owned]))
        )
    }
    views = []
    for row in owned:
        vehicle = vehicles.get(row.vehicle_id)
        views.append(
            OwnershipView(
                id=row.id,
                vehicle_id=row.vehicle_id,
                vin=vehicle.vin if vehicle else None,
                make=vehicle.make if vehicle else None,
                model=vehicle.model if vehicle else None,
                model_year=vehicle.model_year if vehicle else None,
                dealer_id=row.dealer_id,
                started_on=row.started_on,
                ended_on=row.ended_on,
            )
        )
    return tuple(views)


def _reply_channels(
    registry: ChannelRegistry, customer: CustomerView, last_channel: str | None
) -> tuple[str, ...]:
    """The channels with a configured account that the customer last wrote on or holds an
    identity for, in the registry's order."""
    kinds = {identity.kind for identity in customer.identities}
    configured = {account.channel for account in registry.accounts.values()}
    return tuple(
        name
        for name, channel in registry.channels.items()
        if name in configured and (name == last_channel or kinds & set(channel.identity_kinds))
    )
