"""Events that can act: event hooks receive the services (``services``), and a handler
acts through them as the system, after the event's own change is committed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from regiocrm import hookimpl
from regiocrm.crm.cases import NewCase
from regiocrm.crm.customers import NewCustomer
from regiocrm.http.app import create_app
from regiocrm.interfaces.channels import ChannelAccount, IdentityRef, InboundMessage
from regiocrm.interfaces.terms import InboxStatus, Priority
from regiocrm.models import AuditEvent, Case, InboxMessage, Interaction
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.services import Services
from regiocrm.services.application import Application
from regiocrm.services.callers import SYSTEM
from regiocrm.services.customers import CustomerService
from regiocrm.testing import upgrade_zones

LINE = LineDriver()
URL = "http://testserver/webhooks/line/line_jp"


# --8<-- [start:acting_on_events]
class CallBack:
    """Opens a case for every message that asks to be called back."""

    @hookimpl
    def message_received(
        self,
        message: InboundMessage,
        account: ChannelAccount,
        customer_id: uuid.UUID,
        services: Services,
    ) -> None:
        if message.text and "電話" in message.text:
            services.cases.open(
                services.caller,
                NewCase(customer_id, account.market, Priority.HIGH, subject=message.text),
            )


# --8<-- [end:acting_on_events]


class Transitions:
    """Records each case transition with the handle it came with."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, uuid.UUID | None, Any]] = []

    @hookimpl
    def case_transitioned(
        self, case_id: uuid.UUID, reason: str, actor_id: uuid.UUID | None, services: Services
    ) -> None:
        self.seen.append((reason, actor_id, services))


class Broken:
    @hookimpl
    def message_received(self, message: InboundMessage) -> None:
        raise RuntimeError("a plugin's bug")


@pytest.fixture
def served(deployment_dir: Any, regiocrm_hooks: Hooks) -> Iterator[tuple[TestClient, Application]]:
    settings = load_settings(regiocrm_hooks, channel_accounts={"line_jp": LINE.account_settings()})
    provider = httpx.Client(transport=httpx.MockTransport(LINE.provider_api))
    with TestClient(create_app(settings, regiocrm_hooks, http_client=provider)) as client:
        application: Application = client.app.state.services  # type: ignore[attr-defined]
        upgrade_zones(application.stores, regiocrm_hooks)
        yield client, application


def deliver(client: TestClient, application: Application, message_id: str, text: str) -> None:
    signed = LINE.text_message(
        URL, sender=LINE.sender(7), text=text, message_id=message_id, at=datetime.now(UTC)
    )
    assert signed.send(client, URL).status_code == 200
    application.inbox.drain()


def test_a_message_received_handler_opens_a_case_through_the_services(
    served: tuple[TestClient, Application], register_plugin: Any
) -> None:
    client, application = served
    transitions = Transitions()
    register_plugin(CallBack())
    register_plugin(transitions)
    deliver(client, application, "m1", "お電話ください")
    deliver(client, application, "m2", "ありがとう")
    with application.transaction() as session:
        [case] = session.scalars(select(Case)).all()
        [sender] = set(session.scalars(select(InboxMessage.customer_id)))
        opened = session.scalars(select(AuditEvent).where(AuditEvent.subject_id == case.id)).all()
    assert (case.customer_id, case.market, case.subject) == (sender, "JP", "お電話ください")
    assert case.organization_id is None, "the system works for no organization"
    assert [event.actor_id for event in opened] == [None], "opened by the system"
    # The case fires its own event, which hands on the services in turn.
    [(reason, actor, services)] = transitions.seen
    assert (reason, actor) == ("opened", None)
    assert isinstance(services, Services)


def test_a_handler_that_raises_loses_no_message(
    served: tuple[TestClient, Application],
    register_plugin: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, application = served
    register_plugin(Broken())
    with caplog.at_level(logging.ERROR):
        deliver(client, application, "m1", "お電話ください")
    with application.transaction() as session:
        [status] = session.scalars(select(InboxMessage.status)).all()
        [entry] = session.scalars(select(Interaction)).all()
    assert status is InboxStatus.PROCESSED
    assert entry.text == "お電話ください"
    assert "a plugin's bug" in caplog.text
    assert "an event hook failed after its change was committed (kept)" in caplog.text


def test_what_a_handler_did_before_it_raised_is_kept(
    served: tuple[TestClient, Application], register_plugin: Any
) -> None:
    """Each call through the services is its own transaction: the event's change and
    what the handler committed stand, whatever the handler does next."""

    class OpensThenFails(CallBack):
        @hookimpl
        def message_received(
            self,
            message: InboundMessage,
            account: ChannelAccount,
            customer_id: uuid.UUID,
            services: Services,
        ) -> None:
            super().message_received(message, account, customer_id, services)
            raise RuntimeError("after the case was opened")

    client, application = served
    register_plugin(OpensThenFails())
    deliver(client, application, "m1", "電話して")
    with application.transaction() as session:
        assert len(session.scalars(select(Case)).all()) == 1
        assert session.scalars(select(InboxMessage.status)).all() == [InboxStatus.PROCESSED]


def test_the_system_acts_as_no_user_and_sees_every_market(
    served: tuple[TestClient, Application],
) -> None:
    _client, application = served
    customers = CustomerService(application)
    japanese = customers.create(SYSTEM, NewCustomer(market="JP"), [IdentityRef("line", "U1")])
    korean = customers.create(SYSTEM, NewCustomer(market="KR"))
    assert {c.id for c in customers.page(SYSTEM, after=None, limit=10).items} == {
        japanese.id,
        korean.id,
    }
    with application.transaction() as session:
        reads = session.scalars(
            select(AuditEvent.actor_id).where(AuditEvent.action == "customer.read")
        ).all()
    assert reads == [None, None]


def test_a_merge_hands_the_services_to_customer_merged(
    served: tuple[TestClient, Application], register_plugin: Any
) -> None:
    handed: list[Any] = []

    class Merged:
        @hookimpl
        def customer_merged(self, survivor_id: uuid.UUID, services: Services) -> None:
            handed.append(services.customers.get(services.caller, survivor_id))

    _client, application = served
    register_plugin(Merged())
    customers = CustomerService(application)
    one = customers.create(SYSTEM, NewCustomer(market="JP"))
    other = customers.create(SYSTEM, NewCustomer(market="JP"))
    customers.merge(SYSTEM, one.id, other.id, reason="the same person")
    assert [view.id for view in handed] == [one.id]


def test_hooks_outside_an_application_hand_no_services(
    regiocrm_hooks: Hooks, register_plugin: Any
) -> None:
    """Code that drives the domain with its own hooks (as some tests do) has no services
    to hand."""
    handed: list[Any] = []

    class Moved:
        @hookimpl
        def residency_moved(self, services: Services | None) -> None:
            handed.append(services)

    register_plugin(Moved())
    regiocrm_hooks.residency_moved(market="JP", data_class="crm", source="jp", target="kr", rows=1)
    assert handed == [None]
