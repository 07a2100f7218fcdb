"""The same schema and commands on a real PostgreSQL server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from regiocrm.models import Base, Customer, Identity
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_stores(postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks):
    settings = RegiocrmSettings(
        zones={"cn": postgres_url.render_as_string(hide_password=False)}, home_zone="cn"
    )
    stores = ZoneStores.open(settings, regiocrm_hooks)
    yield stores
    stores.dispose()


def test_round_trip_and_no_drift(pg_stores: ZoneStores, regiocrm_hooks: Hooks) -> None:
    migrator = Migrator(pg_stores, regiocrm_hooks)
    migrator.upgrade()
    assert migrator.state("cn").migrated
    migrator.downgrade("cn", "base")
    assert set(inspect(pg_stores.engine("cn")).get_table_names()) <= {"alembic_version"}
    migrator.upgrade()
    with pg_stores.engine("cn").connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    assert migrator.state("cn").migrated


def test_native_types_on_postgresql(pg_stores: ZoneStores, regiocrm_hooks: Hooks) -> None:
    Migrator(pg_stores, regiocrm_hooks).upgrade()
    columns = {
        c["name"]: c["type"] for c in inspect(pg_stores.engine("cn")).get_columns("interactions")
    }
    assert str(columns["id"]) == "UUID"
    assert str(columns["occurred_at"]) == "TIMESTAMP"
    assert columns["occurred_at"].timezone is True


def test_identity_uniqueness_on_postgresql(pg_stores: ZoneStores, regiocrm_hooks: Hooks) -> None:
    Migrator(pg_stores, regiocrm_hooks).upgrade()
    with pg_stores.session() as session:
        customer = Customer(market="CN", family_name="金", given_name="民俊")
        session.add(customer)
        session.flush()
        session.add(
            Identity(market="CN", customer_id=customer.id, kind="wechat_openid", value="abc")
        )
    with pytest.raises(IntegrityError), pg_stores.session() as session:
        session.add(
            Identity(market="CN", customer_id=customer.id, kind="wechat_openid", value="abc")
        )
    with pg_stores.session() as session:
        assert session.scalar(select(text("count(*)")).select_from(Identity)) == 1


def test_cli_on_a_postgresql_zone(
    postgres_url: URL, regiocrm_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIOCRM_HOME_ZONE", "cn")
    monkeypatch.setenv("REGIOCRM_ZONES__CN", postgres_url.render_as_string(hide_password=False))
    assert regiocrm_cli("db", "upgrade").exit_code == 0
    [state] = json.loads(regiocrm_cli("db", "current", "--json").stdout)
    assert state["migrated"] is True
    added = regiocrm_cli("users", "add", "park", "--role", "call_centre_agent")
    assert added.exit_code == 0, added.stderr
    assert added.last_line.startswith("rcm_")
