"""The console as the in-process tests use it: a deployment served by a TestClient, users
with passwords, and a browser-like client that signs in and posts forms with the CSRF
token its session was given."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from regiocrm.console.sessions import CSRF_COOKIE
from regiocrm.crm.accounts import create_organization, create_user, set_password
from regiocrm.http.app import create_app
from regiocrm.models import Organization, OrganizationKind, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import upgrade_zones

PASSWORD = "correct horse battery staple"
LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


def html_lang(page: str) -> str:
    """The ``<html lang>`` of a page."""
    found = re.search(r'<html lang="([^"]+)"', page)
    assert found, page[:200]
    return found.group(1)


@dataclass
class ConsoleDeployment:
    """A migrated deployment served in-process, to add organizations and users to."""

    settings: RegiocrmSettings
    stores: ZoneStores
    app: Any

    def organization(
        self, name: str, kind: OrganizationKind = OrganizationKind.OEM, market: str = "CN"
    ) -> uuid.UUID:
        with self.stores.session() as session:
            return create_organization(session, name=name, kind=kind, market=market).id

    def user(
        self, name: str, role: UserRole, organization: uuid.UUID, password: str = PASSWORD
    ) -> str:
        """A user who signs in to the console with ``password``; their API token."""
        with self.stores.session() as session:
            org = session.get_one(Organization, organization)
            added = create_user(session, name=name, role=role, organization=org)
            set_password(
                session,
                added.user,
                password,
                min_length=self.settings.console.min_password_length,
            )
            return added.token

    def browser(self, base_url: str = "http://testserver") -> ConsoleBrowser:
        """A new browser, signed in as nobody, that does not follow redirects (the tests
        look at where it is sent)."""
        return ConsoleBrowser(TestClient(self.app, base_url=base_url, follow_redirects=False))


class ConsoleBrowser:
    """What a browser does with the console's forms, on a TestClient."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.client.get(path, headers=headers)

    def sign_in(
        self, name: str, password: str = PASSWORD, *, next_page: str = ""
    ) -> httpx.Response:
        """Fill in and post the sign-in form, as shown."""
        form = self.client.get("/login")
        token = LOGIN_TOKEN.search(form.text)
        assert token, form.text
        return self.client.post(
            "/login",
            data={
                "username": name,
                "password": password,
                "next": next_page,
                "login_token": token.group(1),
            },
        )

    @property
    def csrf_token(self) -> str:
        """The token a page's forms carry (what the server renders into them)."""
        return self.client.cookies.get(CSRF_COOKIE) or ""

    def post_form(self, path: str, data: dict[str, str], **headers: str) -> httpx.Response:
        """Post a form of a page, with the session's CSRF token as the page puts it."""
        return self.client.post(path, data={"csrf_token": self.csrf_token, **data}, headers=headers)


@contextmanager
def serve_console(
    settings: RegiocrmSettings, hooks: Hooks, *, http_client: httpx.Client | None = None
) -> Iterator[ConsoleDeployment]:
    """A migrated deployment whose app runs (lifespan included) until the block ends;
    ``http_client`` is what it reaches providers with (a mocked transport)."""
    stores = ZoneStores.open(settings, hooks)
    upgrade_zones(stores, hooks)
    app = create_app(settings, hooks, http_client=http_client)
    try:
        with TestClient(app):
            yield ConsoleDeployment(settings, stores, app)
    finally:
        stores.dispose()
