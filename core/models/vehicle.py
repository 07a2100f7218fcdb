"""Vehicles and who owns them."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.models.base import DataClass, Model


class Vehicle(Model):
    __data_class__ = DataClass.CRM

    vin: Mapped[str] = mapped_column(String(17), unique=True)
    make: Mapped[str | None] = mapped_column(String(60))
    model: Mapped[str | None] = mapped_column(String(60))
    model_year: Mapped[int | None]


class Ownership(Model):
    """A customer owning a vehicle, bought from a dealer.

    ``customer_id`` refers to identity data that may live in another zone, so it is a
    plain id resolved by the service layer, not a foreign key.
    """

    __data_class__ = DataClass.CRM

    vehicle_id: Mapped[uuid.UUID] = mapped_column(index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    dealer_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    started_on: Mapped[date]
    ended_on: Mapped[date | None]
