"""Campaigns and their members."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.models.base import DataClass, Model


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    REPLIED = "replied"


class Campaign(Model):
    __data_class__ = DataClass.CRM

    name: Mapped[str]
    status: Mapped[CampaignStatus] = mapped_column(default=CampaignStatus.DRAFT)
    organization_id: Mapped[uuid.UUID] = mapped_column(index=True, doc="directory: resolved by id")
    segment: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="the saved filter")
    channels: Mapped[list[str]] = mapped_column(default=list, doc="in order of preference")
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]


class CampaignMember(Model):
    __data_class__ = DataClass.CRM
    __table_args__ = (UniqueConstraint("campaign_id", "customer_id"),)

    campaign_id: Mapped[uuid.UUID]
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    channel: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[DeliveryStatus] = mapped_column(default=DeliveryStatus.PENDING)
    sent_at: Mapped[datetime | None]
