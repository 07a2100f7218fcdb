"""Zone stores: SQLite files created on first use, pragmas, and refusal of unusable paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from regiocrm.models import User, UserRole
from regiocrm.settings import RegiocrmSettings
from regiocrm.stores import ZoneError, ZoneStores


def test_zone_file_is_created_on_first_use(deployment_dir: Path) -> None:
    stores = ZoneStores(RegiocrmSettings(data_dir=Path("data/zones")))
    path = deployment_dir / "data" / "zones" / "main.db"
    assert not path.exists()
    with stores.session() as session:
        session.execute(text("select 1"))
    assert path.is_file()
    stores.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(migrated: ZoneStores) -> None:
    with migrated.engine("main").connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_foreign_keys_are_enforced(migrated: ZoneStores) -> None:
    import uuid

    with pytest.raises(IntegrityError), migrated.session() as session:
        session.add(
            User(name="ghost", role=UserRole.AGENT, organization_id=uuid.uuid4(), market="CN")
        )


def test_a_session_per_zone(deployment_dir: Path) -> None:
    settings = RegiocrmSettings(
        zones={"cn": "sqlite:///cn.db", "jp": "sqlite:///jp.db"}, home_zone="cn"
    )
    stores = ZoneStores(settings)
    for zone in ("cn", "jp"):
        with stores.session(zone) as session:
            session.execute(text("create table marker (zone text)"))
            session.execute(text("insert into marker values (:zone)"), {"zone": zone})
    for zone in ("cn", "jp"):
        with stores.session(zone) as session:
            assert session.execute(text("select zone from marker")).scalar_one() == zone
    stores.dispose()
    assert (deployment_dir / "cn.db").exists()
    assert (deployment_dir / "jp.db").exists()


def test_unknown_zone_is_named(stores: ZoneStores) -> None:
    with pytest.raises(ZoneError, match=r"unknown zone 'kr' \(configured zones: main\)"):
        stores.engine("kr")


def test_data_dir_under_a_file_is_refused_and_nothing_created(deployment_dir: Path) -> None:
    (deployment_dir / "plain-file").write_text("not a folder")
    stores = ZoneStores(RegiocrmSettings(data_dir=Path("plain-file/var")))
    with pytest.raises(ZoneError, match=r"zone 'main': cannot use .* is not a folder"):
        stores.engine("main")
    assert sorted(p.name for p in deployment_dir.iterdir()) == ["plain-file"]


def test_database_path_that_is_a_folder_is_refused(deployment_dir: Path) -> None:
    (deployment_dir / "var" / "main.db").mkdir(parents=True)
    stores = ZoneStores(RegiocrmSettings())
    with pytest.raises(ZoneError, match="it exists and is not a file"):
        stores.check_writable()
