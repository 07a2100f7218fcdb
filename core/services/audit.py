"""The audit trail for front ends: what an organization's people read and changed, read by
a caller whose role audits, or exported by the deployment's operator.

Reading the trail is itself recorded in it. A reader who reads no customer data (a partner
auditor) gets the personal values in the details masked, and so does every export, whoever
makes it: it is made for a partner audit, and leaves the deployment.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from sqlalchemy import select

from regiocrm.crm import audit
from regiocrm.crm.accounts import UnknownOrganization, organization_named
from regiocrm.crm.audit import EVERY_EVENT, TrailEntry, TrailFilter
from regiocrm.interfaces.terms import UserRole
from regiocrm.models import Organization
from regiocrm.platform.stores import ZonedSession
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller

# The region's data-protection roles, and the partner auditors a dealer's audit is for.
AUDIT_READERS = frozenset({UserRole.ADMIN, UserRole.COMPETENCE_CENTRE, UserRole.PARTNER_AUDITOR})

# A place in the trail: an event's time and id, the order it is read in.
Position = tuple[datetime, uuid.UUID]


class PeriodError(ValueError):
    """A period that ends before it starts; nothing was read or recorded."""


@dataclass(frozen=True)
class OrganizationView:
    """The organization whose people's trail is read."""

    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class TrailPage:
    """Events oldest first, and the position the next page starts after (``None``: the
    last)."""

    items: list[TrailEntry]
    next: Position | None


class AuditService:
    """Reading and exporting the audit trail; each method one transaction, in which the
    reading is recorded, committed before it returns."""

    def __init__(self, app: Application) -> None:
        self.app = app

    def read(
        self,
        caller: Caller,
        organization_id: uuid.UUID,
        since: datetime,
        until: datetime | None = None,
        *,
        after: Position | None = None,
        only: TrailFilter = EVERY_EVENT,
        limit: int,
    ) -> TrailPage:
        """Up to ``limit`` events by the organization's users from ``since`` (inclusive)
        to ``until`` (exclusive) that ``only`` lets through, oldest first, after the
        position ``after``. Personal values in the details are masked for a caller who
        reads no customer data.

        :raises regiocrm.crm.access.Forbidden: for a caller whose role does not audit
            (admins, competence centres and partner auditors do).
        :raises PeriodError: for ``until`` not after ``since``.
        :raises UnknownOrganization: for no such organization.
        """
        caller.scope.require(*AUDIT_READERS)
        _check_period(since, until)
        with self.app.transaction() as session:
            organization = session.get(Organization, organization_id)
            if organization is None:
                raise UnknownOrganization(f"no organization {organization_id}")
            trail = audit.trail(
                session,
                organization,
                since,
                until,
                after=after,
                only=only,
                personal=caller.scope.customers,
            )
            entries = list(islice(trail, limit + 1))
            audit.record(
                session,
                actor_id=caller.user_id,
                action="audit.read",
                subject_type="organization",
                subject=organization,
                detail={
                    "since": since.isoformat(),
                    "until": until.isoformat() if until else "",
                    **only.as_detail(),
                },
            )
            last = entries[limit - 1] if len(entries) > limit else None
            return TrailPage(entries[:limit], None if last is None else (last.occurred_at, last.id))

    def organizations(self, caller: Caller) -> list[OrganizationView]:
        """Every organization whose people's trail the caller may read, by name.

        :raises regiocrm.crm.access.Forbidden: for a caller whose role does not audit.
        """
        caller.scope.require(*AUDIT_READERS)
        with self.app.transaction() as session:
            found = session.scalars(
                select(Organization).order_by(Organization.name, Organization.id)
            )
            return [OrganizationView(organization.id, organization.name) for organization in found]

    def export(
        self,
        caller: Caller,
        organization_id: uuid.UUID,
        since: datetime,
        until: datetime | None,
        write: Callable[[OrganizationView, Iterator[TrailEntry]], int],
        *,
        only: TrailFilter = EVERY_EVENT,
    ) -> int:
        """Hand every event by the organization's users from ``since`` (inclusive) to
        ``until`` (exclusive) that ``only`` lets through, oldest first and with personal
        values masked whoever asks, to ``write``, which returns how many it wrote; record
        the export in the trail as the caller's, and commit. How many were written.

        When ``write`` raises, nothing is recorded.

        :raises regiocrm.crm.access.Forbidden: for a caller whose role does not audit.
        :raises PeriodError: for ``until`` not after ``since``.
        :raises UnknownOrganization: for no such organization.
        """
        caller.scope.require(*AUDIT_READERS)
        _check_period(since, until)
        with self.app.transaction() as session:
            organization = session.get(Organization, organization_id)
            if organization is None:
                raise UnknownOrganization(f"no organization {organization_id}")
            return _exported(session, caller.user_id, organization, since, until, write, only)

    def export_as_operator(
        self,
        organization: str,
        since: datetime,
        until: datetime | None,
        write: Callable[[OrganizationView, Iterator[TrailEntry]], int],
    ) -> int:
        """Hand every event by the users of the organization named from ``since``
        (inclusive) to ``until`` (exclusive), oldest first and with personal values masked,
        to ``write``, which returns how many it wrote; record the export in the trail as
        the system's, and commit. How many were written.

        The events are read as ``write`` takes them, a batch at a time, however long the
        trail. When ``write`` raises, nothing is recorded.

        :raises PeriodError: for ``until`` not after ``since``.
        :raises UnknownOrganization: for no organization of that name.
        """
        _check_period(since, until)
        with self.app.transaction() as session:
            found = organization_named(session, organization)
            if found is None:
                raise UnknownOrganization(f"no organization named {organization!r}")
            return _exported(session, None, found, since, until, write, EVERY_EVENT)


def _exported(
    session: ZonedSession,
    actor_id: uuid.UUID | None,
    organization: Organization,
    since: datetime,
    until: datetime | None,
    write: Callable[[OrganizationView, Iterator[TrailEntry]], int],
    only: TrailFilter,
) -> int:
    """Hand the organization's trail to ``write`` and record the export as ``actor_id``'s
    (``None``: the system's), with the period, the filters and how many were written."""
    written = write(
        OrganizationView(organization.id, organization.name),
        audit.trail(session, organization, since, until, only=only),
    )
    audit.record(
        session,
        actor_id=actor_id,
        action="audit.exported",
        subject_type="organization",
        subject=organization,
        detail={
            "since": since.isoformat(),
            "until": until.isoformat() if until else "",
            "events": written,
            **only.as_detail(),
        },
    )
    return written


def _check_period(since: datetime, until: datetime | None) -> None:
    if until is not None and until <= since:
        raise PeriodError(
            f"until {until.isoformat()} is not after since {since.isoformat()}:"
            " the date range is backwards"
        )
