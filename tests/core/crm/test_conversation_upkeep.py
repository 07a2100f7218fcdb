"""The timeline keeps each conversation up to date as messages are written: created with
the first message, moved on by later ones, one more unread per inbound message, and left
as it was by a message written again or by a step inside the CRM."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from regiocrm.crm.conversations import Conversations
from regiocrm.crm.customers import Customers, NewCustomer
from regiocrm.crm.timeline import MessageEntry, Step, Timeline, append_once
from regiocrm.interfaces.terms import Direction
from regiocrm.models import Conversation, Customer, DataClass
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.ids import new_id
from regiocrm.platform.stores import ZoneStores

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture
def customer(migrated: ZoneStores, regiocrm_hooks: Hooks) -> Customer:
    with migrated.session() as session:
        return Customers(session, regiocrm_hooks).create(NewCustomer(market="CN"))


def entry(
    customer: Customer,
    at: datetime,
    text: str | None,
    *,
    direction: Direction = Direction.INBOUND,
    touchpoint: str = "wechat_cn",
    summary: str | None = None,
    entry_id: uuid.UUID | None = None,
) -> MessageEntry:
    return MessageEntry(
        id=entry_id or new_id(),
        market=customer.market,
        customer_id=customer.id,
        channel="wechat",
        direction=direction,
        touchpoint=touchpoint,
        text=text,
        summary=summary,
        external_id=None,
        occurred_at=at,
        case_id=None,
    )


def write(stores: ZoneStores, *entries: MessageEntry) -> None:
    """Each entry as the inbox writes it: on the zone placing the customer's timeline."""
    with stores.session() as session:
        connection = session.zone_connection(session.residency.zone_for("CN", DataClass.CRM))
        for each in entries:
            append_once(connection, each)


def conversations(stores: ZoneStores) -> list[dict[str, Any]]:
    with stores.session() as session:
        found = session.scalars(select(Conversation).order_by(Conversation.touchpoint))
        return [
            {
                "touchpoint": c.touchpoint,
                "at": c.last_message_at,
                "direction": c.last_direction,
                "summary": c.last_summary,
                "unread": c.unread,
            }
            for c in found
        ]


def test_an_inbound_message_opens_its_conversation_with_one_unread(
    migrated: ZoneStores, customer: Customer
) -> None:
    write(migrated, entry(customer, T0, "你好"))
    assert conversations(migrated) == [
        {
            "touchpoint": "wechat_cn",
            "at": T0,
            "direction": Direction.INBOUND,
            "summary": "你好",
            "unread": 1,
        }
    ]
    with migrated.session() as session:
        [kept] = session.scalars(select(Conversation))
    assert (kept.market, kept.customer_id, kept.channel) == ("CN", customer.id, "wechat")
    assert (kept.assignee_id, kept.read_at) == (None, None)


def test_inbound_messages_add_up_and_an_outbound_one_changes_no_count(
    migrated: ZoneStores, customer: Customer
) -> None:
    write(
        migrated,
        entry(customer, T0, "在吗"),
        entry(customer, T0 + timedelta(minutes=1), "我想预约保养"),
        entry(customer, T0 + timedelta(minutes=2), "收到", direction=Direction.OUTBOUND),
    )
    assert conversations(migrated) == [
        {
            "touchpoint": "wechat_cn",
            "at": T0 + timedelta(minutes=2),
            "direction": Direction.OUTBOUND,
            "summary": "收到",
            "unread": 2,
        }
    ]


def test_a_message_written_again_counts_once(migrated: ZoneStores, customer: Customer) -> None:
    """An inbox retry writes the same entry (same id) again: it is kept once, and so is
    its count."""
    same = new_id()
    write(migrated, entry(customer, T0, "你好", entry_id=same))
    write(migrated, entry(customer, T0, "你好", entry_id=same))
    [conversation] = conversations(migrated)
    assert conversation["unread"] == 1


def test_an_older_message_written_late_counts_but_does_not_move_the_conversation_back(
    migrated: ZoneStores, customer: Customer
) -> None:
    write(migrated, entry(customer, T0 + timedelta(hours=1), "newer"))
    write(migrated, entry(customer, T0, "older, retried late"))
    [conversation] = conversations(migrated)
    assert (conversation["at"], conversation["summary"], conversation["unread"]) == (
        T0 + timedelta(hours=1),
        "newer",
        2,
    )


def test_each_channel_account_is_a_conversation_of_its_own(
    migrated: ZoneStores, customer: Customer
) -> None:
    write(
        migrated,
        entry(customer, T0, "a", touchpoint="wechat_cn"),
        entry(customer, T0, "b", touchpoint="wechat_cn_service"),
    )
    assert [(c["touchpoint"], c["unread"]) for c in conversations(migrated)] == [
        ("wechat_cn", 1),
        ("wechat_cn_service", 1),
    ]


def test_the_summary_is_the_start_of_the_text_or_what_the_message_was(
    migrated: ZoneStores, customer: Customer
) -> None:
    write(migrated, entry(customer, T0, "长" * 300, touchpoint="long"))
    write(migrated, entry(customer, T0, None, summary="image message", touchpoint="image"))
    assert {c["touchpoint"]: c["summary"] for c in conversations(migrated)} == {
        "image": "image message",
        "long": "长" * 200,
    }


def test_a_message_read_before_it_came_in_late_is_not_unread(
    migrated: ZoneStores, customer: Customer
) -> None:
    write(migrated, entry(customer, T0, "first"))
    with migrated.session() as session:
        [conversation] = session.scalars(select(Conversation))
        Conversations(session).mark_read(conversation)
        read_at = conversation.read_at
    assert read_at is not None
    assert read_at > T0
    write(migrated, entry(customer, T0 + timedelta(seconds=1), "processed after the read"))
    write(migrated, entry(customer, read_at + timedelta(seconds=1), "after the read"))
    [kept] = conversations(migrated)
    assert kept["unread"] == 1


def test_a_message_sent_moves_the_conversation_on_without_unread(
    migrated: ZoneStores, customer: Customer
) -> None:
    write(migrated, entry(customer, T0, "问一下", touchpoint="sms_cn"))
    with migrated.session() as session:
        sent = Timeline(session).sent(
            market="CN",
            customer_id=customer.id,
            channel="wechat",
            touchpoint="sms_cn",
            text="您的车已保养完毕",
            external_id="SM1",
        )
    [conversation] = conversations(migrated)
    assert conversation == {
        "touchpoint": "sms_cn",
        "at": sent.occurred_at,
        "direction": Direction.OUTBOUND,
        "summary": "您的车已保养完毕",
        "unread": 1,
    }


def test_a_step_inside_the_crm_is_no_conversation(migrated: ZoneStores, customer: Customer) -> None:
    with migrated.session() as session:
        Timeline(session).step(
            Step(
                market="CN",
                customer_id=customer.id,
                channel="case",
                touchpoint="case",
                summary="opened",
                organization_id=None,
            )
        )
    assert conversations(migrated) == []


def test_a_message_rolled_back_leaves_its_conversation_as_it_was(
    migrated: ZoneStores, customer: Customer
) -> None:
    write(migrated, entry(customer, T0, "kept"))

    def write_then_fail() -> None:
        with migrated.session() as session:
            connection = session.zone_connection(session.residency.zone_for("CN", DataClass.CRM))
            append_once(connection, entry(customer, T0 + timedelta(hours=1), "lost"))
            raise RuntimeError("the transaction fails after the write")

    with pytest.raises(RuntimeError, match="fails after the write"):
        write_then_fail()
    [conversation] = conversations(migrated)
    assert (conversation["summary"], conversation["unread"]) == ("kept", 1)
