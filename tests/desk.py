"""A desk at a running deployment, as the API tests sit at it: a served app, the zones
behind it, and a user's token."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.http.app import create_app
from regiocrm.models import OrganizationKind, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import upgrade_zones


class Desk:
    def __init__(self, client: TestClient, stores: ZoneStores, token: str, org: uuid.UUID) -> None:
        self.client = client
        self.stores = stores
        self.headers = {"Authorization": f"Bearer {token}"}
        self.org = org

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, json=body, headers=self.headers)

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers)

    def customer(self, market: str = "CN", **values: Any) -> str:
        body = {"market": market, "family_name": "王", **values}
        answer = self.post("/api/customers", body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def count(self, model: Any) -> int:
        with self.stores.session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)


@contextmanager
def open_desk(
    settings: RegiocrmSettings,
    hooks: Hooks,
    *,
    kind: OrganizationKind = OrganizationKind.OEM,
    role: UserRole = UserRole.COMPETENCE_CENTRE,
    market: str = "CN",
    http_client: httpx.Client | None = None,
) -> Iterator[Desk]:
    """A migrated deployment served in-process, with one organization and one user;
    providers are called through ``http_client`` (a mocked transport)."""
    stores = ZoneStores.open(settings, hooks)
    upgrade_zones(stores, hooks)
    with stores.session() as session:
        org = create_organization(session, name="Desk", kind=kind, market=market)
        user = create_user(session, name="desk", role=role, organization=org)
    try:
        with TestClient(create_app(settings, hooks, http_client=http_client)) as client:
            yield Desk(client, stores, user.token, org.id)
    finally:
        stores.dispose()
