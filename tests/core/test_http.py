"""The HTTP service in-process: health, OpenAPI, bearer tokens, body limits, plugin routes."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from http import HTTPStatus
from typing import Any

import pytest
from desk import Desk
from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.types import Message, Receive, Scope, Send

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.hookspecs import hookimpl
from regiocrm.http.app import create_app
from regiocrm.http.deps import CallerDep
from regiocrm.http.headers import DEFAULT_HEADERS
from regiocrm.models import ApiToken, Case, Customer, OrganizationKind, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings, load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.plugins.channels.line.testing import LineDriver


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
        async def echo(payload: dict[str, str], caller: CallerDep) -> dict[str, str]:
            return {**payload, "by": caller.name}

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


PROBLEM = "application/problem+json"


def assert_problem(answer: Any, status: int, detail: str) -> dict[str, Any]:
    """``answer`` is RFC 9457 problem details, with ``detail`` a sentence holding ``detail``."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, Any] = answer.json()
    assert body["type"] == "about:blank"
    assert body["title"] == HTTPStatus(status).phrase
    assert body["status"] == status
    assert isinstance(body["detail"], str)
    assert detail in body["detail"]
    assert body["instance"] == answer.request.url.path
    return body


def test_every_refusal_is_a_problem_document(
    register_plugin, token: str, deployment_dir, regiocrm_hooks: Hooks
) -> None:
    register_plugin(Echo())
    settings = RegiocrmSettings(http={"max_body_bytes": 2048})
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        assert_problem(client.get("/no/such/route"), 404, "Not Found")
        unauthenticated = client.get("/api/me")
        assert_problem(unauthenticated, 401, "a valid bearer token is required")
        assert unauthenticated.headers["www-authenticate"] == "Bearer"
        refused = client.get(f"/api/campaigns/{uuid.uuid4()}", headers=auth)
        assert_problem(refused, 403, "a call_centre_agent may not do this")
        invalid = client.post("/api/echo", json={"say": 1, "more": [2]}, headers=auth)
        body = assert_problem(invalid, 422, "body.say: Input should be a valid string")
        assert body["errors"] == [
            {
                "loc": ["body", "say"],
                "msg": "Input should be a valid string",
                "type": "string_type",
            },
            {
                "loc": ["body", "more"],
                "msg": "Input should be a valid string",
                "type": "string_type",
            },
        ]
        assert_problem(
            client.post(
                "/api/echo", content=b"{", headers={**auth, "Content-Type": "application/json"}
            ),
            422,
            "JSON decode error",
        )
        too_big = client.post("/api/echo", json={"say": "x" * 4000}, headers=auth)
        assert_problem(too_big, 413, "request body larger than 2048 bytes")
        assert_problem(client.post("/webhooks/line/nobody", content=b"{}"), 404, "no line account")


def test_a_plugins_route_takes_no_nan_and_no_nul_either(
    register_plugin, token: str, client: TestClient, settings, regiocrm_hooks: Hooks
) -> None:
    """The refusal sits before every route, its own and its plugins' alike."""
    register_plugin(Echo())
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with TestClient(create_app(settings, regiocrm_hooks)) as echo:
        nan = echo.post("/api/echo", content=b'{"say": "x", "n": NaN}', headers=auth)
        assert assert_problem(nan, 422, "body.n: Input should be a finite number")["errors"] == [
            {
                "loc": ["body", "n"],
                "msg": "Input should be a finite number (JSON has no NaN or Infinity)",
                "type": "finite_number",
            }
        ]
        nul = echo.post("/api/echo?to=a%00b", content=b'{"say": "\\u0000"}', headers=auth)
        assert [error["loc"] for error in assert_problem(nul, 422, "NUL")["errors"]] == [
            ["query", "to"],
            ["body", "say"],
        ]
        deep = b'{"say": "x", "n": ' + b"[" * 900 + b"NaN" + b"]" * 900 + b"}"
        assert echo.post("/api/echo", content=deep, headers=auth).status_code == 422


class Broken:
    @hookimpl
    def register_routes(self) -> list[APIRouter]:
        router = APIRouter(prefix="/api/broken")

        @router.get("")
        def broken() -> None:
            raise RuntimeError("secret internals: postgresql://crm:hunter2@db")

        return [router]


def test_a_bug_answers_a_problem_that_tells_nothing_with_the_security_headers(
    register_plugin, settings, regiocrm_hooks: Hooks
) -> None:
    """An exception no handler expects is answered outside the middleware that adds the
    security headers: the answer carries them all the same, and none of the error."""
    register_plugin(Broken())
    app = create_app(settings, regiocrm_hooks)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/api/broken")
    assert_problem(answer, 500, "the server failed to answer; the error is in its log")
    assert "hunter2" not in answer.text
    for name, value in DEFAULT_HEADERS.items():
        assert answer.headers[name] == value


def test_the_openapi_document_lists_every_error_as_a_problem(
    register_plugin, settings, regiocrm_hooks: Hooks
) -> None:
    register_plugin(Echo())  # a plugin's route that lists no statuses of its own
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"Problem", "InputError"} <= set(schemas)
    assert "HTTPValidationError" not in schemas
    assert schemas["Problem"]["properties"]["detail"]["type"] == "string"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            errors = {
                code: answer for code, answer in operation["responses"].items() if code >= "4"
            }
            assert errors["422"]["content"] == {
                PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, where
            if path == "/api/echo":
                continue  # the plugin's own statuses are its to list
            if path.startswith("/api/"):
                assert {"401", "503"} <= set(errors), where
                assert "WWW-Authenticate" in errors["401"]["headers"], where
            if method == "post":
                assert "413" in errors, where
            for code, answer in errors.items():
                if path == "/healthz" and code == "503":
                    continue  # the health report itself
                assert answer["content"] == {
                    PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, f"{where} {code}"


def test_a_webhook_without_a_url_check_refuses_a_get_as_a_problem(
    deployment_dir, regiocrm_hooks: Hooks
) -> None:
    settings = load_settings(
        regiocrm_hooks, channel_accounts={"line_jp": LineDriver().account_settings()}
    )
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        assert_problem(client.get("/webhooks/line/line_jp"), 405, "takes POST requests")


@pytest.mark.parametrize(
    "position",
    ["2026-11-01T00:00:00|{id}", "0001-01-01T00:00:00+14:00|{id}", "2026-11-01T09:00+09:00|{id}"],
    ids=["naive", "before the year 1 in UTC", "not in UTC"],
)
def test_an_audit_cursor_this_api_did_not_write_is_refused(desk: Desk, position: str) -> None:
    cursor = base64.urlsafe_b64encode(position.format(id=uuid.uuid4()).encode()).decode()
    answer = desk.get("/api/audit", org=str(desk.org), since="2026-01-01T00:00:00Z", cursor=cursor)
    assert_problem(answer, 400, "not a cursor this API gave")


def test_an_audit_period_utc_cannot_write_is_refused(desk: Desk) -> None:
    answer = desk.get("/api/audit", org=str(desk.org), since="0001-01-01T00:00:00+14:00")
    body = assert_problem(answer, 422, "is outside the years 1 to 9999 in UTC")
    assert body["errors"][0]["loc"] == ["query", "since"]


@pytest.fixture
def admin_token(migrated: ZoneStores) -> str:
    with migrated.session() as session:
        org = create_organization(session, name="HQ", kind=OrganizationKind.OEM, market="CN")
        return create_user(session, name="ops", role=UserRole.ADMIN, organization=org).token


def test_a_write_is_committed_before_its_answer_starts(
    admin_token: str, migrated: ZoneStores, settings: RegiocrmSettings, regiocrm_hooks: Hooks
) -> None:
    """The zone is read, on another connection, at the moment the answer's status line
    leaves the app: the customer must already be there. (The served test does the same
    over a socket; this one sees the exact moment.)"""
    app = create_app(settings, regiocrm_hooks)
    stored_when_answered: list[int] = []

    async def watching(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                with migrated.session() as session:
                    stored_when_answered.append(
                        session.scalar(select(func.count()).select_from(Customer)) or 0
                    )
            await send(message)

        await app(scope, receive, send_watched)

    with TestClient(watching) as client:
        answer = client.post(
            "/api/customers",
            json={"market": "CN", "family_name": "王"},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
    assert answer.status_code == 201, answer.text
    assert stored_when_answered == [1]


class FailingSupervisor:
    @hookimpl
    def case_transitioned(self, case_id, market, previous, status, reason, actor_id) -> None:
        raise RuntimeError("the supervisor's pager is down")


def test_an_event_hook_failing_after_the_commit_does_not_fail_the_kept_write(
    register_plugin, desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    """Event hooks run after the commit, before the answer: one that raises is logged, and
    the caller is still told the truth, that the case was opened (a 5xx would make it
    open the case again)."""
    register_plugin(FailingSupervisor())
    customer = desk.customer()
    answer = desk.post("/api/cases", {"customer_id": customer, "market": "CN", "subject": "异响"})
    assert answer.status_code == 201, answer.text
    assert desk.count(Case) == 1
    assert "the supervisor's pager is down" in caplog.text


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "cross-origin-resource-policy": "same-origin",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none';"
    " form-action 'none'",
}


def test_every_answer_carries_the_security_headers(
    register_plugin, token: str, deployment_dir, regiocrm_hooks: Hooks
) -> None:
    register_plugin(Echo())
    settings = RegiocrmSettings(http={"max_body_bytes": 2048})
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        answers = [
            client.get("/healthz"),
            client.get("/openapi.json"),
            client.get("/api/me", headers=auth),
            client.get("/api/me"),
            client.get("/api/nowhere"),
            client.post("/api/echo", json={"say": 1}, headers=auth),
            client.post("/api/echo", json={"say": "x" * 4000}, headers=auth),
            client.get("/webhooks/whatsapp/nobody"),
        ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 401, 404, 422, 413, 404]
    for answer in answers:
        assert {name: answer.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


class OwnPolicy:
    @hookimpl
    def register_routes(self) -> list[APIRouter]:
        router = APIRouter()

        @router.get("/page")
        async def page() -> Response:
            return HTMLResponse(
                "<p>hello</p>",
                headers={
                    "Content-Security-Policy": "default-src 'self'",
                    "Cache-Control": "max-age=60",
                },
            )

        return [router]


def test_a_page_that_sets_its_own_policy_keeps_it(
    register_plugin, settings: RegiocrmSettings, regiocrm_hooks: Hooks
) -> None:
    """The web console's pages will need scripts and styles of their own: what a route
    sets wins, and the other headers still come."""
    register_plugin(OwnPolicy())
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        page = client.get("/page")
    assert page.headers["content-security-policy"] == "default-src 'self'"
    assert page.headers["cache-control"] == "max-age=60"
    assert page.headers["x-content-type-options"] == "nosniff"


class Resources(HTMLParser):
    """What a page loads: scripts, stylesheets and icons by URL, and its inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: dict[str, list[str]] = {"script-src": [], "style-src": [], "img-src": []}
        self.inline: set[str] = set()
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.loaded["script-src"].append(str(attributes["src"]))
        elif tag == "link" and attributes.get("rel") == "stylesheet":
            self.loaded["style-src"].append(str(attributes["href"]))
        elif tag == "link" and "icon" in str(attributes.get("rel")):
            self.loaded["img-src"].append(str(attributes["href"]))
        self._open = tag if tag in {"script", "style"} and not attributes.get("src") else None

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.inline.add(f"{self._open}-src")


def policy(header: str) -> dict[str, list[str]]:
    directives = (directive.split() for directive in header.split(";"))
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_documentation_pages_may_load_what_they_use(
    page: str, settings: RegiocrmSettings, regiocrm_hooks: Hooks
) -> None:
    """FastAPI's documentation pages load Swagger UI and ReDoc from a CDN and start them
    inline: each page's policy allows every resource its HTML names, and the default
    policy (nothing at all) stays on the API."""
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        answer = client.get(page)
    allowed = policy(answer.headers["content-security-policy"])
    resources = Resources()
    resources.feed(answer.text)
    for directive, urls in resources.loaded.items():
        for url in urls:
            assert any(url.startswith(source) for source in allowed[directive]), (directive, url)
    for directive in resources.inline:
        assert "'unsafe-inline'" in allowed[directive]
    assert allowed["connect-src"] == ["'self'"], "the page fetches /openapi.json"
    assert allowed["frame-ancestors"] == ["'none'"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert resources.loaded["script-src"], "the page was read"


def test_a_request_that_finds_every_pooled_connection_taken_is_503(
    client: TestClient, token: str
) -> None:
    """A burst larger than the pool waits the pool's timeout, then is asked to come back:
    a busy database, not a bug."""
    engine = client.app.state.services.stores.engine("cn")  # type: ignore[attr-defined]
    engine.pool._timeout = 0.05
    held = [engine.connect() for _ in range(engine.pool.size() + engine.pool._max_overflow)]
    try:
        answer = client.get("/api/customers", headers={"Authorization": f"Bearer {token}"})
    finally:
        for connection in held:
            connection.close()
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"
    assert "QueuePool" not in answer.text
    assert client.get("/api/customers", headers={"Authorization": f"Bearer {token}"}).is_success
