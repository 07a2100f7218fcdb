"""``/cases``: the open cases a user sees (an agent's market, a dealer's own), with their
service-level clocks, the overdue ones first, filtered by state and priority."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse

from regiocrm.console.pages import render
from regiocrm.console.sessions import VisitDep
from regiocrm.crm.access import Forbidden
from regiocrm.crm.cases import OPEN
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep
from regiocrm.interfaces.terms import CaseStatus, Priority
from regiocrm.platform.i18n import _
from regiocrm.services.cases import CaseService, CaseView

router = APIRouter(include_in_schema=False)

# More open cases than a person works through in a sitting; the filters narrow them.
PAGE_SIZE = 200
STATES = tuple(state.value for state in OPEN)
PRIORITIES = tuple(priority.value for priority in Priority)


@dataclass(frozen=True)
class CaseRow:
    """A case as the list shows it: which of its clocks ran out."""

    case: CaseView
    response_overdue: bool
    resolution_overdue: bool

    @property
    def overdue(self) -> bool:
        return self.response_overdue or self.resolution_overdue


def _past(due: datetime | None, done: datetime | None, now: datetime) -> bool:
    """Whether a clock ran out: due before ``now`` and not done."""
    if due is None or done is not None:
        return False
    # SQLite hands back the naive UTC times PostgreSQL hands back aware.
    return (due if due.tzinfo else due.replace(tzinfo=UTC)) < now


def rows(found: list[CaseView], now: datetime) -> list[CaseRow]:
    """The cases, the overdue ones first, each part in the order the service listed them
    (the resolution due soonest first)."""
    listed = [
        CaseRow(
            case,
            _past(case.response_due_at, case.responded_at, now),
            _past(case.due_at, case.resolved_at, now),
        )
        for case in found
    ]
    return sorted(listed, key=lambda row: not row.overdue)


@router.get("/cases")
def cases(
    request: Request, app: AppDep, signed: VisitDep, state: str = "", priority: str = ""
) -> HTMLResponse:
    """The reader's open cases, overdue first."""
    errors = {}
    if state and state not in STATES:
        errors["state"] = _("Choose a state from the list.")
    if priority and priority not in PRIORITIES:
        errors["priority"] = _("Choose a priority from the list.")
    context: dict[str, Any] = {
        "state": state,
        "priority": priority,
        "states": STATES,
        "priorities": PRIORITIES,
    }
    if errors:
        return render(
            signed.reader,
            request,
            "cases.html",
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            errors=errors,
            rows=None,
            **context,
        )
    try:
        found = CaseService(app).find(
            signed.caller,
            status=CaseStatus(state) if state else None,
            priority=Priority(priority) if priority else None,
            open_only=True,
            limit=PAGE_SIZE,
        )
    except Forbidden:
        return render(
            signed.reader,
            request,
            "refused.html",
            status_code=status.HTTP_403_FORBIDDEN,
            reason=_("Your role does not work with customers' cases."),
        )
    return render(
        signed.reader,
        request,
        "cases.html",
        errors=errors,
        rows=rows(found, datetime.now(UTC)),
        **context,
    )


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
