"""Vehicle events on PostgreSQL: its own way of skipping events stored before (the keys asked
as two arrays, then psycopg's pipelined insert), a redelivery a no-op, and the rules' lead
in the same transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from connected_cars import SHANGHAI_VIN, count, event, mileage, own_car, stored_events
from sqlalchemy.engine import URL

from regiocrm.interfaces.events import EventKind
from regiocrm.models import Lead
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.services.application import Application
from regiocrm.testing import upgrade_zones

pytestmark = pytest.mark.postgres


@pytest.fixture
def application(
    postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks
) -> Iterator[Application]:
    settings = RegiocrmSettings(
        zones={"cn": postgres_url.render_as_string(hide_password=False)}, home_zone="cn"
    )
    app = Application.open(settings, regiocrm_hooks)
    upgrade_zones(app.stores, regiocrm_hooks)
    yield app
    app.close()


def test_a_batch_and_its_redelivery_store_each_event_once(application: Application) -> None:
    own_car(application, SHANGHAI_VIN, "CN", "Shanghai Motors")
    batch = [*mileage(SHANGHAI_VIN, 600), event(SHANGHAI_VIN, "s1", EventKind.SERVICE_DUE)]
    first = application.telematics.ingest(batch)
    assert (first.stored, first.duplicates, first.leads) == (601, 0, 1)
    again = application.telematics.ingest([*batch, event(SHANGHAI_VIN, "s2", EventKind.MILEAGE)])
    assert (again.stored, again.duplicates, again.leads) == (1, 601, 0)
    assert len(stored_events(application)) == 602
    assert count(application, Lead) == 1
