"""Cross-border export: refused unless the rules allow it, saying what is missing; what is
allowed and what is refused both audited."""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.http.app import create_app
from regiocrm.models import (
    AuditEvent,
    Contract,
    ContractKind,
    CustomerExport,
    DataClass,
    OrganizationKind,
    TransferAssessment,
    UserRole,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import upgrade_zones


class Desk:
    """A deployment with an admin and an agent, and the API as they use it."""

    def __init__(self, client: TestClient, stores: ZoneStores, tokens: dict[str, str]) -> None:
        self.client = client
        self.stores = stores
        self.tokens = tokens

    def post(self, path: str, body: dict[str, Any], *, who: str = "admin") -> Any:
        return self.client.post(
            path, json=body, headers={"Authorization": f"Bearer {self.tokens[who]}"}
        )

    def customer(self, market: str, **extra: Any) -> str:
        created = self.post(
            "/api/customers",
            {
                "market": market,
                "family_name": "王",
                "identities": [{"kind": "email", "value": f"{uuid.uuid4().hex}@x.example"}],
                **extra,
            },
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def consent(self, customer: str, channel: str, action: str = "grant") -> None:
        answer = self.post(
            f"/api/customers/{customer}/consents",
            {"purpose": "export", "channel": channel, "action": action},
        )
        assert answer.status_code == 201, answer.text

    def assess(
        self, market: str, data_class: DataClass, destination: str, **dates: date | None
    ) -> None:
        with self.stores.session() as session:
            session.add(
                TransferAssessment(
                    market=market,
                    data_class=data_class,
                    destination=destination,
                    reference=f"CAC-{data_class.value}",
                    approved_on=dates.get("approved_on") or date(2026, 1, 5),
                    expires_on=dates.get("expires_on"),
                )
            )

    def audit(self, action: str) -> list[AuditEvent]:
        with self.stores.session() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def desk(settings: RegiocrmSettings, regiocrm_hooks: Hooks) -> Iterator[Desk]:
    stores = ZoneStores.open(settings, regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    with stores.session() as session:
        org = create_organization(session, name="HQ", kind=OrganizationKind.OEM, market="CN")
        tokens = {
            role.value: create_user(session, name=role.value, role=role, organization=org).token
            for role in (UserRole.ADMIN, UserRole.CALL_CENTRE_AGENT)
        }
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        yield Desk(client, stores, tokens)
    stores.dispose()


def test_a_mainland_customer_cannot_leave_without_consent_and_assessment(
    desk: Desk, regiocrm_cli, deployment_dir: Path
) -> None:
    customer = desk.customer("CN")
    target = deployment_dir / "export.json"
    refused = regiocrm_cli("export", "customer", customer, "--to", str(target))
    assert refused.exit_code == 2
    assert refused.stderr.splitlines() == [
        "Error: CN identity data needs the customer's consent to export to file (purpose"
        " 'export', channel 'file' or '*'), and none is in force",
        "Error: CN identity data needs an approved transfer assessment for file valid on"
        f" {utcnow().date().isoformat()} (`regiocrm residency assessments add`), and there is"
        " none",
    ]
    assert not target.exists()
    assert list(deployment_dir.glob("*.part")) == []
    [event] = desk.audit("customer.export_refused")
    assert event.subject_id == uuid.UUID(customer)
    assert "consent" in event.detail["missing"]
    assert desk.audit("customer.exported") == []


def test_consent_alone_is_not_enough_where_the_pack_asks_for_an_assessment(
    desk: Desk, regiocrm_cli, deployment_dir: Path
) -> None:
    customer = desk.customer("CN")
    desk.consent(customer, "*")
    refused = regiocrm_cli("export", "customer", customer, "--to", "out.json")
    assert refused.exit_code == 2
    assert "needs an approved transfer assessment" in refused.stderr
    assert "consent" not in refused.stderr
    desk.assess("CN", DataClass.IDENTITY, "*", expires_on=date(2026, 1, 31))
    assert regiocrm_cli("export", "customer", customer, "--to", "out.json").exit_code == 2, (
        "an expired assessment counts for nothing"
    )
    desk.assess("CN", DataClass.IDENTITY, "file")
    exported = regiocrm_cli("export", "customer", customer, "--to", "out.json", "--json")
    assert exported.exit_code == 0, exported.stderr
    summary = json.loads(exported.stdout)
    assert summary["classes"] == ["identity"]
    assert summary["basis"]["CN identity"].startswith("consent ")
    assert summary["basis"]["CN identity"].endswith(", assessment CAC-identity")
    document = json.loads((deployment_dir / "out.json").read_text())
    assert document["customer_id"] == customer
    assert document["data"]["identity"]["customers"][0]["family_name"] == "王"
    [event] = desk.audit("customer.exported")
    assert event.detail["destination"] == "file"
    assert event.detail["basis CN identity"] == summary["basis"]["CN identity"]


def test_a_withdrawn_consent_no_longer_counts(desk: Desk, regiocrm_cli) -> None:
    customer = desk.customer("JP")
    desk.consent(customer, "file")
    desk.consent(customer, "file", action="withdraw")
    refused = regiocrm_cli("export", "customer", customer, "--to", "jp.json")
    assert refused.exit_code == 2
    assert "JP identity data needs the customer's consent" in refused.stderr


def test_every_class_of_the_customers_data_is_checked(
    desk: Desk, regiocrm_cli, deployment_dir: Path
) -> None:
    """A zone the rule allows needs nothing; a class it does not allow needs what its rule
    asks for: China's financial data may not go to Japan on consent alone."""
    customer = desk.customer("CN")
    with desk.stores.session() as session:
        session.add(
            Contract(
                market="CN",
                customer_id=uuid.UUID(customer),
                kind=ContractKind.FINANCING,
                starts_on=date(2026, 11, 1),
            )
        )
    desk.consent(customer, "jp")
    refused = regiocrm_cli("export", "customer", customer, "--to", "jp")
    assert refused.exit_code == 2
    assert refused.stderr.splitlines() == [
        "Error: CN financial data needs an approved transfer assessment for jp valid on"
        f" {utcnow().date().isoformat()} (`regiocrm residency assessments add`), and there is"
        " none"
    ]
    added = regiocrm_cli(
        "residency",
        "assessments",
        "add",
        "--market",
        "CN",
        "--class",
        "financial",
        "--to",
        "jp",
        "--reference",
        "CAC-2026-0042",
        "--approved",
        "2026-06-01",
    )
    assert added.exit_code == 0, added.stderr
    exported = regiocrm_cli("export", "customer", customer, "--to", "jp", "--json")
    assert exported.exit_code == 0, exported.stderr
    summary = json.loads(exported.stdout)
    assert summary["classes"] == ["financial", "identity"]
    assert summary["basis"]["CN identity"] == "zone jp is allowed by pack cn"
    assert summary["basis"]["CN financial"].endswith("assessment CAC-2026-0042")
    with desk.stores.engine("jp").connect() as connection:
        kept = connection.execute(select(CustomerExport.__table__)).one()
    assert str(kept.customer_id) == customer
    assert kept.document["data"]["financial"]["contracts"][0]["kind"] == "financing"


def test_where_the_rules_ask_nothing_nothing_is_needed(desk: Desk) -> None:
    customer = desk.customer("AU")
    refused = desk.post(f"/api/customers/{customer}/exports", {"to": "download"})
    assert refused.status_code == 403
    assert refused.json()["missing"] == [
        "AU identity data needs the customer's consent to export to file (purpose 'export',"
        " channel 'file' or '*'), and none is in force"
    ]
    desk.consent(customer, "*")
    answer = desk.post(f"/api/customers/{customer}/exports", {"to": "download"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["document"]["market"] == "AU"
    assert body["basis"] == {"AU identity": body["basis"]["AU identity"]}
    assert body["basis"]["AU identity"].startswith("consent ")


def test_the_api_export_is_for_data_protection_roles_only(desk: Desk) -> None:
    customer = desk.customer("AU")
    answer = desk.post(
        f"/api/customers/{customer}/exports", {"to": "download"}, who="call_centre_agent"
    )
    assert answer.status_code == 403
    assert answer.json()["detail"] == "a call_centre_agent may not export customer data"
    assert desk.audit("customer.exported") == []
    assert desk.post(f"/api/customers/{uuid.uuid4()}/exports", {"to": "jp"}).status_code == 404
    unknown = desk.post(f"/api/customers/{customer}/exports", {"to": "mars"})
    assert unknown.status_code == 422
    assert "unknown zone 'mars'" in unknown.text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "jpp"], "Error: unknown zone 'jpp' (configured zones: main, au, cn, jp, kr)"),
        (["--to", "exists.json"], "exists already: exports never overwrite"),
    ],
    ids=["mistyped-zone", "existing-file"],
)
def test_bad_destinations_are_refused(
    desk: Desk, regiocrm_cli, deployment_dir: Path, args: list[str], message: str
) -> None:
    customer = desk.customer("AU")
    desk.consent(customer, "*")
    (deployment_dir / "exists.json").write_text("{}")
    result = regiocrm_cli("export", "customer", customer, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert (deployment_dir / "exists.json").read_text() == "{}"
    assert desk.audit("customer.exported") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--market", "US"], "no pack serves market 'US'"),
        (["--to", "mars"], "--to: 'mars' is not a zone (main, au, cn, jp, kr), 'file' or '*'"),
        (["--approved", "2026-13-01"], "--approved: '2026-13-01' is not a date"),
        (
            ["--expires", "2025-01-01"],
            "--expires is before --approved: the date range is backwards",
        ),
        (["--reference", " "], "--reference is empty"),
    ],
    ids=["unserved-market", "unknown-destination", "bad-date", "backwards", "empty-reference"],
)
def test_bad_assessments_are_refused_and_nothing_is_stored(
    desk: Desk, regiocrm_cli, args: list[str], message: str
) -> None:
    base = {"--market": "CN", "--to": "jp", "--reference": "CAC-1", "--approved": "2026-06-01"}
    for option, value in zip(args[::2], args[1::2], strict=True):
        base[option] = value
    flat = [item for pair in base.items() for item in pair]
    result = regiocrm_cli("residency", "assessments", "add", "--class", "crm", *flat)
    assert result.exit_code == 2
    assert message in result.stderr
    listed = json.loads(regiocrm_cli("residency", "assessments", "list", "--json").stdout)
    assert listed == []


def test_assessments_are_listed_with_whether_they_hold_today(desk: Desk, regiocrm_cli) -> None:
    yesterday = (utcnow().date() - timedelta(days=1)).isoformat()
    for expires in (None, yesterday):
        args = ["--expires", expires] if expires else []
        assert (
            regiocrm_cli(
                "residency",
                "assessments",
                "add",
                "--market",
                "KR",
                "--class",
                "identity",
                "--class",
                "crm",
                "--to",
                "*",
                "--reference",
                f"PIPC-{expires}",
                "--approved",
                "2026-01-01",
                *args,
            ).exit_code
            == 0
        )
    listed = json.loads(regiocrm_cli("residency", "assessments", "list", "--json").stdout)
    assert sorted((a["data_class"], a["reference"], a["valid"]) for a in listed) == sorted(
        [
            ("crm", "PIPC-None", True),
            ("crm", f"PIPC-{yesterday}", False),
            ("identity", "PIPC-None", True),
            ("identity", f"PIPC-{yesterday}", False),
        ]
    )
    assert len(desk.audit("assessment.recorded")) == 4


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("missing/out.json", "the folder missing does not exist"),
        ("/proc/out.json", "No such file or directory"),
    ],
    ids=["missing-folder", "proc"],
)
def test_a_file_that_cannot_be_written_is_one_error_line_and_nothing_is_exported(
    desk: Desk, regiocrm_cli, deployment_dir: Path, to: str, reason: str
) -> None:
    customer = desk.customer("AU")
    desk.consent(customer, "*")
    result = regiocrm_cli("export", "customer", customer, "--to", to)
    assert (result.exit_code, result.stderr) == (2, f"Error: cannot write {to}: {reason}\n")
    assert desk.audit("customer.exported") == []
    assert list(deployment_dir.rglob("*.part")) == []


def test_an_export_file_is_readable_by_its_owner_alone(
    desk: Desk, regiocrm_cli, deployment_dir: Path
) -> None:
    """Personal data: 0600 from its creation (not narrowed after writing), whatever the
    umask."""
    customer = desk.customer("AU")
    desk.consent(customer, "*")
    created: list[int] = []
    real_open = os.open

    def watched(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith(".part"):
            created.append(mode)
        return real_open(path, flags, mode, *args, **kwargs)

    previous = os.umask(0)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(os, "open", watched)
            exported = regiocrm_cli("export", "customer", customer, "--to", "out.json")
    finally:
        os.umask(previous)
    assert exported.exit_code == 0, exported.stderr
    assert created == [0o600]
    assert stat.S_IMODE((deployment_dir / "out.json").stat().st_mode) == 0o600
    assert json.loads((deployment_dir / "out.json").read_text())["customer_id"] == customer
