"""The application every service test calls: the embedded default deployment, its zones
upgraded to head. A module whose deployment differs (a channel account, a provider API it
records) overrides ``application`` with its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application


@pytest.fixture
def application(
    settings: RegiocrmSettings, regiocrm_hooks: Hooks, migrated: ZoneStores
) -> Iterator[Application]:
    app = Application.open(settings, regiocrm_hooks)
    yield app
    app.close()
