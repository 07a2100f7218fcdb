"""The HTTP service in-process: health, OpenAPI, bearer tokens, body limits, plugin routes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from regiocrm.accounts import create_organization, create_user
from regiocrm.hooks import Hooks
from regiocrm.hookspecs import hookimpl
from regiocrm.http.app import create_app
from regiocrm.http.deps import CurrentUser
from regiocrm.models import ApiToken, OrganizationKind, UserRole
from regiocrm.settings import RegiocrmSettings
from regiocrm.stores import ZoneStores


@pytest.fixture
def client(settings: RegiocrmSettings, regiocrm_hooks: Hooks) -> Iterator[TestClient]:
    with TestClient(create_app(settings, regiocrm_hooks)) as test_client:
        yield test_client


@pytest.fixture
def token(migrated: ZoneStores) -> str:
    with migrated.session() as session:
        org = create_organization(
            session, name="Tokyo Hub", kind=OrganizationKind.WHOLESALER, market="JP"
        )
        return create_user(
            session, name="sato", role=UserRole.CALL_CENTRE_AGENT, organization=org
        ).token


def test_healthz_is_503_until_migrated_and_creates_nothing(
    client: TestClient, deployment_dir
) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["zones"]["main"]["migrated"] is False
    assert not (deployment_dir / "var").exists()


def test_healthz_reports_each_zone_migrated(migrated: ZoneStores, client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    zone = response.json()["zones"]["main"]
    assert zone["reachable"] is True
    assert zone["migrated"] is True
    assert zone["revisions"] == zone["heads"]
    assert "url" not in zone


def test_healthz_reports_an_unreachable_zone(deployment_dir, regiocrm_hooks: Hooks) -> None:
    settings = RegiocrmSettings(
        zones={"cn": "postgresql://nobody@127.0.0.1:1/none"}, home_zone="cn"
    )
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["zones"]["cn"]["reachable"] is False


def test_openapi_lists_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/healthz", "/api/me"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_api_needs_a_bearer_token(migrated: ZoneStores, client: TestClient) -> None:
    missing = client.get("/api/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.get("/api/me", headers={"Authorization": "Bearer rcm_not-a-real-token"})
    assert wrong.status_code == 401


def test_api_knows_the_caller(token: str, client: TestClient) -> None:
    response = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["role"]) == ("sato", "call_centre_agent")
    assert body["organization"]["name"] == "Tokyo Hub"
    assert body["organization"]["market"] == "JP"


def test_api_shows_the_subdivision_of_the_callers_organization(
    migrated: ZoneStores, client: TestClient
) -> None:
    with migrated.session() as session:
        org = create_organization(
            session,
            name="Geelong Motors",
            kind=OrganizationKind.DEALER,
            market="AU",
            subdivision="VIC",
        )
        token = create_user(
            session, name="jack", role=UserRole.DEALER_STAFF, organization=org
        ).token
    body = client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert (body["organization"]["market"], body["organization"]["subdivision"]) == ("AU", "VIC")


def test_a_revoked_token_is_refused(token: str, client: TestClient, migrated: ZoneStores) -> None:
    from sqlalchemy import update

    from regiocrm.models.base import utcnow

    with migrated.session() as session:
        session.execute(update(ApiToken).values(revoked_at=utcnow()))
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_token_use_is_recorded(token: str, client: TestClient, migrated: ZoneStores) -> None:
    from sqlalchemy import select

    client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    with migrated.session() as session:
        assert session.scalars(select(ApiToken.last_used_at)).one() is not None


class Echo:
    @hookimpl
    def register_routes(self) -> list[APIRouter]:
        router = APIRouter(prefix="/api/echo")

        @router.post("")
        async def echo(payload: dict[str, str], user: CurrentUser) -> dict[str, str]:
            return {**payload, "by": user.name}

        return [router]


def test_hook_register_routes(register_plugin, token: str, settings, regiocrm_hooks: Hooks) -> None:
    register_plugin(Echo())
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        response = client.post(
            "/api/echo", json={"say": "你好"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.json() == {"say": "你好", "by": "sato"}
        assert client.post("/api/echo", json={"say": "x"}).status_code == 401


def test_bodies_over_the_limit_are_refused(
    register_plugin, token: str, deployment_dir, regiocrm_hooks: Hooks
) -> None:
    register_plugin(Echo())
    settings = RegiocrmSettings(http={"max_body_bytes": 2048})
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        assert client.post("/api/echo", json={"say": "x" * 1000}, headers=auth).status_code == 200
        declared = client.post("/api/echo", json={"say": "x" * 4000}, headers=auth)
        assert declared.status_code == 413
        assert "2048" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:
            yield b'{"say": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'"}'

        streamed = client.post(
            "/api/echo", content=chunks(), headers={**auth, "Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
