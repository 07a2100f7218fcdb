"""Conversations: a customer's messages on one channel account, as an agent's inbox lists
them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import Direction
from regiocrm.models.base import Model
from regiocrm.models.personal import not_personal

# How much of the last message the inbox shows.
SUMMARY_LENGTH = 200


class Conversation(Model):
    """One customer on one channel account (the touchpoint): where their thread stands.

    The timeline (:mod:`regiocrm.crm.timeline`) keeps it up as messages come and go, in
    the transaction that writes each message; an agent reads it and takes it. It lives
    with its customer's timeline entries (same data class), and names the customer the
    messages were written for: after a merge, that record's survivor.
    """

    __data_class__ = DataClass.CRM
    __customer_column__ = "customer_id"
    __table_args__ = (
        UniqueConstraint("customer_id", "channel", "touchpoint"),
        # The inbox lists newest first.
        Index(None, "last_message_at", "id"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(doc="identity data: resolved by id")
    channel: Mapped[str] = mapped_column(String(40), info=not_personal())
    touchpoint: Mapped[str] = mapped_column(
        String(40), doc="the channel account", info=not_personal()
    )
    last_message_at: Mapped[datetime]
    last_direction: Mapped[Direction]
    last_summary: Mapped[str | None] = mapped_column(String(SUMMARY_LENGTH))
    unread: Mapped[int] = mapped_column(
        default=0, doc="inbound messages since an agent last read it"
    )
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(index=True, doc="the user handling it")
    read_at: Mapped[datetime | None] = mapped_column(doc="when an agent last read it")
