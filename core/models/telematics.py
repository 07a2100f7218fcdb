"""Telematics events: what connected cars report. The fastest-growing table.

Raw events are kept for the retention period of their market's pack (or the deployment's
``[telematics] retention_days``), then rolled up into one :class:`TelematicsDay` per
vehicle, day and kind, and deleted. What a rule made of an event (a lead for the servicing
dealer, a case for a warning lamp) is a :class:`TelematicsAlert`, so a vehicle gets no
second open one for the same reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import ColumnElement

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.models.base import Model
from regiocrm.models.vehicle import Ownership, vehicles_of


class _AboutVehicles(Model):
    """Rows about a vehicle (``vehicle_id``): the customers' through their ownerships, and
    the dealer's that sold the vehicle."""

    __abstract__ = True
    __organization_column__ = "vehicle_id"

    vehicle_id: Mapped[uuid.UUID] = mapped_column(doc="crm data: resolved by id")

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


class TelematicsEvent(_AboutVehicles):
    __data_class__ = DataClass.TELEMATICS
    # Kept as reported; only the retention rollup deletes them, once summed by day.
    __append_only__ = True
    # A vehicle's events all live in its market's zone, so the key a redelivery is refused
    # by holds within one zone; rows from before providers' ids (none) never collide.
    __table_args__ = (
        Index(None, "vehicle_id", "occurred_at"),
        UniqueConstraint("vehicle_id", "event_id"),
        Index(None, "occurred_at"),
    )

    event_id: Mapped[str | None] = mapped_column(
        String(128), doc="the provider's id of the event: with the vehicle, what makes it one"
    )
    kind: Mapped[str] = mapped_column(String(60), doc="e.g. service_due, crash, low_battery")
    occurred_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TelematicsDay(_AboutVehicles):
    """One vehicle's events of one kind on one day (in its market's time zone), summed once
    they are past their retention."""

    __data_class__ = DataClass.TELEMATICS
    __table_args__ = (UniqueConstraint("vehicle_id", "day", "kind"),)

    day: Mapped[date]
    kind: Mapped[str] = mapped_column(String(60))
    events: Mapped[int] = mapped_column(doc="how many raw events were summed")
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    min_odometer_km: Mapped[float | None]
    max_odometer_km: Mapped[float | None]


class TelematicsAlert(Model):
    """What a rule made of a vehicle's event: the lead or the case, and why (``reason``,
    e.g. ``service_due`` or ``warning_lamp:engine``)."""

    __data_class__ = DataClass.CRM
    __customer_column__ = "customer_id"
    __organization_column__ = "dealer_id"
    __append_only__ = True
    __table_args__ = (Index(None, "vehicle_id", "reason"),)

    vehicle_id: Mapped[uuid.UUID]
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    dealer_id: Mapped[uuid.UUID | None]
    reason: Mapped[str] = mapped_column(String(80))
    event_id: Mapped[str] = mapped_column(String(128), doc="the provider's id of the event")
    lead_id: Mapped[uuid.UUID | None]
    case_id: Mapped[uuid.UUID | None]
