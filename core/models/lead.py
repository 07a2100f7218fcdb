"""Leads: a prospective sale, routed to a dealer and followed up to conversion."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import LeadStatus
from regiocrm.models.base import Model
from regiocrm.models.personal import not_personal, personal


class Lead(Model):
    __data_class__ = DataClass.CRM
    __customer_column__ = "customer_id"
    __organization_column__ = "dealer_id"
    __table_args__ = (Index(None, "dealer_id", "status"),)

    customer_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    status: Mapped[LeadStatus] = mapped_column(default=LeadStatus.NEW)
    source: Mapped[str | None] = mapped_column(
        String(60), doc="a channel, a campaign, a web form", info=not_personal()
    )
    vehicle_model: Mapped[str | None] = mapped_column(String(60), info=not_personal())
    address: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(doc="WGS-84", info=personal())
    longitude: Mapped[float | None] = mapped_column(doc="WGS-84", info=personal())
    dealer_id: Mapped[uuid.UUID | None]
    distance_km: Mapped[float | None] = mapped_column(doc="from the lead to its dealer")
    located_by: Mapped[str | None] = mapped_column(
        String(40),
        doc="the map provider that placed the lead's address",
        info=not_personal(),
    )
    unassigned_reason: Mapped[str | None] = mapped_column(
        Text, doc="why no dealer could be chosen: the lead is kept, flagged for a person"
    )
    follow_up_due_at: Mapped[datetime | None] = mapped_column(
        index=True, doc="when the dealer's next step is due; none once won or lost"
    )
    lost_reason: Mapped[str | None] = mapped_column(Text)
    ownership_id: Mapped[uuid.UUID | None] = mapped_column(doc="the sale the lead became")
