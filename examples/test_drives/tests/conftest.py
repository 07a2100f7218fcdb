"""A served deployment with the plugin registered in each test's plugin manager (regiocrm's
pytest plugin gives a fresh one with the built-ins only), a dealer and its staff, and the
brand's competence centre."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import regiocrm_test_drives
from fastapi.testclient import TestClient

from regiocrm.http.app import create_app
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import upgrade_zones


@pytest.fixture(autouse=True)
def plugin(register_plugin: Callable[..., str]) -> Any:
    register_plugin(regiocrm_test_drives, name="regiocrm_test_drives")
    return regiocrm_test_drives


@dataclass
class Deployment:
    client: TestClient
    tokens: dict[str, str]
    organizations: dict[str, str]

    def as_user(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def customer(self, who: str, market: str = "JP") -> str:
        answer = self.client.post(
            "/api/customers",
            json={"market": market, "family_name": "Sato", "given_name": "Aoi"},
            headers=self.as_user(who),
        )
        assert answer.status_code == 201, answer.text
        customer_id: str = answer.json()["id"]
        return customer_id


@pytest.fixture
def deployment(plugin: Any, regiocrm_hooks: Hooks, regiocrm_cli: Any) -> Iterator[Deployment]:
    stores = ZoneStores.open(load_settings(regiocrm_hooks), regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    stores.dispose()
    for name in ("Osaka Motors", "Kobe Motors"):
        made = regiocrm_cli("orgs", "add", name, "--kind", "dealer", "--market", "JP")
        assert made.exit_code == 0, made.stderr
    tokens = {}
    for user, role, org in (
        ("osaka", "dealer_staff", "Osaka Motors"),
        ("kobe", "dealer_staff", "Kobe Motors"),
        ("centre", "competence_centre", None),
    ):
        made = regiocrm_cli("users", "add", user, "--role", role, *(["--org", org] if org else []))
        assert made.exit_code == 0, made.stderr
        tokens[user] = made.last_line
    listed = regiocrm_cli("orgs", "list", "--json")
    organizations = {org["name"]: org["id"] for org in json.loads(listed.stdout)}
    with TestClient(create_app(load_settings(regiocrm_hooks), regiocrm_hooks)) as client:
        yield Deployment(client, tokens, organizations)
