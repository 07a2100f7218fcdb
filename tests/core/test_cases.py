"""Cases: due times on the market's calendar, the steps a case may take (and those it may
not), each on the customer's timeline, and escalation that is safe to run from cron."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from desk import Desk
from sqlalchemy import select

from regiocrm.crm.accounts import create_organization
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.packs import CaseTarget
from regiocrm.models import AuditEvent, Case, Interaction, OrganizationKind
from regiocrm.models.base import utcnow

SHANGHAI = ZoneInfo("Asia/Shanghai")


def open_case(desk: Desk, **values: Any) -> dict[str, Any]:
    body = {"customer_id": desk.customer(), "market": "CN", "subject": "刹车异响", **values}
    answer = desk.post("/api/cases", body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def local(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(SHANGHAI)


def test_a_complaint_opened_on_the_eve_of_national_day_is_due_after_it(desk: Desk) -> None:
    """Opened at 17:00 on 30 September 2026. National Day's holidays run 1 to 7 October
    (the 4th is a Sunday), and Saturday 10 October is a working day made up for them. A
    normal case gets its first answer within 8 business hours and its resolution within
    27: one hour on the eve, then from 9:00 on 8 October."""
    case = open_case(desk, priority="normal", opened_at="2026-09-30T17:00:00+08:00")
    assert case["due_at"].endswith("+00:00"), "ISO 8601 with its offset"
    assert local(case["response_due_at"]) == datetime(2026, 10, 8, 16, tzinfo=SHANGHAI)
    assert local(case["due_at"]) == datetime(2026, 10, 10, 17, tzinfo=SHANGHAI)
    assert case["status"] == "new"


def test_a_call_centre_case_runs_around_the_clock(desk: Desk) -> None:
    case = open_case(
        desk, priority="urgent", opened_at="2026-09-30T23:30:00+08:00", service="call_centre"
    )
    assert local(case["response_due_at"]) == datetime(2026, 10, 1, 0, 30, tzinfo=SHANGHAI)
    assert local(case["due_at"]) == datetime(2026, 10, 1, 7, 30, tzinfo=SHANGHAI)


def test_the_steps_of_a_case_go_on_the_customers_timeline(desk: Desk) -> None:
    case = open_case(desk, priority="high")
    path = f"/api/cases/{case['id']}/transition"
    assigned = desk.post(path, {"to": "assigned", "organization_id": str(desk.org)})
    assert assigned.json()["organization_id"] == str(desk.org)
    working = desk.post(path, {"to": "in_progress"}).json()
    assert working["responded_at"] is not None
    waiting = desk.post(path, {"to": "waiting_customer"}).json()
    assert waiting["responded_at"] == working["responded_at"], "the first answer stays first"
    resolved = desk.post(path, {"to": "resolved"}).json()
    assert resolved["resolved_at"] is not None
    closed = desk.post(path, {"to": "closed"}).json()
    assert closed["closed_at"] is not None
    reopened = desk.post(path, {"to": "in_progress"}).json()
    assert (reopened["status"], reopened["resolved_at"], reopened["closed_at"]) == (
        "in_progress",
        None,
        None,
    )
    timeline = desk.client.get(
        f"/api/customers/{case['customer_id']}/timeline", headers=desk.headers
    ).json()
    summaries = [item["summary"] for item in timeline["items"]]
    assert summaries == [
        "case '刹车异响': opened (new)",
        "case '刹车异响': assigned (new → assigned)",
        "case '刹车异响': in_progress (assigned → in_progress)",
        "case '刹车异响': waiting_customer (in_progress → waiting_customer)",
        "case '刹车异响': resolved (waiting_customer → resolved)",
        "case '刹车异响': closed (resolved → closed)",
        "case '刹车异响': reopened (closed → in_progress)",
    ]
    with desk.stores.session() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_id == uuid.UUID(case["id"]))
        ).all()
    assert sorted(actions) == sorted(
        [
            "case.opened",
            "case.assigned",
            "case.in_progress",
            "case.waiting_customer",
            "case.resolved",
            "case.closed",
            "case.reopened",
        ]
    )


@pytest.mark.parametrize(
    ("opened_at", "reason"),
    [
        ("9999-12-31T23:00:00Z", "ends past 9999-12-31, the last day the calendar holds"),
        ("0001-01-01T00:00:00+14:00", "is outside the years 1 to 9999 in UTC"),
    ],
    ids=["due past the calendar's end", "opened before the year 1 in UTC"],
)
@pytest.mark.parametrize("service", ["office", "call_centre"])
def test_a_case_whose_clock_cannot_run_is_refused_and_nothing_is_stored(
    desk: Desk, opened_at: str, reason: str, service: str
) -> None:
    body = {
        "customer_id": desk.customer(),
        "market": "CN",
        "subject": "刹车异响",
        "opened_at": opened_at,
        "service": service,
    }
    answer = desk.post("/api/cases", body)
    assert answer.status_code == 422
    assert reason in answer.json()["detail"]
    assert desk.count(Case) == 0


@pytest.mark.parametrize(
    ("steps", "refused", "reason"),
    [
        ([], "closed", "a new case cannot become closed: it may become assigned, in_progress"),
        ([], "assigned", "assigning a case needs an organization or a user"),
        (["in_progress"], "new", "a in_progress case cannot become new: it may become"),
        (
            ["in_progress", "resolved"],
            "waiting_customer",
            "a resolved case cannot become waiting_customer",
        ),
    ],
    ids=["skip-to-closed", "assign-to-nobody", "back-to-new", "resolved-to-waiting"],
)
def test_an_illegal_step_is_refused_and_nothing_is_stored(
    desk: Desk, steps: list[str], refused: str, reason: str
) -> None:
    case = open_case(desk)
    path = f"/api/cases/{case['id']}/transition"
    for step in steps:
        assert desk.post(path, {"to": step}).status_code == 200
    before = (desk.count(Interaction), desk.count(AuditEvent))
    answer = desk.post(path, {"to": refused})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(reason)
    assert (desk.count(Interaction), desk.count(AuditEvent)) == before
    assert desk.client.get(f"/api/cases/{case['id']}", headers=desk.headers).json()["status"] == (
        steps[-1] if steps else "new"
    )


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"customer_id": str(uuid.uuid4())}, 422, "no customer"),
        ({"market": "US"}, 422, "no pack serves market 'US'"),
        ({"priority": "whenever"}, 422, "Input should be 'low', 'normal', 'high' or 'urgent'"),
        ({"opened_at": "2026-09-30T17:00:00"}, 422, "Input should have timezone info"),
        ({"subject": ""}, 422, "String should have at least 1 character"),
    ],
    ids=["unknown-customer", "unserved-market", "priority", "naive-time", "empty-subject"],
)
def test_a_bad_case_is_refused_and_nothing_is_stored(
    desk: Desk, change: dict[str, str], status: int, reason: str
) -> None:
    body = {"customer_id": desk.customer(), "market": "CN", "subject": "x", **change}
    answer = desk.post("/api/cases", body)
    assert answer.status_code == status
    assert reason in answer.text
    assert desk.count(Case) == 0


def test_cases_are_listed_by_status_and_organization(desk: Desk) -> None:
    first, second = open_case(desk, priority="urgent"), open_case(desk, priority="low")
    desk.post(
        f"/api/cases/{second['id']}/transition",
        {"to": "assigned", "organization_id": str(desk.org)},
    )
    listed = desk.client.get("/api/cases", headers=desk.headers).json()["items"]
    assert [case["id"] for case in listed] == [first["id"], second["id"]], "most urgent first"
    assigned = desk.client.get(f"/api/cases?status=assigned&org={desk.org}", headers=desk.headers)
    assert [case["id"] for case in assigned.json()["items"]] == [second["id"]]


def test_escalation_raises_each_late_case_once(desk: Desk, regiocrm_cli, register_plugin) -> None:
    raised: list[tuple[str, str]] = []

    class Supervisor:
        @hookimpl
        def case_transitioned(self, case_id, market, previous, status, reason, actor_id) -> None:
            raised.append((str(case_id), reason))

    register_plugin(Supervisor())

    def call_centre_case(hours_ago: int) -> dict[str, Any]:
        opened = (utcnow() - timedelta(hours=hours_ago)).isoformat()
        return open_case(desk, priority="urgent", opened_at=opened, service="call_centre")

    # Urgent call-centre cases: a first answer within 1 hour, resolution within 8, 24x7.
    unresolved, unanswered, answered = (
        call_centre_case(10),
        call_centre_case(3),
        call_centre_case(3),
    )
    desk.post(f"/api/cases/{answered['id']}/transition", {"to": "in_progress"})
    on_time = open_case(desk, priority="low")
    raised.clear()
    first = regiocrm_cli("cases", "escalate", "--json")
    assert first.exit_code == 0, first.stderr
    escalated = {case["id"]: case["escalation_level"] for case in json.loads(first.stdout)}
    assert escalated == {unresolved["id"]: 2, unanswered["id"]: 1}
    assert on_time["id"] not in escalated
    assert sorted(raised) == sorted(
        [
            (unresolved["id"], "escalated: resolution late"),
            (unanswered["id"], "escalated: first answer late"),
        ]
    )
    again = regiocrm_cli("cases", "escalate", "--json")
    assert again.stdout.strip() == "[]", "each deadline is escalated once"


def test_hook_case_transitioned(desk: Desk, register_plugin) -> None:
    seen: list[dict[str, Any]] = []

    class Recorder:
        @hookimpl
        def case_transitioned(self, case_id, market, previous, status, reason, actor_id) -> None:
            seen.append(
                {
                    "case": case_id,
                    "market": market,
                    "previous": previous,
                    "status": status,
                    "reason": reason,
                    "actor": actor_id,
                }
            )

    register_plugin(Recorder())
    case = open_case(desk)
    desk.post(f"/api/cases/{case['id']}/transition", {"to": "in_progress"})
    desk.post(f"/api/cases/{case['id']}/transition", {"to": "closed"})  # refused: no call
    assert [(s["previous"], s["status"], s["reason"]) for s in seen] == [
        (None, "new", "opened"),
        ("new", "in_progress", "in_progress"),
    ]
    assert {s["case"] for s in seen} == {uuid.UUID(case["id"])}
    assert all(isinstance(s["actor"], uuid.UUID) for s in seen)


def test_a_case_target_cannot_resolve_before_it_answers() -> None:
    with pytest.raises(ValueError, match="due for resolution before its first answer"):
        CaseTarget(response_hours=8, resolution_hours=4)


SYDNEY = ZoneInfo("Australia/Sydney")


def first_working_day_after(calendar: holidays.HolidayBase, day: date) -> date:
    """The reference: the holidays library's own word on which day is worked."""
    day += timedelta(days=1)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def test_a_case_runs_on_the_public_holidays_of_its_organizations_state(desk: Desk) -> None:
    """Opened at 17:00 on Friday 5 June 2026 for a Sydney dealer, a Perth dealer and the
    market: a normal case's first answer (8 business hours) is due the first working day
    after, which for Sydney is not the King's Birthday on Monday 8 June."""
    with desk.stores.session() as session:
        dealers = {
            state: create_organization(
                session,
                name=f"{state} Motors",
                kind=OrganizationKind.DEALER,
                market="AU",
                subdivision=state,
            ).id
            for state in ("NSW", "WA")
        }
    customer = desk.customer(market="AU", family_name="Citizen")

    def first_answer_day(organization_id: uuid.UUID | None) -> date:
        body = {"customer_id": customer, "market": "AU", "subject": "brakes"}
        if organization_id is not None:
            body["organization_id"] = str(organization_id)
        case = open_case(desk, **body, opened_at="2026-06-05T17:00:00+10:00")
        return datetime.fromisoformat(case["response_due_at"]).astimezone(SYDNEY).date()

    friday = date(2026, 6, 5)
    nsw = first_working_day_after(holidays.country_holidays("AU", subdiv="NSW"), friday)
    wa = first_working_day_after(holidays.country_holidays("AU", subdiv="WA"), friday)
    assert nsw != wa
    assert first_answer_day(dealers["NSW"]) == nsw
    assert first_answer_day(dealers["WA"]) == wa
    assert first_answer_day(None) == wa, "the market works unless every state rests"


def test_a_case_for_an_unknown_organization_is_refused_and_nothing_is_stored(
    desk: Desk,
) -> None:
    nowhere = uuid.uuid4()
    body = {"customer_id": desk.customer(), "market": "CN", "subject": "x"}
    answer = desk.post("/api/cases", {**body, "organization_id": str(nowhere)})
    assert answer.status_code == 422
    assert answer.json()["detail"] == f"unknown organization {nowhere}"
    assert desk.count(Case) == 0
