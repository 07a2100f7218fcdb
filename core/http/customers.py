"""``/api/customers``: one customer, found by any identity, with one timeline.

Every read of a customer's personal data is written to the audit trail with the reader.
Asking for a customer that was merged answers with the survivor.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from regiocrm.crm.addresses import NewAddress
from regiocrm.crm.customers import (
    CustomerError,
    IdentityTaken,
    MergeRefused,
    NewConsent,
    NewCustomer,
    UnknownCustomer,
)
from regiocrm.hookspecs import hookimpl
from regiocrm.http import paging
from regiocrm.http.deps import AppDep, CallerDep
from regiocrm.http.paging import PAGE_DEFAULT, Limit
from regiocrm.http.problems import problems
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.formats import Address, InvalidAddress
from regiocrm.interfaces.identities import InvalidIdentity
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.terms import ConsentAction, CustomerKind
from regiocrm.messaging.outbound import DeliveryError, NoConsent, NoRoute
from regiocrm.services.customers import CustomerService

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


class AddressIn(_In):
    """An address in parts; which parts a country uses is Google's address data (a JP
    address has no city: the ward opens the street)."""

    kind: str = Field(default="postal", pattern=IDENTITY_KIND, max_length=20)
    country: str | None = Field(
        default=None, pattern=MARKET, description="ISO 3166-1 alpha-2; default the market"
    )
    region: str | None = Field(default=None, max_length=100, examples=["東京都"])
    city: str | None = Field(default=None, max_length=100)
    district: str | None = Field(default=None, max_length=100)
    street: str | None = Field(default=None, max_length=200, examples=["千代田区丸の内1-9-1"])
    building: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, max_length=20, examples=["100-0005"])
    sorting_code: str | None = Field(default=None, max_length=20)
    recipient: str | None = Field(default=None, max_length=200)

    def new(self) -> NewAddress:
        return NewAddress(Address(**self.model_dump(exclude={"kind"})), self.kind)


class AddressesIn(_In):
    addresses: list[AddressIn] = Field(max_length=10)


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
    addresses: list[AddressIn] = Field(default_factory=list, max_length=10)


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


def _consent(body: ConsentIn) -> NewConsent:
    return NewConsent(**body.model_dump())


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 409, 413, 422, 503),
)
def create_customer(body: CustomerIn, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """Create a customer with names, market, identities, consents and addresses (as a
    dealer enters one). An identity that already belongs to a customer is a conflict (409),
    naming that customer only to a caller who sees them; an address its country's data
    refuses (an unknown region, a postal code of the wrong pattern) is 422 naming the part
    and why, and nothing is stored. A dealer's or wholesaler's customer goes on the
    timeline as registered there, which links it to them."""
    try:
        customer = CustomerService(app).create(
            caller,
            NewCustomer(**body.model_dump(exclude={"identities", "consents", "addresses"})),
            [IdentityRef(i.kind, i.value) for i in body.identities],
            [_consent(consent) for consent in body.consents],
            [address.new() for address in body.addresses],
        )
    except (PackError, InvalidIdentity, InvalidAddress) as exc:
        raise _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except IdentityTaken as exc:
        raise _problem(status.HTTP_409_CONFLICT, str(exc)) from None
    return customer.as_json()


@router.get("", responses=problems(400, 401, 403, 422, 503))
def find_customers(
    caller: CallerDep,
    app: AppDep,
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
    customers = CustomerService(app)
    if identity is not None:
        kind, separator, value = identity.partition(":")
        if not separator or not kind or not value:
            raise _problem(status.HTTP_400_BAD_REQUEST, "identity is KIND:VALUE")
        try:
            found = customers.find(caller, IdentityRef(kind, value), market)
        except InvalidIdentity as exc:
            raise _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        return {"items": [customer.as_json() for customer in found], "next": None}
    page = customers.page(caller, after=_after(cursor), limit=limit)
    return {
        "items": [customer.as_json() for customer in page.items],
        "next": None if page.next is None else paging.encode(str(page.next)),
    }


def _after(cursor: str | None) -> uuid.UUID | None:
    """The customer id a listing cursor goes on after; 400 for one this API did not give."""
    after = paging.decode(cursor)
    if after is None:
        return None
    try:
        return uuid.UUID(after)
    except ValueError:
        raise _problem(status.HTTP_400_BAD_REQUEST, paging.NOT_A_CURSOR) from None


@router.get("/{customer_id}", responses=problems(401, 403, 404, 422, 503))
def get_customer(customer_id: uuid.UUID, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """One customer (or the survivor it was merged into) with every identity."""
    try:
        return CustomerService(app).get(caller, customer_id).as_json()
    except UnknownCustomer as exc:
        raise _problem(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.get("/{customer_id}/timeline", responses=problems(400, 401, 403, 404, 422, 503))
def timeline(
    customer_id: uuid.UUID,
    caller: CallerDep,
    app: AppDep,
    limit: Limit = PAGE_DEFAULT,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Every interaction of the customer and of the records merged into it, oldest first."""
    after = paging.decode_moment(cursor)
    try:
        page = CustomerService(app).timeline(caller, customer_id, after=after, limit=limit)
    except UnknownCustomer as exc:
        raise _problem(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return {
        "items": [entry.as_json() for entry in page.items],
        "next": None if page.next is None else paging.encode_moment(*page.next),
    }


@router.put("/{customer_id}/addresses", responses=problems(400, 401, 403, 404, 413, 422, 503))
def replace_addresses(
    customer_id: uuid.UUID, body: AddressesIn, caller: CallerDep, app: AppDep
) -> dict[str, Any]:
    """Make these the customer's addresses, in place of those they had (an empty list
    removes them). An address its country's data refuses is 422 naming the part and why,
    and nothing is changed. The answer is the customer with their addresses, each also
    written as its country writes it (``formatted``) and in latin script
    (``formatted_latin``)."""
    try:
        customer = CustomerService(app).replace_addresses(
            caller, customer_id, [address.new() for address in body.addresses]
        )
    except UnknownCustomer as exc:
        raise _problem(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except InvalidAddress as exc:
        raise _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return customer.as_json()


@router.post(
    "/{customer_id}/identities", responses=problems(400, 401, 403, 404, 409, 413, 422, 503)
)
def bind_identity(
    customer_id: uuid.UUID, body: BindIn, caller: CallerDep, app: AppDep
) -> dict[str, Any]:
    """Bind an identity to a customer, as an agent confirms it; where it already belongs to
    another customer the two are merged, and the answer is the survivor. Both must be
    customers the caller sees: an identity of someone else's customer is 409, naming no
    one, and nothing is bound or merged."""
    try:
        customer = CustomerService(app).bind_identity(
            caller, customer_id, IdentityRef(body.kind, body.value), verified=body.verified
        )
    except UnknownCustomer as exc:
        raise _problem(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except InvalidIdentity as exc:
        raise _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except MergeRefused as exc:
        raise _problem(status.HTTP_409_CONFLICT, str(exc)) from None
    return customer.as_json()


@router.post("/{customer_id}/merge", responses=problems(400, 401, 403, 404, 409, 413, 422, 503))
def merge_customers(
    customer_id: uuid.UUID, body: MergeIn, caller: CallerDep, app: AppDep
) -> dict[str, Any]:
    """Merge ``other_id`` into this customer, which survives with every identity. An
    ``other_id`` the caller does not see, or that is no customer at all, is 409 naming no
    one; nothing is merged."""
    try:
        survivor = CustomerService(app).merge(
            caller, customer_id, body.other_id, reason=body.reason
        )
    except UnknownCustomer as exc:
        raise _problem(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except CustomerError as exc:
        # A refusal (MergeRefused) or two records that are one customer already.
        raise _problem(status.HTTP_409_CONFLICT, str(exc)) from None
    return survivor.as_json()


@router.post(
    "/{customer_id}/consents",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 404, 413, 422, 503),
)
def record_consent(
    customer_id: uuid.UUID, body: ConsentIn, caller: CallerDep, app: AppDep
) -> dict[str, Any]:
    """Append a consent grant or withdrawal; the latest entry per purpose and channel holds."""
    try:
        return CustomerService(app).record_consent(caller, customer_id, _consent(body)).as_json()
    except UnknownCustomer as exc:
        raise _problem(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.post(
    "/{customer_id}/messages",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 404, 409, 413, 422, 502, 503),
)
def send_message(
    customer_id: uuid.UUID, body: MessageIn, caller: CallerDep, app: AppDep
) -> dict[str, Any]:
    """Send a message on the chosen channel, or on the one the customer last wrote on.

    Refused (403) without the customer's consent for the purpose on that channel; 409 when
    no configured account can reach them; 502 when the provider refuses or keeps failing.
    """
    try:
        sent = CustomerService(app).send_message(
            caller, customer_id, body.text, channel=body.channel, purpose=body.purpose
        )
    except UnknownCustomer as exc:
        raise _problem(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except NoConsent as exc:
        raise _problem(status.HTTP_403_FORBIDDEN, str(exc)) from None
    except NoRoute as exc:
        raise _problem(status.HTTP_409_CONFLICT, str(exc)) from None
    except DeliveryError as exc:
        raise _problem(status.HTTP_502_BAD_GATEWAY, str(exc)) from None
    return sent.as_json()


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
