"""Vehicle events in: stored in one commit per zone where residency places the vehicle's
telematics, a redelivery a no-op, an unknown VIN counted and never stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from connected_cars import (
    NOON,
    OSAKA_VIN,
    SHANGHAI_VIN,
    UNKNOWN_VIN,
    Car,
    event,
    mileage,
    own_car,
    stored_events,
)
from sqlalchemy.exc import StatementError

from regiocrm.interfaces.events import EventKind, VehicleEvent
from regiocrm.services.application import Application
from regiocrm.services.telematics import Ingested


@pytest.fixture
def shanghai(application: Application) -> Car:
    return own_car(application, SHANGHAI_VIN, "CN", "Shanghai Motors")


@pytest.fixture
def osaka(application: Application) -> Car:
    return own_car(application, OSAKA_VIN, "JP", "Osaka Motors")


def test_a_batch_is_stored_with_the_providers_ids(application: Application, shanghai: Car) -> None:
    ingested = application.telematics.ingest(mileage(SHANGHAI_VIN, 3))
    assert ingested == Ingested(stored=3, duplicates=0, unknown_vehicles=0)
    assert [e for _, e, _ in stored_events(application)] == ["m-0", "m-1", "m-2"]


def test_a_redelivered_batch_is_a_no_op(application: Application, shanghai: Car) -> None:
    batch = mileage(SHANGHAI_VIN, 3)
    application.telematics.ingest(batch)
    again = application.telematics.ingest([*batch, event(SHANGHAI_VIN, "m-3")])
    assert again == Ingested(stored=1, duplicates=3, unknown_vehicles=0)
    assert len(stored_events(application)) == 4


def test_an_event_twice_in_one_batch_is_stored_once(
    application: Application, shanghai: Car
) -> None:
    once = event(SHANGHAI_VIN, "same")
    ingested = application.telematics.ingest([once, once])
    assert (ingested.stored, ingested.duplicates) == (1, 1)
    assert stored_events(application) == [("CN", "same", "mileage")]


def test_the_same_event_id_of_two_vehicles_is_two_events(
    application: Application, shanghai: Car, osaka: Car
) -> None:
    ingested = application.telematics.ingest([event(SHANGHAI_VIN, "e1"), event(OSAKA_VIN, "e1")])
    assert ingested.stored == 2


def test_a_cn_vehicles_events_stay_in_china_and_a_jp_vehicles_in_japan(
    application: Application, shanghai: Car, osaka: Car
) -> None:
    application.telematics.ingest([event(SHANGHAI_VIN, "cn-1"), event(OSAKA_VIN, "jp-1")])
    assert stored_events(application, "cn") == [("CN", "cn-1", "mileage")]
    assert stored_events(application, "jp") == [("JP", "jp-1", "mileage")]


def test_an_unknown_vin_is_counted_and_named_and_the_rest_is_kept(
    application: Application, shanghai: Car
) -> None:
    ingested = application.telematics.ingest(
        [event(UNKNOWN_VIN, "u1"), event(SHANGHAI_VIN, "k1"), event(UNKNOWN_VIN, "u2")]
    )
    assert ingested == Ingested(
        stored=1, duplicates=0, unknown_vehicles=2, unknown_vins=(UNKNOWN_VIN,)
    )
    assert stored_events(application) == [("CN", "k1", "mileage")]
    assert ingested.as_json()["unknown_vins"] == [UNKNOWN_VIN]


def test_a_batch_that_cannot_be_stored_raises_and_keeps_nothing_in_any_zone(
    application: Application, shanghai: Car, osaka: Car
) -> None:
    """A row the database cannot take (here a payload that is no JSON) fails the whole
    batch, the other zone's part included, so that no source acknowledges any of it."""
    good = event(SHANGHAI_VIN, "good")
    broken = VehicleEvent(OSAKA_VIN, "bad", EventKind.MILEAGE, good.occurred_at, {"x": {1}})
    with pytest.raises(StatementError, match="not JSON serializable"):
        application.telematics.ingest([good, broken])
    assert stored_events(application) == []


def test_an_empty_batch_stores_nothing(application: Application) -> None:
    assert application.telematics.ingest([]) == Ingested(0, 0, 0)


def test_an_event_older_than_its_markets_retention_is_expired_not_stored(
    application: Application, shanghai: Car
) -> None:
    """Its raw copy may be summed and gone: stored again, a redelivery would be counted
    twice in its day."""
    old = event(
        SHANGHAI_VIN, "old", at=NOON - timedelta(days=application.telematics.retention_days("CN"))
    )
    ingested = application.telematics.ingest([old, event(SHANGHAI_VIN, "new")])
    assert (ingested.stored, ingested.expired) == (1, 1)
    assert stored_events(application) == [("CN", "new", "mileage")]
