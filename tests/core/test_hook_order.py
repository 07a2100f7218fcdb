"""Every hook, implemented inline with its argument types checked, called in a pinned order
while a deployment is set up and served."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import typer
from babel import Locale
from fastapi import APIRouter
from fastapi.testclient import TestClient

from regiocrm import SettingsSection, hookimpl
from regiocrm.http.app import create_app
from regiocrm.interfaces.calendars import Service
from regiocrm.interfaces.channels import Channel, ChannelAccount, InboundMessage
from regiocrm.interfaces.formats import Address, PersonName
from regiocrm.interfaces.packs import Pack, PackSpec
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import Section, load_settings
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.services import Services


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def register_settings(self) -> list[SettingsSection]:
        self.calls.append("register_settings")
        return [SettingsSection("recorder", Section)]

    @hookimpl
    def register_commands(self, cli: typer.Typer) -> None:
        assert isinstance(cli, typer.Typer)
        self.calls.append("register_commands")

    @hookimpl
    def register_routes(self) -> list[APIRouter]:
        self.calls.append("register_routes")
        return []

    @hookimpl
    def register_migrations(self) -> list[Path]:
        self.calls.append("register_migrations")
        return []

    @hookimpl
    def register_packs(self) -> list[PackSpec]:
        self.calls.append("register_packs")
        return []

    @hookimpl
    def format_name(self, name: PersonName, market: str, pack: Pack) -> None:
        assert isinstance(name, PersonName)
        assert isinstance(pack, Pack)
        assert market in pack.markets
        self.calls.append("format_name")

    @hookimpl
    def format_address(self, address: Address, market: str, pack: Pack, latin: bool) -> None:
        assert isinstance(address, Address)
        assert isinstance(pack, Pack)
        assert isinstance(latin, bool)
        self.calls.append("format_address")

    @hookimpl
    def normalize_identity(self, kind: str, value: str, market: str) -> None:
        assert isinstance(kind, str)
        assert isinstance(value, str)
        self.calls.append("normalize_identity")

    @hookimpl
    def business_calendar(
        self, market: str, pack: Pack, service: Service, subdivision: str | None
    ) -> None:
        assert isinstance(service, Service)
        assert subdivision is None, "the market's own clock"
        self.calls.append("business_calendar")

    @hookimpl
    def register_channels(self) -> list[Channel]:
        self.calls.append("register_channels")
        return []

    @hookimpl
    def auto_reply(self, message: InboundMessage, account: ChannelAccount, locale: str) -> None:
        assert isinstance(message, InboundMessage)
        assert isinstance(account, ChannelAccount)
        assert Locale.parse(locale).language == "ja"
        self.calls.append("auto_reply")

    @hookimpl
    def message_received(
        self,
        message: InboundMessage,
        account: ChannelAccount,
        customer_id: uuid.UUID,
        interaction_id: uuid.UUID,
        services: Services,
    ) -> None:
        assert isinstance(customer_id, uuid.UUID)
        assert isinstance(interaction_id, uuid.UUID)
        assert isinstance(services, Services)
        self.calls.append("message_received")

    @hookimpl
    def customer_merged(
        self,
        survivor_id: uuid.UUID,
        merged_id: uuid.UUID,
        reason: str,
        actor_id: uuid.UUID | None,
        services: Services,
    ) -> None:
        assert survivor_id < merged_id
        assert isinstance(actor_id, uuid.UUID)
        assert isinstance(services, Services)
        self.calls.append("customer_merged")


def test_hook_call_order(register_plugin, regiocrm_cli, regiocrm_hooks: Hooks) -> None:
    recorder = Recorder()
    register_plugin(recorder)

    assert regiocrm_cli("db", "upgrade").exit_code == 0
    # Settings load with the channels' account models and are checked against the packs'
    # residency rules; the application is opened (its channel registry, its migrator), and
    # the zones are migrated.
    assert recorder.calls == [
        "register_commands",
        "register_channels",
        "register_settings",
        "register_packs",
        "register_channels",
        "register_migrations",
    ]

    recorder.calls.clear()
    added = regiocrm_cli("users", "add", "chen", "--role", "competence_centre")
    assert added.exit_code == 0
    assert recorder.calls == [
        "register_commands",
        "register_channels",
        "register_settings",
        "register_channels",
        "register_migrations",
    ]

    recorder.calls.clear()
    settings = load_settings(regiocrm_hooks)
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        assert client.get("/healthz").status_code == 200
        token = added.last_line
        assert (
            client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        )
    assert recorder.calls == [
        "register_channels",  # settings: the accounts' models
        "register_settings",
        "register_channels",  # the application: its channel registry
        "register_migrations",  # its migrator
        "register_routes",
    ]

    recorder.calls.clear()
    assert regiocrm_cli("packs", "show", "jp").exit_code == 0
    # The packs were resolved once, for the first settings check; the plugins have not
    # changed since, so nothing asks for them again.
    assert recorder.calls == ["register_commands"]

    recorder.calls.clear()
    regiocrm_hooks.format_name(name=PersonName("山田", "太郎"), market="JP")
    regiocrm_hooks.format_address(address=Address(city="Seoul"), market="KR")
    regiocrm_hooks.normalize_identity(kind="phone", value="0412 345 678", market="AU")
    regiocrm_hooks.due_at(market="CN", start=datetime.now(UTC), duration=timedelta(hours=1))
    # The packs resolved at the start are still reused.
    assert recorder.calls == [
        "format_name",
        "format_address",
        "normalize_identity",
        "business_calendar",
    ]

    # The main job: a LINE message arrives, is answered, stored and resolved; an agent then
    # binds the sender's phone number, which belongs to a customer a dealer entered.
    recorder.calls.clear()
    line = LineDriver()
    settings = load_settings(regiocrm_hooks, channel_accounts={"line_jp": line.account_settings()})
    provider = httpx.Client(transport=httpx.MockTransport(line.provider_api))
    with TestClient(create_app(settings, regiocrm_hooks, http_client=provider)) as client:
        auth = {"Authorization": f"Bearer {added.last_line}"}
        dealer_entry = client.post(
            "/api/customers",
            json={"market": "JP", "identities": [{"kind": "phone", "value": "090-1234-5678"}]},
            headers=auth,
        ).json()
        url = "http://testserver/webhooks/line/line_jp"
        sender = line.sender(1)
        request = line.text_message(
            url, sender=sender, text="こんにちは", message_id="m1", at=datetime.now(UTC)
        )
        client.post(url, content=request.body, headers=request.headers)
        client.app.state.services.inbox.drain()
        [follower] = client.get(
            "/api/customers", params={"identity": f"line:{sender}"}, headers=auth
        ).json()["items"]
        client.post(
            f"/api/customers/{follower['id']}/identities",
            json={"kind": "phone", "value": "+81 90 1234 5678"},
            headers=auth,
        )
    assert dealer_entry["id"] < follower["id"]
    assert recorder.calls == [
        "register_channels",
        "register_settings",
        "register_channels",
        "register_migrations",
        "register_routes",
        "normalize_identity",  # the dealer's entry
        "register_channels",  # which identities name the same person (a WhatsApp id)
        "normalize_identity",
        "format_name",  # its display name in the answer
        "normalize_identity",  # the sender, checked as the message is stored
        # Asked once, as the message is stored; LINE's API will carry the reply, if any.
        "auto_reply",
        "normalize_identity",  # the worker resolves the sender
        "message_received",
        "normalize_identity",  # the lookup by LINE id
        "format_name",
        "normalize_identity",  # the agent binds the phone number
        "register_channels",
        "normalize_identity",
        "format_name",  # the survivor in the answer
        "customer_merged",  # once the request's transaction has committed
    ]
