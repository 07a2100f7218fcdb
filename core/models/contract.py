"""Contracts: sales, leases, financing and service plans (financial data)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import ContractKind, ContractStatus
from regiocrm.models.base import Model
from regiocrm.models.personal import not_personal


class Contract(Model):
    """A contract. Customer and vehicle are other data classes, so both are plain ids."""

    __data_class__ = DataClass.FINANCIAL
    __customer_column__ = "customer_id"
    __organization_column__ = "organization_id"

    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    vehicle_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        doc="the dealer or financier: crm data"
    )
    kind: Mapped[ContractKind]
    status: Mapped[ContractStatus] = mapped_column(default=ContractStatus.DRAFT)
    reference: Mapped[str | None] = mapped_column(String(64))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None] = mapped_column(index=True)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3), info=not_personal())
