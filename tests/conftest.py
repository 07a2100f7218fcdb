"""Shared test helpers. The fixtures themselves come from regiocrm's own pytest plugin
(``regiocrm.testing``), exactly as plugin authors get them."""

from __future__ import annotations

from pathlib import Path

import pytest

from regiocrm.hooks import Hooks
from regiocrm.migrate import Migrator
from regiocrm.settings import RegiocrmSettings
from regiocrm.stores import ZoneStores

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(deployment_dir: Path) -> RegiocrmSettings:
    """The embedded default: one SQLite zone under ``deployment_dir/var``."""
    return RegiocrmSettings()


@pytest.fixture
def stores(settings: RegiocrmSettings):
    zone_stores = ZoneStores(settings)
    yield zone_stores
    zone_stores.dispose()


@pytest.fixture
def migrated(stores: ZoneStores, regiocrm_hooks: Hooks) -> ZoneStores:
    """The default zone stores, upgraded to head."""
    Migrator(stores, regiocrm_hooks).upgrade()
    return stores
