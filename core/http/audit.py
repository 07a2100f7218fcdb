"""``/api/audit``: an organization's audit trail, for partner auditors and the region."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from regiocrm.crm.accounts import UnknownOrganization
from regiocrm.crm.audit import TrailFilter
from regiocrm.hookspecs import hookimpl
from regiocrm.http import paging
from regiocrm.http.deps import AppDep, CallerDep
from regiocrm.http.inputs import Moment
from regiocrm.http.problems import problems
from regiocrm.services.audit import AuditService, PeriodError

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", responses=problems(400, 401, 403, 404, 422, 503))
def read_trail(
    caller: CallerDep,
    app: AppDep,
    org: Annotated[uuid.UUID, Query(description="the organization whose users acted")],
    since: Annotated[Moment, Query(description="from (inclusive), ISO 8601")],
    until: Annotated[Moment | None, Query(description="to (exclusive)")] = None,
    action: Annotated[
        str | None, Query(max_length=100, description="only this action (customer.read)")
    ] = None,
    actor: Annotated[
        str | None, Query(max_length=200, description="only what this user (by name) did")
    ] = None,
    subject_type: Annotated[
        str | None, Query(max_length=100, description="only about this kind of subject")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: str | None = None,
) -> dict[str, Any]:
    """What the organization's users read and changed in the period, oldest first, a page
    at a time (``next`` is the next page's cursor), of one action, by one user or about one
    kind of subject when asked. Reading it is recorded in the trail. A partner auditor
    reads no customer data: personal values in the details are masked."""
    after = paging.decode_moment(cursor)
    only = TrailFilter(action=action, actor=actor, subject_type=subject_type)
    try:
        page = AuditService(app).read(
            caller, org, since, until, after=after, only=only, limit=limit
        )
    except PeriodError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except UnknownOrganization as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return {
        "items": [entry.as_dict() for entry in page.items],
        "next": None if page.next is None else paging.encode_moment(*page.next),
    }


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
