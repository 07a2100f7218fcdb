"""A deployment with every role and every way a customer is linked to a dealer, as the
access tests (SQLite and PostgreSQL) serve it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.http.app import create_app
from regiocrm.models import (
    AuditEvent,
    Case,
    Customer,
    Direction,
    Identity,
    Interaction,
    Lead,
    OrganizationKind,
    Ownership,
    Priority,
    User,
    UserRole,
    Vehicle,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import upgrade_zones

# The customers Pudong Motors sees: linked by an ownership, a lead, a case, a timeline
# entry, and a survivor through the record merged into it.
PUDONGS = {"owner", "lead", "case", "chat", "survivor"}


@dataclass
class World:
    """A wholesaler with two dealers in China, a dealer in Japan, a call centre and a
    partner auditor, and customers linked to them in every way there is."""

    client: TestClient
    stores: ZoneStores
    tokens: dict[str, str] = field(default_factory=dict)
    orgs: dict[str, uuid.UUID] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.auth(who))

    def post(self, who: str, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, json=body, headers=self.auth(who))

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def listed(self, who: str) -> set[str]:
        answer = self.get(who, "/api/customers", limit=200)
        assert answer.status_code == 200, answer.text
        names = {value: key for key, value in self.customers.items()}
        return {names[item["id"]] for item in answer.json()["items"]}

    def count(self, model: Any) -> int:
        with self.stores.session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def records(self) -> dict[str, set[tuple[Any, ...]]]:
        """Every customer's record, identities and timeline entries, to show that a refused
        change changed none of them."""
        with self.stores.session() as session:
            return {
                "customers": set(session.execute(select(Customer.id, Customer.merged_into_id))),
                "identities": set(
                    session.execute(select(Identity.customer_id, Identity.kind, Identity.value))
                ),
                "timeline": set(session.execute(select(Interaction.id, Interaction.customer_id))),
            }

    def audited(self, who: str) -> list[tuple[str, str]]:
        """The actions ``who`` is in the audit trail for, with their subjects, oldest first
        (each zone keeps its own)."""
        with self.stores.session() as session:
            actor = session.scalars(select(User.id).where(User.name == who)).one()
            events = session.execute(
                select(AuditEvent.occurred_at, AuditEvent.action, AuditEvent.subject_id).where(
                    AuditEvent.actor_id == actor
                )
            )
            return [(action, str(subject)) for _at, action, subject in sorted(events)]


def populate(stores: ZoneStores) -> tuple[dict[str, str], dict[str, uuid.UUID], dict[str, str]]:
    with stores.session() as session:

        def org(name: str, kind: OrganizationKind, market: str, parent: str | None = None) -> Any:
            return create_organization(session, name=name, kind=kind, market=market, parent=parent)

        importer = org("Importer", OrganizationKind.WHOLESALER, "CN")
        pudong = org("Pudong Motors", OrganizationKind.DEALER, "CN", parent="Importer")
        minhang = org("Minhang Motors", OrganizationKind.DEALER, "CN", parent="Importer")
        osaka = org("Osaka Motors", OrganizationKind.DEALER, "JP")
        centre = org("Call centre", OrganizationKind.CALL_CENTRE, "CN")
        hq = org("HQ", OrganizationKind.OEM, "CN")
        auditors = org("Auditors", OrganizationKind.PARTNER, "CN")
        people = {
            "admin": (UserRole.ADMIN, hq),
            "region": (UserRole.COMPETENCE_CENTRE, hq),
            "importer": (UserRole.WHOLESALER_STAFF, importer),
            "pudong": (UserRole.DEALER_STAFF, pudong),
            "minhang": (UserRole.DEALER_STAFF, minhang),
            "osaka": (UserRole.DEALER_STAFF, osaka),
            "agent": (UserRole.CALL_CENTRE_AGENT, centre),
            "auditor": (UserRole.PARTNER_AUDITOR, auditors),
        }
        tokens = {
            name: create_user(session, name=name, role=role, organization=place).token
            for name, (role, place) in people.items()
        }
        customers: dict[str, Customer] = {}
        for name, market in [
            ("owner", "CN"),
            ("lead", "CN"),
            ("case", "CN"),
            ("chat", "CN"),
            ("minhang owner", "CN"),
            ("unlinked", "CN"),
            ("survivor", "CN"),
            ("merged", "CN"),
            ("osaka owner", "JP"),
        ]:
            customers[name] = Customer(market=market, family_name=name)
            session.add(customers[name])
        session.flush()
        customers["merged"].merged_into_id = customers["survivor"].id

        def own(customer: str, dealer: Any, vin: str) -> None:
            market = customers[customer].market
            car = Vehicle(market=market, vin=vin)
            session.add(car)
            session.flush()
            session.add(
                Ownership(
                    market=market,
                    vehicle_id=car.id,
                    customer_id=customers[customer].id,
                    dealer_id=dealer.id,
                    started_on=date(2024, 5, 1),
                )
            )

        own("owner", pudong, "LSVAU2180N2100001")
        own("merged", pudong, "LSVAU2180N2100002")
        own("minhang owner", minhang, "LSVAU2180N2100003")
        own("osaka owner", osaka, "JTDBR32E530000004")
        session.add(Lead(market="CN", customer_id=customers["lead"].id, dealer_id=pudong.id))
        session.add(
            Case(
                market="CN",
                customer_id=customers["case"].id,
                subject="noise",
                priority=Priority.NORMAL,
                organization_id=pudong.id,
                opened_at=utcnow(),
            )
        )
        session.add(
            Interaction(
                market="CN",
                customer_id=customers["chat"].id,
                channel="wechat",
                direction=Direction.INBOUND,
                touchpoint="service",
                occurred_at=utcnow(),
                organization_id=pudong.id,
            )
        )
        orgs = {
            "importer": importer.id,
            "pudong": pudong.id,
            "auditors": auditors.id,
            "centre": centre.id,
        }
        return tokens, orgs, {name: str(c.id) for name, c in customers.items()}


def serve(settings: RegiocrmSettings, hooks: Hooks) -> Iterator[World]:
    stores = ZoneStores.open(settings, hooks)
    upgrade_zones(stores, hooks)
    tokens, orgs, customers = populate(stores)
    with TestClient(create_app(settings, hooks)) as client:
        yield World(client, stores, tokens, orgs, customers)
    stores.dispose()
