"""Consent: an append-only ledger of grants and withdrawals per purpose and channel."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.models.base import DataClass, Model, utcnow


class ConsentAction(enum.StrEnum):
    GRANT = "grant"
    WITHDRAW = "withdraw"


class Consent(Model):
    """One grant or withdrawal; the latest entry per purpose and channel is in force."""

    __data_class__ = DataClass.IDENTITY
    __append_only__ = True
    # Covering: the consent in force (the latest entry, ties broken by id) is read from the
    # index alone, for one customer or a segment's million.
    __table_args__ = (
        Index(None, "customer_id", "purpose", "channel", "occurred_at", "id", "action"),
    )

    customer_id: Mapped[uuid.UUID]
    purpose: Mapped[str] = mapped_column(String(40), doc="e.g. marketing, service, export")
    channel: Mapped[str] = mapped_column(String(40), doc="a channel name, or * for every channel")
    action: Mapped[ConsentAction]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str | None] = mapped_column(doc="where it was given: a form, a dealer visit…")
