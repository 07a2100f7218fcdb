"""Every hook, implemented inline with its argument types checked, called in a pinned order
while a deployment is set up and served."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from fastapi import APIRouter
from fastapi.testclient import TestClient

from regiocrm import SettingsSection, hookimpl
from regiocrm.calendars import Service
from regiocrm.formats import Address, PersonName
from regiocrm.hooks import Hooks
from regiocrm.http.app import create_app
from regiocrm.packs import Pack, PackSpec
from regiocrm.settings import Section, load_settings


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
    def format_address(self, address: Address, market: str, pack: Pack) -> None:
        assert isinstance(address, Address)
        assert isinstance(pack, Pack)
        self.calls.append("format_address")

    @hookimpl
    def normalize_identity(self, kind: str, value: str, market: str) -> None:
        assert isinstance(kind, str)
        assert isinstance(value, str)
        self.calls.append("normalize_identity")

    @hookimpl
    def business_calendar(self, market: str, pack: Pack, service: Service) -> None:
        assert isinstance(service, Service)
        self.calls.append("business_calendar")


def test_hook_call_order(register_plugin, regiocrm_cli, regiocrm_hooks: Hooks) -> None:
    recorder = Recorder()
    register_plugin(recorder)

    assert regiocrm_cli("db", "upgrade").exit_code == 0
    assert recorder.calls == ["register_commands", "register_settings", "register_migrations"]

    recorder.calls.clear()
    added = regiocrm_cli("users", "add", "chen", "--role", "agent")
    assert added.exit_code == 0
    assert recorder.calls == ["register_commands", "register_settings", "register_migrations"]

    recorder.calls.clear()
    settings = load_settings(regiocrm_hooks)
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        assert client.get("/healthz").status_code == 200
        token = added.last_line
        assert (
            client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        )
    assert recorder.calls == ["register_settings", "register_migrations", "register_routes"]

    recorder.calls.clear()
    assert regiocrm_cli("packs", "show", "jp").exit_code == 0
    assert recorder.calls == ["register_commands", "register_packs"]

    recorder.calls.clear()
    regiocrm_hooks.format_name(name=PersonName("山田", "太郎"), market="JP")
    regiocrm_hooks.format_address(address=Address(city="Seoul"), market="KR")
    regiocrm_hooks.normalize_identity(kind="phone", value="0412 345 678", market="AU")
    regiocrm_hooks.due_at(market="CN", start=datetime.now(UTC), duration=timedelta(hours=1))
    # The packs resolved for `packs show` are reused: the plugins have not changed.
    assert recorder.calls == [
        "format_name",
        "format_address",
        "normalize_identity",
        "business_calendar",
    ]
