"""Identities: the ways a customer is recognised (phone, e-mail, WeChat OpenID, LINE id…)."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from regiocrm.models.base import DataClass, Model
from regiocrm.models.customer import Customer


class Identity(Model):
    """One identity of a customer. ``kind`` is open (channel plugins add their own) and
    ``value`` is already normalised (E.164 phone, lower-cased e-mail), so that one value
    belongs to one customer only."""

    __data_class__ = DataClass.IDENTITY
    __table_args__ = (UniqueConstraint("kind", "value"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(320))
    verified: Mapped[bool] = mapped_column(default=False)

    customer: Mapped[Customer] = relationship(lazy="raise")
