"""The cases page: a user's open cases with their clocks, the overdue first, filtered by
state and priority, scoped as the API scopes them."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console_client import ConsoleDeployment, html_lang

from regiocrm.models import OrganizationKind, UserRole

ROW = re.compile(
    r'<tr(?: class="overdue")?>\s*<td data-label="[^"]+"><a href="/customers/([^"]+)">([^<]+)</a>'
)


class Desk:
    """A Shanghai brand with an agent, two dealers with a user each, and an auditor; API
    tokens to set up their cases the way the API does."""

    def __init__(self, console: ConsoleDeployment) -> None:
        self.console = console
        brand = console.organization("Brand China")
        self.tokens = {
            "lin": console.user("lin", UserRole.CALL_CENTRE_AGENT, brand),
            "zhou": console.user(
                "zhou",
                UserRole.DEALER_STAFF,
                console.organization("Shanghai Motors", OrganizationKind.DEALER),
            ),
            "wang": console.user(
                "wang",
                UserRole.DEALER_STAFF,
                console.organization("Pudong Motors", OrganizationKind.DEALER),
            ),
            "audrey": console.user("audrey", UserRole.PARTNER_AUDITOR, brand),
        }
        self.api = console.browser().client

    def call(self, user: str, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.api.request(
            method, path, json=body, headers={"Authorization": f"Bearer {self.tokens[user]}"}
        )
        assert answer.status_code < 300, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def customer(self, user: str, family_name: str) -> str:
        body = {"market": "CN", "family_name": family_name, "given_name": "伟"}
        return str(self.call(user, "POST", "/api/customers", body)["id"])

    def case(
        self, user: str, customer: str, subject: str, priority: str = "normal", days_ago: int = 0
    ) -> str:
        opened = datetime.now(UTC) - timedelta(days=days_ago)
        body = {
            "customer_id": customer,
            "market": "CN",
            "subject": subject,
            "priority": priority,
            "opened_at": opened.isoformat(),
        }
        return str(self.call(user, "POST", "/api/cases", body)["id"])

    def move(self, user: str, case: str, *states: str) -> None:
        for state in states:
            self.call(user, "POST", f"/api/cases/{case}/transition", {"to": state})


@pytest.fixture
def desk(console: ConsoleDeployment) -> Desk:
    return Desk(console)


def subjects(page: str) -> list[str]:
    return [html.unescape(subject) for _customer, subject in ROW.findall(page)]


def signed_in(desk: Desk, user: str) -> Any:
    browser = desk.console.browser()
    assert browser.sign_in(user).status_code == 303
    return browser


def test_open_cases_come_overdue_first_with_their_clocks_and_link_to_the_customer(
    desk: Desk,
) -> None:
    customer = desk.customer("zhou", "李")
    desk.case("zhou", customer, "新车划痕", "urgent")
    desk.case("zhou", customer, "刹车异响", days_ago=30)
    done = desk.case("zhou", customer, "已解决")
    desk.move("zhou", done, "in_progress", "resolved")
    page = signed_in(desk, "zhou").get("/cases")
    assert page.status_code == 200
    assert subjects(page.text) == ["刹车异响", "新车划痕"], "resolved cases are not listed"
    assert ROW.findall(page.text)[0][0] == customer
    overdue_row, fresh_row = page.text.split("<tr")[2:4]
    assert 'class="overdue"' in overdue_row
    assert overdue_row.count('badge overdue">Late<') == 2, "both its clocks ran out"
    assert "Overdue" not in fresh_row
    assert fresh_row.count("<time datetime=") == 3, "answer due, resolution due, opened"
    assert '<th scope="col">Resolution due</th>' in page.text


def test_cases_are_filtered_by_state_and_priority(desk: Desk) -> None:
    customer = desk.customer("zhou", "李")
    urgent = desk.case("zhou", customer, "urgent one", "urgent")
    desk.case("zhou", customer, "normal one")
    desk.move("zhou", urgent, "in_progress")
    browser = signed_in(desk, "zhou")
    assert subjects(browser.get("/cases?priority=urgent").text) == ["urgent one"]
    assert subjects(browser.get("/cases?state=new").text) == ["normal one"]
    assert subjects(browser.get("/cases?state=in_progress&priority=normal").text) == []
    in_progress = browser.get("/cases?state=in_progress")
    assert '<option value="in_progress" selected>' in in_progress.text


@pytest.mark.parametrize(
    ("field", "query"), [("state", "state=closed"), ("priority", "priority=soon")]
)
def test_a_filter_the_form_does_not_offer_is_refused_beside_its_field(
    desk: Desk, field: str, query: str
) -> None:
    desk.case("zhou", desk.customer("zhou", "李"), "hidden")
    page = signed_in(desk, "zhou").get(f"/cases?{query}")
    assert page.status_code == 422
    assert f'aria-describedby="{field}-error"' in page.text
    assert f'<p class="field-error" id="{field}-error">' in page.text
    assert subjects(page.text) == []


def test_a_dealer_sees_only_their_own_cases_and_the_agent_sees_both(desk: Desk) -> None:
    desk.case("zhou", desk.customer("zhou", "李"), "zhou's")
    desk.case("wang", desk.customer("wang", "王"), "wang's")
    assert subjects(signed_in(desk, "wang").get("/cases").text) == ["wang's"]
    assert subjects(signed_in(desk, "zhou").get("/cases").text) == ["zhou's"]
    assert sorted(subjects(signed_in(desk, "lin").get("/cases").text)) == ["wang's", "zhou's"]


def test_an_auditor_is_refused_the_cases_page_with_a_reason(desk: Desk) -> None:
    desk.case("zhou", desk.customer("zhou", "李"), "private")
    page = signed_in(desk, "audrey").get("/cases")
    assert page.status_code == 403
    assert "does not work with customers" in page.text
    assert "private" not in page.text


def test_a_japanese_user_reads_the_cases_page_in_japanese(desk: Desk) -> None:
    browser = signed_in(desk, "zhou")
    browser.post_form("/language", {"locale": "ja"})
    page = browser.get("/cases")
    assert html_lang(page.text) == "ja"
    assert "<h1>未解決のケース</h1>" in page.text
