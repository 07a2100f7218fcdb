"""Users of a deployment (agents, dealer staff, competence centres) and their API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import UserRole
from regiocrm.models.base import Model, PlacedBy
from regiocrm.models.organization import Organization


class User(Model):
    __data_class__ = DataClass.CRM
    __placed_by__ = PlacedBy.HOME

    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[UserRole]
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)

    organization: Mapped[Organization] = relationship(lazy="raise")


class ApiToken(Model):
    """A bearer token, kept only as its SHA-256 digest: the token itself is shown once."""

    __data_class__ = DataClass.CRM
    __placed_by__ = PlacedBy.HOME

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="cli")
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="raise")
