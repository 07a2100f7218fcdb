"""In Chromium, against ``regiocrm serve``, issue 15's agent story whole: an agent signs in,
a signed WeChat message posted to the webhook appears in the open inbox without a reload,
the agent opens it and sees on one page the customer's history from LINE and the call
centre, replies, and the reply is on the timeline; the page has no serious accessibility
violation and fits a phone.

The served process sends through the LINE account's ``api_base``, pointed at a stand-in
for LINE's Messaging API on loopback (``fake_line``), so nothing leaves the machine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from browser import assert_fits, serious_violations, sign_in
from fake_line import LINE, FakeLine, customer_writing_on_line, line_account
from served import Console, serving_console
from signed_webhooks import post_wechat

from regiocrm.plugins.channels.wechat.testing import APP_ID, TOKEN
from regiocrm.testing import run_regiocrm

if TYPE_CHECKING:
    from playwright.sync_api import Page

SENDER = LINE.sender(15)
PASSWORD = "a long console passphrase"
QUESTION = "車検の予約をしたいです"
CASE = "車検の予約（電話受付）"
REPLY = "ご連絡ありがとうございます。ご予約を承ります。"
# The same customer follows the brand's WeChat account too (a Japanese brand's account for
# its Chinese-speaking customers), and writes there while the agent has the inbox open.
WECHAT_SENDER = "oStoryFollower1"
WECHAT_TEXT = "你好，车检可以预约周六吗"


@dataclass(frozen=True)
class Story:
    console: Console
    customer: str


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, fake_line: FakeLine) -> Iterator[Story]:
    """A Japanese deployment with a LINE account, an agent, and a customer who wrote on
    LINE (a signed webhook) and whose call the agent logged as a case (the API)."""
    folder = tmp_path_factory.mktemp("customer-page")
    wechat = f'[channel_accounts.wx_jp]\nchannel = "wechat"\nmarket = "JP"\ntoken = "{TOKEN}"\n'
    deployment = '[deployment]\nmarket = "JP"\n'
    (folder / "regiocrm.toml").write_text(
        deployment + line_account("line_jp", "JP", fake_line) + wechat + f'app_id = "{APP_ID}"\n'
    )
    with serving_console(folder) as console:
        added = run_regiocrm(
            "orgs", "add", "Tokyo Call", "--kind", "call_centre", "--market", "JP", cwd=folder
        )
        assert added.returncode == 0, added.stderr
        token = console.add_user("aiko", "call_centre_agent", PASSWORD, "--org", "Tokyo Call")
        api = httpx.Client(base_url=console.base, headers={"Authorization": f"Bearer {token}"})
        customer = customer_writing_on_line(api, "line_jp", SENDER, QUESTION, "JP")
        consent = {"purpose": "service", "channel": "line", "source": "LINE chat"}
        assert api.post(f"/api/customers/{customer}/consents", json=consent).status_code == 201
        case = {"customer_id": customer, "market": "JP", "subject": CASE, "service": "call_centre"}
        assert api.post("/api/cases", json=case).status_code == 201
        follower = {"kind": "wechat_openid", "value": f"{APP_ID}:{WECHAT_SENDER}"}
        bound = api.post(f"/api/customers/{customer}/identities", json=follower)
        assert bound.status_code == 200, bound.text
        api.close()
        yield Story(console, customer)


def test_a_wechat_message_reaches_the_open_inbox_and_the_agent_answers_on_line(
    story: Story,
    fake_line: FakeLine,
    desktop_page: Page,
    screenshot: Callable[[Page, str], Path],
) -> None:
    page = desktop_page
    assert sign_in(page, story.console.base, "aiko", PASSWORD).endswith("/inbox")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    post_wechat(story.console.base, "wx_jp", WECHAT_SENDER, WECHAT_TEXT)
    arrived = page.get_by_text(WECHAT_TEXT)
    arrived.wait_for(timeout=5_000)
    assert navigations == [], "the message came without a reload"

    page.locator(".conversations > li", has=arrived).locator("a.customer").click()
    page.wait_for_url(f"{story.console.base}/customers/{story.customer}")
    timeline = page.locator("#timeline").inner_text()
    for seen in (WECHAT_TEXT, QUESTION, CASE):
        assert seen in timeline, f"{seen!r} is on the customer's one page"
    assert serious_violations(page) == []
    screenshot(page, "customer-desktop")

    page.get_by_label("Channel").select_option("line")
    page.get_by_label("Message").fill(REPLY)
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Your reply was sent.").wait_for()

    entries = page.locator("#timeline > li")
    assert REPLY in entries.first.inner_text(), "the reply is the newest entry"
    pushed = [sent for sent in fake_line.received if sent["path"].endswith("/push")]
    assert [sent["messages"][0]["text"] for sent in pushed] == [REPLY]
    assert pushed[0]["to"] == SENDER


def test_the_customer_page_fits_a_phone_and_has_no_serious_violation(
    story: Story, phone_page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    page = phone_page
    sign_in(page, story.console.base, "aiko", PASSWORD)
    page.goto(f"{story.console.base}/customers/{story.customer}")

    assert_fits(page)
    assert serious_violations(page) == []
    screenshot(page, "customer-phone")
