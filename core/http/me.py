"""``/api/me``: who the bearer token belongs to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import CurrentUser, DbSession
from regiocrm.http.problems import problems
from regiocrm.models import Organization

router = APIRouter(prefix="/api", tags=["account"])


@router.get("/me", responses=problems(401, 422, 503))
def me(user: CurrentUser, session: DbSession) -> dict[str, Any]:
    """The calling user and their organization."""
    organization = session.get_one(Organization, user.organization_id)
    return {
        "id": str(user.id),
        "name": user.name,
        "role": user.role.value,
        "organization": {
            "id": str(organization.id),
            "name": organization.name,
            "kind": organization.kind.value,
            "market": organization.market,
            "subdivision": organization.subdivision,
        },
    }


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
