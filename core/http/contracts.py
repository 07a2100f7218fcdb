"""``/api/contracts``: sales, leases, financing and service plans (financial data)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from regiocrm.crm.access import holds, rows_in
from regiocrm.crm.contracts import ContractError, Contracts, NewContract, UnknownContract
from regiocrm.crm.customers import Customers, UnknownCustomer
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import CurrentUser, DbSession, Svc, Viewer
from regiocrm.http.paging import PAGE_DEFAULT, Limit
from regiocrm.http.problems import problems
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.terms import ContractKind, ContractStatus
from regiocrm.models import Contract

router = APIRouter(prefix="/api/contracts", tags=["contracts"])


class ContractIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID
    market: str = Field(pattern=r"^[A-Z]{2}$", examples=["CN"])
    kind: ContractKind
    status: ContractStatus = ContractStatus.DRAFT
    starts_on: date
    ends_on: date | None = None
    vehicle_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    reference: str | None = Field(default=None, max_length=64)
    amount: Decimal | None = Field(default=None, ge=0, max_digits=14)
    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="default: the market's currency"
    )


def as_json(contract: Contract) -> dict[str, Any]:
    return {
        "id": str(contract.id),
        "customer_id": str(contract.customer_id),
        "vehicle_id": None if contract.vehicle_id is None else str(contract.vehicle_id),
        "organization_id": (
            None if contract.organization_id is None else str(contract.organization_id)
        ),
        "market": contract.market,
        "kind": contract.kind.value,
        "status": contract.status.value,
        "reference": contract.reference,
        "starts_on": contract.starts_on.isoformat(),
        "ends_on": None if contract.ends_on is None else contract.ends_on.isoformat(),
        "amount": None if contract.amount is None else str(contract.amount),
        "currency": contract.currency,
    }


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 413, 422, 503),
)
def create_contract(
    body: ContractIn, user: CurrentUser, scope: Viewer, session: DbSession, svc: Svc
) -> dict[str, Any]:
    """Store a contract. A date range backwards is 400; an unknown customer or vehicle, a
    market no pack serves or an amount finer than its currency allows is 422."""
    if body.ends_on is not None and body.ends_on < body.starts_on:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail=f"ends_on {body.ends_on} is before starts_on {body.starts_on}:"
            " the date range is backwards",
        )
    values = body.model_dump()
    if scope.organizations is not None and body.organization_id is None:
        values["organization_id"] = user.organization_id
    try:
        Customers(session, svc.hooks).visible(body.customer_id, scope)
        contract = Contracts(session, svc.hooks).create(NewContract(**values), actor_id=user.id)
    except (ContractError, UnknownCustomer, PackError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    return as_json(contract)


@router.get("", responses=problems(401, 403, 422, 503))
def list_contracts(
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    svc: Svc,
    customer_id: uuid.UUID | None = None,
    status_: Annotated[ContractStatus | None, Query(alias="status")] = None,
    ending_within_days: Annotated[
        int | None,
        Query(ge=0, le=3660, description="active contracts ending from today to this many days"),
    ] = None,
    limit: Limit = PAGE_DEFAULT,
) -> dict[str, Any]:
    """Contracts, those ending soonest first (of a customer and the records merged into
    them when ``customer_id`` is given)."""
    merged = None
    if customer_id is not None:
        merged = Customers(session, svc.hooks).merge_set(customer_id)
    scope.require_customers()
    found = Contracts(session, svc.hooks).listing(
        actor_id=user.id,
        within=rows_in(scope, Contract.market, Contract.organization_id),
        customer_ids=merged,
        status=status_,
        ending_within_days=ending_within_days,
        limit=limit,
    )
    return {"items": [as_json(contract) for contract in found]}


@router.get("/{contract_id}", responses=problems(401, 403, 404, 422, 503))
def get_contract(
    contract_id: uuid.UUID, user: CurrentUser, scope: Viewer, session: DbSession, svc: Svc
) -> dict[str, Any]:
    """One contract, if the caller sees it; one outside the scope is answered as unknown."""
    scope.require_customers()
    try:
        contract = Contracts(session, svc.hooks).read(
            contract_id, actor_id=user.id, within=partial(holds, scope)
        )
    except UnknownContract as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    return as_json(contract)


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
