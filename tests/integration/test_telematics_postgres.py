"""Vehicle events on PostgreSQL: its own way of skipping events stored before (the keys asked
as two arrays, then psycopg's pipelined insert), a redelivery a no-op, and the rules' lead
in the same transaction."""

from __future__ import annotations

import pytest
from connected_cars import SHANGHAI_VIN, count, event, mileage, own_car, stored_events

from regiocrm.interfaces.events import EventKind
from regiocrm.models import Lead
from regiocrm.services.application import Application

pytestmark = pytest.mark.postgres


def test_a_batch_and_its_redelivery_store_each_event_once(cn_application: Application) -> None:
    own_car(cn_application, SHANGHAI_VIN, "CN", "Shanghai Motors")
    batch = [*mileage(SHANGHAI_VIN, 600), event(SHANGHAI_VIN, "s1", EventKind.SERVICE_DUE)]
    first = cn_application.telematics.ingest(batch)
    assert (first.stored, first.duplicates, first.leads) == (601, 0, 1)
    again = cn_application.telematics.ingest([*batch, event(SHANGHAI_VIN, "s2", EventKind.MILEAGE)])
    assert (again.stored, again.duplicates, again.leads) == (1, 601, 0)
    assert len(stored_events(cn_application)) == 602
    assert count(cn_application, Lead) == 1
