"""Cases for front ends: opened, listed, read and moved on by a caller who sees them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from regiocrm.crm import audit
from regiocrm.crm.access import holds
from regiocrm.crm.cases import OPEN, Cases, NewCase, UnknownCase
from regiocrm.crm.customers import Customers
from regiocrm.interfaces.terms import CaseStatus, Priority
from regiocrm.models import Case
from regiocrm.platform.stores import ZonedSession
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.listing import Listing

# The most urgent due first.
CASES = Listing(Case, Case.market, Case.organization_id, (Case.due_at, Case.id), "case")


@dataclass(frozen=True)
class CaseView:
    """A case as front ends show it."""

    id: uuid.UUID
    customer_id: uuid.UUID
    market: str
    subject: str
    status: str
    priority: str
    service: str
    organization_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    opened_at: datetime
    response_due_at: datetime | None
    responded_at: datetime | None
    due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    escalation_level: int

    @classmethod
    def of(cls, case: Case) -> CaseView:
        return cls(**{field.name: getattr(case, field.name) for field in fields(cls)})

    def as_json(self) -> dict[str, Any]:
        """Ids and moments as strings, enums as their values."""
        return {field.name: _json(getattr(self, field.name)) for field in fields(self)}


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class CaseService:
    """What a caller may do with cases; each method one transaction, committed before it
    returns."""

    def __init__(self, app: Application) -> None:
        self.app = app

    def open(self, caller: Caller, new: NewCase) -> CaseView:
        """Open a case for a customer the caller sees. A dealer's or wholesaler's case is
        assigned to their organization unless it names one.

        :raises regiocrm.crm.access.Forbidden: for a role that reads no customer data.
        :raises regiocrm.crm.customers.UnknownCustomer: for no such customer, or one the
            caller does not see.
        :raises regiocrm.crm.cases.CaseError: when the case cannot be opened as asked.
        :raises regiocrm.interfaces.packs.PackError: for a market no pack serves.
        """
        if caller.works_for_a_partner and new.organization_id is None:
            new = NewCase(**{**vars(new), "organization_id": caller.organization_id})
        with self.app.transaction() as session:
            Customers(session, self.app.hooks).visible(new.customer_id, caller.scope)
            case = Cases(session, self.app.hooks).open(new, actor_id=caller.user_id)
            return CaseView.of(case)

    def find(
        self,
        caller: Caller,
        *,
        status: CaseStatus | None = None,
        organization_id: uuid.UUID | None = None,
        customer_id: uuid.UUID | None = None,
        priority: Priority | None = None,
        open_only: bool = False,
        limit: int,
    ) -> list[CaseView]:
        """The cases the caller sees, the most urgent due first; each read is audited.

        :param open_only: only those still being worked on (neither resolved nor closed).
        :raises regiocrm.crm.access.Forbidden: for a role that reads no customer data.
        """
        with self.app.transaction() as session:
            found = CASES.rows(
                session,
                caller,
                equal={
                    Case.status: status,
                    Case.organization_id: organization_id,
                    Case.customer_id: customer_id,
                    Case.priority: priority,
                },
                where=[Case.status.in_(OPEN)] if open_only else [],
                limit=limit,
            )
            return [CaseView.of(case) for case in found]

    def get(self, caller: Caller, case_id: uuid.UUID) -> CaseView:
        """One case the caller sees; the read is audited.

        :raises UnknownCase: for no such case, and alike for one outside the scope.
        """
        with self.app.transaction() as session:
            case = self._visible(session, caller, case_id)
            audit.record_reads(
                session, actor_id=caller.user_id, subject_type="case", subjects=[case]
            )
            return CaseView.of(case)

    def transition(
        self,
        caller: Caller,
        case_id: uuid.UUID,
        to: CaseStatus,
        *,
        organization_id: uuid.UUID | None = None,
        assignee_id: uuid.UUID | None = None,
    ) -> CaseView:
        """Move a case the caller sees on.

        :raises UnknownCase: for no such case, or one outside the scope.
        :raises regiocrm.crm.cases.IllegalTransition: naming where it may go.
        """
        with self.app.transaction() as session:
            self._visible(session, caller, case_id)
            case = Cases(session, self.app.hooks).transition(
                case_id,
                to,
                actor_id=caller.user_id,
                organization_id=organization_id,
                assignee_id=assignee_id,
            )
            return CaseView.of(case)

    def escalate(self) -> list[CaseView]:
        """Raise every open case whose clock has run out, once per deadline missed (the
        system's work, from cron)."""
        with self.app.transaction() as session:
            return [CaseView.of(case) for case in Cases(session, self.app.hooks).escalate()]

    def _visible(self, session: ZonedSession, caller: Caller, case_id: uuid.UUID) -> Case:
        caller.scope.require_customers()
        case = Cases(session, self.app.hooks).get(case_id)
        if not holds(caller.scope, case.market, case.organization_id):
            raise UnknownCase(f"no case {case_id}")
        return case
