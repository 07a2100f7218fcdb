"""A dealer's file imported into a zone on a real PostgreSQL server: new rows go in by
``COPY`` after residency placed them, identities are looked up with array parameters, and
a second file of the same rows matches every one of them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dealer_files import e164, name, shanghai_file
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from regiocrm.crm.accounts import create_organization
from regiocrm.crm.imports import Importer, ImportRequest
from regiocrm.interfaces.terms import ContractKind
from regiocrm.models import (
    Contract,
    Customer,
    Identity,
    Interaction,
    OrganizationKind,
    Ownership,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores

pytestmark = pytest.mark.postgres

ROWS = 400


@pytest.fixture
def cn_on_postgres(
    postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks
) -> Iterator[ZoneStores]:
    settings = RegiocrmSettings(
        zones={"cn": postgres_url.render_as_string(hide_password=False)}, home_zone="cn"
    )
    stores = ZoneStores.open(settings, regiocrm_hooks)
    Migrator(stores, regiocrm_hooks).upgrade()
    yield stores
    stores.dispose()


def count(stores: ZoneStores, model: type) -> int:
    with stores.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_file_imports_by_copy_and_the_same_rows_again_all_match(
    cn_on_postgres: ZoneStores, regiocrm_hooks: Hooks, tmp_path: Path
) -> None:
    stores = cn_on_postgres
    with stores.session() as session:
        dealer: uuid.UUID = create_organization(
            session, name="Shanghai Motors", kind=OrganizationKind.DEALER, market="CN"
        ).id
        # Known by phone as the channels leave a customer: no name, which the row fills.
        known = Customer(market="CN")
        session.add(known)
        session.flush()
        session.add(Identity(market="CN", customer_id=known.id, kind="phone", value=e164(3)))
    file = shanghai_file(tmp_path, ROWS, known_every=ROWS + 1)
    importer = Importer(stores, regiocrm_hooks)
    request = ImportRequest("customers", file.path, "CN", dealer, batch_rows=150)
    report = importer.run(request, importer.open_job(request).id).as_dict()
    bad = len(file.bad_lines)
    assert (report["created"], report["merged"], report["rejected"]) == (ROWS - bad - 1, 1, bad)
    assert count(stores, Customer) == ROWS - bad
    assert count(stores, Identity) == 3 * (ROWS - bad)
    assert count(stores, Interaction) == ROWS - bad
    with stores.session() as session:
        merged = session.get_one(Customer, known.id)
        assert (merged.family_name, merged.given_name) == (name(3)[0], name(3)[1:])

    again = tmp_path / "again.csv"
    again.write_bytes(file.path.read_bytes() + b"\r\n")
    second = ImportRequest("customers", again, "CN", dealer)
    report = importer.run(second, importer.open_job(second).id).as_dict()
    assert (report["created"], report["matched"], report["rejected"]) == (0, ROWS - bad, bad)
    assert count(stores, Customer) == ROWS - bad


def test_vehicles_and_contracts_import_by_copy(
    cn_on_postgres: ZoneStores, regiocrm_hooks: Hooks, tmp_path: Path
) -> None:
    stores = cn_on_postgres
    with stores.session() as session:
        dealer: uuid.UUID = create_organization(
            session, name="Shanghai Motors", kind=OrganizationKind.DEALER, market="CN"
        ).id
        customer = Customer(market="CN", family_name="王", given_name="伟")
        session.add(customer)
        session.flush()
        session.add(Identity(market="CN", customer_id=customer.id, kind="phone", value=e164(1)))
    importer = Importer(stores, regiocrm_hooks)

    def run(kind: str, path: Path) -> dict:
        request = ImportRequest(kind, path, "CN", dealer)
        return importer.run(request, importer.open_job(request).id).as_dict()

    vin = "LSVAU218XN2183456"
    vehicles = tmp_path / "vehicles.csv"
    vehicles.write_text(
        f"车架号,手机,品牌,车型,年款,购车日期\n{vin},{e164(1)},上汽,途观,2023,2023-05-01\n", "utf-8"
    )
    assert run("vehicles", vehicles)["created"] == 1
    contracts = tmp_path / "contracts.csv"
    contracts.write_text(
        "合同编号,合同类型,手机,开始日期,结束日期,金额,车架号\n"
        f'L-1,lease,{e164(1)},2026-01-01,2028-12-31,"268,000.50",{vin}\n',
        "utf-8",
    )
    assert run("contracts", contracts)["created"] == 1
    with stores.session() as session:
        [ownership] = session.scalars(select(Ownership)).all()
        assert (ownership.customer_id, ownership.dealer_id) == (customer.id, dealer)
        assert str(ownership.started_on) == "2023-05-01"
        [contract] = session.scalars(select(Contract)).all()
        assert (contract.kind, str(contract.amount), contract.currency) == (
            ContractKind.LEASE,
            "268000.50",
            "CNY",
        )
        assert contract.vehicle_id == ownership.vehicle_id
