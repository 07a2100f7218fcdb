"""Who sees what: each role's scope, applied by the database, and the audit trail a partner
audit reads."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from access_world import PUDONGS, World, serve
from sqlalchemy import event, func, select

from regiocrm.models import (
    AuditEvent,
    Case,
    Consent,
    Customer,
    Interaction,
    Lead,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings, load_settings


@pytest.fixture
def world(settings: RegiocrmSettings, regiocrm_hooks: Hooks) -> Iterator[World]:
    yield from serve(settings, regiocrm_hooks)


def test_a_dealer_sees_the_customers_linked_to_the_dealership(world: World) -> None:
    """Linked by an ownership, a lead, a case or a timeline entry there; the survivor of a
    merge through the record merged into it."""
    assert world.listed("pudong") == PUDONGS
    assert world.listed("minhang") == {"minhang owner"}
    assert world.listed("osaka") == {"osaka owner"}


def test_a_dealer_asking_for_another_dealers_customer_learns_nothing(world: World) -> None:
    theirs = world.customers["minhang owner"]
    nobody = str(uuid.uuid4())
    for path in ("", "/timeline"):
        other = world.get("pudong", f"/api/customers/{theirs}{path}")
        unknown = world.get("pudong", f"/api/customers/{nobody}{path}")
        assert (other.status_code, unknown.status_code) == (404, 404)
        assert other.json()["detail"].replace(theirs, "ID") == unknown.json()["detail"].replace(
            nobody, "ID"
        )
    before = (world.count(Interaction), world.count(Consent))
    consent = world.post("pudong", f"/api/customers/{theirs}/consents", {"purpose": "marketing"})
    assert consent.status_code == 404
    case = world.post(
        "pudong", "/api/cases", {"customer_id": theirs, "market": "CN", "subject": "x"}
    )
    assert case.status_code == 422
    assert (world.count(Interaction), world.count(Consent)) == before
    assert world.get("minhang", f"/api/customers/{theirs}").status_code == 200


def test_a_wholesaler_sees_its_dealers_customers(world: World) -> None:
    assert world.listed("importer") == PUDONGS | {"minhang owner"}


def test_a_call_centre_agent_sees_the_customers_of_its_market(world: World) -> None:
    assert world.listed("agent") == set(world.customers) - {"merged", "osaka owner"}
    japanese = world.customers["osaka owner"]
    assert world.get("agent", f"/api/customers/{japanese}").status_code == 404


def test_the_region_and_admins_see_everyone(world: World) -> None:
    everyone = set(world.customers) - {"merged"}
    assert world.listed("region") == everyone
    assert world.listed("admin") == everyone


def test_a_partner_auditor_reads_the_audit_trail_only(world: World) -> None:
    for path in ("/api/customers", "/api/cases", "/api/leads", "/api/contracts"):
        answer = world.get("auditor", path)
        assert answer.status_code == 403, path
        assert answer.json()["detail"] == "a partner_auditor reads the audit trail only"
    customer = world.customers["owner"]
    assert world.get("auditor", f"/api/customers/{customer}").status_code == 403
    since = (utcnow() - timedelta(days=1)).isoformat()
    trail = world.get("auditor", "/api/audit", org=str(world.orgs["pudong"]), since=since)
    assert trail.status_code == 200
    refused = world.get("pudong", "/api/audit", org=str(world.orgs["pudong"]), since=since)
    assert refused.json()["detail"] == "a dealer_staff may not do this"


def test_scoping_happens_in_the_query_not_after_loading(world: World) -> None:
    """The dealer's listing loads exactly the customers it shows: none is read from the
    database to be dropped afterwards."""
    loaded: list[str] = []

    def on_load(target: Customer, context: Any) -> None:
        loaded.append(str(target.id))

    event.listen(Customer, "load", on_load)
    try:
        shown = world.get("minhang", "/api/customers").json()["items"]
    finally:
        event.remove(Customer, "load", on_load)
    assert [item["id"] for item in shown] == [world.customers["minhang owner"]]
    assert loaded == [world.customers["minhang owner"]]


def test_cases_leads_and_contracts_are_scoped_too(world: World) -> None:
    assert len(world.get("pudong", "/api/cases").json()["items"]) == 1
    assert world.get("minhang", "/api/cases").json()["items"] == []
    [lead] = world.get("pudong", "/api/leads").json()["items"]
    assert world.get("minhang", "/api/leads").json()["items"] == []
    assert world.get("minhang", f"/api/leads/{lead['id']}").status_code == 404
    assert world.get("importer", f"/api/leads/{lead['id']}").status_code == 200
    contract = world.post(
        "pudong",
        "/api/contracts",
        {
            "customer_id": world.customers["owner"],
            "market": "CN",
            "kind": "service",
            "starts_on": "2026-01-01",
        },
    ).json()
    assert contract["organization_id"] == str(world.orgs["pudong"])
    assert world.get("minhang", f"/api/contracts/{contract['id']}").status_code == 404
    assert [c["id"] for c in world.get("importer", "/api/contracts").json()["items"]] == [
        contract["id"]
    ]


def test_a_customer_a_dealer_registers_is_theirs_to_see(world: World) -> None:
    made = world.post("minhang", "/api/customers", {"market": "CN", "family_name": "赵"})
    assert made.status_code == 201
    new = made.json()["id"]
    assert world.get("minhang", f"/api/customers/{new}").status_code == 200
    assert world.get("pudong", f"/api/customers/{new}").status_code == 404
    [entry] = world.get("minhang", f"/api/customers/{new}/timeline").json()["items"]
    assert (entry["touchpoint"], entry["summary"]) == ("registration", "registered")


def test_a_customer_of_another_market_is_not_registered(world: World) -> None:
    before = world.count(Customer)
    answer = world.post("agent", "/api/customers", {"market": "JP", "family_name": "佐藤"})
    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        "a call_centre_agent registers customers of CN only, not of JP"
    )
    assert world.count(Customer) == before


def test_every_read_is_audited_with_the_reader(world: World) -> None:
    world.get("pudong", "/api/customers")
    with world.stores.session() as session:
        read = session.scalars(
            select(AuditEvent.subject_id).where(AuditEvent.action == "customer.read")
        ).all()
    assert {str(subject) for subject in read} == {world.customers[name] for name in PUDONGS}


def test_scoped_listing_needs_customers_and_links_kept_together(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    (deployment_dir / "regiocrm.toml").write_text('[residency.placement.CN]\ncrm = "jp"\n')
    apart = load_settings(regiocrm_hooks)
    for world in serve(apart, regiocrm_hooks):
        answer = world.get("pudong", "/api/customers")
        assert answer.status_code == 503
        assert answer.json()["detail"] == (
            "CN keeps crm in jp, identity in cn: a query relating them cannot run in one"
            " zone; place them in one zone ([residency.placement])"
        )
        assert world.listed("region") == set(world.customers) - {"merged"}


def test_the_audit_export_is_what_the_organizations_people_did(
    world: World, regiocrm_cli, deployment_dir: Path
) -> None:
    owner = world.customers["owner"]
    world.get("pudong", f"/api/customers/{owner}")
    world.get("minhang", f"/api/customers/{world.customers['minhang owner']}")
    today = date.today().isoformat()
    result = regiocrm_cli("audit", "export", "--org", "Pudong Motors", "--since", today)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {(row["actor"], row["role"], row["action"], row["subject_id"]) for row in rows} == {
        ("pudong", "dealer_staff", "customer.read", owner)
    }
    report = deployment_dir / "pudong.json"
    as_json = regiocrm_cli(
        "audit", "export", "--org", "Pudong Motors", "--since", today, "--json", "-o", str(report)
    )
    assert as_json.exit_code == 0, as_json.stderr
    document = json.loads(report.read_text())
    assert document["summary"] == {"customer.read": 1}
    assert document["organization"]["name"] == "Pudong Motors"
    with world.stores.session() as session:
        exports = session.scalar(select(func.count()).where(AuditEvent.action == "audit.exported"))
    assert exports == 2


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--org", "Pudong Motors", "--since", "2026-13-01"], "--since '2026-13-01' is not a date"),
        (
            ["--org", "Pudong Motors", "--since", "2026-06-02", "--until", "2026-06-01"],
            "the date range is backwards",
        ),
        (["--org", "Nobody", "--since", "2026-06-01"], "no organization named 'Nobody'"),
    ],
)
def test_a_bad_audit_export_says_why(
    world: World, regiocrm_cli, args: list[str], reason: str
) -> None:
    before = world.count(AuditEvent)
    result = regiocrm_cli("audit", "export", *args)
    assert result.exit_code == 2
    assert reason in result.stderr
    assert world.count(AuditEvent) == before


def test_the_audit_api_pages_through_the_trail(world: World) -> None:
    for name in PUDONGS:
        world.get("pudong", f"/api/customers/{world.customers[name]}")
    since = (utcnow() - timedelta(hours=1)).isoformat()
    org = str(world.orgs["pudong"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"org": org, "since": since, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = world.get("auditor", "/api/audit", **params).json()
        seen += [item["subject_id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(world.customers[name] for name in PUDONGS)
    backwards = world.get(
        "auditor",
        "/api/audit",
        org=org,
        since=since,
        until=(utcnow() - timedelta(days=1)).isoformat(),
    )
    assert backwards.status_code == 400
    assert "the date range is backwards" in backwards.json()["detail"]


def test_the_audit_api_filters_by_action_actor_and_subject_type(world: World) -> None:
    first = sorted(PUDONGS)[0]
    world.get("pudong", f"/api/customers/{world.customers[first]}")
    since = (utcnow() - timedelta(hours=1)).isoformat()
    org = str(world.orgs["pudong"])

    def actions(**only: str) -> list[str]:
        answer = world.get("auditor", "/api/audit", org=org, since=since, **only)
        assert answer.status_code == 200, answer.text
        return [item["action"] for item in answer.json()["items"]]

    assert actions(action="customer.read", subject_type="customer") == ["customer.read"]
    assert actions(action="customer.read", subject_type="case") == []
    assert actions(actor="pudong", action="customer.read") == ["customer.read"]
    assert actions(actor="nobody of theirs") == []
    assert (
        world.get("auditor", "/api/audit", org=org, since=since, action="x" * 101).status_code
        == 422
    )


# Who tries to take over a customer they may not see: a dealer another dealer's, an agent
# one of another market; who sees both records (and may merge them); the victim's phone.
TAKEOVERS = [
    pytest.param("pudong", "owner", "minhang owner", "importer", "+8613800138001", id="dealer"),
    pytest.param("agent", "unlinked", "osaka owner", "region", "+819012345678", id="agent"),
]
REFUSED_BIND = (
    "identity phone:{phone} belongs to a customer you may not see:"
    " it was not bound and no records were merged"
)
REFUSED_MERGE = "the other record is not a customer you may see: no records were merged"


def _bind(world: World, who: str, customer: str, phone: str) -> Any:
    return world.post(
        who,
        f"/api/customers/{world.customers[customer]}/identities",
        {"kind": "phone", "value": phone},
    )


@pytest.mark.parametrize(("attacker", "own", "victim", "both", "phone"), TAKEOVERS)
def test_binding_the_identity_of_a_customer_out_of_scope_takes_nothing_over(
    world: World, attacker: str, own: str, victim: str, both: str, phone: str
) -> None:
    """The merge an identity would prove needs both records in the caller's scope: else
    409 naming no customer, nothing bound or merged, and the refusal audited."""
    assert _bind(world, "admin", victim, phone).status_code == 200
    before = world.records()
    answer = _bind(world, attacker, own, phone)
    assert answer.status_code == 409
    assert answer.json()["detail"] == REFUSED_BIND.format(phone=phone)
    assert world.records() == before
    theirs, mine = world.customers[victim], world.customers[own]
    assert world.audited(attacker) == [("customer.merge_refused", mine)]
    for path in ("", "/timeline"):
        assert world.get(attacker, f"/api/customers/{theirs}{path}").status_code == 404
    merged = _bind(world, both, own, phone)
    assert merged.status_code == 200, merged.text
    assert {merged.json()["id"], *merged.json()["merged_ids"]} == {theirs, mine}


@pytest.mark.parametrize(("attacker", "own", "victim", "both", "phone"), TAKEOVERS)
def test_merging_with_a_customer_out_of_scope_is_refused_as_with_none(
    world: World, attacker: str, own: str, victim: str, both: str, phone: str
) -> None:
    """An other_id out of scope and one that is no customer at all get the same 409: the
    caller learns nothing of either."""
    mine = world.customers[own]
    before = world.records()
    for other in (world.customers[victim], str(uuid.uuid4())):
        body = {"other_id": other, "reason": "same person"}
        answer = world.post(attacker, f"/api/customers/{mine}/merge", body)
        assert answer.status_code == 409
        assert answer.json()["detail"] == REFUSED_MERGE
    assert world.records() == before
    assert world.audited(attacker) == [("customer.merge_refused", mine)] * 2
    body = {"other_id": world.customers[victim], "reason": "same person"}
    merged = world.post(both, f"/api/customers/{mine}/merge", body)
    assert merged.status_code == 200, merged.text


@pytest.mark.parametrize(("attacker", "own", "victim", "both", "phone"), TAKEOVERS)
def test_a_taken_identity_names_its_owner_only_to_who_sees_them(
    world: World, attacker: str, own: str, victim: str, both: str, phone: str
) -> None:
    assert _bind(world, "admin", victim, phone).status_code == 200
    before = world.records()
    body = {"market": "CN", "identities": [{"kind": "phone", "value": phone}]}
    answer = world.post(attacker, "/api/customers", body)
    assert answer.status_code == 409
    assert answer.json()["detail"] == (
        f"identity phone:{phone} already belongs to a customer you may not see"
    )
    assert world.records() == before
    market = "CN" if victim == "minhang owner" else "JP"
    named = world.post(both, "/api/customers", {**body, "market": market})
    assert named.status_code == 409
    assert named.json()["detail"] == (
        f"identity phone:{phone} already belongs to customer {world.customers[victim]}"
    )


@pytest.mark.parametrize(("attacker", "own", "victim", "both", "phone"), TAKEOVERS)
def test_a_channel_id_made_of_a_customers_phone_number_claims_nothing(
    world: World, attacker: str, own: str, victim: str, both: str, phone: str
) -> None:
    """A WhatsApp id is the phone number it is made of. Entered under that kind, the number
    of a customer out of scope is still theirs: a record planted with it would be merged
    into the victim by their next WhatsApp message, and the attacker would see them."""
    assert _bind(world, "admin", victim, phone).status_code == 200
    wa_id = phone.removeprefix("+")
    before = world.records()
    planted = world.post(
        attacker,
        "/api/customers",
        {"market": "CN", "identities": [{"kind": "whatsapp", "value": wa_id}]},
    )
    assert planted.status_code == 409
    assert planted.json()["detail"] == (
        f"identity whatsapp:{wa_id} already belongs to a customer you may not see"
    )
    bound = world.post(
        attacker,
        f"/api/customers/{world.customers[own]}/identities",
        {"kind": "whatsapp", "value": wa_id},
    )
    assert bound.status_code == 409
    assert bound.json()["detail"] == REFUSED_BIND.replace("phone:{phone}", f"whatsapp:{wa_id}")
    assert world.records() == before
    merged = world.post(
        both,
        f"/api/customers/{world.customers[own]}/identities",
        {"kind": "whatsapp", "value": wa_id},
    )
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert {body["id"], *body["merged_ids"]} == {world.customers[victim], world.customers[own]}
    assert {"kind": "whatsapp", "value": wa_id, "verified": True} in body["identities"]


def test_a_partner_audit_reads_no_personal_data(
    world: World, regiocrm_cli, deployment_dir: Path
) -> None:
    """Identities, reasons users wrote and whom a refused merge concerned are masked in
    what a partner auditor reads and in the export for a partner audit; admins read them."""
    phone, email = "+8613800138002", "li@example.cn"
    why, why_lost = "called from 13800138003", "bought elsewhere, says 13800138004"
    theirs, their_phone = world.customers["minhang owner"], "+8613800138001"
    assert _bind(world, "admin", "minhang owner", their_phone).status_code == 200
    body = {"market": "CN", "identities": [{"kind": "phone", "value": phone}]}
    created = world.post("pudong", "/api/customers", body).json()["id"]
    bound = world.customers["owner"]
    identity = {"kind": "email", "value": email}
    assert world.post("pudong", f"/api/customers/{bound}/identities", identity).status_code == 200
    merge = {"other_id": bound, "reason": why}
    assert world.post("pudong", f"/api/customers/{created}/merge", merge).status_code == 200
    assert _bind(world, "pudong", "case", their_phone).status_code == 409
    [lead] = world.get("pudong", "/api/leads").json()["items"]
    lost = {"to": "lost", "reason": why_lost}
    assert world.post("pudong", f"/api/leads/{lead['id']}/transition", lost).status_code == 200
    personal = [phone, email, why, why_lost, theirs, their_phone]

    since = (utcnow() - timedelta(hours=1)).isoformat()
    org = str(world.orgs["pudong"])
    audited = world.get("auditor", "/api/audit", org=org, since=since)
    assert audited.status_code == 200
    details = {item["action"]: item["detail"] for item in audited.json()["items"]}
    assert details["customer.created"] == {"identities": "[personal data]"}
    assert details["identity.bound"] == {"identity": "[personal data]"}
    assert details["customer.merged"] == {"merged": bound, "reason": "[personal data]"}
    assert details["customer.merge_refused"] == {
        "identity": "[personal data]",
        "other": "[personal data]",
    }
    assert details["lead.lost"] == {"previous": "new", "reason": "[personal data]"}
    today = date.today().isoformat()
    exported = regiocrm_cli("audit", "export", "--org", "Pudong Motors", "--since", today)
    assert exported.exit_code == 0, exported.stderr
    report = deployment_dir / "pudong.json"
    regiocrm_cli(
        "audit", "export", "--org", "Pudong Motors", "--since", today, "--json", "-o", str(report)
    )
    for text in (audited.text, exported.stdout, report.read_text()):
        assert "[personal data]" in text
        assert [value for value in personal if value in text] == []
    full = world.get("admin", "/api/audit", org=org, since=since).json()["items"]
    created_by_pudong = next(item for item in full if item["action"] == "customer.created")
    assert created_by_pudong["detail"] == {"identities": f"phone:{phone}"}


# A valid request to each customer, case, lead and contract route, so that what answers is
# the caller's role and nothing else.
AUDITOR_REQUESTS = {
    ("POST", "/api/customers"): {"market": "CN", "family_name": "王"},
    ("GET", "/api/customers"): None,
    ("GET", "/api/customers/{customer_id}"): None,
    ("GET", "/api/customers/{customer_id}/timeline"): None,
    ("POST", "/api/customers/{customer_id}/identities"): {
        "kind": "phone",
        "value": "+8613800138000",
    },
    ("POST", "/api/customers/{customer_id}/merge"): {"other_id": "{other_id}", "reason": "same"},
    ("POST", "/api/customers/{customer_id}/consents"): {"purpose": "service"},
    ("POST", "/api/customers/{customer_id}/messages"): {"text": "hello"},
    ("POST", "/api/customers/{customer_id}/exports"): {"to": "download"},
    ("GET", "/api/customers/{customer_id}/telematics"): None,
    ("POST", "/api/cases"): {"customer_id": "{customer_id}", "market": "CN", "subject": "noise"},
    ("GET", "/api/cases"): None,
    ("GET", "/api/cases/{case_id}"): None,
    ("POST", "/api/cases/{case_id}/transition"): {"to": "in_progress"},
    ("POST", "/api/leads"): {"market": "CN", "address": "上海市浦东新区张江路"},
    ("GET", "/api/leads"): None,
    ("GET", "/api/leads/{lead_id}"): None,
    ("POST", "/api/leads/{lead_id}/transition"): {"to": "contacted"},
    ("POST", "/api/leads/{lead_id}/convert"): {"vin": "LSVAU2180N2183456"},
    ("POST", "/api/contracts"): {
        "customer_id": "{customer_id}",
        "market": "CN",
        "kind": "service",
        "starts_on": "2026-01-01",
    },
    ("GET", "/api/contracts"): None,
    ("GET", "/api/contracts/{contract_id}"): None,
}


def test_a_partner_auditor_gets_403_on_every_customer_case_lead_and_contract_route(
    world: World,
) -> None:
    prefixes = ("/api/customers", "/api/cases", "/api/leads", "/api/contracts")
    routes = {
        (method.upper(), path)
        for path, operations in world.client.get("/openapi.json").json()["paths"].items()
        if path.startswith(prefixes)
        for method in operations
    }
    assert routes == set(AUDITOR_REQUESTS), "a route without a request here"
    with world.stores.session() as session:
        ids = {
            "customer_id": world.customers["owner"],
            "other_id": world.customers["case"],
            "case_id": str(session.scalars(select(Case.id)).one()),
            "lead_id": str(session.scalars(select(Lead.id)).one()),
            "contract_id": str(uuid.uuid4()),
        }
    for (method, path), body in AUDITOR_REQUESTS.items():
        filled = None if body is None else {k: str(v).format_map(ids) for k, v in body.items()}
        answer = world.client.request(
            method, path.format_map(ids), json=filled, headers=world.auth("auditor")
        )
        assert answer.status_code == 403, (method, path, answer.text)
    lookup = world.get("auditor", "/api/customers", identity="phone:+8613800138000", market="CN")
    assert lookup.status_code == 403
    assert lookup.json()["detail"] == "a partner_auditor reads the audit trail only"
