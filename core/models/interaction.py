"""Interactions: the append-only customer timeline across channels, desks and the car."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import Direction
from regiocrm.models.base import Model, utcnow
from regiocrm.models.personal import not_personal


class Interaction(Model):
    """One entry on a customer's timeline: a WeChat message, a dealer visit, a call."""

    __data_class__ = DataClass.CRM
    __customer_column__ = "customer_id"
    __organization_column__ = "organization_id"
    __append_only__ = True
    __table_args__ = (Index(None, "customer_id", "occurred_at"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(doc="identity data: resolved by id")
    channel: Mapped[str] = mapped_column(String(40), info=not_personal())
    direction: Mapped[Direction]
    touchpoint: Mapped[str] = mapped_column(
        String(40),
        doc="where it happened: a channel account, a dealer, the call centre, the car",
        info=not_personal(),
    )
    text: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(String(500))
    external_id: Mapped[str | None] = mapped_column(String(200))
    failure: Mapped[str | None] = mapped_column(
        String(500),
        doc="why a message a user sent did not reach the customer (the provider's reason)",
    )
    occurred_at: Mapped[datetime]
    organization_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(index=True)

    @classmethod
    def step(
        cls,
        *,
        market: str,
        customer_id: uuid.UUID,
        channel: str,
        touchpoint: str,
        summary: str,
        organization_id: uuid.UUID | None,
        case_id: uuid.UUID | None = None,
    ) -> Interaction:
        """A step taken inside the CRM (a registration, a case or lead moving on), now, as
        the customer's timeline shows it."""
        return cls(
            market=market,
            customer_id=customer_id,
            channel=channel,
            direction=Direction.INTERNAL,
            touchpoint=touchpoint,
            summary=summary[:500],
            occurred_at=utcnow(),
            organization_id=organization_id,
            case_id=case_id,
        )
