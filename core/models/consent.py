"""Consent: an append-only ledger of grants and withdrawals per purpose and channel."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Select, String, select
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import ConsentAction
from regiocrm.models.base import Model, utcnow
from regiocrm.models.personal import not_personal


class Consent(Model):
    """One grant or withdrawal; the latest entry per purpose and channel is in force."""

    __data_class__ = DataClass.IDENTITY
    __customer_column__ = "customer_id"
    __append_only__ = True
    # Covering, in the order of time: the consent in force is the last entry of the
    # customer's purpose whose channel applies, read from the index alone by one short
    # backwards step, for one customer or for each of a segment's million.
    __table_args__ = (
        Index(None, "customer_id", "purpose", "occurred_at", "id", "channel", "action"),
    )

    customer_id: Mapped[uuid.UUID]
    purpose: Mapped[str] = mapped_column(
        String(40), doc="e.g. marketing, service, export", info=not_personal()
    )
    channel: Mapped[str] = mapped_column(
        String(40), doc="a channel name, or * for every channel", info=not_personal()
    )
    action: Mapped[ConsentAction]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str | None] = mapped_column(doc="where it was given: a form, a dealer visit…")

    @classmethod
    def latest(cls, purpose: str, channel: str, *columns: Any) -> Select[Any]:
        """``SELECT columns`` of the entry in force for ``purpose`` on ``channel``: the
        latest for the channel or for every channel (``*``), ties broken by id; the caller
        names whose entries."""
        return (
            select(*columns)
            .where(cls.purpose == purpose, cls.channel.in_([channel, "*"]))
            .order_by(cls.occurred_at.desc(), cls.id.desc())
            .limit(1)
        )
