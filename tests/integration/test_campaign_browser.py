"""In Chromium, against ``regiocrm serve``: the competence centre plans a campaign in the
console (the audience counted first), launches it, and watches each member's result come
in; the campaign's pages have no serious accessibility violation and fit a phone. The LINE
message goes to a stand-in for LINE's API on loopback (``fake_line``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from browser import assert_fits, serious_violations, sign_in
from fake_line import LINE, FakeLine, customer_writing_on_line, line_account
from served import Console, serving_console

from regiocrm.testing import run_regiocrm

if TYPE_CHECKING:
    from playwright.sync_api import Page

FOLLOWER = LINE.sender(31)
PASSWORD = "a long console passphrase"
MESSAGE = "冬の点検キャンペーン：12月中のご来店で点検費用10%オフ"


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory, fake_line: FakeLine) -> Iterator[Console]:
    """A Japanese deployment with a LINE account, its competence centre ``mori``, and one
    customer who wrote on LINE and agreed to marketing there."""
    folder = tmp_path_factory.mktemp("campaigns")
    (folder / "regiocrm.toml").write_text(
        '[deployment]\nmarket = "JP"\n' + line_account("line_jp", "JP", fake_line)
    )
    with serving_console(folder) as console:
        added = run_regiocrm(
            "orgs", "add", "Brand Japan", "--kind", "oem", "--market", "JP", cwd=folder
        )
        assert added.returncode == 0, added.stderr
        token = console.add_user("mori", "competence_centre", PASSWORD, "--org", "Brand Japan")
        api = httpx.Client(base_url=console.base, headers={"Authorization": f"Bearer {token}"})
        customer = customer_writing_on_line(api, "line_jp", FOLLOWER, "こんにちは", "JP")
        consent = {"purpose": "marketing", "channel": "line", "source": "LINE chat"}
        assert api.post(f"/api/customers/{customer}/consents", json=consent).status_code == 201
        api.close()
        yield console


def test_the_centre_plans_counts_launches_and_sees_each_result(
    centre: Console, fake_line: FakeLine, desktop_page: Page, phone_page: Page
) -> None:
    page = desktop_page
    sign_in(page, centre.base, "mori", PASSWORD)
    page.goto(f"{centre.base}/campaigns/new")
    page.get_by_label("Name", exact=True).fill("Winter check-up")
    page.get_by_label("Channel").select_option("line")
    page.get_by_label("Markets").fill("JP")
    page.get_by_label("Message language").fill("ja")
    page.get_by_label("Message", exact=True).fill(MESSAGE)
    page.get_by_role("button", name="Count the audience").click()
    page.get_by_text("1 of 1 customers in the segment can be reached.").wait_for()
    assert serious_violations(page) == []

    page.get_by_role("button", name="Plan the campaign").click()
    page.wait_for_url(f"{centre.base}/campaigns/*")
    campaign = page.url
    assert serious_violations(page) == []
    page.get_by_role("button", name="Launch: send it now").click()
    sent = page.locator('#results tr[data-delivery="sent"]')
    sent.wait_for(timeout=10_000)
    assert sent.count() == 1
    assert serious_violations(page) == []
    pushed = [body for body in fake_line.received if body["path"].endswith("/push")]
    assert [(body["to"], body["messages"][0]["text"]) for body in pushed] == [(FOLLOWER, MESSAGE)]

    sign_in(phone_page, centre.base, "mori", PASSWORD)
    for path in (campaign.removeprefix(centre.base), "/campaigns/new"):
        phone_page.goto(f"{centre.base}{path}")
        assert_fits(phone_page)
