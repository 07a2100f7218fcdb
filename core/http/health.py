"""``/healthz``: is every zone reachable and migrated to head?"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep
from regiocrm.http.problems import problems
from regiocrm.services.zones import ZoneService

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses={
        503: {
            "description": "A zone is unreachable or not migrated to the heads; the same"
            " report says which.",
            "model": dict[str, Any],
        },
        **problems(422),
    },
)
def healthz(app: AppDep, response: Response) -> dict[str, Any]:
    """200 when every zone is reachable and at the migration heads, 503 otherwise.

    Database URLs and driver errors are left out: this endpoint needs no token.
    """
    states = ZoneService(app).states()
    healthy = all(state.migrated for state in states)
    if not healthy:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {
        "status": "ok" if healthy else "unavailable",
        "zones": {
            state.zone: {
                "reachable": state.reachable,
                "migrated": state.migrated,
                "revisions": list(state.revisions),
                "heads": list(state.heads),
            }
            for state in states
        },
    }


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
