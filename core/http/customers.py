"""``/api/customers``: one customer, found by any identity, with one timeline.

Every read of a customer's personal data is written to the audit trail with the reader.
Asking for a customer that was merged answers with the survivor.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from regiocrm.crm import audit
from regiocrm.crm.access import Forbidden, Scope, scoped_customers, sees
from regiocrm.crm.customers import (
    CustomerError,
    Customers,
    IdentityTaken,
    MergeRefused,
    NewCustomer,
    UnknownCustomer,
)
from regiocrm.hookspecs import hookimpl
from regiocrm.http import paging
from regiocrm.http.deps import CurrentUser, DbSession, Svc, Viewer
from regiocrm.http.paging import PAGE_DEFAULT, Limit
from regiocrm.http.problems import problems
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.formats import PersonName
from regiocrm.interfaces.identities import InvalidIdentity
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.terms import ConsentAction, CustomerKind
from regiocrm.messaging.outbound import DeliveryError, Messaging, NoConsent, NoRoute
from regiocrm.models import Consent, Customer, Interaction
from regiocrm.platform.hooks import Hooks

router = APIRouter(prefix="/api/customers", tags=["customers"])

MARKET = r"^[A-Z]{2}$"
IDENTITY_KIND = r"^[a-z][a-z0-9_]{0,39}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IdentityIn(_In):
    kind: str = Field(pattern=IDENTITY_KIND, examples=["phone"])
    value: str = Field(min_length=1, max_length=320, examples=["+8613800138000"])


class ConsentIn(_In):
    purpose: str = Field(pattern=IDENTITY_KIND, examples=["service", "marketing"])
    channel: str = Field(default="*", pattern=r"^(\*|[a-z][a-z0-9_]{0,39})$")
    action: ConsentAction = ConsentAction.GRANT
    source: str | None = Field(default=None, max_length=200)


class CustomerIn(_In):
    market: str = Field(pattern=MARKET, examples=["CN"])
    kind: CustomerKind = CustomerKind.PERSON
    family_name: str | None = Field(default=None, max_length=100)
    given_name: str | None = Field(default=None, max_length=100)
    family_name_phonetic: str | None = Field(default=None, max_length=100)
    given_name_phonetic: str | None = Field(default=None, max_length=100)
    company_name: str | None = Field(default=None, max_length=200)
    preferred_locale: str | None = Field(default=None, max_length=35)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)
    consents: list[ConsentIn] = Field(default_factory=list, max_length=20)


class BindIn(IdentityIn):
    verified: bool = True


class MergeIn(_In):
    other_id: uuid.UUID
    reason: str = Field(min_length=3, max_length=500)


class MessageIn(_In):
    text: str = Field(min_length=1, max_length=4096)
    channel: str | None = Field(default=None, pattern=IDENTITY_KIND)
    purpose: str = Field(default="service", pattern=IDENTITY_KIND)


def _problem(code: int, detail: str) -> HTTPException:
    return HTTPException(code, detail=detail)


def _served(hooks: Hooks, market: str) -> None:
    try:
        hooks.packs().for_market(market)
    except PackError as exc:
        raise _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


def _customer(customers: Customers, customer_id: uuid.UUID, scope: Scope) -> Customer:
    """The customer (or its survivor), if the caller's scope sees it; one outside the scope
    is answered as one that does not exist."""
    try:
        return customers.visible(customer_id, scope)
    except UnknownCustomer as exc:
        raise _problem(status.HTTP_404_NOT_FOUND, str(exc)) from None


def _refused(session: Session, refusal: MergeRefused) -> HTTPException:
    """409 for a merge the caller may not make, naming no customer. Raising rolls the
    request's transaction back, so the refusal the service audited is committed first:
    nothing else was changed."""
    session.commit()
    return _problem(status.HTTP_409_CONFLICT, str(refusal))


def _as_json(customers: Customers, customer: Customer) -> dict[str, Any]:
    name = PersonName(
        customer.family_name,
        customer.given_name,
        customer.family_name_phonetic,
        customer.given_name_phonetic,
    )
    return {
        "id": str(customer.id),
        "market": customer.market,
        "kind": customer.kind.value,
        "display_name": customer.company_name
        or customers.hooks.format_name(name=name, market=customer.market)
        or None,
        "family_name": customer.family_name,
        "given_name": customer.given_name,
        "family_name_phonetic": customer.family_name_phonetic,
        "given_name_phonetic": customer.given_name_phonetic,
        "company_name": customer.company_name,
        "preferred_locale": customer.preferred_locale,
        "identities": [
            {"kind": i.kind, "value": i.value, "verified": i.verified}
            for i in customers.identities(customer.id)
        ],
        "merged_ids": [str(i) for i in customers.merge_set(customer.id)[1:]],
    }


def _read(session: Session, user: CurrentUser, customer: Customer, action: str) -> None:
    audit.record(
        session, actor_id=user.id, action=action, subject_type="customer", subject=customer
    )


def _add_consents(session: Session, customer: Customer, consents: list[ConsentIn]) -> None:
    for consent in consents:
        session.add(
            Consent(
                market=customer.market,
                customer_id=customer.id,
                purpose=consent.purpose,
                channel=consent.channel,
                action=consent.action,
                source=consent.source,
            )
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 409, 413, 422, 503),
)
def create_customer(
    body: CustomerIn, user: CurrentUser, scope: Viewer, session: DbSession, svc: Svc
) -> dict[str, Any]:
    """Create a customer with names, market, identities and consents (as a dealer enters
    one). An identity that already belongs to a customer is a conflict (409), naming that
    customer only to a caller who sees them. A dealer's or wholesaler's customer goes on
    the timeline as registered there, which links it to them."""
    scope.require_customers()
    _served(svc.hooks, body.market)
    if scope.markets is not None and body.market not in scope.markets:
        raise Forbidden(
            f"a {scope.role.value} registers customers of {', '.join(sorted(scope.markets))}"
            f" only, not of {body.market}"
        )
    customers = Customers(session, svc.hooks)
    details = NewCustomer(**body.model_dump(exclude={"identities", "consents"}))
    identities = [IdentityRef(i.kind, i.value) for i in body.identities]
    try:
        customer = customers.create(details, identities, actor_id=user.id, scope=scope)
    except InvalidIdentity as exc:
        raise _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except IdentityTaken as exc:
        raise _problem(status.HTTP_409_CONFLICT, str(exc)) from None
    _add_consents(session, customer, body.consents)
    if scope.organizations is not None:
        session.add(
            Interaction.step(
                market=customer.market,
                customer_id=customer.id,
                channel="crm",
                touchpoint="registration",
                summary="registered",
                organization_id=user.organization_id,
            )
        )
    session.flush()
    return _as_json(customers, customer)


def _first(session: Session, statements: Sequence[Any], limit: int) -> list[Customer]:
    """The first ``limit`` customers by id of what the statements (one per market, each
    ordered by id) find together."""
    found = [customer for statement in statements for customer in session.scalars(statement)]
    return sorted(found, key=lambda customer: customer.id)[:limit]


@router.get("", responses=problems(400, 401, 403, 422, 503))
def find_customers(
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    svc: Svc,
    identity: Annotated[
        str | None, Query(description="KIND:VALUE, e.g. phone:+8613800138000")
    ] = None,
    market: Annotated[
        str | None, Query(pattern=MARKET, description="where a phone number was written")
    ] = None,
    limit: Limit = PAGE_DEFAULT,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Customers, found by one identity (normalised in ``market``, default the
    deployment's), or all of them a page at a time."""
    scope.require_customers()
    customers = Customers(session, svc.hooks)
    if identity is not None:
        kind, separator, value = identity.partition(":")
        if not separator or not kind or not value:
            raise _problem(status.HTTP_400_BAD_REQUEST, "identity is KIND:VALUE")
        try:
            found = customers.find(
                IdentityRef(kind, value), market or svc.settings.deployment.market
            )
        except InvalidIdentity as exc:
            raise _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        page = [] if found is None or not sees(session, scope, found) else [found]
        next_cursor = None
    else:
        after = paging.decode(cursor)
        query = select(Customer).where(Customer.merged_into_id.is_(None)).order_by(Customer.id)
        if after is not None:
            try:
                query = query.where(Customer.id > uuid.UUID(after))
            except ValueError:
                raise _problem(status.HTTP_400_BAD_REQUEST, paging.NOT_A_CURSOR) from None
        page = _first(session, scoped_customers(session, scope, query.limit(limit + 1)), limit + 1)
        next_cursor = paging.encode(str(page[limit - 1].id)) if len(page) > limit else None
        page = page[:limit]
    for customer in page:
        _read(session, user, customer, "customer.read")
    return {"items": [_as_json(customers, c) for c in page], "next": next_cursor}


@router.get("/{customer_id}", responses=problems(401, 403, 404, 422, 503))
def get_customer(
    customer_id: uuid.UUID, user: CurrentUser, scope: Viewer, session: DbSession, svc: Svc
) -> dict[str, Any]:
    """One customer (or the survivor it was merged into) with every identity."""
    customers = Customers(session, svc.hooks)
    customer = _customer(customers, customer_id, scope)
    _read(session, user, customer, "customer.read")
    return _as_json(customers, customer)


@router.get("/{customer_id}/timeline", responses=problems(400, 401, 403, 404, 422, 503))
def timeline(
    customer_id: uuid.UUID,
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    svc: Svc,
    limit: Limit = PAGE_DEFAULT,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Every interaction of the customer and of the records merged into it, oldest first."""
    customers = Customers(session, svc.hooks)
    customer = _customer(customers, customer_id, scope)
    query = (
        select(Interaction)
        .where(Interaction.customer_id.in_(customers.merge_set(customer.id)))
        .order_by(Interaction.occurred_at, Interaction.id)
    )
    position = paging.decode_moment(cursor)
    if position is not None:
        query = query.where(tuple_(Interaction.occurred_at, Interaction.id) > position)
    rows = list(session.scalars(query.limit(limit + 1)))
    last = rows[limit - 1] if len(rows) > limit else None
    _read(session, user, customer, "customer.timeline_read")
    return {
        "items": [
            {
                "id": str(row.id),
                "channel": row.channel,
                "direction": row.direction.value,
                "touchpoint": row.touchpoint,
                "occurred_at": row.occurred_at.isoformat(),
                "text": row.text,
                "summary": row.summary,
                "external_id": row.external_id,
            }
            for row in rows[:limit]
        ],
        "next": paging.encode_moment(last.occurred_at, last.id) if last else None,
    }


@router.post(
    "/{customer_id}/identities", responses=problems(400, 401, 403, 404, 409, 413, 422, 503)
)
def bind_identity(
    customer_id: uuid.UUID,
    body: BindIn,
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    svc: Svc,
) -> dict[str, Any]:
    """Bind an identity to a customer, as an agent confirms it; where it already belongs to
    another customer the two are merged, and the answer is the survivor. Both must be
    customers the caller sees: an identity of someone else's customer is 409, naming no
    one, and nothing is bound or merged."""
    customers = Customers(session, svc.hooks)
    try:
        resolution = customers.bind(
            customer_id,
            IdentityRef(body.kind, body.value),
            actor_id=user.id,
            scope=scope,
            verified=body.verified,
        )
    except UnknownCustomer as exc:
        raise _problem(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except InvalidIdentity as exc:
        raise _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except MergeRefused as exc:
        raise _refused(session, exc) from None
    return _as_json(customers, customers.get(resolution.customer_id))


@router.post("/{customer_id}/merge", responses=problems(400, 401, 403, 404, 409, 413, 422, 503))
def merge_customers(
    customer_id: uuid.UUID,
    body: MergeIn,
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    svc: Svc,
) -> dict[str, Any]:
    """Merge ``other_id`` into this customer, which survives with every identity. An
    ``other_id`` the caller does not see, or that is no customer at all, is 409 naming no
    one; nothing is merged."""
    customers = Customers(session, svc.hooks)
    try:
        survivor = customers.merge(
            customer_id, body.other_id, reason=body.reason, actor_id=user.id, scope=scope
        )
    except UnknownCustomer as exc:
        raise _problem(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except MergeRefused as exc:
        raise _refused(session, exc) from None
    except CustomerError as exc:
        raise _problem(status.HTTP_409_CONFLICT, str(exc)) from None
    return _as_json(customers, survivor)


@router.post(
    "/{customer_id}/consents",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 404, 413, 422, 503),
)
def record_consent(
    customer_id: uuid.UUID,
    body: ConsentIn,
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    svc: Svc,
) -> dict[str, Any]:
    """Append a consent grant or withdrawal; the latest entry per purpose and channel holds."""
    customers = Customers(session, svc.hooks)
    customer = _customer(customers, customer_id, scope)
    _add_consents(session, customer, [body])
    audit.record(
        session,
        actor_id=user.id,
        action=f"consent.{body.action.value}",
        subject_type="customer",
        subject=customer,
        detail={"purpose": body.purpose, "channel": body.channel},
    )
    return {"customer_id": str(customer.id), **body.model_dump(mode="json")}


@router.post(
    "/{customer_id}/messages",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 404, 409, 413, 422, 502, 503),
)
def send_message(
    customer_id: uuid.UUID,
    body: MessageIn,
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    svc: Svc,
) -> dict[str, Any]:
    """Send a message on the chosen channel, or on the one the customer last wrote on.

    Refused (403) without the customer's consent for the purpose on that channel; 409 when
    no configured account can reach them; 502 when the provider refuses or keeps failing.
    """
    customers = Customers(session, svc.hooks)
    customer = _customer(customers, customer_id, scope)
    messaging = Messaging(session, svc.channels, svc.http_client)
    try:
        interaction = messaging.send(
            customer,
            customers.merge_set(customer.id),
            body.text,
            channel=body.channel,
            purpose=body.purpose,
            organization_id=user.organization_id,
        )
    except NoConsent as exc:
        raise _problem(status.HTTP_403_FORBIDDEN, str(exc)) from None
    except NoRoute as exc:
        raise _problem(status.HTTP_409_CONFLICT, str(exc)) from None
    except DeliveryError as exc:
        raise _problem(status.HTTP_502_BAD_GATEWAY, str(exc)) from None
    return {
        "id": str(interaction.id),
        "channel": interaction.channel,
        "touchpoint": interaction.touchpoint,
        "external_id": interaction.external_id,
        "occurred_at": interaction.occurred_at.isoformat(),
    }


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
