"""Migrations on SQLite: round trip, no drift, one head per branch, every zone upgraded."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from regiocrm import hookimpl
from regiocrm.models import Base
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.migrations import CORE_BRANCH, Migrator
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores


def schema_drift(stores: ZoneStores, zone: str) -> list[object]:
    with stores.engine(zone).connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def table_names(stores: ZoneStores, zone: str) -> set[str]:
    return set(inspect(stores.engine(zone)).get_table_names())


def test_round_trip_upgrade_downgrade_upgrade(stores: ZoneStores, regiocrm_hooks: Hooks) -> None:
    migrator = Migrator(stores, regiocrm_hooks)
    migrator.upgrade()
    assert migrator.state("main").migrated
    assert set(Base.metadata.tables) <= table_names(stores, "main")

    migrator.downgrade("main", "base")
    assert table_names(stores, "main") <= {"alembic_version"}
    assert migrator.state("main").revisions == ()

    migrator.upgrade()
    assert migrator.state("main").migrated
    assert schema_drift(stores, "main") == []


def test_models_match_the_migrated_schema(migrated: ZoneStores) -> None:
    assert schema_drift(migrated, "main") == []


def test_each_branch_has_one_head(regiocrm_hooks: Hooks, stores: ZoneStores) -> None:
    script = ScriptDirectory.from_config(Migrator(stores, regiocrm_hooks).config())
    assert len(script.get_heads()) == len(
        {label for rev in script.walk_revisions() for label in rev.branch_labels}
    )
    assert script.get_revision(CORE_BRANCH + "@head") is not None


def test_every_configured_zone_is_upgraded(deployment_dir: Path, regiocrm_hooks: Hooks) -> None:
    settings = RegiocrmSettings(
        zones={"cn": "sqlite:///cn.db", "jp": "sqlite:///jp.db"}, home_zone="cn"
    )
    stores = ZoneStores.open(settings, regiocrm_hooks)
    migrator = Migrator(stores, regiocrm_hooks)
    assert [state.migrated for state in migrator.states()] == [False, False]
    migrator.upgrade()
    assert [(state.zone, state.migrated) for state in migrator.states()] == [
        ("cn", True),
        ("jp", True),
    ]
    stores.dispose()


def test_state_of_a_missing_sqlite_zone_creates_nothing(
    stores: ZoneStores, regiocrm_hooks: Hooks, deployment_dir: Path
) -> None:
    state = Migrator(stores, regiocrm_hooks).state("main")
    assert (state.reachable, state.migrated, state.error) == (True, False, "not created yet")
    assert not (deployment_dir / "var").exists()


PACK_VERSIONS = Path(__file__).resolve().parent.parent / "fixtures" / "pack_migrations"


class PackWithMigrations:
    @hookimpl
    def register_migrations(self) -> list[Path]:
        return [PACK_VERSIONS]


def test_hook_register_migrations(
    stores: ZoneStores, regiocrm_hooks: Hooks, register_plugin
) -> None:
    register_plugin(PackWithMigrations())
    migrator = Migrator(stores, regiocrm_hooks)
    assert PACK_VERSIONS in regiocrm_hooks.migration_locations()
    assert len(migrator.heads()) == 2

    migrator.upgrade()
    assert migrator.state("main").migrated
    assert {"test_pack_notes", "organizations"} <= table_names(stores, "main")

    # The pack's branch goes down on its own; the core schema it depends on stays.
    migrator.downgrade("main", "regiocrm_test_pack@base")
    assert "test_pack_notes" not in table_names(stores, "main")
    assert "organizations" in table_names(stores, "main")
    assert not migrator.state("main").migrated

    migrator.upgrade()
    assert "test_pack_notes" in table_names(stores, "main")
