"""The audit trail: who read or changed what, written beside the change it records."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from regiocrm.models import AuditEvent, Model, Organization, User

# The detail key listing which of an event's values are personal data. Only this module
# reads it: a reader gets the values, masked where they may not read personal data.
PERSONAL_KEYS = "_personal"
MASKED = "[personal data]"


def record(
    session: Session,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    subject_type: str,
    subject: Model,
    detail: Mapping[str, object] | None = None,
    personal: Mapping[str, object] | None = None,
) -> None:
    """Add an audit event about ``subject`` to the session's transaction, so it is kept
    exactly when the change it records is.

    :param actor_id: the user who acted, or ``None`` for the system.
    :param action: what happened, ``<subject>.<verb>``: ``customer.read``, ``user.created``.
    :param detail: what every reader of the trail may read (ids, states, counts).
    :param personal: what is a customer's personal data (an identity, words a user wrote,
        a customer the actor may not see): kept, and masked for a partner audit.
    """
    stored: dict[str, Any] = {key: str(value) for key, value in (detail or {}).items()}
    if personal:
        stored |= {key: str(value) for key, value in personal.items()}
        stored[PERSONAL_KEYS] = sorted(personal)
    session.add(
        AuditEvent(
            market=subject.market,
            actor_id=actor_id,
            action=action,
            subject_type=subject_type,
            subject_id=subject.id,
            detail=stored,
        )
    )


def _readable(stored: Mapping[str, Any], *, personal: bool) -> dict[str, Any]:
    """An event's detail as a reader gets it: every value, with the personal ones masked
    unless ``personal``."""
    hidden = frozenset(() if personal else stored.get(PERSONAL_KEYS, ()))
    return {
        key: MASKED if key in hidden else value
        for key, value in stored.items()
        if key != PERSONAL_KEYS
    }


def record_reads(
    session: Session, *, actor_id: uuid.UUID | None, subject_type: str, subjects: Iterable[Model]
) -> None:
    """An audit event ``<subject_type>.read`` for each row shown to ``actor_id``."""
    for subject in subjects:
        record(
            session,
            actor_id=actor_id,
            action=f"{subject_type}.read",
            subject_type=subject_type,
            subject=subject,
        )


@dataclass(frozen=True)
class TrailEntry:
    """One audit event as a partner audit reads it: who (by name and role), did what, to
    what, when."""

    id: uuid.UUID
    occurred_at: datetime
    actor: str
    role: str
    action: str
    subject_type: str
    subject_id: str
    market: str
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "id": str(self.id),
            "occurred_at": self.occurred_at.isoformat(),
        }


@dataclass(frozen=True)
class TrailFilter:
    """Which of the trail's events to read; ``None`` reads every one.

    :param action: only events of this action (``customer.read``).
    :param actor: only events by the organization's user of this name.
    :param subject_type: only events about this kind of subject (``customer``).
    """

    action: str | None = None
    actor: str | None = None
    subject_type: str | None = None

    def as_detail(self) -> dict[str, str]:
        """The filters set, as an audit event's detail records them."""
        return {key: value for key, value in asdict(self).items() if value is not None}


EVERY_EVENT = TrailFilter()


def trail(
    session: Session,
    organization: Organization,
    since: datetime,
    until: datetime | None = None,
    *,
    after: tuple[datetime, uuid.UUID] | None = None,
    only: TrailFilter = EVERY_EVENT,
    batch: int = 1000,
    personal: bool = False,
) -> Iterator[TrailEntry]:
    """Every audit event by the organization's users from ``since`` (inclusive) to
    ``until`` (exclusive) that ``only`` lets through, oldest first, read a batch at a time
    from every zone; from the event after ``after`` (its time and id) to go on from a page.
    Personal values in the details are masked unless ``personal`` (a partner audit reads no
    customer data)."""
    members = select(User).where(User.organization_id == organization.id)
    if only.actor is not None:
        members = members.where(User.name == only.actor)
    users = {user.id: user for user in session.scalars(members)}
    if not users:
        return
    query = (
        select(AuditEvent)
        .where(AuditEvent.actor_id.in_(list(users)), AuditEvent.occurred_at >= since)
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
        .limit(batch)
    )
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    if only.action is not None:
        query = query.where(AuditEvent.action == only.action)
    if only.subject_type is not None:
        query = query.where(AuditEvent.subject_type == only.subject_type)
    while True:
        page = (
            query
            if after is None
            else query.where(tuple_(AuditEvent.occurred_at, AuditEvent.id) > after)
        )
        events = list(session.scalars(page))
        for event in events:
            actor = users[event.actor_id] if event.actor_id is not None else None
            yield TrailEntry(
                id=event.id,
                occurred_at=event.occurred_at,
                actor=actor.name if actor else "",
                role=actor.role.value if actor else "",
                action=event.action,
                subject_type=event.subject_type,
                subject_id="" if event.subject_id is None else str(event.subject_id),
                market=event.market,
                detail=_readable(event.detail, personal=personal),
            )
        if len(events) < batch:
            return
        after = (events[-1].occurred_at, events[-1].id)


CSV_COLUMNS = (
    "id",
    "occurred_at",
    "actor",
    "role",
    "action",
    "subject_type",
    "subject_id",
    "market",
    "detail",
)


def write_csv(stream: IO[str], entries: Iterable[TrailEntry]) -> int:
    """The entries as CSV rows under a header, one per event with its detail as a JSON
    object, written as they are read (the CLI's report and the console's download are the
    same file); how many."""
    writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    written = 0
    for entry in entries:
        row = entry.as_dict()
        row["detail"] = json.dumps(row["detail"], ensure_ascii=False, sort_keys=True)
        writer.writerow(row)
        written += 1
    return written
