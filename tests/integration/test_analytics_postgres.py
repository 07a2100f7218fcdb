"""The analytics export of zones on real PostgreSQL databases (read through server-side
cursors, a few rows at a time) beside SQLite ones: DuckDB reads back each zone's counts,
and no personal string is in any file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from analytics_world import KEY, cells, database_counts, populate, read
from sqlalchemy.engine import URL

from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.residency import analytics
from regiocrm.testing import upgrade_zones

pytestmark = pytest.mark.postgres


def test_postgresql_zones_export_with_their_counts_and_pseudonymised(
    postgres_url: URL,
    second_postgres_url: URL,
    deployment_dir: Path,
    regiocrm_hooks: Hooks,
    regiocrm_cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Chunks smaller than a day's rows: days and chunks cut across each other.
    monkeypatch.setattr(analytics, "CHUNK_ROWS", 3)
    monkeypatch.setenv("REGIOCRM_ANALYTICS__PSEUDONYM_KEY", KEY)
    (deployment_dir / "regiocrm.toml").write_text(
        "\n".join(
            [
                'home_zone = "main"',
                "[zones]",
                f'main = "sqlite:///{deployment_dir / "main.db"}"',
                f'cn = "{postgres_url.render_as_string(hide_password=False)}"',
                f'jp = "{second_postgres_url.render_as_string(hide_password=False)}"',
                f'kr = "sqlite:///{deployment_dir / "kr.db"}"',
            ]
        )
        + "\n"
    )
    stores = ZoneStores.open(load_settings(regiocrm_hooks), regiocrm_hooks)
    try:
        upgrade_zones(stores, regiocrm_hooks)
        world = populate(stores)
        expected = database_counts(stores)
    finally:
        stores.dispose()
    assert expected["cn", "interactions"] == 6

    done = regiocrm_cli("analytics", "export", "--to", "lake", "--json")
    assert done.exit_code == 0, done.stderr
    summary = json.loads(done.stdout)
    lake = deployment_dir / "lake"
    counted = read(lake, 'SELECT zone, "table", count(*) FROM export GROUP BY ALL')
    assert {(zone, table): count for zone, table, count in counted} == expected
    assert summary["total_rows"] == sum(expected.values())
    values = cells(lake)
    for secret in world.personal:
        assert not [value for value in values if secret in value], secret
