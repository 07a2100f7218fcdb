"""``/api/audit``: an organization's audit trail, for partner auditors and the region."""

from __future__ import annotations

import uuid
from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from regiocrm.crm import audit
from regiocrm.hookspecs import hookimpl
from regiocrm.http import paging
from regiocrm.http.deps import CurrentUser, DbSession, Viewer
from regiocrm.http.inputs import Moment
from regiocrm.http.problems import problems
from regiocrm.interfaces.terms import UserRole
from regiocrm.models import Organization

router = APIRouter(prefix="/api/audit", tags=["audit"])

AUDIT_READERS = (UserRole.ADMIN, UserRole.COMPETENCE_CENTRE, UserRole.PARTNER_AUDITOR)


@router.get("", responses=problems(400, 401, 403, 404, 422, 503))
def read_trail(
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    org: Annotated[uuid.UUID, Query(description="the organization whose users acted")],
    since: Annotated[Moment, Query(description="from (inclusive), ISO 8601")],
    until: Annotated[Moment | None, Query(description="to (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: str | None = None,
) -> dict[str, Any]:
    """What the organization's users read and changed in the period, oldest first, a page
    at a time (``next`` is the next page's cursor). Reading it is recorded in the trail.
    A partner auditor reads no customer data: personal values in the details are masked."""
    scope.require(*AUDIT_READERS)
    if until is not None and until <= since:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"until {until.isoformat()} is not after since {since.isoformat()}:"
            " the date range is backwards",
        )
    organization = session.get(Organization, org)
    if organization is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no organization {org}")
    after = paging.decode_moment(cursor)
    trail = audit.trail(session, organization, since, until, after=after, personal=scope.customers)
    entries = list(islice(trail, limit + 1))
    audit.record(
        session,
        actor_id=user.id,
        action="audit.read",
        subject_type="organization",
        subject=organization,
        detail={"since": since.isoformat(), "until": until.isoformat() if until else ""},
    )
    last = entries[limit - 1] if len(entries) > limit else None
    return {
        "items": [entry.as_dict() for entry in entries[:limit]],
        "next": paging.encode_moment(last.occurred_at, last.id) if last else None,
    }


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
