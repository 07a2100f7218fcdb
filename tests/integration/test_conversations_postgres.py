"""Conversations on PostgreSQL: the timeline's upsert as PostgreSQL runs it (a retry counts
once, an older message does not move the conversation back) and the inbox listed and read
through the service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.crm.customers import NewCustomer
from regiocrm.crm.timeline import MessageEntry, append_once
from regiocrm.interfaces.terms import Direction, OrganizationKind, UserRole
from regiocrm.models import DataClass
from regiocrm.platform.ids import new_id
from regiocrm.services.application import Application
from regiocrm.services.conversations import ConversationService
from regiocrm.services.customers import CustomerService

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def test_the_inbox_on_postgresql(cn_application: Application) -> None:
    with cn_application.transaction() as session:
        org = create_organization(
            session, name="Shanghai Call", kind=OrganizationKind.CALL_CENTRE, market="CN"
        )
        token = create_user(
            session, name="mei", role=UserRole.CALL_CENTRE_AGENT, organization=org
        ).token
    agent = cn_application.authenticate(token)
    assert agent is not None
    customer = CustomerService(cn_application).create(
        agent, NewCustomer(market="CN", family_name="王", given_name="刚")
    )

    def write(
        at: datetime,
        text: str,
        direction: Direction = Direction.INBOUND,
        entry_id: uuid.UUID | None = None,
    ) -> None:
        with cn_application.transaction() as session:
            append_once(
                session.zone_connection(session.residency.zone_for("CN", DataClass.CRM)),
                MessageEntry(
                    id=entry_id or new_id(),
                    market="CN",
                    customer_id=customer.id,
                    channel="wechat",
                    direction=direction,
                    touchpoint="wechat_cn",
                    text=text,
                    summary=None,
                    external_id=None,
                    occurred_at=at,
                    case_id=None,
                ),
            )

    retried = new_id()
    write(T0, "在吗", entry_id=retried)
    write(T0, "在吗", entry_id=retried)
    write(T0 + timedelta(hours=1), "收到", Direction.OUTBOUND)
    write(T0 + timedelta(minutes=30), "older, processed late")
    service = ConversationService(cn_application)
    [item] = service.inbox(agent).items
    assert (item.customer_name, item.unread, item.last_summary, item.last_direction) == (
        "王刚",
        2,
        "收到",
        "outbound",
    )
    assert item.last_message_at == T0 + timedelta(hours=1)
    assert service.mark_read(agent, item.id).unread == 0
    assert service.assign(agent, item.id).assignee_name == "mei"
    assert [i.id for i in service.inbox(agent, mine=True).items] == [item.id]
    assert service.inbox(agent, unread_only=True).items == []
