"""The customer API as an agent's app meets it: clear refusals, pages, audited reads."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.http.app import create_app
from regiocrm.models import (
    AuditEvent,
    Customer,
    Direction,
    Identity,
    Interaction,
    OrganizationKind,
    UserRole,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import upgrade_zones


class Api:
    def __init__(self, client: TestClient, stores: ZoneStores, token: str, user_id) -> None:
        self.client = client
        self.stores = stores
        self.headers = {"Authorization": f"Bearer {token}"}
        self.user_id = user_id

    def get(self, path: str, **params):
        return self.client.get(path, params=params, headers=self.headers)

    def post(self, path: str, json):
        return self.client.post(path, json=json, headers=self.headers)

    def count(self, model) -> int:
        with self.stores.session() as session:
            return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def api(settings: RegiocrmSettings, regiocrm_hooks: Hooks) -> Iterator[Api]:
    stores = ZoneStores.open(settings, regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    with stores.session() as session:
        org = create_organization(session, name="HQ", kind=OrganizationKind.OEM, market="CN")
        agent = create_user(session, name="mei", role=UserRole.COMPETENCE_CENTRE, organization=org)
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        yield Api(client, stores, agent.token, agent.user.id)
    stores.dispose()


def test_every_call_needs_a_token(api: Api) -> None:
    assert api.client.get("/api/customers").status_code == 401
    assert api.client.post("/api/customers", json={"market": "CN"}).status_code == 401


def test_create_and_find_by_an_identity_written_locally(api: Api) -> None:
    created = api.post(
        "/api/customers",
        json={
            "market": "JP",
            "family_name": "山田",
            "given_name": "太郎",
            "family_name_phonetic": "やまだ",
            "given_name_phonetic": "たろう",
            "identities": [{"kind": "phone", "value": "090-1234-5678"}],
        },
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    assert customer["display_name"] == "山田 太郎（やまだ たろう）"
    assert customer["identities"] == [
        {"kind": "phone", "value": "+819012345678", "verified": False}
    ]
    found = api.get("/api/customers", identity="phone:090 1234 5678", market="JP").json()
    assert found == {"items": [customer], "next": None}
    assert api.get("/api/customers", identity="phone:+819099999999").json()["items"] == []


@pytest.mark.parametrize(
    ("payload", "status", "reason"),
    [
        (
            {"market": "CN", "identities": [{"kind": "phone", "value": "12345"}]},
            422,
            "not a valid phone number in CN",
        ),
        ({"market": "FR"}, 422, "no pack serves market 'FR'"),
        ({"market": "cn"}, 422, "String should match pattern"),
        ({"market": "CN", "nickname": "x"}, 422, "Extra inputs are not permitted"),
        (
            {"market": "CN", "identities": [{"kind": "email", "value": "not-an-address"}]},
            422,
            "is not an e-mail address",
        ),
    ],
    ids=["bad phone", "unserved market", "lower-case market", "unknown field", "bad e-mail"],
)
def test_bad_customers_are_refused_and_nothing_is_stored(
    api: Api, payload: dict, status: int, reason: str
) -> None:
    answer = api.post("/api/customers", json=payload)
    assert answer.status_code == status
    assert reason in answer.text
    assert api.count(Customer) == 0
    assert api.count(Identity) == 0


def test_an_identity_that_belongs_to_someone_is_a_conflict(api: Api) -> None:
    first = api.post(
        "/api/customers",
        json={"market": "CN", "identities": [{"kind": "phone", "value": "13800138000"}]},
    ).json()
    again = api.post(
        "/api/customers",
        json={"market": "CN", "identities": [{"kind": "phone", "value": "+86 138 0013 8000"}]},
    )
    assert again.status_code == 409
    assert first["id"] in again.json()["detail"]
    assert api.count(Customer) == 1


def test_lookups_refuse_what_they_cannot_read(api: Api) -> None:
    assert api.get("/api/customers", identity="phone").status_code == 400
    assert api.get("/api/customers", cursor="!!!").status_code == 400
    missing = api.get("/api/customers/01a21379-5de4-74c8-943c-53455d58d22d")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"market": "CN", "family_name": "王", "nickname": NaN}', ["body", "nickname"]),
        (
            '{"market": "CN", "identities": [{"kind": "phone", "value": Infinity}]}',
            ["body", "identities", 0, "value"],
        ),
        (
            '{"market": "CN", "consents": [{"purpose": -Infinity}]}',
            ["body", "consents", 0, "purpose"],
        ),
        ('{"market": "CN", "family_name": "王", "x": {"y": [1, 1e999]}}', ["body", "x", "y", 1]),
        ('{"market": "CN", "family_name": "王\\u0000"}', ["body", "family_name"]),
        ('{"market": "CN", "given_\\u0000": "x"}', ["body", "given_\x00"]),
    ],
    ids=["NaN", "Infinity", "-Infinity", "overflow", "NUL", "NUL in a name"],
)
def test_numbers_json_has_not_and_nul_are_refused_and_nothing_is_stored(
    api: Api, body: str, where: list[str | int]
) -> None:
    answer = api.client.post(
        "/api/customers",
        content=body.encode(),
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert {error["type"] for error in errors} <= {"finite_number", "nul_character"}
    assert [error["loc"] for error in errors] == [where]
    assert api.count(Customer) == 0


def test_a_nul_in_the_query_or_the_path_is_refused(api: Api) -> None:
    by_identity = api.get("/api/customers", identity="phone:+8613800138000\x00")
    assert by_identity.status_code == 422
    assert by_identity.json()["errors"] == [
        {
            "loc": ["query", "identity"],
            "msg": "a NUL character is not allowed",
            "type": "nul_character",
        }
    ]
    assert api.get("/api/customers/%00").status_code == 422


@pytest.mark.parametrize(
    "position",
    ["2026-11-01T00:00:00|{id}", "0001-01-01T00:00:00+14:00|{id}", "2026-11-01T09:00+09:00|{id}"],
    ids=["naive", "before the year 1 in UTC", "not in UTC"],
)
def test_a_timeline_cursor_this_api_did_not_write_is_refused(api: Api, position: str) -> None:
    customer = api.post("/api/customers", json={"market": "CN"}).json()["id"]
    cursor = base64.urlsafe_b64encode(position.format(id=uuid.uuid4()).encode()).decode()
    answer = api.get(f"/api/customers/{customer}/timeline", cursor=cursor)
    assert answer.status_code == 400
    assert answer.json()["detail"] == "not a cursor this API gave"


def test_listing_pages_through_every_customer(api: Api) -> None:
    ids = [api.post("/api/customers", json={"market": "KR"}).json()["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        page = api.get("/api/customers", limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ids


def test_the_timeline_pages_in_order_and_reads_are_audited(api: Api) -> None:
    customer = api.post("/api/customers", json={"market": "CN"}).json()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with api.stores.session() as session:
        for hour in (3, 1, 2, 0):  # stored out of order
            session.add(
                Interaction(
                    market="CN",
                    customer_id=uuid.UUID(customer["id"]),
                    channel="wechat",
                    direction=Direction.INBOUND,
                    touchpoint="wx_cn",
                    text=f"message {hour}",
                    occurred_at=start + timedelta(hours=hour),
                )
            )
    first = api.get(f"/api/customers/{customer['id']}/timeline", limit=3).json()
    rest = api.get(f"/api/customers/{customer['id']}/timeline", cursor=first["next"]).json()
    assert [i["text"] for i in first["items"] + rest["items"]] == [
        "message 0",
        "message 1",
        "message 2",
        "message 3",
    ]
    assert rest["next"] is None
    with api.stores.session() as session:
        reads = session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.actor_id == api.user_id, AuditEvent.action.like("customer.%read")
            )
        ).all()
    assert reads == ["customer.timeline_read", "customer.timeline_read"]


def test_merging_through_the_api(api: Api) -> None:
    a = api.post("/api/customers", json={"market": "CN"}).json()
    b = api.post(
        "/api/customers",
        json={"market": "CN", "identities": [{"kind": "wechat_openid", "value": "wx1:o1"}]},
    ).json()
    merged = api.post(
        f"/api/customers/{a['id']}/merge", json={"other_id": b["id"], "reason": "same VIN owner"}
    )
    assert merged.status_code == 200
    assert merged.json()["merged_ids"] == [b["id"]]
    assert api.get(f"/api/customers/{b['id']}").json()["id"] == a["id"]
    again = api.post(
        f"/api/customers/{a['id']}/merge", json={"other_id": b["id"], "reason": "twice"}
    )
    assert again.status_code == 409


def test_a_message_needs_a_route_and_consent(api: Api) -> None:
    customer = api.post("/api/customers", json={"market": "CN"}).json()
    no_route = api.post(f"/api/customers/{customer['id']}/messages", json={"text": "hi"})
    assert no_route.status_code == 409
    assert "never written on a channel" in no_route.json()["detail"]
    assert api.count(Interaction) == 0


def test_a_company_customer_is_shown_by_its_name(api: Api) -> None:
    created = api.post(
        "/api/customers",
        json={"market": "KR", "kind": "company", "company_name": "한빛물류 주식회사"},
    )
    assert created.status_code == 201
    company = created.json()
    assert (company["kind"], company["display_name"]) == ("company", "한빛물류 주식회사")
    assert api.get(f"/api/customers/{company['id']}").json()["kind"] == "company"
