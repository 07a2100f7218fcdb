"""Audit events: who read or changed what, and every residency move."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.models.base import Model, utcnow
from regiocrm.models.personal import not_personal


class AuditEvent(Model):
    __data_class__ = DataClass.AUDIT
    __append_only__ = True
    __table_args__ = (Index(None, "subject_type", "subject_id"),)

    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(doc="the user, or none for the system")
    action: Mapped[str] = mapped_column(
        String(60), doc="e.g. customer.read, user.created", info=not_personal()
    )
    subject_type: Mapped[str] = mapped_column(String(60), info=not_personal())
    subject_id: Mapped[uuid.UUID | None]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
