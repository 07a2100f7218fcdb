"""Conversations, as agents work through them: listed newest first, read, taken.

The timeline (:mod:`regiocrm.crm.timeline`) keeps each conversation up to date as messages
come and go; this module lists and changes them for a user. A conversation is seen by
whoever sees its customer (:mod:`regiocrm.crm.access`), and shows that customer's survivor
once their record was merged: the statements join each conversation with its customer
record and that record's survivor, in the zone keeping the market's customers with their
timeline.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, tuple_
from sqlalchemy.orm import aliased

from regiocrm.crm.access import Scope, scoped_in_zones
from regiocrm.models import Conversation, Customer
from regiocrm.models.base import utcnow
from regiocrm.platform.i18n import _
from regiocrm.platform.stores import ZonedSession

# A place in the inbox: a conversation's last message time and its id, newest first.
Position = tuple[datetime, uuid.UUID]


class ConversationError(Exception):
    """A conversation operation that cannot be done as asked; nothing was stored."""


class UnknownConversation(ConversationError):
    pass


@dataclass(frozen=True)
class Filters:
    """What an inbox listing narrows to; every condition given must hold.

    :param assignee_id: only conversations this user handles.
    :param unassigned: only conversations nobody handles.
    :param channel: only those on this channel (``wechat``, ``line``…).
    """

    unread_only: bool = False
    assignee_id: uuid.UUID | None = None
    unassigned: bool = False
    channel: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The SQL conditions.

        :raises ConversationError: for filters that exclude each other.
        """
        if self.assignee_id is not None and self.unassigned:
            raise ConversationError(
                _("a conversation is either assigned to someone or unassigned: ask for one")
            )
        conditions: list[ColumnElement[bool]] = []
        if self.unread_only:
            conditions.append(Conversation.unread > 0)
        if self.assignee_id is not None:
            conditions.append(Conversation.assignee_id == self.assignee_id)
        if self.unassigned:
            conditions.append(Conversation.assignee_id.is_(None))
        if self.channel is not None:
            conditions.append(Conversation.channel == self.channel)
        return conditions


@dataclass(frozen=True)
class Listed:
    """A conversation, and the customer it is with (the survivor of a merged record)."""

    conversation: Conversation
    customer: Customer


def _with_customers(*columns: Any) -> Select[Any]:
    """``columns`` over conversations joined with their customer's survivor, which is what
    :func:`regiocrm.crm.access.visible` applies the scope to (merges are flattened: one
    hop reaches the survivor)."""
    record = aliased(Customer)
    return (
        select(*columns)
        .select_from(Conversation)
        .join(record, record.id == Conversation.customer_id)
        .join(Customer, Customer.id == func.coalesce(record.merged_into_id, record.id))
    )


class Conversations:
    """Conversations inside one session; the caller commits."""

    def __init__(self, session: ZonedSession) -> None:
        self.session = session

    def listing(
        self, scope: Scope, filters: Filters, *, after: Position | None, limit: int
    ) -> list[Listed]:
        """The first ``limit`` conversations the scope sees, newest message first, after
        the position ``after``.

        :raises regiocrm.crm.access.Forbidden: for a role that reads no customer data.
        :raises ConversationError: for filters that exclude each other.
        """
        query = (
            _with_customers(Conversation, Customer)
            .where(*filters.conditions())
            .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(Conversation.last_message_at, Conversation.id) < after)
        # One statement per zone, each newest first: merged here.
        found = [
            Listed(conversation, customer)
            for statement in scoped_in_zones(self.session, scope, query)
            for conversation, customer in self.session.execute(statement)
        ]
        found.sort(key=lambda row: _position(row.conversation), reverse=True)
        return found[:limit]

    def visible(self, conversation_id: uuid.UUID, scope: Scope) -> Listed:
        """One conversation the scope sees.

        :raises regiocrm.crm.access.Forbidden: for a role that reads no customer data.
        :raises UnknownConversation: for no such conversation, and alike for one outside
            the scope: the caller learns nothing of it.
        """
        query = _with_customers(Conversation, Customer).where(Conversation.id == conversation_id)
        for statement in scoped_in_zones(self.session, scope, query):
            row = self.session.execute(statement).first()
            if row is not None:
                return Listed(*row)
        raise UnknownConversation(_("no conversation {id}").format(id=conversation_id))

    def last_change(self, scope: Scope) -> datetime | None:
        """When a conversation the scope sees last changed (a message, a read, an
        assignment); ``None`` while it sees none. Cheap enough to poll.

        :raises regiocrm.crm.access.Forbidden: for a role that reads no customer data.
        """
        query = _with_customers(func.max(Conversation.updated))
        changes = [
            self.session.scalar(statement)
            for statement in scoped_in_zones(self.session, scope, query)
        ]
        return max((change for change in changes if change is not None), default=None)

    def mark_read(self, conversation: Conversation) -> None:
        """An agent read the conversation: nothing in it is unread from now on."""
        conversation.unread = 0
        conversation.read_at = utcnow()

    def assign(self, conversation: Conversation, user_id: uuid.UUID | None) -> None:
        """Hand the conversation to a user (``None``: to nobody)."""
        conversation.assignee_id = user_id


def _position(conversation: Conversation) -> Position:
    return conversation.last_message_at, conversation.id


def remaining(found: Sequence[Listed], limit: int) -> Position | None:
    """Where the next page starts when ``found`` holds one more than ``limit``; ``None``
    when the listing ends there."""
    return _position(found[limit - 1].conversation) if len(found) > limit else None
