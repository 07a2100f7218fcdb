"""The agents' inbox and the cases page in Chromium, against ``regiocrm serve``: a WeChat
message signed as WeChat signs it (by wechatpy, a peer independent of the plugin's own
crypto) reaches the open inbox without a reload; a Japanese browser reads the inbox in
Japanese; both pages pass axe and fit a phone."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from browser import assert_fits, serious_violations, sign_in
from served import Console, serving_console
from signed_webhooks import post_wechat

from regiocrm.plugins.channels.wechat.testing import APP_ID, TOKEN

if TYPE_CHECKING:
    from playwright.sync_api import Page

ACCOUNT = "wx_cn"
PASSWORD = secrets.token_urlsafe(18)
# Plaintext mode (no AES key) and no app secret: the served deployment asks WeChat nothing.
SETTINGS = f"""
[channel_accounts.{ACCOUNT}]
channel = "wechat"
market = "CN"
token = "{TOKEN}"
app_id = "{APP_ID}"
"""


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Console, str]]:
    """A deployment with a WeChat account in China, served, with the call-centre agent
    ``lin`` (their API token) and an open case that is overdue."""
    folder = tmp_path_factory.mktemp("inbox")
    (folder / "regiocrm.toml").write_text(SETTINGS)
    with serving_console(folder) as console:
        token = console.add_user("lin", "call_centre_agent", PASSWORD)
        api = httpx.Client(base_url=console.base, headers={"Authorization": f"Bearer {token}"})
        customer = api.post(
            "/api/customers", json={"market": "CN", "family_name": "李", "given_name": "娜"}
        )
        assert customer.status_code == 201, customer.text
        opened = datetime.now(UTC) - timedelta(days=20)
        case = api.post(
            "/api/cases",
            json={
                "customer_id": customer.json()["id"],
                "market": "CN",
                "subject": "车门异响",
                "priority": "high",
                "opened_at": opened.isoformat(),
            },
        )
        assert case.status_code == 201, case.text
        api.close()
        yield console, token


def test_a_wechat_message_appears_in_the_open_inbox_and_opens_the_customer(
    agents: tuple[Console, str],
    desktop_page: Page,
    screenshot: Callable[[Page, str], Path],
) -> None:
    console, _token = agents
    page = desktop_page
    assert sign_in(page, console.base, "lin", PASSWORD).endswith("/inbox")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.evaluate("window.stillThisPage = true")

    post_wechat(console.base, ACCOUNT, "oInboxBrowser1", "你好，我想预约保养")
    arrived = page.get_by_text("你好，我想预约保养")
    arrived.wait_for(timeout=5_000)

    assert navigations == [], "the row came without a reload"
    assert page.evaluate("window.stillThisPage") is True
    assert serious_violations(page) == []
    screenshot(page, "inbox-desktop")
    card = page.locator(".conversations > li", has=arrived)
    link = card.locator("a.customer")
    customer = link.get_attribute("href")
    assert customer is not None
    assert re.fullmatch(r"/customers/[0-9a-f-]{36}", customer)
    link.click()
    page.wait_for_url(f"{console.base}{customer}")

    page.goto(f"{console.base}/cases")
    assert page.locator("tr.overdue").count() == 1
    assert serious_violations(page) == []


def test_the_inbox_and_cases_fit_a_phone_and_pass_axe(
    agents: tuple[Console, str],
    phone_page: Page,
    screenshot: Callable[[Page, str], Path],
) -> None:
    console, _token = agents
    post_wechat(
        console.base, ACCOUNT, "oInboxPhone1", "请问今天几点关门，我想下班后过去看看车。" * 3
    )
    sign_in(phone_page, console.base, "lin", PASSWORD)
    phone_page.locator(".conversations > li").first.wait_for()
    assert_fits(phone_page)
    assert serious_violations(phone_page) == []
    screenshot(phone_page, "inbox-phone")
    phone_page.goto(f"{console.base}/cases")
    assert_fits(phone_page)
    assert serious_violations(phone_page) == []


@pytest.mark.parametrize("browser_locale", ["ja-JP"])
def test_a_japanese_user_reads_the_inbox_in_japanese(
    agents: tuple[Console, str], desktop_page: Page
) -> None:
    console, _token = agents
    post_wechat(console.base, ACCOUNT, "oInboxJapan1", "こんにちは")
    sign_in(desktop_page, console.base, "lin", PASSWORD)
    assert (desktop_page.get_attribute("html", "lang") or "").startswith("ja")
    assert desktop_page.locator("h1").inner_text() == "受信箱"
    when = desktop_page.locator(".conversations time").first
    # Japanese writes a date year first with slashes: 2026/12/06 18:30:00.
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{1,2}:\d{2}:\d{2}", when.inner_text())
    assert desktop_page.get_by_role("button", name="担当する").count() >= 1
