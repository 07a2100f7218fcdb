"""``/api/cases``: complaints and service requests, with due times on the market's clock."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from regiocrm.calendars import Service
from regiocrm.cases import CaseError, Cases, IllegalTransition, NewCase, UnknownCase
from regiocrm.customers import UnknownCustomer
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import CurrentUser, DbSession, Svc
from regiocrm.models import Case, CaseStatus, Priority
from regiocrm.packs import PackError

router = APIRouter(prefix="/api/cases", tags=["cases"])

PAGE_MAX = 200


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID
    market: str = Field(pattern=r"^[A-Z]{2}$", examples=["CN"])
    priority: Priority = Priority.NORMAL
    subject: str = Field(min_length=1, max_length=300)
    opened_at: AwareDatetime | None = Field(
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


def as_json(case: Case) -> dict[str, Any]:
    def moment(value: Any) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": str(case.id),
        "customer_id": str(case.customer_id),
        "market": case.market,
        "subject": case.subject,
        "status": case.status.value,
        "priority": case.priority.value,
        "service": case.service,
        "organization_id": None if case.organization_id is None else str(case.organization_id),
        "assignee_id": None if case.assignee_id is None else str(case.assignee_id),
        "opened_at": moment(case.opened_at),
        "response_due_at": moment(case.response_due_at),
        "responded_at": moment(case.responded_at),
        "due_at": moment(case.due_at),
        "resolved_at": moment(case.resolved_at),
        "closed_at": moment(case.closed_at),
        "escalation_level": case.escalation_level,
    }


@router.post("", status_code=status.HTTP_201_CREATED)
def open_case(body: CaseIn, user: CurrentUser, session: DbSession, svc: Svc) -> dict[str, Any]:
    """Open a case; ``due_at`` (resolution) and ``response_due_at`` (first answer) come from
    the pack's targets for the priority, on the market's business calendar."""
    new = NewCase(**body.model_dump())
    try:
        case = Cases(session, svc.hooks).open(new, actor_id=user.id)
    except (UnknownCustomer, PackError, CaseError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    return as_json(case)


@router.get("")
def list_cases(
    user: CurrentUser,
    session: DbSession,
    status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
    org: Annotated[uuid.UUID | None, Query(description="the organization assigned")] = None,
    customer_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
) -> dict[str, Any]:
    """Cases, the most urgent due first."""
    query = select(Case).order_by(Case.due_at, Case.id).limit(limit)
    if status_ is not None:
        query = query.where(Case.status == status_)
    if org is not None:
        query = query.where(Case.organization_id == org)
    if customer_id is not None:
        query = query.where(Case.customer_id == customer_id)
    return {"items": [as_json(case) for case in session.scalars(query)]}


@router.get("/{case_id}")
def get_case(case_id: uuid.UUID, user: CurrentUser, session: DbSession, svc: Svc) -> dict[str, Any]:
    try:
        return as_json(Cases(session, svc.hooks).get(case_id))
    except UnknownCase as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None


@router.post("/{case_id}/transition")
def transition(
    case_id: uuid.UUID, body: TransitionIn, user: CurrentUser, session: DbSession, svc: Svc
) -> dict[str, Any]:
    """Move a case on: 400 naming where it may go when it may not go there."""
    cases = Cases(session, svc.hooks)
    try:
        case = cases.transition(
            case_id,
            body.to,
            actor_id=user.id,
            organization_id=body.organization_id,
            assignee_id=body.assignee_id,
        )
    except UnknownCase as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except IllegalTransition as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None
    return as_json(case)


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
