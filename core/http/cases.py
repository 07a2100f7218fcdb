"""``/api/cases``: complaints and service requests, with due times on the market's clock."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from regiocrm.crm.cases import CaseError, IllegalTransition, NewCase, UnknownCase
from regiocrm.crm.customers import UnknownCustomer
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep, CallerDep
from regiocrm.http.inputs import Moment
from regiocrm.http.paging import PAGE_DEFAULT, Limit
from regiocrm.http.problems import problems
from regiocrm.interfaces.calendars import Service
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.terms import CaseStatus, Priority
from regiocrm.services.cases import CaseService

router = APIRouter(prefix="/api/cases", tags=["cases"])


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID
    market: str = Field(pattern=r"^[A-Z]{2}$", examples=["CN"])
    priority: Priority = Priority.NORMAL
    subject: str = Field(min_length=1, max_length=300)
    opened_at: Moment | None = Field(
        default=None, description="when it was opened, for a case imported from elsewhere"
    )
    service: Service = Field(
        default=Service.OFFICE, description="call_centre: the clock runs 24x7 where the pack says"
    )
    organization_id: uuid.UUID | None = None


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: CaseStatus
    organization_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 413, 422, 503),
)
def open_case(body: CaseIn, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """Open a case; ``due_at`` (resolution) and ``response_due_at`` (first answer) come from
    the pack's targets for the priority, on the market's business calendar. A dealer's or
    wholesaler's case is assigned to their organization unless it names one."""
    try:
        case = CaseService(app).open(caller, NewCase(**body.model_dump()))
    except (UnknownCustomer, PackError, CaseError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    return case.as_json()


@router.get("", responses=problems(401, 403, 422, 503))
def list_cases(
    caller: CallerDep,
    app: AppDep,
    status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
    org: Annotated[uuid.UUID | None, Query(description="the organization assigned")] = None,
    customer_id: uuid.UUID | None = None,
    limit: Limit = PAGE_DEFAULT,
) -> dict[str, Any]:
    """Cases the caller sees, the most urgent due first."""
    found = CaseService(app).find(
        caller, status=status_, organization_id=org, customer_id=customer_id, limit=limit
    )
    return {"items": [case.as_json() for case in found]}


@router.get("/{case_id}", responses=problems(401, 403, 404, 422, 503))
def get_case(case_id: uuid.UUID, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    try:
        return CaseService(app).get(caller, case_id).as_json()
    except UnknownCase as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None


@router.post("/{case_id}/transition", responses=problems(400, 401, 403, 404, 413, 422, 503))
def transition(
    case_id: uuid.UUID, body: TransitionIn, caller: CallerDep, app: AppDep
) -> dict[str, Any]:
    """Move a case on: 400 naming where it may go when it may not go there."""
    try:
        case = CaseService(app).transition(
            caller,
            case_id,
            body.to,
            organization_id=body.organization_id,
            assignee_id=body.assignee_id,
        )
    except UnknownCase as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except IllegalTransition as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None
    return case.as_json()


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
