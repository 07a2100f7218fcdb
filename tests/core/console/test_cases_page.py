"""The cases page: a user's open cases with their clocks, the overdue first, filtered by
state and priority, scoped as the API scopes them."""

from __future__ import annotations

import html
import re

import pytest
from console_client import ConsoleDeployment, html_lang
from console_world import ConsoleWorld

ROW = re.compile(
    r'<tr(?: class="overdue")?>\s*<td data-label="[^"]+"><a href="/customers/([^"]+)">([^<]+)</a>'
)


@pytest.fixture
def world(console: ConsoleDeployment) -> ConsoleWorld:
    return ConsoleWorld(console)


def subjects(page: str) -> list[str]:
    return [html.unescape(subject) for _customer, subject in ROW.findall(page)]


def test_open_cases_come_overdue_first_with_their_clocks_and_link_to_the_customer(
    world: ConsoleWorld,
) -> None:
    customer = world.customer("zhou", "李")
    world.case("zhou", customer, "新车划痕", "urgent")
    world.case("zhou", customer, "刹车异响", days_ago=30)
    done = world.case("zhou", customer, "已解决")
    world.move("zhou", done, "in_progress", "resolved")
    page = world.signed_in("zhou").get("/cases")
    assert page.status_code == 200
    assert subjects(page.text) == ["刹车异响", "新车划痕"], "resolved cases are not listed"
    assert ROW.findall(page.text)[0][0] == str(customer)
    overdue_row, fresh_row = page.text.split("<tr")[2:4]
    assert 'class="overdue"' in overdue_row
    assert overdue_row.count('badge overdue">Late<') == 2, "both its clocks ran out"
    assert "Overdue" not in fresh_row
    assert fresh_row.count("<time datetime=") == 3, "answer due, resolution due, opened"
    assert '<th scope="col">Resolution due</th>' in page.text


def test_cases_are_filtered_by_state_and_priority(world: ConsoleWorld) -> None:
    customer = world.customer("zhou", "李")
    urgent = world.case("zhou", customer, "urgent one", "urgent")
    world.case("zhou", customer, "normal one")
    world.move("zhou", urgent, "in_progress")
    browser = world.signed_in("zhou")
    assert subjects(browser.get("/cases?priority=urgent").text) == ["urgent one"]
    assert subjects(browser.get("/cases?state=new").text) == ["normal one"]
    assert subjects(browser.get("/cases?state=in_progress&priority=normal").text) == []
    in_progress = browser.get("/cases?state=in_progress")
    assert '<option value="in_progress" selected>' in in_progress.text


@pytest.mark.parametrize(
    ("field", "query"), [("state", "state=closed"), ("priority", "priority=soon")]
)
def test_a_filter_the_form_does_not_offer_is_refused_beside_its_field(
    world: ConsoleWorld, field: str, query: str
) -> None:
    world.case("zhou", world.customer("zhou", "李"), "hidden")
    page = world.signed_in("zhou").get(f"/cases?{query}")
    assert page.status_code == 422
    assert f'aria-describedby="{field}-error"' in page.text
    assert f'<p class="field-error" id="{field}-error">' in page.text
    assert subjects(page.text) == []


def test_a_dealer_sees_only_their_own_cases_and_the_agent_sees_both(world: ConsoleWorld) -> None:
    world.case("zhou", world.customer("zhou", "李"), "zhou's")
    world.case("wang", world.customer("wang", "王"), "wang's")
    assert subjects(world.signed_in("wang").get("/cases").text) == ["wang's"]
    assert subjects(world.signed_in("zhou").get("/cases").text) == ["zhou's"]
    assert sorted(subjects(world.signed_in("lin").get("/cases").text)) == ["wang's", "zhou's"]


def test_an_auditor_is_refused_the_cases_page_with_a_reason(world: ConsoleWorld) -> None:
    world.case("zhou", world.customer("zhou", "李"), "private")
    page = world.signed_in("audrey").get("/cases")
    assert page.status_code == 403
    assert "does not work with customers" in page.text
    assert "private" not in page.text


def test_a_japanese_user_reads_the_cases_page_in_japanese(world: ConsoleWorld) -> None:
    browser = world.signed_in("zhou")
    browser.post_form("/language", {"locale": "ja"})
    page = browser.get("/cases")
    assert html_lang(page.text) == "ja"
    assert "<h1>未解決のケース</h1>" in page.text
