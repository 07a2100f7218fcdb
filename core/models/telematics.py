"""Telematics events: what connected cars report. The fastest-growing table."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import ColumnElement

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.models.base import Model
from regiocrm.models.vehicle import Ownership, vehicles_of


class TelematicsEvent(Model):
    __data_class__ = DataClass.TELEMATICS
    __organization_column__ = "vehicle_id"
    __append_only__ = True
    # A vehicle's events all live in its market's zone, so the key a redelivery is refused
    # by holds within one zone; rows from before providers' ids (none) never collide.
    __table_args__ = (
        Index(None, "vehicle_id", "occurred_at"),
        UniqueConstraint("vehicle_id", "event_id"),
    )

    vehicle_id: Mapped[uuid.UUID] = mapped_column(doc="crm data: resolved by id")
    event_id: Mapped[str | None] = mapped_column(
        String(128), doc="the provider's id of the event: with the vehicle, what makes it one"
    )
    kind: Mapped[str] = mapped_column(String(60), doc="e.g. service_due, crash, low_battery")
    occurred_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)

    @classmethod
    def about_customers(
        cls, session: Session, customer_ids: Sequence[uuid.UUID]
    ) -> ColumnElement[bool] | None:
        """What the customers' vehicles reported."""
        return cls.vehicle_id.in_(vehicles_of(session, customer_ids))

    @classmethod
    def organizations(cls, session: Session) -> Mapping[Any, uuid.UUID]:
        """Each vehicle still owned, to the dealer that sold it: whose its telematics are."""
        return {
            vehicle: dealer
            for vehicle, dealer in session.execute(
                select(Ownership.vehicle_id, Ownership.dealer_id).where(
                    Ownership.ended_on.is_(None), Ownership.dealer_id.is_not(None)
                )
            )
            if dealer is not None
        }
