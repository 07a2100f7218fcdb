"""Users of a deployment (agents, dealer staff, competence centres), their API tokens and
their console sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import UserRole
from regiocrm.models.base import Model, PlacedBy
from regiocrm.models.organization import Organization
from regiocrm.models.personal import credential, not_personal


class User(Model):
    __data_class__ = DataClass.CRM
    __placed_by__ = PlacedBy.HOME

    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[UserRole]
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(
        String(255),
        doc="argon2id hash of their console password; none: they cannot sign in",
        info=credential(),
    )
    locale: Mapped[str | None] = mapped_column(
        String(35),
        doc="the console language they chose (a catalog's locale); none: the browser's",
        info=not_personal(),
    )

    organization: Mapped[Organization] = relationship(lazy="raise")


class ApiToken(Model):
    """A bearer token, kept only as its SHA-256 digest: the token itself is shown once."""

    __data_class__ = DataClass.CRM
    __placed_by__ = PlacedBy.HOME

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, info=credential())
    label: Mapped[str] = mapped_column(String(100), default="cli")
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="raise")


class ConsoleSession(Model):
    """A signed-in console session, kept only as the SHA-256 digests of its token and of its
    CSRF token: the tokens themselves live in the browser alone."""

    __data_class__ = DataClass.CRM
    __placed_by__ = PlacedBy.HOME

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, info=credential())
    csrf_hash: Mapped[str] = mapped_column(String(64), info=credential())
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    address: Mapped[str | None] = mapped_column(String(100), doc="the client's, at sign-in")

    user: Mapped[User] = relationship(lazy="raise")


class SignInFailure(Model):
    """A failed console sign-in, by the name tried and the client's address: what the limit
    on failed attempts counts (rows older than its window are removed)."""

    __data_class__ = DataClass.CRM
    __placed_by__ = PlacedBy.HOME

    name: Mapped[str] = mapped_column(String(100), index=True)
    address: Mapped[str] = mapped_column(String(100), index=True)
    failed_at: Mapped[datetime] = mapped_column(index=True)
