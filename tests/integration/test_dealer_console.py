"""A dealer on a phone, in Chromium: works a lead from new to won through the console's real
forms with nothing wider than the screen on any page, is refused another dealer's records,
and meets no serious accessibility fault on the way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import assert_fits, serious_violations, sign_in
from playwright.sync_api import Page
from served import Console

from regiocrm.testing import run_regiocrm

PASSWORD = "a long passphrase for the dealers"
VIN = "LSVAU2180N2183456"


def dealer(console: Console, name: str, user: str, lat: float, lon: float) -> str:
    """A Shanghai dealer at a point with one member of staff; the staff's API token."""
    added = run_regiocrm(
        "orgs", "add", name, "--kind", "dealer", "--market", "CN",
        "--lat", str(lat), "--lon", str(lon),
        cwd=console.folder,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    return console.add_user(user, "dealer_staff", PASSWORD, "--org", name)


def customer_with_a_lead(
    console: Console, token: str, given: str, phone: str, lat: float, lon: float
) -> dict[str, Any]:
    """A customer the dealer registers through the API, and their lead from WeChat near
    the dealer (which it is routed to)."""
    headers = {"Authorization": f"Bearer {token}"}
    customer = httpx.post(
        f"{console.base}/api/customers",
        json={
            "market": "CN",
            "family_name": "王",
            "given_name": given,
            "identities": [{"kind": "phone", "value": phone}],
        },
        headers=headers,
    )
    assert customer.status_code == 201, customer.text
    lead = httpx.post(
        f"{console.base}/api/leads",
        json={
            "market": "CN",
            "lat": lat,
            "lon": lon,
            "customer_id": customer.json()["id"],
            "source": "wechat",
            "vehicle_model": "Tourer",
        },
        headers=headers,
    )
    assert lead.status_code == 201, lead.text
    return {"customer": customer.json()["id"], "lead": lead.json()["id"]}


@pytest.fixture(scope="module")
def dealers(console: Console) -> dict[str, dict[str, Any]]:
    """Pudong Motors (zhou) and Minhang Motors (wu), each with a customer and a new lead."""
    zhou = dealer(console, "Pudong Motors", "zhou", 31.2090, 121.5960)
    wu = dealer(console, "Minhang Motors", "wu", 31.1120, 121.3810)
    return {
        "zhou": customer_with_a_lead(console, zhou, "芳", "13800138000", 31.2035, 121.5907),
        "wu": customer_with_a_lead(console, wu, "伟", "13900139000", 31.1100, 121.3800),
    }


def checked(page: Page) -> None:
    """The page as it stands fits the phone and has no serious accessibility fault."""
    assert_fits(page)
    assert serious_violations(page) == []


def test_a_dealer_on_a_phone_works_a_lead_from_new_to_won_and_is_refused_anothers(
    console: Console,
    dealers: dict[str, dict[str, Any]],
    phone_page: Page,
    screenshot: Callable[[Page, str], Path],
) -> None:
    page = phone_page
    mine, theirs = dealers["zhou"], dealers["wu"]
    assert sign_in(page, console.base, "zhou", PASSWORD) == f"{console.base}/leads"
    checked(page)
    screenshot(page, "dealer_staff-phone")
    call = page.locator(f"#lead-{mine['lead']} a[href^='tel:']")
    assert call.get_attribute("href") == "tel:+8613800138000"
    assert page.locator(f"#lead-{theirs['lead']}").count() == 0

    page.locator(f"#lead-{mine['lead']} h2 a").click()
    page.wait_for_url(f"**/leads/{mine['lead']}")
    checked(page)
    for step in ("Mark as contacted", "Mark as qualified"):
        page.get_by_role("button", name=step).click()
        page.wait_for_load_state()
        checked(page)

    page.get_by_label("VIN").fill(VIN)
    page.get_by_label("Price (CNY)").fill("189000.505")
    page.get_by_role("button", name="Record the sale").click()
    page.wait_for_load_state()
    price = page.get_by_label("Price (CNY)")
    assert price.get_attribute("aria-invalid") == "true"
    assert "finer than the smallest unit of CNY" in page.locator("#won-price-error").inner_text()
    assert price.input_value() == "189000.505"
    checked(page)

    price.fill("189000.50")
    page.get_by_role("button", name="Record the sale").click()
    page.wait_for_load_state()
    assert page.locator(".facts .badge.status").inner_text() == "Won"
    assert page.get_by_text("This lead is closed.").is_visible()
    checked(page)

    page.get_by_role("link", name="Customers", exact=True).click()
    page.wait_for_url("**/customers")
    checked(page)
    page.get_by_label("Phone number or channel id").fill("13900139000")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    assert page.get_by_text("No customer of yours has this identity.").is_visible()
    checked(page)

    # Another dealer's customer and lead are the 404 page, as the API answers them.
    for path in (f"/customers/{theirs['customer']}", f"/leads/{theirs['lead']}"):
        answer = page.goto(f"{console.base}{path}")
        assert answer is not None
        assert answer.status == 404, path
        assert page.get_by_role("heading", name="Not found").is_visible()
        checked(page)
    mine_page = page.goto(f"{console.base}/customers/{mine['customer']}")
    assert mine_page is not None
    assert mine_page.status == 200, "their own customer's page opens"
    checked(page)


def test_the_dealers_work_list_at_a_desk(
    console: Console,
    dealers: dict[str, dict[str, Any]],
    desktop_page: Page,
    screenshot: Callable[[Page, str], Path],
) -> None:
    sign_in(desktop_page, console.base, "wu", PASSWORD)
    assert desktop_page.locator(f"#lead-{dealers['wu']['lead']}").is_visible()
    checked(desktop_page)
    screenshot(desktop_page, "dealer_staff-desktop")
