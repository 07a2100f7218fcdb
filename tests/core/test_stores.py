"""Zone stores: SQLite files created on first use, pragmas, and refusal of unusable paths."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import event, make_url, text
from sqlalchemy.exc import IntegrityError

from regiocrm.models import User, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import (
    POSTGRES_CONNECT_TIMEOUT_SECONDS,
    ZoneError,
    ZoneStores,
    make_engine,
)


def test_zone_files_are_created_on_first_use(deployment_dir: Path, regiocrm_hooks: Hooks) -> None:
    stores = ZoneStores.open(RegiocrmSettings(data_dir=Path("data/zones")), regiocrm_hooks)
    path = deployment_dir / "data" / "zones" / "jp.db"
    assert not path.exists()
    with stores.session() as session:
        session.zone_connection("jp").execute(text("select 1"))
    assert path.is_file()
    assert not (deployment_dir / "data" / "zones" / "kr.db").exists()
    stores.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(migrated: ZoneStores) -> None:
    with migrated.engine("main").connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_foreign_keys_are_enforced_in_the_directory(migrated: ZoneStores) -> None:
    with pytest.raises(IntegrityError), migrated.session() as session:
        session.add(
            User(
                name="ghost",
                role=UserRole.CALL_CENTRE_AGENT,
                organization_id=uuid.uuid4(),
                market="CN",
            )
        )


def test_a_connection_per_zone(deployment_dir: Path, regiocrm_hooks: Hooks) -> None:
    settings = RegiocrmSettings(
        zones={"cn": "sqlite:///cn.db", "jp": "sqlite:///jp.db"}, home_zone="cn"
    )
    stores = ZoneStores.open(settings, regiocrm_hooks)
    with stores.session() as session:
        for zone in ("cn", "jp"):
            connection = session.zone_connection(zone)
            connection.execute(text("create table marker (zone text)"))
            connection.execute(text("insert into marker values (:zone)"), {"zone": zone})
    with stores.session() as session:
        for zone in ("cn", "jp"):
            marker = session.zone_connection(zone).execute(text("select zone from marker"))
            assert marker.scalar_one() == zone
    stores.dispose()
    assert (deployment_dir / "cn.db").exists()
    assert (deployment_dir / "jp.db").exists()


def test_unknown_zone_is_named(stores: ZoneStores) -> None:
    with pytest.raises(
        ZoneError, match=r"unknown zone 'xx' \(configured zones: main, au, cn, jp, kr\)"
    ):
        stores.engine("xx")


def test_data_dir_under_a_file_is_refused_and_nothing_created(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    (deployment_dir / "plain-file").write_text("not a folder")
    stores = ZoneStores.open(RegiocrmSettings(data_dir=Path("plain-file/var")), regiocrm_hooks)
    with pytest.raises(ZoneError, match=r"zone 'main': cannot use .* is not a folder"):
        stores.engine("main")
    assert sorted(p.name for p in deployment_dir.iterdir()) == ["plain-file"]


def test_database_path_that_is_a_folder_is_refused(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    (deployment_dir / "var" / "jp.db").mkdir(parents=True)
    stores = ZoneStores.open(RegiocrmSettings(), regiocrm_hooks)
    with pytest.raises(ZoneError, match=r"zone 'jp': .* it exists and is not a file"):
        stores.check_writable()


class NotConnecting(Exception):
    """Raised where the driver would connect: the test needs only what it would be given."""


@pytest.mark.parametrize(
    ("query", "timeout"),
    [("", POSTGRES_CONNECT_TIMEOUT_SECONDS), ("?connect_timeout=30", "30")],
)
def test_connecting_to_a_postgresql_zone_times_out(query: str, timeout: object) -> None:
    """libpq waits for ever for a server that accepts the connection and never answers:
    the zone's engine gives it a timeout, unless the zone's URL sets its own."""
    engine = make_engine(make_url(f"postgresql+psycopg://crm@db.example/crm{query}"))
    given: dict[str, object] = {}

    @event.listens_for(engine, "do_connect")
    def connect(dialect: object, record: object, args: object, params: dict[str, object]) -> None:
        given.update(params)
        raise NotConnecting

    with pytest.raises(NotConnecting):
        engine.connect()
    assert given["connect_timeout"] == timeout
