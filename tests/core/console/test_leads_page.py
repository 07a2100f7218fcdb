"""The dealers' leads in the console: the work list (overdue first, tap-to-call, the channel
at hand), each step of a lead through its page with what the service records of it, bad
input kept beside its field with nothing stored, CSRF, and one dealer never seeing
another's leads."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from console_client import ConsoleBrowser, ConsoleDeployment
from dealer_world import DealerWorld, dealer_world
from sqlalchemy import select

from regiocrm.models import Contract, Ownership, UserRole, Vehicle
from regiocrm.services.customers import CustomerService

VIN = "LSVAU2180N2183456"


@pytest.fixture
def world(console: ConsoleDeployment) -> DealerWorld:
    return dealer_world(console)


def signed_in(world: DealerWorld, name: str = "zhou") -> ConsoleBrowser:
    """A browser signed in as ``name``, asking for English (their market's is Chinese)."""
    browser = world.console.browser()
    browser.client.headers["Accept-Language"] = "en"
    assert browser.sign_in(name).status_code == 303
    return browser


def order_on(page: str) -> list[uuid.UUID]:
    """The leads of a work list, in the order shown."""
    return [uuid.UUID(found) for found in re.findall(r'id="lead-([0-9a-f-]{36})"', page)]


def card(page: str, lead: uuid.UUID) -> str:
    """The part of a work list showing one lead."""
    start = page.index(f'id="lead-{lead}"')
    end = page.find("</li>", start)
    return page[start:end]


def test_the_work_list_shows_the_overdue_first_then_the_follow_up_due_soonest(
    world: DealerWorld,
) -> None:
    wang = world.customer(world.zhou, "芳", phone="13800138000", wechat="o6_bmjrPTlm6")
    later = world.lead(world.pudong, wang, due_in=timedelta(days=2))
    closed = world.lead(world.pudong, wang, due_in=None, status="lost")
    late = world.lead(world.pudong, wang, due_in=timedelta(hours=-1))
    soon = world.lead(world.pudong, wang, due_in=timedelta(hours=1))
    latest = world.lead(world.pudong, None, due_in=timedelta(days=-2), source=None)
    page = signed_in(world).get("/leads")
    assert page.status_code == 200
    assert order_on(page.text) == [latest, late, soon, later, closed]
    for overdue in (latest, late):
        assert 'class="badge overdue"' in card(page.text, overdue)
    for in_time in (soon, later, closed):
        assert 'class="badge overdue"' not in card(page.text, in_time)
    first = card(page.text, late)
    assert 'href="tel:+8613800138000"' in first
    assert "Came from WeChat" in first
    assert f'href="/customers/{wang}"' in first
    assert f'href="/leads/{late}"' in first
    assert "<time datetime=" in first
    assert "Lead without a customer" in card(page.text, latest)


def test_the_work_list_filters_by_status_and_refuses_one_it_does_not_know(
    world: DealerWorld,
) -> None:
    new = world.lead(world.pudong, None)
    lost = world.lead(world.pudong, None, due_in=None, status="lost")
    browser = signed_in(world)
    assert order_on(browser.get("/leads?status=lost").text) == [lost]
    assert order_on(browser.get("/leads?status=new").text) == [new]
    refused = browser.get("/leads?status=sold")
    assert refused.status_code == 422
    assert 'aria-invalid="true" aria-describedby="status-error"' in refused.text
    assert '<p class="field-error" id="status-error">Choose a status from the list.</p>' in (
        refused.text
    )
    assert order_on(refused.text) == []


def test_a_dealer_never_sees_another_dealers_leads_nor_moves_them(world: DealerWorld) -> None:
    mine = world.lead(world.pudong, world.customer(world.zhou, "芳"))
    theirs = world.lead(world.minhang, world.customer(world.wu, "伟"))
    browser = signed_in(world)
    assert order_on(browser.get("/leads").text) == [mine]
    before = world.stored()
    for path in (f"/leads/{theirs}", f"/leads/{uuid.uuid4()}", "/leads/not-an-id"):
        answer = browser.get(path)
        assert answer.status_code == 404
        assert "Not found" in answer.text
    moved = browser.post_form(f"/leads/{theirs}/status", {"to": "contacted"})
    sold = browser.post_form(
        f"/leads/{theirs}/sale", {"vin": VIN, "price": "1", "started_on": "2026-01-05"}
    )
    assert (moved.status_code, sold.status_code) == (404, 404)
    assert world.stored() == before
    assert world.lead_row(theirs).status.value == "new"
    assert "lead.read" not in world.actions(world.zhou)[-1:]


def test_a_lead_goes_from_new_to_won_through_its_page_each_step_audited_and_on_the_timeline(
    world: DealerWorld,
) -> None:
    wang = world.customer(world.zhou, "芳", phone="13800138000")
    lead = world.lead(world.pudong, wang)
    browser = signed_in(world)
    page = browser.get(f"/leads/{lead}")
    assert page.status_code == 200
    assert "Mark as contacted" in page.text
    assert "Mark as qualified" not in page.text
    assert f'action="/leads/{lead}/sale"' not in page.text
    assert 'href="tel:+8613800138000"' in page.text

    steps = (("contacted", "Mark as qualified"), ("qualified", "Record the sale"))
    for step, offered_next in steps:
        answer = browser.post_form(f"/leads/{lead}/status", {"to": step})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/leads/{lead}"
        assert world.lead_row(lead).status.value == step
        assert offered_next in browser.get(f"/leads/{lead}").text

    today = date.today() - timedelta(days=1)
    sold = browser.post_form(
        f"/leads/{lead}/sale",
        {
            "vin": VIN.lower(),
            "model": "Tourer 2.0",
            "price": "189,000.50",
            "started_on": str(today),
        },
    )
    assert sold.status_code == 303, sold.text
    row = world.lead_row(lead)
    assert row.status.value == "won"
    assert row.follow_up_due_at is None
    with world.console.stores.session() as session:
        ownership = session.get_one(Ownership, row.ownership_id)
        vehicle = session.get_one(Vehicle, ownership.vehicle_id)
        contract = session.scalars(select(Contract)).one()
    assert (ownership.customer_id, ownership.dealer_id, ownership.started_on) == (
        wang,
        world.pudong,
        today,
    )
    assert (vehicle.vin, vehicle.model) == (VIN, "Tourer 2.0")
    assert (contract.kind.value, contract.status.value) == ("sales", "active")
    assert (contract.amount, contract.currency, contract.vehicle_id) == (
        Decimal("189000.50"),
        "CNY",
        vehicle.id,
    )
    assert contract.organization_id == world.pudong

    actions = world.actions(world.zhou)
    for action in ("lead.contacted", "lead.qualified", "contract.created", "lead.won"):
        assert action in actions
    timeline = CustomerService(world.application).timeline(world.zhou, wang, after=None, limit=50)
    summaries = [entry.summary for entry in timeline.items]
    assert "lead new → contacted" in summaries
    assert "lead contacted → qualified" in summaries
    assert f"lead qualified → won: sold {VIN}" in summaries
    closed = browser.get(f"/leads/{lead}")
    assert "This lead is closed." in closed.text
    assert '<form method="post" action="/leads/' not in closed.text


def test_a_lost_lead_keeps_its_reason_and_a_blank_one_is_refused_beside_the_field(
    world: DealerWorld,
) -> None:
    wang = world.customer(world.zhou, "芳")
    lead = world.lead(world.pudong, wang)
    browser = signed_in(world)
    before = world.stored()
    refused = browser.post_form(f"/leads/{lead}/status", {"to": "lost", "reason": "   "})
    assert refused.status_code == 422
    assert 'id="lost-reason" name="reason" required maxlength="500" aria-invalid="true"' in (
        refused.text
    )
    assert 'aria-describedby="lost-reason-error"' in refused.text
    assert re.search(
        r'<p class="field-error" id="lost-reason-error">a lost lead needs the reason', refused.text
    )
    assert world.stored() == before
    assert world.lead_row(lead).status.value == "new"

    lost = browser.post_form(f"/leads/{lead}/status", {"to": "lost", "reason": "bought a rival's"})
    assert lost.status_code == 303
    row = world.lead_row(lead)
    assert (row.status.value, row.lost_reason) == ("lost", "bought a rival's")
    page = browser.get(f"/leads/{lead}").text
    assert "bought a rival&#39;s" in page
    assert "lead.lost" in world.actions(world.zhou)


@pytest.mark.parametrize(
    ("typed", "field", "reason"),
    [
        ({"price": ""}, "price", "Enter the price the customer paid."),
        ({"price": "lots"}, "price", "Enter the price as a number"),
        ({"price": "189000.505"}, "price", "189000.505 is finer than the smallest unit of CNY"),
        ({"price": "0"}, "price", "a sale&#39;s price is more than zero"),
        ({"price": "-5"}, "price", "a sale&#39;s price is more than zero"),
        ({"started_on": "next week"}, "started_on", "Enter the day of the sale as a date"),
        ({"started_on": "2999-01-01"}, "started_on", "the sale cannot be dated after today"),
        ({"vin": "LSVAU2180N218345O"}, "vin", "is not a VIN"),
    ],
)
def test_a_sale_with_bad_input_is_refused_beside_its_field_kept_as_typed_and_stores_nothing(
    world: DealerWorld, typed: dict[str, str], field: str, reason: str
) -> None:
    lead = world.lead(world.pudong, world.customer(world.zhou, "芳"), status="qualified")
    browser = signed_in(world)
    before = world.stored()
    form = {"vin": VIN, "model": "Tourer", "price": "189000", "started_on": "2026-01-05", **typed}
    refused = browser.post_form(f"/leads/{lead}/sale", form)
    assert refused.status_code == 422
    assert re.search(
        rf'<p class="field-error" id="won-{field}-error">[^<]*{re.escape(reason)}', refused.text
    ), refused.text
    assert f'aria-invalid="true" aria-describedby="won-{field}-error"' in refused.text
    for name, value in form.items():
        assert f'name="{name}"' in refused.text
        assert f'value="{value}"' in refused.text
    assert world.stored() == before
    assert world.lead_row(lead).status.value == "qualified"


def test_a_step_the_lead_cannot_take_is_refused_and_not_offered(world: DealerWorld) -> None:
    lead = world.lead(world.pudong, world.customer(world.zhou, "芳"))
    browser = signed_in(world)
    before = world.stored()
    skipped = browser.post_form(f"/leads/{lead}/status", {"to": "qualified"})
    assert skipped.status_code == 422
    assert "a new lead cannot become qualified: it may become contacted, lost" in skipped.text
    early_sale = browser.post_form(
        f"/leads/{lead}/sale", {"vin": VIN, "price": "1000", "started_on": "2026-01-05"}
    )
    assert early_sale.status_code == 422
    assert "a new lead cannot become won" in early_sale.text
    made_up = browser.post_form(f"/leads/{lead}/status", {"to": "won"})
    assert made_up.status_code == 422
    assert "Choose one of the steps offered." in made_up.text
    assert world.stored() == before
    assert world.lead_row(lead).status.value == "new"


def test_a_step_posted_without_the_sessions_csrf_token_does_nothing(world: DealerWorld) -> None:
    lead = world.lead(world.pudong, world.customer(world.zhou, "芳"))
    browser = signed_in(world)
    before = world.stored()
    for token in ("", "forged"):
        answer = browser.client.post(
            f"/leads/{lead}/status", data={"to": "contacted", "csrf_token": token}
        )
        assert answer.status_code == 403
    assert world.stored() == before
    assert world.lead_row(lead).status.value == "new"


def test_a_refusal_is_worded_in_the_readers_language(world: DealerWorld) -> None:
    lead = world.lead(world.pudong, world.customer(world.zhou, "芳"))
    browser = signed_in(world)
    refused = browser.post_form(
        f"/leads/{lead}/status", {"to": "lost", "reason": ""}, **{"Accept-Language": "ja"}
    )
    assert refused.status_code == 422
    assert '<html lang="ja">' in refused.text
    assert "a lost lead needs the reason" not in refused.text
    assert re.search(r'id="lost-reason-error">[^<a-z]+</p>', refused.text), refused.text


def test_the_leads_pages_need_a_session_and_a_role_that_reads_customers(
    world: DealerWorld,
) -> None:
    lead = world.lead(world.pudong, None)
    anonymous = world.console.browser().get("/leads")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=%2Fleads"
    brand = world.console.organization("Audit Partners")
    world.console.user("audrey", UserRole.PARTNER_AUDITOR, brand)
    auditor = signed_in(world, "audrey")
    for path in ("/leads", f"/leads/{lead}"):
        answer = auditor.get(path)
        assert answer.status_code == 403
        assert "Your role does not give you this page." in answer.text
