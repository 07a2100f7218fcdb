"""The customer's one view at ``/customers/{id}``: every section from real data, scoped as
the API scopes it, the timeline a page at a time, and the agent's actions (reply, open and
move a case, confirm a phone number), each refused with the reason beside its field and
nothing stored."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_client import ConsoleBrowser, ConsoleDeployment, serve_console
from sqlalchemy import func, select

from regiocrm.crm.addresses import NewAddress
from regiocrm.crm.cases import NewCase
from regiocrm.crm.contracts import NewContract
from regiocrm.crm.customers import NewConsent, NewCustomer
from regiocrm.crm.timeline import Step, Timeline
from regiocrm.interfaces.calendars import Service
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.formats import Address
from regiocrm.interfaces.terms import ConsentAction, ContractKind, Direction, Priority
from regiocrm.models import (
    AuditEvent,
    Case,
    Identity,
    Interaction,
    Lead,
    OrganizationKind,
    Ownership,
    UserRole,
    Vehicle,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.cases import CaseService
from regiocrm.services.contracts import ContractService
from regiocrm.services.customers import CustomerService

LINE = LineDriver()
WEBHOOK = "http://testserver/webhooks/line/line_jp"
TARO = LINE.sender(7)
PHONE = "+81312345678"
REFUSAL = "You can't send messages to this user: the user has blocked the account"


class Provider:
    """LINE's Messaging API: accepting every message, or refusing each with LINE's reason
    once ``refusal`` is set."""

    def __init__(self) -> None:
        self.refusal: str | None = None
        self.pushed: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/push"):
            if self.refusal is not None:
                return httpx.Response(400, json={"message": self.refusal})
            self.pushed.append(json.loads(request.content))
        return LINE.provider_api(request)


@dataclass
class World:
    console: ConsoleDeployment
    app: Application
    provider: Provider
    callers: dict[str, Caller]

    def caller(self, name: str, role: UserRole, organization: uuid.UUID) -> Caller:
        caller = self.app.authenticate(self.console.user(name, role, organization))
        assert caller is not None
        self.callers[name] = caller
        return caller

    def signed_in(self, name: str) -> ConsoleBrowser:
        """A browser signed in as ``name`` that asks for English pages (a user in Japan
        would otherwise see their market's Japanese)."""
        browser = self.console.browser()
        browser.client.headers["accept-language"] = "en"
        assert browser.sign_in(name).status_code == 303
        return browser

    def line_message(self, text: str, message_id: str, sender: str = TARO) -> None:
        """A message from ``sender`` through the signed webhook, processed by the inbox."""
        signed = LINE.text_message(
            WEBHOOK, sender=sender, text=text, message_id=message_id, at=datetime.now(UTC)
        )
        assert signed.send(self.console.browser().client, WEBHOOK).status_code == 200
        self.app.inbox.drain()

    def count(self, model: Any, *where: Any) -> int:
        with self.app.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
def world(deployment_dir: Path, regiocrm_hooks: Hooks) -> Iterator[World]:
    settings = load_settings(regiocrm_hooks, channel_accounts={"line_jp": LINE.account_settings()})
    provider = Provider()
    client = httpx.Client(transport=httpx.MockTransport(provider))
    with serve_console(settings, regiocrm_hooks, http_client=client) as console:
        app: Application = console.app.state.services
        world = World(console, app, provider, {})
        call_centre = console.organization("Tokyo Call", OrganizationKind.CALL_CENTRE, "JP")
        world.caller("aiko", UserRole.CALL_CENTRE_AGENT, call_centre)
        yield world
    client.close()


def taro(world: World, *identities: IdentityRef) -> uuid.UUID:
    """Taro Yamada, registered by the agent with his LINE id, who then writes on LINE."""
    customer = CustomerService(world.app).create(
        world.callers["aiko"],
        NewCustomer(
            market="JP",
            family_name="山田",
            given_name="太郎",
            family_name_phonetic="ヤマダ",
            given_name_phonetic="タロウ",
            preferred_locale="ja",
        ),
        [IdentityRef("line", TARO), *identities],
    )
    world.line_message("車検の予約をしたいです", "m1")
    return customer.id


def consent(world: World, customer: uuid.UUID, purpose: str = "service", **kw: Any) -> None:
    CustomerService(world.app).record_consent(
        world.callers["aiko"], customer, NewConsent(purpose, **kw)
    )


def field_error(page: str, field: str) -> str:
    """The reason shown beside a field (or a case's buttons), which the controls marked
    invalid name as their description."""
    control = re.search(rf'<[^>]+(?:name="{field}"|aria-describedby="{field}-error")[^>]*>', page)
    assert control, f"no field {field}"
    assert 'aria-invalid="true"' in control.group(0)
    described = re.search(r'aria-describedby="([^"]+)"', control.group(0))
    assert described
    reason = re.search(rf'<p class="field-error" id="{described.group(1)}">([^<]*)</p>', page)
    assert reason, page
    return html.unescape(reason.group(1))


def outbound(world: World) -> list[Interaction]:
    with world.app.transaction() as session:
        rows = session.scalars(
            select(Interaction).where(Interaction.direction == Direction.OUTBOUND)
        ).all()
        session.expunge_all()
        return list(rows)


def test_every_section_is_shown_from_the_customers_records(world: World) -> None:
    customer = taro(world, IdentityRef("phone", PHONE))
    agent = world.callers["aiko"]
    consent(world, customer, channel="line")
    consent(world, customer, "marketing")
    consent(world, customer, "marketing", action=ConsentAction.WITHDRAW)
    late = CaseService(world.app).open(
        agent,
        NewCase(
            customer_id=customer,
            market="JP",
            priority=Priority.HIGH,
            subject="ブレーキの異音",
            opened_at=datetime.now(UTC) - timedelta(days=30),
            service=Service.CALL_CENTRE,
        ),
    )
    ContractService(world.app).create(
        agent,
        NewContract(
            customer_id=customer,
            market="JP",
            kind=ContractKind.LEASE,
            starts_on=date(2025, 4, 1),
            ends_on=date(2028, 3, 31),
            reference="L-2025-0042",
            amount=Decimal("3600000"),
            currency="JPY",
        ),
    )
    with world.app.transaction() as session:
        vehicle = Vehicle(market="JP", vin="JT2BF22K1W0123456", make="Toyota", model="Prius")
        session.add(vehicle)
        session.flush()
        session.add(
            Ownership(
                market="JP",
                vehicle_id=vehicle.id,
                customer_id=customer,
                started_on=date(2024, 5, 1),
            )
        )
        session.add(Lead(market="JP", customer_id=customer, vehicle_model="bZ4X"))

    page = world.signed_in("aiko").get(f"/customers/{customer}")

    assert page.status_code == 200
    text = page.text
    assert "<h1>山田 太郎（ヤマダ タロウ）</h1>" in text, "family name first, as Japan writes it"
    assert f'href="tel:{PHONE}"' in text
    assert TARO in text
    assert "ja</dd>" in text
    # Consents: the grant in force, and the marketing withdrawal over the older grant.
    consents = text.split('id="consents-heading"')[1].split("</table>")[0]
    assert consents.count("<tr") == 4
    assert "Withdrawn" in consents
    assert "(superseded)" in consents
    assert "JT2BF22K1W0123456" in text
    assert "Toyota Prius" in text
    assert "Lease" in text
    assert "L-2025-0042" in text
    assert "3,600,000" in text
    assert "bZ4X" in text
    cases = text.split('id="cases-heading"')[1].split("Open a case")[0]
    assert "ブレーキの異音" in cases
    assert "First answer due" in cases
    assert "Resolution due" in cases
    assert cases.count("Overdue") == 2, "both clocks of a month-old case have run out"
    assert late.due_at is not None
    assert f'datetime="{late.due_at.isoformat()}"' in cases
    timeline = text.split('id="timeline"')[1].split("</ol>")[0]
    assert "車検の予約をしたいです" in timeline
    assert "ブレーキの異音" in timeline, "the case's step is on the timeline"
    assert timeline.index("ブレーキの異音") < timeline.index("車検の予約"), "newest first"
    assert "Where they last wrote (LINE)" in text


def test_the_page_is_one_audited_read_naming_what_it_showed(world: World) -> None:
    customer = taro(world)
    case = CaseService(world.app).open(
        world.callers["aiko"],
        NewCase(customer_id=customer, market="JP", priority=Priority.NORMAL, subject="点検"),
    )
    before = world.count(AuditEvent)

    assert world.signed_in("aiko").get(f"/customers/{customer}").status_code == 200

    with world.app.transaction() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.actor_id == world.callers["aiko"].user_id)
        ).all()
        reads = [event for event in events if event.action == "customer.overview_read"]
        assert len(reads) == 1
        assert reads[0].subject_id == customer
        assert str(case.id) in reads[0].detail["cases"]
    # The sign-in and the one read.
    assert world.count(AuditEvent) - before <= 2


def test_another_dealers_customer_is_the_same_404_page_as_no_customer_at_all(
    world: World,
) -> None:
    mine = world.console.organization("Shibuya Motors", OrganizationKind.DEALER, "JP")
    theirs = world.console.organization("Osaka Motors", OrganizationKind.DEALER, "JP")
    world.caller("ken", UserRole.DEALER_STAFF, mine)
    osaka = world.caller("rin", UserRole.DEALER_STAFF, theirs)
    customer = CustomerService(world.app).create(
        osaka, NewCustomer(market="JP", family_name="佐藤", given_name="花子")
    )
    ken = world.signed_in("ken")

    random = uuid.uuid4()
    theirs_page = ken.get(f"/customers/{customer.id}")
    nobody = ken.get(f"/customers/{random}")

    assert theirs_page.status_code == nobody.status_code == 404
    # The same page but for the address it was asked at (the language form returns there).
    assert theirs_page.text.replace(str(customer.id), "?") == nobody.text.replace(str(random), "?")
    assert "佐藤" not in theirs_page.text
    assert ken.get("/customers/not-an-id").status_code == 404
    assert world.signed_in("rin").get(f"/customers/{customer.id}").status_code == 200


def test_a_record_merged_away_is_shown_at_its_survivors_address(world: World) -> None:
    agent = world.callers["aiko"]
    service = CustomerService(world.app)
    older = service.create(agent, NewCustomer(market="JP", family_name="鈴木"))
    newer = service.create(agent, NewCustomer(market="JP", family_name="鈴木"))
    service.merge(agent, older.id, newer.id, reason="same person, confirmed by phone")

    answer = world.signed_in("aiko").get(f"/customers/{newer.id}")

    assert answer.status_code == 307
    assert answer.headers["location"] == f"/customers/{older.id}"


def test_the_timeline_is_newest_first_and_loads_older_entries_with_or_without_htmx(
    world: World,
) -> None:
    customer = taro(world)
    with world.app.transaction() as session:
        timeline = Timeline(session)
        for number in range(60):
            timeline.step(
                Step(
                    market="JP",
                    customer_id=customer,
                    channel="crm",
                    touchpoint="desk",
                    summary=f"step {number:02}",
                    organization_id=None,
                )
            )
    browser = world.signed_in("aiko")

    first = browser.get(f"/customers/{customer}").text
    steps = re.findall(r"step (\d\d)", first)
    assert steps == [f"{n:02}" for n in range(59, 9, -1)]
    link = re.search(r'href="(/customers/[^"?]+\?before=[^"#]+)#timeline"', first)
    assert link, "a link to the older entries"
    older = link.group(1)

    whole = browser.get(older)
    assert whole.status_code == 200
    assert "<html" in whole.text
    assert re.findall(r"step (\d\d)", whole.text) == [f"{n:02}" for n in range(9, -1, -1)]
    assert "車検の予約" in whole.text, "the oldest entry, the message"
    assert "Load older entries" not in whole.text

    fragment = browser.get(older, **{"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fragment.text.lstrip().startswith("<li")
    assert re.findall(r"step (\d\d)", fragment.text) == [f"{n:02}" for n in range(9, -1, -1)]

    assert browser.get(f"/customers/{customer}?before=bogus").status_code == 404


def test_a_reply_goes_out_where_the_customer_last_wrote_and_is_on_the_timeline(
    world: World,
) -> None:
    customer = taro(world)
    consent(world, customer, channel="line")
    browser = world.signed_in("aiko")

    answer = browser.post_form(
        f"/customers/{customer}/reply", {"text": "ご予約を承りました", "channel": ""}
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/customers/{customer}?done=replied"
    [pushed] = world.provider.pushed
    assert pushed["to"] == TARO
    assert pushed["messages"][0]["text"] == "ご予約を承りました"
    page = browser.get(answer.headers["location"]).text
    assert "Your reply was sent." in page
    timeline = page.split('id="timeline"')[1]
    assert timeline.index("ご予約を承りました") < timeline.index("車検の予約をしたいです")


def test_a_reply_without_consent_is_refused_beside_the_channel_and_nothing_is_sent(
    world: World,
) -> None:
    customer = taro(world)
    browser = world.signed_in("aiko")

    answer = browser.post_form(f"/customers/{customer}/reply", {"text": "お知らせ", "channel": ""})

    assert answer.status_code == 422
    assert "has not agreed to service messages on line" in field_error(answer.text, "channel")
    assert ">お知らせ</textarea>" in answer.text, "what the agent wrote is kept"
    assert world.provider.pushed == []
    assert outbound(world) == []


def test_an_empty_reply_is_refused_beside_the_message(world: World) -> None:
    customer = taro(world)
    consent(world, customer, channel="line")

    answer = world.signed_in("aiko").post_form(
        f"/customers/{customer}/reply", {"text": "   ", "channel": "line"}
    )

    assert answer.status_code == 422
    assert field_error(answer.text, "text") == "Write the message first."
    assert world.provider.pushed == []
    assert outbound(world) == []


def test_a_reply_the_provider_refuses_shows_its_reason_and_stays_on_the_timeline_as_failed(
    world: World,
) -> None:
    customer = taro(world)
    consent(world, customer, channel="line")
    world.provider.refusal = REFUSAL
    browser = world.signed_in("aiko")

    answer = browser.post_form(f"/customers/{customer}/reply", {"text": "届きますか"})

    assert answer.status_code == 502
    assert REFUSAL in field_error(answer.text, "text")
    [failed] = outbound(world)
    assert failed.text == "届きますか"
    assert failed.external_id is None
    assert failed.failure is not None
    assert REFUSAL in failed.failure
    page = browser.get(f"/customers/{customer}").text
    entry = html.unescape(page.split('class="entry outbound failed"')[1].split("</li>")[0])
    assert "Not delivered" in entry
    assert ">Sent<" not in entry
    assert "届きますか" in entry
    assert REFUSAL in entry


def test_a_case_is_opened_and_offers_only_the_steps_its_state_allows(world: World) -> None:
    customer = taro(world)
    browser = world.signed_in("aiko")

    opened = browser.post_form(
        f"/customers/{customer}/cases",
        {"subject": "エアコンが効かない", "priority": "urgent", "service": "call_centre"},
    )

    assert opened.status_code == 303
    with world.app.transaction() as session:
        [case] = session.scalars(select(Case)).all()
        assert (case.subject, case.priority.value, case.service) == (
            "エアコンが効かない",
            "urgent",
            "call_centre",
        )
        case_id = case.id
    page = browser.get(opened.headers["location"]).text
    assert "The case was opened." in page
    offered = re.findall(
        rf'action="/customers/{customer}/cases/{case_id}"|value="(\w+)">Move', page
    )
    assert [step for step in offered if step] == ["assigned", "in_progress"]

    moved = browser.post_form(f"/customers/{customer}/cases/{case_id}", {"to": "in_progress"})
    assert moved.status_code == 303
    page = browser.get(moved.headers["location"]).text
    offered = re.findall(r'value="(\w+)">Move', page)
    assert offered == ["waiting_customer", "resolved"]

    refused = browser.post_form(f"/customers/{customer}/cases/{case_id}", {"to": "closed"})
    assert refused.status_code == 409
    assert "cannot become closed" in field_error(refused.text, f"case-{case_id}")
    with world.app.transaction() as session:
        assert session.get_one(Case, case_id).status.value == "in_progress"


def test_a_case_with_bad_input_is_refused_beside_each_field_and_not_opened(
    world: World,
) -> None:
    customer = taro(world)

    answer = world.signed_in("aiko").post_form(
        f"/customers/{customer}/cases", {"subject": " ", "priority": "soon", "service": "office"}
    )

    assert answer.status_code == 422
    assert field_error(answer.text, "subject") == "Say what the case is about."
    assert field_error(answer.text, "priority") == "Choose a priority."
    assert world.count(Case) == 0


def test_another_customers_case_cannot_be_moved_from_this_page(world: World) -> None:
    customer = taro(world)
    other = CustomerService(world.app).create(world.callers["aiko"], NewCustomer(market="JP"))
    case = CaseService(world.app).open(
        world.callers["aiko"],
        NewCase(customer_id=other.id, market="JP", priority=Priority.LOW, subject="x"),
    )

    answer = world.signed_in("aiko").post_form(
        f"/customers/{customer}/cases/{case.id}", {"to": "in_progress"}
    )

    assert answer.status_code == 404
    with world.app.transaction() as session:
        assert session.get_one(Case, case.id).status.value == "new"


def test_confirming_a_phone_number_merges_the_record_that_holds_it(world: World) -> None:
    customer = taro(world)
    caller = world.callers["aiko"]
    other = CustomerService(world.app).create(
        caller, NewCustomer(market="JP", family_name="山田"), [IdentityRef("phone", PHONE)]
    )
    browser = world.signed_in("aiko")

    answer = browser.post_form(f"/customers/{customer}/phone", {"phone": "03-1234-5678"})

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/customers/{customer}?done=phone_confirmed"
    page = browser.get(answer.headers["location"]).text
    assert f'href="tel:{PHONE}"' in page
    assert "Confirmed" in page
    assert browser.get(f"/customers/{other.id}").headers["location"] == f"/customers/{customer}"


def test_a_phone_of_a_customer_the_dealer_does_not_see_is_refused_naming_no_one(
    world: World,
) -> None:
    mine = world.console.organization("Shibuya Motors", OrganizationKind.DEALER, "JP")
    theirs = world.console.organization("Osaka Motors", OrganizationKind.DEALER, "JP")
    ken = world.caller("ken", UserRole.DEALER_STAFF, mine)
    rin = world.caller("rin", UserRole.DEALER_STAFF, theirs)
    service = CustomerService(world.app)
    customer = service.create(ken, NewCustomer(market="JP", family_name="田中"))
    hidden = service.create(
        rin, NewCustomer(market="JP", family_name="佐藤"), [IdentityRef("phone", PHONE)]
    )

    answer = world.signed_in("ken").post_form(f"/customers/{customer.id}/phone", {"phone": PHONE})

    assert answer.status_code == 409
    assert "belongs to a customer you may not see" in field_error(answer.text, "phone")
    assert str(hidden.id) not in answer.text
    assert "佐藤" not in answer.text
    assert world.count(Identity, Identity.customer_id == customer.id) == 0


def test_a_number_that_is_no_phone_number_is_refused_beside_the_field(world: World) -> None:
    customer = taro(world)

    answer = world.signed_in("aiko").post_form(f"/customers/{customer}/phone", {"phone": "12"})

    assert answer.status_code == 422
    assert "'12'" in field_error(answer.text, "phone")
    assert 'value="12"' in answer.text
    assert world.count(Identity, Identity.kind == "phone") == 0


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("reply", {"text": "hi"}),
        ("cases", {"subject": "x", "priority": "low", "service": "office"}),
        ("phone", {"phone": PHONE}),
    ],
)
def test_every_form_needs_the_sessions_csrf_token(
    world: World, path: str, data: dict[str, str]
) -> None:
    customer = taro(world)
    consent(world, customer, channel="line")
    browser = world.signed_in("aiko")

    answer = browser.client.post(f"/customers/{customer}/{path}", data=data)

    assert answer.status_code == 403
    assert world.provider.pushed == []
    assert world.count(Case) == 0
    assert world.count(Identity, Identity.kind == "phone") == 0


def test_the_page_uses_what_fits_a_phone_and_runs_no_inline_code(world: World) -> None:
    customer = taro(world, IdentityRef("phone", PHONE))
    consent(world, customer, channel="line")

    page = world.signed_in("aiko").get(f"/customers/{customer}").text

    assert ' style="' not in page
    assert "<script>" not in page
    assert "hx-on" not in page
    assert page.count("<h1") == 1
    assert 'class="stack"' in page
    assert 'class="cards"' in page
    cells = re.findall(r"<td[^>]*>", page)
    assert cells
    assert all("data-label=" in cell for cell in cells)
    assert all('scope="col"' in th for th in re.findall(r"<th[ >][^>]*>", page))
    for control in re.findall(r'<(?:input|select|textarea) [^>]*id="([^"]+)"', page):
        assert f'<label for="{control}">' in page, control
    assert 'role="status"' in page
    assert 'aria-live="polite"' in page


def test_the_address_is_written_in_the_markets_script_or_in_latin_for_another_reader(
    world: World,
) -> None:
    """As Google's data writes it: in Japanese for a reader of Japanese, in latin script
    for one who reads English."""
    customer = taro(world)
    tokyo = Address(region="東京都", street="千代田区丸の内1-9-1", postal_code="100-0005")
    CustomerService(world.app).replace_addresses(
        world.callers["aiko"], customer, [NewAddress(tokyo)]
    )
    english = world.signed_in("aiko").get(f"/customers/{customer}").text
    shown = english.split('id="addresses-heading"')[1].split("</address>")[0]
    assert "千代田区丸の内1-9-1, TOKYO<br>100-0005<br>JAPAN" in shown
    japanese = world.signed_in("aiko")
    japanese.client.headers["accept-language"] = "ja"
    shown = japanese.get(f"/customers/{customer}").text.split('id="addresses-heading"')[1]
    assert "〒100-0005<br>東京都<br>千代田区丸の内1-9-1<br>JAPAN" in shown.split("</address>")[0]
