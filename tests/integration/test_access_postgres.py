"""Scoped access on PostgreSQL: the same roles and links, the statements PostgreSQL runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from access_world import PUDONGS, serve
from sqlalchemy.engine import URL

from regiocrm.hooks import Hooks
from regiocrm.settings import RegiocrmSettings

pytestmark = pytest.mark.postgres


def test_each_role_sees_its_own_on_postgresql(
    postgres_url: URL, second_postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    zones = {
        "cn": postgres_url.render_as_string(hide_password=False),
        "jp": second_postgres_url.render_as_string(hide_password=False),
    }
    settings = RegiocrmSettings(zones=zones, home_zone="cn")
    for world in serve(settings, regiocrm_hooks):
        assert world.listed("pudong") == PUDONGS
        assert world.listed("importer") == PUDONGS | {"minhang owner"}
        assert world.listed("osaka") == {"osaka owner"}
        assert world.listed("agent") == set(world.customers) - {"merged", "osaka owner"}
        theirs = world.customers["minhang owner"]
        assert world.get("pudong", f"/api/customers/{theirs}").status_code == 404
