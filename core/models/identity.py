"""Identities: the ways a customer is recognised (phone, e-mail, WeChat OpenID, LINE id…)."""

from __future__ import annotations

import uuid

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.models.base import Model
from regiocrm.models.personal import not_personal


class Identity(Model):
    """One identity of a customer. ``kind`` is open (channel plugins add their own) and
    ``value`` is already normalised (E.164 phone, lower-cased e-mail), so that one value
    belongs to one customer only."""

    __data_class__ = DataClass.IDENTITY
    __customer_column__ = "customer_id"
    # (customer_id, kind) answers "can this channel reach them" from the index alone: what
    # a campaign asks of every customer in its segment.
    __table_args__ = (UniqueConstraint("kind", "value"), Index(None, "customer_id", "kind"))

    customer_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(40), info=not_personal())
    value: Mapped[str] = mapped_column(String(320))
    verified: Mapped[bool] = mapped_column(default=False)
