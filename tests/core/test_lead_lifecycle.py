"""A lead's life after routing: follow-up due times on the market's calendar, the steps it
may take, and conversion into the sale of a vehicle, safe to send twice."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from desk import Desk
from pydantic import ValidationError
from sqlalchemy import select

from regiocrm.crm.accounts import create_organization
from regiocrm.crm.lead_lifecycle import follow_up_due
from regiocrm.interfaces.maps import Point
from regiocrm.interfaces.packs import PackSpec
from regiocrm.models import (
    AuditEvent,
    Interaction,
    Lead,
    LeadStatus,
    OrganizationKind,
    Ownership,
    Vehicle,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks

SHANGHAI = ZoneInfo("Asia/Shanghai")
PUDONG = Point(31.2090, 121.5960)
VIN = "LSVAU2180N2183456"


@pytest.fixture
def dealer(desk: Desk) -> str:
    with desk.stores.session() as session:
        pudong = create_organization(
            session,
            name="Pudong Motors",
            kind=OrganizationKind.DEALER,
            market="CN",
            location=PUDONG,
        )
        return str(pudong.id)


def new_lead(desk: Desk, **values: Any) -> dict[str, Any]:
    body = {"market": "CN", "lat": 31.2035, "lon": 121.5907, "vehicle_model": "Tourer", **values}
    answer = desk.post("/api/leads", body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def step(desk: Desk, lead: dict[str, Any], to: str, **values: Any) -> Any:
    return desk.post(f"/api/leads/{lead['id']}/transition", {"to": to, **values})


def convert(desk: Desk, lead: dict[str, Any], **values: Any) -> Any:
    return desk.post(f"/api/leads/{lead['id']}/convert", {"vin": VIN, **values})


def stored(desk: Desk) -> tuple[int, ...]:
    return tuple(desk.count(model) for model in (Interaction, AuditEvent, Ownership, Vehicle))


def test_a_lead_in_on_the_eve_of_national_day_is_followed_up_after_it(
    regiocrm_hooks: Hooks,
) -> None:
    """In at 17:00 on 30 September 2026; the dealer has 4 business hours to call: one that
    evening, three from 9:00 on 8 October, after the holidays."""
    lead = Lead(market="CN", status=LeadStatus.NEW, dealer_id=uuid.uuid4())
    eve = datetime(2026, 9, 30, 17, 0, tzinfo=SHANGHAI)
    due = follow_up_due(regiocrm_hooks, lead, eve, subdivision=None)
    assert due is not None
    assert due.astimezone(SHANGHAI) == datetime(2026, 10, 8, 12, 0, tzinfo=SHANGHAI)
    lead.status = LeadStatus.CONTACTED
    qualified_by = follow_up_due(regiocrm_hooks, lead, eve, subdivision=None)
    assert qualified_by is not None
    assert qualified_by > due


def test_a_lead_without_a_dealer_or_closed_has_nothing_due(regiocrm_hooks: Hooks) -> None:
    now = utcnow()
    unrouted = Lead(market="CN", status=LeadStatus.NEW)
    assert follow_up_due(regiocrm_hooks, unrouted, now, subdivision=None) is None
    lost = Lead(market="CN", status=LeadStatus.LOST, dealer_id=uuid.uuid4())
    assert follow_up_due(regiocrm_hooks, lost, now, subdivision=None) is None


def test_a_lead_goes_from_new_to_a_sale_on_the_customers_timeline(desk: Desk, dealer: str) -> None:
    customer = desk.customer()
    lead = new_lead(desk, customer_id=customer)
    assert lead["dealer"]["id"] == dealer
    first_due = datetime.fromisoformat(lead["follow_up_due_at"])
    assert first_due > utcnow()
    assert step(desk, lead, "contacted").status_code == 200
    qualified = step(desk, lead, "qualified").json()
    assert datetime.fromisoformat(qualified["follow_up_due_at"]) > first_due
    won = convert(desk, lead, started_on="2026-12-01", model_year=2026)
    assert won.status_code == 200, won.text
    assert (won.json()["status"], won.json()["follow_up_due_at"]) == ("won", None)
    with desk.stores.session() as session:
        sale = session.get_one(Ownership, uuid.UUID(won.json()["ownership_id"]))
        car = session.get_one(Vehicle, sale.vehicle_id)
        timeline = session.scalars(
            select(Interaction.summary)
            .where(Interaction.customer_id == uuid.UUID(customer), Interaction.channel == "lead")
            .order_by(Interaction.occurred_at, Interaction.id)
        ).all()
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_id == uuid.UUID(lead["id"]))
        ).all()
    assert (str(sale.customer_id), str(sale.dealer_id), str(sale.started_on)) == (
        customer,
        dealer,
        "2026-12-01",
    )
    assert sale.ended_on is None
    assert (car.vin, car.model, car.model_year, car.market) == (VIN, "Tourer", 2026, "CN")
    assert timeline == [
        "lead new → contacted",
        "lead contacted → qualified",
        f"lead qualified → won: sold {VIN}",
    ]
    assert sorted(actions) == ["lead.contacted", "lead.qualified", "lead.won"]


def test_sending_the_same_sale_twice_sells_once(desk: Desk, dealer: str) -> None:
    lead = new_lead(desk, customer_id=desk.customer())
    step(desk, lead, "contacted")
    step(desk, lead, "qualified")
    first = convert(desk, lead).json()
    before = stored(desk)
    again = convert(desk, lead, vin=VIN.lower())
    assert again.status_code == 200
    assert again.json() == first
    assert stored(desk) == before
    other = convert(desk, lead, vin="LSVAU2180N2199999")
    assert other.status_code == 409
    assert VIN in other.json()["detail"]
    assert stored(desk) == before


@pytest.mark.parametrize(
    ("before", "to", "values", "reason"),
    [
        ([], "qualified", {}, "a new lead cannot become qualified: it may become contacted, lost"),
        ([], "won", {}, "a new lead cannot become won"),
        (["contacted", "qualified"], "won", {}, "a lead is won by converting it"),
        (["contacted"], "lost", {"reason": "  "}, "a lost lead needs the reason"),
        (["contacted"], "new", {}, "a contacted lead cannot become new"),
    ],
)
def test_a_step_a_lead_cannot_take_is_refused_and_nothing_is_stored(
    desk: Desk, dealer: str, before: list[str], to: str, values: dict[str, str], reason: str
) -> None:
    lead = new_lead(desk, customer_id=desk.customer())
    for earlier in before:
        assert step(desk, lead, earlier).status_code == 200
    counts = stored(desk)
    answer = step(desk, lead, to, **values)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(reason)
    assert stored(desk) == counts
    assert desk.get(f"/api/leads/{lead['id']}").json()["status"] == (before or ["new"])[-1]


def test_a_lost_lead_keeps_its_reason_and_takes_no_further_step(desk: Desk, dealer: str) -> None:
    lead = new_lead(desk)
    lost = step(desk, lead, "lost", reason="bought a competitor's car").json()
    assert (lost["status"], lost["lost_reason"], lost["follow_up_due_at"]) == (
        "lost",
        "bought a competitor's car",
        None,
    )
    refused = step(desk, lead, "contacted")
    assert refused.status_code == 400
    assert "it may become nothing: it is closed" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("values", "code", "reason"),
    [
        ({"vin": "LSVAU2180N21834O6"}, 400, "is not a VIN"),
        ({"vin": "LSVAU2180"}, 400, "is not a VIN"),
        ({}, 400, "the lead has no customer"),
        ({"customer_id": str(uuid.UUID(int=7))}, 422, "no customer"),
    ],
)
def test_a_bad_sale_is_refused_and_nothing_is_stored(
    desk: Desk, dealer: str, values: dict[str, str], code: int, reason: str
) -> None:
    lead = new_lead(desk)
    step(desk, lead, "contacted")
    step(desk, lead, "qualified")
    counts = stored(desk)
    answer = convert(desk, lead, **values)
    assert answer.status_code == code, answer.text
    assert reason in answer.json()["detail"]
    assert stored(desk) == counts
    assert desk.get(f"/api/leads/{lead['id']}").json()["status"] == "qualified"


def test_a_lead_without_a_customer_is_sold_to_the_buyer_named(desk: Desk, dealer: str) -> None:
    lead = new_lead(desk)
    step(desk, lead, "contacted")
    step(desk, lead, "qualified")
    buyer = desk.customer()
    won = convert(desk, lead, customer_id=buyer).json()
    assert (won["status"], won["customer_id"]) == ("won", buyer)


def test_a_lead_cannot_be_converted_before_it_is_qualified(desk: Desk, dealer: str) -> None:
    lead = new_lead(desk, customer_id=desk.customer())
    answer = convert(desk, lead)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("a new lead cannot become won")


def test_a_vehicle_someone_owns_cannot_be_sold_again(desk: Desk, dealer: str) -> None:
    first, second = (new_lead(desk, customer_id=desk.customer()) for _ in range(2))
    for lead in (first, second):
        step(desk, lead, "contacted")
        step(desk, lead, "qualified")
    assert convert(desk, first).status_code == 200
    counts = stored(desk)
    answer = convert(desk, second)
    assert answer.status_code == 409
    assert (
        answer.json()["detail"]
        == f"vehicle {VIN} is owned: its ownership must end before it is sold"
    )
    assert stored(desk) == counts


def test_overdue_leads_are_the_open_ones_past_their_follow_up(desk: Desk, dealer: str) -> None:
    late, on_time, lost = (new_lead(desk) for _ in range(3))
    step(desk, lost, "lost", reason="wrong number")
    with desk.stores.session() as session:
        for lead in (late, lost):
            session.get_one(Lead, uuid.UUID(lead["id"])).follow_up_due_at = utcnow() - timedelta(
                hours=1
            )
        session.commit()
    listed = desk.get("/api/leads", overdue="true", dealer_id=dealer).json()["items"]
    assert [item["id"] for item in listed] == [late["id"]]
    everything = desk.get("/api/leads", dealer_id=dealer).json()["items"]
    assert {item["id"] for item in everything} == {late["id"], on_time["id"], lost["id"]}
    assert [item["id"] for item in desk.get("/api/leads", status="lost").json()["items"]] == [
        lost["id"]
    ]


@pytest.mark.parametrize(
    ("hours", "reason"),
    [
        ({"won": 4}, "a won lead has no next step to follow up"),
        ({"new": 0}, "the follow-up of a new lead needs hours above 0"),
    ],
)
def test_a_pack_sets_follow_up_hours_above_zero_for_open_leads(
    hours: dict[str, float], reason: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        PackSpec(code="base", name="Base", lead_follow_up_hours=hours)
    assert reason in str(refused.value)


SYDNEY = ZoneInfo("Australia/Sydney")
# 17:00 on Friday 5 June 2026 in Sydney; Monday is the King's Birthday in New South Wales
# but not in Western Australia.
FRIDAY_EVENING = datetime(2026, 6, 5, 17, 0, tzinfo=SYDNEY)


def working_day_after(state: str, n: int) -> date:
    """The reference: the ``n``th day after that Friday the holidays library says the
    state works."""
    calendar = holidays.country_holidays("AU", subdiv=state)
    day = FRIDAY_EVENING.date()
    while n:
        day += timedelta(days=1)
        n -= calendar.is_working_day(day)
    return day


def test_a_leads_follow_up_keeps_the_public_holidays_of_its_dealers_state(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lead near Sydney goes to the Sydney dealer, one near Perth to the Perth dealer; each
    has 4 business hours for the first call (one that evening, three the next working day)
    and 24 once contacted (one, nine, nine, then five on the third working day)."""
    with desk.stores.session() as session:
        for name, state, point in (
            ("Parramatta Motors", "NSW", Point(-33.8150, 151.0011)),
            ("Perth Motors", "WA", Point(-31.9523, 115.8613)),
        ):
            create_organization(
                session,
                name=name,
                kind=OrganizationKind.DEALER,
                market="AU",
                location=point,
                subdivision=state,
            )
    now = FRIDAY_EVENING.astimezone(UTC)
    monkeypatch.setattr("regiocrm.crm.leads.utcnow", lambda: now)
    monkeypatch.setattr("regiocrm.crm.lead_lifecycle.utcnow", lambda: now)

    def due_day(lead: dict[str, Any]) -> date:
        return datetime.fromisoformat(lead["follow_up_due_at"]).astimezone(SYDNEY).date()

    for lat, lon, state in ((-33.87, 151.21, "NSW"), (-31.95, 115.86, "WA")):
        lead = new_lead(desk, market="AU", lat=lat, lon=lon)
        assert lead["dealer"]["subdivision"] == state
        assert due_day(lead) == working_day_after(state, 1), state
        contacted = step(desk, lead, "contacted").json()
        assert due_day(contacted) == working_day_after(state, 3), state
    assert working_day_after("NSW", 1) != working_day_after("WA", 1)
