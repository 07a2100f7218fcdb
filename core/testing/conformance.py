"""The channel conformance kit: one test suite every channel plugin runs against itself.

Subclass :class:`ChannelConformance` in a test module and name the plugin's driver; pytest
collects the inherited tests::

    from regiocrm.testing.conformance import ChannelConformance
    from my_channel.testing import MyDriver


    class TestMyChannel(ChannelConformance):
        driver = MyDriver()

Each test serves a fresh deployment (embedded SQLite, one account on the channel) with the
real webhook route, inbox, worker and customer API; the provider's API is the driver's,
behind an ``httpx.MockTransport``, so no test touches the network.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.hookspecs import hookimpl
from regiocrm.http.app import create_app
from regiocrm.interfaces.channels import InboundMessage
from regiocrm.messaging.inbox import UNSTORABLE
from regiocrm.models import (
    DataClass,
    Identity,
    InboxMessage,
    InboxStatus,
    Interaction,
    OrganizationKind,
    UserRole,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings, load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.residency.rules import Residency
from regiocrm.services.application import Application
from regiocrm.testing import upgrade_zones
from regiocrm.testing.channels import ChannelDriver, SignedRequest

ACCOUNT = "conformance"
BASE_URL = "http://testserver"


@dataclass
class Deployment:
    """A served deployment with one account on the channel under test."""

    client: TestClient
    services: Application
    url: str
    auth: dict[str, str]
    provider_calls: list[httpx.Request] = field(default_factory=list)

    def deliver(self, request: SignedRequest) -> httpx.Response:
        return request.send(self.client, self.url.removeprefix(BASE_URL))

    def count(self, model: type[InboxMessage] | type[Interaction]) -> int:
        self.services.inbox.drain()
        with self.services.stores.session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)


class _Received:
    """Records ``message_received`` calls; can hold the worker inside the hook."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    @hookimpl
    def message_received(
        self,
        message: InboundMessage,
        account: Any,
        customer_id: uuid.UUID,
        interaction_id: uuid.UUID,
    ) -> None:
        self.entered.set()
        self.hold.wait(timeout=30)
        self.messages.append(message)


class _ChannelPlugin:
    def __init__(self, driver: ChannelDriver) -> None:
        self.driver = driver

    @hookimpl
    def register_channels(self) -> list[Any]:
        return [self.driver.channel]


class ChannelConformance:
    """What every channel must do; subclass it with ``driver = YourDriver()``."""

    driver: ClassVar[ChannelDriver]

    @pytest.fixture
    def received(self, register_plugin: Any) -> _Received:
        recorder = _Received()
        register_plugin(recorder)
        return recorder

    @pytest.fixture
    def conformance_zones(self) -> dict[str, str]:
        """The deployment's ``[zones]``; override it to run the kit on PostgreSQL, naming
        the zone the packs place the driver's market in (``market_zone``). Empty: the
        embedded SQLite default."""
        return {}

    @pytest.fixture
    def market_zone(self, regiocrm_hooks: Hooks) -> str:
        """The zone the driver's market keeps its data in, as the packs place it."""
        residency = Residency.build(regiocrm_hooks.packs(), RegiocrmSettings())
        return residency.zone_for(self.driver.market, DataClass.CRM)

    @pytest.fixture
    def deployment(
        self,
        deployment_dir: Any,
        regiocrm_hooks: Hooks,
        register_plugin: Any,
        received: _Received,
        conformance_zones: dict[str, str],
    ) -> Iterator[Deployment]:
        if self.driver.channel.name not in regiocrm_hooks.channels():
            register_plugin(_ChannelPlugin(self.driver))
        # A deployment of the driver's market alone, at home in its first zone.
        zones = (
            {"zones": conformance_zones, "home_zone": next(iter(conformance_zones))}
            if conformance_zones
            else {}
        )
        settings = load_settings(
            regiocrm_hooks,
            **zones,
            deployment={"market": self.driver.market},
            channel_accounts={ACCOUNT: self.driver.account_settings()},
        )
        stores = ZoneStores.open(settings, regiocrm_hooks)
        upgrade_zones(stores, regiocrm_hooks)
        with stores.session() as session:
            org = create_organization(
                session, name="HQ", kind=OrganizationKind.OEM, market=self.driver.market
            )
            agent = create_user(
                session, name="agent", role=UserRole.CALL_CENTRE_AGENT, organization=org
            )
        stores.dispose()
        auth = {"Authorization": f"Bearer {agent.token}"}
        calls: list[httpx.Request] = []

        def provider(request: httpx.Request) -> httpx.Response:
            calls.append(request)
            return self.driver.provider_api(request)

        client = httpx.Client(transport=httpx.MockTransport(provider))
        app = create_app(settings, regiocrm_hooks, http_client=client)
        url = f"{BASE_URL}/webhooks/{self.driver.channel.name}/{ACCOUNT}"
        with TestClient(app, base_url=BASE_URL) as test_client:
            yield Deployment(test_client, app.state.services, url, auth, calls)
        client.close()

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    def message(self, deployment: Deployment, *, sender: int = 1, text: str = "你好") -> Any:
        return self.driver.text_message(
            deployment.url,
            sender=self.driver.sender(sender),
            text=text,
            message_id="m-1",
            at=self.now(),
        )

    # -- refusals: nothing is stored ------------------------------------------------------

    def test_refuses_a_missing_signature(self, deployment: Deployment) -> None:
        response = deployment.deliver(self.driver.strip_signature(self.message(deployment)))
        assert response.status_code == 401
        assert deployment.count(InboxMessage) == 0

    def test_refuses_a_forged_signature(self, deployment: Deployment) -> None:
        response = deployment.deliver(self.driver.forge_signature(self.message(deployment)))
        assert response.status_code == 403
        assert deployment.count(InboxMessage) == 0

    def test_refuses_a_stale_request(self, deployment: Deployment) -> None:
        body = self.driver.text_body(
            sender=self.driver.sender(1), text="hi", message_id="m-1", at=self.now()
        )
        stale = self.driver.stale(deployment.url, body, at=self.now())
        if stale is None:
            pytest.skip(f"{self.driver.channel.name}'s provider signs no time")
        assert deployment.deliver(stale).status_code == 403
        assert deployment.count(InboxMessage) == 0

    def test_refuses_a_malformed_body(self, deployment: Deployment) -> None:
        response = deployment.deliver(self.driver.malformed(deployment.url, at=self.now()))
        assert response.status_code == 400
        assert deployment.count(InboxMessage) == 0

    def test_refuses_an_oversized_body(self, deployment: Deployment) -> None:
        limit = deployment.services.settings.http.max_body_bytes
        text = "x" * (limit + 1)
        request = self.driver.text_message(
            deployment.url,
            sender=self.driver.sender(1),
            text=text,
            message_id="m-big",
            at=self.now(),
        )
        assert deployment.deliver(request).status_code == 413
        assert deployment.count(InboxMessage) == 0

    def test_refuses_hostile_bodies(self, deployment: Deployment) -> None:
        """Each of the driver's hostile requests: 400 with the reason, nothing stored."""
        hostile = self.driver.hostile(deployment.url, at=self.now())
        if not hostile:
            pytest.skip(f"the {self.driver.channel.name} driver names no hostile bodies")
        answers = {name: deployment.deliver(request) for name, request in hostile.items()}
        assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(
            hostile, 400
        ), {name: answer.text[:200] for name, answer in answers.items()}
        for name, answer in answers.items():
            assert answer.json()["detail"], f"{name}: no reason given"
        assert deployment.count(InboxMessage) == 0

    def test_unknown_account_is_not_found(self, deployment: Deployment) -> None:
        request = self.message(deployment)
        url = deployment.url.replace(ACCOUNT, "nobody")
        response = deployment.client.post(url, content=request.body, headers=request.headers)
        assert response.status_code == 404

    def test_url_verification(self, deployment: Deployment) -> None:
        check = self.driver.handshake(deployment.url, at=self.now())
        if check is None:
            pytest.skip(f"{self.driver.channel.name}'s provider makes no URL check")
        request, expected = check
        response = deployment.deliver(request)
        assert response.status_code == 200
        assert response.content == expected
        tampered = replace(request, query={k: f"{v}0" for k, v in request.query.items()})
        refused = deployment.deliver(tampered)
        assert refused.status_code in (400, 401, 403)
        assert expected not in refused.content

    # -- what no database keeps ------------------------------------------------------------

    @pytest.mark.parametrize("character", ["\x00", "\ud800"], ids=["NUL", "lone surrogate"])
    @pytest.mark.parametrize("field", ["text", "sender", "message_id"])
    def test_a_message_acknowledged_never_fails_for_its_characters(
        self, deployment: Deployment, field: str, character: str
    ) -> None:
        """NUL (PostgreSQL refuses it in text) or a lone surrogate (no database can encode
        it) in what the customer wrote, in who they are, or in the provider's message id.

        A channel may refuse the body (400, nothing stored) where its format cannot carry
        the character or holds it to be hostile. What it acknowledges must reach the
        timeline with U+FFFD in the character's place, and never fail for its content:
        the provider would not send it again.
        """
        values = {"text": "ab", "sender": self.driver.sender(5), "message_id": "m-odd"}
        # Inside the text; after the sender and the id, where a phone number stays one.
        values[field] = f"a{character}b" if field == "text" else values[field] + character
        try:
            request = self.driver.text_message(deployment.url, at=self.now(), **values)
        except UnicodeEncodeError:
            pytest.skip(f"{self.driver.channel.name}'s format cannot carry {character!r}")
        entry = self.processed_unless_refused(deployment, deployment.deliver(request))
        if entry is not None and field == "text":
            assert entry.text == "a\ufffdb"

    @pytest.mark.parametrize("field", ["sender", "message_id"])
    def test_an_id_longer_than_the_database_keeps_is_refused(
        self, deployment: Deployment, field: str
    ) -> None:
        """A sender or a message id of over 400 characters, longer than its column:
        PostgreSQL refuses to store it (SQLite keeps it), so the channel answers 400 and
        stores nothing, unless it does not use the value (Kakao makes its own ids)."""
        values = {"text": "hi", "sender": self.driver.sender(6), "message_id": "m-long"}
        values[field] += "0" * 400
        request = self.driver.text_message(deployment.url, at=self.now(), **values)
        entry = self.processed_unless_refused(deployment, deployment.deliver(request))
        if entry is not None:
            assert len(entry.external_id or "") < 400

    @staticmethod
    def processed_unless_refused(deployment: Deployment, response: httpx.Response) -> Any:
        """The timeline entry of a message the channel acknowledged, checked to be
        processed and to hold no character a database refuses; None when the channel
        refused it with 400, having stored nothing."""
        assert response.status_code < 500, response.text
        if not response.is_success:
            assert response.status_code == 400, response.text
            assert response.json()["detail"]
            assert deployment.count(InboxMessage) == 0
            return None
        deployment.services.inbox.drain()
        with deployment.services.stores.session() as session:
            inbox = session.execute(select(InboxMessage.status, InboxMessage.error)).all()
            entries = session.execute(select(Interaction.text, Interaction.external_id)).all()
            identities = session.scalars(select(Identity.value)).all()
        assert [(row.status, row.error) for row in inbox] == [(InboxStatus.PROCESSED, None)]
        [entry] = entries
        kept = [entry.text or "", entry.external_id or "", *identities]
        assert not [value for value in kept if UNSTORABLE.search(value)]
        return entry

    # -- the main job ---------------------------------------------------------------------

    def test_message_lands_on_the_senders_timeline(
        self, deployment: Deployment, received: _Received
    ) -> None:
        response = deployment.deliver(self.message(deployment, sender=42, text="車検の予約"))
        assert response.is_success
        assert deployment.count(Interaction) >= 1
        identity = self.driver.sender_identity(self.driver.sender(42))
        found = deployment.client.get(
            "/api/customers",
            params={"identity": f"{identity.kind}:{identity.value}"},
            headers=deployment.auth,
        ).json()["items"]
        assert len(found) == 1
        timeline = deployment.client.get(
            f"/api/customers/{found[0]['id']}/timeline", headers=deployment.auth
        ).json()["items"]
        inbound = [item for item in timeline if item["direction"] == "inbound"]
        assert [(i["channel"], i["text"]) for i in inbound] == [
            (self.driver.channel.name, "車検の予約")
        ]
        assert [m.text for m in received.messages] == ["車検の予約"]

    def test_redelivery_is_stored_once(self, deployment: Deployment, received: _Received) -> None:
        """Three deliveries of one message: one message, where the provider redelivers;
        three, where it never does (each request is then a message of its own)."""
        request = self.message(deployment)
        answers = [deployment.deliver(request) for _ in range(3)]
        assert all(answer.is_success for answer in answers)
        expected = 1 if self.driver.channel.redelivers else 3
        assert deployment.count(InboxMessage) == expected
        assert deployment.count(Interaction) == expected
        assert len(received.messages) == expected

    def test_answers_before_the_heavy_work(
        self, deployment: Deployment, received: _Received
    ) -> None:
        received.hold.clear()
        try:
            response = deployment.deliver(self.message(deployment))
            # The worker is still held inside message_received: the answer did not wait.
            assert response.is_success
            assert received.entered.wait(timeout=10)
            assert received.messages == []
        finally:
            received.hold.set()
        assert deployment.count(Interaction) == 1
        assert len(received.messages) == 1

    def test_sends_through_the_provider_api(self, deployment: Deployment) -> None:
        deployment.deliver(self.message(deployment, sender=7))
        identity = self.driver.sender_identity(self.driver.sender(7))
        auth = deployment.auth
        deployment.services.inbox.drain()
        [customer] = deployment.client.get(
            "/api/customers", params={"identity": f"{identity.kind}:{identity.value}"}, headers=auth
        ).json()["items"]
        refused = deployment.client.post(
            f"/api/customers/{customer['id']}/messages", json={"text": "hello"}, headers=auth
        )
        assert refused.status_code == 403
        deployment.client.post(
            f"/api/customers/{customer['id']}/consents",
            json={"purpose": "service", "channel": self.driver.channel.name},
            headers=auth,
        )
        sent = deployment.client.post(
            f"/api/customers/{customer['id']}/messages",
            json={"text": "您的车已经准备好了"},
            headers=auth,
        )
        assert sent.status_code == 201, sent.text
        texts = self.driver.sent_texts(deployment.provider_calls)
        assert "您的车已经准备好了" in texts
