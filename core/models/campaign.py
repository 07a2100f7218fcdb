"""Campaigns and their members."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import CampaignStatus, DeliveryStatus
from regiocrm.models.base import Model
from regiocrm.models.personal import not_personal


class Campaign(Model):
    __data_class__ = DataClass.CRM

    name: Mapped[str] = mapped_column(info=not_personal())
    status: Mapped[CampaignStatus] = mapped_column(default=CampaignStatus.DRAFT)
    organization_id: Mapped[uuid.UUID] = mapped_column(index=True, doc="directory: resolved by id")
    segment: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="the saved filter")
    channels: Mapped[list[str]] = mapped_column(
        default=list, doc="in order of preference", info=not_personal()
    )
    purpose: Mapped[str] = mapped_column(
        String(40),
        default="marketing",
        doc="the consent each member must have given",
        info=not_personal(),
    )
    messages: Mapped[dict[str, Any]] = mapped_column(
        default=dict, doc="the text by locale; {name} is the member's name"
    )
    planned_by: Mapped[uuid.UUID | None] = mapped_column(doc="the user, or none for the CLI")
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    launched_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    audience_size: Mapped[int | None] = mapped_column(
        doc="the members, once all are listed; none while a launch is listing them"
    )


class CampaignMember(Model):
    __data_class__ = DataClass.CRM
    __customer_column__ = "customer_id"
    __organization_column__ = "campaign_id"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id"),
        Index(None, "campaign_id", "status"),
    )

    campaign_id: Mapped[uuid.UUID]
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    channel: Mapped[str | None] = mapped_column(String(40), info=not_personal())
    status: Mapped[DeliveryStatus] = mapped_column(default=DeliveryStatus.PENDING)
    locale: Mapped[str | None] = mapped_column(String(35), info=not_personal())
    external_id: Mapped[str | None] = mapped_column(
        String(200), index=True, doc="the provider's id of the message sent"
    )
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    replied_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text, doc="why it was not sent")

    @classmethod
    def organizations(cls, session: Session) -> Mapping[Any, uuid.UUID]:
        """Each campaign to the organization that runs it: whose its members are."""
        return {
            campaign: organization
            for campaign, organization in session.execute(
                select(Campaign.id, Campaign.organization_id)
            )
        }
