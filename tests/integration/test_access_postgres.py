"""Scoped access on PostgreSQL: the same roles and links, the statements PostgreSQL runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from access_world import PUDONGS, serve
from sqlalchemy.engine import URL

from regiocrm.crm.audit import MASKED
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings

pytestmark = pytest.mark.postgres


def _two_zones(postgres_url: URL, second_postgres_url: URL) -> RegiocrmSettings:
    zones = {
        "cn": postgres_url.render_as_string(hide_password=False),
        "jp": second_postgres_url.render_as_string(hide_password=False),
    }
    return RegiocrmSettings(zones=zones, home_zone="cn")


def test_each_role_sees_its_own_on_postgresql(
    postgres_url: URL, second_postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    for world in serve(_two_zones(postgres_url, second_postgres_url), regiocrm_hooks):
        assert world.listed("pudong") == PUDONGS
        assert world.listed("importer") == PUDONGS | {"minhang owner"}
        assert world.listed("osaka") == {"osaka owner"}
        assert world.listed("agent") == set(world.customers) - {"merged", "osaka owner"}
        theirs = world.customers["minhang owner"]
        assert world.get("pudong", f"/api/customers/{theirs}").status_code == 404


def test_a_takeover_across_zones_is_refused_and_audited_on_postgresql(
    postgres_url: URL, second_postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    """A Chinese agent binding the phone of a Japanese dealer's customer (kept in the jp
    zone): 409 naming no one, nothing changed in either zone, the refusal committed in the
    trail, and what the partner auditor reads of it masked."""
    for world in serve(_two_zones(postgres_url, second_postgres_url), regiocrm_hooks):
        theirs, mine = world.customers["osaka owner"], world.customers["unlinked"]
        phone = {"kind": "phone", "value": "+819012345678"}
        assert world.post("admin", f"/api/customers/{theirs}/identities", phone).status_code == 200
        before = world.records()
        answer = world.post("agent", f"/api/customers/{mine}/identities", phone)
        assert answer.status_code == 409
        assert theirs not in answer.text
        assert world.records() == before
        assert world.audited("agent") == [("customer.merge_refused", mine)]
        since = (utcnow() - timedelta(hours=1)).isoformat()
        trail = world.get("auditor", "/api/audit", org=str(world.orgs["centre"]), since=since)
        [refusal] = trail.json()["items"]
        assert refusal["detail"] == {"identity": MASKED, "other": MASKED}
