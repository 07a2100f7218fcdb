"""Identities: the ways a customer is recognised (phone, e-mail, WeChat OpenID, LINE id…)."""

from __future__ import annotations

import uuid

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.models.base import DataClass, Model


class Identity(Model):
    """One identity of a customer. ``kind`` is open (channel plugins add their own) and
    ``value`` is already normalised (E.164 phone, lower-cased e-mail), so that one value
    belongs to one customer only."""

    __data_class__ = DataClass.IDENTITY
    __table_args__ = (UniqueConstraint("kind", "value"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(320))
    verified: Mapped[bool] = mapped_column(default=False)
