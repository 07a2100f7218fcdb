"""``/api/contracts``: sales, leases, financing and service plans (financial data)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from regiocrm.crm.contracts import ContractError, NewContract, UnknownContract
from regiocrm.crm.customers import UnknownCustomer
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep, CallerDep
from regiocrm.http.paging import PAGE_DEFAULT, Limit
from regiocrm.http.problems import problems
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.terms import ContractKind, ContractStatus
from regiocrm.services.contracts import ContractService

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


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 413, 422, 503),
)
def create_contract(body: ContractIn, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """Store a contract. A date range backwards is 400; an unknown customer or vehicle, a
    market no pack serves or an amount finer than its currency allows is 422."""
    if body.ends_on is not None and body.ends_on < body.starts_on:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail=f"ends_on {body.ends_on} is before starts_on {body.starts_on}:"
            " the date range is backwards",
        )
    try:
        contract = ContractService(app).create(caller, NewContract(**body.model_dump()))
    except (ContractError, UnknownCustomer, PackError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    return contract.as_json()


@router.get("", responses=problems(401, 403, 422, 503))
def list_contracts(
    caller: CallerDep,
    app: AppDep,
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
    found = ContractService(app).find(
        caller,
        customer_id=customer_id,
        status=status_,
        ending_within_days=ending_within_days,
        limit=limit,
    )
    return {"items": [contract.as_json() for contract in found]}


@router.get("/{contract_id}", responses=problems(401, 403, 404, 422, 503))
def get_contract(contract_id: uuid.UUID, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """One contract, if the caller sees it; one outside the scope is answered as unknown."""
    try:
        return ContractService(app).get(caller, contract_id).as_json()
    except UnknownContract as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
