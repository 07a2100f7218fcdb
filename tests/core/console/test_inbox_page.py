"""The agents' inbox: conversations across channels, newest first, filtered, taken and read
through forms with the session's CSRF token, and kept live by a rows fragment htmx polls,
which answers 204 until something the reader sees changed."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from console_client import ConsoleBrowser, ConsoleDeployment, html_lang
from console_world import ConsoleWorld

from regiocrm.console import inbox
from regiocrm.interfaces.terms import Direction

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
CUSTOMER = re.compile(r'class="customer" href="/customers/([^"]+)">([^<]+)</a>')
POLL = re.compile(r'hx-get="(/inbox/rows\?[^"]+)" hx-trigger="every 3s"')
TAKE = re.compile(r'action="/inbox/([^"/]+)/take"')


@dataclass
class Shanghai:
    """Two customers of Shanghai Motors (``ming``, ``hong``) and one of Pudong Motors
    (``gang``), writing an hour apart on WeChat and SMS, Pudong's customer last; Shanghai
    Motors answered ``ming`` on SMS."""

    world: ConsoleWorld
    ming: uuid.UUID
    hong: uuid.UUID
    gang: uuid.UUID


@pytest.fixture
def shanghai(console: ConsoleDeployment) -> Shanghai:
    world = ConsoleWorld(console)
    ming = world.customer("zhou", "王", "小明")
    hong = world.customer("zhou", "王", "小红")
    gang = world.customer("wang", "王", "刚")
    world.message(ming, "想预约保养", T0)
    world.message(hong, "发票呢", T0 + timedelta(hours=1), channel="sms")
    answered = T0 + timedelta(hours=2)
    world.message(ming, "好的", answered, channel="sms", direction=Direction.OUTBOUND)
    world.message(gang, "车有异响", T0 + timedelta(hours=3))
    return Shanghai(world, ming, hong, gang)


def listed(page: str) -> list[tuple[str, str]]:
    """Each conversation's customer id and name, in the order shown."""
    return [(customer, html.unescape(name)) for customer, name in CUSTOMER.findall(page)]


def names(page: str) -> list[str]:
    return [name for _customer, name in listed(page)]


def poll_url(page: str) -> str:
    found = POLL.search(page)
    assert found, "the list polls for its rows"
    return html.unescape(found.group(1))


def cards(page: str) -> list[str]:
    """Each conversation's card, in the order shown."""
    found = page.split('<ul class="cards conversations">', 1)[1].split("</ul>", 1)[0]
    return found.split("<li")[1:]


def conversation_ids(page: str) -> list[str]:
    return TAKE.findall(page)


def test_an_agent_sees_every_conversation_newest_first_with_its_customer_link(
    shanghai: Shanghai,
) -> None:
    page = shanghai.world.signed_in("lin").get("/inbox")
    assert page.status_code == 200
    assert listed(page.text) == [
        (str(shanghai.gang), "王刚"),
        (str(shanghai.ming), "王小明"),
        (str(shanghai.hong), "王小红"),
        (str(shanghai.ming), "王小明"),
    ]
    first, answered, second, oldest = cards(page.text)
    assert "车有异响" in first
    assert '<span class="badge">WeChat</span>' in first
    assert "1 unread" in first
    assert f'<time datetime="{(T0 + timedelta(hours=3)).isoformat()}">' in first
    assert "Unassigned" in first
    assert "发票呢" in second
    assert '<span class="badge">SMS</span>' in second
    assert "想预约保养" in oldest
    assert "Sent:" in answered, "the last message went out"
    assert "unread" not in answered
    assert "/read" not in answered, "nothing to mark read"


def test_a_dealer_sees_only_the_conversations_of_their_own_customers(
    shanghai: Shanghai,
) -> None:
    assert names(shanghai.world.signed_in("zhou").get("/inbox").text) == [
        "王小明",
        "王小红",
        "王小明",
    ]
    assert names(shanghai.world.signed_in("wang").get("/inbox").text) == ["王刚"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("unread=1", ["王刚", "王小红", "王小明"]),
        ("channel=sms", ["王小明", "王小红"]),
        ("channel=sms&unread=1", ["王小红"]),
        ("whose=unassigned", ["王刚", "王小明", "王小红", "王小明"]),
        ("whose=mine", []),
    ],
)
def test_filters_narrow_the_list_and_the_poll_keeps_them(
    shanghai: Shanghai, query: str, expected: list[str]
) -> None:
    page = shanghai.world.signed_in("lin").get(f"/inbox?{query}")
    assert page.status_code == 200
    assert names(page.text) == expected
    for asked in query.split("&"):
        assert asked in poll_url(page.text)


def test_taking_a_conversation_makes_it_the_readers_and_keeps_the_filters(
    shanghai: Shanghai,
) -> None:
    browser = shanghai.world.signed_in("lin")
    newest = conversation_ids(browser.get("/inbox?channel=wechat").text)[0]
    taken = browser.post_form(f"/inbox/{newest}/take", {"next": "/inbox?channel=wechat"})
    assert (taken.status_code, taken.headers["location"]) == (303, "/inbox?channel=wechat")
    mine = browser.get("/inbox?whose=mine").text
    assert names(mine) == ["王刚"]
    assert "Yours" in mine
    assert f"/inbox/{newest}/take" not in mine, "taken already"
    assert names(browser.get("/inbox?whose=unassigned").text) == ["王小明", "王小红", "王小明"]
    others = shanghai.world.signed_in("mei").get("/inbox").text
    assert "Handled by lin" in others


def test_marking_read_clears_the_unread_count(shanghai: Shanghai) -> None:
    browser = shanghai.world.signed_in("lin")
    newest = conversation_ids(browser.get("/inbox").text)[0]
    read = browser.post_form(f"/inbox/{newest}/read", {"next": "/inbox?unread=1"})
    assert (read.status_code, read.headers["location"]) == (303, "/inbox?unread=1")
    assert names(browser.get("/inbox?unread=1").text) == ["王小红", "王小明"]


@pytest.mark.parametrize("action", ["take", "read"])
def test_an_action_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    shanghai: Shanghai, action: str
) -> None:
    browser = shanghai.world.signed_in("lin")
    newest = conversation_ids(browser.get("/inbox").text)[0]
    forged = browser.client.post(f"/inbox/{newest}/{action}", data={"csrf_token": "guessed"})
    assert forged.status_code == 403
    newest_card = cards(browser.get("/inbox").text)[0]
    assert "Unassigned" in newest_card, "still nobody's"
    assert "1 unread" in newest_card


@pytest.mark.parametrize("action", ["take", "read"])
def test_another_dealers_conversation_is_not_found_and_stays_as_it_was(
    shanghai: Shanghai, action: str
) -> None:
    gangs = conversation_ids(shanghai.world.signed_in("wang").get("/inbox").text)[0]
    zhou = shanghai.world.signed_in("zhou")
    answer = zhou.post_form(f"/inbox/{gangs}/{action}", {"next": "/inbox"})
    assert answer.status_code == 404
    assert "There is nothing here that you can see" in answer.text
    assert zhou.post_form(f"/inbox/{uuid.uuid4()}/{action}", {}).status_code == 404
    page = shanghai.world.signed_in("wang").get("/inbox").text
    assert "1 unread" in page
    assert "Unassigned" in page


def test_the_poll_answers_204_until_a_new_message_then_only_the_rows(
    shanghai: Shanghai, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The list asks for what changed after it was drawn, to the microsecond.
    monkeypatch.setattr(inbox, "SETTLING", timedelta(0))
    browser = shanghai.world.signed_in("lin")
    page = browser.get("/inbox?unread=1").text
    assert re.search(r'<div id="inbox-live" aria-live="polite">\s*<div id="inbox-rows"', page)
    poll = poll_url(page)
    quiet = browser.get(poll, **{"HX-Request": "true"})
    assert quiet.status_code == 204
    assert quiet.content == b""
    newcomer = shanghai.world.customer("lin", "赵", "敏")
    shanghai.world.message(newcomer, "你好，在吗", datetime.now(UTC))
    fresh = browser.get(poll, **{"HX-Request": "true"})
    assert fresh.status_code == 200
    assert fresh.text.lstrip().startswith('<div id="inbox-rows"')
    for layout in ("<html", "<head", "<nav", "<h1", "<footer"):
        assert layout not in fresh.text
    assert names(fresh.text) == ["赵敏", "王刚", "王小红", "王小明"]
    assert "你好，在吗" in fresh.text
    again = poll_url(fresh.text)
    assert "unread=1" in again
    assert again != poll, "the next poll asks from the new state"
    assert browser.get(again, **{"HX-Request": "true"}).status_code == 204


def test_the_first_poll_draws_a_change_made_just_before_the_page_was(
    shanghai: Shanghai, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every message of the fixture was written within the hour before the page.
    monkeypatch.setattr(inbox, "SETTLING", timedelta(hours=1))
    browser = shanghai.world.signed_in("lin")
    first = browser.get(poll_url(browser.get("/inbox").text))
    assert first.status_code == 200
    assert names(first.text) == ["王刚", "王小明", "王小红", "王小明"]
    assert browser.get(poll_url(first.text)).status_code == 204


def test_an_empty_inbox_polls_too_and_shows_the_first_conversation(
    console: ConsoleDeployment,
) -> None:
    world = ConsoleWorld(console)
    browser = world.signed_in("lin")
    page = browser.get("/inbox").text
    assert "No conversations to show." in page
    poll = poll_url(page)
    assert browser.get(poll).status_code == 204
    world.message(world.customer("lin", "赵", "敏"), "第一条", T0)
    assert names(browser.get(poll).text) == ["赵敏"]


def test_without_a_session_the_poll_sends_the_whole_page_to_sign_in(
    shanghai: Shanghai,
) -> None:
    answer = shanghai.world.console.browser().get("/inbox/rows?since=-", **{"HX-Request": "true"})
    assert answer.status_code == 401
    assert answer.headers["hx-redirect"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/inbox", "/inbox/rows"])
def test_an_auditor_is_refused_the_inbox_with_a_reason(shanghai: Shanghai, path: str) -> None:
    answer = shanghai.world.signed_in("audrey").get(path)
    assert answer.status_code == 403
    assert "does not work with customers" in answer.text
    assert "王" not in answer.text


def test_a_channel_the_form_does_not_offer_is_refused_beside_its_field(
    shanghai: Shanghai,
) -> None:
    page = shanghai.world.signed_in("lin").get("/inbox?channel=pigeon&whose=everyone")
    assert page.status_code == 422
    assert 'aria-describedby="channel-error"' in page.text
    assert '<p class="field-error" id="channel-error">' in page.text
    assert '<p class="field-error" id="whose-error">' in page.text
    assert names(page.text) == []


def test_pages_follow_each_other_and_only_the_first_is_live(
    shanghai: Shanghai, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox, "PAGE_SIZE", 3)
    browser = shanghai.world.signed_in("lin")
    first = browser.get("/inbox").text
    assert names(first) == ["王刚", "王小明", "王小红"]
    older = re.search(r'<a href="(/inbox\?after=[^"]+)">Older conversations</a>', first)
    assert older
    second = browser.get(html.unescape(older.group(1))).text
    assert names(second) == ["王小明"]
    assert POLL.search(second) is None
    assert "Older conversations" not in second
    assert '<a href="/inbox">Newest conversations</a>' in second


def test_a_cursor_the_page_did_not_give_is_refused_with_a_way_back(shanghai: Shanghai) -> None:
    page = shanghai.world.signed_in("lin").get("/inbox?after=bm90IGEgY3Vyc29y&unread=1")
    assert page.status_code == 400
    assert "start again" in page.text
    assert '<a href="/inbox?unread=1">' in page.text
    assert names(page.text) == []


def test_a_japanese_user_reads_the_inbox_in_japanese(shanghai: Shanghai) -> None:
    browser: ConsoleBrowser = shanghai.world.signed_in("lin")
    browser.post_form("/language", {"locale": "ja"})
    page = browser.get("/inbox").text
    assert html_lang(page) == "ja"
    assert "<h1>受信箱</h1>" in page
    # 12:00 UTC on Shanghai's clock, as Japanese writes a date.
    assert ">2026/11/02 20:00:00<" in page
