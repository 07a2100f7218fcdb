"""``/api/cases``: complaints and service requests, with due times on the market's clock."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from regiocrm.crm import audit
from regiocrm.crm.access import Scope, holds, rows_in
from regiocrm.crm.cases import CaseError, Cases, IllegalTransition, NewCase, UnknownCase
from regiocrm.crm.customers import Customers, UnknownCustomer
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import CurrentUser, DbSession, Svc, Viewer
from regiocrm.http.inputs import Moment
from regiocrm.http.paging import PAGE_DEFAULT, Limit, where_given
from regiocrm.http.problems import problems
from regiocrm.interfaces.calendars import Service
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.terms import CaseStatus, Priority
from regiocrm.models import Case

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


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 413, 422, 503),
)
def open_case(
    body: CaseIn, user: CurrentUser, scope: Viewer, session: DbSession, svc: Svc
) -> dict[str, Any]:
    """Open a case; ``due_at`` (resolution) and ``response_due_at`` (first answer) come from
    the pack's targets for the priority, on the market's business calendar. A dealer's or
    wholesaler's case is assigned to their organization unless it names one."""
    values = body.model_dump()
    if scope.organizations is not None and body.organization_id is None:
        values["organization_id"] = user.organization_id
    new = NewCase(**values)
    try:
        Customers(session, svc.hooks).visible(body.customer_id, scope)
        case = Cases(session, svc.hooks).open(new, actor_id=user.id)
    except (UnknownCustomer, PackError, CaseError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    return as_json(case)


@router.get("", responses=problems(401, 403, 422, 503))
def list_cases(
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
    org: Annotated[uuid.UUID | None, Query(description="the organization assigned")] = None,
    customer_id: uuid.UUID | None = None,
    limit: Limit = PAGE_DEFAULT,
) -> dict[str, Any]:
    """Cases the caller sees, the most urgent due first."""
    scope.require_customers()
    query = where_given(
        select(Case)
        .where(rows_in(scope, Case.market, Case.organization_id))
        .order_by(Case.due_at, Case.id)
        .limit(limit),
        {Case.status: status_, Case.organization_id: org, Case.customer_id: customer_id},
    )
    found = list(session.scalars(query))
    audit.record_reads(session, actor_id=user.id, subject_type="case", subjects=found)
    return {"items": [as_json(case) for case in found]}


def _case(cases: Cases, scope: Scope, case_id: uuid.UUID) -> Case:
    """The case, if the caller sees it: one outside the scope is answered as unknown."""
    scope.require_customers()
    try:
        case = cases.get(case_id)
    except UnknownCase as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    if not holds(scope, case.market, case.organization_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no case {case_id}")
    return case


@router.get("/{case_id}", responses=problems(401, 403, 404, 422, 503))
def get_case(
    case_id: uuid.UUID, user: CurrentUser, scope: Viewer, session: DbSession, svc: Svc
) -> dict[str, Any]:
    case = _case(Cases(session, svc.hooks), scope, case_id)
    audit.record_reads(session, actor_id=user.id, subject_type="case", subjects=[case])
    return as_json(case)


@router.post("/{case_id}/transition", responses=problems(400, 401, 403, 404, 413, 422, 503))
def transition(
    case_id: uuid.UUID,
    body: TransitionIn,
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    svc: Svc,
) -> dict[str, Any]:
    """Move a case on: 400 naming where it may go when it may not go there."""
    cases = Cases(session, svc.hooks)
    _case(cases, scope, case_id)
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
