"""A partner auditor in Chromium: signs in, filters a dealer's trail, exports it; the trail
and the sign-in page with no serious accessibility fault, and fitting a phone."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import pytest
from browser import assert_fits, serious_violations, sign_in
from served import Console

from regiocrm.testing import run_regiocrm

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from playwright.sync_api import Browser, Page

PASSWORD = "an auditor's long passphrase"


@pytest.fixture(scope="module")
def people(console: Console) -> Console:
    """A dealer whose staff member signs in (an event of the dealer's trail), and an
    auditor."""
    for name, kind in (("Pudong Motors", "dealer"), ("Audit Partners", "partner")):
        added = run_regiocrm(
            "orgs", "add", name, "--kind", kind, "--market", "CN", cwd=console.folder
        )
        assert added.returncode == 0, added.stderr
    console.add_user("zhou", "dealer_staff", PASSWORD, "--org", "Pudong Motors")
    console.add_user("audrey", "partner_auditor", PASSWORD, "--org", "Audit Partners")
    return console


def show_sign_ins(page: Page) -> None:
    """Fill in the trail's filters as a person would and press Show."""
    page.select_option("#org", label="Pudong Motors")
    page.fill("#action", "user.signed_in")
    page.click("button.primary")
    page.wait_for_selector("table.trail")


def test_an_auditor_filters_the_dealers_trail_and_exports_it(
    people: Console,
    browser: Browser,
    desktop_page: Page,
    screenshot: Callable[[Page, str], Path],
) -> None:
    # The dealer's staff member signs in in a browser of their own.
    dealer = browser.new_context(locale="en-US")
    sign_in(dealer.new_page(), people.base, "zhou", PASSWORD)
    dealer.close()
    auditor = desktop_page
    auditor.goto(people.base + "/login")
    assert serious_violations(auditor) == []
    screenshot(auditor, "login-desktop")
    assert sign_in(auditor, people.base, "audrey", PASSWORD).endswith("/audit")
    assert serious_violations(auditor) == []
    show_sign_ins(auditor)
    rows = auditor.locator("table.trail tbody tr")
    assert rows.count() >= 1
    assert "zhou" in rows.first.inner_text()
    assert all("user.signed_in" in text for text in rows.all_inner_texts())
    assert serious_violations(auditor) == []
    screenshot(auditor, "partner_auditor-desktop")
    with auditor.expect_download() as download:
        auditor.click("text=Export as CSV")
    data = download.value.path().read_bytes()
    assert data.startswith("\ufeff".encode())
    sheet = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert {row["action"] for row in sheet} == {"user.signed_in"}
    assert "zhou" in {row["actor"] for row in sheet}


def test_the_trail_and_the_sign_in_page_fit_a_phone(
    people: Console, phone_page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    phone_page.goto(people.base + "/login")
    assert_fits(phone_page)
    assert serious_violations(phone_page) == []
    screenshot(phone_page, "login-phone")
    sign_in(phone_page, people.base, "audrey", PASSWORD)
    show_sign_ins(phone_page)
    assert_fits(phone_page)
    assert serious_violations(phone_page) == []
    screenshot(phone_page, "partner_auditor-phone")
