"""``/api/customers/{id}/exports``: a customer's data across a border, as the rules allow."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from regiocrm.crm.customers import UnknownCustomer
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep, CallerDep
from regiocrm.http.problems import ProblemException, problems
from regiocrm.residency.exports import FILE, ExportError, ExportRefused
from regiocrm.services.exports import ExportService

router = APIRouter(prefix="/api/customers", tags=["customers"])

DOWNLOAD = "download"


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,31}$",
        examples=["jp", DOWNLOAD],
        description="a configured zone (the document is kept there), or 'download' for the"
        " document in the answer (it leaves the deployment, as a file does)",
    )


@router.post(
    "/{customer_id}/exports",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 404, 413, 422, 503),
)
def export(
    customer_id: uuid.UUID, body: ExportIn, caller: CallerDep, app: AppDep
) -> dict[str, Any]:
    """Export everything held about a customer to a zone, or as a download.

    403 when the caller may not export (admins and competence centres may) or when the
    rules do not allow it, with every missing consent and assessment in ``missing``;
    both the export and a refusal are audited.
    """
    destination = FILE if body.to == DOWNLOAD else body.to
    try:
        exported = ExportService(app).export(caller, customer_id, destination)
    except ExportRefused as exc:
        raise ProblemException(
            status.HTTP_403_FORBIDDEN, str(exc), missing=list(exc.missing)
        ) from None
    except UnknownCustomer as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except ExportError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    answer = exported.as_dict()
    if destination == FILE:
        answer["document"] = exported.document
    return answer


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
