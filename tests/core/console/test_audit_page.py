"""The audit trail page: filtered, paged, masked exactly as the API masks it, exported as a
spreadsheet, and refused (with the reason, nothing recorded) to who may not read it."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from console_client import ConsoleBrowser, ConsoleDeployment
from sqlalchemy import select

from regiocrm.console.audit import BOM, PAGE_SIZE
from regiocrm.crm import audit
from regiocrm.crm.audit import CSV_COLUMNS, MASKED
from regiocrm.models import AuditEvent, Organization, OrganizationKind, User, UserRole

PHONE = "+8613800138000"
# Two moments either side of midnight in Shanghai (UTC+8) on 1 March 2026.
LATE_EVENING = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)


@dataclass
class World:
    """A dealer whose people did things, a dealer in Japan, an auditor, an admin, and two
    roles that do not audit."""

    console: ConsoleDeployment
    orgs: dict[str, uuid.UUID]
    tokens: dict[str, str]

    def browser(self, name: str) -> ConsoleBrowser:
        browser = self.console.browser()
        browser.client.headers["accept-language"] = "en"
        assert browser.sign_in(name).status_code == 303
        return browser

    def act(
        self,
        user: str,
        action: str,
        *,
        subject_type: str = "organization",
        personal: dict[str, str] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Record that ``user`` did ``action`` (about their organization, at ``at``)."""
        with self.console.stores.session() as session:
            actor = session.scalars(select(User).where(User.name == user)).one()
            organization = session.get_one(Organization, actor.organization_id)
            if at is None:
                audit.record(
                    session,
                    actor_id=actor.id,
                    action=action,
                    subject_type=subject_type,
                    subject=organization,
                    detail={"note": "seen"},
                    personal=personal,
                )
            else:
                # The trail is append-only: an event of the past is written as it was.
                session.add(
                    AuditEvent(
                        market=organization.market,
                        actor_id=actor.id,
                        action=action,
                        subject_type=subject_type,
                        subject_id=organization.id,
                        detail={"note": "seen"},
                        occurred_at=at,
                    )
                )

    def recorded(self, action: str) -> list[AuditEvent]:
        with self.console.stores.session() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))

    def api(self, user: str, **params: str) -> list[dict[str, Any]]:
        answer = self.console.browser().client.get(
            "/api/audit", params=params, headers={"Authorization": f"Bearer {self.tokens[user]}"}
        )
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items


@pytest.fixture
def world(console: ConsoleDeployment) -> World:
    orgs = {
        "brand": console.organization("Brand China"),
        "pudong": console.organization("Pudong Motors", OrganizationKind.DEALER),
        "osaka": console.organization("Osaka Motors", OrganizationKind.DEALER, "JP"),
        "auditors": console.organization("Audit Partners", OrganizationKind.PARTNER),
        "call": console.organization("Shanghai Call", OrganizationKind.CALL_CENTRE),
    }
    tokens = {
        "audrey": console.user("audrey", UserRole.PARTNER_AUDITOR, orgs["auditors"]),
        "ada": console.user("ada", UserRole.ADMIN, orgs["brand"]),
        "zhou": console.user("zhou", UserRole.DEALER_STAFF, orgs["pudong"]),
        "sato": console.user("sato", UserRole.DEALER_STAFF, orgs["osaka"]),
        "lin": console.user("lin", UserRole.CALL_CENTRE_AGENT, orgs["call"]),
    }
    made = World(console, orgs, tokens)
    made.act("zhou", "customer.read", subject_type="customer", personal={"identity": PHONE})
    made.act("zhou", "case.read", subject_type="case")
    made.act("sato", "customer.read", subject_type="customer", personal={"identity": "+81901"})
    return made


def today() -> str:
    """Today where the readers are (China): the page's periods are their days, which after
    16:00 UTC are a day ahead of UTC's."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def trail_of(world: World, org: str, **filters: str) -> dict[str, str]:
    """The page's query for ``org``'s trail up to today."""
    return {"org": str(world.orgs[org]), "from": "2026-01-01", "to": today(), **filters}


def query(params: dict[str, str]) -> str:
    return "?" + "&".join(f"{key}={value}" for key, value in params.items())


def rows(page: str) -> list[dict[str, Any]]:
    """The events a page shows: id, user, action, subject type and details, the masked
    values as the masking label."""
    found = []
    for block in page.split('<tr id="event-')[1:]:
        block = block.split("</tr>", 1)[0]
        cells = re.findall(r'<td data-label="[^"]*">(.*?)</td>', block, re.S)
        detail = {
            html.unescape(key): MASKED if 'class="masked"' in value else html.unescape(value)
            for key, value in re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", block, re.S)
        }
        found.append(
            {
                "id": block.split('"', 1)[0],
                "actor": html.unescape(cells[1].split("<span", 1)[0].strip()),
                "action": re.sub(r"</?code>", "", cells[2]),
                "subject_type": html.unescape(cells[3].split("<code", 1)[0].strip()),
                "detail": detail,
            }
        )
    return found


def as_shown(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("id", "actor", "action", "subject_type", "detail")
    return [{key: item[key] for key in keys} for item in items]


def api_period(params: dict[str, str]) -> dict[str, str]:
    """The API's parameters for the period the page's days cover in Shanghai."""
    since = datetime.fromisoformat(params["from"] + "T00:00:00+08:00")
    until = datetime.fromisoformat(params["to"] + "T00:00:00+08:00") + timedelta(days=1)
    rest = {k: v for k, v in params.items() if k not in ("from", "to")}
    return {**rest, "since": since.isoformat(), "until": until.isoformat()}


def test_an_auditor_reads_the_trail_masked_exactly_as_the_api_answers(world: World) -> None:
    params = trail_of(world, "pudong")
    page = world.browser("audrey").get("/audit" + query(params))
    assert page.status_code == 200
    [reading] = world.recorded("audit.read")
    assert reading.subject_id == world.orgs["pudong"]
    shown = rows(page.text)
    assert [row["action"] for row in shown] == ["customer.read", "case.read"]
    assert shown == as_shown(world.api("audrey", **api_period(params)))
    assert shown[0]["detail"] == {"identity": MASKED, "note": "seen"}
    assert PHONE not in page.text
    assert "personal data, masked" in page.text
    assert "a partner audit reads no customer data" in page.text
    assert '<a href="/audit" aria-current="page">' in page.text


def test_an_admin_reads_what_the_api_gives_an_admin_personal_values_included(
    world: World,
) -> None:
    params = trail_of(world, "pudong")
    page = world.browser("ada").get("/audit" + query(params))
    shown = rows(page.text)
    assert shown == as_shown(world.api("ada", **api_period(params)))
    assert shown[0]["detail"]["identity"] == PHONE
    assert "a partner audit reads no customer data" not in page.text


def test_an_organizations_trail_holds_its_own_peoples_events_only(world: World) -> None:
    browser = world.browser("audrey")
    osaka = rows(browser.get("/audit" + query(trail_of(world, "osaka"))).text)
    assert [(row["actor"], row["action"]) for row in osaka] == [("sato", "customer.read")]
    assert rows(browser.get("/audit" + query(trail_of(world, "brand"))).text) == []


@pytest.mark.parametrize(
    ("filters", "actions"),
    [
        ({"action": "case.read"}, ["case.read"]),
        ({"subject_type": "customer"}, ["customer.read"]),
        ({"actor": "zhou", "action": "customer.read"}, ["customer.read"]),
        ({"actor": "sato"}, []),
        ({"action": "lead.read"}, []),
    ],
)
def test_the_filters_narrow_the_trail_and_stay_in_the_form(
    world: World, filters: dict[str, str], actions: list[str]
) -> None:
    page = world.browser("audrey").get("/audit" + query(trail_of(world, "pudong", **filters)))
    assert page.status_code == 200
    assert [row["action"] for row in rows(page.text)] == actions
    for name, value in filters.items():
        assert f'name="{name}" value="{value}"' in page.text
    if not actions:
        assert "No event in this period matches the filters." in page.text
    [reading] = world.recorded("audit.read")
    assert {name: reading.detail[name] for name in filters} == filters


def test_a_period_is_whole_days_in_the_markets_time_zone(world: World) -> None:
    world.act("zhou", "lead.read", at=LATE_EVENING)
    world.act("zhou", "lead.read", at=AFTER_MIDNIGHT)
    browser = world.browser("audrey")
    first = {"org": str(world.orgs["pudong"]), "from": "2026-03-01", "to": "2026-03-01"}
    shown = rows(browser.get("/audit" + query(first)).text)
    assert len(shown) == 1
    page = browser.get("/audit" + query({**first, "from": "2026-03-02", "to": "2026-03-02"}))
    assert len(rows(page.text)) == 1
    # Shown in Shanghai's time: half past midnight on the second.
    assert 'datetime="2026-03-01T16:30:00+00:00"' in page.text
    assert ">Mar 2, 2026, 12:30:00" in page.text


def test_the_trail_is_read_a_page_at_a_time(world: World) -> None:
    for _n in range(PAGE_SIZE + 1):
        world.act("zhou", "lead.read")
    browser = world.browser("audrey")
    first = browser.get("/audit" + query(trail_of(world, "pudong")))
    assert len(rows(first.text)) == PAGE_SIZE
    assert "First page" not in first.text
    found = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert found
    following = html.unescape(found.group(1))
    assert parse_qs(urlsplit(following).query, keep_blank_values=True)["action"] == [""]
    second = browser.get(following)
    assert second.status_code == 200
    assert len(rows(second.text)) == 3
    assert 'rel="next"' not in second.text
    assert "First page" in second.text
    every = [row["id"] for row in rows(first.text) + rows(second.text)]
    assert len(set(every)) == PAGE_SIZE + 3


def test_a_first_visit_offers_the_organizations_and_reads_nothing(world: World) -> None:
    page = world.browser("audrey").get("/audit")
    assert page.status_code == 200
    for name in ("Audit Partners", "Osaka Motors", "Pudong Motors"):
        assert f">{name}</option>" in page.text
    assert f'name="to" type="date" value="{today()}"' in page.text
    assert '<label for="org">' in page.text
    assert rows(page.text) == []
    assert world.recorded("audit.read") == []


@pytest.mark.parametrize(
    ("change", "field", "reason", "code"),
    [
        ({"from": "2026-02-30"}, "start", "2026-02-30 is not a date: write it as YYYY-MM-DD", 422),
        ({"to": "yesterday"}, "end", "yesterday is not a date: write it as YYYY-MM-DD", 422),
        ({"org": "Pudong"}, "org", "Choose an organization from the list.", 422),
        ({"actor": "x" * 201}, "actor", "Write at most 200 characters.", 422),
        (
            {"from": "2026-03-05", "to": "2026-03-04"},
            "end",
            "Mar 4, 2026 is before Mar 5, 2026: the date range is backwards",
            400,
        ),
    ],
)
def test_bad_input_shows_the_reason_beside_the_field_and_records_nothing(
    world: World, change: dict[str, str], field: str, reason: str, code: int
) -> None:
    params = {**trail_of(world, "pudong"), **change}
    browser = world.browser("audrey")
    for path in ("/audit", "/audit/export"):
        page = browser.get(path + query(params))
        assert page.status_code == code
        assert page.headers["content-type"].startswith("text/html")
        error = f'<p class="field-error" id="{field}-error">{html.escape(reason)}</p>'
        assert error in page.text
        control = page.text.split(f'id="{field}" name=', 1)[1].split(">", 1)[0]
        assert f'aria-invalid="true" aria-describedby="{field}-error"' in control
        if field != "org":
            typed = change[{"start": "from", "end": "to"}.get(field, field)]
            assert f'value="{typed}"' in control
        assert rows(page.text) == []
    assert world.recorded("audit.read") == []
    assert world.recorded("audit.exported") == []


def test_an_organization_that_does_not_exist_is_not_found(world: World) -> None:
    params = {**trail_of(world, "pudong"), "org": str(uuid.uuid4())}
    browser = world.browser("audrey")
    for path in ("/audit", "/audit/export"):
        page = browser.get(path + query(params))
        assert page.status_code == 404
        assert "There is nothing here that you can see." in page.text
    assert world.recorded("audit.read") == []
    assert world.recorded("audit.exported") == []


def test_a_page_link_the_console_did_not_make_is_refused(world: World) -> None:
    params = {**trail_of(world, "pudong"), "cursor": "not-a-cursor"}
    page = world.browser("audrey").get("/audit" + query(params))
    assert page.status_code == 400
    assert "This link to a page of the trail was not made by the console" in page.text
    assert world.recorded("audit.read") == []


def test_the_export_is_the_filtered_trail_as_a_spreadsheet_masked_and_recorded(
    world: World,
) -> None:
    params = trail_of(world, "pudong", subject_type="customer")
    answer = world.browser("audrey").get("/audit/export" + query(params))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="audit-trail-2026-01-01-{today()}.csv"'
    )
    assert answer.content.startswith(BOM.encode())
    sheet = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert tuple(sheet[0]) == CSV_COLUMNS
    [event] = world.api("audrey", **api_period(params))
    assert [row["id"] for row in sheet] == [event["id"]]
    assert json.loads(sheet[0]["detail"]) == {"identity": MASKED, "note": "seen"}
    assert (sheet[0]["actor"], sheet[0]["role"], sheet[0]["market"]) == (
        "zhou",
        "dealer_staff",
        "CN",
    )
    [export] = world.recorded("audit.exported")
    assert export.subject_id == world.orgs["pudong"]
    assert (export.detail["events"], export.detail["subject_type"]) == ("1", "customer")
    with world.console.stores.session() as session:
        exporter = session.get_one(User, export.actor_id)
        assert exporter.name == "audrey"


def test_an_admins_export_is_masked_too(world: World) -> None:
    answer = world.browser("ada").get("/audit/export" + query(trail_of(world, "pudong")))
    assert answer.status_code == 200
    assert PHONE not in answer.content.decode("utf-8-sig")
    assert MASKED in answer.content.decode("utf-8-sig")


def test_a_name_in_chinese_survives_the_export(world: World) -> None:
    world.console.user("周杰", UserRole.DEALER_STAFF, world.orgs["pudong"])
    world.act("周杰", "case.read")
    answer = world.browser("audrey").get(
        "/audit/export" + query(trail_of(world, "pudong", actor="周杰"))
    )
    [row] = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert row["actor"] == "周杰"


@pytest.mark.parametrize("user", ["zhou", "lin"])
def test_a_role_that_does_not_audit_is_refused_with_the_reason_and_nothing_recorded(
    world: World, user: str
) -> None:
    browser = world.browser(user)
    for path in ("/audit", "/audit/export"):
        page = browser.get(path + query(trail_of(world, "pudong")))
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert "Your role does not read the audit trail." in page.text
        assert rows(page.text) == []
    assert world.recorded("audit.read") == []
    assert world.recorded("audit.exported") == []


def test_without_a_session_the_trail_sends_the_browser_to_sign_in_and_back(
    world: World,
) -> None:
    answer = world.console.browser().get("/audit/export?org=x")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Faudit%2Fexport%3Forg%3Dx"
