"""Postal addresses, in parts: a customer's (personal data, placed with the customer) and an
organization's (the directory's, in the home zone)."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.models.base import Model, PlacedBy


class AddressParts:
    """The parts both tables keep, as :class:`regiocrm.Address` names them; already checked
    against Google's data for ``country`` and normalised (a region's key, an upper-cased
    city where the country writes it so)."""

    kind: Mapped[str] = mapped_column(String(20), doc="postal, billing, delivery…")
    country: Mapped[str] = mapped_column(String(2), doc="ISO 3166-1 alpha-2")
    region: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    district: Mapped[str | None] = mapped_column(String(100))
    street: Mapped[str | None] = mapped_column(String(200))
    building: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    sorting_code: Mapped[str | None] = mapped_column(String(20))
    recipient: Mapped[str | None] = mapped_column(String(200))


class PostalAddress(AddressParts, Model):
    """One of a customer's addresses. A customer may hold several of one kind: a merge
    keeps both records' addresses."""

    __tablename__ = "postal_addresses"
    __data_class__ = DataClass.IDENTITY
    __customer_column__ = "customer_id"

    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)


class OrganizationAddress(AddressParts, Model):
    """One of an organization's addresses (a dealer's showroom, its billing address)."""

    __tablename__ = "organization_addresses"
    __data_class__ = DataClass.CRM
    __placed_by__ = PlacedBy.HOME
    __table_args__ = (Index(None, "organization_id", "kind"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
