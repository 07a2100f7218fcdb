"""Who sees what: each role's scope, applied in the queries themselves.

============================  ==============================================================
role                          sees
============================  ==============================================================
``admin``                     everything
``competence_centre``         every customer of every market
``call_centre_agent``         the customers of their organization's market
``wholesaler_staff``          the customers linked to their organization or its dealers
``dealer_staff``              the customers linked to their dealership
``partner_auditor``           no customer: the audit trail only
``telematics_provider``       no customer: posts the vehicle events of its organization's market
============================  ==============================================================

A customer is linked to an organization by an ownership bought there, a lead routed there,
a case assigned there or a timeline entry made there (a customer a dealer registers gets
one). The links are conditions of the SQL statement (``EXISTS`` over the tables holding
them), never a filter over rows already loaded; a customer outside the scope is as unknown
to the caller as one that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased

from regiocrm.models import (
    Case,
    Customer,
    DataClass,
    Interaction,
    Lead,
    Organization,
    OrganizationKind,
    Ownership,
    User,
    UserRole,
)
from regiocrm.platform.stores import ZONES_OPTION, ZonedSession

# The classes a scoped customer query relates: customers and the rows linking them.
LINKED_CLASSES = (DataClass.IDENTITY, DataClass.CRM)

# What a query over customers joined with rows of theirs selects.
Joined = TypeVar("Joined", bound=tuple[Any, ...])


class Forbidden(Exception):
    """The caller's role does not do this at all (not a matter of scope)."""


@dataclass(frozen=True)
class Scope:
    """What one user may see.

    :param user_id: ``None`` for the system's own scope.
    :param markets: the markets whose customers they see; ``None`` for every market.
    :param organizations: the organizations a customer must be linked to; ``None`` when
        links do not matter.
    :param customers: whether they see customers at all (partner auditors do not).
    """

    user_id: uuid.UUID | None
    role: UserRole
    markets: frozenset[str] | None
    organizations: frozenset[uuid.UUID] | None
    customers: bool = True

    @property
    def everything(self) -> bool:
        return self.customers and self.markets is None and self.organizations is None

    def require_customers(self) -> None:
        """:raises Forbidden: for a role that reads no customer data."""
        if not self.customers:
            raise Forbidden(f"a {self.role.value} reads the audit trail only")

    def require(self, *roles: UserRole) -> None:
        """:raises Forbidden: unless the caller has one of ``roles``."""
        if self.role not in roles:
            raise Forbidden(f"a {self.role.value} may not do this")


def scope_of(session: ZonedSession, user: User) -> Scope:
    """The scope of ``user``, from their role and organization."""
    organization = session.get_one(Organization, user.organization_id)
    match user.role:
        case UserRole.ADMIN | UserRole.COMPETENCE_CENTRE:
            return Scope(user.id, user.role, None, None)
        case UserRole.CALL_CENTRE_AGENT:
            return Scope(user.id, user.role, frozenset({organization.market}), None)
        case UserRole.DEALER_STAFF | UserRole.WHOLESALER_STAFF:
            markets, organizations = _network(session, organization)
            return Scope(user.id, user.role, markets, organizations)
        case UserRole.PARTNER_AUDITOR:
            return Scope(user.id, user.role, frozenset(), frozenset(), customers=False)
        case UserRole.TELEMATICS_PROVIDER:
            return Scope(
                user.id, user.role, frozenset({organization.market}), frozenset(), customers=False
            )


def organization_scope(session: ZonedSession, organization: Organization) -> Scope | None:
    """Whose customers the organization's own work (a campaign it plans) reaches: a
    dealer's, a wholesaler's and its dealers'; ``None`` for everyone (the OEM, a call
    centre)."""
    if organization.kind not in (OrganizationKind.DEALER, OrganizationKind.WHOLESALER):
        return None
    markets, organizations = _network(session, organization)
    role = (
        UserRole.DEALER_STAFF
        if organization.kind is OrganizationKind.DEALER
        else UserRole.WHOLESALER_STAFF
    )
    return Scope(organization.id, role, markets, organizations)


def _network(
    session: ZonedSession, organization: Organization
) -> tuple[frozenset[str], frozenset[uuid.UUID]]:
    """The markets and organizations of an organization and the dealers under it."""
    dealers = session.execute(
        select(Organization.id, Organization.market).where(
            Organization.parent_id == organization.id
        )
    ).all()
    return (
        frozenset({organization.market, *(market for _id, market in dealers)}),
        frozenset({organization.id, *(dealer for dealer, _market in dealers)}),
    )


def linked_to(organizations: frozenset[uuid.UUID], customer: Any = Customer) -> ColumnElement[bool]:
    """The condition of a customer (``customer``, the entity or an alias of it) linked to
    one of ``organizations``: an ownership, a lead, a case or a timeline entry there."""
    ids = list(organizations)
    return or_(
        exists().where(Ownership.customer_id == customer.id, Ownership.dealer_id.in_(ids)),
        exists().where(Lead.customer_id == customer.id, Lead.dealer_id.in_(ids)),
        exists().where(Case.customer_id == customer.id, Case.organization_id.in_(ids)),
        exists().where(
            Interaction.customer_id == customer.id, Interaction.organization_id.in_(ids)
        ),
    )


def visible(scope: Scope) -> ColumnElement[bool]:
    """The condition of a customer the scope sees. A survivor of a merge is linked through
    the records merged into it, too."""
    if not scope.customers:
        return false()
    conditions: list[ColumnElement[bool]] = []
    if scope.markets is not None:
        conditions.append(Customer.market.in_(sorted(scope.markets)))
    if scope.organizations is not None:
        merged = aliased(Customer)
        conditions.append(
            or_(
                linked_to(scope.organizations),
                exists().where(
                    merged.merged_into_id == Customer.id, linked_to(scope.organizations, merged)
                ),
            )
        )
    return and_(true(), *conditions)


def scoped_customers(
    session: ZonedSession, scope: Scope, query: Select[Customer]
) -> Sequence[Select[Customer]]:
    """``query`` (over customers) narrowed to the scope, as the statements to run: one
    over every zone for a scope without links, else one per market, in the zone keeping
    that market's customers with their links (residency must keep them together).

    :raises regiocrm.residency.rules.ApartError: for a market keeping them in different zones.
    """
    scope.require_customers()
    if scope.organizations is None:
        return [query.where(visible(scope))]
    residency = session.residency
    return [
        query.where(Customer.market == market, visible(scope)).execution_options(
            **{ZONES_OPTION: [residency.zone_together(market, LINKED_CLASSES)]}
        )
        for market in sorted(scope.markets or ())
    ]


def scoped_in_zones(
    session: ZonedSession, scope: Scope, query: Select[Joined]
) -> Sequence[Select[Joined]]:
    """``query`` (over customers joined with rows of theirs) narrowed to the scope, as the
    statements to run: one per zone keeping customers with their links, over the markets
    the scope sees (every market a pack serves, for a scope of every market) that it keeps.
    A join runs within one zone only, so unlike :func:`scoped_customers` every statement
    names its zone, whatever the scope.

    :raises Forbidden: for a role that reads no customer data.
    :raises regiocrm.residency.rules.ApartError: for a market keeping them in different zones.
    """
    scope.require_customers()
    residency = session.residency
    markets = residency.markets if scope.markets is None else scope.markets
    kept: dict[str, list[str]] = {}
    for market in sorted(markets):
        kept.setdefault(residency.zone_together(market, LINKED_CLASSES), []).append(market)
    return [
        query.where(Customer.market.in_(zone_markets), visible(scope)).execution_options(
            **{ZONES_OPTION: [zone]}
        )
        for zone, zone_markets in sorted(kept.items())
    ]


def rows_in(scope: Scope, market: Any, organization: Any) -> ColumnElement[bool]:
    """The condition of a row (a case, a lead, a contract) the scope sees, given the row's
    market and organization columns: those of its organizations for dealers and
    wholesalers, those of its markets for agents."""
    if not scope.customers:
        return false()
    conditions: list[ColumnElement[bool]] = []
    if scope.markets is not None:
        conditions.append(market.in_(sorted(scope.markets)))
    if scope.organizations is not None:
        conditions.append(organization.in_(sorted(scope.organizations)))
    return and_(true(), *conditions)


def holds(scope: Scope, market: str, organization: uuid.UUID | None) -> bool:
    """Whether the scope sees a row of ``market`` belonging to ``organization``, as
    :func:`rows_in` says of it in SQL."""
    if not scope.customers:
        return False
    if scope.markets is not None and market not in scope.markets:
        return False
    return scope.organizations is None or organization in scope.organizations


def sees(session: ZonedSession, scope: Scope, customer: Customer) -> bool:
    """Whether the scope sees ``customer``, asked of the database in the customer's zone."""
    if scope.everything:
        return True
    if not scope.customers or (scope.markets is not None and customer.market not in scope.markets):
        return False
    [statement] = scoped_customers(
        session,
        Scope(scope.user_id, scope.role, frozenset({customer.market}), scope.organizations),
        select(Customer).where(Customer.id == customer.id),
    )
    found = session.scalars(statement.with_only_columns(Customer.id)).first()
    return found is not None
