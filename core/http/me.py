"""``/api/me``: who the bearer token belongs to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep, CallerDep
from regiocrm.http.problems import problems
from regiocrm.services.directory import DirectoryService

router = APIRouter(prefix="/api", tags=["account"])


@router.get("/me", responses=problems(401, 422, 503))
def me(app: AppDep, caller: CallerDep) -> dict[str, Any]:
    """The calling user and their organization."""
    return DirectoryService(app).me(caller).as_json()


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
