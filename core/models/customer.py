"""Customers: one record per person or company, however many channels they use."""

from __future__ import annotations

import uuid

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import CustomerKind
from regiocrm.models.base import Model
from regiocrm.models.personal import not_personal


class Customer(Model):
    """A customer; ``market`` is the home market. Names are kept as parts, never joined,
    because their order is the market's (family name first in CN, JP and KR)."""

    __data_class__ = DataClass.IDENTITY
    __customer_column__ = "id"

    kind: Mapped[CustomerKind] = mapped_column(default=CustomerKind.PERSON)
    family_name: Mapped[str | None] = mapped_column(String(100))
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name_phonetic: Mapped[str | None] = mapped_column(String(100))
    given_name_phonetic: Mapped[str | None] = mapped_column(String(100))
    company_name: Mapped[str | None]
    preferred_locale: Mapped[str | None] = mapped_column(
        String(35), doc="a Babel locale id", info=not_personal()
    )
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        index=True,
        doc="the survivor, once this record proved to be the same person; reads follow it",
    )
