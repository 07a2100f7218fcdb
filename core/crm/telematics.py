"""Vehicle events, stored where residency places the vehicle's telematics.

A batch is stored in one session, so in one commit per zone it touches. Each event is keyed
by its vehicle and the provider's event id: an event stored before (by an earlier delivery,
earlier in the same batch, or by a delivery racing this one) is a duplicate and is not
stored again. An event of a VIN the deployment has no vehicle for is counted as unknown and
not stored: the provider is told which VINs, and the rest of the batch is kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.events import VehicleEvent
from regiocrm.models import TelematicsEvent, Vehicle
from regiocrm.models.base import utcnow
from regiocrm.platform.ids import new_id
from regiocrm.platform.stores import ZonedSession

# How many VINs or keys one query asks about: well inside SQLite's and PostgreSQL's limits
# on bound parameters, whatever size a batch comes in.
CHUNK = 500


@dataclass(frozen=True)
class Car:
    """A vehicle as its events need it: its id and the market whose rules place its data."""

    id: uuid.UUID
    vin: str
    market: str


@dataclass
class StoredBatch:
    """What became of a batch: the events stored (each with its vehicle), how many were
    stored before, and the VINs no vehicle has."""

    stored: list[tuple[VehicleEvent, Car]] = field(default_factory=list)
    duplicates: int = 0
    unknown_vins: list[str] = field(default_factory=list)
    unknown_events: int = 0


class Telematics:
    """Vehicle events inside one session; the caller commits."""

    def __init__(self, session: ZonedSession) -> None:
        self.session = session

    def cars(self, vins: Iterable[str]) -> dict[str, Car]:
        """The vehicles with these VINs, by VIN, from whichever zone holds them."""
        wanted = sorted(set(vins))
        found: dict[str, Car] = {}
        for start in range(0, len(wanted), CHUNK):
            rows = self.session.execute(
                select(Vehicle.id, Vehicle.vin, Vehicle.market).where(
                    Vehicle.vin.in_(wanted[start : start + CHUNK])
                )
            )
            # A vehicle copied by a move cut short is found twice, the same each time.
            found.update((vin, Car(id_, vin, market)) for id_, vin, market in rows)
        return found

    def store(self, events: Sequence[VehicleEvent]) -> StoredBatch:
        """Store the events not stored before, each in the zone its vehicle's market places
        telematics data in."""
        result = StoredBatch()
        cars = self.cars(event.vin for event in events)
        result.unknown_vins = sorted({event.vin for event in events} - set(cars))
        unique: dict[tuple[uuid.UUID, str], tuple[VehicleEvent, Car]] = {}
        for event in events:
            car = cars.get(event.vin)
            if car is None:
                result.unknown_events += 1
            elif (car.id, event.event_id) in unique:
                result.duplicates += 1
            else:
                unique[car.id, event.event_id] = (event, car)
        by_zone: dict[str, list[tuple[VehicleEvent, Car]]] = {}
        for event, car in unique.values():
            zone = self.session.residency.zone_for(car.market, DataClass.TELEMATICS)
            by_zone.setdefault(zone, []).append((event, car))
        now = utcnow()
        for zone, found in by_zone.items():
            connection = self.session.zone_connection(zone)
            kept = _kept(connection, [(car.id, event.event_id) for event, car in found])
            new = [(event, car) for event, car in found if (car.id, event.event_id) not in kept]
            result.duplicates += len(found) - len(new)
            if new:
                connection.execute(
                    _INSERT_NEW[connection.dialect.name], [_row(e, c, now) for e, c in new]
                )
            result.stored += new
        return result


def _row(event: VehicleEvent, car: Car, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "market": car.market,
        "vehicle_id": car.id,
        "event_id": event.event_id,
        "kind": event.kind.value,
        "occurred_at": event.occurred_at,
        "payload": dict(event.payload),
        "created": now,
        "updated": now,
    }


def _kept(connection: Any, keys: list[tuple[uuid.UUID, str]]) -> set[tuple[uuid.UUID, str]]:
    kept: set[tuple[uuid.UUID, str]] = set()
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        rows = connection.execute(
            _KEPT,
            {
                "vehicles": sorted({vehicle for vehicle, _ in chunk}),
                "event_ids": sorted({event_id for _, event_id in chunk}),
            },
        )
        kept.update((vehicle, event_id) for vehicle, event_id in rows)
    return kept


# Built once: a batch then only binds values to statements SQLAlchemy has compiled and
# cached. The conflict clause keeps a delivery racing this one from failing the batch: the
# event it stored first is the one kept.
_INSERT_NEW = {
    name: dialect.insert(TelematicsEvent).on_conflict_do_nothing(
        index_elements=["vehicle_id", "event_id"]
    )
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
# Vehicles and event ids asked for apart (a row value IN list is not portable to SQLite's
# older versions): a few extra rows may come back, and only the pairs asked for count.
_KEPT = select(TelematicsEvent.vehicle_id, TelematicsEvent.event_id).where(
    TelematicsEvent.vehicle_id.in_(bindparam("vehicles", expanding=True)),
    TelematicsEvent.event_id.in_(bindparam("event_ids", expanding=True)),
)
