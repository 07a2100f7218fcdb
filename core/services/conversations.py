"""Conversations for front ends: the agents' inbox across every channel, newest first,
read and taken by a caller who sees their customers.

A conversation is seen exactly by those who see its customer; one outside the caller's
scope is answered as one that does not exist. Listing conversations reads personal data
(the customer's name, their last words), so each one listed goes to the audit trail.
"""

from __future__ import annotations

import base64
import binascii
import enum
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select

from regiocrm.crm import audit
from regiocrm.crm.access import Forbidden, scope_of, sees
from regiocrm.crm.conversations import (
    ConversationError,
    Conversations,
    Filters,
    Listed,
    Position,
    remaining,
)
from regiocrm.crm.customers import Customers
from regiocrm.models import User
from regiocrm.platform.i18n import _
from regiocrm.platform.stores import ZonedSession
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller


class BadCursor(ConversationError):
    """A cursor this service did not give (altered, or from another listing)."""


class Assignee(enum.Enum):
    """Who :meth:`ConversationService.assign` hands a conversation to when it names no
    one: the caller, taking it."""

    CALLER = "caller"


@dataclass(frozen=True)
class ConversationView:
    """A conversation as the inbox shows it.

    :param customer_id: the customer (the survivor, for a record merged since).
    :param customer_name: their name as their market writes it, if they gave one.
    :param touchpoint: the channel account the messages go through.
    :param last_summary: the start of the last message, or what it was (an image, an event).
    :param unread: inbound messages since an agent last read it.
    """

    id: uuid.UUID
    customer_id: uuid.UUID
    customer_name: str | None
    market: str
    channel: str
    touchpoint: str
    last_message_at: datetime
    last_direction: str
    last_summary: str | None
    unread: int
    assignee_id: uuid.UUID | None
    assignee_name: str | None
    read_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        """Ids and moments as strings."""
        return {field.name: _json(getattr(self, field.name)) for field in fields(self)}


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class ConversationPage:
    """Conversations newest first, and the cursor the next page starts from (``None``: the
    last page)."""

    items: list[ConversationView]
    next: str | None


class ConversationService:
    """What a caller may do with conversations; each method one transaction, committed
    before it returns.

    Every method raises :class:`~regiocrm.crm.access.Forbidden` for a role that reads no
    customer data, and those naming a conversation raise
    :class:`~regiocrm.crm.conversations.UnknownConversation` for no such conversation,
    and alike for one the caller does not see.
    """

    def __init__(self, app: Application) -> None:
        self.app = app

    def inbox(
        self,
        caller: Caller,
        *,
        unread_only: bool = False,
        mine: bool = False,
        unassigned: bool = False,
        channel: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> ConversationPage:
        """The conversations the caller sees, the newest message first, ``limit`` at a
        time from the cursor ``after`` (a page's ``next``); each one listed is audited.

        :param mine: only those the caller handles; ``unassigned``: only those nobody does.
        :raises Forbidden: for the system asking for its own (it handles none).
        :raises BadCursor: for a cursor this service did not give.
        :raises ConversationError: for ``mine`` with ``unassigned``, or a limit below 1.
        """
        if limit < 1:
            raise ConversationError(_("a page holds at least one conversation"))
        position = _decoded(after)
        assignee_id = None
        if mine:
            if caller.user_id is None:
                raise Forbidden(_("{name} handles no conversation").format(name=caller.name))
            assignee_id = caller.user_id
        filters = Filters(unread_only, assignee_id, unassigned, channel)
        with self.app.transaction() as session:
            found = Conversations(session).listing(
                caller.scope, filters, after=position, limit=limit + 1
            )
            shown = found[:limit]
            audit.record_reads(
                session,
                actor_id=caller.user_id,
                subject_type="conversation",
                subjects=[row.conversation for row in shown],
            )
            next_position = remaining(found, limit)
            return ConversationPage(
                self._views(session, shown),
                None if next_position is None else _encoded(next_position),
            )

    def latest(self, caller: Caller) -> datetime | None:
        """When a conversation the caller sees last changed (a message in or out, a read,
        an assignment); ``None`` while they see none. A page polls this to learn whether
        its list is out of date; nothing personal is read."""
        with self.app.transaction() as session:
            return Conversations(session).last_change(caller.scope)

    def get(self, caller: Caller, conversation_id: uuid.UUID) -> ConversationView:
        """One conversation the caller sees; the read is audited."""
        with self.app.transaction() as session:
            found = Conversations(session).visible(conversation_id, caller.scope)
            audit.record_reads(
                session,
                actor_id=caller.user_id,
                subject_type="conversation",
                subjects=[found.conversation],
            )
            [view] = self._views(session, [found])
            return view

    def mark_read(self, caller: Caller, conversation_id: uuid.UUID) -> ConversationView:
        """The caller read the conversation: nothing in it is unread any more. Audited."""
        with self.app.transaction() as session:
            conversations = Conversations(session)
            found = conversations.visible(conversation_id, caller.scope)
            conversations.mark_read(found.conversation)
            audit.record(
                session,
                actor_id=caller.user_id,
                action="conversation.marked_read",
                subject_type="conversation",
                subject=found.conversation,
            )
            [view] = self._views(session, [found])
            return view

    def assign(
        self,
        caller: Caller,
        conversation_id: uuid.UUID,
        user_id: uuid.UUID | Literal[Assignee.CALLER] | None = Assignee.CALLER,
    ) -> ConversationView:
        """Hand a conversation the caller sees to a user who sees its customer too: by
        default the caller, taking it; ``None`` leaves it to nobody. Audited.

        :raises Forbidden: for the system taking it (it handles none).
        :raises ConversationError: for a user who does not exist, is not active, or does
            not see the conversation's customer; nothing is changed.
        """
        if user_id is Assignee.CALLER:
            if caller.user_id is None:
                raise Forbidden(_("{name} handles no conversation").format(name=caller.name))
            user_id = caller.user_id
        with self.app.transaction() as session:
            conversations = Conversations(session)
            found = conversations.visible(conversation_id, caller.scope)
            if user_id is not None and user_id != caller.user_id:
                self._check_assignee(session, user_id, found)
            conversations.assign(found.conversation, user_id)
            audit.record(
                session,
                actor_id=caller.user_id,
                action="conversation.assigned",
                subject_type="conversation",
                subject=found.conversation,
                detail={"assignee": "" if user_id is None else user_id},
            )
            [view] = self._views(session, [found])
            return view

    def _check_assignee(self, session: ZonedSession, user_id: uuid.UUID, found: Listed) -> None:
        """:raises ConversationError: unless the user is active and sees the customer."""
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise ConversationError(_("no active user {id}").format(id=user_id))
        if not sees(session, scope_of(session, user), found.customer):
            raise ConversationError(
                _("{name} does not see this conversation's customer").format(name=user.name)
            )

    def _views(self, session: ZonedSession, found: list[Listed]) -> list[ConversationView]:
        customers = Customers(session, self.app.hooks)
        assignees = {row.conversation.assignee_id for row in found} - {None}
        names: dict[uuid.UUID | None, str] = {}
        if assignees:
            query = select(User.id, User.name).where(User.id.in_(assignees))
            names.update((user_id, name) for user_id, name in session.execute(query))
        return [
            ConversationView(
                id=row.conversation.id,
                customer_id=row.customer.id,
                customer_name=customers.display_name(row.customer),
                market=row.conversation.market,
                channel=row.conversation.channel,
                touchpoint=row.conversation.touchpoint,
                last_message_at=row.conversation.last_message_at,
                last_direction=row.conversation.last_direction.value,
                last_summary=row.conversation.last_summary,
                unread=row.conversation.unread,
                assignee_id=row.conversation.assignee_id,
                assignee_name=names.get(row.conversation.assignee_id),
                read_at=row.conversation.read_at,
            )
            for row in found
        ]


def _encoded(position: Position) -> str:
    moment, conversation_id = position
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{conversation_id}".encode()).decode()


def _decoded(cursor: str | None) -> Position | None:
    """The position a cursor of :func:`_encoded` holds.

    :raises BadCursor: for anything else.
    """
    if cursor is None:
        return None
    try:
        moment, _separator, conversation_id = (
            base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        )
        at, after = datetime.fromisoformat(moment), uuid.UUID(conversation_id)
    except (binascii.Error, UnicodeError, ValueError):
        raise BadCursor(_("not a cursor of this listing: start again without one")) from None
    # Every moment written into a cursor carries its offset, in UTC.
    if at.tzinfo is None or at.utcoffset():
        raise BadCursor(_("not a cursor of this listing: start again without one"))
    return at, after
