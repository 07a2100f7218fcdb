"""Cases: complaints and service requests on service-level clocks.

A case moves ``new → assigned → in_progress → waiting_customer → resolved → closed`` and
may be reopened from ``resolved`` or ``closed``. Its pack sets, per priority, how many
business hours its first answer and its resolution may take; the due times are set when it
is opened, on the market's business calendar with the public holidays of its
organization's subdivision (around the clock for a call centre that works 24×7), so a
complaint opened on the eve of a public holiday is due after it. Every step goes on the
customer's timeline and into the audit trail, and ``case_transitioned`` fires once it is
committed. ``escalate`` raises the cases whose clocks have run out, once per deadline, so
it is safe to run from cron.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from regiocrm.crm.accounts import AccountError, clock_subdivision
from regiocrm.crm.customers import Customers
from regiocrm.crm.timeline import Step, Timeline
from regiocrm.interfaces.calendars import Service
from regiocrm.models import Case, CaseStatus, Priority
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.stores import ZonedSession, after_commit

TRANSITIONS: dict[CaseStatus, tuple[CaseStatus, ...]] = {
    CaseStatus.NEW: (CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS),
    CaseStatus.ASSIGNED: (CaseStatus.IN_PROGRESS,),
    CaseStatus.IN_PROGRESS: (CaseStatus.WAITING_CUSTOMER, CaseStatus.RESOLVED),
    CaseStatus.WAITING_CUSTOMER: (CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED),
    # Back to in_progress from here is a reopening.
    CaseStatus.RESOLVED: (CaseStatus.CLOSED, CaseStatus.IN_PROGRESS),
    CaseStatus.CLOSED: (CaseStatus.IN_PROGRESS,),
}
OPEN = (CaseStatus.NEW, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS, CaseStatus.WAITING_CUSTOMER)
# Statuses in which the customer has had a first answer.
ANSWERED = (CaseStatus.IN_PROGRESS, CaseStatus.WAITING_CUSTOMER, CaseStatus.RESOLVED)
RESPONSE_LATE, RESOLUTION_LATE = 1, 2


class CaseError(Exception):
    """A case operation that cannot be done as asked; nothing was stored."""


class UnknownCase(CaseError):
    pass


class IllegalTransition(CaseError):
    pass


@dataclass(frozen=True)
class NewCase:
    """What opening a case takes; ``opened_at`` for a case imported from elsewhere."""

    customer_id: uuid.UUID
    market: str
    priority: Priority
    subject: str
    opened_at: datetime | None = None
    service: Service = Service.OFFICE
    organization_id: uuid.UUID | None = None


class Cases:
    """Case operations inside one session; the caller commits."""

    def __init__(self, session: ZonedSession, hooks: Hooks) -> None:
        self.session = session
        self.hooks = hooks

    def get(self, case_id: uuid.UUID) -> Case:
        case = self.session.get(Case, case_id)
        if case is None:
            raise UnknownCase(f"no case {case_id}")
        return case

    def open(self, new: NewCase, *, actor_id: uuid.UUID | None) -> Case:
        """Open a case with its due times on the market's clock.

        :raises regiocrm.crm.customers.UnknownCustomer: for no such customer.
        :raises regiocrm.interfaces.packs.PackError: for a market no pack serves.
        :raises CaseError: when the market's pack sets no target for the priority, or a
            due time cannot be kept (past the calendar's end).
        """
        customer = Customers(self.session, self.hooks).get(new.customer_id)
        pack = self.hooks.packs().for_market(new.market)
        target = pack.case_targets.get(new.priority)
        if target is None:
            raise CaseError(f"pack {pack.code!r} sets no target for {new.priority.value} cases")
        opened = new.opened_at or utcnow()
        subdivision = self._subdivision(new.organization_id, new.market)

        def due(hours: float) -> datetime:
            try:
                return self.hooks.due_at(
                    market=new.market,
                    start=opened,
                    duration=timedelta(hours=hours),
                    service=new.service,
                    subdivision=subdivision,
                )
            except ValueError as exc:
                raise CaseError(str(exc)) from None

        case = Case(
            market=new.market,
            customer_id=customer.id,
            subject=new.subject,
            priority=new.priority,
            service=new.service.value,
            organization_id=new.organization_id,
            opened_at=opened,
            response_due_at=due(target.response_hours),
            due_at=due(target.resolution_hours),
        )
        self.session.add(case)
        self.session.flush()
        self._record(case, None, "opened", actor_id)
        return case

    def _subdivision(self, organization_id: uuid.UUID | None, market: str) -> str | None:
        """The subdivision whose holidays the case's clocks keep: its organization's; none
        for a case of no organization.

        :raises CaseError: for no such organization.
        """
        if organization_id is None:
            return None
        try:
            return clock_subdivision(self.session, organization_id, market)
        except AccountError as exc:
            raise CaseError(str(exc)) from None

    def transition(
        self,
        case_id: uuid.UUID,
        to: CaseStatus,
        *,
        actor_id: uuid.UUID | None,
        organization_id: uuid.UUID | None = None,
        assignee_id: uuid.UUID | None = None,
    ) -> Case:
        """Move a case on.

        :raises UnknownCase: for no such case.
        :raises IllegalTransition: naming where the case may go from where it is.
        """
        case = self.get(case_id)
        previous = case.status
        allowed = TRANSITIONS[previous]
        if to not in allowed:
            raise IllegalTransition(
                f"a {previous.value} case cannot become {to.value}: it may become"
                f" {', '.join(status.value for status in allowed)}"
            )
        if to is CaseStatus.ASSIGNED and not (
            organization_id or assignee_id or case.organization_id or case.assignee_id
        ):
            raise IllegalTransition("assigning a case needs an organization or a user")
        now = utcnow()
        case.organization_id = organization_id or case.organization_id
        case.assignee_id = assignee_id or case.assignee_id
        case.status = to
        if to in ANSWERED and case.responded_at is None:
            case.responded_at = now
        if to is CaseStatus.RESOLVED:
            case.resolved_at = now
        if to is CaseStatus.CLOSED:
            case.closed_at = now
        reopened = previous in (CaseStatus.RESOLVED, CaseStatus.CLOSED) and to in OPEN
        if reopened:
            case.resolved_at = case.closed_at = None
        self.session.flush()
        self._record(case, previous, "reopened" if reopened else to.value, actor_id)
        return case

    def escalate(self, now: datetime | None = None) -> list[Case]:
        """Raise every open case whose first answer or resolution is late, once per
        deadline missed; the cases raised."""
        now = now or utcnow()
        late_answer = and_(
            Case.responded_at.is_(None),
            Case.response_due_at < now,
            Case.escalation_level < RESPONSE_LATE,
        )
        late_resolution = and_(Case.due_at < now, Case.escalation_level < RESOLUTION_LATE)
        overdue = self.session.scalars(
            select(Case).where(Case.status.in_(OPEN), or_(late_answer, late_resolution))
        ).all()
        for case in overdue:
            late = case.due_at is not None and case.due_at < now
            case.escalation_level = RESOLUTION_LATE if late else RESPONSE_LATE
            case.escalated_at = now
            self.session.flush()
            reason = "escalated: resolution late" if late else "escalated: first answer late"
            self._record(case, case.status, reason, None)
        return list(overdue)

    def _record(
        self, case: Case, previous: CaseStatus | None, reason: str, actor_id: uuid.UUID | None
    ) -> None:
        """The step on the customer's timeline, in the audit trail, and announced once
        committed."""
        step = f"{previous.value} → {case.status.value}" if previous else case.status.value
        Timeline(self.session).record_step(
            Step(
                market=case.market,
                customer_id=case.customer_id,
                channel="case",
                touchpoint="case",
                summary=f"case {case.subject!r}: {reason} ({step})",
                organization_id=case.organization_id,
                case_id=case.id,
            ),
            actor_id=actor_id,
            action=f"case.{reason.split(':')[0]}",
            subject_type="case",
            subject=case,
            detail={"status": case.status.value, "reason": reason},
        )
        status, case_id, market = case.status.value, case.id, case.market
        after_commit(
            self.session,
            lambda: self.hooks.case_transitioned(
                case_id=case_id,
                market=market,
                previous=previous.value if previous else None,
                status=status,
                reason=reason,
                actor_id=actor_id,
            ),
        )
