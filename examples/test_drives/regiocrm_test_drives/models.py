"""The plugin's entity: a test drive a customer books at a dealer."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm import DataClass, Model


class TestDrive(Model):
    """A customer's test drive of a vehicle model at a dealer organization.

    CRM data, placed with the market's other CRM data; the customer's export carries it
    (``__customer_column__``) and it counts against the dealer's storage
    (``__organization_column__``).
    """

    __test__ = False  # a model, not a test class, to pytest
    __data_class__ = DataClass.CRM
    __customer_column__ = "customer_id"
    __organization_column__ = "organization_id"

    customer_id: Mapped[uuid.UUID] = mapped_column(index=True, doc="identity data: by id")
    organization_id: Mapped[uuid.UUID] = mapped_column(index=True, doc="directory: by id")
    vehicle_model: Mapped[str] = mapped_column(String(60))
    scheduled_at: Mapped[datetime]
