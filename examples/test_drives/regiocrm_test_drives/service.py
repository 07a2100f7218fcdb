"""Booking and reading test drives, for a caller who sees the customer.

The service follows the core's: one transaction per call, the caller's scope applied, a
view returned (never the row). Who may see a test drive is who may see its customer: the
core's :class:`~regiocrm.services.customers.CustomerService` answers that, and audits the
read of the customer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from regiocrm.crm.access import Forbidden
from regiocrm.crm.customers import UnknownCustomer
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.customers import CustomerService
from regiocrm_test_drives.models import TestDrive


class UnknownTestDrive(LookupError):
    """No such test drive, or one whose customer the caller does not see."""


@dataclass(frozen=True)
class NewTestDrive:
    customer_id: uuid.UUID
    organization_id: uuid.UUID
    vehicle_model: str
    scheduled_at: datetime


@dataclass(frozen=True)
class TestDriveView:
    __test__ = False  # a view, not a test class, to pytest

    id: uuid.UUID
    market: str
    customer_id: uuid.UUID
    organization_id: uuid.UUID
    vehicle_model: str
    scheduled_at: datetime

    @classmethod
    def of(cls, drive: TestDrive) -> TestDriveView:
        return cls(
            drive.id,
            drive.market,
            drive.customer_id,
            drive.organization_id,
            drive.vehicle_model,
            drive.scheduled_at,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "market": self.market,
            "customer_id": str(self.customer_id),
            "organization_id": str(self.organization_id),
            "vehicle_model": self.vehicle_model,
            "scheduled_at": self.scheduled_at.isoformat(),
        }


class TestDriveService:
    __test__ = False  # a service, not a test class, to pytest

    def __init__(self, app: Application) -> None:
        self.app = app

    def book(self, caller: Caller, booking: NewTestDrive) -> TestDriveView:
        """Book a test drive for a customer the caller sees, at an organization they work
        for (any, for the brand's own staff); ``test_drive_booked`` is announced once it is
        committed.

        :raises Forbidden: for an organization a dealer's or wholesaler's staff does not
            work for.
        :raises UnknownCustomer: for a customer the caller does not see, or none.
        :raises ValueError: for a time without its timezone.
        """
        if booking.scheduled_at.tzinfo is None:
            raise ValueError("scheduled_at needs its timezone")
        organizations = caller.scope.organizations
        if organizations is not None and booking.organization_id not in organizations:
            raise Forbidden("test drives are booked at your own organization")
        customer = CustomerService(self.app).get(caller, booking.customer_id)
        with self.app.transaction() as session:
            drive = TestDrive(
                market=customer.market,
                customer_id=customer.id,
                organization_id=booking.organization_id,
                vehicle_model=booking.vehicle_model,
                scheduled_at=booking.scheduled_at.astimezone(UTC),
            )
            session.add(drive)
            session.flush()
            view = TestDriveView.of(drive)
        self.app.hooks.pm.hook.test_drive_booked(
            test_drive_id=view.id,
            customer_id=view.customer_id,
            organization_id=view.organization_id,
            market=view.market,
            scheduled_at=view.scheduled_at,
        )
        return view

    def get(self, caller: Caller, test_drive_id: uuid.UUID) -> TestDriveView:
        """One test drive, if the caller sees its customer.

        :raises UnknownTestDrive: for none, and alike for one whose customer the caller
            does not see: they learn nothing of it.
        """
        with self.app.transaction() as session:
            drive = session.get(TestDrive, test_drive_id)
            view = None if drive is None else TestDriveView.of(drive)
        if view is None:
            raise UnknownTestDrive(f"no test drive {test_drive_id}")
        try:
            CustomerService(self.app).get(caller, view.customer_id)
        except (UnknownCustomer, Forbidden):
            raise UnknownTestDrive(f"no test drive {test_drive_id}") from None
        return view
