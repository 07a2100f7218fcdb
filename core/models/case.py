"""Cases: complaints and service requests with their service-level clocks."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import CaseStatus, Priority
from regiocrm.models.base import Model
from regiocrm.models.personal import not_personal


class Case(Model):
    __data_class__ = DataClass.CRM
    __customer_column__ = "customer_id"
    __organization_column__ = "organization_id"
    __table_args__ = (Index(None, "status", "due_at"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[CaseStatus] = mapped_column(default=CaseStatus.NEW)
    priority: Mapped[Priority] = mapped_column(default=Priority.NORMAL)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    service: Mapped[str] = mapped_column(
        String(20),
        default="office",
        doc="whose clock runs: office, or call_centre (24x7)",
        info=not_personal(),
    )
    opened_at: Mapped[datetime]
    response_due_at: Mapped[datetime | None] = mapped_column(doc="first answer due")
    responded_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None] = mapped_column(doc="resolution due")
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(
        default=0, doc="0 on time; 1 the first answer is late; 2 the resolution is late"
    )
    escalated_at: Mapped[datetime | None]
