"""``/api/test-drives``: book a test drive, read one; scoped like customers."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from regiocrm.crm.access import Forbidden
from regiocrm.crm.customers import UnknownCustomer
from regiocrm.http.deps import AppDep, CallerDep
from regiocrm_test_drives.service import (
    NewTestDrive,
    TestDriveService,
    UnknownTestDrive,
)

router = APIRouter(prefix="/api/test-drives", tags=["test drives"])


class TestDriveIn(BaseModel):
    __test__ = False  # a request body, not a test class, to pytest

    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID
    organization_id: uuid.UUID
    vehicle_model: str = Field(min_length=1, max_length=60, examples=["Tourer"])
    scheduled_at: AwareDatetime


@router.post("", status_code=status.HTTP_201_CREATED)
def book(body: TestDriveIn, app: AppDep, caller: CallerDep) -> dict[str, Any]:
    """Book a test drive for a customer you see, at your organization; answers its id."""
    booking = NewTestDrive(
        body.customer_id, body.organization_id, body.vehicle_model, body.scheduled_at
    )
    try:
        drive = TestDriveService(app).book(caller, booking)
    except UnknownCustomer:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer {body.customer_id}") from None
    except Forbidden as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    return {"id": str(drive.id)}


@router.get("/{test_drive_id}")
def read(test_drive_id: uuid.UUID, app: AppDep, caller: CallerDep) -> dict[str, Any]:
    """One test drive, if you see its customer."""
    try:
        return TestDriveService(app).get(caller, test_drive_id).as_json()
    except UnknownTestDrive as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
