"""Inbox leases on a real PostgreSQL server: claimers racing on their own connections each
get other messages (``FOR UPDATE SKIP LOCKED``), and a lapsed lease is taken over."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from inbox_leases import assert_claimed_once_each, put_waiting
from sqlalchemy.engine import URL

from regiocrm.messaging.inbox import LEASE, claim
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores

pytestmark = pytest.mark.postgres


@pytest.fixture
def on_postgres(postgres_url: URL, deployment_dir: Path) -> RegiocrmSettings:
    return RegiocrmSettings(
        zones={"jp": postgres_url.render_as_string(hide_password=False)},
        home_zone="jp",
        deployment={"market": "JP"},
    )


@pytest.fixture
def stores(on_postgres: RegiocrmSettings, regiocrm_hooks: Hooks) -> Iterator[ZoneStores]:
    opened = ZoneStores.open(on_postgres, regiocrm_hooks)
    Migrator(opened, regiocrm_hooks).upgrade()
    yield opened
    opened.dispose()


def test_racing_claimers_never_get_the_same_message(
    stores: ZoneStores, on_postgres: RegiocrmSettings, regiocrm_hooks: Hooks
) -> None:
    assert_claimed_once_each(
        stores, lambda: ZoneStores.open(on_postgres, regiocrm_hooks), 300, claimers=4, batch=5
    )


def test_a_lapsed_lease_is_taken_over_and_a_live_one_is_not(stores: ZoneStores) -> None:
    ids = put_waiting(stores, 3)
    now = utcnow()
    claim(stores, "dead", now=now)
    assert claim(stores, "alive", now=now + LEASE - timedelta(seconds=1)) == []
    taken = claim(stores, "alive", now=now + LEASE + timedelta(seconds=1))
    assert sorted(inbox.id for inbox in taken) == sorted(ids)
