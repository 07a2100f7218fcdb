"""Test drives booked and read over the API, scoped like customers, announced once kept,
and followed by residency, storage and the customer export as any core entity is."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import Deployment
from regiocrm_test_drives.models import TestDrive

from regiocrm import hookimpl
from regiocrm.models import Base
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores

WHEN = "2026-12-24T10:00:00+09:00"


def book(deployment: Deployment, who: str, customer: str, org: str, **extra: Any) -> Any:
    return deployment.client.post(
        "/api/test-drives",
        json={
            "customer_id": customer,
            "organization_id": deployment.organizations[org],
            "vehicle_model": "Tourer",
            "scheduled_at": WHEN,
            **extra,
        },
        headers=deployment.as_user(who),
    )


class Announcements:
    def __init__(self) -> None:
        self.booked: list[dict[str, Any]] = []

    @hookimpl
    def test_drive_booked(
        self, test_drive_id: uuid.UUID, market: str, scheduled_at: datetime
    ) -> None:
        self.booked.append(
            {"test_drive_id": test_drive_id, "market": market, "scheduled_at": scheduled_at}
        )


def test_a_dealer_books_a_test_drive_and_reads_it_back(
    deployment: Deployment, register_plugin: Any
) -> None:
    heard = Announcements()
    register_plugin(heard)
    customer = deployment.customer("osaka")
    answer = book(deployment, "osaka", customer, "Osaka Motors")
    assert answer.status_code == 201, answer.text
    drive = answer.json()["id"]

    read = deployment.client.get(f"/api/test-drives/{drive}", headers=deployment.as_user("osaka"))
    assert read.status_code == 200
    assert read.json() == {
        "id": drive,
        "market": "JP",
        "customer_id": customer,
        "organization_id": deployment.organizations["Osaka Motors"],
        "vehicle_model": "Tourer",
        "scheduled_at": "2026-12-24T01:00:00+00:00",
    }
    [event] = heard.booked
    assert event["test_drive_id"] == uuid.UUID(drive)
    assert event["market"] == "JP"
    assert event["scheduled_at"] == datetime.fromisoformat(WHEN)


def test_test_drives_are_scoped_like_customers(deployment: Deployment) -> None:
    customer = deployment.customer("osaka")
    drive = book(deployment, "osaka", customer, "Osaka Motors").json()["id"]

    # Another dealer neither sees the customer nor their test drive, nor learns they exist.
    assert book(deployment, "kobe", customer, "Kobe Motors").status_code == 404
    hidden = deployment.client.get(f"/api/test-drives/{drive}", headers=deployment.as_user("kobe"))
    assert hidden.status_code == 404
    missing = deployment.client.get(
        f"/api/test-drives/{uuid.uuid4()}", headers=deployment.as_user("kobe")
    )
    assert missing.status_code == 404
    # A dealer books at its own organization only; the brand's staff see every customer.
    assert book(deployment, "osaka", customer, "Kobe Motors").status_code == 403
    seen = deployment.client.get(f"/api/test-drives/{drive}", headers=deployment.as_user("centre"))
    assert seen.status_code == 200
    assert deployment.client.get(f"/api/test-drives/{drive}").status_code == 401


@pytest.mark.parametrize(
    "bad",
    [
        {"scheduled_at": "2026-12-24T10:00:00"},
        {"vehicle_model": ""},
        {"customer_id": "not-an-id"},
        {"colour": "red"},
    ],
    ids=["naive-time", "no-model", "bad-id", "unknown-field"],
)
def test_bad_bookings_are_refused_and_nothing_is_stored(
    deployment: Deployment, regiocrm_hooks: Hooks, bad: dict[str, Any]
) -> None:
    customer = deployment.customer("osaka")
    assert book(deployment, "osaka", customer, "Osaka Motors", **bad).status_code == 422
    assert rows(regiocrm_hooks) == 0


def rows(hooks: Hooks) -> int:
    stores = ZoneStores.open(load_settings(hooks), hooks)
    try:
        with stores.session() as session:
            return len(session.query(TestDrive).all())
    finally:
        stores.dispose()


def test_the_model_matches_its_migration(deployment: Deployment, regiocrm_hooks: Hooks) -> None:
    stores = ZoneStores.open(load_settings(regiocrm_hooks), regiocrm_hooks)
    try:
        with stores.engine(stores.home).connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        stores.dispose()
    assert [d for d in diff if "test_drives" in repr(d)] == []


def test_residency_storage_and_the_export_take_test_drives_in(
    deployment: Deployment, regiocrm_cli: Any
) -> None:
    customer = deployment.customer("osaka")
    assert book(deployment, "osaka", customer, "Osaka Motors").status_code == 201

    report = json.loads(regiocrm_cli("residency", "report", "--json").stdout)
    held = [
        (zone["zone"], entry["market"], entry["data_class"], entry["tables"]["test_drives"])
        for zone in report["zones"]
        for entry in zone["holdings"]
        if "test_drives" in entry["tables"]
    ]
    assert held == [("jp", "JP", "crm", 1)]

    storage = json.loads(regiocrm_cli("storage", "report", "--json").stdout)
    [osaka] = [row for row in storage if row["organization"] == "Osaka Motors"]
    assert osaka["used_mib_by_class"]["crm"] > 0

    exported = regiocrm_cli("export", "customer", customer, "--to", "jp", "--json")
    assert exported.exit_code == 0, exported.stderr
    assert "crm" in json.loads(exported.stdout)["classes"]
