"""Vehicles and who owns them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import ColumnElement

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.models.base import Model
from regiocrm.models.personal import not_personal, person_key


class Vehicle(Model):
    __data_class__ = DataClass.CRM

    vin: Mapped[str] = mapped_column(String(17), unique=True, info=person_key())
    make: Mapped[str | None] = mapped_column(String(60), info=not_personal())
    model: Mapped[str | None] = mapped_column(String(60), info=not_personal())
    model_year: Mapped[int | None]

    @classmethod
    def about_customers(
        cls, session: Session, customer_ids: Sequence[uuid.UUID]
    ) -> ColumnElement[bool] | None:
        """The vehicles the customers own or owned."""
        return cls.id.in_(vehicles_of(session, customer_ids))


class Ownership(Model):
    """A customer owning a vehicle, bought from a dealer.

    ``customer_id`` refers to identity data that may live in another zone, so it is a
    plain id resolved by the service layer, not a foreign key.
    """

    __data_class__ = DataClass.CRM
    __customer_column__ = "customer_id"
    __organization_column__ = "dealer_id"

    vehicle_id: Mapped[uuid.UUID] = mapped_column(index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    dealer_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    started_on: Mapped[date]
    ended_on: Mapped[date | None]


def vehicles_of(session: Session, customer_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Every vehicle these customers own or owned (read apart: ownerships and the rows about
    a vehicle may sit in different zones)."""
    return list(
        session.scalars(select(Ownership.vehicle_id).where(Ownership.customer_id.in_(customer_ids)))
    )
