"""The inbox: every inbound provider message, stored once, so retries never duplicate; and
the signatures that leave the body out, so a replay cannot bring another body; and where
the polling of each polled account (a mailbox) stands."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import InboxStatus, ReplyStatus
from regiocrm.models.base import Model, utcnow
from regiocrm.models.personal import not_personal


class InboxMessage(Model):
    __data_class__ = DataClass.CRM
    __table_args__ = (
        UniqueConstraint("channel_account", "external_id"),
        Index(None, "channel_account", "sender_key", "received_at"),
    )

    channel: Mapped[str] = mapped_column(String(40), info=not_personal())
    channel_account: Mapped[str] = mapped_column(String(100), info=not_personal())
    external_id: Mapped[str] = mapped_column(String(200), doc="the provider's message id")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[str] = mapped_column(
        Text, doc="the message as its channel parsed it from the verified body, as JSON"
    )
    status: Mapped[InboxStatus] = mapped_column(default=InboxStatus.RECEIVED, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[uuid.UUID | None]
    interaction_id: Mapped[uuid.UUID | None]
    reply: Mapped[str | None] = mapped_column(
        Text, doc="the auto-reply, decided once, in the insert that stores the message"
    )
    reply_status: Mapped[ReplyStatus | None]
    reply_external_id: Mapped[str | None] = mapped_column(
        String(200), doc="the provider's id for the reply sent through its API"
    )
    replied_at: Mapped[datetime | None] = mapped_column(doc="when the reply went out")
    claimed_by: Mapped[str | None] = mapped_column(
        String(100), doc="the process (host:pid:random) whose lease holds the waiting message"
    )
    lease_until: Mapped[datetime | None] = mapped_column(
        doc="when the claim lapses unless renewed: another process may then take the message"
    )
    sender_key: Mapped[str | None] = mapped_column(
        String(64),
        doc="SHA-256 (hex) of the sender's normalised identity: auto-replies are counted per"
        " sender",
    )


class SeenSignature(Model):
    """A webhook signature that does not cover its request's body (WeChat's plaintext
    mode), remembered with a digest of the body it came with until it goes stale: the same
    signature may bring that body again (a redelivery), never another."""

    __data_class__ = DataClass.CRM
    __table_args__ = (UniqueConstraint("channel_account", "signature"),)

    channel_account: Mapped[str] = mapped_column(String(100), info=not_personal())
    signature: Mapped[str] = mapped_column(
        String(64), doc="SHA-256 (hex) of what identifies the signed request"
    )
    body_digest: Mapped[str] = mapped_column(String(64), doc="SHA-256 (hex) of the body")
    valid_until: Mapped[datetime] = mapped_column(index=True)


class PolledAccount(Model):
    """Where the polling of a channel account that regiocrm fetches from (an IMAP mailbox)
    stands: the channel's cursor, kept in the transaction that stores the messages fetched
    up to it, and whether the provider answers, for ``regiocrm inbox status`` and
    ``regiocrm rollout check`` (the worker that polls is another process)."""

    __data_class__ = DataClass.CRM
    __table_args__ = (UniqueConstraint("channel_account"),)

    channel_account: Mapped[str] = mapped_column(String(100), info=not_personal())
    cursor: Mapped[str | None] = mapped_column(
        String(200), doc="the channel's own position, e.g. UIDVALIDITY and last UID"
    )
    polled_at: Mapped[datetime | None] = mapped_column(doc="when a poll last succeeded")
    error: Mapped[str | None] = mapped_column(
        Text, doc="why the provider cannot be reached or refuses; None while it answers"
    )
    failing_since: Mapped[datetime | None] = mapped_column(doc="when the error began")
