"""Telematics events: what connected cars report. The fastest-growing table."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.models.base import DataClass, Model


class TelematicsEvent(Model):
    __data_class__ = DataClass.TELEMATICS
    __append_only__ = True
    __table_args__ = (Index(None, "vehicle_id", "occurred_at"),)

    vehicle_id: Mapped[uuid.UUID] = mapped_column(doc="crm data: resolved by id")
    kind: Mapped[str] = mapped_column(String(60), doc="e.g. service_due, crash, low_battery")
    occurred_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
