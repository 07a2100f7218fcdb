"""The conversation API as an agent's console meets it: a message posted to a channel's
webhook shows up in the inbox unread, is read and taken there; clear refusals for a
caller without a token, one who does not see the conversation and bad input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.http.app import create_app
from regiocrm.interfaces.terms import OrganizationKind, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.services.application import Application
from regiocrm.testing import upgrade_zones

LINE = LineDriver()
URL = "http://testserver/webhooks/line/line_jp"
PROBLEM = "application/problem+json"
AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@dataclass
class Desk:
    """The served deployment, its LINE account in Japan, and the tokens of a Tokyo call
    centre agent, a Shanghai dealer and a partner auditor."""

    client: TestClient
    application: Application
    tokens: dict[str, str]
    users: dict[str, uuid.UUID]

    def get(self, who: str | None, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.auth(who))

    def post(self, who: str | None, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, json=body, headers=self.auth(who))

    def auth(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}

    def deliver(self, message_id: str, *, sender: int = 1, at: datetime = AT) -> None:
        """A LINE message posted to the webhook as LINE signs it, then processed by the
        serving process's inbox worker."""
        signed = LINE.text_message(
            URL, sender=LINE.sender(sender), text="ブレーキの音", message_id=message_id, at=at
        )
        assert signed.send(self.client, URL).status_code == 200
        self.application.inbox.drain()


@pytest.fixture
def desk(deployment_dir: Any, regiocrm_hooks: Hooks) -> Iterator[Desk]:
    settings = load_settings(regiocrm_hooks, channel_accounts={"line_jp": LINE.account_settings()})
    provider = httpx.Client(transport=httpx.MockTransport(LINE.provider_api))
    with TestClient(create_app(settings, regiocrm_hooks, http_client=provider)) as client:
        application: Application = client.app.state.services  # type: ignore[attr-defined]
        upgrade_zones(application.stores, regiocrm_hooks)
        tokens, users = {}, {}
        with application.transaction() as session:
            for name, kind, role, market in (
                ("tokyo", OrganizationKind.CALL_CENTRE, UserRole.CALL_CENTRE_AGENT, "JP"),
                ("osaka", OrganizationKind.CALL_CENTRE, UserRole.CALL_CENTRE_AGENT, "JP"),
                ("shanghai", OrganizationKind.DEALER, UserRole.DEALER_STAFF, "CN"),
                ("auditor", OrganizationKind.OEM, UserRole.PARTNER_AUDITOR, "JP"),
            ):
                org = create_organization(session, name=name, kind=kind, market=market)
                made = create_user(session, name=name, role=role, organization=org)
                tokens[name], users[name] = made.token, made.user.id
        yield Desk(client, application, tokens, users)
    provider.close()


def assert_problem(answer: Any, status: int, detail: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body = answer.json()
    assert (body["status"], body["title"]) == (status, HTTPStatus(status).phrase)
    assert detail in body["detail"]


def test_a_message_through_the_webhook_is_an_unread_conversation(desk: Desk) -> None:
    desk.deliver("m1")
    # LINE delivers again what it thinks went unanswered: still one unread message.
    desk.deliver("m1")
    answer = desk.get("tokyo", "/api/conversations")
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["items"]
    assert answer.json()["next"] is None
    assert {key: item[key] for key in ("market", "channel", "touchpoint", "unread")} == {
        "market": "JP",
        "channel": "line",
        "touchpoint": "line_jp",
        "unread": 1,
    }
    assert (item["last_direction"], item["last_summary"]) == ("inbound", "ブレーキの音")
    assert (item["assignee_id"], item["read_at"]) == (None, None)
    assert datetime.fromisoformat(item["last_message_at"]) == AT
    shown = desk.get("tokyo", f"/api/conversations/{item['id']}")
    assert shown.json() == item


def test_an_agent_reads_and_takes_a_conversation(desk: Desk) -> None:
    desk.deliver("m1")
    [item] = desk.get("tokyo", "/api/conversations").json()["items"]
    path = f"/api/conversations/{item['id']}"
    read = desk.post("tokyo", f"{path}/read", {})
    assert read.status_code == 200, read.text
    assert read.json()["unread"] == 0
    assert desk.get("tokyo", "/api/conversations", unread="true").json()["items"] == []

    taken = desk.post("tokyo", f"{path}/assign", {})
    assert (taken.json()["assignee_id"], taken.json()["assignee_name"]) == (
        str(desk.users["tokyo"]),
        "tokyo",
    )
    assert [
        i["id"] for i in desk.get("tokyo", "/api/conversations", mine="true").json()["items"]
    ] == [item["id"]]
    handed = desk.post("tokyo", f"{path}/assign", {"assignee_id": str(desk.users["osaka"])})
    assert handed.json()["assignee_name"] == "osaka"
    released = desk.post("osaka", f"{path}/assign", {"assignee_id": None})
    assert released.json()["assignee_id"] is None
    unassigned = desk.get("tokyo", "/api/conversations", unassigned="true").json()["items"]
    assert [i["id"] for i in unassigned] == [item["id"]]


def test_pages_of_the_inbox_newest_first(desk: Desk) -> None:
    for n in range(3):
        desk.deliver(f"m{n}", sender=n, at=AT + timedelta(minutes=n))
    seen, after = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} if after is None else {"limit": 2, "after": after}
        page = desk.get("tokyo", "/api/conversations", **params).json()
        seen.append([item["last_message_at"] for item in page["items"]])
        after = page["next"]
        if after is None:
            break
    assert seen == [
        [(AT + timedelta(minutes=2)).isoformat(), (AT + timedelta(minutes=1)).isoformat()],
        [AT.isoformat()],
    ]


def test_without_a_token_nothing_is_answered(desk: Desk) -> None:
    desk.deliver("m1")
    conversation = desk.get("tokyo", "/api/conversations").json()["items"][0]["id"]
    for answer in (
        desk.get(None, "/api/conversations"),
        desk.get(None, f"/api/conversations/{conversation}"),
        desk.post(None, f"/api/conversations/{conversation}/read", {}),
        desk.post(None, f"/api/conversations/{conversation}/assign", {}),
    ):
        assert_problem(answer, 401, "bearer token")
        assert answer.headers["www-authenticate"] == "Bearer"


def test_a_conversation_out_of_scope_is_not_found_and_stays_as_it_was(desk: Desk) -> None:
    desk.deliver("m1")
    conversation = desk.get("tokyo", "/api/conversations").json()["items"][0]["id"]
    assert desk.get("shanghai", "/api/conversations").json() == {"items": [], "next": None}
    for answer in (
        desk.get("shanghai", f"/api/conversations/{conversation}"),
        desk.post("shanghai", f"/api/conversations/{conversation}/read", {}),
        desk.post("shanghai", f"/api/conversations/{conversation}/assign", {}),
        desk.post("tokyo", f"/api/conversations/{uuid.uuid4()}/read", {}),
    ):
        assert_problem(answer, 404, "no conversation")
    [kept] = desk.get("tokyo", "/api/conversations").json()["items"]
    assert (kept["unread"], kept["assignee_id"]) == (1, None)


def test_a_partner_auditor_is_refused(desk: Desk) -> None:
    assert_problem(desk.get("auditor", "/api/conversations"), 403, "audit trail only")


def test_a_conversation_goes_to_no_one_who_does_not_see_it(desk: Desk) -> None:
    desk.deliver("m1")
    conversation = desk.get("tokyo", "/api/conversations").json()["items"][0]["id"]
    path = f"/api/conversations/{conversation}/assign"
    assert_problem(
        desk.post("tokyo", path, {"assignee_id": str(desk.users["shanghai"])}),
        422,
        "shanghai does not see",
    )
    assert_problem(desk.post("tokyo", path, {"assignee_id": str(uuid.uuid4())}), 422, "no active")
    assert_problem(desk.post("tokyo", path, {"assignee_id": "tokyo"}), 422, "assignee_id")
    assert_problem(desk.post("tokyo", path, {"user": None}), 422, "user")
    [kept] = desk.get("tokyo", "/api/conversations").json()["items"]
    assert kept["assignee_id"] is None


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"mine": "true", "unassigned": "true"}, 400, "either assigned"),
        ({"after": "not-a-cursor"}, 400, "not a cursor"),
        ({"after": "x" * 201}, 422, "after"),
        ({"limit": 0}, 422, "limit"),
        ({"limit": 201}, 422, "limit"),
        ({"channel": "WeChat!"}, 422, "channel"),
        ({"unread": "maybe"}, 422, "unread"),
    ],
)
def test_bad_listing_input_is_refused_clearly(
    desk: Desk, params: dict[str, Any], status: int, detail: str
) -> None:
    assert_problem(desk.get("tokyo", "/api/conversations", **params), status, detail)


def test_a_path_that_is_no_conversation_id_is_refused(desk: Desk) -> None:
    assert_problem(desk.post("tokyo", "/api/conversations/42/read", {}), 422, "conversation_id")


def test_the_openapi_document_lists_the_conversation_routes(desk: Desk) -> None:
    paths = desk.client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/conversations"]) == {"get"}
    assert set(paths["/api/conversations/{conversation_id}/read"]) == {"post"}
    assert set(paths["/api/conversations/{conversation_id}/assign"]) == {"post"}
    assert "404" in paths["/api/conversations/{conversation_id}/assign"]["post"]["responses"]
