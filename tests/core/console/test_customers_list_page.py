"""The dealers' customers in the console: their own only, a page at a time, found by a phone
number or a channel id, with the reason beside the field for a search that cannot be read."""

from __future__ import annotations

import re
import uuid

import pytest
from console_client import ConsoleBrowser, ConsoleDeployment
from dealer_world import DealerWorld, dealer_world

from regiocrm.models import UserRole


@pytest.fixture
def world(console: ConsoleDeployment) -> DealerWorld:
    return dealer_world(console)


def signed_in(world: DealerWorld, name: str = "zhou") -> ConsoleBrowser:
    """A browser signed in as ``name``, asking for English."""
    browser = world.console.browser()
    browser.client.headers["Accept-Language"] = "en"
    assert browser.sign_in(name).status_code == 303
    return browser


def shown(page: str) -> list[uuid.UUID]:
    return [uuid.UUID(found) for found in re.findall(r'id="customer-([0-9a-f-]{36})"', page)]


def test_a_dealer_lists_their_own_customers_only_each_linked_with_a_number_to_call(
    world: DealerWorld,
) -> None:
    wang = world.customer(world.zhou, "芳", phone="13800138000", wechat="o6_bmjrPTlm6")
    li = world.customer(world.zhou, "娜")
    world.customer(world.wu, "伟", phone="13900139000")
    page = signed_in(world).get("/customers")
    assert page.status_code == 200
    assert sorted(shown(page.text)) == sorted([wang, li])
    assert f'<a href="/customers/{wang}">王芳</a>' in page.text
    assert 'href="tel:+8613800138000"' in page.text
    assert "+8613900139000" not in page.text
    assert '<span class="badge">WeChat</span>' in page.text
    assert world.actions(world.zhou).count("customer.read") == 2


def test_a_search_by_phone_or_channel_id_finds_the_dealers_customer_and_no_one_elses(
    world: DealerWorld,
) -> None:
    wang = world.customer(world.zhou, "芳", phone="13800138000", wechat="o6_bmjrPTlm6")
    world.customer(world.zhou, "娜")
    world.customer(world.wu, "伟", phone="13900139000")
    browser = signed_in(world)
    by_phone = browser.get("/customers?kind=phone&value=138+0013+8000")
    assert by_phone.status_code == 200
    assert shown(by_phone.text) == [wang]
    assert 'value="138 0013 8000"' in by_phone.text
    by_wechat = browser.get("/customers?kind=wechat_openid&value=o6_bmjrPTlm6")
    assert shown(by_wechat.text) == [wang]
    theirs = browser.get("/customers?kind=phone&value=13900139000")
    assert theirs.status_code == 200
    assert shown(theirs.text) == []
    assert "No customer of yours has this identity." in theirs.text


@pytest.mark.parametrize(
    ("query", "field", "reason"),
    [
        ("kind=phone&value=call+me", "value", "call me"),
        ("kind=fax&value=12345", "kind", "Choose what to search by from the list."),
    ],
)
def test_a_search_that_cannot_be_read_says_why_beside_its_field_and_keeps_what_was_typed(
    world: DealerWorld, query: str, field: str, reason: str
) -> None:
    world.customer(world.zhou, "芳", phone="13800138000")
    browser = signed_in(world)
    before = world.actions(world.zhou)
    page = browser.get(f"/customers?{query}")
    assert page.status_code == 422
    assert f'aria-invalid="true" aria-describedby="{field}-error"' in page.text
    assert re.search(rf'<p class="field-error" id="{field}-error">[^<]*{reason}', page.text)
    assert 'name="value" type="search" value="' in page.text
    assert shown(page.text) == []
    assert world.actions(world.zhou) == before


def test_the_customers_page_needs_a_role_that_reads_customers(world: DealerWorld) -> None:
    brand = world.console.organization("Audit Partners")
    world.console.user("audrey", UserRole.PARTNER_AUDITOR, brand)
    answer = signed_in(world, "audrey").get("/customers")
    assert answer.status_code == 403
    assert signed_in(world).get("/customers?after=not-a-cursor").status_code == 404
