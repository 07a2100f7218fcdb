"""Organizations: the OEM, its wholesalers (importers), dealers, call centres and partners."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import LicenceTier, OrganizationKind
from regiocrm.models.base import Model, PlacedBy
from regiocrm.models.personal import not_personal


class Organization(Model):
    __data_class__ = DataClass.CRM
    __placed_by__ = PlacedBy.HOME

    name: Mapped[str] = mapped_column(unique=True, info=not_personal())
    kind: Mapped[OrganizationKind]
    licence_tier: Mapped[LicenceTier]
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    subdivision: Mapped[str | None] = mapped_column(
        String(3),
        doc="its ISO 3166-2 subdivision's code suffix (NSW for AU-NSW): its clocks keep the"
        " subdivision's public holidays",
        info=not_personal(),
    )
    address: Mapped[str | None] = mapped_column(Text, doc="as the market writes it")
    latitude: Mapped[float | None] = mapped_column(doc="WGS-84, geocoded or given")
    longitude: Mapped[float | None] = mapped_column(doc="WGS-84, geocoded or given")

    parent: Mapped[Organization | None] = relationship(remote_side="Organization.id", lazy="raise")
