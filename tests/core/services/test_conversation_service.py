"""The conversation service: the agents' inbox, scoped to its caller exactly as customers
are, newest first a page at a time, each conversation listed audited; read and taken only
by those who see it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from service_people import (
    AUDIT_PARTNERS,
    PUDONG_MOTORS,
    SHANGHAI_CALL,
    SHANGHAI_MOTORS,
    Person,
    actions,
    sign_in,
)
from sqlalchemy import func, select
from timeline_messages import write_message

from regiocrm.crm.access import Forbidden
from regiocrm.crm.conversations import ConversationError, UnknownConversation
from regiocrm.crm.customers import NewCustomer
from regiocrm.interfaces.terms import Direction, OrganizationKind, UserRole
from regiocrm.models import AuditEvent, Conversation
from regiocrm.platform.ids import new_id
from regiocrm.platform.stores import ZoneStores
from regiocrm.services import Services
from regiocrm.services.application import Application
from regiocrm.services.callers import SYSTEM, Caller
from regiocrm.services.conversations import BadCursor, ConversationService, ConversationView
from regiocrm.services.customers import CustomerService

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
TOKYO_CALL = Person(
    "Tokyo Call", OrganizationKind.CALL_CENTRE, UserRole.CALL_CENTRE_AGENT, None, "JP"
)
SHANGHAI_CALL_2 = Person(
    "Shanghai Call 2", OrganizationKind.CALL_CENTRE, UserRole.CALL_CENTRE_AGENT
)


@pytest.fixture
def people(application: Application) -> dict[str, Caller]:
    return sign_in(
        application,
        SHANGHAI_MOTORS,
        PUDONG_MOTORS,
        SHANGHAI_CALL,
        SHANGHAI_CALL_2,
        TOKYO_CALL,
        AUDIT_PARTNERS,
    )


def registered(app: Application, dealer: Caller, given_name: str) -> uuid.UUID:
    """A customer the dealer registered, which links them to the dealership."""
    customer = CustomerService(app).create(
        dealer, NewCustomer(market="CN", family_name="王", given_name=given_name)
    )
    return customer.id


def message(
    app: Application,
    customer_id: uuid.UUID,
    at: datetime,
    text: str,
    *,
    channel: str = "wechat",
    direction: Direction = Direction.INBOUND,
) -> None:
    """A message on the customer's timeline, written as the inbox writes it."""
    with app.transaction() as session:
        write_message(session, customer_id, text, at, channel=channel, direction=direction)


def conversation_of(app: Application, customer_id: uuid.UUID, channel: str = "wechat") -> uuid.UUID:
    with app.transaction() as session:
        return session.scalars(
            select(Conversation.id).where(
                Conversation.customer_id == customer_id, Conversation.channel == channel
            )
        ).one()


def listed(items: list[ConversationView]) -> list[tuple[str | None, str, str | None]]:
    return [(item.customer_name, item.channel, item.last_summary) for item in items]


@pytest.fixture
def shanghai(application: Application, people: dict[str, Caller]) -> dict[str, uuid.UUID]:
    """Two customers of Shanghai Motors and one of Pudong Motors, writing on WeChat and SMS
    an hour apart: Pudong's customer last."""
    app = application
    ming = registered(app, people["Shanghai Motors"], "小明")
    hong = registered(app, people["Shanghai Motors"], "小红")
    gang = registered(app, people["Pudong Motors"], "刚")
    message(app, ming, T0, "想预约保养")
    message(app, hong, T0 + timedelta(hours=1), "发票呢", channel="sms")
    message(app, ming, T0 + timedelta(hours=2), "好的", channel="sms", direction=Direction.OUTBOUND)
    message(app, gang, T0 + timedelta(hours=3), "车有异响")
    return {"ming": ming, "hong": hong, "gang": gang}


def test_an_agent_sees_every_conversation_of_the_market_newest_first(
    application: Application, people: dict[str, Caller], shanghai: dict[str, uuid.UUID]
) -> None:
    page = ConversationService(application).inbox(people["Shanghai Call"])
    assert listed(page.items) == [
        ("王刚", "wechat", "车有异响"),
        ("王小明", "sms", "好的"),
        ("王小红", "sms", "发票呢"),
        ("王小明", "wechat", "想预约保养"),
    ]
    assert page.next is None
    first = page.items[0]
    assert (first.customer_id, first.market, first.touchpoint) == (
        shanghai["gang"],
        "CN",
        "wechat_cn",
    )
    assert (first.last_message_at, first.last_direction, first.unread) == (
        T0 + timedelta(hours=3),
        "inbound",
        1,
    )
    assert first.as_json()["last_message_at"] == "2026-11-02T12:00:00+00:00"
    assert first.as_json()["customer_id"] == str(shanghai["gang"])


def test_a_scope_of_every_market_sees_every_conversation(
    application: Application, shanghai: dict[str, uuid.UUID]
) -> None:
    """The system (as an administrator) names no market: every market a pack serves is
    asked, each in the zone keeping its customers with their timeline."""
    page = ConversationService(application).inbox(SYSTEM)
    assert [item.customer_id for item in page.items] == [
        shanghai["gang"],
        shanghai["ming"],
        shanghai["hong"],
        shanghai["ming"],
    ]


def test_a_dealer_sees_only_the_conversations_of_their_customers(
    application: Application, people: dict[str, Caller], shanghai: dict[str, uuid.UUID]
) -> None:
    service = ConversationService(application)
    assert {item.customer_id for item in service.inbox(people["Shanghai Motors"]).items} == {
        shanghai["ming"],
        shanghai["hong"],
    }
    assert [item.customer_id for item in service.inbox(people["Pudong Motors"]).items] == [
        shanghai["gang"]
    ]


def test_an_agent_of_another_market_sees_none(
    application: Application, people: dict[str, Caller], shanghai: dict[str, uuid.UUID]
) -> None:
    service = ConversationService(application)
    assert service.inbox(people["Tokyo Call"]).items == []
    assert service.latest(people["Tokyo Call"]) is None
    with pytest.raises(UnknownConversation):
        service.mark_read(people["Tokyo Call"], conversation_of(application, shanghai["gang"]))


def test_another_dealers_conversation_is_unknown_and_stays_as_it_was(
    application: Application,
    people: dict[str, Caller],
    shanghai: dict[str, uuid.UUID],
    migrated: ZoneStores,
) -> None:
    service = ConversationService(application)
    theirs = conversation_of(application, shanghai["gang"])
    for attempt in (
        lambda: service.get(people["Shanghai Motors"], theirs),
        lambda: service.mark_read(people["Shanghai Motors"], theirs),
        lambda: service.assign(people["Shanghai Motors"], theirs),
        lambda: service.mark_read(people["Shanghai Motors"], new_id()),
    ):
        with pytest.raises(UnknownConversation, match="no conversation"):
            attempt()
    with migrated.session() as session:
        kept = session.get_one(Conversation, theirs)
    assert (kept.unread, kept.read_at, kept.assignee_id) == (1, None, None)
    assert actions(migrated, people["Shanghai Motors"]) == ["customer.created"] * 2


def test_a_partner_auditor_reads_no_conversation(
    application: Application, people: dict[str, Caller], shanghai: dict[str, uuid.UUID]
) -> None:
    service = ConversationService(application)
    auditor = people["Audit Partners"]
    conversation = conversation_of(application, shanghai["gang"])
    calls: list[Callable[[], Any]] = [
        lambda: service.inbox(auditor),
        lambda: service.latest(auditor),
        lambda: service.get(auditor, conversation),
        lambda: service.mark_read(auditor, conversation),
        lambda: service.assign(auditor, conversation),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()


def test_each_conversation_listed_is_an_audited_read(
    application: Application,
    people: dict[str, Caller],
    shanghai: dict[str, uuid.UUID],
    migrated: ZoneStores,
) -> None:
    agent = people["Shanghai Call"]
    page = ConversationService(application).inbox(agent, limit=3)
    with migrated.session() as session:
        read = session.scalars(
            select(AuditEvent.subject_id).where(
                AuditEvent.actor_id == agent.user_id, AuditEvent.action == "conversation.read"
            )
        ).all()
    assert sorted(read) == sorted(item.id for item in page.items)


def test_filters_narrow_the_inbox(
    application: Application, people: dict[str, Caller], shanghai: dict[str, uuid.UUID]
) -> None:
    service = ConversationService(application)
    agent, colleague = people["Shanghai Call"], people["Shanghai Call 2"]
    hong_sms = conversation_of(application, shanghai["hong"], "sms")
    ming_wechat = conversation_of(application, shanghai["ming"])
    service.assign(agent, hong_sms)
    service.assign(colleague, ming_wechat)

    def names(**filters: Any) -> list[tuple[str | None, str, str | None]]:
        return listed(service.inbox(agent, **filters).items)

    assert names(mine=True) == [("王小红", "sms", "发票呢")]
    assert names(unassigned=True) == [("王刚", "wechat", "车有异响"), ("王小明", "sms", "好的")]
    assert names(channel="sms") == [("王小明", "sms", "好的"), ("王小红", "sms", "发票呢")]
    # Ming's SMS conversation holds only the dealer's answer.
    assert names(unread_only=True) == [
        ("王刚", "wechat", "车有异响"),
        ("王小红", "sms", "发票呢"),
        ("王小明", "wechat", "想预约保养"),
    ]
    assert names(unread_only=True, unassigned=True, channel="wechat") == [
        ("王刚", "wechat", "车有异响")
    ]
    assert names(channel="line") == []
    with pytest.raises(ConversationError, match="either assigned"):
        service.inbox(agent, mine=True, unassigned=True)
    with pytest.raises(Forbidden):
        service.inbox(SYSTEM, mine=True)


def test_pages_follow_each_other_without_gap_or_repeat(
    application: Application, people: dict[str, Caller], shanghai: dict[str, uuid.UUID]
) -> None:
    service = ConversationService(application)
    agent = people["Shanghai Call"]
    # A tie on the time: the id orders them.
    tied = registered(application, people["Shanghai Motors"], "同时")
    message(application, tied, T0 + timedelta(hours=3), "同一秒")
    everything = [item.id for item in service.inbox(agent).items]
    assert len(everything) == 5
    pages, after = [], None
    while True:
        page = service.inbox(agent, after=after, limit=2)
        pages.append([item.id for item in page.items])
        if page.next is None:
            break
        after = page.next
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [item for page in pages for item in page] == everything


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        "bm90IGEgY3Vyc29y",
        "MjAyNi0xMS0wMlQwOTowMDowMHw",
        "MjAyNi0xMS0wMlQwOTowMDowMHwxMjM=",
    ],
    ids=["garbage", "no separator", "no offset and no id", "not an id"],
)
def test_a_cursor_this_service_did_not_give_is_refused_and_nothing_is_read(
    application: Application,
    people: dict[str, Caller],
    shanghai: dict[str, uuid.UUID],
    migrated: ZoneStores,
    cursor: str,
) -> None:
    agent = people["Shanghai Call"]
    with pytest.raises(BadCursor, match="not a cursor of this listing"):
        ConversationService(application).inbox(agent, after=cursor)
    assert actions(migrated, agent) == []


def test_a_page_holds_at_least_one(application: Application, people: dict[str, Caller]) -> None:
    with pytest.raises(ConversationError, match="at least one"):
        ConversationService(application).inbox(people["Shanghai Call"], limit=0)


def test_reading_a_conversation_clears_its_unread_until_the_next_message(
    application: Application,
    people: dict[str, Caller],
    shanghai: dict[str, uuid.UUID],
    migrated: ZoneStores,
) -> None:
    service = ConversationService(application)
    agent = people["Shanghai Call"]
    conversation = conversation_of(application, shanghai["gang"])
    read = service.mark_read(agent, conversation)
    assert read.unread == 0
    assert read.read_at is not None
    assert [item.customer_id for item in service.inbox(agent, unread_only=True).items] == [
        shanghai["hong"],
        shanghai["ming"],
    ]
    message(application, shanghai["gang"], datetime.now(UTC) + timedelta(seconds=1), "还在吗")
    assert service.get(agent, conversation).unread == 1
    assert "conversation.marked_read" in actions(migrated, agent)


def test_an_agent_takes_a_conversation_hands_it_on_and_lets_it_go(
    application: Application,
    people: dict[str, Caller],
    shanghai: dict[str, uuid.UUID],
    migrated: ZoneStores,
) -> None:
    service = ConversationService(application)
    agent, colleague = people["Shanghai Call"], people["Shanghai Call 2"]
    conversation = conversation_of(application, shanghai["gang"])
    taken = service.assign(agent, conversation)
    assert (taken.assignee_id, taken.assignee_name) == (agent.user_id, "Shanghai Call")
    handed = service.assign(agent, conversation, colleague.user_id)
    assert (handed.assignee_id, handed.assignee_name) == (colleague.user_id, "Shanghai Call 2")
    released = service.assign(colleague, conversation, None)
    assert (released.assignee_id, released.assignee_name) == (None, None)
    with migrated.session() as session:
        assigned = session.scalars(
            select(AuditEvent.detail)
            .where(AuditEvent.action == "conversation.assigned")
            .order_by(AuditEvent.occurred_at, AuditEvent.id)
        ).all()
    assert [detail["assignee"] for detail in assigned] == [
        str(agent.user_id),
        str(colleague.user_id),
        "",
    ]


def test_a_conversation_goes_only_to_someone_who_sees_its_customer(
    application: Application,
    people: dict[str, Caller],
    shanghai: dict[str, uuid.UUID],
    migrated: ZoneStores,
) -> None:
    service = ConversationService(application)
    agent = people["Shanghai Call"]
    conversation = conversation_of(application, shanghai["gang"])
    with pytest.raises(ConversationError, match="Shanghai Motors does not see"):
        service.assign(agent, conversation, people["Shanghai Motors"].user_id)
    with pytest.raises(ConversationError, match="no active user"):
        service.assign(agent, conversation, new_id())
    with pytest.raises(Forbidden):
        service.assign(SYSTEM, conversation)
    with migrated.session() as session:
        assert session.get_one(Conversation, conversation).assignee_id is None
        assert (
            session.scalar(select(func.count()).where(AuditEvent.action == "conversation.assigned"))
            == 0
        )


def test_a_merged_customers_conversation_shows_the_survivor(
    application: Application, people: dict[str, Caller], shanghai: dict[str, uuid.UUID]
) -> None:
    agent = people["Shanghai Call"]
    CustomerService(application).merge(
        agent, shanghai["hong"], shanghai["gang"], reason="same phone"
    )
    page = ConversationService(application).inbox(agent)
    assert [(item.customer_id, item.customer_name, item.last_summary) for item in page.items][
        :1
    ] == [(shanghai["hong"], "王小红", "车有异响")]
    # Shanghai Motors sees the survivor, and so the conversation of the record merged into it.
    dealer = ConversationService(application).inbox(people["Shanghai Motors"])
    assert next(item.last_summary for item in dealer.items) == "车有异响"


def test_latest_tells_when_the_inbox_last_changed(
    application: Application, people: dict[str, Caller], shanghai: dict[str, uuid.UUID]
) -> None:
    service = ConversationService(application)
    agent, dealer = people["Shanghai Call"], people["Pudong Motors"]
    before, dealers = service.latest(agent), service.latest(dealer)
    assert before is not None
    assert dealers is not None
    assert dealers <= before
    service.mark_read(agent, conversation_of(application, shanghai["hong"], "sms"))
    after_read = service.latest(agent)
    assert after_read is not None
    assert after_read > before
    assert service.latest(dealer) == dealers, "a change to a conversation they do not see"


def test_event_handlers_reach_the_conversations(application: Application) -> None:
    assert isinstance(Services(application).conversations, ConversationService)
