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

from regiocrm.hooks import Hooks
from regiocrm.models import (
    AuditEvent,
    Consent,
    Customer,
    Interaction,
)
from regiocrm.models.base import utcnow
from regiocrm.settings import RegiocrmSettings, load_settings


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
