"""What cross-border transfers rest on: approved transfer assessments, and the copies an
export leaves in its destination zone."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.models.base import Model, PlacedBy
from regiocrm.models.personal import not_personal


class TransferAssessment(Model):
    """An approved assessment of transferring one class of a market's data to a destination
    (a zone, or ``*`` for anywhere, files included): a CAC security assessment or standard
    contract for China, a PIPC certification for Korea. Kept in the home zone: it is the
    deployment's compliance record, not a customer's data."""

    __data_class__ = DataClass.AUDIT
    __placed_by__ = PlacedBy.HOME
    __table_args__ = (Index(None, "market", "data_class", "destination"),)

    data_class: Mapped[DataClass] = mapped_column(info=not_personal())
    destination: Mapped[str] = mapped_column(
        String(40), doc="a zone, or * for any destination", info=not_personal()
    )
    reference: Mapped[str] = mapped_column(doc="the authority's or the DPO's reference")
    approved_on: Mapped[date]
    expires_on: Mapped[date | None]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(doc="the user, or none for the CLI")


class CustomerExport(Model):
    """A customer's data as exported to another zone, kept there: the copy the transfer
    allowed. Placed by its ``destination``, which the export checked against the rules."""

    __data_class__ = DataClass.IDENTITY
    __placed_by__ = PlacedBy.DESTINATION
    __append_only__ = True

    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    destination: Mapped[str] = mapped_column(String(40), info=not_personal())
    exported_by: Mapped[uuid.UUID | None] = mapped_column(doc="the user, or none for the CLI")
    basis: Mapped[dict[str, Any]] = mapped_column(
        default=dict, doc="what made the transfer lawful: consents and assessments, per class"
    )
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)
