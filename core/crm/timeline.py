"""The customer's timeline: every entry is written here, and read here.

A timeline entry (an :class:`~regiocrm.models.Interaction`) is one thing that happened with
a customer, append-only:

* a message in or out: an inbound message and the auto-reply that went out to it, written
  on the inbox's hot path (:func:`append_once`), a message a user or a campaign sent
  (:meth:`Timeline.sent`), and one a user sent that the provider refused, with its reason
  (:meth:`Timeline.failed`);
* a step inside the CRM: a customer registered at a dealership, a case or a lead moving on
  (:meth:`Timeline.record_step`, which writes the step's audit record in the same
  transaction).

An entry made at an organization (``organization_id``) links its customer to that
organization: it is what lets a dealer see a customer they registered
(:mod:`regiocrm.crm.access`).

Every message in or out also brings its :class:`~regiocrm.models.Conversation` (the
customer on that channel account) up to date, in the same transaction and zone: the last
message, and one more unread for an inbound one. A message written again (an inbox retry)
finds its entry and leaves the conversation as it was.

A customer's timeline is read a page at a time across the records merged into them, oldest
first (:meth:`Timeline.page`, for the API's readers going forwards) or newest first
(:meth:`Timeline.latest`, for a person looking back from now).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, inspect, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from regiocrm.crm import audit
from regiocrm.interfaces.terms import Direction
from regiocrm.models import Conversation, Interaction, Model
from regiocrm.models.base import utcnow
from regiocrm.models.conversation import SUMMARY_LENGTH
from regiocrm.platform.ids import derived_id, new_id

BOUNCED = "bounced"

# A place in a timeline: an entry's time and id, the order it is read in.
Position = tuple[datetime, uuid.UUID]


@dataclass(frozen=True)
class Step:
    """A step taken inside the CRM, as the customer's timeline shows it.

    :param channel: what kind of step: ``crm``, ``case``, ``lead``, ``contract``.
    :param organization_id: where it was taken, which links the customer there.
    """

    market: str
    customer_id: uuid.UUID
    channel: str
    touchpoint: str
    summary: str
    organization_id: uuid.UUID | None
    case_id: uuid.UUID | None = None


@dataclass(frozen=True)
class MessageEntry:
    """A message in or out, as the inbox writes it on its hot path.

    :param id: derived from what it records (the inbox row), so that writing it again
        finds it rather than adding a second entry.
    :param case_id: the customer's open case it belongs to, if any.
    """

    id: uuid.UUID
    market: str
    customer_id: uuid.UUID
    channel: str
    direction: Direction
    touchpoint: str
    text: str | None
    summary: str | None
    external_id: str | None
    occurred_at: datetime
    case_id: uuid.UUID | None


# Built once: the inbox's hot path then only binds values to a statement SQLAlchemy has
# already compiled and cached. It returns the id of an entry it wrote and nothing for one
# that was there, which rowcount does not tell on every driver (psycopg's is -1).
_INSERT_ONCE = {
    name: dialect.insert(Interaction)
    .on_conflict_do_nothing(index_elements=["id"])
    .returning(Interaction.id)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}


def _bump_conversation(dialect: Any) -> Any:
    """The upsert of a message's conversation: created with the message, or moved on to
    it unless it knows a later one; an inbound message counts as unread unless an agent
    read the conversation after the message's time."""
    table = Conversation.__table__
    new = dialect.insert(table)
    came = new.excluded
    later = came.last_message_at >= table.c.last_message_at
    unread_since_read = or_(table.c.read_at.is_(None), came.last_message_at > table.c.read_at)
    return new.on_conflict_do_update(
        index_elements=["customer_id", "channel", "touchpoint"],
        set_={
            "last_message_at": case((later, came.last_message_at), else_=table.c.last_message_at),
            "last_direction": case((later, came.last_direction), else_=table.c.last_direction),
            "last_summary": case((later, came.last_summary), else_=table.c.last_summary),
            "unread": table.c.unread + case((unread_since_read, came.unread), else_=0),
            "updated": came.updated,
        },
    )


_BUMP_CONVERSATION = {
    name: _bump_conversation(dialect)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}


def _conversation_moved_on(
    *,
    market: str,
    customer_id: uuid.UUID,
    channel: str,
    touchpoint: str,
    direction: Direction,
    text: str | None,
    summary: str | None,
    occurred_at: datetime,
) -> dict[str, Any]:
    """The values of the upsert that brings a message's conversation up to date, on the
    zone its entry is written in (the same data class places both)."""
    shown = text or summary
    now = utcnow()
    return {
        "id": new_id(),
        "market": market,
        "customer_id": customer_id,
        "channel": channel,
        "touchpoint": touchpoint,
        "last_message_at": occurred_at,
        "last_direction": direction,
        "last_summary": None if shown is None else shown[:SUMMARY_LENGTH],
        "unread": 1 if direction is Direction.INBOUND else 0,
        "created": now,
        "updated": now,
    }


def append_once(connection: Connection, *entries: MessageEntry) -> None:
    """Write each of ``entries`` on the connection's zone unless an entry with its id is
    there: an earlier attempt at the same message wrote it. Only an entry written moves its
    conversation on. Core statements, one for the entries and one for their conversations
    however many there are, without ORM objects: every inbound message takes this path."""
    if not entries:
        return
    dialect = connection.dialect.name
    written = set(connection.execute(_INSERT_ONCE[dialect], [vars(e) for e in entries]).scalars())
    moved = [
        _conversation_moved_on(
            market=entry.market,
            customer_id=entry.customer_id,
            channel=entry.channel,
            touchpoint=entry.touchpoint,
            direction=entry.direction,
            text=entry.text,
            summary=entry.summary,
            occurred_at=entry.occurred_at,
        )
        for entry in entries
        if entry.id in written
    ]
    if moved:
        connection.execute(_BUMP_CONVERSATION[dialect], moved)


@dataclass(frozen=True)
class Page:
    """Entries of a timeline, and where the next page starts (``None``: it ends here)."""

    entries: list[Interaction]
    next: Position | None


class Timeline:
    """Timeline entries inside one session; the caller commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def step(self, step: Step) -> Interaction:
        """Put a step on the customer's timeline, now."""
        entry = Interaction.step(
            market=step.market,
            customer_id=step.customer_id,
            channel=step.channel,
            touchpoint=step.touchpoint,
            summary=step.summary,
            organization_id=step.organization_id,
            case_id=step.case_id,
        )
        self.session.add(entry)
        return entry

    def registration(
        self, *, market: str, customer_id: uuid.UUID, organization_id: uuid.UUID
    ) -> Interaction:
        """A customer registered at an organization (a dealer enters them): the step that
        links them there."""
        return self.step(
            Step(
                market=market,
                customer_id=customer_id,
                channel="crm",
                touchpoint="registration",
                summary="registered",
                organization_id=organization_id,
            )
        )

    def record_step(
        self,
        step: Step | None,
        *,
        actor_id: uuid.UUID | None,
        action: str,
        subject_type: str,
        subject: Model,
        detail: Mapping[str, object] | None = None,
        personal: Mapping[str, object] | None = None,
    ) -> None:
        """A step on the customer's timeline with its audit record, kept together (``None``
        for a step of no customer, such as a lead without one: audited only). The audit
        arguments are :func:`regiocrm.crm.audit.record`'s."""
        if step is not None:
            self.step(step)
        audit.record(
            self.session,
            actor_id=actor_id,
            action=action,
            subject_type=subject_type,
            subject=subject,
            detail=detail,
            personal=personal,
        )

    def sent(
        self,
        *,
        market: str,
        customer_id: uuid.UUID,
        channel: str,
        touchpoint: str,
        text: str,
        external_id: str,
        organization_id: uuid.UUID | None = None,
        summary: str | None = None,
    ) -> Interaction:
        """Put a message sent to the customer on their timeline, now, and bring its
        conversation up to date.

        :param touchpoint: the channel account it went out through.
        :param organization_id: whose message it was (a dealer's, a campaign's planner).
        """
        entry = self._outbound(
            market=market,
            customer_id=customer_id,
            channel=channel,
            touchpoint=touchpoint,
            text=text,
            summary=summary,
            external_id=external_id,
            organization_id=organization_id,
        )
        # The zone the entry was just written in.
        connection = self.session.connection(
            bind_arguments={"shard_id": inspect(entry).identity_token}
        )
        moved = _conversation_moved_on(
            market=market,
            customer_id=customer_id,
            channel=channel,
            direction=Direction.OUTBOUND,
            touchpoint=touchpoint,
            text=text,
            summary=summary,
            occurred_at=entry.occurred_at,
        )
        connection.execute(_BUMP_CONVERSATION[connection.dialect.name], moved)
        return entry

    def failed(
        self,
        *,
        market: str,
        customer_id: uuid.UUID,
        channel: str,
        touchpoint: str,
        text: str,
        reason: str,
        organization_id: uuid.UUID | None = None,
    ) -> Interaction:
        """Put a message a user tried to send on the customer's timeline, now, as not
        delivered: the provider refused it or kept failing, for ``reason``. It has no
        provider id, since it was never accepted, and leaves the conversation as it was: a
        message that never reached the customer is not its last."""
        return self._outbound(
            market=market,
            customer_id=customer_id,
            channel=channel,
            touchpoint=touchpoint,
            text=text,
            summary=None,
            external_id=None,
            organization_id=organization_id,
            failure=reason[:500],
        )

    def bounced(self, sent: Interaction, *, reason: str, at: datetime) -> Interaction:
        """Put on the timeline that a message sent came back undelivered (an email's
        bounce), once however often the bounce is reported: entries are never changed, so
        the failure is an entry of its own, after the message, in its case."""
        entry_id = derived_id(sent.id, BOUNCED)
        found = self.session.get(Interaction, entry_id)
        if found is not None:
            return found
        entry = Interaction(
            id=entry_id,
            market=sent.market,
            customer_id=sent.customer_id,
            channel=sent.channel,
            direction=Direction.OUTBOUND,
            touchpoint=sent.touchpoint,
            text=sent.text,
            summary=BOUNCED,
            failure=reason[:500],
            occurred_at=at,
            organization_id=sent.organization_id,
            case_id=sent.case_id,
        )
        self.session.add(entry)
        self.session.flush()
        return entry

    def _outbound(self, **values: object) -> Interaction:
        entry = Interaction(direction=Direction.OUTBOUND, occurred_at=utcnow(), **values)
        self.session.add(entry)
        self.session.flush()
        return entry

    def page(
        self, merge_set: Sequence[uuid.UUID], *, limit: int, after: Position | None = None
    ) -> Page:
        """Up to ``limit`` entries of a customer's timeline, oldest first, after the
        position ``after`` (from the start without one).

        :param merge_set: the customer's id and the ids of the records merged into them
            (:meth:`regiocrm.crm.customers.Customers.merge_set`): their entries are the
            customer's.
        """
        query = (
            select(Interaction)
            .where(Interaction.customer_id.in_(merge_set))
            .order_by(Interaction.occurred_at, Interaction.id)
        )
        if after is not None:
            query = query.where(tuple_(Interaction.occurred_at, Interaction.id) > after)
        rows = list(self.session.scalars(query.limit(limit + 1)))
        last = rows[limit - 1] if len(rows) > limit else None
        return Page(rows[:limit], None if last is None else (last.occurred_at, last.id))

    def latest(
        self, merge_set: Sequence[uuid.UUID], *, limit: int, before: Position | None = None
    ) -> Page:
        """Up to ``limit`` entries of a customer's timeline, newest first, before the
        position ``before`` (from now without one); the page's ``next`` is where the older
        entries go on. ``merge_set`` is as for :meth:`page`."""
        query = (
            select(Interaction)
            .where(Interaction.customer_id.in_(merge_set))
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
        )
        if before is not None:
            query = query.where(tuple_(Interaction.occurred_at, Interaction.id) < before)
        rows = list(self.session.scalars(query.limit(limit + 1)))
        last = rows[limit - 1] if len(rows) > limit else None
        return Page(rows[:limit], None if last is None else (last.occurred_at, last.id))

    def last_inbound_channel(self, merge_set: Sequence[uuid.UUID]) -> str | None:
        """The channel the customer last wrote on, if they ever wrote."""
        return self.session.scalar(
            select(Interaction.channel)
            .where(
                Interaction.customer_id.in_(merge_set),
                Interaction.direction == Direction.INBOUND,
            )
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
            .limit(1)
        )
