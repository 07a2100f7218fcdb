"""Two Shanghai dealers, each with a staff member who signs in to the console, customers
they registered and leads routed to them, for the dealers' page tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from console_client import ConsoleDeployment
from sqlalchemy import func, select

from regiocrm.crm.customers import NewCustomer
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.models import AuditEvent, Contract, Interaction, Lead, Ownership, Vehicle
from regiocrm.models.base import utcnow
from regiocrm.models.organization import OrganizationKind
from regiocrm.models.user import UserRole
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.customers import CustomerService

# What a step on a lead may write; a refused step changes none of them.
WRITTEN = (Lead, Interaction, Ownership, Vehicle, Contract)


@dataclass
class DealerWorld:
    """The deployment, its services, and who is who in it."""

    console: ConsoleDeployment
    application: Application
    pudong: uuid.UUID
    minhang: uuid.UUID
    zhou: Caller
    wu: Caller

    def customer(
        self, caller: Caller, given: str, phone: str | None = None, wechat: str | None = None
    ) -> uuid.UUID:
        """A customer the caller's dealer registered, with a phone and a WeChat id."""
        identities = []
        if phone:
            identities.append(IdentityRef("phone", phone))
        if wechat:
            identities.append(IdentityRef("wechat_openid", wechat))
        details = NewCustomer(market="CN", family_name="王", given_name=given)
        return CustomerService(self.application).create(caller, details, identities).id

    def lead(
        self,
        dealer: uuid.UUID,
        customer: uuid.UUID | None,
        *,
        due_in: timedelta | None = timedelta(hours=4),
        status: str = "new",
        source: str | None = "wechat",
        vehicle_model: str | None = "Tourer",
    ) -> uuid.UUID:
        """A lead routed to ``dealer``, its follow-up due ``due_in`` from now (negative:
        overdue)."""
        due: datetime | None = None if due_in is None else utcnow() + due_in
        with self.console.stores.session() as session:
            lead = Lead(
                market="CN",
                customer_id=customer,
                dealer_id=dealer,
                status=status,
                source=source,
                vehicle_model=vehicle_model,
                address="上海市浦东新区张江路",
                follow_up_due_at=due,
            )
            session.add(lead)
            session.commit()
            return lead.id

    def stored(self) -> tuple[int, ...]:
        """How many rows a step on a lead may write there are."""
        with self.console.stores.session() as session:
            return tuple(
                int(session.scalar(select(func.count()).select_from(model)) or 0)
                for model in WRITTEN
            )

    def actions(self, caller: Caller) -> list[str]:
        """What the caller did, as the audit trail has it, oldest first."""
        with self.console.stores.session() as session:
            return list(
                session.scalars(
                    select(AuditEvent.action)
                    .where(AuditEvent.actor_id == caller.user_id)
                    .order_by(AuditEvent.id)
                )
            )

    def lead_row(self, lead: uuid.UUID) -> Lead:
        with self.console.stores.session() as session:
            return session.get_one(Lead, lead)


def dealer_world(console: ConsoleDeployment) -> DealerWorld:
    """Pudong Motors with zhou, Minhang Motors with wu (both dealer staff, passwords set)."""
    pudong = console.organization("Pudong Motors", OrganizationKind.DEALER)
    minhang = console.organization("Minhang Motors", OrganizationKind.DEALER)
    application: Application = console.app.state.services
    callers = {}
    for name, dealer in (("zhou", pudong), ("wu", minhang)):
        caller = application.authenticate(console.user(name, UserRole.DEALER_STAFF, dealer))
        assert caller is not None
        callers[name] = caller
    return DealerWorld(console, application, pudong, minhang, callers["zhou"], callers["wu"])
