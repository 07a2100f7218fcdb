"""The people a service test signs in: each an organization of their own with one user of
the same name, authenticated as the services see callers."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.interfaces.maps import Point
from regiocrm.interfaces.terms import OrganizationKind, UserRole
from regiocrm.models import AuditEvent
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller


class Person(NamedTuple):
    """An organization and its one user, both called ``name``."""

    name: str
    kind: OrganizationKind
    role: UserRole
    location: Point | None = None
    market: str = "CN"


# Who the Shanghai service tests sign in, most of them.
SHANGHAI_MOTORS = Person("Shanghai Motors", OrganizationKind.DEALER, UserRole.DEALER_STAFF)
PUDONG_MOTORS = Person("Pudong Motors", OrganizationKind.DEALER, UserRole.DEALER_STAFF)
SHANGHAI_CALL = Person("Shanghai Call", OrganizationKind.CALL_CENTRE, UserRole.CALL_CENTRE_AGENT)
AUDIT_PARTNERS = Person("Audit Partners", OrganizationKind.OEM, UserRole.PARTNER_AUDITOR)


def sign_in(app: Application, *people: Person) -> dict[str, Caller]:
    """Add each person's organization and user in one transaction, then authenticate each
    user's token; the callers by name."""
    with app.transaction() as session:
        tokens = {}
        for person in people:
            org = create_organization(
                session,
                name=person.name,
                kind=person.kind,
                market=person.market,
                location=person.location,
            )
            user = create_user(session, name=person.name, role=person.role, organization=org)
            tokens[person.name] = user.token
    callers = {}
    for name, token in tokens.items():
        caller = app.authenticate(token)
        assert caller is not None, f"{name} was not signed in"
        callers[name] = caller
    return callers


def actions(stores: ZoneStores, caller: Caller) -> list[str]:
    """What the caller did, as the audit trail records it, in order of name."""
    with stores.session() as session:
        return sorted(
            session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == caller.user_id))
        )
