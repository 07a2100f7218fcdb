"""The seed's residency story on real PostgreSQL databases: two on the machine's server,
then one of them beside a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from residency_story import play
from sqlalchemy.engine import URL

from regiocrm.platform.hooks import Hooks

pytestmark = pytest.mark.postgres


def test_the_story_on_two_postgresql_zones(
    postgres_url: URL,
    second_postgres_url: URL,
    deployment_dir: Path,
    regiocrm_hooks: Hooks,
    regiocrm_cli,
) -> None:
    zones = {
        "cn": postgres_url.render_as_string(hide_password=False),
        "jp": second_postgres_url.render_as_string(hide_password=False),
    }
    story = play(deployment_dir, regiocrm_hooks, regiocrm_cli, zones)
    assert story["moved_rows"] > 0


def test_the_story_on_a_postgresql_zone_beside_a_sqlite_one(
    postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks, regiocrm_cli
) -> None:
    zones = {
        "cn": postgres_url.render_as_string(hide_password=False),
        "jp": f"sqlite:///{deployment_dir / 'jp.db'}",
    }
    story = play(deployment_dir, regiocrm_hooks, regiocrm_cli, zones)
    assert story["moved_rows"] > 0
